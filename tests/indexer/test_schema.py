"""The migrations create exactly the models' schema, and 256-bit values survive on both DBs."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, select
from sqlmodel import SQLModel

from indexer.db import database_url, normalize_url, upgrade_database
from indexer.mirror import DERIVED_TABLES, MirrorWriter
from indexer.models import (
    BlockHash,
    Checkpoint,
    DeferredIndex,
    Event,
    ExecutedRequest,
    UnitBlock,
    table_of,
)
from node.settings import NodeSettings


def test_migrations_create_exactly_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_a_rebuild_recomputes_every_table_but_the_raw_events_and_the_sync_bookkeeping(
    engine: Engine,
) -> None:
    """A table missing from DERIVED_TABLES would keep an orphaned fork's rows after a reorg."""
    kept = {table_of(Event), table_of(BlockHash), table_of(Checkpoint), table_of(DeferredIndex)}
    assert set(DERIVED_TABLES) == set(SQLModel.metadata.tables.values()) - kept
    assert len(DERIVED_TABLES) == len(set(DERIVED_TABLES))
    with engine.connect() as conn:
        written = set(MirrorWriter(conn).store.tables)
    assert written == set(DERIVED_TABLES)


def test_upgrading_twice_is_harmless(database_url: str, engine: Engine) -> None:
    upgrade_database(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert context.get_current_revision() == "0010"


@pytest.mark.parametrize("labels", [0, 1, 2**63, 2**64 + 1, 2**255 | 1, 2**256 - 1])
def test_label_bitmaps_keep_all_256_bits(engine: Engine, labels: int) -> None:
    blocks = table_of(UnitBlock)
    row = {
        "start": 2**63 - 1,
        "end": 2**63 - 1,
        "account_id": 1,
        "state": "held",
        "lock_id": 0,
        "issuance_id": 1,
        "labels": labels,
    }
    with engine.begin() as conn:
        conn.execute(blocks.insert(), [row])
    with engine.connect() as conn:
        stored = conn.execute(select(blocks.c.labels, blocks.c.start)).one()
    assert stored.labels == labels and type(stored.labels) is int
    assert stored.start == 2**63 - 1


def test_keyed_nonces_keep_their_lane(engine: Engine) -> None:
    nonce = (2**192 - 1) << 64 | 7  # lane in the high 192 bits
    requests = table_of(ExecutedRequest)
    with engine.begin() as conn:
        conn.execute(
            requests.insert(),
            [
                {
                    "digest": "0x" + "ab" * 32,
                    "signer": "0x" + "cd" * 20,
                    "nonce": nonce,
                    "block_number": 1,
                    "log_index": 0,
                    "tx_hash": "0x" + "ef" * 32,
                }
            ],
        )
    with engine.connect() as conn:
        assert conn.execute(select(requests.c.nonce)).scalar() == nonce


def test_database_url_defaults_to_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = NodeSettings(data_dir=tmp_path, database_url=None)
    assert database_url(settings) == f"sqlite:///{tmp_path / 'mirror.sqlite3'}"
    settings = NodeSettings(data_dir=tmp_path, database_url="postgresql://u@h/db")
    assert database_url(settings) == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h:5432/db", "postgresql+psycopg://u@h:5432/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_normalize_url_selects_psycopg(given: str, expected: str) -> None:
    assert normalize_url(given) == expected
