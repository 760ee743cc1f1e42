"""Read queries of the public registers, shared by the JSON registers and the HTML explorer.

Nothing here names a holder: the selects read projects, issuances, cancellations, unit blocks,
label definitions and events, never account numbers or holder names. Route modules build their
responses from these; they never import one another for a query.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Connection, Select, cast, func, or_, select

from indexer.models import (
    BlockHash,
    Cancellation,
    Event,
    Issuance,
    Project,
    UnitBlock,
    table_of,
)

__all__ = [
    "CANCELLATION_ROWS",
    "CancellationFilters",
    "cancellation_ranges",
    "cancellations_query",
    "contains_text",
    "merge_ranges",
    "project_search",
]

_PROJECTS = table_of(Project)
_ISSUANCES = table_of(Issuance)
_BLOCKS = table_of(UnitBlock)
_CANCELLATIONS = table_of(Cancellation)
_BLOCK_HASHES = table_of(BlockHash)
_EVENTS = table_of(Event)


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
    (decision D30). The grouped rows are a subquery, so every column, quantity included, can be
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
