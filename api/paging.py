"""The read conventions of API.md: snapshots with `as_of_block`, `min_block`, keyset paging, CSV.

A list is one SQL statement: the route's filtered select, ordered by the requested sort field
and then by the rows' unique key, cut after the cursor's position with a row-value comparison
and limited to one row more than the page (which says whether there is a next page). The cursor
is the last row's sort value and key, so paging never skips or repeats a row while the mirror
grows, and costs the same on the last page as on the first (no OFFSET).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import csv
import io
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Generic, TypeVar

import anyio
from fastapi import Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from openpyxl import Workbook
from pydantic import BaseModel, BeforeValidator, WithJsonSchema
from sqlalchemy import ColumnElement, Connection, Engine, Row, Select, select, tuple_

from api.deps import ServicesDep
from api.problems import Problem, refuse
from api.services import Services
from indexer.models import BlockHash, Checkpoint, table_of
from node.errors import ChainError

__all__ = [
    "CSV_RESPONSES",
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MIN_BLOCK_HORIZON",
    "SHEET_RESPONSES",
    "XLSX",
    "Cursor",
    "Listing",
    "MinBlock",
    "MinBlockDep",
    "Page",
    "PageDep",
    "PageParams",
    "SheetPageDep",
    "Snapshot",
    "SnapshotDep",
    "SortKey",
    "block_times",
    "choice_filter",
    "csv_response",
    "csv_text",
    "fetch_page",
    "int_filter",
    "iso_time",
    "list_response",
    "open_snapshot",
    "page_json",
    "reject_unknown_parameters",
    "snapshot_after",
    "text_filter",
    "time_filter",
    "wait_for_block",
    "xlsx_response",
]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_INT64 = 2**63
_MAX_TEXT = 256  # longest text a filter or cursor value may carry
_INTEGER = re.compile(r"-?[0-9]{1,30}")
_FALLBACK_SECONDS = 0.25  # a min_block wait re-reads without a signal after this
_RETRY_AFTER_SECONDS = 1

_CHECKPOINT = table_of(Checkpoint)
_BLOCK_HASHES = table_of(BlockHash)

ItemT = TypeVar("ItemT", bound=BaseModel)


class Page(BaseModel, Generic[ItemT]):
    """One page of a list, and where the next one starts."""

    items: list[ItemT]
    next_cursor: str | None
    as_of_block: int


# -- read snapshots and min_block ------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """A read-only connection that sees the mirror as of one indexed block."""

    conn: Connection
    as_of_block: int

    @property
    def dialect(self) -> str:
        """Return the database's dialect name ("sqlite" or "postgresql")."""
        return self.conn.dialect.name


@contextmanager
def open_snapshot(engine: Engine) -> Iterator[Snapshot]:
    """Open a transaction in which every statement sees the same state, checkpoint included."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # NOTE: PostgreSQL's default READ COMMITTED gives each statement a new snapshot, so a
            # page could mix rows of two indexer batches and misreport as_of_block.
            conn = conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        conn.begin()
        if conn.dialect.name == "sqlite":
            _begin_sqlite_snapshot(conn)
        value = conn.execute(
            select(_CHECKPOINT.c.block_number).where(_CHECKPOINT.c.id == 1)
        ).scalar()
        try:
            yield Snapshot(conn, -1 if value is None else int(value))
        finally:
            conn.rollback()


class _LoopWaker:
    """A `node.notify.Waker` that wakes a coroutine: set from a listener thread, awaited."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()

    def set(self) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.event.set)


async def wait_for_block(services: Services, block: int) -> None:
    """Wait until the mirror has indexed `block`; raise a 503 problem at the configured bound.

    The wait wakes when the indexer publishes `mirror` (decision D41) and re-reads the
    checkpoint then; the short timed wait is only the fallback for a lost signal. It waits on
    the event loop, not in a worker thread, so many clients waiting for their writes do not
    starve the thread pool that serves every other read.
    """
    deadline = time.monotonic() + services.settings.wait_timeout_seconds
    indexed = await run_in_threadpool(services.indexed_block)
    if indexed >= block:
        return
    head = await run_in_threadpool(_chain_head, services)
    if head is not None and block > head + MIN_BLOCK_HORIZON:
        raise refuse(
            "MIN_BLOCK_BEYOND_HEAD",
            f"`min_block` {block} is far beyond the chain's head, block {head}; ask for the "
            "block your write was included in.",
            extra={"min_block": block, "chain_block": head},
        )
    waker = _LoopWaker()
    notifier = services.notifier
    if notifier.listening("mirror"):
        notifier.attach(waker, "mirror")
    else:  # the first wait of this process starts the listener, which may take a moment
        await run_in_threadpool(notifier.attach, waker, "mirror")
    try:
        while True:
            waker.event.clear()  # before the read: a signal after it wakes the wait below
            indexed = await run_in_threadpool(services.indexed_block)
            if indexed >= block:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _not_indexed(block, indexed)
            with anyio.move_on_after(min(remaining, _FALLBACK_SECONDS)):
                await waker.event.wait()
    finally:
        notifier.release(waker)


