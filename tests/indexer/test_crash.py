"""SIGKILL the indexer process at random points of a long backfill: nothing is lost or doubled.

A registry on a chain of its own gets 10,000+ events of mixed traffic. The indexer runs as a
separate process with small batches (many commits to land between) and is killed with SIGKILL
at points drawn from a fixed seed: each time the mirror's checkpoint passes a chosen block, after
a further random delay that lands the kill anywhere in the next batch (fetching, writing,
committing). After every kill it starts again from whatever the database kept. At the end the
mirror must equal the audit's replay of the chain, with exactly one row per chain log.

The long-backfill threshold is lowered so that runs decode in a worker process and drop the
secondary indexes (D56): a kill then also leaves the indexes dropped, and at the end every index
must be back.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from indexer.audit import audit
from indexer.db import create_engine, upgrade_database
from indexer.indexes import deferred
from indexer.models import Checkpoint, Event, table_of
from node.devchain import DevChain
from tests.conftest import Registry, _free_port, deploy_registry
from tests.indexer.test_sync import chain_event_count
from tests.indexer.traffic import Traffic

pytestmark = pytest.mark.chain

EVENTS = 10_000
KILLS = 6
SEED = 20_240_611
REPO_ROOT = Path(__file__).resolve().parents[2]

# The indexer process: the node's settings from the environment, small batches so that a
# 10,000-event backfill commits a few dozen times, and a long backfill from 2,000 events on.
_INDEXER = """
import logging

from indexer.db import create_engine, database_url, upgrade_database
from indexer.sync import Indexer
from node.settings import load_settings

logging.basicConfig(level=logging.INFO, format="%(message)s")
settings = load_settings()
engine = create_engine(database_url(settings))
upgrade_database(engine)
indexer = Indexer.from_settings(
    settings,
    engine,
    batch_blocks=2,
    target_batch_events=300,
    long_backfill_events=2_000,
    progress=False,
)
print(indexer.sync_once())
"""


@dataclass
class CrashChain:
    """A registry with a long history on a private chain, and its node data directory."""

    registry: Registry
    data_dir: Path


@pytest.fixture(scope="module")
def crash_chain(
    dev_keys: dict[str, LocalAccount], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CrashChain]:
    """Deploy a registry on a chain of its own and give it EVENTS events of mixed traffic."""
    data_dir = tmp_path_factory.mktemp("crash-node")
    chain = DevChain(data_dir / "chain-data", port=_free_port(), state_interval=3600).start()
    registry = deploy_registry(chain.rpc_url, dev_keys, data_dir / "deployments")
    traffic = Traffic(registry, seed=SEED)
    try:
        traffic.generate(EVENTS)
        yield CrashChain(registry, data_dir)
    finally:
        traffic.close()
        registry.relayer.stop()
        registry.client.close()
        chain.stop()


def start_indexer(node: CrashChain, database_url: str, log: Path) -> subprocess.Popen[bytes]:
    """Start the indexer as a process of its own, as an operator's `registry sync` runs."""
    env = {
        **os.environ,
        "REGISTRY_DATA_DIR": str(node.data_dir),
        "REGISTRY_RPC_URL": node.registry.client.rpc_url,
        "REGISTRY_DATABASE_URL": database_url,
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", _INDEXER],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def indexed_block(engine: Engine) -> int:
    """Return the mirror's checkpoint block, or -1 before the indexer created it."""
    try:
        with engine.connect() as conn:
            number = conn.execute(select(table_of(Checkpoint).c.block_number)).scalar()
    except SQLAlchemyError:
        return -1  # the indexer has not created the tables yet
    return -1 if number is None else int(number)


def test_sigkill_at_random_points_of_a_backfill_loses_and_doubles_nothing(
    crash_chain: CrashChain, database_url: str, tmp_path: Path
) -> None:
    registry = crash_chain.registry
    head = registry.client.block_number()
    first = registry.deployment.deploy_block
    rng = random.Random(SEED)
    thresholds = sorted(rng.sample(range(first + 2, head - 2), KILLS))
    log = tmp_path / "indexer.log"
    upgrade_database(database_url)
    engine = create_engine(database_url)
    schema = index_names(engine)
    killed_at: list[int] = []
    try:
        for threshold in thresholds:
            process = start_indexer(crash_chain, database_url, log)
            deadline = time.monotonic() + 60
            while indexed_block(engine) < threshold and process.poll() is None:
                assert time.monotonic() < deadline, "the indexer made no progress:\n" + tail(log)
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.08))  # somewhere inside the next batch
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                killed_at.append(indexed_block(engine))
            process.wait(10)
            assert process.returncode in (0, -signal.SIGKILL), tail(log)

        process = start_indexer(crash_chain, database_url, log)
        assert process.wait(120) == 0, tail(log)
        assert indexed_block(engine) == head

        # Killed mid-backfill, and at distinct points: each restart resumed from a checkpoint.
        assert len(killed_at) >= KILLS - 1, f"killed only at {killed_at} of {thresholds}"
        assert all(first <= block < head for block in killed_at), killed_at

        events = table_of(Event)
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(events)).scalar_one()
            distinct = conn.execute(
                select(func.count()).select_from(
                    select(events.c.block_number, events.c.log_index).distinct().subquery()
                )
            ).scalar_one()
        assert stored == distinct == chain_event_count(registry, head)
        assert stored >= EVENTS

        # Runs dropped the indexes; the last one, or the next start after a kill, rebuilt them.
        assert "secondary indexes dropped" in log.read_text(), tail(log)
        assert index_names(engine) == schema
        with engine.connect() as conn:
            assert deferred(conn) == 0

        report = audit(
            engine, registry.client, registry.deployment, registry.abi, spot_checks=64, seed=SEED
        )
        assert report.ok, "\n".join(
            f"{d.section} {d.key}: chain={d.chain} mirror={d.mirror}"
            for d in report.differences[:20]
        )
    finally:
        engine.dispose()


def index_names(engine: Engine) -> set[str]:
    """Return the names of every secondary index of the mirror."""
    inspector = inspect(engine)
    return {
        str(index["name"])
        for table in inspector.get_table_names()
        for index in inspector.get_indexes(table)
    }


def tail(log: Path, lines: int = 30) -> str:
    """Return the end of the indexer processes' output."""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
