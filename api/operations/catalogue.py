"""Every signed write the registry takes, one record each: the one list submit, the journal and
OpenAPI are built from.

A record names the operation's path (its submit route, without the ids a route carries), the
EIP-712 request it accepts, the check prepare and submit both run, how the journal finds the
blocks of a lock the request decides, and the summary OpenAPI shows. Adding an operation is one
record here (docs/adding-an-operation.md); a test fails for a request type with no record.
"""

from __future__ import annotations

from api.article6 import ARTICLE6_PRECHECKS
from api.operations import associations, escrows, results
from api.operations import prechecks as check
from api.operations.interop_checks import INTEROP_PRECHECKS
from api.operations.prechecks import Precheck
from api.operations.record import LockDecision, Operation, Prepare, Subject
from api.operations.results import ResultReader
from indexer.models import Consent, InteropTransfer, Reservation, Transfer, table_of

__all__ = [
    "ALTERNATE_OPERATIONS",
    "LOCK_DECISIONS",
    "OPERATIONS",
    "OPERATION_TYPES",
    "PRECHECKS",
    "RESULTS",
    "SUBJECTS",
    "LockDecision",
    "Operation",
    "Prepare",
    "Subject",
    "operation",
]


_TRANSFER = Subject("transferId", table_of(Transfer), "from_account")
_RESERVATION = Subject("reservationId", table_of(Reservation), "account_id")
_CONSENT = Subject("consentId", table_of(Consent), "account_id")
_TRANSFER_OUT = Subject(
    "transferId",
    table_of(InteropTransfer),
    "from_account",
    id_column="transfer_id",
    scope=(("direction", "out"),),
)

_PENDING = LockDecision("pending", "transferId")
_RESERVED = LockDecision("reserved", "reservationId")

