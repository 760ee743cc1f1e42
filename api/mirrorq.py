"""Queries of the SQL mirror that the write path needs: block hints, executions, request events."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, select

from indexer.models import Event, ExecutedRequest, Transfer, UnitBlock, table_of
from node.contracts import PendingTransfer

__all__ = [
    "containing_block",
    "executed_requests",
    "lock_blocks",
    "pending_transfer",
    "range_hints",
    "request_events",
]

_BLOCKS = table_of(UnitBlock)
_EXECUTED = table_of(ExecutedRequest)
_EVENTS = table_of(Event)
_TRANSFERS = table_of(Transfer)


def containing_block(conn: Connection, serial: int) -> Any:
    """Return the mirror block that starts at or before a serial, the one that may hold it."""
    return conn.execute(
        select(_BLOCKS).where(_BLOCKS.c.start <= serial).order_by(_BLOCKS.c.start.desc()).limit(1)
    ).first()


def range_hints(conn: Connection, ranges: Iterable[tuple[int, int]]) -> list[int]:
    """Return, per range, the start of the mirror block holding its first serial (0 if none)."""
    hints = []
    for start, _end in ranges:
        block = containing_block(conn, start)
        hints.append(int(block.start) if block is not None else 0)
    return hints


def lock_blocks(conn: Connection, state: str, lock_id: int) -> list[tuple[int, int]]:
    """Return the (start, end) of the blocks a lock holds in a state, in serial order."""
    rows = conn.execute(
        select(_BLOCKS.c.start, _BLOCKS.c.end)
        .where(_BLOCKS.c.state == state, _BLOCKS.c.lock_id == lock_id)
        .order_by(_BLOCKS.c.start)
    )
    return [(int(start), int(end)) for start, end in rows]


def pending_transfer(conn: Connection, transfer_id: int) -> PendingTransfer | None:
    """Return the record of a transfer the mirror shows pending, as the contract hashed it (D46)."""
    row = conn.execute(
        select(
            _TRANSFERS.c.from_account,
            _TRANSFERS.c.to_account,
            _TRANSFERS.c.quantity,
            _TRANSFERS.c.initiator,
        ).where(_TRANSFERS.c.id == transfer_id, _TRANSFERS.c.status == "pending")
    ).first()
    if row is None:
        return None
    return PendingTransfer(
        int(row.from_account), int(row.to_account), int(row.quantity), str(row.initiator)
    )


def executed_requests(conn: Connection, digests: list[str]) -> dict[str, Any]:
    """Return the mirror's execution rows (block, log index, tx) of the given request digests."""
    if not digests:
        return {}
    rows = conn.execute(select(_EXECUTED).where(_EXECUTED.c.digest.in_(digests)))
    return {row.digest: row for row in rows}


def request_events(
    conn: Connection, tx_hash: str, log_index: int
) -> list[tuple[str, dict[str, Any]]]:
    """Return the events one request emitted: from its RequestExecuted to the next request's."""
    rows = conn.execute(
        select(_EVENTS.c.name, _EVENTS.c.data)
        .where(_EVENTS.c.tx_hash == tx_hash, _EVENTS.c.log_index >= log_index)
        .order_by(_EVENTS.c.log_index)
    )
    events: list[tuple[str, dict[str, Any]]] = []
    for name, data in rows:
        if events and name in ("RequestExecuted", "BatchItemFailed"):
            break
        events.append((str(name), dict(data)))
    return events
