"""The mirror equals the chain after every ledger operation, exactly once, across restarts."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import Engine, func, select, text

from indexer.audit import audit
from indexer.cli import audit_command, sync_command
from indexer.db import upgrade_database
from indexer.errors import CheckpointConflictError
from indexer.mirror import DERIVED_TABLES, MirrorWriter
from indexer.models import (
    Account,
    AccountTransaction,
    Cancellation,
    Event,
    OperationRange,
    Representative,
    Transfer,
    UnitBlock,
    table_of,
)
from node.settings import NodeSettings
from tests.conftest import Registry
from tests.indexer.conftest import make_indexer
from tests.indexer.script import LedgerScript, run_full_scenario

pytestmark = pytest.mark.chain


def chain_event_count(registry: Registry, up_to: int) -> int:
    """Count the registry's logs up to a block, straight from eth_getLogs."""
    return sum(
        len(logs)
        for logs in registry.client.iter_logs(
            registry.deployment.registry, registry.deployment.deploy_block, up_to
        )
    )


def assert_mirror_equals_chain(engine: Engine, registry: Registry) -> None:
    report = audit(engine, registry.client, registry.deployment, registry.abi, seed=7)
    assert report.ok, "\n".join(
        f"{d.section} {d.key}: chain={d.chain} mirror={d.mirror}" for d in report.differences
    )
    assert report.spot_checks > 0


@pytest.fixture(scope="module")
def scenario(registry: Registry) -> dict[str, int]:
    """Run every kind of ledger operation once on the session registry."""
    return run_full_scenario(LedgerScript(registry))


def test_mirror_equals_audit_after_every_kind_of_operation(
    registry: Registry, scenario: dict[str, int], engine: Engine
) -> None:
    result = make_indexer(engine, registry).sync_once()
    assert result.end_block == registry.client.block_number()
    assert_mirror_equals_chain(engine, registry)

    s = scenario
    with engine.connect() as conn:
        transfers = {r.id: r for r in conn.execute(select(table_of(Transfer))).all()}
        assert transfers[s["approved"]].status == "completed"
        assert transfers[s["approved"]].approver == registry.keys["ar_2"].address
        assert transfers[s["rescinded"]].status == "rescinded"
        assert transfers[s["rescinded"]].rescinded_by == registry.keys["ar_1"].address
        assert transfers[s["pending"]].status == "pending"
        assert transfers[s["single"]].status == "completed"
        assert transfers[s["single"]].decided_tx_hash == transfers[s["single"]].initiated_tx_hash

        ranges = table_of(OperationRange)
        cancelled_ranges = conn.execute(
            select(ranges.c.start, ranges.c.end)
            .where(ranges.c.operation_id == s["cancelled"])
            .order_by(ranges.c.start)
        ).all()
        start = s["start"]
        assert [tuple(r) for r in cancelled_ranges] == [
            (start + 300, start + 349),
            (start + 700, start + 709),
        ]
        cancellation = conn.execute(
            select(table_of(Cancellation)).where(table_of(Cancellation).c.id == s["cancelled"])
        ).one()
        assert (cancellation.purpose, cancellation.quantity) == ("ndc_use", 60)
        assert cancellation.beneficiary == "Acme\ufffd"

        seller = conn.execute(
            select(table_of(Account)).where(table_of(Account).c.id == s["seller"])
        ).one()
        assert seller.holder_name == "Seller\ufffd Pty Ltd"
        assert seller.approval_policy == "two_person"

        blocks = table_of(UnitBlock)
        label_bit = 1 << s["label"]
        labelled = conn.execute(
            select(blocks.c.start, blocks.c.end, blocks.c.labels).where(
                blocks.c.start >= start, blocks.c.end <= start + 999
            )
        ).all()
        for block in labelled:
            in_label = start + 100 <= block.start and block.end <= start + 399
            removed = start + 200 <= block.start and block.end <= start + 220
            assert bool(block.labels & label_bit) == (in_label and not removed), block

        reps = table_of(Representative)
        other_reps = conn.execute(
            select(reps.c.address, reps.c.is_primary).where(reps.c.account_id == s["other"])
        ).all()
        assert len(other_reps) == 1 and other_reps[0].is_primary
        other = conn.execute(
            select(table_of(Account)).where(table_of(Account).c.id == s["other"])
        ).one()
        assert other.primary_representative == other_reps[0].address

        holdings = dict(
            conn.execute(
                text(
                    'SELECT state, SUM("end" - start + 1) FROM unit_blocks '
                    "WHERE account_id = :a GROUP BY state"
                ),
                {"a": s["seller"]},
            ).all()
        )
        assert {k: int(v) for k, v in holdings.items()} == {
            "held": 1_000 - 100 - 60 - 10,
            "pending": 10,
            "cancelled": 60,
        }


