"""Holdings page latency against the number of blocks an account holds: 10, 100 and 10,000.

The page is the holdings route's own query (`api.queries.holdings.holdings_query`, the default
states, serial order, 100 rows and one to tell whether there is more) over a migrated mirror
filled with one issuance and two accounts of one-unit blocks. It runs on SQLite and, when one
answers at `--postgres-url`, on a throwaway PostgreSQL database.

    .venv/bin/python -m scripts.bench_holdings [--blocks 10000] [--no-postgres]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import psycopg
from sqlalchemy import Engine, insert, text
from sqlalchemy.engine import make_url

from api.queries.holdings import holdings_query
from indexer.db import create_engine, upgrade_database
from indexer.models import Issuance, UnitBlock, table_of

_BLOCKS = table_of(UnitBlock)
_ISSUANCES = table_of(Issuance)
_STATES = ("held", "pending_transfer", "reserved", "escrowed", "authorized")


def fill(engine: Engine, sizes: dict[int, int]) -> None:
    """One issuance; account `a` holds `sizes[a]` one-unit blocks."""
    with engine.begin() as conn:
        conn.execute(
            insert(_ISSUANCES).values(
                id=1,
                project_id="BENCH",
                unit_type="ACCU",
                vintage=2024,
                monitoring_start=0,
                monitoring_end=1,
                origin_registry="AU",
                start=1,
                end=10**9,
                quantity=10**9,
                account_id=1,
                block_number=1,
                tx_hash="0x" + "0" * 64,
            )
        )
        for account, count in sizes.items():
            base = account * 10**6
            conn.execute(
                insert(_BLOCKS),
                [
                    {
                        "start": base + i,
                        "end": base + i,
                        "account_id": account,
                        "state": "held",
                        "lock_id": 0,
                        "issuance_id": 1,
                        "labels": 0,
                    }
                    for i in range(count)
                ],
            )
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))


def page_ms(engine: Engine, account: int, repeats: int) -> float:
    """Return the median milliseconds of one holdings page of `account`."""
    query = (
        holdings_query()
        .where(_BLOCKS.c.account_id == account, _BLOCKS.c.state.in_(_STATES))
        .order_by(_BLOCKS.c.start)
        .limit(101)
    )
    timings = []
    with engine.connect() as conn:
        for _ in range(repeats):
            began = time.perf_counter()
            conn.execute(query).all()
            timings.append(time.perf_counter() - began)
    return statistics.median(timings) * 1000


def measure(name: str, url: str, blocks: int, repeats: int, without_index: bool) -> None:
    upgrade_database(url)
    engine = create_engine(url)
    if without_index:  # the mirror as it was before migration 0004, for comparison
        with engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_unit_blocks_account_start"))
        name += " (no index)"
    try:
        fill(engine, {1: 10, 2: 100, 3: blocks})
        tiny, page, large = (page_ms(engine, a, repeats) for a in (1, 2, 3))
    finally:
        engine.dispose()
    print(
        f"{name:<11} page ms: 10 blocks {tiny:6.2f}, 100 blocks {page:6.2f}, "
        f"{blocks:,} blocks {large:6.2f}; {blocks:,} / 100: {large / page:4.2f}x, "
        f"{blocks:,} / 10: {large / tiny:4.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--blocks", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--without-index", action="store_true", help="drop the serial-order index first"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = f"sqlite:///{Path(tmp) / 'mirror.sqlite3'}"
        measure("SQLite", sqlite, args.blocks, args.repeats, args.without_index)
    if args.no_postgres:
        return
    try:
        admin = psycopg.connect(args.postgres_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL skipped: {exc}".splitlines()[0])
        return
    name = f"bench_holdings_{secrets.token_hex(4)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(args.postgres_url).set(database=name).render_as_string(hide_password=False)
        measure("PostgreSQL", url, args.blocks, args.repeats, args.without_index)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
