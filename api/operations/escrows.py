"""Escrow (CER Class B.5): units stay in the seller's account under a platform's control.

`POST /v1/escrows`, `/v1/escrows/{escrow_id}/settle` and `/v1/escrows/{escrow_id}/release`
(API.md, stable). Only the platform settles or releases; the administrator may override.

The family's records carry everything the API serves them from: the intent schema and the
builder of the message to sign, the precheck prepare and submit both run, the result reader,
the lock the journal relays decisions with, and the escrow a decision names. The routes are
generated from these records (`api.routes.records`); no route module is involved.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path

from api.ids import account_number
from api.intents import Resolver
from api.operations import results
from api.operations.prechecks import check_escrow_decision, check_lock, lock_head
from api.operations.record import (
    ACCOUNT_ERRORS,
    RIGHT_ERRORS,
    UNIT_ERRORS,
    LockDecision,
    Operation,
    Prepare,
    Subject,
)
from api.schemas import DecisionIntent, EscrowIntent, EscrowSettleIntent
from indexer.models import Escrow, table_of

__all__ = ["OPERATIONS"]

EscrowId = Annotated[int, Path(ge=1, le=2**64 - 1)]

_ESCROW = Subject("escrowId", table_of(Escrow), "account_id")
_ESCROWED = LockDecision("escrowed", "escrowId")


def _escrow(r: Resolver, intent: EscrowIntent, _path: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {
        "signer": intent.signer,
        "accountId": account_number(r.registry_code, intent.account_id),
        "platform": intent.platform,
    }
    account = lock_head(r, message, "escrowed")
    message["ranges"] = r.units(account, intent.quantity, intent.filters, intent.ranges)
    return message


def _settle(r: Resolver, intent: EscrowSettleIntent, path: dict[str, Any]) -> dict[str, Any]:
    return {
        "signer": intent.signer,
        "escrowId": path["escrow_id"],
        "toAccount": account_number(r.registry_code, intent.to_account),
    }


def _release(_r: Resolver, intent: DecisionIntent, path: dict[str, Any]) -> dict[str, Any]:
    return {"signer": intent.signer, "escrowId": path["escrow_id"]}


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "escrows",
        "Escrow",
        check_lock("escrowed"),
        "Put units in escrow",
        result=results.escrow,
        errors=(
            *ACCOUNT_ERRORS,
            *RIGHT_ERRORS,
            *UNIT_ERRORS,
            "PlatformNotFound",
            "PlatformSuspended",
            "ConsentRequired",
        ),
        prepare=Prepare(
            "/escrows",
            EscrowIntent,
            _escrow,
            "Prepare escrowing units to a platform (AR who may initiate; needs an `escrowed` "
            "consent).",
            "escrows",
        ),
    ),
    Operation(
        "escrows/settle",
        "SettleEscrow",
        check_escrow_decision,
        "Settle an escrow to a buyer",
        _ESCROWED,
        subject=_ESCROW,
        result=results.settle_escrow,
        errors=(
            "PlatformNotFound",
            *ACCOUNT_ERRORS,
            "EscrowNotFound",
            "EscrowNotActive",
            "NotEscrowController",
            "PlatformSuspended",
            "SameAccount",
            "AccountCannotReceive",
            "INVALID_TYPED_DATA",
        ),
        prepare=Prepare(
            "/escrows/{escrow_id}/settle",
            EscrowSettleIntent,
            _settle,
            "Prepare settling an escrow to a buyer (a platform signer, or the administrator).",
            "escrows",
            {"escrow_id": EscrowId},
        ),
    ),
    Operation(
        "escrows/release",
        "ReleaseEscrow",
        check_escrow_decision,
        "Release an escrow to the seller",
        _ESCROWED,
        subject=_ESCROW,
        result=results.release_escrow,
        errors=(
            "PlatformNotFound",
            *ACCOUNT_ERRORS,
            "EscrowNotFound",
            "EscrowNotActive",
            "NotEscrowController",
            "PlatformSuspended",
            "INVALID_TYPED_DATA",
        ),
        prepare=Prepare(
            "/escrows/{escrow_id}/release",
            DecisionIntent,
            _release,
            "Prepare releasing an escrow to the seller (a platform signer, or the administrator).",
            "escrows",
            {"escrow_id": EscrowId},
        ),
    ),
)
