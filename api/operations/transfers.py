"""Transfers between accounts: initiate, then approve (another AR) or rescind.

`POST /v1/transfers`, `/v1/transfers/{transfer_id}/approve` and
`/v1/transfers/{transfer_id}/rescind` (API.md, stable). A transfer to a peer registry's account
is prepared here too and is a TransferOut (docs/interop.md; `ALTERNATE_OPERATIONS`).

Served from these records alone (`api.routes.records`), like the escrow family.
"""

from __future__ import annotations

from typing import Any

from api.intents import Resolver
from api.interop import peer_account, transfer_out_request
from api.operations import results
from api.operations.prechecks import check_decide, check_transfer
from api.operations.record import (
    ACCOUNT_ERRORS,
    RIGHT_ERRORS,
    UNIT_ERRORS,
    LockDecision,
    Operation,
    Prepare,
    Ready,
    Subject,
    TransferId,
)
from api.operations.refusals import Refusal
from api.schemas import ApproveIntent, TransferIntent
from indexer.models import Transfer, table_of

__all__ = ["OPERATIONS", "PENDING", "TRANSFER"]

TRANSFER = Subject("transferId", table_of(Transfer), "from_account")
PENDING = LockDecision("pending", "transferId")
_TRANSFERS = ("transfers",)


def _initiate(r: Resolver, intent: TransferIntent, _path: dict[str, Any]) -> dict[str, Any] | Ready:
    source = r.account(intent.from_account)
    if intent.to_account.partition("-")[0] != r.registry_code:
        # A peer registry's account: a transfer out (docs/interop.md).
        peer_account(intent.to_account)  # a malformed id is refused before anything else
        r.require_right(source, intent.signer, "initiate")
        units = r.units(source, intent.quantity, intent.filters, intent.ranges)
        return Ready(transfer_out_request(r, intent.signer, source, intent.to_account, units))
    target = r.account(intent.to_account)
    if source.id == target.id:  # before choosing units, which would be wasted
        raise Refusal("SameAccount", "A transfer needs two different accounts.")
    r.require_right(source, intent.signer, "initiate")
    return {
        "signer": intent.signer,
        "fromAccount": source.id,
        "toAccount": target.id,
        "ranges": r.units(source, intent.quantity, intent.filters, intent.ranges),
    }


def _decide(_r: Resolver, intent: ApproveIntent, path: dict[str, Any]) -> dict[str, Any]:
    return {"signer": intent.signer, "transferId": path["transfer_id"]}


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "transfers",
        "InitiateTransfer",
        check_transfer,
        "Initiate a transfer",
        result=results.initiate_transfer,
        errors=(
            *ACCOUNT_ERRORS,
            *RIGHT_ERRORS,
            *UNIT_ERRORS,
            "SameAccount",
            "AccountCannotReceive",
            "PeerNotFound",
            "InvalidPeerAccount",
            "INVALID_ACCOUNT_ID",
        ),
        prepare=Prepare(
            "/transfers",
            TransferIntent,
            _initiate,
            "Prepare a transfer: a quantity (oldest vintage first) or explicit ranges.",
            "writes",
            more_tags=_TRANSFERS,
            name="prepare_transfer",
        ),
    ),
    Operation(
        "transfers/approve",
        "ApproveTransfer",
        check_decide("approve"),
        "Approve a pending transfer",
        PENDING,
        subject=TRANSFER,
        result=results.approve_transfer,
        errors=(
            *ACCOUNT_ERRORS,
            *RIGHT_ERRORS,
            *UNIT_ERRORS,
            "TransferNotFound",
            "TransferNotPending",
            "ApproverIsInitiator",
            "AccountCannotReceive",
            "INVALID_TYPED_DATA",
        ),
        prepare=Prepare(
            "/transfers/{transfer_id}/approve",
            ApproveIntent,
            _decide,
            "Prepare approving a pending transfer (an AR who may approve, not the initiator).",
            "writes",
            {"transfer_id": TransferId},
            _TRANSFERS,
            name="prepare_approve",
        ),
    ),
    Operation(
        "transfers/rescind",
        "RescindTransfer",
        check_decide("appointed"),
        "Rescind a pending transfer",
        PENDING,
        subject=TRANSFER,
        result=results.rescind_transfer,
        errors=(
            *ACCOUNT_ERRORS,
            *RIGHT_ERRORS,
            "TransferNotFound",
            "TransferNotPending",
            "INVALID_TYPED_DATA",
        ),
        prepare=Prepare(
            "/transfers/{transfer_id}/rescind",
            ApproveIntent,
            _decide,
            "Prepare rescinding a pending transfer (any AR of the sending account).",
            "writes",
            {"transfer_id": TransferId},
            _TRANSFERS,
            name="prepare_rescind",
        ),
    ),
)