OPERATIONS: tuple[Operation, ...] = (
    # Administration: accounts, projects, labels, issuance.
    Operation(
        "admin/accounts",
        "OpenAccount",
        check.check_open_account,
        "Open an account",
        result=results.open_account,
    ),
    Operation(
        "admin/accounts/representatives",
        "SetRepresentative",
        check.check_account_path,
        "Appoint, change or remove an authorised representative",
        result=results.set_representative,
    ),
    Operation(
        "admin/accounts/status",
        "SetAccountStatus",
        check.check_account_path,
        "Suspend, reopen or close an account",
        result=results.set_account_status,
    ),
    Operation(
        "admin/projects",
        "RegisterProject",
        check.check_project,
        "Register a project",
        result=results.register_project,
    ),
    Operation(
        "admin/labels",
        "DefineLabel",
        check.check_admin,
        "Define an eligibility label",
        result=results.define_label,
    ),
    Operation(
        "admin/issuances",
        "Issue",
        check.check_issue,
        "Issue units into an account",
        result=results.issue,
    ),
    # Transfers, cancellation, labels.
    Operation(
        "transfers",
        "InitiateTransfer",
        check.check_transfer,
        "Initiate a transfer",
        result=results.initiate_transfer,
    ),
    Operation(
        "transfers/approve",
        "ApproveTransfer",
        check.check_decide("approve"),
        "Approve a pending transfer",
        _PENDING,
        subject=_TRANSFER,
        result=results.approve_transfer,
    ),
    Operation(
        "transfers/rescind",
        "RescindTransfer",
        check.check_decide("appointed"),
        "Rescind a pending transfer",
        _PENDING,
        subject=_TRANSFER,
        result=results.rescind_transfer,
    ),
    Operation("cancellations", "Cancel", check.check_cancel, "Cancel units", result=results.cancel),
    Operation(
        "labels/apply",
        "SetLabel",
        check.check_label,
        "Apply a label to serial ranges",
        result=results.set_label,
    ),
    Operation(
        "labels/remove",
        "SetLabel",
        check.check_label,
        "Remove a label from serial ranges",
        result=results.set_label,
    ),
    # Platform models (CER Class B).
    Operation(
        "admin/platforms",
        "RegisterPlatform",
        check.check_register_platform,
        "Register a platform",
        result=results.register_platform,
    ),
    Operation(
        "admin/platforms/signers",
        "SetPlatformSigner",
        check.check_platform_path,
        "Enable or disable a platform's signer",
        result=results.set_platform_signer,
    ),
    Operation(
        "admin/platforms/status",
        "SetPlatformStatus",
        check.check_platform_path,
        "Suspend or reinstate a platform",
        result=results.set_platform_status,
    ),
    Operation(
        "consents",
        "GrantConsent",
        check.check_grant_consent,
        "Grant a platform consent",
        result=results.grant_consent,
    ),
    Operation(
        "consents/revoke",
        "RevokeConsent",
        check.check_revoke_consent,
        "Revoke a consent",
        subject=_CONSENT,
        result=results.revoke_consent,
    ),
    Operation(
        "reservations",
        "Reserve",
        check.check_lock("reserved"),
        "Reserve units",
        result=results.reserve,
    ),
    Operation(
        "reservations/release",
        "ReleaseReservation",
        check.check_reservation("appointed"),
        "Release a reservation",
        _RESERVED,
        subject=_RESERVATION,
        result=results.release_reservation,
    ),
    Operation(
        "reservations/transfer",
        "TransferReservation",
        check.check_reservation("initiate", transfer=True),
        "Transfer reserved units into the platform's custody",
        _RESERVED,
        subject=_RESERVATION,
        result=results.transfer_reservation,
    ),
    # Escrows (CER Class B.5): declared with their routes in their own module.
    *escrows.OPERATIONS,
    # Third-party certificates (CER Class C.1): declared with their routes in their module.
    *associations.OPERATIONS,
    # Article 6.
    Operation(
        "article6/parties",
        "RegisterParty",
        ARTICLE6_PRECHECKS["RegisterParty"],
        "Register a Party's section",
        result=results.register_party,
    ),
    Operation(
        "article6/cooperative-approaches",
        "RegisterCooperativeApproach",
        ARTICLE6_PRECHECKS["RegisterCooperativeApproach"],
        "Register a cooperative approach",
        result=results.register_approach,
    ),
    Operation(
        "article6/mechanism-accounts",
        "SetMechanismAccounts",
        ARTICLE6_PRECHECKS["SetMechanismAccounts"],
        "Set the Article 6.4 mechanism accounts",
        result=results.set_mechanism_accounts,
    ),
    Operation(
        "article6/authorizations",
        "Authorize",
        ARTICLE6_PRECHECKS["Authorize"],
        "Authorize units as ITMOs",
        result=results.authorize,
    ),
    Operation(
        "article6/issuances",
        "IssueArticle64",
        ARTICLE6_PRECHECKS["IssueArticle64"],
        "Issue Article 6.4 units with share of proceeds and OMGE",
        result=results.issue_article64,
    ),
    Operation(
        "article6/transfers",
        "TransferItmos",
        ARTICLE6_PRECHECKS["TransferItmos"],
        "Initiate an ITMO transfer",
        result=results.transfer_itmos,
    ),
    Operation(
        "article6/transfers/approve",
        "ApproveItmoTransfer",
        ARTICLE6_PRECHECKS["ApproveItmoTransfer"],
        "Approve a pending ITMO transfer",
        _PENDING,
        subject=_TRANSFER,
        result=results.approve_itmo_transfer,
    ),
    Operation(
        "article6/transfers/rescind",
        "RescindItmoTransfer",
        ARTICLE6_PRECHECKS["RescindItmoTransfer"],
        "Rescind a pending ITMO transfer",
        _PENDING,
        subject=_TRANSFER,
        result=results.rescind_itmo_transfer,
    ),
    Operation(
        "article6/cancellations",
        "CancelItmos",
        ARTICLE6_PRECHECKS["CancelItmos"],
        "Cancel ITMOs for a use or voluntarily",
        result=results.cancel_itmos,
    ),
    # Inter-registry transfers (docs/interop.md).
    Operation(
        "admin/peers",
        "SetPeer",
        INTEROP_PRECHECKS["SetPeer"],
        "Record a peer registry",
        result=results.set_peer,
    ),
    Operation(
        "transfers/out",
        "TransferOut",
        INTEROP_PRECHECKS["TransferOut"],
        "Transfer units to an account of a peer registry",
        result=results.transfer_out,
    ),
    Operation(
        "article6/transfers/out",
        "TransferItmosOut",
        ARTICLE6_PRECHECKS["TransferItmosOut"],
        "Transfer ITMOs to an account of a peer registry",
        result=results.transfer_out,
    ),
    Operation(
        "transfers/out/approve",
        "ApproveTransferOut",
        INTEROP_PRECHECKS["ApproveTransferOut"],
        "Approve a pending transfer to a peer registry",
        _PENDING,
        subject=_TRANSFER_OUT,
        result=results.approve_transfer_out,
    ),
)

_BY_PATH = {op.path: op for op in OPERATIONS}
if len(_BY_PATH) != len(OPERATIONS):
    raise AssertionError("two operations share a path")

# Derived views, for the code that needs only one aspect.
OPERATION_TYPES: dict[str, str] = {op.path: op.primary_type for op in OPERATIONS}
PRECHECKS: dict[str, Precheck] = {op.primary_type: op.precheck for op in OPERATIONS}
RESULTS: dict[str, ResultReader] = {op.primary_type: op.result for op in OPERATIONS}
SUBJECTS: dict[str, Subject] = {
    op.primary_type: op.subject for op in OPERATIONS if op.subject is not None
}
LOCK_DECISIONS: dict[str, LockDecision] = {
    op.primary_type: op.lock for op in OPERATIONS if op.lock is not None
}
# A peer's answer, relayed by the interop worker (no route): on the source it settles the
# transfer's InTransit blocks (docs/interop.md).
LOCK_DECISIONS["Answer"] = LockDecision("in_transit", "transferId")

# Another request type a route's submission may carry: a transfer whose `to_account` is a peer
# registry's account is a TransferOut (prepared by POST /v1/transfers/prepare like any transfer).
ALTERNATE_OPERATIONS: dict[tuple[str, str], str] = {
    ("transfers", "TransferOut"): "transfers/out",
    ("article6/transfers", "TransferItmosOut"): "article6/transfers/out",
}


def operation(path: str) -> Operation:
    """Return the record of an operation by its path, e.g. "transfers/approve"."""
    return _BY_PATH[path]
