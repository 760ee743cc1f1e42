"""The transactional outbox: indexed events in, one delivery row per (subscription, event) out.

`fill_outbox` reads the mirror's events past the outbox cursor, routes them, and in ONE
transaction inserts the delivery rows and advances the cursor (decision D22). A crash before the
commit leaves neither; after it, both. The transaction starts by writing the cursor row, which
takes PostgreSQL's row lock (SQLite's database write lock), so two processes filling the same
outbox take turns, and a subscription created meanwhile (it takes the same lock) is routed either
every event after its `after_event_id` or none of them: never a part.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from api.auth import iso
from api.events import EventShape
from api.models import DeliveryStatus, WebhookCursor, WebhookDelivery, WebhookSubscription
from api.webhooks.routing import IndexedEvent, platforms_concerned
from api.webhooks.signing import webhook_id
from indexer.models import BlockHash, Event, table_of

__all__ = ["fill_outbox", "lock_cursor", "newest_event_id", "payload"]

_CURSOR = table_of(WebhookCursor)
_DELIVERIES = table_of(WebhookDelivery)
_SUBSCRIPTIONS = table_of(WebhookSubscription)
_EVENTS = table_of(Event)
_BLOCK_HASHES = table_of(BlockHash)


def lock_cursor(conn: Connection) -> int:
    """Take the outbox lock for the rest of the transaction; return the cursor's event id.

    NOTE: a no-op UPDATE is the one portable "lock this row": it takes PostgreSQL's row lock and
    SQLite's write lock, and on SQLite starting with a write also makes the transaction's reads
    see the newest commit (a read first, then a write, could fail on a stale WAL snapshot).
    """
    conn.execute(update(_CURSOR).where(_CURSOR.c.id == 1).values(event_id=_CURSOR.c.event_id))
    return int(conn.execute(select(_CURSOR.c.event_id).where(_CURSOR.c.id == 1)).scalar_one())


def newest_event_id(conn: Connection) -> int:
    """Return the id of the newest indexed event (0 before the first)."""
    return int(conn.execute(select(func.coalesce(func.max(_EVENTS.c.id), 0))).scalar_one())


def payload(event: IndexedEvent, shape: EventShape) -> str:
    """Return the JSON body delivered for an event (Standard Webhooks: type, timestamp, data).

    `data` has the public shape of `/v1/events` (api.events), plus where the event is on-chain.
    """
    document = {
        "type": event.name,
        "timestamp": iso(event.timestamp if event.timestamp is not None else 0),
        "data": {
            **shape.data(event.name, event.data),
            "event_id": event.id,
            "block_number": event.block_number,
            "log_index": event.log_index,
            "tx_hash": event.tx_hash,
            "block_hash": event.block_hash,
        },
    }
    return json.dumps(document, separators=(",", ":"))


def _events_between(conn: Connection, cursor: int, last: int, limit: int) -> list[IndexedEvent]:
    e = _EVENTS.c
    rows = conn.execute(
        select(
            e.id,
            e.name,
            e.block_number,
            e.log_index,
            e.tx_hash,
            e.block_hash,
            e.data,
            _BLOCK_HASHES.c.timestamp,
        )
        .select_from(_EVENTS.outerjoin(_BLOCK_HASHES, _BLOCK_HASHES.c.number == e.block_number))
        .where(e.id > cursor, e.id <= last)
        .order_by(e.id)
        .limit(limit)
    )
    return [
        IndexedEvent(
            id=int(r.id),
            name=str(r.name),
            block_number=int(r.block_number),
            log_index=int(r.log_index),
            tx_hash=str(r.tx_hash),
            block_hash=str(r.block_hash),
            data=dict(r.data),
            timestamp=None if r.timestamp is None else int(r.timestamp),
        )
        for r in rows
    ]


def _deliveries(
    conn: Connection,
    events: Sequence[IndexedEvent],
    subscriptions: Sequence[Any],
    now: float,
    shape: EventShape,
) -> list[dict[str, Any]]:
    by_platform: dict[str, list[Any]] = {}
    for sub in subscriptions:
        by_platform.setdefault(sub.platform, []).append(sub)
    concerned = platforms_concerned(conn, events)
    rows = []
    for event in events:
        body: str | None = None
        for platform in sorted(concerned.get(event.id, ())):
            for sub in by_platform.get(platform, ()):
                if event.id <= sub.after_event_id:
                    continue
                if sub.event_types is not None and event.name not in sub.event_types:
                    continue
                body = body or payload(event, shape)
                rows.append(
                    {
                        "webhook_id": webhook_id(sub.id, event.id),
                        "subscription_id": sub.id,
                        "platform": platform,
                        "event_id": event.id,
                        "event_type": event.name,
                        "block_number": event.block_number,
                        "payload": body,
                        "status": DeliveryStatus.PENDING,
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                )
    return rows


def fill_outbox(engine: Engine, shape: EventShape, batch: int = 500) -> tuple[int, int]:
    """Route the next indexed events into the outbox; return (events consumed, rows added).

    Call it until it consumes nothing to catch up.
    """
    now = time.time()
    with engine.connect() as conn:
        # Most rounds find nothing new: answer them without taking the write lock.
        idle = conn.execute(select(_CURSOR.c.event_id).where(_CURSOR.c.id == 1)).scalar_one()
        if newest_event_id(conn) <= idle:
            return 0, 0
    with engine.begin() as conn:
        cursor = lock_cursor(conn)
        # NOTE: everything below stops at this one reading of the newest event. On PostgreSQL
        # each statement sees the newest commits, so the indexer may add events meanwhile; they
        # wait for the next round, which routes them to the subscriptions live by then.
        newest = newest_event_id(conn)
        if newest <= cursor:
            return 0, 0
        subscriptions = conn.execute(
            select(
                _SUBSCRIPTIONS.c.id,
                _SUBSCRIPTIONS.c.platform,
                _SUBSCRIPTIONS.c.event_types,
                _SUBSCRIPTIONS.c.after_event_id,
            ).where(
                _SUBSCRIPTIONS.c.deleted_at.is_(None),
                _SUBSCRIPTIONS.c.after_event_id < newest,
            )
        ).all()
        if not subscriptions:
            # Nothing could be routed anywhere: skip to the newest event without reading any.
            conn.execute(update(_CURSOR).where(_CURSOR.c.id == 1).values(event_id=newest))
            return newest - cursor, 0
        events = _events_between(conn, cursor, newest, batch)
        if not events:
            return 0, 0
        rows = _deliveries(conn, events, subscriptions, now, shape)
        if rows:
            conn.execute(insert(_DELIVERIES), rows)
        conn.execute(update(_CURSOR).where(_CURSOR.c.id == 1).values(event_id=events[-1].id))
    return len(events), len(rows)
