"""Read queries of the public registers, shared by the JSON registers and the HTML explorer.

Nothing here names a holder: the selects read projects, issuances, cancellations, unit blocks,
label definitions and events, never account numbers or holder names. Route modules build their
responses from these; they never import one another for a query.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Select,
    String,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    union_all,
)

from api.paging import Listing, SortKey
from api.problems import refuse
from indexer.models import (
    Article6Approach,
    Article6ApproachParty,
    Article6Party,
    BlockHash,
    Cancellation,
    Event,
    Issuance,
    Label,
    LabelChange,
    OperationRange,
    Project,
    Transfer,
    UnitBlock,
    table_of,
)

__all__ = [
    "CANCELLATION_LISTING",
    "CANCELLATION_ROWS",
    "ISSUANCE_LISTING",
    "LABEL_LISTING",
    "MAX_SERIAL",
    "PROJECT_LISTING",
    "CancellationFilters",
    "article6_public",
    "cancellation_ranges",
    "cancellations_query",
    "check_project_id",
    "contains_text",
    "merge_ranges",
    "parse_serial",
    "project_search",
    "project_state_totals",
    "summary",
    "tx_contents",
    "unit_block",
    "unit_history",
]

_PROJECTS = table_of(Project)
_ISSUANCES = table_of(Issuance)
_BLOCKS = table_of(UnitBlock)
_CANCELLATIONS = table_of(Cancellation)
_BLOCK_HASHES = table_of(BlockHash)
_EVENTS = table_of(Event)
_LABELS = table_of(Label)
_LABEL_CHANGES = table_of(LabelChange)
_RANGES = table_of(OperationRange)
_TRANSFERS = table_of(Transfer)
_A6_PARTIES = table_of(Article6Party)
_A6_APPROACHES = table_of(Article6Approach)
_A6_APPROACH_PARTIES = table_of(Article6ApproachParty)


_SERIAL = re.compile(r"[0-9]{1,19}")
MAX_SERIAL = 2**63 - 1  # the contract keeps serials below 2^63


def parse_serial(text: str) -> int:
    """Return a serial written in decimal, or raise 422 INVALID_SERIAL."""
    if not _SERIAL.fullmatch(text) or not 1 <= int(text) <= MAX_SERIAL:
        raise refuse("INVALID_SERIAL", f"{text!r} is not a serial: expected 1 to {MAX_SERIAL}.")
    return int(text)


def check_project_id(project_id: str) -> None:
    """Raise 422 INVALID_PROJECT_ID unless the text can be a project id (bytes32 on-chain)."""
    if len(project_id.encode()) > 32 or not project_id.isprintable():
        raise refuse(
            "INVALID_PROJECT_ID",
            f"{project_id!r} is not a project id: at most 32 bytes of printable text.",
        )


def contains_text(columns: Sequence[ColumnElement[Any]], text: str) -> ColumnElement[bool]:
    """Return a WHERE condition: one of the columns contains `text`, ignoring case.

    `%` and `_` in the text match themselves (LIKE escapes them). NOTE: SQLite's lower() folds
    ASCII letters only, PostgreSQL's every letter; registers are mostly ASCII identifiers.
    """
    needle = text.lower()
    return or_(*(func.lower(c).contains(needle, autoescape=True) for c in columns))


def project_search(text: str) -> ColumnElement[bool]:
    """Return a condition matching projects by id, name, methodology or country."""
    p = _PROJECTS.c
    return contains_text([p.id, p.name, p.methodology, p.country], text)


@dataclass(frozen=True)
class CancellationFilters:
    """The filters of the cancellations register; None means unfiltered."""

    beneficiary: str | None = None
    project_id: str | None = None
    unit_type: str | None = None
    vintage: int | None = None
    purpose: str | None = None
    since: int | None = None  # unix seconds, inclusive
    until: int | None = None  # unix seconds, exclusive
    q: str | None = None


def _cancellation_rows() -> Any:
    b, c, i, h = _BLOCKS.c, _CANCELLATIONS.c, _ISSUANCES.c, _BLOCK_HASHES.c
    return (
        select(
            c.id.label("cancellation_id"),
            b.issuance_id.label("issuance_id"),
            i.project_id.label("project_id"),
            i.unit_type.label("unit_type"),
            i.vintage.label("vintage"),
            c.purpose.label("purpose"),
            c.beneficiary.label("beneficiary"),
            c.reason.label("reason"),
            c.block_number.label("block_number"),
            c.tx_hash.label("tx_hash"),
            h.timestamp.label("timestamp"),
            # PostgreSQL sums BIGINT as NUMERIC; the cast keeps cursors and JSON integral.
            cast(func.sum(b.end - b.start + 1), BigInteger).label("quantity"),
        )
        .select_from(
            _CANCELLATIONS.join(_BLOCKS, (b.state == "cancelled") & (b.lock_id == c.id))
            .join(_ISSUANCES, i.id == b.issuance_id)
            .outerjoin(_BLOCK_HASHES, h.number == c.block_number)
        )
        .group_by(
            c.id,
            b.issuance_id,
            i.project_id,
            i.unit_type,
            i.vintage,
            c.purpose,
            c.beneficiary,
            c.reason,
            c.block_number,
            c.tx_hash,
            h.timestamp,
        )
        .subquery("cancellation_rows")
    )


# One subquery object, so sort keys built from its columns refer to the select they order.
CANCELLATION_ROWS = _cancellation_rows()


def cancellations_query(filters: CancellationFilters) -> Select[Any]:
    """Return the select of cancellation rows: one per cancellation and issuance it drew from.

    A cancellation may take units of several issuances (so of several projects, unit types and
    vintages); the mirror keeps its blocks in state `cancelled`, locked by its id, each block of
    one issuance. Grouping those blocks by issuance gives rows whose attributes are exact
    (decision D34). The grouped rows are a subquery, so every column, quantity included, can be
    filtered and sorted like a plain one.
    """
    grouped = CANCELLATION_ROWS
    r = grouped.c
    query = select(grouped)
    if filters.beneficiary is not None:
        query = query.where(contains_text([r.beneficiary], filters.beneficiary))
    for column, value in (
        (r.project_id, filters.project_id),
        (r.unit_type, filters.unit_type),
        (r.vintage, filters.vintage),
        (r.purpose, filters.purpose),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.since is not None:
        query = query.where(r.timestamp >= filters.since)
    if filters.until is not None:
        query = query.where(r.timestamp < filters.until)
    if filters.q is not None:
        query = query.where(
            contains_text([r.beneficiary, r.reason, r.project_id, r.tx_hash], filters.q)
        )
    return query


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Return serial ranges sorted, adjacent and overlapping ones joined."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def cancellation_ranges(
    conn: Connection, cancellation_ids: Iterable[int]
) -> dict[tuple[int, int], list[tuple[int, int]]]:
    """Return the serial ranges of cancellations, by (cancellation id, issuance id).

    Blocks are never merged by the contract (a later label change may cut a cancelled block),
    so adjacent blocks of one issuance are joined here into the ranges a reader expects.
    """
    wanted = sorted(set(cancellation_ids))
    if not wanted:
        return {}
    b = _BLOCKS.c
    rows = conn.execute(
        select(b.lock_id, b.issuance_id, b.start, b.end).where(
            b.state == "cancelled", b.lock_id.in_(wanted)
        )
    )
    pieces: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for lock_id, issuance_id, start, end in rows:
        pieces[(int(lock_id), int(issuance_id))].append((int(start), int(end)))
    return {key: merge_ranges(value) for key, value in pieces.items()}


# -- how the public lists sort and page -------------------------------------------------------

PROJECT_LISTING = Listing(
    sorts={
        "project_id": SortKey(_PROJECTS.c.id, str),
        "name": SortKey(_PROJECTS.c.name, str),
        "country": SortKey(_PROJECTS.c.country, str),
        "registered_block": SortKey(_PROJECTS.c.registered_block),
    },
    key=(SortKey(_PROJECTS.c.id, str),),
    default="project_id",
)


ISSUANCE_LISTING = Listing(
    sorts={
        "issuance_id": SortKey(_ISSUANCES.c.id),
        "vintage": SortKey(_ISSUANCES.c.vintage),
        "quantity": SortKey(_ISSUANCES.c.quantity),
        "block_number": SortKey(_ISSUANCES.c.block_number),
        "project_id": SortKey(_ISSUANCES.c.project_id, str),
        "start": SortKey(_ISSUANCES.c.start),
    },
    key=(SortKey(_ISSUANCES.c.id),),
    default="issuance_id",
)


LABEL_LISTING = Listing(
    sorts={
        "label_id": SortKey(_LABELS.c.id),
        "name": SortKey(_LABELS.c.name, str),
        "defined_block": SortKey(_LABELS.c.defined_block),
    },
    key=(SortKey(_LABELS.c.id),),
    default="label_id",
)


def _cancellation_listing() -> Listing:
    r = CANCELLATION_ROWS.c
    key = (SortKey(r.cancellation_id), SortKey(r.issuance_id))
    return Listing(
        sorts={
            "cancellation_id": key[0],
            "timestamp": SortKey(r.block_number),  # block order is time order
            "quantity": SortKey(r.quantity),
            "vintage": SortKey(r.vintage),
            "project_id": SortKey(r.project_id, str),
            "beneficiary": SortKey(r.beneficiary, str),
        },
        key=key,
        default="cancellation_id",
    )


CANCELLATION_LISTING = _cancellation_listing()


# -- explorer pages ----------------------------------------------------------------------------


def summary(conn: Connection) -> Any:
    """Return the registry's public totals in one statement: counts and units issued, cancelled."""
    i, b = _ISSUANCES.c, _BLOCKS.c

    def scalar(query: Select[Any], name: str) -> Any:
        return query.scalar_subquery().label(name)

    return conn.execute(
        select(
            scalar(select(func.count()).select_from(_PROJECTS), "projects"),
            scalar(select(func.count()).select_from(_ISSUANCES), "issuances"),
            scalar(select(func.coalesce(func.sum(i.quantity), 0)), "issued"),
            scalar(select(func.count()).select_from(_CANCELLATIONS), "cancellations"),
            scalar(
                select(func.coalesce(func.sum(b.end - b.start + 1), 0)).where(
                    b.state == "cancelled"
                ),
                "cancelled",
            ),
            scalar(select(func.count()).select_from(_LABELS), "labels"),
        )
    ).one()


