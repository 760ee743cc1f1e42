"""Article 6 of the Paris Agreement: Parties, cooperative approaches, authorizations, Article 6.4
issuance, and ITMO transfers, uses and cancellations.

`POST /v1/article6/...` (API.md). The intents are resolved, and checked as far as the mirror can,
by the builders of `api.article6`, which also holds the checks submit runs; the records here are
what the routes (`api.routes.records`), the journal and OpenAPI are built from. The Article 6
reads stay in `api.routes.article6`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.article6 import (
    ARTICLE6_PRECHECKS,
    build_article64,
    build_authorization,
    build_cooperative_approach,
    build_itmo_cancellation,
    build_itmo_decision,
    build_itmo_transfer,
    build_mechanism_accounts,
    build_party,
)
from api.intents import Resolver
from api.operations import results
from api.operations.record import (
    ACCOUNT_ERRORS,
    ADMIN_ERRORS,
    RIGHT_ERRORS,
    UNIT_ERRORS,
    Builder,
    Operation,
    Prepare,
    Ready,
    TransferId,
)
from api.operations.transfers import PENDING, TRANSFER
from api.schemas import (
    ApproveIntent,
    Article64IssuanceIntent,
    AuthorizationIntent,
    CooperativeApproachIntent,
    ItmoCancellationIntent,
    ItmoTransferIntent,
    MechanismAccountsIntent,
    PartyIntent,
)

__all__ = ["OPERATIONS"]


def _ready(build: Callable[[Resolver, Any], dict[str, Any]]) -> Builder:
    """The record builder of an `api.article6` builder, which checks and completes the request."""

    def run(r: Resolver, intent: Any, _path: dict[str, Any]) -> Ready:
        return Ready(build(r, intent))

    return run


def _decision(approve: bool) -> Builder:
    def run(r: Resolver, intent: ApproveIntent, path: dict[str, Any]) -> Ready:
        return Ready(build_itmo_decision(r, path["transfer_id"], intent.signer, approve))

    return run


def _record(
    path: str,
    primary_type: str,
    summary: str,
    reader: Any,
    errors: tuple[str, ...],
    prepare: Prepare,
    **more: Any,
) -> Operation:
    return Operation(
        f"article6/{path}",
        primary_type,
        ARTICLE6_PRECHECKS[primary_type],
        summary,
        result=reader,
        prepare=prepare,
        errors=errors,
        **more,
    )


def _prepare(
    route: str, intent: Any, build: Builder, description: str, name: str, **params: Any
) -> Prepare:
    return Prepare(f"/article6/{route}", intent, build, description, "article6", params, name=name)


OPERATIONS: tuple[Operation, ...] = (
    _record(
        "parties",
        "RegisterParty",
        "Register a Party's section",
        results.register_party,
        (*ADMIN_ERRORS, "InvalidParty", "PartyRegistryIdChanged", "InvalidPartyAdministrator"),
        _prepare(
            "parties",
            PartyIntent,
            _ready(build_party),
            "Prepare registering a Party's section or replacing its authority and administrators.",
            "prepare_party",
        ),
    ),
    _record(
        "cooperative-approaches",
        "RegisterCooperativeApproach",
        "Register a cooperative approach",
        results.register_approach,
        (*ADMIN_ERRORS, "InvalidCooperativeApproach", "DuplicateParticipant", "PartyNotFound"),
        _prepare(
            "cooperative-approaches",
            CooperativeApproachIntent,
            _ready(build_cooperative_approach),
            "Prepare registering a cooperative approach and its participating Parties.",
            "prepare_cooperative_approach",
        ),
    ),
    _record(
        "mechanism-accounts",
        "SetMechanismAccounts",
        "Set the Article 6.4 mechanism accounts",
        results.set_mechanism_accounts,
        (*ADMIN_ERRORS, "AccountNotFound", "MechanismAccountKindMismatch"),
        _prepare(
            "mechanism-accounts",
            MechanismAccountsIntent,
            _ready(build_mechanism_accounts),
            "Prepare naming the Article 6.4 mechanism accounts (pending, holding, "
            "cancellation, ...).",
            "prepare_mechanism_accounts",
        ),
    ),
    _record(
        "authorizations",
        "Authorize",
        "Authorize units as ITMOs",
        results.authorize,
        (
            *ACCOUNT_ERRORS,
            *UNIT_ERRORS,
            "NotPartyLabelAuthority",
            "PartyNotFound",
            "CooperativeApproachNotFound",
            "PartyNotInApproach",
            "InvalidPurposes",
            "InvalidFirstTransferDefinition",
            "InvalidAuthorizationDate",
            "AuthorizationMismatch",
            "InvalidLetterId",
            "UnitsNotInPartySection",
        ),
        _prepare(
            "authorizations",
            AuthorizationIntent,
            _ready(build_authorization),
            "Prepare applying a Party's letter of authorization to units of its section.",
            "prepare_authorization",
        ),
    ),
    _record(
        "issuances",
        "IssueArticle64",
        "Issue Article 6.4 units with share of proceeds and OMGE",
        results.issue_article64,
        (
            "SameAccount",
            *ADMIN_ERRORS,
            *ACCOUNT_ERRORS,
            "AccountCannotReceive",
            "ProjectNotFound",
            "MechanismNotConfigured",
            "IssuanceTooSmall",
            "ForwardedQuantityMismatch",
            "InvalidForwardCount",
            "InvalidMonitoringPeriod",
            "MonitoringPeriodOverlap",
            "InvalidQuantity",
            "SerialSpaceExhausted",
        ),
        _prepare(
            "issuances",
            Article64IssuanceIntent,
            _ready(build_article64),
            "Prepare an Article 6.4 issuance: pending account, 5% share of proceeds, 2% OMGE, "
            "forwards.",
            "prepare_article64",
        ),
    ),
    _record(
        "transfers",
        "TransferItmos",
        "Initiate an ITMO transfer",
        results.transfer_itmos,
        (
            "PartyNotFound",
            "PartyNotInApproach",
            *ACCOUNT_ERRORS,
            *RIGHT_ERRORS,
            *UNIT_ERRORS,
            "SameAccount",
            "AccountCannotReceive",
            "AuthorizationNotFound",
            "NotItmoBlock",
            "UnitsNotInPartySection",
        ),
        _prepare(
            "transfers",
            ItmoTransferIntent,
            _ready(build_itmo_transfer),
            "Prepare a transfer of ITMOs of one authorization.",
            "prepare_itmo_transfer",
        ),
    ),
    _record(
        "transfers/out",
        "TransferItmosOut",
        "Transfer ITMOs to an account of a peer registry",
        results.transfer_out,
        (
            "PeerNotFound",
            "INVALID_ACCOUNT_ID",
            "PartyNotFound",
            "InvalidAcquiringParty",
            "PartyNotInApproach",
            *ACCOUNT_ERRORS,
            *RIGHT_ERRORS,
            *UNIT_ERRORS,
            "AuthorizationNotFound",
            "NotItmoBlock",
            "UnitsNotInPartySection",
        ),
        _prepare(
            "transfers/out",
            ItmoTransferIntent,
            _ready(build_itmo_transfer),
            "Prepare a transfer of ITMOs to a peer registry's account (decision D47); also what "
            "`transfers/prepare` returns for such an account.",
            "prepare_itmo_transfer_out",
        ),
    ),
    _record(
        "transfers/approve",
        "ApproveItmoTransfer",
        "Approve a pending ITMO transfer",
        results.approve_itmo_transfer,
        (
            "PartyNotFound",
            "PartyNotInApproach",
            *ACCOUNT_ERRORS,
            *RIGHT_ERRORS,
            *UNIT_ERRORS,
            "TransferNotFound",
            "TransferNotPending",
            "ApproverIsInitiator",
            "AccountCannotReceive",
            "AuthorizationNotFound",
            "INVALID_TYPED_DATA",
        ),
        _prepare(
            "transfers/{transfer_id}/approve",
            ApproveIntent,
            _decision(approve=True),
            "Prepare approving a pending ITMO transfer.",
            "prepare_itmo_approve",
            transfer_id=TransferId,
        ),
        lock=PENDING,
        subject=TRANSFER,
    ),
    _record(
        "transfers/rescind",
        "RescindItmoTransfer",
        "Rescind a pending ITMO transfer",
        results.rescind_itmo_transfer,
        (
            *ACCOUNT_ERRORS,
            *RIGHT_ERRORS,
            "TransferNotFound",
            "TransferNotPending",
            "INVALID_TYPED_DATA",
        ),
        _prepare(
            "transfers/{transfer_id}/rescind",
            ApproveIntent,
            _decision(approve=False),
            "Prepare rescinding a pending ITMO transfer.",
            "prepare_itmo_rescind",
            transfer_id=TransferId,
        ),
        lock=PENDING,
        subject=TRANSFER,
    ),
    _record(
        "cancellations",
        "CancelItmos",
        "Cancel ITMOs for a use or voluntarily",
        results.cancel_itmos,
        (
            *ACCOUNT_ERRORS,
            *RIGHT_ERRORS,
            *UNIT_ERRORS,
            "AuthorizationNotFound",
            "PurposeNotAuthorized",
            "NotItmoBlock",
        ),
        _prepare(
            "cancellations",
            ItmoCancellationIntent,
            _ready(build_itmo_cancellation),
            "Prepare using ITMOs towards an NDC or OIMP, or cancelling them (voluntary, OMGE).",
            "prepare_itmo_cancellation",
        ),
    ),
)
