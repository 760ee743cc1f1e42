"""Apply decoded registry events to the SQL mirror, in bulk, inside the caller's transaction.

Events are applied in chain order to in-memory buffers and written table by table at the end of
each `apply` call: a few multi-row statements per batch instead of several per event. Unit blocks
are loaded once per batch (the blocks containing every serial the batch touches), split in memory
exactly as the contract splits them, and written back as inserts and updates.

NOTE: the bulk statements go to the DBAPI driver as plain SQL with rows of plain tuples
(`_Bulk`). SQLAlchemy Core's executemany processes every parameter of every row in Python, which
cost more than the database's own work; the values here are converted once, where they are made.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import itemgetter
from typing import Any

import pydantic_core
from sqlalchemy import Connection, Table, select, tuple_

from indexer.errors import MirrorInconsistentError
from indexer.models import Event, Uint256, UnitBlock, sql_text, table_of
from indexer.reducer import DERIVED_TABLES, STATE_TEXT, Key, Reducer, Row, hex_text, key_of
from node.ledger import BlockIndex, BlockRecord, DecodedEvent

__all__ = [
    "DERIVED_TABLES",
    "EVENT_COLUMNS",
    "MirrorWriter",
    "SqlStore",
    "hex_text",
    "rebuild_derived",
    "stored_events",
    "stored_rows",
]

_UNIT_BLOCKS = table_of(UnitBlock)
_EVENTS = table_of(Event)

# Serials per prefetch query on SQLite: well under its bound-parameter limit.
_PREFETCH_CHUNK = 1000


def _clean(args: dict[str, Any]) -> dict[str, Any]:
    return {k: sql_text(v) if isinstance(v, str) else v for k, v in args.items()}


def _event_json(args: dict[str, Any]) -> str:
    """Return an event's arguments as the JSON the events table stores."""
    # NOTE: pydantic-core (pydantic's own serializer) writes this JSON several times faster than
    # the json module; the text differs only in whitespace, and both databases parse it.
    data = pydantic_core.to_json(args).decode()
    # U+0000 comes out as the escape \u0000, which PostgreSQL's JSONB refuses: clean the (rare)
    # events that may hold one, with the rule free-text columns follow.
    return pydantic_core.to_json(_clean(args)).decode() if "\\u0000" in data else data


def stored_rows(events: Sequence[DecodedEvent]) -> list[tuple[Any, ...]]:
    """Return the events table's rows of events, values in `EVENT_COLUMNS` order."""
    return [
        (e.block_number, e.log_index, e.tx_hash, e.block_hash, e.name, _event_json(e.args))
        for e in events
    ]


# -- bulk statements -------------------------------------------------------------------------


