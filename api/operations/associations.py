"""Associations with third-party certificates (CER Class C.1): units back a certificate 1:1.

`POST /v1/associations` and `/v1/associations/{association_id}/retire` (API.md, stable), and
`/v1/associations/{association_id}/dissociate`. The account's AR associates; only the third-party
registry dissociates or retires (which cancels the units, so the claim cannot be made twice).

Served from these records alone (`api.routes.records`), like the escrow family.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path

from api.ids import account_number
from api.intents import Resolver, bytes32_hex
from api.operations import results
from api.operations.prechecks import (
    association_head,
    check_associate,
    check_association_decision,
)
from api.operations.record import (
    ACCOUNT_ERRORS,
    RIGHT_ERRORS,
    UNIT_ERRORS,
    LockDecision,
    Operation,
    Prepare,
    Subject,
)
from api.schemas import AssociationIntent, DecisionIntent, RetireIntent
from indexer.models import Association, table_of

__all__ = ["OPERATIONS"]

AssociationId = Annotated[int, Path(ge=1, le=2**64 - 1)]

_ASSOCIATION = Subject("associationId", table_of(Association), "account_id")
_ASSOCIATED = LockDecision("associated", "associationId")


def _associate(r: Resolver, intent: AssociationIntent, _path: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {
        "signer": intent.signer,
        "accountId": account_number(r.registry_code, intent.account_id),
        "thirdPartyRegistry": intent.third_party_registry,
        "certificateId": bytes32_hex(intent.certificate_id),
    }
    account = association_head(r, message)
    message["ranges"] = r.units(account, intent.quantity, intent.filters, intent.ranges)
    return message


def _dissociate(_r: Resolver, intent: DecisionIntent, path: dict[str, Any]) -> dict[str, Any]:
    return {"signer": intent.signer, "associationId": path["association_id"]}


def _retire(_r: Resolver, intent: RetireIntent, path: dict[str, Any]) -> dict[str, Any]:
    return {
        "signer": intent.signer,
        "associationId": path["association_id"],
        "beneficiary": intent.beneficiary,
        "reason": intent.reason,
    }


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "associations",
        "Associate",
        check_associate,
        "Associate units with a certificate",
        result=results.associate,
        errors=(
            *ACCOUNT_ERRORS,
            *RIGHT_ERRORS,
            *UNIT_ERRORS,
            "NotAssociationRegistry",
            "InvalidCertificate",
            "CertificateAlreadyUsed",
        ),
        prepare=Prepare(
            "/associations",
            AssociationIntent,
            _associate,
            "Prepare associating units with a third-party certificate (AR who may initiate).",
            "associations",
        ),
    ),
    Operation(
        "associations/dissociate",
        "Dissociate",
        check_association_decision,
        "Dissociate units from a certificate",
        _ASSOCIATED,
        subject=_ASSOCIATION,
        result=results.dissociate,
        errors=(
            *ACCOUNT_ERRORS,
            "AssociationNotFound",
            "AssociationNotActive",
            "NotAssociationRegistry",
            "INVALID_TYPED_DATA",
        ),
        prepare=Prepare(
            "/associations/{association_id}/dissociate",
            DecisionIntent,
            _dissociate,
            "Prepare dissociating units from a certificate (the third-party registry).",
            "associations",
            {"association_id": AssociationId},
        ),
    ),
    Operation(
        "associations/retire",
        "RetireAssociation",
        check_association_decision,
        "Retire a certificate, cancelling its units",
        _ASSOCIATED,
        subject=_ASSOCIATION,
        result=results.retire_association,
        errors=(
            *ACCOUNT_ERRORS,
            "AssociationNotFound",
            "AssociationNotActive",
            "NotAssociationRegistry",
            "INVALID_TYPED_DATA",
        ),
        prepare=Prepare(
            "/associations/{association_id}/retire",
            RetireIntent,
            _retire,
            "Prepare retiring the certificate, which cancels its units (the third-party registry).",
            "associations",
            {"association_id": AssociationId},
        ),
    ),
)
