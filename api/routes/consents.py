"""View consents (CER Class B.1): an account holder lets a platform read one scope of an account.

`POST /v1/consents` and `/v1/consents/{consent_id}/revoke` (API.md, stable). What a consent lets a
platform read is applied by the account reads (decision D19).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from api.deps import ServicesDep
from api.intents import SCOPES, Resolver
from api.problems import Problem
from api.routes.writes import prepare_request, submit_route
from api.schemas import (
    ConsentIntent,
    DecisionIntent,
    PreparedRequest,
)

__all__ = ["router"]

router = APIRouter(tags=["consents"])

ConsentId = Annotated[int, Path(ge=1, le=2**64 - 1)]


@router.post("/consents/prepare", response_model=PreparedRequest)
def prepare_consent(intent: ConsentIntent, services: ServicesDep) -> PreparedRequest:
    """Prepare consenting that a platform views one scope of an account (AR who may initiate)."""

    def build(r: Resolver) -> dict[str, Any]:
        account = r.account(intent.account_id)
        r.require_right(account, intent.signer, "initiate")
        r.platform(intent.platform)
        existing = r.active_consent(account.id, intent.platform, intent.scope)
        if existing is not None:
            raise Problem(
                409,
                "CONSENT_EXISTS",
                f"Consent {existing} already lets {intent.platform} view `{intent.scope}` of "
                f"{intent.account_id}.",
            )
        return r.typed(
            "GrantConsent",
            intent.signer,
            {"accountId": account.id, "platform": intent.platform, "scope": SCOPES[intent.scope]},
        )

    return prepare_request(services, build)


submit_route(router, "/consents", "consents")


@router.post("/consents/{consent_id}/revoke/prepare", response_model=PreparedRequest)
def prepare_revoke_consent(
    consent_id: ConsentId, intent: DecisionIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare revoking a consent (any AR of the account); the platform's next read is refused."""

    def build(r: Resolver) -> dict[str, Any]:
        consent = r.consent(consent_id)
        account = r.account(f"{r.registry_code}-{consent.account_id}", must_be_open=False)
        r.require_right(account, intent.signer, "appointed")
        return r.typed("RevokeConsent", intent.signer, {"consentId": consent_id})

    return prepare_request(services, build)


submit_route(router, "/consents/{consent_id}/revoke", "consents/revoke", consent_id=ConsentId)