def test_sync_twice_applies_every_event_exactly_once(
    registry: Registry, scenario: dict[str, int], engine: Engine
) -> None:
    indexer = make_indexer(engine, registry)
    first = indexer.sync_once()
    second = indexer.sync_once()
    assert second.events == 0 and second.end_block == first.end_block
    again = make_indexer(engine, registry).sync_once()  # a restarted process
    assert again.events == 0
    events = table_of(Event)
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(events)).scalar()
        distinct = conn.execute(
            select(func.count()).select_from(
                select(events.c.block_number, events.c.log_index).distinct().subquery()
            )
        ).scalar()
    assert stored == distinct == chain_event_count(registry, first.end_block)


def test_a_stale_batch_is_refused_by_the_checkpoint(
    registry: Registry, scenario: dict[str, int], engine: Engine
) -> None:
    """Two indexers on one database cannot both apply a batch: the checkpoint guards it."""
    indexer = make_indexer(engine, registry)
    start_number, start_hash = indexer.checkpoint()
    head = indexer.sync_once().end_block
    stale = indexer._fetch_batch(start_number, start_hash, head)
    with pytest.raises(CheckpointConflictError):
        indexer._commit_batch(start_number, stale)
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(table_of(Event))).scalar()
    assert stored == chain_event_count(registry, head)


def test_stopping_between_batches_and_restarting_resumes(
    registry: Registry, scenario: dict[str, int], engine: Engine
) -> None:
    head = registry.client.block_number()
    first = make_indexer(engine, registry, batch_blocks=4, max_batch_blocks=4)
    partial = first.sync_once(max_batches=2)
    assert partial.batches == 2 and partial.end_block < head
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(table_of(Event))).scalar()
    assert stored == chain_event_count(registry, partial.end_block)

    resumed = make_indexer(engine, registry, batch_blocks=16).sync_once()
    assert resumed.start_block == partial.end_block
    assert resumed.end_block >= head
    assert_mirror_equals_chain(engine, registry)


