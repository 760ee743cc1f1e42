"""Reservations (CER Class B.4, fleeting custody): units set aside for a platform.

`POST /v1/reservations` and `/v1/reservations/{reservation_id}/release` (API.md, stable), and
`/v1/reservations/{reservation_id}/transfer`, which sends the reserved units to the platform's
interim custodial account as an ordinary transfer (the first leg of B.4's settlement; the
platform's representative then transfers them on to the buyer with `POST /v1/transfers`).

Served from these records alone (`api.routes.records`), like the escrow family.
"""

from __future__ import annotations

from typing import Any

from api.ids import account_number
from api.intents import Resolver
from api.operations import results
from api.operations.prechecks import check_lock, check_reservation, lock_head
from api.operations.record import (
    ACCOUNT_ERRORS,
    RIGHT_ERRORS,
    UNIT_ERRORS,
    LockDecision,
    Operation,
    Prepare,
    RecordId,
    Subject,
)
from api.schemas import DecisionIntent, ReservationIntent
from indexer.models import Reservation, table_of

__all__ = ["OPERATIONS"]

_RESERVATION = Subject("reservationId", table_of(Reservation), "account_id")
_RESERVED = LockDecision("reserved", "reservationId")


def _reserve(r: Resolver, intent: ReservationIntent, _path: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {
        "signer": intent.signer,
        "accountId": account_number(r.registry_code, intent.account_id),
        "platform": intent.platform,
    }
    account = lock_head(r, message, "reserved")
    message["ranges"] = r.units(account, intent.quantity, intent.filters, intent.ranges)
    return message


def _decide(_r: Resolver, intent: DecisionIntent, path: dict[str, Any]) -> dict[str, Any]:
    return {"signer": intent.signer, "reservationId": path["reservation_id"]}


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "reservations",
        "Reserve",
        check_lock("reserved"),
        "Reserve units",
        result=results.reserve,
        errors=(
            *ACCOUNT_ERRORS,
            *RIGHT_ERRORS,
            *UNIT_ERRORS,
            "PlatformNotFound",
            "PlatformSuspended",
            "ConsentRequired",
        ),
        prepare=Prepare(
            "/reservations",
            ReservationIntent,
            _reserve,
            "Prepare reserving units for a platform (AR who may initiate; needs a `reserved` "
            "consent).",
            "reservations",
            name="prepare_reservation",
        ),
    ),
    Operation(
        "reservations/release",
        "ReleaseReservation",
        check_reservation("appointed"),
        "Release a reservation",
        _RESERVED,
        subject=_RESERVATION,
        result=results.release_reservation,
        errors=(
            *ACCOUNT_ERRORS,
            *RIGHT_ERRORS,
            "ReservationNotFound",
            "ReservationNotActive",
            "INVALID_TYPED_DATA",
        ),
        prepare=Prepare(
            "/reservations/{reservation_id}/release",
            DecisionIntent,
            _decide,
            "Prepare releasing a reservation (any AR of the account, at any time).",
            "reservations",
            {"reservation_id": RecordId},
            name="prepare_release_reservation",
        ),
    ),
    Operation(
        "reservations/transfer",
        "TransferReservation",
        check_reservation("initiate", transfer=True),
        "Transfer reserved units into the platform's custody",
        _RESERVED,
        subject=_RESERVATION,
        result=results.transfer_reservation,
        errors=(
            *ACCOUNT_ERRORS,
            *RIGHT_ERRORS,
            "ReservationNotFound",
            "ReservationNotActive",
            "PlatformNotFound",
            "PlatformSuspended",
            "AccountCannotReceive",
            "INVALID_TYPED_DATA",
        ),
        prepare=Prepare(
            "/reservations/{reservation_id}/transfer",
            DecisionIntent,
            _decide,
            "Prepare transferring reserved units to the platform's custodial account (B.4).",
            "reservations",
            {"reservation_id": RecordId},
            name="prepare_transfer_reservation",
        ),
    ),
)
