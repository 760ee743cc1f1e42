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

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import pydantic_core
from sqlalchemy import Connection, Table, select, tuple_

from indexer.errors import MirrorInconsistentError
from indexer.models import (
    Account,
    Article6Action,
    Article6Approach,
    Article6ApproachParty,
    Article6Authorization,
    Article6Config,
    Article6ItmoTransfer,
    Article6Party,
    Article6PartyAdministrator,
    Article64Issuance,
    Article64Part,
    Association,
    Cancellation,
    Consent,
    Escrow,
    Event,
    ExecutedRequest,
    Issuance,
    Label,
    LabelChange,
    OperationRange,
    Platform,
    PlatformSigner,
    Project,
    Representative,
    Reservation,
    Transfer,
    Uint256,
    UnitBlock,
    enum_text,
    purposes_text,
    sql_text,
    table_of,
)
from node.contracts import (
    AccountKind,
    AccountStatus,
    ApprovalPolicy,
    Article64Share,
    CancellationPurpose,
    ConsentScope,
    FirstTransferDefinition,
    PlatformStatus,
    UnitState,
    bytes32_text,
)
from node.contracts import Article6Action as Action
from node.ledger import DecodedEvent

__all__ = [
    "DERIVED_TABLES",
    "EVENT_COLUMNS",
    "MirrorWriter",
    "hex_text",
    "rebuild_derived",
    "stored_events",
    "stored_rows",
]


_ACCOUNTS = table_of(Account)
_REPRESENTATIVES = table_of(Representative)
_PROJECTS = table_of(Project)
_ISSUANCES = table_of(Issuance)
_LABELS = table_of(Label)
_UNIT_BLOCKS = table_of(UnitBlock)
_TRANSFERS = table_of(Transfer)
_CANCELLATIONS = table_of(Cancellation)
_OPERATION_RANGES = table_of(OperationRange)
_LABEL_CHANGES = table_of(LabelChange)
_EXECUTED_REQUESTS = table_of(ExecutedRequest)
_EVENTS = table_of(Event)
_PLATFORMS = table_of(Platform)
_PLATFORM_SIGNERS = table_of(PlatformSigner)
_CONSENTS = table_of(Consent)
_RESERVATIONS = table_of(Reservation)
_ESCROWS = table_of(Escrow)
_ASSOCIATIONS = table_of(Association)
_A6_PARTIES = table_of(Article6Party)
_A6_PARTY_ADMINS = table_of(Article6PartyAdministrator)
_A6_APPROACHES = table_of(Article6Approach)
_A6_APPROACH_PARTIES = table_of(Article6ApproachParty)
_A6_AUTHORIZATIONS = table_of(Article6Authorization)
_A6_ACTIONS = table_of(Article6Action)
_A6_ITMO_TRANSFERS = table_of(Article6ItmoTransfer)
_A6_CONFIG = table_of(Article6Config)
_A64_ISSUANCES = table_of(Article64Issuance)
_A64_PARTS = table_of(Article64Part)

# Every table that is a function of the raw events alone, i.e. what a rebuild recomputes.
DERIVED_TABLES: tuple[Table, ...] = (
    _ACCOUNTS,
    _REPRESENTATIVES,
    _PROJECTS,
    _ISSUANCES,
    _LABELS,
    _UNIT_BLOCKS,
    _TRANSFERS,
    _CANCELLATIONS,
    _OPERATION_RANGES,
    _LABEL_CHANGES,
    _EXECUTED_REQUESTS,
    _PLATFORMS,
    _PLATFORM_SIGNERS,
    _CONSENTS,
    _RESERVATIONS,
    _ESCROWS,
    _ASSOCIATIONS,
    _A6_PARTIES,
    _A6_PARTY_ADMINS,
    _A6_APPROACHES,
    _A6_APPROACH_PARTIES,
    _A6_AUTHORIZATIONS,
    _A6_ACTIONS,
    _A6_ITMO_TRANSFERS,
    _A6_CONFIG,
    _A64_ISSUANCES,
    _A64_PARTS,
)

# Serials per prefetch query on SQLite: well under its bound-parameter limit.
_PREFETCH_CHUNK = 1000