# How far past the chain's head `min_block` may reach and still be waited for: a client may ask
# for the next block or a few more, which a producing chain mints within the wait; a block this
# far ahead cannot be indexed within it, so waiting would only hold a worker.
MIN_BLOCK_HORIZON = 1_000


def _chain_head(services: Services) -> int | None:
    """Return the chain's head block, or None while the chain cannot be reached."""
    try:
        return services.client.block_number()
    except ChainError:  # the chain is down: wait for the mirror as usual
        return None


def _not_indexed(block: int, indexed: int) -> Problem:
    return refuse(
        "BLOCK_NOT_INDEXED",
        f"The mirror has indexed up to block {indexed}, not yet block {block}; retry shortly.",
        extra={"min_block": block, "indexed_block": indexed},
        headers={"Retry-After": str(_RETRY_AFTER_SECONDS)},
    )


def _parse_int(value: Any, code: str, name: str, low: int, high: int) -> int:
    """Return a query value as an int in [low, high], or raise a 422 problem with `code`."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _INTEGER.fullmatch(value):
        number = int(value)
    else:
        raise Problem(422, code, f"`{name}` must be an integer, got {value!r}.")
    if not low <= number <= high:
        raise Problem(422, code, f"`{name}` must be between {low} and {high}, got {number}.")
    return number


def _min_block(value: Any) -> int | None:
    if value is None:
        return None
    return _parse_int(value, "INVALID_MIN_BLOCK", "min_block", 0, _INT64 - 1)


# NOTE: these validators raise `Problem`, which pydantic does not catch (it only turns ValueError
# into validation errors), so a bad value reaches the client with its own code, e.g.
# INVALID_LIMIT, instead of the generic INVALID_REQUEST, and OpenAPI still shows an integer.
MinBlock = Annotated[
    int | None,
    BeforeValidator(_min_block),
    Query(
        description="Wait (bounded) until the mirror has indexed this block; 503 if it does not."
    ),
]


async def _min_block_reached(services: ServicesDep, min_block: MinBlock = None) -> int | None:
    """Return the request's `min_block` once the mirror has indexed it."""
    if min_block is not None:
        await wait_for_block(services, min_block)
    return min_block


MinBlockDep = Annotated[int | None, Depends(_min_block_reached)]


@contextmanager
def snapshot_after(services: Services, min_block: int | None) -> Iterator[Snapshot]:
    """Open a read snapshot of a request whose `min_block` (if any) was waited for."""
    with open_snapshot(services.engine) as snapshot:
        if min_block is not None and snapshot.as_of_block < min_block:
            # The mirror went back (a reorg) between the wait and the snapshot.
            raise _not_indexed(min_block, snapshot.as_of_block)
        yield snapshot


def get_snapshot(services: ServicesDep, min_block: MinBlockDep) -> Iterator[Snapshot]:
    """Yield a read snapshot, after waiting for `min_block` if the request names one."""
    with snapshot_after(services, min_block) as snapshot:
        yield snapshot


SnapshotDep = Annotated[Snapshot, Depends(get_snapshot)]


def _label_bit(labels: str | None, bit: int) -> int:
    return 0 if labels is None else (int(labels) >> bit) & 1


def _begin_sqlite_snapshot(conn: Connection) -> None:
    raw: Any = conn.connection.driver_connection
    # pysqlite only opens a transaction before a write; an explicit BEGIN makes the reads that
    # follow one WAL snapshot, taken at the first of them.
    if not raw.in_transaction:
        conn.exec_driver_sql("BEGIN")
    # NOTE: label bitmaps are 256-bit decimal text on SQLite (see indexer.models.Uint256), beyond
    # its integer arithmetic; this function tests one bit exactly, inside the WHERE clause.
    raw.create_function("registry_label_bit", 2, _label_bit, deterministic=True)


