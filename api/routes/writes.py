"""Signed writes, each in two calls: `POST .../prepare` with an intent, then `POST ...` signed.

Paths and intent fields follow API.md's write table (stable); representative and status
changes, label definitions and label changes follow the same pattern.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ServicesDep
from api.intents import (
    PURPOSES,
    Resolver,
)
from api.interop import peer_account, transfer_out_request
from api.operations.edge import LabelPath, TransferId, prepare_request, submit_route
from api.problems import refuse
from api.schemas import (
    ApproveIntent,
    CancellationIntent,
    LabelChangeIntent,
    PreparedRequest,
    TransferIntent,
)
from api.services import Services
from api.writes import checked_request

__all__ = ["router"]

router = APIRouter(tags=["writes"])

# -- transfers --------------------------------------------------------------------------------


@router.post("/transfers/prepare", response_model=PreparedRequest, tags=["transfers"])
def prepare_transfer(intent: TransferIntent, services: ServicesDep) -> PreparedRequest:
    """Prepare a transfer: a quantity (oldest vintage first) or explicit ranges."""

    def build(r: Resolver) -> dict[str, Any]:
        source = r.account(intent.from_account)
        if intent.to_account.partition("-")[0] != services.registry_code:
            # A peer registry's account: a transfer out (docs/interop.md).
            peer_account(intent.to_account)  # a malformed id is refused before anything else
            r.require_right(source, intent.signer, "initiate")
            units = r.units(source, intent.quantity, intent.filters, intent.ranges)
            return transfer_out_request(r, intent.signer, source, intent.to_account, units)
        target = r.account(intent.to_account)
        if source.id == target.id:  # before choosing units, which would be wasted
            raise refuse("SAME_ACCOUNT", "A transfer needs two different accounts.")
        r.require_right(source, intent.signer, "initiate")
        return checked_request(
            r,
            "InitiateTransfer",
            {
                "signer": intent.signer,
                "fromAccount": source.id,
                "toAccount": target.id,
                "ranges": r.units(source, intent.quantity, intent.filters, intent.ranges),
            },
        )

    return prepare_request(services, build)


submit_route(router, "/transfers", "transfers", tags=["transfers"])


def _prepare_decision(
    services: Services, transfer_id: int, intent: ApproveIntent, approve: bool
) -> PreparedRequest:
    def build(r: Resolver) -> dict[str, Any]:
        return checked_request(
            r,
            "ApproveTransfer" if approve else "RescindTransfer",
            {"signer": intent.signer, "transferId": transfer_id},
        )

    return prepare_request(services, build)


@router.post(
    "/transfers/{transfer_id}/approve/prepare", response_model=PreparedRequest, tags=["transfers"]
)
def prepare_approve(
    transfer_id: TransferId, intent: ApproveIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare approving a pending transfer (an AR who may approve, not the initiator)."""
    return _prepare_decision(services, transfer_id, intent, approve=True)


submit_route(
    router,
    "/transfers/{transfer_id}/approve",
    "transfers/approve",
    tags=["transfers"],
    transfer_id=TransferId,
)


@router.post(
    "/transfers/{transfer_id}/rescind/prepare", response_model=PreparedRequest, tags=["transfers"]
)
def prepare_rescind(
    transfer_id: TransferId, intent: ApproveIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare rescinding a pending transfer (any AR of the sending account)."""
    return _prepare_decision(services, transfer_id, intent, approve=False)


submit_route(
    router,
    "/transfers/{transfer_id}/rescind",
    "transfers/rescind",
    tags=["transfers"],
    transfer_id=TransferId,
)


# -- cancellations and labels -----------------------------------------------------------------


@router.post("/cancellations/prepare", response_model=PreparedRequest, tags=["cancellations"])
def prepare_cancellation(intent: CancellationIntent, services: ServicesDep) -> PreparedRequest:
    """Prepare cancelling units, voluntarily or for a purpose."""

    def build(r: Resolver) -> dict[str, Any]:
        account = r.account(intent.account_id)
        r.require_right(account, intent.signer, "initiate")
        return r.typed(
            "Cancel",
            intent.signer,
            {
                "accountId": account.id,
                "ranges": r.units(account, intent.quantity, intent.filters, intent.ranges),
                "purpose": PURPOSES[intent.purpose],
                "beneficiary": intent.beneficiary,
                "reason": intent.reason,
            },
        )

    return prepare_request(services, build)


submit_route(router, "/cancellations", "cancellations", tags=["cancellations"])


def _prepare_label_change(
    services: Services, label: str, intent: LabelChangeIntent, applied: bool
) -> PreparedRequest:
    def build(r: Resolver) -> dict[str, Any]:
        label_id = r.label_id(label)
        r.require_role(intent.signer, "label_authority")
        if intent.ranges is not None:
            ranges = [{"start": x.start, "end": x.end} for x in intent.ranges]
        else:
            if intent.account_id is None:
                raise refuse("INVALID_REQUEST", "`quantity` needs an `account_id`.")
            account = r.account(intent.account_id, must_be_open=False)
            ranges = r.units(account, intent.quantity, intent.filters, None)
        return r.typed(
            "SetLabel",
            intent.signer,
            {"labelId": label_id, "applied": applied, "ranges": ranges},
        )

    return prepare_request(services, build)


@router.post("/labels/{label}/apply/prepare", response_model=PreparedRequest, tags=["labels"])
def prepare_apply_label(
    label: LabelPath, intent: LabelChangeIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare applying a label to units (the label's authority)."""
    return _prepare_label_change(services, label, intent, applied=True)


submit_route(
    router,
    "/labels/{label}/apply",
    "labels/apply",
    tags=["labels"],
    fixed={"applied": "true"},
    label=LabelPath,
)


@router.post("/labels/{label}/remove/prepare", response_model=PreparedRequest, tags=["labels"])
def prepare_remove_label(
    label: LabelPath, intent: LabelChangeIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare removing a label from units (the label's authority)."""
    return _prepare_label_change(services, label, intent, applied=False)


submit_route(
    router,
    "/labels/{label}/remove",
    "labels/remove",
    tags=["labels"],
    fixed={"applied": "false"},
    label=LabelPath,
)
