"""A long backfill decodes in a worker process and drops the secondary indexes until it ends (D56).

The thresholds are lowered so that the session registry's short history counts as long. Each
test ends with the mirror audited against the chain and every index of the schema back.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, func, inspect, select

from indexer import indexes
from indexer.db import upgrade_database
from indexer.models import Event, table_of
from indexer.sync import _Prefetcher
from tests.conftest import Registry
from tests.indexer.conftest import make_indexer
from tests.indexer.script import LedgerScript, run_full_scenario
from tests.indexer.test_sync import assert_mirror_equals_chain, chain_event_count

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def history(registry: Registry) -> int:
    """Give the session registry every kind of operation; return the head block."""
    run_full_scenario(LedgerScript(registry))
    return registry.client.block_number()


def index_names(engine: Engine) -> set[str]:
    """Return the names of every secondary index of the mirror."""
    inspector = inspect(engine)
    return {
        str(index["name"])
        for table in inspector.get_table_names()
        for index in inspector.get_indexes(table)
    }


def long_indexer(engine: Engine, registry: Registry) -> Any:
    """An indexer whose every backlog of more than one small batch is a long backfill."""
    return make_indexer(
        engine, registry, batch_blocks=1, target_batch_events=20, long_backfill_events=1
    )


def assert_complete(engine: Engine, registry: Registry, head: int) -> None:
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(table_of(Event))).scalar_one()
        assert indexes.deferred(conn) == 0
    assert stored == chain_event_count(registry, head)
    assert_mirror_equals_chain(engine, registry)


def test_a_long_backfill_decodes_in_a_process_and_builds_the_indexes_at_the_end(
    registry: Registry, history: int, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = index_names(engine)
    started: list[int] = []
    dropped: list[int] = []
    start_process, defer = _Prefetcher._start_process, indexes.defer

    def spy_start(self: _Prefetcher, number: int, cp_hash: str, target: int) -> None:
        started.append(number)
        start_process(self, number, cp_hash, target)

    def spy_defer(engine: Engine) -> int:
        dropped.append(defer(engine))
        assert index_names(engine) == schema - set(_deferrable(schema))
        return dropped[-1]

    monkeypatch.setattr(_Prefetcher, "_start_process", spy_start)
    monkeypatch.setattr(indexes, "defer", spy_defer)
    result = long_indexer(engine, registry).sync_once()
    assert result.end_block == history and result.batches > 2
    assert started and started[0] > registry.deployment.deploy_block - 1  # after one batch
    assert dropped and dropped[0] == len(_deferrable(schema))
    assert index_names(engine) == schema
    assert_complete(engine, registry, history)


def test_a_killed_worker_process_is_replaced(
    registry: Registry, history: int, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    killed: list[int] = []
    start_process = _Prefetcher._start_process

    def start_and_kill(self: _Prefetcher, number: int, cp_hash: str, target: int) -> None:
        start_process(self, number, cp_hash, target)
        if not killed:  # the first worker dies before it hands over anything
            self._process.kill()
            self._process.join()
            killed.append(number)

    monkeypatch.setattr(_Prefetcher, "_start_process", start_and_kill)
    result = long_indexer(engine, registry).sync_once()
    assert killed and result.end_block == history
    assert_complete(engine, registry, history)


def test_indexes_a_stopped_backfill_dropped_come_back(
    registry: Registry, history: int, database_url: str, engine: Engine
) -> None:
    schema = index_names(engine)
    # Dropped and recorded in one transaction, as a backfill does before it is killed.
    assert indexes.defer(engine) == len(_deferrable(schema)) > 0
    with engine.connect() as conn:
        assert indexes.deferred(conn) == len(_deferrable(schema))
    assert index_names(engine) == schema - set(_deferrable(schema))
    # A migration run puts them back before any migration could miss one ...
    upgrade_database(database_url)
    assert index_names(engine) == schema
    # ... and so does the next indexer, before its first batch.
    indexes.defer(engine)
    make_indexer(engine, registry).sync_once()
    assert index_names(engine) == schema
    assert_complete(engine, registry, history)


def _deferrable(schema: set[str]) -> list[str]:
    """The indexes a backfill drops: the models' non-unique ones (all of them, today)."""
    return sorted(name for name in schema if name.startswith("ix_"))
