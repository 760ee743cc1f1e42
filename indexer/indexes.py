"""Secondary indexes dropped during a long backfill and re-created after it (D56).

Each batch of a backfill inserts rows into tables with up to four secondary indexes; keeping
those up to date row by row costs more than building them once at the end. `defer` drops the
non-unique secondary indexes of the mirror's event and derived tables, in one transaction that
also records each one's own CREATE statement (as the database reports it) in `deferred_indexes`;
`restore` runs the recorded statements and deletes the rows, again in one transaction. So a row
exists exactly while its index is absent: a crash mid-backfill leaves the list of what to
re-create, and the indexer (or `upgrade_database`, before any migration) re-creates it.

Only non-unique indexes are dropped: primary keys and unique indexes are constraints, and the
writer's own lookups (unit blocks by start, rows by primary key) use primary keys only. Without
the secondary indexes a reader's query gives the same rows, only more slowly.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, inspect, select, text

from indexer.models import DeferredIndex, Event, table_of
from indexer.reducer import DERIVED_TABLES

__all__ = ["DEFERRABLE_TABLES", "defer", "deferred", "restore"]

_DEFERRED = table_of(DeferredIndex)
# The tables a backfill writes in bulk.
DEFERRABLE_TABLES = frozenset(t.name for t in (table_of(Event), *DERIVED_TABLES))


def _secondary_indexes(conn: Connection) -> list[tuple[str, str, str]]:
    """Return (name, table, CREATE statement) of the deferrable non-unique indexes present."""
    if conn.dialect.name == "sqlite":
        query = (
            "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' "
            "AND sql IS NOT NULL AND upper(sql) NOT LIKE :unique"
        )
    else:
        query = (
            "SELECT indexname, tablename, indexdef FROM pg_indexes "
            "WHERE schemaname = current_schema() AND indexdef NOT LIKE :unique"
        )
    rows = conn.execute(text(query), {"unique": "CREATE UNIQUE%"}).all()
    return sorted((str(n), str(t), str(d)) for n, t, d in rows if t in DEFERRABLE_TABLES)


def _run(conn: Connection, sql: str) -> None:
    """Run a statement as is, in the connection's transaction (no parameter parsing)."""
    driver = conn.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()
    try:
        cursor.execute(sql)
    finally:
        cursor.close()


def deferred(conn: Connection) -> int:
    """Return how many indexes are recorded as dropped (0 before the table's migration)."""
    if not inspect(conn).has_table(_DEFERRED.name):
        return 0
    return len(conn.execute(select(_DEFERRED.c.name)).all())


def defer(engine: Engine) -> int:
    """Drop the deferrable secondary indexes, recording how to re-create them; return how many."""
    with engine.begin() as conn:
        found = _secondary_indexes(conn)
        if not found:
            return 0
        conn.execute(
            _DEFERRED.insert(), [{"name": n, "table_name": t, "ddl": d} for n, t, d in found]
        )
        quote = conn.dialect.identifier_preparer.quote
        for name, _, _ in found:
            _run(conn, f"DROP INDEX {quote(name)}")
    return len(found)


def restore(target: Engine | Connection) -> int:
    """Re-create every recorded index in one transaction; return how many."""
    if isinstance(target, Engine):
        with target.begin() as conn:
            return restore(conn)
    conn = target
    if not inspect(conn).has_table(_DEFERRED.name):
        return 0
    rows = conn.execute(select(_DEFERRED.c.name, _DEFERRED.c.ddl).order_by(_DEFERRED.c.name))
    pending = rows.all()
    if not pending:
        return 0
    if conn.dialect.name == "postgresql":
        # Building an index sorts the whole table: give the sort memory for this transaction.
        _run(conn, "SET LOCAL maintenance_work_mem TO '256MB'")
    for _, ddl in pending:
        _run(conn, ddl)
    conn.execute(_DEFERRED.delete())
    return len(pending)