def project_state_totals(conn: Connection, project_id: str) -> list[Any]:
    """Return a project's units by unit type, vintage and state (held, pending, cancelled ...)."""
    i, b = _ISSUANCES.c, _BLOCKS.c
    return list(
        conn.execute(
            select(
                i.unit_type,
                i.vintage,
                b.state,
                cast(func.sum(b.end - b.start + 1), BigInteger).label("quantity"),
            )
            .select_from(_BLOCKS.join(_ISSUANCES, i.id == b.issuance_id))
            .where(i.project_id == project_id)
            .group_by(i.unit_type, i.vintage, b.state)
            .order_by(i.unit_type, i.vintage, b.state)
        )
    )


def unit_history(conn: Connection, serial: int) -> list[Any]:
    """Return every public step of one serial in chain order, in one statement.

    Steps: its issuance, each transfer step that named it (initiated, then approved or
    rescinded), each label applied or removed, its cancellation. Holders never appear: a
    transfer is its id, status, block and transaction only.
    """
    i, t, o, lc, lb, c = (
        _ISSUANCES.c,
        _TRANSFERS.c,
        _RANGES.c,
        _LABEL_CHANGES.c,
        _LABELS.c,
        _CANCELLATIONS.c,
    )
    covers = (o.start <= serial) & (o.end >= serial)
    steps = union_all(
        select(
            literal("issued").label("kind"),
            i.block_number.label("block_number"),
            i.tx_hash.label("tx_hash"),
            i.id.label("ref"),
            i.project_id.label("detail"),
        ).where(i.start <= serial, i.end >= serial),
        select(
            literal("transfer initiated"),
            t.initiated_block,
            t.initiated_tx_hash,
            t.id,
            t.status,
        )
        .select_from(_RANGES.join(_TRANSFERS, t.id == o.operation_id))
        .where(covers),
        select(
            case((t.status == "rescinded", "transfer rescinded"), else_="transfer approved"),
            t.decided_block,
            t.decided_tx_hash,
            t.id,
            t.status,
        )
        .select_from(_RANGES.join(_TRANSFERS, t.id == o.operation_id))
        .where(covers, t.decided_block.is_not(None), t.decided_tx_hash != t.initiated_tx_hash),
        select(
            case((lc.applied, "labelled"), else_="label removed"),
            lc.block_number,
            lc.tx_hash,
            lc.label_id,
            func.coalesce(lb.name, ""),
        )
        .select_from(_LABEL_CHANGES.outerjoin(_LABELS, lb.id == lc.label_id))
        .where(lc.start <= serial, lc.end >= serial),
        select(
            literal("cancelled"),
            c.block_number,
            c.tx_hash,
            c.id,
            c.purpose,
        )
        .select_from(_RANGES.join(_CANCELLATIONS, c.id == o.operation_id))
        .where(covers),
    ).subquery("steps")
    return list(conn.execute(select(steps).order_by(steps.c.block_number, steps.c.ref)))


