"""An account's transaction history: one indexed table the reducer keeps, read as it is stored.

`account_transactions` holds one row per transfer, issuance, cancellation, reservation, escrow
and association, with the accounts on either side and who signed it; the serial ranges of every
type but issuances are in `operation_ranges`. Nothing here reads raw events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Select, or_, select

from api.paging import Listing, SortKey
from api.schemas import SerialRange
from indexer.models import AccountTransaction, BlockHash, OperationRange, table_of

__all__ = [
    "TRANSACTION_LISTING",
    "TRANSACTION_STATUSES",
    "TRANSACTION_TYPES",
    "operation_ranges",
    "transactions_query",
]

_TRANSACTIONS = table_of(AccountTransaction)
_RANGES = table_of(OperationRange)
_BLOCK_HASHES = table_of(BlockHash)

TRANSACTION_TYPES = (
    "issuance",
    "transfer",
    "cancellation",
    "reservation",
    "escrow",
    "association",
)
TRANSACTION_STATUSES = (
    "pending",
    "completed",
    "rescinded",
    "active",
    "released",
    "transferred",
    "settled",
    "dissociated",
    "retired",
)

_T = _TRANSACTIONS.c
TRANSACTION_LISTING = Listing(
    sorts={
        "block_number": SortKey(_T.block_number),
        "timestamp": SortKey(_T.block_number),
        "quantity": SortKey(_T.quantity),
    },
    key=(SortKey(_T.block_number), SortKey(_T.type, str), SortKey(_T.operation_id)),
    default="block_number",
)


def transactions_query(
    number: int, kind: str | None, status: str | None, since: int | None
) -> Select[Any]:
    """Return the select of an account's transactions with their block's timestamp."""
    query = (
        select(_TRANSACTIONS, _BLOCK_HASHES.c.timestamp)
        .select_from(
            _TRANSACTIONS.outerjoin(_BLOCK_HASHES, _BLOCK_HASHES.c.number == _T.block_number)
        )
        .where(or_(_T.from_account == number, _T.to_account == number))
    )
    if kind is not None:
        query = query.where(_T.type == kind)
    if status is not None:
        query = query.where(_T.status == status)
    if since is not None:
        query = query.where(_BLOCK_HASHES.c.timestamp >= since)
    return query


def operation_ranges(conn: Connection, rows: Sequence[Any]) -> dict[int, list[SerialRange]]:
    """Return the serial ranges of a page's operations (issuances carry their own)."""
    ids = sorted({int(r.operation_id) for r in rows if r.type != "issuance"})
    ranges: dict[int, list[SerialRange]] = defaultdict(list)
    if ids:
        for r in conn.execute(
            select(_RANGES).where(_RANGES.c.operation_id.in_(ids)).order_by(_RANGES.c.start)
        ):
            ranges[int(r.operation_id)].append(SerialRange(start=r.start, end=r.end))
    return ranges
