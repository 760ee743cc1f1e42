"""Which platforms an indexed registry event concerns.

An event concerns a platform when it:
- names it (`platform` among its arguments: its registration, signers and status, consents to
  it, reservations and escrows for it);
- refers by id to a reservation, escrow or consent of it (`ConsentRevoked`,
  `ReservationTransferred`, `EscrowSettled`, `EscrowReleased` carry only the id);
- releases a reservation on an account whose free holdings the platform may view: an active
  `holdings` consent at the event (decision D23). With the reservation's own platform, which
  the event names, this is API.md's "a reservation released while a platform holds consent over
  it": the platform that could see the reserved units, and every platform that sees them come
  back into the free holdings.

A platform suspended at the event is told nothing but its own status changes: a suspended
platform reads nothing either.

Immutable facts (which platform a reservation, escrow or consent is for, a consent's account and
scope) come from the mirror's tables, whatever their later state. What held *at the event* (a
consent active, a platform suspended) is decided by chain order: the mirror's grant and
revocation blocks, and within one block the log indexes of the events themselves.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils.address import is_address, to_checksum_address
from sqlalchemy import Connection, Table, and_, or_, select

from indexer.models import Consent, Escrow, Event, Reservation, table_of
from node.contracts import PlatformStatus

__all__ = ["CONSENT_COVERS", "IndexedEvent", "platforms_concerned"]

_EVENTS = table_of(Event)
_CONSENTS = table_of(Consent)

# Event argument -> the mirror table whose row, by that id, names a platform.
_REFERENCES: dict[str, Table] = {
    "reservationId": table_of(Reservation),
    "escrowId": table_of(Escrow),
    "consentId": _CONSENTS,
}

# Events a consent makes a platform's business, and the scopes that cover each. A `reserved`
# or `escrowed` consent shows a platform only the units reserved or escrowed for itself.
CONSENT_COVERS: dict[str, tuple[str, ...]] = {
    "ReservationReleased": ("holdings",),
}

_GRANTED = "ConsentGranted"
_REVOKED = "ConsentRevoked"
_STATUS_CHANGED = "PlatformStatusChanged"


@dataclass(frozen=True)
class IndexedEvent:
    """A row of the mirror's `events` table, with its block's time."""

    id: int
    name: str
    block_number: int
    log_index: int
    tx_hash: str
    block_hash: str
    data: Mapping[str, Any]
    timestamp: int | None


def _address(value: Any) -> str | None:
    if isinstance(value, str) and is_address(value):
        return str(to_checksum_address(value))
    return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def platforms_concerned(conn: Connection, events: Sequence[IndexedEvent]) -> dict[int, set[str]]:
    """Return, by event id, the (checksummed) platforms each event concerns."""
    concerned: dict[int, set[str]] = defaultdict(set)
    wanted: dict[str, set[int]] = defaultdict(set)
    for event in events:
        named = _address(event.data.get("platform"))
        if named is not None:
            concerned[event.id].add(named)
        for argument in _REFERENCES:
            reference = _int(event.data.get(argument))
            if reference is not None:
                wanted[argument].add(reference)
    owners = {
        argument: _platforms_by_id(conn, _REFERENCES[argument], ids)
        for argument, ids in wanted.items()
    }
    for event in events:
        for argument, by_id in owners.items():
            reference = _int(event.data.get(argument))
            if reference is not None and reference in by_id:
                concerned[event.id].add(by_id[reference])
    for event in events:
        if event.name in CONSENT_COVERS:
            concerned[event.id] |= _consenting_platforms(conn, event)
    _drop_suspended(conn, events, concerned)
    return concerned


def _drop_suspended(
    conn: Connection, events: Sequence[IndexedEvent], concerned: dict[int, set[str]]
) -> None:
    """Remove, from each event's platforms, those suspended at that event."""
    platforms = set().union(*concerned.values()) if concerned else set()
    if not platforms:
        return
    e = _EVENTS.c
    # Status changes are rare (an administrator's act): all of them, in chain order.
    changes: dict[str, list[tuple[int, int]]] = defaultdict(list)
    rows = conn.execute(
        select(e.id, e.data)
        .where(e.name == _STATUS_CHANGED, e.id < max(ev.id for ev in events))
        .order_by(e.id)
    )
    for row in rows:
        data = dict(row.data)
        platform = _address(data.get("platform"))
        status = _int(data.get("status"))
        if platform in platforms and status is not None:
            changes[platform].append((int(row.id), status))
    if not changes:
        return
    for event in events:
        if event.name == _STATUS_CHANGED:
            continue  # a platform is always told of its own suspension and reactivation
        for platform in list(concerned.get(event.id, ())):
            history = changes.get(platform, [])
            position = bisect.bisect_left(history, (event.id, -1))
            if position and history[position - 1][1] == PlatformStatus.SUSPENDED:
                concerned[event.id].discard(platform)


def _platforms_by_id(conn: Connection, table: Table, ids: Iterable[int]) -> dict[int, str]:
    rows = conn.execute(select(table.c.id, table.c.platform).where(table.c.id.in_(sorted(ids))))
    return {int(r.id): str(r.platform) for r in rows}


def _consenting_platforms(conn: Connection, event: IndexedEvent) -> set[str]:
    """Return the platforms with an active consent covering `event` on its account, at it."""
    account = _int(event.data.get("accountId"))
    if account is None:
        return set()
    c = _CONSENTS.c
    block = event.block_number
    candidates = conn.execute(
        select(c.id, c.platform, c.granted_block, c.revoked_block).where(
            c.account_id == account,
            c.scope.in_(CONSENT_COVERS[event.name]),
            c.granted_block <= block,
            or_(c.revoked_block.is_(None), c.revoked_block >= block),
        )
    ).all()
    if not candidates:
        return set()
    # Grants and revocations in the event's own block: order them by log index.
    same_block = [r for r in candidates if block in (r.granted_block, r.revoked_block)]
    positions = _consent_positions(conn, block, {int(r.id) for r in same_block})
    platforms = set()
    for row in candidates:
        consent = int(row.id)
        granted_at = positions.get((_GRANTED, consent), -1)
        if row.granted_block == block and granted_at > event.log_index:
            continue  # granted after the release
        revoked_at = positions.get((_REVOKED, consent), event.log_index + 1)
        if row.revoked_block == block and revoked_at < event.log_index:
            continue  # revoked before the release
        platforms.add(str(row.platform))
    return platforms


def _consent_positions(
    conn: Connection, block: int, consents: set[int]
) -> dict[tuple[str, int], int]:
    """Return the log index of each grant or revocation of `consents` in one block."""
    if not consents:
        return {}
    e = _EVENTS.c
    rows = conn.execute(
        select(e.name, e.log_index, e.data).where(
            and_(e.block_number == block, e.name.in_((_GRANTED, _REVOKED)))
        )
    )
    positions = {}
    for row in rows:
        consent = _int(dict(row.data).get("consentId"))
        if consent in consents:
            positions[(str(row.name), int(consent))] = int(row.log_index)
    return positions