def hex_text(value: str) -> str:
    """Decode a right-padded bytes32/bytes8 identifier given as 0x-hex into mirror text."""
    return sql_text(bytes32_text(value))


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


@dataclass(slots=True)
class _Block:
    start: int
    end: int
    account_id: int
    state: str
    lock_id: int
    issuance_id: int
    labels: int

    def values(self) -> tuple[int, str, int, int, int, int]:
        return (self.end, self.state, self.account_id, self.lock_id, self.issuance_id, self.labels)

    def row(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "account_id": self.account_id,
            "state": self.state,
            "lock_id": self.lock_id,
            "issuance_id": self.issuance_id,
            "labels": self.labels,
        }

    def copy_from(self, start: int) -> _Block:
        return _Block(
            start,
            self.end,
            self.account_id,
            self.state,
            self.lock_id,
            self.issuance_id,
            self.labels,
        )


# By the state's number, as events carry it: no enum construction per event.
_STATE_TEXT = {int(state): enum_text(state) for state in UnitState}
# In this order: the columns `_BlockSet.flush` writes (start, the key, first).
_BLOCK_COLUMNS = ("start", "end", "account_id", "state", "lock_id", "issuance_id", "labels")
# The columns of `_Block.values()`, in order.
_VALUE_COLUMNS = ("end", "state", "account_id", "lock_id", "issuance_id", "labels")
# The columns of `stored_rows`, in order.
EVENT_COLUMNS = ("block_number", "log_index", "tx_hash", "block_hash", "name", "data")


class _BlockSet:
    """The unit blocks one batch touches, split in memory as the contract splits them."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._blocks: dict[int, _Block] = {}
        self._original: dict[int, tuple[int, str, int, int, int, int]] = {}

    def prefetch(self, bulk: _Bulk, serials: Iterable[int]) -> None:
        """Load the stored block containing each serial (one indexed lookup per serial)."""
        wanted = sorted({s for s in serials if not self._holds(s)})
        found = []
        for start, end, account, state, lock, issuance, labels in bulk.blocks_containing(wanted):
            if start in self._blocks:
                continue  # two serials of one block
            # Labels are decimal text on SQLite and NUMERIC on PostgreSQL (see `Uint256`).
            block = _Block(start, end, account, state, lock, issuance, int(labels))
            self._blocks[start] = block
            self._original[start] = block.values()
            found.append(start)
        if found:
            self._starts = sorted(self._starts + found)

    def issue(self, start: int, end: int, account_id: int, issuance_id: int) -> None:
        """Add a newly issued block."""
        self._add(
            _Block(start, end, account_id, _STATE_TEXT[UnitState.HELD.value], 0, issuance_id, 0)
        )

    def change(self, start: int, end: int, account_id: int, state: int, lock_id: int) -> None:
        """Give `[start, end]` a new holder, state and lock, splitting its block."""
        block = self._isolate(start, end)
        block.account_id = account_id
        block.state = _STATE_TEXT[state]
        block.lock_id = lock_id

    def label(self, start: int, end: int, label_id: int, applied: bool) -> None:
        """Set or clear one label bit on `[start, end]`, splitting its block."""
        block = self._isolate(start, end)
        bit = 1 << label_id
        block.labels = block.labels | bit if applied else block.labels & ~bit

    def flush(self, bulk: _Bulk) -> None:
        """Insert new blocks and update changed ones, then forget the batch's blocks."""
        inserts = []
        # NOTE: an update sets only the columns that changed, grouped by which ones did. Most
        # updated blocks are the first piece of a split, whose `end` alone changes: setting the
        # other columns too would make both databases rewrite every index entry of the row.
        updates: dict[tuple[int, ...], list[tuple[Any, ...]]] = defaultdict(list)
        for start, b in self._blocks.items():
            original = self._original.get(start)
            if original is None:
                inserts.append(
                    (start, b.end, b.account_id, b.state, b.lock_id, b.issuance_id, b.labels)
                )
                continue
            now = b.values()
            if now != original:
                changed = tuple(i for i, value in enumerate(now) if value != original[i])
                updates[changed].append((*(now[i] for i in changed), start))
        bulk.insert(_UNIT_BLOCKS, _BLOCK_COLUMNS, inserts)
        for changed, rows in updates.items():
            columns = tuple(_VALUE_COLUMNS[i] for i in changed)
            bulk.update(_UNIT_BLOCKS, columns, ("start",), rows)
        self._starts.clear()
        self._blocks.clear()
        self._original.clear()

    def _holds(self, serial: int) -> bool:
        i = bisect.bisect_right(self._starts, serial) - 1
        return i >= 0 and self._blocks[self._starts[i]].end >= serial

    def _add(self, block: _Block) -> None:
        bisect.insort(self._starts, block.start)
        self._blocks[block.start] = block

    def _isolate(self, start: int, end: int) -> _Block:
        i = bisect.bisect_right(self._starts, start) - 1
        block = self._blocks[self._starts[i]] if i >= 0 else None
        if block is None or block.end < end or block.start > start:
            raise MirrorInconsistentError(
                f"no stored unit block holds serials [{start}, {end}]; the mirror does not match "
                "the chain. Run `registry audit`, then rebuild the mirror from an empty database."
            )
        if block.start < start:
            tail = block.copy_from(start)
            block.end = start - 1
            self._add(tail)
            block = tail
        if end < block.end:
            after = block.copy_from(end + 1)
            block.end = end
            self._add(after)
        return block