# -- paging parameters -----------------------------------------------------------------------


def _limit(value: Any) -> int:
    return _parse_int(value, "INVALID_LIMIT", "limit", 1, MAX_LIMIT)


def _format(value: Any) -> str:
    if value not in ("json", "csv"):
        raise refuse("INVALID_FORMAT", f"`format` must be json or csv, got {value!r}.")
    return str(value)


def _sheet_format(value: Any) -> str:
    if value not in ("json", "csv", "xlsx"):
        raise refuse("INVALID_FORMAT", f"`format` must be json, csv or xlsx, got {value!r}.")
    return str(value)


Limit = Annotated[
    int,
    BeforeValidator(_limit),
    Query(description=f"Items per page, 1 to {MAX_LIMIT}."),
]
Cursor = Annotated[
    str | None,
    Query(description="`next_cursor` of the previous page; repeat the same filters with it."),
]
Sort = Annotated[
    str | None,
    Query(description="A sortable field of the list, ascending; prefix `-` for descending."),
]
Format = Annotated[
    str,
    BeforeValidator(_format),
    WithJsonSchema({"type": "string", "enum": ["json", "csv"]}),
    Query(alias="format", description="`csv` answers text/csv with a header row."),
]


@dataclass(frozen=True)
class PageParams:
    """The paging, sorting and format parameters of one list request."""

    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    sort: str | None = None
    format: str = "json"


