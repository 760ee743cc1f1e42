"""Associations with third-party certificates (CER Class C.1): units back a certificate 1:1.

`POST /v1/associations` and `/v1/associations/{association_id}/retire` (API.md, stable), and
`/v1/associations/{association_id}/dissociate`. The account's AR associates; only the third-party
registry dissociates or retires (which cancels the units, so the claim cannot be made twice).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from api.deps import ServicesDep
from api.ids import account_number
from api.intents import Resolver, bytes32_hex
from api.operations.edge import prepare_request, submit_route
from api.operations.prechecks import association_head
from api.schemas import (
    AssociationIntent,
    DecisionIntent,
    PreparedRequest,
    RetireIntent,
)
from api.writes import checked_request

__all__ = ["router"]

router = APIRouter(tags=["associations"])

AssociationId = Annotated[int, Path(ge=1, le=2**64 - 1)]


@router.post("/associations/prepare", response_model=PreparedRequest)
def prepare_association(intent: AssociationIntent, services: ServicesDep) -> PreparedRequest:
    """Prepare associating units with a third-party certificate (AR who may initiate)."""

    def build(r: Resolver) -> dict[str, Any]:
        message: dict[str, Any] = {
            "signer": intent.signer,
            "accountId": account_number(r.registry_code, intent.account_id),
            "thirdPartyRegistry": intent.third_party_registry,
            "certificateId": bytes32_hex(intent.certificate_id),
        }
        account = association_head(r, message)
        message["ranges"] = r.units(account, intent.quantity, intent.filters, intent.ranges)
        return r.typed("Associate", intent.signer, message)

    return prepare_request(services, build)


submit_route(router, "/associations", "associations")


@router.post("/associations/{association_id}/dissociate/prepare", response_model=PreparedRequest)
def prepare_dissociate(
    association_id: AssociationId, intent: DecisionIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare dissociating units from a certificate (the third-party registry)."""

    def build(r: Resolver) -> dict[str, Any]:
        return checked_request(
            r, "Dissociate", {"signer": intent.signer, "associationId": association_id}
        )

    return prepare_request(services, build)


submit_route(
    router,
    "/associations/{association_id}/dissociate",
    "associations/dissociate",
    association_id=AssociationId,
)


@router.post("/associations/{association_id}/retire/prepare", response_model=PreparedRequest)
def prepare_retire(
    association_id: AssociationId, intent: RetireIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare retiring the certificate, which cancels its units (the third-party registry)."""

    def build(r: Resolver) -> dict[str, Any]:
        return checked_request(
            r,
            "RetireAssociation",
            {
                "signer": intent.signer,
                "associationId": association_id,
                "beneficiary": intent.beneficiary,
                "reason": intent.reason,
            },
        )

    return prepare_request(services, build)


submit_route(
    router,
    "/associations/{association_id}/retire",
    "associations/retire",
    association_id=AssociationId,
)