# -- the writer ------------------------------------------------------------------------------


class MirrorWriter:
    """Apply events to the mirror tables over one connection, inside the caller's transaction.

    One writer may apply several consecutive chunks of events (a rebuild does); it remembers the
    current request's ranges across chunks, because one transaction's events may straddle them.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._bulk = _Bulk(conn)
        # Every table's buffer, in the order `apply` writes them.
        self._buffers: list[_Rows] = []
        self._accounts = self._buffer(_ACCOUNTS, ("id",))
        self._representatives = self._buffer(_REPRESENTATIVES, ("account_id", "address"))
        self._projects = self._buffer(_PROJECTS, ("id",))
        self._issuances = self._buffer(_ISSUANCES, ("id",))
        self._labels = self._buffer(_LABELS, ("id",))
        self._transfers = self._buffer(_TRANSFERS, ("id",))
        self._cancellations = self._buffer(_CANCELLATIONS, ("id",))
        self._operation_ranges = self._buffer(_OPERATION_RANGES, ("operation_id", "start"))
        self._label_changes = self._buffer(_LABEL_CHANGES, ("block_number", "log_index"))
        self._executed = self._buffer(_EXECUTED_REQUESTS, ("digest",))
        self._platforms = self._buffer(_PLATFORMS, ("address",))
        self._platform_signers = self._buffer(_PLATFORM_SIGNERS, ("platform", "signer"))
        self._consents = self._buffer(_CONSENTS, ("id",))
        self._reservations = self._buffer(_RESERVATIONS, ("id",))
        self._escrows = self._buffer(_ESCROWS, ("id",))
        self._associations = self._buffer(_ASSOCIATIONS, ("id",))
        self._a6_parties = self._buffer(_A6_PARTIES, ("party",))
        self._a6_party_admins = self._buffer(_A6_PARTY_ADMINS, ("party", "address"))
        self._a6_approaches = self._buffer(_A6_APPROACHES, ("approach_id",))
        self._a6_approach_parties = self._buffer(_A6_APPROACH_PARTIES, ("approach_id", "party"))
        self._a6_authorizations = self._buffer(_A6_AUTHORIZATIONS, ("id",))
        self._a6_actions = self._buffer(_A6_ACTIONS, ("block_number", "log_index"))
        self._a6_itmo_transfers = self._buffer(_A6_ITMO_TRANSFERS, ("transfer_id",))
        self._a6_config = self._buffer(_A6_CONFIG, ("id",))
        self._a64_issuances = self._buffer(_A64_ISSUANCES, ("issuance_id",))
        self._a64_parts = self._buffer(_A64_PARTS, ("issuance_id", "start"))
        # Members of Parties and approaches (and the config row) as this batch leaves them,
        # loaded from the database on first use: a re-registration replaces the whole list.
        self._members: dict[tuple[str, str], set[str]] = {}
        self._config: dict[str, Any] | None = None
        self._blocks = _BlockSet()
        # Ranges moved by the request being applied: a request's events start with its
        # RequestExecuted, and its unit-moving event follows the BlockChanged events it caused.
        # Each is (start, end, state, lock id).
        self._tx_hash = ""
        self._ranges: list[tuple[int, int, int, int]] = []
        # The signer of the request being applied (its RequestExecuted comes first).
        self._signer = ""

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
            self._bulk.insert(_EVENTS, EVENT_COLUMNS, event_rows or stored_rows(events))
        self._blocks.prefetch(
            self._bulk,
            (e.args["start"] for e in events if e.name in ("BlockChanged", "LabelChanged")),
        )
        for event in events:
            if event.tx_hash != self._tx_hash:
                self._tx_hash = event.tx_hash
                self._ranges = []
            handler = _HANDLERS.get(event.name)
            if handler is not None:
                handler(self, event)
        for rows in self._buffers:
            rows.flush(self._bulk)
        self._blocks.flush(self._bulk)

    def _buffer(self, table: Table, key: tuple[str, ...]) -> _Rows:
        """Return a new buffer of `table`'s changes, which `apply` writes at its end."""
        rows = _Rows(table, key)
        self._buffers.append(rows)
        return rows

    # -- handlers, one per event name -------------------------------------------------------

    def _request_executed(self, e: DecodedEvent) -> None:
        a = e.args
        self._ranges = []
        self._signer = a["signer"]
        self._executed.insert(
            {
                "digest": a["digest"],
                "signer": a["signer"],
                "nonce": a["nonce"],
                "block_number": e.block_number,
                "log_index": e.log_index,
                "tx_hash": e.tx_hash,
            }
        )

    def _batch_item_failed(self, e: DecodedEvent) -> None:
        self._ranges = []

    def _account_opened(self, e: DecodedEvent) -> None:
        a = e.args
        self._accounts.insert(
            {
                "id": a["accountId"],
                "kind": enum_text(AccountKind(a["kind"])),
                "status": enum_text(AccountStatus.OPEN),
                "approval_policy": enum_text(ApprovalPolicy(a["approvalPolicy"])),
                "party": hex_text(a["party"]),
                "holder_name": sql_text(a["holderName"]),
                # Set by the RepresentativeSet(primary) event that follows in the same request.
                "primary_representative": "",
                "opened_block": e.block_number,
                "opened_tx_hash": e.tx_hash,
            }
        )

    def _representative_set(self, e: DecodedEvent) -> None:
        a = e.args
        pk = (a["accountId"], a["representative"])
        # NOTE: the event documents "all flags false" as a removal, so the row goes.
        removed = not (a["primary"] or a["canInitiate"] or a["canApprove"])
        row = None
        if not removed:
            row = {
                "account_id": a["accountId"],
                "address": a["representative"],
                "is_primary": a["primary"],
                "can_initiate": a["canInitiate"],
                "can_approve": a["canApprove"],
                "updated_block": e.block_number,
            }
        self._representatives.replace(pk, row)
        if a["primary"]:
            self._accounts.update((a["accountId"],), primary_representative=a["representative"])

    def _account_status_changed(self, e: DecodedEvent) -> None:
        a = e.args
        self._accounts.update((a["accountId"],), status=enum_text(AccountStatus(a["status"])))

    def _project_registered(self, e: DecodedEvent) -> None:
        a = e.args
        self._projects.insert(
            {
                "id": hex_text(a["projectId"]),
                "name": sql_text(a["name"]),
                "methodology": sql_text(a["methodology"]),
                "country": hex_text(a["country"]),
                "registered_block": e.block_number,
                "tx_hash": e.tx_hash,
            }
        )

    def _label_defined(self, e: DecodedEvent) -> None:
        a = e.args
        self._labels.insert(
            {
                "id": a["labelId"],
                "name": hex_text(a["name"]),
                "authority": a["authority"],
                "defined_block": e.block_number,
                "tx_hash": e.tx_hash,
            }
        )

    def _units_issued(self, e: DecodedEvent) -> None:
        a = e.args
        self._issuances.insert(
            {
                "id": a["issuanceId"],
                "project_id": hex_text(a["projectId"]),
                "unit_type": hex_text(a["unitType"]),
                "vintage": a["vintage"],
                "monitoring_start": a["monitoringStart"],
                "monitoring_end": a["monitoringEnd"],
                "origin_registry": hex_text(a["originRegistry"]),
                "start": a["start"],
                "end": a["end"],
                "quantity": a["end"] - a["start"] + 1,
                "account_id": a["accountId"],
                "block_number": e.block_number,
                "tx_hash": e.tx_hash,
            }
        )
        self._blocks.issue(a["start"], a["end"], a["accountId"], a["issuanceId"])

    def _block_changed(self, e: DecodedEvent) -> None:
        a = e.args
        self._blocks.change(a["start"], a["end"], a["accountId"], a["state"], a["lockId"])
        self._ranges.append((a["start"], a["end"], a["state"], a["lockId"]))

    def _label_changed(self, e: DecodedEvent) -> None:
        a = e.args
        self._blocks.label(a["start"], a["end"], a["labelId"], a["applied"])
        self._label_changes.insert(
            {
                "block_number": e.block_number,
                "log_index": e.log_index,
                "tx_hash": e.tx_hash,
                "start": a["start"],
                "end": a["end"],
                "label_id": a["labelId"],
                "applied": a["applied"],
            }
        )

    def _record_ranges(self, operation_id: int, *, cancelled: bool = False) -> None:
        for start, end, state, lock_id in self._ranges:
            # NOTE: an Article 6.4 issuance moves its other parts in the same request before it
            # cancels the OMGE part: a cancellation's ranges are the ones it cancelled.
            if cancelled and (state != _CANCELLED or lock_id != operation_id):
                continue
            self._operation_ranges.insert(
                {"operation_id": operation_id, "start": start, "end": end}
            )

    def _transfer_initiated(self, e: DecodedEvent) -> None:
        a = e.args
        self._transfers.insert(
            {
                "id": a["transferId"],
                "from_account": a["fromAccount"],
                "to_account": a["toAccount"],
                "quantity": a["quantity"],
                "status": "pending",
                "initiator": a["initiator"],
                "approver": None,
                "rescinded_by": None,
                "initiated_block": e.block_number,
                "initiated_tx_hash": e.tx_hash,
                "decided_block": None,
                "decided_tx_hash": None,
            }
        )
        self._record_ranges(a["transferId"])

    def _transfer_executed(self, e: DecodedEvent) -> None:
        # A single-policy core transfer: initiated and completed by its initiator in one request.
        a = e.args
        self._transfers.insert(
            {
                "id": a["transferId"],
                "from_account": a["fromAccount"],
                "to_account": a["toAccount"],
                "quantity": a["quantity"],
                "status": "completed",
                "initiator": a["initiator"],
                "approver": a["initiator"],
                "rescinded_by": None,
                "initiated_block": e.block_number,
                "initiated_tx_hash": e.tx_hash,
                "decided_block": e.block_number,
                "decided_tx_hash": e.tx_hash,
            }
        )
        self._record_ranges(a["transferId"])

    def _transfer_completed(self, e: DecodedEvent) -> None:
        a = e.args
        self._transfers.update(
            (a["transferId"],),
            status="completed",
            approver=a["approver"],
            decided_block=e.block_number,
            decided_tx_hash=e.tx_hash,
        )

    def _transfer_rescinded(self, e: DecodedEvent) -> None:
        a = e.args
        self._transfers.update(
            (a["transferId"],),
            status="rescinded",
            rescinded_by=a["representative"],
            decided_block=e.block_number,
            decided_tx_hash=e.tx_hash,
        )

    def _units_cancelled(self, e: DecodedEvent) -> None:
        a = e.args
        self._cancellations.insert(
            {
                "id": a["cancellationId"],
                "account_id": a["accountId"],
                "purpose": enum_text(CancellationPurpose(a["purpose"])),
                "quantity": a["quantity"],
                "beneficiary": sql_text(a["beneficiary"]),
                "reason": sql_text(a["reason"]),
                "block_number": e.block_number,
                "tx_hash": e.tx_hash,
            }
        )
        self._record_ranges(a["cancellationId"], cancelled=True)

    # -- platforms, consents, reservations, escrows, associations ----------------------------

    def _platform_registered(self, e: DecodedEvent) -> None:
        a = e.args
        self._platforms.insert(
            {
                "address": a["platform"],
                "name": sql_text(a["name"]),
                "custodial_account_id": a["custodialAccount"],
                "status": enum_text(PlatformStatus.ACTIVE),
                "registered_block": e.block_number,
                "registered_tx_hash": e.tx_hash,
                "updated_block": e.block_number,
            }
        )

    def _platform_signer_set(self, e: DecodedEvent) -> None:
        a = e.args
        row = None
        if a["enabled"]:
            row = {
                "platform": a["platform"],
                "signer": a["signer"],
                "added_block": e.block_number,
                "added_tx_hash": e.tx_hash,
            }
        self._platform_signers.replace((a["platform"], a["signer"]), row)

    def _platform_status_changed(self, e: DecodedEvent) -> None:
        a = e.args
        self._platforms.update(
            (a["platform"],),
            status=enum_text(PlatformStatus(a["status"])),
            updated_block=e.block_number,
        )

    def _consent_granted(self, e: DecodedEvent) -> None:
        a = e.args
        self._consents.insert(
            {
                "id": a["consentId"],
                "account_id": a["accountId"],
                "platform": a["platform"],
                "scope": enum_text(ConsentScope(a["scope"])),
                "status": "active",
                "granted_by": self._signer,
                "granted_block": e.block_number,
                "granted_tx_hash": e.tx_hash,
                "revoked_by": None,
                "revoked_block": None,
                "revoked_tx_hash": None,
            }
        )

    def _consent_revoked(self, e: DecodedEvent) -> None:
        a = e.args
        self._consents.update(
            (a["consentId"],),
            status="revoked",
            revoked_by=a["representative"],
            revoked_block=e.block_number,
            revoked_tx_hash=e.tx_hash,
        )

    def _locked(self, e: DecodedEvent, rows: _Rows, operation_id: int, **values: Any) -> None:
        """Record a reservation, escrow or association and the ranges it locked."""
        rows.insert(
            {
                "id": operation_id,
                "account_id": e.args["accountId"],
                **values,
                "quantity": e.args["quantity"],
                "status": "active",
                "created_by": self._signer,
                "created_block": e.block_number,
                "created_tx_hash": e.tx_hash,
                "closed_by": None,
                "closed_block": None,
                "closed_tx_hash": None,
            }
        )
        self._record_ranges(operation_id)

    def _closed(
        self, e: DecodedEvent, rows: _Rows, operation_id: int, status: str, by: str, **values: Any
    ) -> None:
        rows.update(
            (operation_id,),
            status=status,
            closed_by=by,
            closed_block=e.block_number,
            closed_tx_hash=e.tx_hash,
            **values,
        )

    def _units_reserved(self, e: DecodedEvent) -> None:
        a = e.args
        self._locked(
            e, self._reservations, a["reservationId"], platform=a["platform"], to_account=None
        )

    def _reservation_released(self, e: DecodedEvent) -> None:
        a = e.args
        self._closed(e, self._reservations, a["reservationId"], "released", a["representative"])

    def _reservation_transferred(self, e: DecodedEvent) -> None:
        a = e.args
        self._closed(
            e,
            self._reservations,
            a["reservationId"],
            "transferred",
            a["representative"],
            to_account=a["custodialAccount"],
        )

    def _units_escrowed(self, e: DecodedEvent) -> None:
        a = e.args
        self._locked(e, self._escrows, a["escrowId"], platform=a["platform"], to_account=None)

    def _escrow_settled(self, e: DecodedEvent) -> None:
        a = e.args
        self._closed(
            e, self._escrows, a["escrowId"], "settled", a["signer"], to_account=a["toAccount"]
        )

    def _escrow_released(self, e: DecodedEvent) -> None:
        a = e.args
        self._closed(e, self._escrows, a["escrowId"], "released", a["signer"])

    def _units_associated(self, e: DecodedEvent) -> None:
        a = e.args
        self._locked(
            e,
            self._associations,
            a["associationId"],
            third_party_registry=a["thirdPartyRegistry"],
            certificate_id=hex_text(a["certificateId"]),
            cancellation_id=None,
        )

    def _units_dissociated(self, e: DecodedEvent) -> None:
        a = e.args
        self._closed(
            e, self._associations, a["associationId"], "dissociated", a["thirdPartyRegistry"]
        )

    def _association_retired(self, e: DecodedEvent) -> None:
        a = e.args
        self._closed(
            e,
            self._associations,
            a["associationId"],
            "retired",
            a["thirdPartyRegistry"],
            cancellation_id=a["cancellationId"],
        )

    # -- Article 6 ---------------------------------------------------------------------------

    def _member_set(self, table: Table, key: str, owner: str, member: str) -> set[str]:
        """Return the current members of a Party (administrators) or an approach (Parties)."""
        cache_key = (table.name, owner)
        members = self._members.get(cache_key)
        if members is None:
            rows = self.conn.execute(select(table.c[member]).where(table.c[key] == owner))
            members = {str(r[0]) for r in rows}
            self._members[cache_key] = members
        return members

    def _replace_members(
        self, rows: _Rows, key: str, owner: str, member: str, new: Iterable[str]
    ) -> None:
        current = self._member_set(rows.table, key, owner, member)
        wanted = set(new)
        for gone in current - wanted:
            rows.replace((owner, gone), None)
        for added in wanted - current:
            rows.insert({key: owner, member: added})
        self._members[(rows.table.name, owner)] = wanted

    def _update_config(self, **values: Any) -> None:
        if self._config is None:
            row = self.conn.execute(select(_A6_CONFIG).where(_A6_CONFIG.c.id == 1)).first()
            self._config = (
                dict(row._mapping)
                if row is not None
                else {c.name: None for c in _A6_CONFIG.columns} | {"id": 1}
            )
        self._config.update(values)
        self._a6_config.replace((1,), dict(self._config))

    def _party_registered(self, e: DecodedEvent) -> None:
        a = e.args
        party = hex_text(a["party"])
        self._a6_parties.replace(
            (party,),
            {
                "party": party,
                "registry_id": hex_text(a["registryId"]),
                "label_authority": a["labelAuthority"],
                "registered_block": e.block_number,
                "tx_hash": e.tx_hash,
            },
        )
        self._replace_members(self._a6_party_admins, "party", party, "address", a["administrators"])

    def _approach_registered(self, e: DecodedEvent) -> None:
        a = e.args
        approach = hex_text(a["approachId"])
        self._a6_approaches.replace(
            (approach,),
            {
                "approach_id": approach,
                "name": sql_text(a["name"]),
                "registered_block": e.block_number,
                "tx_hash": e.tx_hash,
            },
        )
        self._replace_members(
            self._a6_approach_parties,
            "approach_id",
            approach,
            "party",
            (hex_text(p) for p in a["parties"]),
        )

    def _mechanism_accounts_set(self, e: DecodedEvent) -> None:
        a = e.args
        self._update_config(
            pending_account=a["pending"],
            holding_account=a["holding"],
            cancellation_account=a["cancellation"],
            omge_cancellation_account=a["omgeCancellation"],
            share_of_proceeds_account=a["shareOfProceeds"],
        )

    def _article6_labels_defined(self, e: DecodedEvent) -> None:
        a = e.args
        self._update_config(
            ndc_label=a["ndcLabel"],
            oimp_label=a["oimpLabel"],
            first_transferred_label=a["firstTransferredLabel"],
        )

    def _authorization_recorded(self, e: DecodedEvent) -> None:
        a = e.args
        self._a6_authorizations.insert(
            {
                "id": a["authorizationId"],
                "party": hex_text(a["party"]),
                "approach_id": hex_text(a["approachId"]),
                "letter_id": hex_text(a["letterId"]),
                "purposes": purposes_text(a["purposes"]),
                "first_transfer_definition": enum_text(
                    FirstTransferDefinition(a["firstTransferDefinition"])
                ),
                "authorized_at": a["authorizedAt"],
                "block_number": e.block_number,
                "tx_hash": e.tx_hash,
            }
        )

    def _article6_action_recorded(self, e: DecodedEvent) -> None:
        a = e.args
        self._a6_actions.insert(
            {
                "block_number": e.block_number,
                "log_index": e.log_index,
                "tx_hash": e.tx_hash,
                "operation_id": a["operationId"],
                "authorization_id": a["authorizationId"],
                "action": enum_text(Action(a["action"])),
                "start": a["start"],
                "end": a["end"],
                "account_id": a["accountId"],
                "party": hex_text(a["party"]),
                "counterparty": hex_text(a["counterparty"]),
            }
        )

    def _itmo_transfer_initiated(self, e: DecodedEvent) -> None:
        a = e.args
        self._a6_itmo_transfers.insert(
            {"transfer_id": a["transferId"], "authorization_id": a["authorizationId"]}
        )

    def _article64_issued(self, e: DecodedEvent) -> None:
        a = e.args
        self._a64_issuances.insert(
            {
                "issuance_id": a["issuanceId"],
                "cancellation_id": a["cancellationId"],
                "pending_account": a["pendingAccount"],
                "quantity": a["quantity"],
                "share_of_proceeds": a["shareOfProceeds"],
                "omge": a["omge"],
                "forwarded": a["forwarded"],
                "block_number": e.block_number,
                "tx_hash": e.tx_hash,
            }
        )

    def _article64_distributed(self, e: DecodedEvent) -> None:
        a = e.args
        self._a64_parts.insert(
            {
                "issuance_id": a["issuanceId"],
                "start": a["start"],
                "end": a["end"],
                "share": enum_text(Article64Share(a["share"])),
                "account_id": a["accountId"],
            }
        )


