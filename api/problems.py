"""RFC 9457 problems with stable codes, and the mapping of contract custom errors onto them.

Domain code raises `Problem`; only the exception handlers in `api.app` turn it into HTTP. A code
is a promise to integrators: it never changes meaning once published.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from node.contracts import DecodedError

__all__ = [
    "API_CODES",
    "CONTRACT_ERROR_CODES",
    "HINT_ERRORS",
    "STATUS_OF",
    "Problem",
    "contract_problem",
    "refuse",
]

_TYPE_BASE = "https://registry.example/problems/"


@dataclass
class Problem(Exception):
    """Raised when a request cannot be served; becomes `application/problem+json` at the edge."""

    status: int
    code: str
    detail: str
    title: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.detail)

    def body(self, instance: str | None = None) -> dict[str, Any]:
        """Return the problem document."""
        document: dict[str, Any] = {
            "type": _TYPE_BASE + self.code.lower().replace("_", "-"),
            "title": self.title or self.code.replace("_", " ").capitalize(),
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance:
            document["instance"] = instance
        document.update(self.extra)
        return document


# Contract custom error -> (stable code, HTTP status). Several checks share a code where an
# integrator would act the same way on each (any missing right is NOT_AUTHORISED).
CONTRACT_ERROR_CODES: dict[str, tuple[str, int]] = {
    "DeadlineExpired": ("DEADLINE_EXPIRED", 422),
    "InvalidSigner": ("INVALID_SIGNATURE", 422),
    "ECDSAInvalidSignature": ("INVALID_SIGNATURE", 422),
    "ECDSAInvalidSignatureLength": ("INVALID_SIGNATURE", 422),
    "ECDSAInvalidSignatureS": ("INVALID_SIGNATURE", 422),
    "InvalidAccountNonce": ("NONCE_USED", 409),
    "NonceUsed": ("NONCE_USED", 409),
    "MissingRole": ("NOT_AUTHORISED", 403),
    "AccessControlUnauthorizedAccount": ("NOT_AUTHORISED", 403),
    "NotRepresentative": ("NOT_AUTHORISED", 403),
    "CannotInitiate": ("NOT_AUTHORISED", 403),
    "CannotApprove": ("NOT_AUTHORISED", 403),
    "NotLabelAuthority": ("NOT_AUTHORISED", 403),
    "ApproverIsInitiator": ("APPROVER_IS_INITIATOR", 403),
    "AccountNotFound": ("ACCOUNT_NOT_FOUND", 404),
    "AccountSuspended": ("ACCOUNT_SUSPENDED", 409),
    "AccountClosed": ("ACCOUNT_CLOSED", 409),
    "AccountCannotReceive": ("ACCOUNT_CANNOT_RECEIVE", 409),
    "InvalidAccountKind": ("INVALID_ACCOUNT_KIND", 422),
    "InvalidStatusChange": ("INVALID_STATUS_CHANGE", 409),
    "PrimaryRepresentativeRequired": ("PRIMARY_REPRESENTATIVE_REQUIRED", 422),
    "InvalidRepresentative": ("INVALID_REPRESENTATIVE", 422),
    "CannotRemovePrimary": ("CANNOT_REMOVE_PRIMARY", 409),
    "SameAccount": ("SAME_ACCOUNT", 422),
    "InvalidRange": ("INVALID_RANGE", 422),
    "SerialOutOfBounds": ("INVALID_RANGE", 422),
    "InvalidRangeCount": ("TOO_MANY_RANGES", 422),
    "BlockHintsMismatch": ("UNITS_NOT_HELD", 409),
    "BlockNotFound": ("UNITS_NOT_HELD", 409),
    "RangeNotInBlock": ("UNITS_NOT_HELD", 409),
    "TransferQuantityMismatch": ("UNITS_NOT_HELD", 409),
    "UnitsNotHeld": ("UNITS_NOT_HELD", 409),
    "UnitsLocked": ("UNITS_LOCKED", 409),
    "UnitsAlreadyCancelled": ("UNITS_CANCELLED", 409),
    "InvalidQuantity": ("INVALID_QUANTITY", 422),
    "SerialSpaceExhausted": ("SERIAL_SPACE_EXHAUSTED", 409),
    "ProjectNotFound": ("PROJECT_NOT_FOUND", 404),
    "ProjectAlreadyRegistered": ("PROJECT_EXISTS", 409),
    "EmptyProjectName": ("EMPTY_PROJECT_NAME", 422),
    "InvalidMonitoringPeriod": ("INVALID_MONITORING_PERIOD", 422),
    "MonitoringPeriodOverlap": ("DOUBLE_ISSUANCE", 409),
    "TransferNotFound": ("TRANSFER_NOT_FOUND", 404),
    "TransferNotPending": ("TRANSFER_NOT_PENDING", 409),
    "TransferRecordMismatch": ("TRANSFER_NOT_PENDING", 409),
    "LabelNotFound": ("LABEL_NOT_FOUND", 404),
    "InvalidLabel": ("INVALID_LABEL", 422),
    "BatchOutOfGas": ("RELAY_OUT_OF_GAS", 503),
    "LockedQuantityMismatch": ("UNITS_NOT_HELD", 409),
    # Platforms (CER Class B).
    "PlatformNotFound": ("PLATFORM_NOT_FOUND", 404),
    "PlatformAlreadyRegistered": ("PLATFORM_EXISTS", 409),
    "PlatformSuspended": ("PLATFORM_SUSPENDED", 403),
    "InvalidPlatformStatusChange": ("INVALID_STATUS_CHANGE", 409),
    "CustodialAccountRequired": ("CUSTODIAL_ACCOUNT_REQUIRED", 422),
    "CustodialAccountTaken": ("CUSTODIAL_ACCOUNT_TAKEN", 409),
    "InvalidPlatformSigner": ("INVALID_PLATFORM_SIGNER", 422),
    "PlatformSignerTaken": ("PLATFORM_SIGNER_TAKEN", 409),
    "NotPlatformSigner": ("NOT_AUTHORISED", 403),
    "ConsentNotFound": ("CONSENT_NOT_FOUND", 404),
    "ConsentNotActive": ("CONSENT_NOT_ACTIVE", 409),
    "ConsentAlreadyGranted": ("CONSENT_EXISTS", 409),
    "ConsentRequired": ("CONSENT_REQUIRED", 403),
    "ReservationNotFound": ("RESERVATION_NOT_FOUND", 404),
    "ReservationNotActive": ("RESERVATION_NOT_ACTIVE", 409),
    "EscrowNotFound": ("ESCROW_NOT_FOUND", 404),
    "EscrowNotActive": ("ESCROW_NOT_ACTIVE", 409),
    "NotEscrowController": ("NOT_AUTHORISED", 403),
    # Third-party certificates (CER Class C.1).
    "AssociationNotFound": ("ASSOCIATION_NOT_FOUND", 404),
    "AssociationNotActive": ("ASSOCIATION_NOT_ACTIVE", 409),
    "NotAssociationRegistry": ("NOT_AUTHORISED", 403),
    "InvalidCertificate": ("INVALID_CERTIFICATE", 422),
    "CertificateAlreadyUsed": ("CERTIFICATE_ALREADY_USED", 409),
    # Article 6 (IArticle6.sol).
    "PartyNotFound": ("PARTY_NOT_FOUND", 404),
    "InvalidParty": ("INVALID_PARTY", 422),
    "PartyRegistryIdChanged": ("PARTY_REGISTRY_ID_CHANGED", 409),
    "InvalidPartyAdministrator": ("INVALID_PARTY_ADMINISTRATOR", 422),
    "CooperativeApproachNotFound": ("COOPERATIVE_APPROACH_NOT_FOUND", 404),
    "InvalidCooperativeApproach": ("INVALID_COOPERATIVE_APPROACH", 422),
    "DuplicateParticipant": ("DUPLICATE_PARTICIPANT", 422),
    "PartyNotInApproach": ("PARTY_NOT_IN_APPROACH", 409),
    "NotPartyLabelAuthority": ("NOT_AUTHORISED", 403),
    "InvalidPurposes": ("INVALID_PURPOSES", 422),
    "InvalidFirstTransferDefinition": ("INVALID_FIRST_TRANSFER_DEFINITION", 422),
    "InvalidAuthorizationDate": ("INVALID_AUTHORIZATION_DATE", 422),
    "AuthorizationMismatch": ("AUTHORIZATION_MISMATCH", 409),
    "InvalidLetterId": ("INVALID_LETTER_ID", 422),
    "UnitsNotInPartySection": ("UNITS_NOT_IN_PARTY_SECTION", 409),
    "AuthorizationNotFound": ("AUTHORIZATION_NOT_FOUND", 404),
    "PurposeNotAuthorized": ("PURPOSE_NOT_AUTHORISED", 409),
    "MechanismNotConfigured": ("MECHANISM_NOT_CONFIGURED", 409),
    "MechanismAccountKindMismatch": ("MECHANISM_ACCOUNT_KIND_MISMATCH", 422),
    "IssuanceTooSmall": ("ISSUANCE_TOO_SMALL", 422),
    "ForwardedQuantityMismatch": ("FORWARDED_QUANTITY_MISMATCH", 422),
    "InvalidForwardCount": ("INVALID_FORWARD_COUNT", 422),
    "NotItmoBlock": ("NOT_ITMO_BLOCK", 409),
    # Inter-registry transfers (IInterop.sol).
    "InvalidPeer": ("INVALID_PEER", 422),
    "PeerNotFound": ("PEER_NOT_FOUND", 404),
    "InvalidPeerAccount": ("INVALID_PEER_ACCOUNT", 422),
    "OutboundNotFound": ("TRANSFER_NOT_FOUND", 404),
    "OutboundNotInStatus": ("TRANSFER_NOT_PENDING", 409),
    "ProposalAlreadySent": ("PROPOSAL_ALREADY_SENT", 409),
    "ProposalMismatch": ("INVALID_PROPOSAL", 422),
    "PeerSignatureInvalid": ("INVALID_SIGNATURE", 422),
    "AlreadyAnswered": ("ALREADY_ANSWERED", 409),
    "ProposalDeadlinePassed": ("PROPOSAL_DEADLINE_PASSED", 409),
    "InvalidAnswer": ("INVALID_ANSWER", 422),
    "InvalidAcquiringParty": ("INVALID_ACQUIRING_PARTY", 422),
}

# Codes of refusals the API decides itself, with no contract error behind them.
API_CODES: dict[str, int] = {
    # The request itself.
    "MALFORMED_JSON": 400,
    "JSON_TOO_DEEP": 400,
    "INVALID_CONTENT_LENGTH": 400,
    "PAYLOAD_TOO_LARGE": 413,
    "INVALID_REQUEST": 422,
    "INVALID_TYPED_DATA": 422,
    "WRONG_DOMAIN": 422,
    "INVALID_ACCOUNT_ID": 422,
    "INVALID_PROJECT_ID": 422,
    "INVALID_REQUEST_ID": 422,
    "INVALID_SERIAL": 422,
    "INVALID_TX_HASH": 422,
    "INVALID_EVENT_TYPE": 422,
    "INVALID_WEBHOOK_URL": 422,
    "WEBHOOK_URL_FORBIDDEN": 422,
    # Reads: paging, filters, snapshots.
    "INVALID_CURSOR": 422,
    "INVALID_FILTER": 422,
    "INVALID_FORMAT": 422,
    "INVALID_LIMIT": 422,
    "INVALID_SORT": 422,
    "INVALID_MIN_BLOCK": 422,
    "MIN_BLOCK_BEYOND_HEAD": 422,
    "BLOCK_NOT_INDEXED": 503,
    # Who is asking.
    "UNAUTHENTICATED": 401,
    "SIWE_INVALID": 401,
    "SIWE_WRONG_DOMAIN": 401,
    "SIWE_WRONG_CHAIN": 401,
    "SIWE_EXPIRED": 401,
    "SIWE_NOT_YET_VALID": 401,
    "SIWE_NONCE_INVALID": 401,
    "RATE_LIMITED": 429,
    # What the mirror shows before anything reaches the chain.
    "INSUFFICIENT_UNITS": 409,
    "NONCE_GAP": 409,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "REQUEST_NOT_FOUND": 404,
    "UNIT_NOT_FOUND": 404,
    "TX_NOT_FOUND": 404,
    "SUBSCRIPTION_NOT_FOUND": 404,
    "DELIVERY_NOT_FOUND": 404,
    "TOO_MANY_SUBSCRIPTIONS": 409,
    # Inter-registry transfers: what a peer sends.
    "PEER_UNREACHABLE": 502,
    "PEER_UNVERIFIED": 502,
    "INTEROP_UNAVAILABLE": 503,
    # The node itself.
    "CHAIN_REVERTED": 409,
    "CHAIN_UNAVAILABLE": 503,
    "INTERNAL_ERROR": 500,
}


def _status_of() -> dict[str, int]:
    status = dict(API_CODES)
    for code, code_status in CONTRACT_ERROR_CODES.values():
        if status.setdefault(code, code_status) != code_status:
            raise AssertionError(f"{code} has two statuses: {status[code]} and {code_status}")
    return status


# One status per code, for every code the API can answer with.
STATUS_OF: dict[str, int] = _status_of()


def refuse(code: str, detail: str, **kwargs: Any) -> Problem:
    """Return the problem for a refusal by its stable code; its status comes from the catalogue."""
    return Problem(STATUS_OF[code], code, detail, **kwargs)


# Errors that only say the unsigned block hints were stale: the relayer recomputes them from the
# mirror and sends the request again before reporting UNITS_NOT_HELD (decision D1).
HINT_ERRORS = frozenset(
    {
        "BlockHintsMismatch",
        "BlockNotFound",
        "RangeNotInBlock",
        "TransferQuantityMismatch",
        "LockedQuantityMismatch",
        # The pending transfer's record (D46) comes from the mirror too: a mirror behind the
        # chain supplies none, or a stale one.
        "TransferRecordMismatch",
    }
)


def contract_problem(error: DecodedError) -> Problem:
    """Return the problem a decoded contract revert stands for, keeping its arguments."""
    code, status = CONTRACT_ERROR_CODES.get(error.name, ("CHAIN_REVERTED", 409))
    return Problem(
        status,
        code,
        f"The registry contract refused the request: {error}.",
        extra={"contract_error": {"name": error.name, "args": _jsonable(error.args)}},
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
        return str(value)  # JSON numbers lose precision beyond 2^53
    return value
