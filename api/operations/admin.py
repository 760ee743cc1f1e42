"""Administration: accounts and their representatives, projects, label definitions, issuance.

`POST /v1/admin/accounts`, `/v1/admin/accounts/{account_id}/representatives`,
`/v1/admin/accounts/{account_id}/status`, `/v1/admin/projects`, `/v1/admin/labels` and
`/v1/admin/issuances` (API.md, stable). The registry administrator signs them; issuers register
projects and issue.

Served from these records alone (`api.routes.records`), like the escrow family.
"""

from __future__ import annotations

from typing import Any

from api.intents import (
    KINDS,
    POLICIES,
    STATUSES,
    Resolver,
    bytes8_hex,
    bytes32_hex,
    day_end,
    day_start,
)
from api.operations import results
from api.operations.prechecks import (
    check_account_path,
    check_admin,
    check_issue,
    check_open_account,
    check_project,
)
from api.operations.record import ACCOUNT_ERRORS, ADMIN_ERRORS, AccountPath, Operation, Prepare
from api.operations.refusals import Refusal
from api.schemas import (
    AccountIntent,
    DefineLabelIntent,
    IssuanceIntent,
    ProjectIntent,
    SetRepresentativeIntent,
    SetStatusIntent,
)

__all__ = ["OPERATIONS"]

# The routes keep the tags and names they had when a route module declared them.
_ADMIN = ("admin",)


def _open_account(_r: Resolver, intent: AccountIntent, _path: dict[str, Any]) -> dict[str, Any]:
    return {
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
    }


def _representative(
    r: Resolver, intent: SetRepresentativeIntent, path: dict[str, Any]
) -> dict[str, Any]:
    r.require_role(intent.signer, "registry_admin")
    account = r.account(path["account_id"], must_be_open=False)
    return {
        "signer": intent.signer,
        "accountId": account.id,
        "representative": {
            "addr": intent.address,
            "primary": intent.primary,
            "canInitiate": intent.can_initiate,
            "canApprove": intent.can_approve,
        },
    }


def _status(r: Resolver, intent: SetStatusIntent, path: dict[str, Any]) -> dict[str, Any]:
    r.require_role(intent.signer, "registry_admin")
    account = r.account(path["account_id"], must_be_open=False)
    return {"signer": intent.signer, "accountId": account.id, "status": STATUSES[intent.status]}


def _project(_r: Resolver, intent: ProjectIntent, _path: dict[str, Any]) -> dict[str, Any]:
    return {
        "signer": intent.signer,
        "projectId": bytes32_hex(intent.project_id),
        "name": intent.name,
        "methodology": intent.methodology,
        "country": bytes8_hex(intent.country),
    }


def _label(_r: Resolver, intent: DefineLabelIntent, _path: dict[str, Any]) -> dict[str, Any]:
    return {
        "signer": intent.signer,
        "name": bytes32_hex(intent.name),
        "authority": intent.authority,
    }


def _issue(r: Resolver, intent: IssuanceIntent, _path: dict[str, Any]) -> dict[str, Any]:
    if intent.monitoring_period_end < intent.monitoring_period_start:
        raise Refusal("InvalidMonitoringPeriod", "The monitoring period ends before it starts.")
    r.require_role(intent.signer, "issuer")
    account = r.account(intent.to_account)
    labels = 0
    for name in intent.labels:
        labels |= 1 << r.label_id(name)
    return {
        "signer": intent.signer,
        "projectId": bytes32_hex(intent.project_id),
        "unitType": bytes32_hex(intent.unit_type),
        "vintage": intent.vintage,
        "monitoringStart": day_start(intent.monitoring_period_start),
        "monitoringEnd": day_end(intent.monitoring_period_end),
        "originRegistry": bytes8_hex(intent.origin_registry or ""),
        "quantity": intent.quantity,
        "toAccount": account.id,
        "labels": labels,
    }


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "admin/accounts",
        "OpenAccount",
        check_open_account,
        "Open an account",
        result=results.open_account,
        errors=(
            *ADMIN_ERRORS,
            "InvalidRepresentative",
            "PrimaryRepresentativeRequired",
            "InvalidAccountKind",
            "PartyNotFound",
        ),
        prepare=Prepare(
            "/admin/accounts",
            AccountIntent,
            _open_account,
            "Prepare opening an account (registry administrator).",
            "writes",
            more_tags=_ADMIN,
            name="prepare_account",
        ),
    ),
    Operation(
        "admin/accounts/representatives",
        "SetRepresentative",
        check_account_path,
        "Appoint, change or remove an authorised representative",
        result=results.set_representative,
        errors=(
            "INVALID_ACCOUNT_ID",
            *ADMIN_ERRORS,
            "AccountNotFound",
            "AccountClosed",
            "InvalidRepresentative",
            "CannotRemovePrimary",
            "PrimaryRepresentativeRequired",
            "INVALID_TYPED_DATA",
        ),
        prepare=Prepare(
            "/admin/accounts/{account_id}/representatives",
            SetRepresentativeIntent,
            _representative,
            "Prepare appointing, changing or removing an authorised representative.",
            "writes",
            {"account_id": AccountPath},
            _ADMIN,
            name="prepare_representative",
        ),
    ),
    Operation(
        "admin/accounts/status",
        "SetAccountStatus",
        check_account_path,
        "Suspend, reopen or close an account",
        result=results.set_account_status,
        errors=(
            "INVALID_ACCOUNT_ID",
            *ADMIN_ERRORS,
            "AccountNotFound",
            "InvalidStatusChange",
            "INVALID_TYPED_DATA",
        ),
        prepare=Prepare(
            "/admin/accounts/{account_id}/status",
            SetStatusIntent,
            _status,
            "Prepare suspending, reopening or closing an account.",
            "writes",
            {"account_id": AccountPath},
            _ADMIN,
            name="prepare_status",
        ),
    ),
    Operation(
        "admin/projects",
        "RegisterProject",
        check_project,
        "Register a project",
        result=results.register_project,
        errors=(*ADMIN_ERRORS, "ProjectAlreadyRegistered"),
        prepare=Prepare(
            "/admin/projects",
            ProjectIntent,
            _project,
            "Prepare registering a project (administrator or issuer).",
            "writes",
            more_tags=_ADMIN,
            name="prepare_project",
        ),
    ),
    Operation(
        "admin/labels",
        "DefineLabel",
        check_admin,
        "Define an eligibility label",
        result=results.define_label,
        errors=(*ADMIN_ERRORS, "InvalidLabel"),
        prepare=Prepare(
            "/admin/labels",
            DefineLabelIntent,
            _label,
            "Prepare defining an eligibility label and its authority.",
            "writes",
            more_tags=_ADMIN,
            name="prepare_label",
        ),
    ),
    Operation(
        "admin/issuances",
        "Issue",
        check_issue,
        "Issue units into an account",
        result=results.issue,
        errors=(
            *ADMIN_ERRORS,
            *ACCOUNT_ERRORS,
            "AccountCannotReceive",
            "ProjectNotFound",
            "LabelNotFound",
            "InvalidMonitoringPeriod",
            "MonitoringPeriodOverlap",
            "InvalidQuantity",
            "SerialSpaceExhausted",
        ),
        prepare=Prepare(
            "/admin/issuances",
            IssuanceIntent,
            _issue,
            "Prepare issuing units into an account (issuer).",
            "writes",
            more_tags=_ADMIN,
            name="prepare_issuance",
        ),
    ),
)