class _Bulk:
    """Multi-row INSERT, UPDATE and DELETE at the DBAPI level, with rows as plain tuples."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        dialect = conn.dialect
        self.sqlite = dialect.name == "sqlite"
        # psycopg takes whole arrays as parameters: one statement per table and batch.
        self.arrays = dialect.driver == "psycopg"
        self.mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self._quote = dialect.identifier_preparer.quote
        self._prepared: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], Any] = {}

    def blocks_containing(self, serials: list[int]) -> Iterator[tuple[Any, ...]]:
        """Yield the stored unit blocks containing any of `serials`, as `_BLOCK_COLUMNS` rows."""
        # NOTE: "the block with the greatest start <= s" is an index seek per serial on both
        # databases; `start <= s AND end >= s` would scan every block below s.
        query = (
            'SELECT start, "end", account_id, state, lock_id, issuance_id, labels '
            "FROM unit_blocks WHERE start IN (SELECT (SELECT u.start FROM unit_blocks u "
            "WHERE u.start <= v.s ORDER BY u.start DESC LIMIT 1) FROM {serials})"
        )
        # The driver's own cursor, in the same transaction: plain tuples, no result wrapping.
        driver = self.conn.connection.driver_connection
        assert driver is not None
        cursor = driver.cursor()
        try:
            if self.arrays:
                cursor.execute(
                    query.format(serials="unnest(CAST(%s AS BIGINT[])) AS v(s)"), (serials,)
                )
                yield from cursor.fetchall()
                return
            for i in range(0, len(serials), _PREFETCH_CHUNK):
                chunk = serials[i : i + _PREFETCH_CHUNK]
                values = ", ".join("(CAST(? AS BIGINT))" for _ in chunk)
                cursor.execute(
                    f"WITH v(s) AS (VALUES {values}) " + query.format(serials="v"), chunk
                )
                yield from cursor.fetchall()
        finally:
            cursor.close()

    def insert(self, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert rows of values in `columns` order."""
        if not rows:
            return
        if self.arrays:
            # NOTE: COPY streams the rows in one command; an executemany is one round of
            # parse, bind and execute on the server per row, several times slower.
            q = self._quote
            names = ", ".join(q(c) for c in columns)
            driver = self.conn.connection.driver_connection
            assert driver is not None
            with (
                driver.cursor() as cursor,
                cursor.copy(f"COPY {q(table.name)} ({names}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            return
        self._run("insert", table, tuple(columns), (), rows)

    def update(
        self,
        table: Table,
        columns: Sequence[str],
        keys: Sequence[str],
        rows: Sequence[tuple[Any, ...]],
    ) -> None:
        """Set `columns` of the rows matching `keys`; each row is new values, then key values."""
        if rows:
            self._run("update", table, tuple(columns), tuple(keys), rows)

    def delete(self, table: Table, keys: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        """Delete the rows matching `keys`; each row is key values."""
        if rows:
            self._run("delete", table, (), tuple(keys), rows)

    def _run(
        self,
        kind: str,
        table: Table,
        columns: tuple[str, ...],
        keys: tuple[str, ...],
        rows: Sequence[tuple[Any, ...]],
    ) -> None:
        cache_key = (kind, table.name, columns, keys)
        prepared = self._prepared.get(cache_key)
        if prepared is None:
            prepared = self._prepare(kind, table, columns, keys)
            self._prepared[cache_key] = prepared
        sql, wide = prepared
        if self.arrays and kind != "insert":
            columns_of_rows = zip(*rows, strict=True)
            self.conn.exec_driver_sql(sql, tuple(list(values) for values in columns_of_rows))
            return
        params = [_stringify(row, wide) for row in rows] if wide else list(rows)
        self.conn.exec_driver_sql(sql, params)

    def _prepare(
        self, kind: str, table: Table, columns: tuple[str, ...], keys: tuple[str, ...]
    ) -> tuple[str, list[int]]:
        name, q, mark = self._quote(table.name), self._quote, self.mark
        where = " AND ".join(f"{q(k)} = {mark}" for k in keys)
        if self.arrays and kind != "insert":
            # One statement for all rows: the rows as parallel arrays, one per column.
            types = [table.c[c].type.compile(dialect=self.conn.dialect) for c in columns + keys]
            arrays = ", ".join(f"CAST(%s AS {t}[])" for t in types)
            aliases = ", ".join(q(c) for c in columns + keys)
            match = " AND ".join(f"t.{q(k)} = v.{q(k)}" for k in keys)
            if kind == "update":
                values = ", ".join(f"{q(c)} = v.{q(c)}" for c in columns)
                sql = f"UPDATE {name} AS t SET {values} FROM unnest({arrays}) AS v({aliases})"
            else:
                sql = f"DELETE FROM {name} AS t USING unnest({arrays}) AS v({aliases})"
            return f"{sql} WHERE {match}", []
        if kind == "insert":
            names = ", ".join(q(c) for c in columns)
            sql = f"INSERT INTO {name} ({names}) VALUES ({', '.join(mark for _ in columns)})"
        elif kind == "update":
            values = ", ".join(f"{q(c)} = {mark}" for c in columns)
            sql = f"UPDATE {name} SET {values} WHERE {where}"
        else:
            sql = f"DELETE FROM {name} WHERE {where}"
        # 256-bit columns are decimal text on SQLite (see `Uint256`); drivers take ints elsewhere.
        wide = [
            i
            for i, c in enumerate(columns + keys)
            if self.sqlite and isinstance(table.c[c].type, Uint256)
        ]
        return sql, wide


def _stringify(row: Sequence[Any], positions: list[int]) -> tuple[Any, ...]:
    out = list(row)
    for i in positions:
        if out[i] is not None:
            out[i] = str(int(out[i]))
    return tuple(out)


class _Rows:
    """Pending inserts, partial updates and deletes of one table, keyed by primary key."""

    def __init__(self, table: Table, key: tuple[str, ...]) -> None:
        self.table = table
        self.key = key
        get = itemgetter(*key)
        self._pk: Callable[[dict[str, Any]], tuple[Any, ...]] = (
            get if len(key) > 1 else lambda row: (get(row),)
        )
        self.inserts: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.updates: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.deletes: set[tuple[Any, ...]] = set()

    def insert(self, row: dict[str, Any]) -> None:
        """Queue a row that does not exist yet."""
        self.inserts[self._pk(row)] = row

    def update(self, pk: tuple[Any, ...], **values: Any) -> None:
        """Queue new values for some columns of a row, inserted in this batch or earlier."""
        if pk in self.inserts:
            self.inserts[pk].update(values)
        else:
            self.updates.setdefault(pk, {}).update(values)

    def replace(self, pk: tuple[Any, ...], row: dict[str, Any] | None) -> None:
        """Queue a row that replaces whatever row has this key (None: just delete it)."""
        self.deletes.add(pk)
        self.updates.pop(pk, None)
        if row is None:
            self.inserts.pop(pk, None)
        else:
            self.inserts[pk] = row

    def flush(self, bulk: _Bulk) -> None:
        """Write the queued changes: deletes, then inserts, then updates."""
        bulk.delete(self.table, self.key, list(self.deletes))
        if self.inserts:
            names = list(next(iter(self.inserts.values())))
            rows = [tuple([r[c] for c in names]) for r in self.inserts.values()]
            bulk.insert(self.table, names, rows)
        by_columns: dict[tuple[str, ...], list[tuple[Any, ...]]] = defaultdict(list)
        for pk, values in self.updates.items():
            columns = tuple(sorted(values))
            by_columns[columns].append((*(values[c] for c in columns), *pk))
        for columns, updates in by_columns.items():
            bulk.update(self.table, columns, self.key, updates)
        self.inserts.clear()
        self.updates.clear()
        self.deletes.clear()


# -- unit blocks -----------------------------------------------------------------------------

# A state by the text the mirror stores.
_STATE_OF_TEXT = {text: state for state, text in STATE_TEXT.items()}
# In this order: the columns `_BlockSet.flush` writes (start, the key, first).
_BLOCK_COLUMNS = ("start", "end", "account_id", "state", "lock_id", "issuance_id", "labels")
# The columns of `_values`, in order.
_VALUE_COLUMNS = ("end", "state", "account_id", "lock_id", "issuance_id", "labels")
# The columns of `stored_rows`, in order.
EVENT_COLUMNS = ("block_number", "log_index", "tx_hash", "block_hash", "name", "data")


def _values(b: BlockRecord) -> tuple[int, str, int, int, int, int]:
    return (b.end, STATE_TEXT[b.state], b.account, b.lock_id, b.issuance, b.labels)


class _BlockSet(BlockIndex):
    """The block map over the unit blocks one batch touches, loaded from and written to SQL."""

    def __init__(self) -> None:
        super().__init__()
        self._original: dict[int, tuple[int, str, int, int, int, int]] = {}

    def prefetch(self, bulk: _Bulk, serials: Iterable[int]) -> None:
        """Load the stored block containing each serial (one indexed lookup per serial)."""
        wanted = sorted({s for s in serials if self.containing(s) is None})
        for start, end, account, state, lock, issuance, labels in bulk.blocks_containing(wanted):
            if start in self._original:
                continue  # two serials of one block
            # Labels are decimal text on SQLite and NUMERIC on PostgreSQL (see `Uint256`).
            block = BlockRecord(
                start, end, account, _STATE_OF_TEXT[state], lock, issuance, int(labels)
            )
            self.add(block)
            self._original[start] = _values(block)

    def missing(self, start: int, end: int) -> Exception:
        return MirrorInconsistentError(
            f"no stored unit block holds serials [{start}, {end}]; the mirror does not match "
            "the chain. Run `registry audit`, then rebuild the mirror from an empty database."
        )

    def flush(self, bulk: _Bulk) -> None:
        """Insert new blocks and update changed ones, then forget the batch's blocks."""
        inserts = []
        # NOTE: an update sets only the columns that changed, grouped by which ones did. Most
        # updated blocks are the first piece of a split, whose `end` alone changes: setting the
        # other columns too would make both databases rewrite every index entry of the row.
        updates: dict[tuple[int, ...], list[tuple[Any, ...]]] = defaultdict(list)
        for b in self.blocks():
            original = self._original.get(b.start)
            now = _values(b)
            if original is None:
                inserts.append((b.start, b.end, b.account, now[1], b.lock_id, b.issuance, b.labels))
                continue
            if now != original:
                changed = tuple(i for i, value in enumerate(now) if value != original[i])
                updates[changed].append((*(now[i] for i in changed), b.start))
        bulk.insert(_UNIT_BLOCKS, _BLOCK_COLUMNS, inserts)
        for changed, rows in updates.items():
            columns = tuple(_VALUE_COLUMNS[i] for i in changed)
            bulk.update(_UNIT_BLOCKS, columns, ("start",), rows)
        self.clear()
        self._original.clear()


# -- the SQL store and the writer ------------------------------------------------------------


class SqlStore:
    """The reducer's `Store` over the mirror: rows buffered per batch, written in bulk."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.bulk = _Bulk(conn)
        # Every table's buffer, in the order `flush` writes them (unit blocks last).
        self._rows = {t.name: _Rows(t, key_of(t)) for t in DERIVED_TABLES if t is not _UNIT_BLOCKS}
        self._blocks = _BlockSet()

    @property
    def blocks(self) -> BlockIndex:
        return self._blocks

    @property
    def tables(self) -> tuple[Table, ...]:
        """Every table this store writes, in the order `flush` writes them."""
        return (*(rows.table for rows in self._rows.values()), _UNIT_BLOCKS)

    def prefetch(self, serials: Iterable[int]) -> None:
        self._blocks.prefetch(self.bulk, serials)

    def insert(self, table: Table, row: Row) -> None:
        self._rows[table.name].insert(row)

    def update(self, table: Table, key: Key, **values: Any) -> None:
        self._rows[table.name].update(key, **values)

    def replace(self, table: Table, key: Key, row: Row | None) -> None:
        self._rows[table.name].replace(key, row)

    def row(self, table: Table, key: Key) -> Row | None:
        rows = self._rows[table.name]
        if key in rows.inserts:
            return dict(rows.inserts[key])
        if key in rows.deletes:
            return None
        match = [table.c[c] == v for c, v in zip(rows.key, key, strict=True)]
        found = self.conn.execute(select(table).where(*match)).first()
        if found is None:
            return None
        return dict(found._mapping) | rows.updates.get(key, {})

    def keys_where(self, table: Table, column: str, value: Any) -> set[Key]:
        rows = self._rows[table.name]
        columns = [table.c[c] for c in rows.key]
        stored = {
            tuple(r) for r in self.conn.execute(select(*columns).where(table.c[column] == value))
        }
        pending = {k for k, r in rows.inserts.items() if r[column] == value}
        return (stored - rows.deletes) | pending

    def flush(self) -> None:
        """Write every buffered change, table by table, then the unit blocks."""
        for rows in self._rows.values():
            rows.flush(self.bulk)
        self._blocks.flush(self.bulk)


class MirrorWriter:
    """Apply events to the mirror tables over one connection, inside the caller's transaction.

    The reducer (`indexer.reducer`) says what each event means; this writer runs it over the
    SQL store. One writer may apply several consecutive chunks of events (a rebuild does).
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.store = SqlStore(conn)
        self.reducer = Reducer(self.store)

    def apply(
        self,
        events: Sequence[DecodedEvent],
        *,
        record_raw: bool = True,
        event_rows: Sequence[tuple[Any, ...]] | None = None,
    ) -> None:
        """Apply events in chain order and write the results; `record_raw` also stores them.

        `event_rows` are `stored_rows(events)` when the caller made them already (the indexer
        does, on its prefetch thread).
        """
        if record_raw and events:
            self.store.bulk.insert(_EVENTS, EVENT_COLUMNS, event_rows or stored_rows(events))
        self.reducer.apply(events)
        self.store.flush()


def stored_events(conn: Connection, chunk: int = 20_000) -> Iterator[list[DecodedEvent]]:
    """Yield the stored raw events in chain order, in chunks, as decoded events."""
    c = _EVENTS.c
    after = (-1, -1)
    while True:
        rows = conn.execute(
            select(c.block_number, c.log_index, c.tx_hash, c.block_hash, c.name, c.data)
            .where(tuple_(c.block_number, c.log_index) > tuple_(*after))
            .order_by(c.block_number, c.log_index)
            .limit(chunk)
        ).all()
        if not rows:
            return
        yield [
            DecodedEvent(
                name=r.name,
                args=dict(r.data),
                block_number=r.block_number,
                block_hash=r.block_hash,
                log_index=r.log_index,
                tx_hash=r.tx_hash,
            )
            for r in rows
        ]
        after = (rows[-1].block_number, rows[-1].log_index)


def rebuild_derived(conn: Connection) -> int:
    """Recompute every derived table from the stored raw events; return the events replayed."""
    for table in DERIVED_TABLES:
        conn.execute(table.delete())
    writer = MirrorWriter(conn)
    replayed = 0
    for events in stored_events(conn):
        writer.apply(events, record_raw=False)
        replayed += len(events)
    return replayed
