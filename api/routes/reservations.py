"""Reservations (CER Class B.4, fleeting custody): units set aside for a platform.

`POST /v1/reservations` and `/v1/reservations/{reservation_id}/release` (API.md, stable), and
`/v1/reservations/{reservation_id}/transfer`, which sends the reserved units to the platform's
interim custodial account as an ordinary transfer (the first leg of B.4's settlement; the
platform's representative then transfers them on to the buyer with `POST /v1/transfers`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from api.deps import ServicesDep
from api.intents import Resolver
from api.routes.writes import WRITE_RESPONSES, Wait, prepare_request, submit_request
from api.schemas import (
    DecisionIntent,
    PreparedRequest,
    RequestAccepted,
    RequestResource,
    ReservationIntent,
    SignedSubmission,
)

__all__ = ["router"]

router = APIRouter(tags=["reservations"])

ReservationId = Annotated[int, Path(ge=1, le=2**64 - 1)]


@router.post("/reservations/prepare", response_model=PreparedRequest)
def prepare_reservation(intent: ReservationIntent, services: ServicesDep) -> PreparedRequest:
    """Prepare reserving units for a platform (AR who may initiate; needs a `reserved` consent)."""

    def build(r: Resolver) -> dict[str, Any]:
        account = r.account(intent.account_id)
        r.require_right(account, intent.signer, "initiate")
        r.platform(intent.platform)
        r.require_consent(account, intent.platform, "reserved")
        return r.typed(
            "Reserve",
            intent.signer,
            {
                "accountId": account.id,
                "platform": intent.platform,
                "ranges": r.units(account, intent.quantity, intent.filters, intent.ranges),
            },
        )

    return prepare_request(services, build)


@router.post("/reservations", responses=WRITE_RESPONSES, status_code=202)
def submit_reservation(
    body: SignedSubmission,
    request: Request,
    response: Response,
    services: ServicesDep,
    wait: Wait = None,
) -> RequestAccepted | RequestResource:
    """Submit a signed Reserve request."""
    return submit_request(request, response, services, "reservations", body, wait)


def _prepare_decision(
    services: ServicesDep, reservation_id: int, intent: DecisionIntent, transfer: bool
) -> PreparedRequest:
    def build(r: Resolver) -> dict[str, Any]:
        reservation = r.reservation(reservation_id)
        account = r.account(f"{r.registry_code}-{reservation.account_id}")
        r.require_right(account, intent.signer, "initiate" if transfer else "appointed")
        if transfer:
            platform = r.platform(reservation.platform)
            r.account(f"{r.registry_code}-{platform.custodial_account_id}")
        return r.typed(
            "TransferReservation" if transfer else "ReleaseReservation",
            intent.signer,
            {"reservationId": reservation_id},
        )

    return prepare_request(services, build)


@router.post("/reservations/{reservation_id}/release/prepare", response_model=PreparedRequest)
def prepare_release_reservation(
    reservation_id: ReservationId, intent: DecisionIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare releasing a reservation (any AR of the account, at any time)."""
    return _prepare_decision(services, reservation_id, intent, transfer=False)


@router.post("/reservations/{reservation_id}/release", responses=WRITE_RESPONSES, status_code=202)
def submit_release_reservation(
    reservation_id: ReservationId,
    body: SignedSubmission,
    request: Request,
    response: Response,
    services: ServicesDep,
    wait: Wait = None,
) -> RequestAccepted | RequestResource:
    """Submit a signed ReleaseReservation request."""
    return submit_request(
        request,
        response,
        services,
        "reservations/release",
        body,
        wait,
        {"reservation_id": str(reservation_id)},
    )


@router.post("/reservations/{reservation_id}/transfer/prepare", response_model=PreparedRequest)
def prepare_transfer_reservation(
    reservation_id: ReservationId, intent: DecisionIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare transferring reserved units to the platform's custodial account (B.4)."""
    return _prepare_decision(services, reservation_id, intent, transfer=True)


@router.post("/reservations/{reservation_id}/transfer", responses=WRITE_RESPONSES, status_code=202)
def submit_transfer_reservation(
    reservation_id: ReservationId,
    body: SignedSubmission,
    request: Request,
    response: Response,
    services: ServicesDep,
    wait: Wait = None,
) -> RequestAccepted | RequestResource:
    """Submit a signed TransferReservation request."""
    return submit_request(
        request,
        response,
        services,
        "reservations/transfer",
        body,
        wait,
        {"reservation_id": str(reservation_id)},
    )
