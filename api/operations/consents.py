"""View consents (CER Class B.1): an account holder lets a platform read one scope of an account.

`POST /v1/consents` and `/v1/consents/{consent_id}/revoke` (API.md, stable). What a consent lets a
platform read is applied by the account reads (decision D19).

Served from these records alone (`api.routes.records`), like the escrow family.
"""

from __future__ import annotations

from typing import Any

from api.ids import account_number
from api.intents import SCOPES, Resolver
from api.operations import results
from api.operations.prechecks import check_grant_consent, check_revoke_consent
from api.operations.record import (
    ACCOUNT_ERRORS,
    RIGHT_ERRORS,
    Operation,
    Prepare,
    RecordId,
    Subject,
)
from api.schemas import ConsentIntent, DecisionIntent
from indexer.models import Consent, table_of

__all__ = ["OPERATIONS"]

_CONSENT = Subject("consentId", table_of(Consent), "account_id")


def _grant(r: Resolver, intent: ConsentIntent, _path: dict[str, Any]) -> dict[str, Any]:
    return {
        "signer": intent.signer,
        "accountId": account_number(r.registry_code, intent.account_id),
        "platform": intent.platform,
        "scope": SCOPES[intent.scope],
    }


def _revoke(_r: Resolver, intent: DecisionIntent, path: dict[str, Any]) -> dict[str, Any]:
    return {"signer": intent.signer, "consentId": path["consent_id"]}


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "consents",
        "GrantConsent",
        check_grant_consent,
        "Grant a platform consent",
        result=results.grant_consent,
        errors=(
            *ACCOUNT_ERRORS,
            *RIGHT_ERRORS,
            "PlatformNotFound",
            "PlatformSuspended",
            "ConsentAlreadyGranted",
        ),
        prepare=Prepare(
            "/consents",
            ConsentIntent,
            _grant,
            "Prepare consenting that a platform views one scope of an account (AR who may "
            "initiate).",
            "consents",
            name="prepare_consent",
        ),
    ),
    Operation(
        "consents/revoke",
        "RevokeConsent",
        check_revoke_consent,
        "Revoke a consent",
        subject=_CONSENT,
        result=results.revoke_consent,
        errors=(
            *ACCOUNT_ERRORS,
            *RIGHT_ERRORS,
            "ConsentNotFound",
            "ConsentNotActive",
            "INVALID_TYPED_DATA",
        ),
        prepare=Prepare(
            "/consents/{consent_id}/revoke",
            DecisionIntent,
            _revoke,
            "Prepare revoking a consent (any AR of the account); the platform's next read is "
            "refused.",
            "consents",
            {"consent_id": RecordId},
            name="prepare_revoke_consent",
        ),
    ),
)
