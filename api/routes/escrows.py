"""Escrow (CER Class B.5): units stay in the seller's account under a platform's control.

`POST /v1/escrows`, `/v1/escrows/{escrow_id}/settle` and `/v1/escrows/{escrow_id}/release`
(API.md, stable). Only the platform settles or releases; the administrator may override.
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
    EscrowIntent,
    EscrowSettleIntent,
    PreparedRequest,
)
from api.writes import checked_request

__all__ = ["router"]

router = APIRouter(tags=["escrows"])

EscrowId = Annotated[int, Path(ge=1, le=2**64 - 1)]


@router.post("/escrows/prepare", response_model=PreparedRequest)
def prepare_escrow(intent: EscrowIntent, services: ServicesDep) -> PreparedRequest:
    """Prepare escrowing units to a platform (AR who may initiate; needs an `escrowed` consent)."""

    def build(r: Resolver) -> dict[str, Any]:
        message: dict[str, Any] = {
            "signer": intent.signer,
            "accountId": account_number(r.registry_code, intent.account_id),
            "platform": intent.platform,
        }
        account = lock_head(r, message, "escrowed")
        message["ranges"] = r.units(account, intent.quantity, intent.filters, intent.ranges)
        return r.typed("Escrow", intent.signer, message)

    return prepare_request(services, build)


submit_route(router, "/escrows", "escrows")


@router.post("/escrows/{escrow_id}/settle/prepare", response_model=PreparedRequest)
def prepare_settle_escrow(
    escrow_id: EscrowId, intent: EscrowSettleIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare settling an escrow to a buyer (a platform signer, or the administrator)."""

    def build(r: Resolver) -> dict[str, Any]:
        return checked_request(
            r,
            "SettleEscrow",
            {
                "signer": intent.signer,
                "escrowId": escrow_id,
                "toAccount": account_number(r.registry_code, intent.to_account),
            },
        )

    return prepare_request(services, build)


submit_route(router, "/escrows/{escrow_id}/settle", "escrows/settle", escrow_id=EscrowId)


@router.post("/escrows/{escrow_id}/release/prepare", response_model=PreparedRequest)
def prepare_release_escrow(
    escrow_id: EscrowId, intent: DecisionIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare releasing an escrow to the seller (a platform signer, or the administrator)."""

    def build(r: Resolver) -> dict[str, Any]:
        return checked_request(r, "ReleaseEscrow", {"signer": intent.signer, "escrowId": escrow_id})

    return prepare_request(services, build)


submit_route(router, "/escrows/{escrow_id}/release", "escrows/release", escrow_id=EscrowId)
