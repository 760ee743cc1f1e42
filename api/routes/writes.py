"""Signed writes, each in two calls: `POST .../prepare` with an intent, then `POST ...` signed.

Paths and intent fields follow API.md's write table (stable); representative and status
changes, label definitions and label changes follow the same pattern.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ServicesDep
from api.intents import (
    KINDS,
    POLICIES,
    PURPOSES,
    STATUSES,
    Resolver,
    bytes8_hex,
    bytes32_hex,
    day_end,
    day_start,
)
from api.interop import peer_account, transfer_out_request
from api.operations.edge import AccountPath, LabelPath, TransferId, prepare_request, submit_route
from api.problems import refuse
from api.schemas import (
    AccountIntent,
    ApproveIntent,
    CancellationIntent,
    DefineLabelIntent,
    IssuanceIntent,
    LabelChangeIntent,
    PreparedRequest,
    ProjectIntent,
    SetRepresentativeIntent,
    SetStatusIntent,
    TransferIntent,
)
from api.services import Services
from api.writes import checked_request

__all__ = ["router"]

router = APIRouter(tags=["writes"])

# -- accounts ---------------------------------------------------------------------------------


@router.post("/admin/accounts/prepare", response_model=PreparedRequest, tags=["admin"])
def prepare_account(intent: AccountIntent, services: ServicesDep) -> PreparedRequest:
    """Prepare opening an account (registry administrator)."""

    def build(r: Resolver) -> dict[str, Any]:
        return checked_request(
            r,
            "OpenAccount",
            {
                "signer": intent.signer,
                "kind": KINDS[intent.kind],
                "holderName": intent.holder_name,
                "party": bytes8_hex(intent.party or ""),
                "approvalPolicy": POLICIES[intent.approval_policy],
                "representatives": [
                    {
                        "addr": rep.address,
                        "primary": rep.primary,
                        "canInitiate": rep.can_initiate,
                        "canApprove": rep.can_approve,
                    }
                    for rep in intent.representatives
                ],
            },
        )

    return prepare_request(services, build)


submit_route(router, "/admin/accounts", "admin/accounts", tags=["admin"])


@router.post(
    "/admin/accounts/{account_id}/representatives/prepare",
    response_model=PreparedRequest,
    tags=["admin"],
)
def prepare_representative(
    account_id: AccountPath, intent: SetRepresentativeIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare appointing, changing or removing an authorised representative."""

    def build(r: Resolver) -> dict[str, Any]:
        r.require_role(intent.signer, "registry_admin")
        account = r.account(account_id, must_be_open=False)
        return r.typed(
            "SetRepresentative",
            intent.signer,
            {
                "accountId": account.id,
                "representative": {
                    "addr": intent.address,
                    "primary": intent.primary,
                    "canInitiate": intent.can_initiate,
                    "canApprove": intent.can_approve,
                },
            },
        )

    return prepare_request(services, build)


submit_route(
    router,
    "/admin/accounts/{account_id}/representatives",
    "admin/accounts/representatives",
    tags=["admin"],
    account_id=AccountPath,
)


@router.post(
    "/admin/accounts/{account_id}/status/prepare", response_model=PreparedRequest, tags=["admin"]
)
def prepare_status(
    account_id: AccountPath, intent: SetStatusIntent, services: ServicesDep
) -> PreparedRequest:
    """Prepare suspending, reopening or closing an account."""

    def build(r: Resolver) -> dict[str, Any]:
        r.require_role(intent.signer, "registry_admin")
        account = r.account(account_id, must_be_open=False)
        return r.typed(
            "SetAccountStatus",
            intent.signer,
            {"accountId": account.id, "status": STATUSES[intent.status]},
        )

    return prepare_request(services, build)


submit_route(
    router,
    "/admin/accounts/{account_id}/status",
    "admin/accounts/status",
    tags=["admin"],
    account_id=AccountPath,
)


# -- projects, labels, issuances ------------------------------------------------------------


@router.post("/admin/projects/prepare", response_model=PreparedRequest, tags=["admin"])
def prepare_project(intent: ProjectIntent, services: ServicesDep) -> PreparedRequest:
    """Prepare registering a project (administrator or issuer)."""

    def build(r: Resolver) -> dict[str, Any]:
        r.require_role(intent.signer, "registry_admin", "issuer")
        return r.typed(
            "RegisterProject",
            intent.signer,
            {
                "projectId": bytes32_hex(intent.project_id),
                "name": intent.name,
                "methodology": intent.methodology,
                "country": bytes8_hex(intent.country),
            },
        )

    return prepare_request(services, build)


submit_route(router, "/admin/projects", "admin/projects", tags=["admin"])


@router.post("/admin/labels/prepare", response_model=PreparedRequest, tags=["admin"])
def prepare_label(intent: DefineLabelIntent, services: ServicesDep) -> PreparedRequest:
    """Prepare defining an eligibility label and its authority."""

    def build(r: Resolver) -> dict[str, Any]:
        r.require_role(intent.signer, "registry_admin")
        return r.typed(
            "DefineLabel",
            intent.signer,
            {"name": bytes32_hex(intent.name), "authority": intent.authority},
        )

    return prepare_request(services, build)


submit_route(router, "/admin/labels", "admin/labels", tags=["admin"])


@router.post("/admin/issuances/prepare", response_model=PreparedRequest, tags=["admin"])
def prepare_issuance(intent: IssuanceIntent, services: ServicesDep) -> PreparedRequest:
    """Prepare issuing units into an account (issuer)."""
    if intent.monitoring_period_end < intent.monitoring_period_start:
        raise refuse("INVALID_MONITORING_PERIOD", "The monitoring period ends before it starts.")

    def build(r: Resolver) -> dict[str, Any]:
        r.require_role(intent.signer, "issuer")
        account = r.account(intent.to_account)
        labels = 0
        for name in intent.labels:
            labels |= 1 << r.label_id(name)
        return r.typed(
            "Issue",
            intent.signer,
            {
                "projectId": bytes32_hex(intent.project_id),
                "unitType": bytes32_hex(intent.unit_type),
                "vintage": intent.vintage,
                "monitoringStart": day_start(intent.monitoring_period_start),
                "monitoringEnd": day_end(intent.monitoring_period_end),
                "originRegistry": bytes8_hex(intent.origin_registry or ""),
                "quantity": intent.quantity,
                "toAccount": account.id,
                "labels": labels,
            },
        )

    return prepare_request(services, build)


submit_route(router, "/admin/issuances", "admin/issuances", tags=["admin"])


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