def _query_names(dependant: Dependant) -> set[str]:
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def reject_unknown_parameters(request: Request) -> None:
    """Refuse query parameters the list does not know: a mistyped filter must not match all."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = _query_names(dependant)  # a walk over a handful of dependants: cheaper than a cache
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise refuse(
            "INVALID_FILTER",
            f"This list has no parameter {unknown[0]!r}; it takes: {', '.join(sorted(known))}.",
        )


async def get_page_params(
    request: Request,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    sort: Sort = None,
    output: Format = "json",
) -> PageParams:
    """Return the list parameters of a request, refusing unknown ones."""
    reject_unknown_parameters(request)
    return PageParams(limit=limit, cursor=cursor, sort=sort, format=output)


PageDep = Annotated[PageParams, Depends(get_page_params)]

SheetFormat = Annotated[
    str,
    BeforeValidator(_sheet_format),
    WithJsonSchema({"type": "string", "enum": ["json", "csv", "xlsx"]}),
    Query(alias="format", description="`csv` or `xlsx` answer one header row, then the items."),
]


async def get_sheet_page_params(
    request: Request,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    sort: Sort = None,
    output: SheetFormat = "json",
) -> PageParams:
    """Return the parameters of a list that also answers as an XLSX sheet."""
    reject_unknown_parameters(request)
    return PageParams(limit=limit, cursor=cursor, sort=sort, format=output)


SheetPageDep = Annotated[PageParams, Depends(get_sheet_page_params)]


# -- filters ---------------------------------------------------------------------------------


def _filter_problem(name: str, detail: str) -> Problem:
    return refuse("INVALID_FILTER", f"Filter `{name}`: {detail}.")


def int_filter(name: str, low: int = -_INT64, high: int = _INT64 - 1) -> Callable[[Any], Any]:
    """Return a validator of an integer filter, refusing bad values with INVALID_FILTER."""

    def parse(value: Any) -> int | None:
        if value is None:
            return None
        try:
            return _parse_int(value, "INVALID_FILTER", name, low, high)
        except Problem as exc:
            raise _filter_problem(name, exc.detail.rstrip(".")) from None

    return parse


def text_filter(name: str) -> Callable[[Any], Any]:
    """Return a validator of a text filter (bounded length, no NUL, which no stored text has)."""

    def parse(value: Any) -> str | None:
        if value is None:
            return None
        text = str(value)
        if not text or len(text) > _MAX_TEXT or "\x00" in text:
            raise _filter_problem(name, f"expected 1 to {_MAX_TEXT} characters without NUL")
        return text

    return parse


def choice_filter(name: str, choices: Sequence[str]) -> Callable[[Any], Any]:
    """Return a validator of a filter with a fixed set of values."""

    def parse(value: Any) -> str | None:
        if value is None:
            return None
        if value not in choices:
            raise _filter_problem(name, f"{value!r} is not one of {', '.join(choices)}")
        return str(value)

    return parse


def time_filter(name: str) -> Callable[[Any], Any]:
    """Return a validator of an ISO 8601 date or date-time filter, as unix seconds (UTC)."""

    def parse(value: Any) -> int | None:
        if value is None:
            return None
        text = str(value)
        try:
            if len(text) == 10:
                moment = datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
            else:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=UTC)
            return int(moment.timestamp())
        except (ValueError, OverflowError):
            raise _filter_problem(
                name, f"expected an ISO 8601 date or date-time, got {text!r}"
            ) from None

    return parse


# -- sorting and keyset paging ---------------------------------------------------------------


@dataclass(frozen=True)
class SortKey:
    """A column or expression a list orders by, and the Python type of its values."""

    expr: ColumnElement[Any]
    kind: type[int] | type[str] = int


@dataclass(frozen=True)
class _Order:
    sort: str  # as the client writes it: "vintage" or "-vintage"
    keys: tuple[SortKey, ...]  # the sort field, then the unique key's columns
    descending: bool


@dataclass(frozen=True)
class Listing:
    """How one list sorts and pages: its sortable fields and the unique key that breaks ties."""

    sorts: Mapping[str, SortKey]
    key: tuple[SortKey, ...]
    default: str

    def _order(self, sort: str) -> _Order:
        name = sort.removeprefix("-")
        field = self.sorts.get(name)
        if field is None:
            raise refuse(
                "INVALID_SORT",
                f"This list cannot sort by {name!r}; it sorts by: {', '.join(sorted(self.sorts))} "
                "(prefix - for descending).",
            )
        keys = (field, *(k for k in self.key if k.expr is not field.expr))
        return _Order(sort, keys, sort.startswith("-"))

    def resolve(
        self, sort: str | None, cursor: str | None
    ) -> tuple[_Order, tuple[Any, ...] | None]:
        """Return the order to use and the position after which the page starts."""
        if cursor is None:
            return self._order(sort or self.default), None
        sorted_by, values = _decode_cursor(cursor)
        if sort is not None and sort != sorted_by:
            raise refuse(
                "INVALID_CURSOR",
                f"The cursor continues sort={sorted_by}, not sort={sort}; drop the cursor to "
                "start over with another order.",
            )
        try:
            order = self._order(sorted_by)
        except Problem:
            raise _bad_cursor("it names a sort this list does not have") from None
        if len(values) != len(order.keys) or not all(
            _fits(v, k.kind) for v, k in zip(values, order.keys, strict=False)
        ):
            raise _bad_cursor("its position does not match this list")
        return order, tuple(values)


def _fits(value: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool) and -_INT64 <= value < _INT64
    return isinstance(value, str) and len(value) <= _MAX_TEXT and "\x00" not in value


def _bad_cursor(why: str) -> Problem:
    return refuse(
        "INVALID_CURSOR",
        f"The cursor is not one this list issued ({why}); use `next_cursor` as given.",
    )


def _encode_cursor(sort: str, values: Sequence[Any]) -> str:
    raw = json.dumps({"s": sort, "k": list(values)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, list[Any]]:
    if len(cursor) > 4 * _MAX_TEXT:
        raise _bad_cursor("it is too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        document = json.loads(raw)
    except (binascii.Error, ValueError):
        raise _bad_cursor("it cannot be decoded") from None
    if (
        not isinstance(document, dict)
        or not isinstance(document.get("s"), str)
        or not isinstance(document.get("k"), list)
    ):
        raise _bad_cursor("it has the wrong shape")
    return document["s"], document["k"]


def fetch_page(
    snapshot: Snapshot,
    listing: Listing,
    params: PageParams,
    query: Select[Any],
    *,
    feed: bool = False,
) -> tuple[list[Row[Any]], str | None]:
    """Run a list's select for one page; return its rows and the next page's cursor.

    A list's last page has no next cursor. A `feed` always has one, even on an empty page, so a
    consumer can poll from where it stopped for what comes next.
    """
    order, after = listing.resolve(params.sort, params.cursor)
    exprs = [k.expr for k in order.keys]
    labelled = [e.label(f"_page_{i}") for i, e in enumerate(exprs)]
    statement = query.add_columns(*labelled)
    if after is not None:
        position = tuple_(*exprs) if len(exprs) > 1 else exprs[0]
        values = tuple_(*after) if len(after) > 1 else after[0]
        statement = statement.where(position < values if order.descending else position > values)
    statement = statement.order_by(*(e.desc() if order.descending else e.asc() for e in exprs))
    rows = list(snapshot.conn.execute(statement.limit(params.limit + 1)).all())
    if len(rows) <= params.limit and not (feed and rows):
        return rows, params.cursor if feed else None
    rows = rows[: params.limit]
    last = rows[-1]._mapping
    return rows, _encode_cursor(order.sort, [last[f"_page_{i}"] for i in range(len(exprs))])


def list_response(
    item_model: type[ItemT],
    items: list[ItemT],
    next_cursor: str | None,
    snapshot: Snapshot,
    params: PageParams,
) -> Page[ItemT] | Response:
    """Return a page as JSON, or as CSV when the request asked for `format=csv`."""
    if params.format == "csv":
        return csv_response(item_model, items, next_cursor, snapshot.as_of_block)
    if params.format == "xlsx":
        return xlsx_response(item_model, items, next_cursor, snapshot.as_of_block)
    return Page[item_model](  # type: ignore[valid-type]
        items=items, next_cursor=next_cursor, as_of_block=snapshot.as_of_block
    )


def page_json(items: list[dict[str, Any]], next_cursor: str | None, as_of_block: int) -> Response:
    """Return a JSON page built from plain items, serialised once.

    NOTE: a route that builds its items as dicts of JSON values (the hot lists) returns this
    instead of a `Page` model: FastAPI would validate every item against the response model
    again (in one more thread hop) before serialising it. The route's `response_model` still
    documents the shape; the route's tests check every field of its items.
    """
    body = {"items": items, "next_cursor": next_cursor, "as_of_block": as_of_block}
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
        media_type="application/json",
    )


# A cell starting with one of these is read as a formula by spreadsheet programs.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: str) -> str:
    """Return text safe to open in a spreadsheet: a leading formula character is quoted with `'`.

    Holder names, beneficiaries and reasons are written by users; without this a cell such as
    `=HYPERLINK(...)` would run in the auditor's spreadsheet (OWASP "CSV injection").
    """
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, str):
        return csv_text(value)
    return value


def csv_response(
    item_model: type[BaseModel], items: Sequence[BaseModel], next_cursor: str | None, block: int
) -> Response:
    """Return items as text/csv: a header row of the item's fields, then one row per item.

    Paging travels in headers: `X-As-Of-Block`, and `X-Next-Cursor` while there are more pages.
    """
    columns = list(item_model.model_fields)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for item in items:
        row = item.model_dump(mode="json")
        writer.writerow([_csv_cell(row[c]) for c in columns])
    headers = {"X-As-Of-Block": str(block)}
    if next_cursor is not None:
        headers["X-Next-Cursor"] = next_cursor
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


CSV_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
}

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_response(
    item_model: type[BaseModel], items: Sequence[BaseModel], next_cursor: str | None, block: int
) -> Response:
    """Return items as a one-sheet XLSX workbook, with the same cells and headers as CSV.

    Cells go through the CSV quoting, so user text starting with a formula character stays text.
    """
    columns = list(item_model.model_fields)
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "items"
    sheet.append(columns)
    for item in items:
        row = item.model_dump(mode="json")
        sheet.append([_csv_cell(row[c]) for c in columns])
    buffer = io.BytesIO()
    workbook.save(buffer)
    headers = {"X-As-Of-Block": str(block)}
    if next_cursor is not None:
        headers["X-Next-Cursor"] = next_cursor
    return Response(buffer.getvalue(), media_type=XLSX, headers=headers)


SHEET_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}, XLSX: {}}},
}


# -- shared formatting -----------------------------------------------------------------------


def iso_time(timestamp: int | None) -> str | None:
    """Return unix seconds as an RFC 3339 UTC string (None stays None)."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def block_times(snapshot: Snapshot, blocks: Sequence[int]) -> dict[int, int]:
    """Return the timestamps of indexed blocks, by number."""
    wanted = sorted(set(blocks))
    if not wanted:
        return {}
    rows = snapshot.conn.execute(
        select(_BLOCK_HASHES.c.number, _BLOCK_HASHES.c.timestamp).where(
            _BLOCK_HASHES.c.number.in_(wanted)
        )
    )
    return {int(r.number): int(r.timestamp) for r in rows}