def test_a_crash_inside_a_batch_leaves_no_trace(
    registry: Registry,
    scenario: dict[str, int],
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failure after the batch's rows are written rolls back rows and checkpoint together."""
    indexer = make_indexer(engine, registry, batch_blocks=8, max_batch_blocks=8)
    indexer.sync_once(max_batches=1)
    before = indexer.checkpoint()
    original = MirrorWriter.apply

    def apply_then_crash(self: MirrorWriter, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        raise RuntimeError("simulated crash after writing the batch")

    monkeypatch.setattr(MirrorWriter, "apply", apply_then_crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        indexer.sync_once(max_batches=1)
    monkeypatch.undo()
    assert indexer.checkpoint() == before
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(table_of(Event))).scalar()
    assert stored == chain_event_count(registry, before[0])

    make_indexer(engine, registry).sync_once()
    assert_mirror_equals_chain(engine, registry)


def test_audit_finds_a_tampered_mirror(
    registry: Registry, scenario: dict[str, int], engine: Engine
) -> None:
    make_indexer(engine, registry).sync_once()
    blocks, events = table_of(UnitBlock), table_of(Event)
    with engine.begin() as conn:
        victim = conn.execute(
            select(blocks.c.start, blocks.c.account_id).where(blocks.c.state == "held").limit(1)
        ).one()
        conn.execute(blocks.update().where(blocks.c.start == victim.start).values(account_id=999))
        last = conn.execute(select(func.max(events.c.id))).scalar()
        conn.execute(events.delete().where(events.c.id == last))
    report = audit(engine, registry.client, registry.deployment, registry.abi, seed=1)
    sections = {d.section for d in report.differences}
    assert {"blocks", "holdings", "events", "totals"} <= sections
    assert f"{victim.start}" in {d.key for d in report.differences if d.section == "blocks"}


def test_the_audit_compares_every_derived_table(
    registry: Registry, scenario: dict[str, int], engine: Engine
) -> None:
    """Audited tables are the derived tables, so a table added to the mirror is audited too."""
    make_indexer(engine, registry).sync_once()
    clean = audit(engine, registry.client, registry.deployment, registry.abi, spot_checks=0)
    assert clean.ok, clean.differences[:5]
    assert set(clean.tables) == {t.name for t in DERIVED_TABLES}
    assert clean.tables["unit_blocks"] > 0 and clean.tables["operation_ranges"] > 0


def test_migration_0005_fills_account_transactions_as_the_reducer_writes_them(
    registry: Registry, scenario: dict[str, int], engine: Engine
) -> None:
    """A mirror synced before the table existed gets the same rows, signers included."""
    make_indexer(engine, registry).sync_once()
    table = table_of(AccountTransaction)
    with engine.connect() as conn:
        written = {tuple(r) for r in conn.execute(select(table))}
    kinds = {row[0] for row in written}
    assert {"transfer", "issuance", "cancellation"} <= kinds, kinds
    assert all(row[6] for row in written if row[0] in ("issuance", "cancellation"))
    with engine.begin() as conn:
        # Back to the schema of 0004: the table, and those of every later migration, dropped.
        for later in (
            "deferred_indexes",
            "account_transactions",
            "interop_imports",
            "interop_messages",
            "interop_transfers",
            "interop_peers",
        ):
            conn.execute(text(f"DROP TABLE {later}"))
        conn.execute(text("UPDATE alembic_version SET version_num = '0004'"))
    upgrade_database(engine)
    with engine.connect() as conn:
        assert {tuple(r) for r in conn.execute(select(table))} == written


def test_the_audit_checks_each_issuance_adds_up(
    registry: Registry, scenario: dict[str, int], engine: Engine
) -> None:
    """A block missing from the mirror breaks issued = the sum over every state."""
    make_indexer(engine, registry).sync_once()
    blocks = table_of(UnitBlock)
    with engine.begin() as conn:
        victim = conn.execute(select(blocks).order_by(blocks.c.start.desc()).limit(1)).one()
        conn.execute(blocks.delete().where(blocks.c.start == victim.start))
    report = audit(engine, registry.client, registry.deployment, registry.abi, spot_checks=0)
    totals = [d for d in report.differences if d.section == "issuance totals"]
    assert [d.key for d in totals] == [f"mirror issuance {victim.issuance_id}"], totals


@pytest.mark.parametrize("table", ["operation_ranges", "label_changes", "executed_requests"])
def test_the_audit_finds_a_changed_row_in_tables_its_replay_does_not_model(
    registry: Registry, scenario: dict[str, int], engine: Engine, table: str
) -> None:
    """These three were mirrored but never audited; the rebuilt mirror now catches them."""
    make_indexer(engine, registry).sync_once()
    target = next(t for t in DERIVED_TABLES if t.name == table)
    with engine.begin() as conn:
        row = conn.execute(select(target).limit(1)).first()
        if row is None:
            pytest.skip(f"the scenario writes no {table}")
        key = {c.name: row._mapping[c.name] for c in target.primary_key.columns}
        column = next(c for c in target.columns if c.name not in key and c.type.python_type is int)
        conn.execute(
            target.update()
            .where(*(target.c[name] == value for name, value in key.items()))
            .values({column.name: int(row._mapping[column.name]) + 1})
        )
    report = audit(engine, registry.client, registry.deployment, registry.abi, spot_checks=0)
    assert f"table {table}" in {d.section for d in report.differences}, report.differences[:5]


def test_cli_commands_sync_and_audit(
    registry: Registry, scenario: dict[str, int], database_url: str, tmp_path: Path
) -> None:
    """`registry sync --once` fills the mirror; `registry audit` exits 0, then 1 once tampered."""
    data_dir = tmp_path / "data"
    deployments = data_dir / "deployments"
    deployments.mkdir(parents=True)
    deployment = registry.deployment
    (deployments / f"{deployment.chain_id}.json").write_text(deployment.to_json())
    (deployments / "UnitRegistry.abi.json").write_text(json.dumps(registry.abi))
    settings = NodeSettings(
        data_dir=data_dir, rpc_url=registry.client.rpc_url, database_url=database_url
    )
    assert sync_command(settings, once=True) == 0
    assert audit_command(settings, seed=3) == 0

    from indexer.db import create_engine

    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(table_of(Transfer).update().values(status="completed"))
    finally:
        engine.dispose()
    assert audit_command(settings, spot_checks=0) == 1


def test_run_forever_follows_new_blocks(
    registry: Registry, scenario: dict[str, int], engine: Engine
) -> None:
    indexer = make_indexer(engine, registry)
    stop = threading.Event()
    thread = threading.Thread(target=indexer.run_forever, args=(0.05, stop), daemon=True)
    thread.start()
    try:
        LedgerScript(registry).issue(scenario["buyer"], 7)
        head = registry.client.block_number()
        deadline = time.monotonic() + 30
        while indexer.checkpoint()[0] < head:
            assert thread.is_alive(), "the indexer loop died"
            assert time.monotonic() < deadline, "the indexer did not catch up"
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert_mirror_equals_chain(engine, registry)


def test_a_long_backfill_shows_a_progress_bar(
    registry: Registry, scenario: dict[str, int], engine: Engine
) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=120)
    indexer = make_indexer(engine, registry, progress=True, console=console, batch_blocks=8)
    result = indexer.sync_once()
    assert "indexing" in out.getvalue()
    assert f"{result.events} events" in out.getvalue()
