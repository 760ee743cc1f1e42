"""Every signed write the registry takes, one record each: the one list submit, the journal and
OpenAPI are built from.

A record names the operation's path (its submit route, without the ids a route carries), the
EIP-712 request it accepts, the check prepare and submit both run, how the journal finds the
blocks of a lock the request decides, and the summary OpenAPI shows. Adding an operation is one
record here (docs/adding-an-operation.md); a test fails for a request type with no record.
"""

from __future__ import annotations

from api.operations import (
    admin,
    article6,
    associations,
    consents,
    escrows,
    platforms,
    reservations,
    results,
    transfers,
    units,
)
from api.operations.interop_checks import INTEROP_PRECHECKS
from api.operations.prechecks import Precheck
from api.operations.record import (
    ACCOUNT_ERRORS,
    ADMIN_ERRORS,
    RIGHT_ERRORS,
    UNIT_ERRORS,
    LockDecision,
    Operation,
    Prepare,
    Subject,
)
from api.operations.results import ResultReader
from indexer.models import InteropTransfer, table_of

__all__ = [
    "ALTERNATE_OPERATIONS",
    "LOCK_DECISIONS",
    "OPERATIONS",
    "OPERATION_TYPES",
    "PRECHECKS",
    "REQUEST_ERRORS",
    "RESULTS",
    "SUBJECTS",
    "SUBMIT_ERRORS",
    "LockDecision",
    "Operation",
    "Prepare",
    "Subject",
    "operation",
]


_TRANSFER = transfers.TRANSFER
_TRANSFER_OUT = Subject(
    "transferId",
    table_of(InteropTransfer),
    "from_account",
    id_column="transfer_id",
    scope=(("direction", "out"),),
)

_PENDING = transfers.PENDING

OPERATIONS: tuple[Operation, ...] = (
    # Administration: accounts, projects, labels, issuance; declared with their routes.
    *admin.OPERATIONS,
    # Transfers, cancellation, labels.
    *transfers.OPERATIONS,
    *units.OPERATIONS,
    # Platform models (CER Class B).
    *platforms.OPERATIONS,
    *consents.OPERATIONS,
    *reservations.OPERATIONS,
    # Escrows (CER Class B.5): declared with their routes in their own module.
    *escrows.OPERATIONS,
    # Third-party certificates (CER Class C.1): declared with their routes in their module.
    *associations.OPERATIONS,
    # Article 6.
    *article6.OPERATIONS,
    # Inter-registry transfers (docs/interop.md).
    Operation(
        "admin/peers",
        "SetPeer",
        INTEROP_PRECHECKS["SetPeer"],
        "Record a peer registry",
        result=results.set_peer,
        errors=(*ADMIN_ERRORS, "InvalidPeer"),
    ),
    Operation(
        "transfers/out",
        "TransferOut",
        INTEROP_PRECHECKS["TransferOut"],
        "Transfer units to an account of a peer registry",
        result=results.transfer_out,
        errors=(
            *ACCOUNT_ERRORS,
            *RIGHT_ERRORS,
            *UNIT_ERRORS,
            "PeerNotFound",
            "InvalidPeerAccount",
            "INVALID_ACCOUNT_ID",
        ),
    ),
    Operation(
        "transfers/out/approve",
        "ApproveTransferOut",
        INTEROP_PRECHECKS["ApproveTransferOut"],
        "Approve a pending transfer to a peer registry",
        _PENDING,
        subject=_TRANSFER_OUT,
        result=results.approve_transfer_out,
        errors=(
            *ACCOUNT_ERRORS,
            *RIGHT_ERRORS,
            *UNIT_ERRORS,
            "OutboundNotFound",
            "OutboundNotInStatus",
            "ApproverIsInitiator",
            "INVALID_TYPED_DATA",
        ),
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


# What every write can answer besides its record's errors: a body the API cannot take, or a chain
# it cannot reach (prepare and submit), and the signed request's own checks (submit).
REQUEST_ERRORS: tuple[str, ...] = (
    "MALFORMED_JSON",
    "JSON_TOO_DEEP",
    "INVALID_CONTENT_LENGTH",
    "PAYLOAD_TOO_LARGE",
    "INVALID_REQUEST",
    "CHAIN_UNAVAILABLE",
)
SUBMIT_ERRORS: tuple[str, ...] = (
    "INVALID_TYPED_DATA",
    "WRONG_DOMAIN",
    "InvalidSigner",
    "DeadlineExpired",
    "NonceUsed",
    "NONCE_GAP",
    "RATE_LIMITED",
)


def operation(path: str) -> Operation:
    """Return the record of an operation by its path, e.g. "transfers/approve"."""
    return _BY_PATH[path]