_CANCELLED = int(UnitState.CANCELLED)

_HANDLERS = {
    "RequestExecuted": MirrorWriter._request_executed,
    "BatchItemFailed": MirrorWriter._batch_item_failed,
    "AccountOpened": MirrorWriter._account_opened,
    "RepresentativeSet": MirrorWriter._representative_set,
    "AccountStatusChanged": MirrorWriter._account_status_changed,
    "ProjectRegistered": MirrorWriter._project_registered,
    "LabelDefined": MirrorWriter._label_defined,
    "UnitsIssued": MirrorWriter._units_issued,
    "BlockChanged": MirrorWriter._block_changed,
    "LabelChanged": MirrorWriter._label_changed,
    "TransferInitiated": MirrorWriter._transfer_initiated,
    "TransferCompleted": MirrorWriter._transfer_completed,
    "TransferExecuted": MirrorWriter._transfer_executed,
    "TransferRescinded": MirrorWriter._transfer_rescinded,
    "UnitsCancelled": MirrorWriter._units_cancelled,
    "PlatformRegistered": MirrorWriter._platform_registered,
    "PlatformSignerSet": MirrorWriter._platform_signer_set,
    "PlatformStatusChanged": MirrorWriter._platform_status_changed,
    "ConsentGranted": MirrorWriter._consent_granted,
    "ConsentRevoked": MirrorWriter._consent_revoked,
    "UnitsReserved": MirrorWriter._units_reserved,
    "ReservationReleased": MirrorWriter._reservation_released,
    "ReservationTransferred": MirrorWriter._reservation_transferred,
    "UnitsEscrowed": MirrorWriter._units_escrowed,
    "EscrowSettled": MirrorWriter._escrow_settled,
    "EscrowReleased": MirrorWriter._escrow_released,
    "UnitsAssociated": MirrorWriter._units_associated,
    "UnitsDissociated": MirrorWriter._units_dissociated,
    "AssociationRetired": MirrorWriter._association_retired,
    "PartyRegistered": MirrorWriter._party_registered,
    "CooperativeApproachRegistered": MirrorWriter._approach_registered,
    "MechanismAccountsSet": MirrorWriter._mechanism_accounts_set,
    "Article6LabelsDefined": MirrorWriter._article6_labels_defined,
    "AuthorizationRecorded": MirrorWriter._authorization_recorded,
    "Article6ActionRecorded": MirrorWriter._article6_action_recorded,
    "ItmoTransferInitiated": MirrorWriter._itmo_transfer_initiated,
    "Article64Issued": MirrorWriter._article64_issued,
    "Article64Distributed": MirrorWriter._article64_distributed,
}


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
