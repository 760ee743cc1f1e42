"""View consents (CER Class B.1): an account holder lets a platform read one scope of an account.

`POST /v1/consents` and `/v1/consents/{consent_id}/revoke` (API.md, stable). What a consent lets a
platform read is applied by the account reads (decision D19).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from api.deps import ServicesDep
from api.ids import account_number
from api.intents import SCOPES, Resolver
from api.operations.edge import prepare_request, submit_route
from api.schemas import (
    ConsentIntent,
    DecisionIntent,
    PreparedRequest,
)
from api.writes import checked_request

__all__ = ["router"]

router = APIRouter(tags=["consents"])

ConsentId = Annotated[int, Path(ge=1, le=2**64 - 1)]


@router.post("/consents/prepare", response_model=PreparedRequest)
def prepare_consent(intent: ConsentIntent, services: ServicesDep) -> PreparedRequest:
    """Prepare consenting that a platform views one scope of an account (AR who may initiate)."""

    def build(r: Resolver) -> dict[str, Any]:
        return checked_request(
            r,
            "GrantConsent",
            {
                "signer": intent.signer,
                "accountId": account_number(r.registry_code, intent.account_id),
                "platform": intent.platform,
                "scope": SCOPES[intent.scope],
            },
        )

    return prepare_request(services, build)


submit_route(router, "/consents", "consents")


@router.post("/consents/{consent_id}/revoke/prepare", response_model=PreparedRequest)
def prepare_revoke_consent(
    consent_id: ConsentId, intent: DecisionIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare revoking a consent (any AR of the account); the platform's next read is refused."""

    def build(r: Resolver) -> dict[str, Any]:
        return checked_request(
            r, "RevokeConsent", {"signer": intent.signer, "consentId": consent_id}
        )

    return prepare_request(services, build)


submit_route(router, "/consents/{consent_id}/revoke", "consents/revoke", consent_id=ConsentId)
