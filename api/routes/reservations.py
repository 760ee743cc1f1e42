"""Reservations (CER Class B.4, fleeting custody): units set aside for a platform.

`POST /v1/reservations` and `/v1/reservations/{reservation_id}/release` (API.md, stable), and
`/v1/reservations/{reservation_id}/transfer`, which sends the reserved units to the platform's
interim custodial account as an ordinary transfer (the first leg of B.4's settlement; the
platform's representative then transfers them on to the buyer with `POST /v1/transfers`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from api.deps import ServicesDep
from api.ids import account_number
from api.intents import Resolver
from api.operations.edge import prepare_request, submit_route
from api.operations.prechecks import lock_head
from api.schemas import (
    DecisionIntent,
    PreparedRequest,
    ReservationIntent,
)
from api.writes import checked_request

__all__ = ["router"]

router = APIRouter(tags=["reservations"])

ReservationId = Annotated[int, Path(ge=1, le=2**64 - 1)]


@router.post("/reservations/prepare", response_model=PreparedRequest)
def prepare_reservation(intent: ReservationIntent, services: ServicesDep) -> PreparedRequest:
    """Prepare reserving units for a platform (AR who may initiate; needs a `reserved` consent)."""

    def build(r: Resolver) -> dict[str, Any]:
        message: dict[str, Any] = {
            "signer": intent.signer,
            "accountId": account_number(r.registry_code, intent.account_id),
            "platform": intent.platform,
        }
        account = lock_head(r, message, "reserved")
        message["ranges"] = r.units(account, intent.quantity, intent.filters, intent.ranges)
        return r.typed("Reserve", intent.signer, message)

    return prepare_request(services, build)


submit_route(router, "/reservations", "reservations")


def _prepare_decision(
    services: ServicesDep, reservation_id: int, intent: DecisionIntent, transfer: bool
) -> PreparedRequest:
    def build(r: Resolver) -> dict[str, Any]:
        return checked_request(
            r,
            "TransferReservation" if transfer else "ReleaseReservation",
            {"signer": intent.signer, "reservationId": reservation_id},
        )

    return prepare_request(services, build)


@router.post("/reservations/{reservation_id}/release/prepare", response_model=PreparedRequest)
def prepare_release_reservation(
    reservation_id: ReservationId, intent: DecisionIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare releasing a reservation (any AR of the account, at any time)."""
    return _prepare_decision(services, reservation_id, intent, transfer=False)


submit_route(
    router,
    "/reservations/{reservation_id}/release",
    "reservations/release",
    reservation_id=ReservationId,
)


@router.post("/reservations/{reservation_id}/transfer/prepare", response_model=PreparedRequest)
def prepare_transfer_reservation(
    reservation_id: ReservationId, intent: DecisionIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare transferring reserved units to the platform's custodial account (B.4)."""
    return _prepare_decision(services, reservation_id, intent, transfer=True)


submit_route(
    router,
    "/reservations/{reservation_id}/transfer",
    "reservations/transfer",
    reservation_id=ReservationId,
)