def tx_contents(conn: Connection, tx_hash: str) -> tuple[list[Any], list[Any]]:
    """Return a transaction's events (name, block, log index; never their arguments) and the
    public records it created: projects, issuances, cancellations and label definitions."""
    e = _EVENTS.c
    events = list(
        conn.execute(
            select(e.name, e.block_number, e.log_index)
            .where(e.tx_hash == tx_hash)
            .order_by(e.block_number, e.log_index)
        )
    )
    p, i, c, lb = _PROJECTS.c, _ISSUANCES.c, _CANCELLATIONS.c, _LABELS.c
    records = union_all(
        select(literal("project").label("kind"), p.id.label("ref")).where(p.tx_hash == tx_hash),
        select(literal("issuance"), cast(i.id, String)).where(i.tx_hash == tx_hash),
        select(literal("cancellation"), cast(c.id, String)).where(c.tx_hash == tx_hash),
        select(literal("label"), lb.name).where(lb.tx_hash == tx_hash),
    ).subquery("records")
    return events, list(conn.execute(select(records)))


def article6_public(conn: Connection) -> tuple[list[Any], list[Any]]:
    """Return the Parties (code, registry id, approaches) and cooperative approaches (with their
    Parties): what any signed-in caller reads in the API, never administrators' addresses."""
    pa, ap, ax = _A6_PARTIES.c, _A6_APPROACHES.c, _A6_APPROACH_PARTIES.c
    members = list(conn.execute(select(ax.approach_id, ax.party).order_by(ax.party)))
    parties = list(
        conn.execute(
            select(pa.party, pa.registry_id, pa.registered_block, pa.tx_hash).order_by(pa.party)
        )
    )
    approaches = list(
        conn.execute(
            select(ap.approach_id, ap.name, ap.registered_block, ap.tx_hash).order_by(
                ap.approach_id
            )
        )
    )
    by_party: dict[str, list[str]] = defaultdict(list)
    by_approach: dict[str, list[str]] = defaultdict(list)
    for approach_id, party in members:
        by_party[party].append(approach_id)
        by_approach[approach_id].append(party)
    return (
        [(r, sorted(by_party.get(r.party, []))) for r in parties],
        [(r, by_approach.get(r.approach_id, [])) for r in approaches],
    )


def unit_block(conn: Connection, serial: int) -> Any:
    """Return the block holding a serial with its issuance's attributes, or None.

    The block with the greatest start <= serial is one index seek; it holds the serial when its
    end reaches it.
    """
    b, i = _BLOCKS.c, _ISSUANCES.c
    row = conn.execute(
        select(
            b.start,
            b.end,
            b.state,
            b.lock_id,
            b.labels,
            b.issuance_id,
            i.project_id,
            i.unit_type,
            i.vintage,
        )
        .select_from(_BLOCKS.join(_ISSUANCES, i.id == b.issuance_id))
        .where(b.start <= serial)
        .order_by(b.start.desc())
        .limit(1)
    ).first()
    return row if row is not None and row.end >= serial else None
