"""Escrow (CER Class B.5): units stay in the seller's account under a platform's control.

`POST /v1/escrows`, `/v1/escrows/{escrow_id}/settle` and `/v1/escrows/{escrow_id}/release`
(API.md, stable). Only the platform settles or releases; the administrator may override.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from api.deps import ServicesDep
from api.intents import Resolver
from api.problems import Problem
from api.routes.writes import prepare_request, submit_route
from api.schemas import (
    DecisionIntent,
    EscrowIntent,
    EscrowSettleIntent,
    PreparedRequest,
)

__all__ = ["router"]

router = APIRouter(tags=["escrows"])

EscrowId = Annotated[int, Path(ge=1, le=2**64 - 1)]


@router.post("/escrows/prepare", response_model=PreparedRequest)
def prepare_escrow(intent: EscrowIntent, services: ServicesDep) -> PreparedRequest:
    """Prepare escrowing units to a platform (AR who may initiate; needs an `escrowed` consent)."""

    def build(r: Resolver) -> dict[str, Any]:
        account = r.account(intent.account_id)
        r.require_right(account, intent.signer, "initiate")
        r.platform(intent.platform)
        r.require_consent(account, intent.platform, "escrowed")
        return r.typed(
            "Escrow",
            intent.signer,
            {
                "accountId": account.id,
                "platform": intent.platform,
                "ranges": r.units(account, intent.quantity, intent.filters, intent.ranges),
            },
        )

    return prepare_request(services, build)


submit_route(router, "/escrows", "escrows")


@router.post("/escrows/{escrow_id}/settle/prepare", response_model=PreparedRequest)
def prepare_settle_escrow(
    escrow_id: EscrowId, intent: EscrowSettleIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare settling an escrow to a buyer (a platform signer, or the administrator)."""

    def build(r: Resolver) -> dict[str, Any]:
        escrow = r.escrow(escrow_id)
        r.require_escrow_controller(escrow, intent.signer)
        r.account(f"{r.registry_code}-{escrow.account_id}")
        buyer = r.account(intent.to_account)
        if buyer.id == escrow.account_id:
            raise Problem(422, "SAME_ACCOUNT", "An escrow settles to another account.")
        r.can_receive(buyer)
        return r.typed(
            "SettleEscrow", intent.signer, {"escrowId": escrow_id, "toAccount": buyer.id}
        )

    return prepare_request(services, build)


submit_route(router, "/escrows/{escrow_id}/settle", "escrows/settle", escrow_id=EscrowId)


@router.post("/escrows/{escrow_id}/release/prepare", response_model=PreparedRequest)
def prepare_release_escrow(
    escrow_id: EscrowId, intent: DecisionIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare releasing an escrow to the seller (a platform signer, or the administrator)."""

    def build(r: Resolver) -> dict[str, Any]:
        escrow = r.escrow(escrow_id)
        r.require_escrow_controller(escrow, intent.signer)
        r.account(f"{r.registry_code}-{escrow.account_id}")
        return r.typed("ReleaseEscrow", intent.signer, {"escrowId": escrow_id})

    return prepare_request(services, build)


submit_route(router, "/escrows/{escrow_id}/release", "escrows/release", escrow_id=EscrowId)
