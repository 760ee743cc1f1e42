"""The registry contract's signing contract: EIP-712 types, typed data, and call arguments.

The type definitions here mirror `contracts/src/libraries/RequestHashing.sol` and
`PlatformHashing.sol` field for field; the integration tests prove the two agree, because a mismatch
makes every signature fail on-chain.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

__all__ = [
    "AUXILIARY_TYPES",
    "OPERATIONS",
    "PROTOCOL_TYPES",
    "REQUEST_TYPES",
    "AccountKind",
    "AccountStatus",
    "ApprovalPolicy",
    "Article6Action",
    "Article64Share",
    "AssociationStatus",
    "AuthorizationPurpose",
    "CancellationPurpose",
    "ConsentScope",
    "ConsentStatus",
    "EscrowStatus",
    "FirstTransferDefinition",
    "Operation",
    "OutboundStatus",
    "PendingTransfer",
    "PlatformStatus",
    "ReservationStatus",
    "SignedRequest",
    "TransferStatus",
    "UnitState",
    "bytes32_text",
    "request_digest",
    "sign_typed_data",
    "text_bytes8",
    "text_bytes32",
    "typed_data",
]


class AccountKind(enum.IntEnum):
    """Account kinds, as in `RegistryTypes.sol`."""

    NONE = 0
    HOLDING = 1
    CUSTODIAL = 2
    PENDING = 3
    CANCELLATION = 4
    OMGE_CANCELLATION = 5
    SHARE_OF_PROCEEDS = 6


class AccountStatus(enum.IntEnum):
    """Account statuses, as in `RegistryTypes.sol`."""

    NONE = 0
    OPEN = 1
    SUSPENDED = 2
    CLOSED = 3


class ApprovalPolicy(enum.IntEnum):
    """Transfer approval policies, as in `RegistryTypes.sol`."""

    TWO_PERSON = 0
    SINGLE = 1


class UnitState(enum.IntEnum):
    """Unit block states, as in `RegistryTypes.sol`."""

    NONE = 0
    HELD = 1
    PENDING = 2
    RESERVED = 3
    ESCROWED = 4
    ASSOCIATED = 5
    CANCELLED = 6
    IN_TRANSIT = 7
    TRANSFERRED_OUT = 8


class CancellationPurpose(enum.IntEnum):
    """Cancellation purposes, as in `RegistryTypes.sol`."""

    VOLUNTARY = 0
    NDC_USE = 1
    OMGE = 2
    OIMP = 3


class TransferStatus(enum.IntEnum):
    """Transfer statuses, as in `RegistryTypes.sol`."""

    NONE = 0
    PENDING = 1
    COMPLETED = 2
    RESCINDED = 3


class OutboundStatus(enum.IntEnum):
    """Statuses of a transfer to a peer registry, as in `InteropTypes.sol`."""

    NONE = 0
    PENDING = 1
    IN_TRANSIT = 2
    TRANSFERRED = 3
    RETURNED = 4


class PlatformStatus(enum.IntEnum):
    """Platform statuses, as in `PlatformTypes.sol`."""

    NONE = 0
    ACTIVE = 1
    SUSPENDED = 2


class ConsentScope(enum.IntEnum):
    """What a consent lets a platform see, as in `PlatformTypes.sol`."""

    HOLDINGS = 0
    RESERVED = 1
    ESCROWED = 2


class ConsentStatus(enum.IntEnum):
    """Consent statuses, as in `PlatformTypes.sol`."""

    NONE = 0
    ACTIVE = 1
    REVOKED = 2


class ReservationStatus(enum.IntEnum):
    """Reservation statuses, as in `PlatformTypes.sol`."""

    NONE = 0
    ACTIVE = 1
    RELEASED = 2
    TRANSFERRED = 3


class EscrowStatus(enum.IntEnum):
    """Escrow statuses, as in `PlatformTypes.sol`."""

    NONE = 0
    ACTIVE = 1
    SETTLED = 2
    RELEASED = 3


class AssociationStatus(enum.IntEnum):
    """Third-party certificate association statuses, as in `PlatformTypes.sol`."""

    NONE = 0
    ACTIVE = 1
    DISSOCIATED = 2
    RETIRED = 3


class FirstTransferDefinition(enum.IntEnum):
    """When an authorized unit's first transfer is recorded, as in `Article6Types.sol`."""

    NONE = 0
    AT_AUTHORIZATION = 1
    AT_ISSUANCE = 2
    AT_USE_OR_CANCELLATION = 3


class Article6Action(enum.IntEnum):
    """Article 6 actions recorded per serial range, as in `Article6Types.sol`."""

    NONE = 0
    AUTHORIZATION = 1
    FIRST_TRANSFER = 2
    TRANSFER = 3
    ACQUISITION = 4
    USE_TOWARDS_NDC = 5
    USE_FOR_OIMP = 6
    VOLUNTARY_CANCELLATION = 7
    OMGE_CANCELLATION = 8


class Article64Share(enum.IntEnum):
    """Parts of an Article 6.4 issuance, as in `Article6Types.sol`."""

    NONE = 0
    SHARE_OF_PROCEEDS = 1
    OMGE = 2
    FORWARDED = 3


class AuthorizationPurpose(enum.IntFlag):
    """Bits of an authorization's `purposes`: `PURPOSE_NDC`, `PURPOSE_OIMP` in Article6Types.sol."""

    NDC = 1
    OIMP = 2


def _fields(spec: str) -> list[dict[str, str]]:
    return [
        {"name": name, "type": typ}
        for typ, name in (part.strip().split(" ") for part in spec.split(","))
    ]


_RANGE = _fields("uint64 start, uint64 end")
_FORWARD = _fields("uint64 accountId, uint64 quantity")
_REPRESENTATIVE = _fields("address addr, bool primary, bool canInitiate, bool canApprove")
_TAIL = "uint256 nonce, uint256 deadline"

# primaryType -> its fields, in the order of the Solidity structs and type strings.
REQUEST_TYPES: dict[str, list[dict[str, str]]] = {
    "OpenAccount": _fields(
        "address signer, uint8 kind, string holderName, bytes8 party, uint8 approvalPolicy, "
        f"Representative[] representatives, {_TAIL}"
    ),
    "SetRepresentative": _fields(
        f"address signer, uint64 accountId, Representative representative, {_TAIL}"
    ),
    "SetAccountStatus": _fields(f"address signer, uint64 accountId, uint8 status, {_TAIL}"),
    "RegisterProject": _fields(
        "address signer, bytes32 projectId, string name, string methodology, bytes8 country, "
        f"{_TAIL}"
    ),
    "DefineLabel": _fields(f"address signer, bytes32 name, address authority, {_TAIL}"),
    "Issue": _fields(
        "address signer, bytes32 projectId, bytes32 unitType, uint16 vintage, "
        "uint64 monitoringStart, uint64 monitoringEnd, bytes8 originRegistry, uint64 quantity, "
        f"uint64 toAccount, uint256 labels, {_TAIL}"
    ),
    "InitiateTransfer": _fields(
        f"address signer, uint64 fromAccount, uint64 toAccount, Range[] ranges, {_TAIL}"
    ),
    "ApproveTransfer": _fields(f"address signer, uint64 transferId, {_TAIL}"),
    "RescindTransfer": _fields(f"address signer, uint64 transferId, {_TAIL}"),
    "Cancel": _fields(
        "address signer, uint64 accountId, Range[] ranges, uint8 purpose, string beneficiary, "
        f"string reason, {_TAIL}"
    ),
    "SetLabel": _fields(f"address signer, uint8 labelId, bool applied, Range[] ranges, {_TAIL}"),
    # Platform models and third-party certificates: `PlatformHashing.sol`.
    "RegisterPlatform": _fields(
        "address signer, address platform, string name, uint64 custodialAccount, "
        f"address[] signers, {_TAIL}"
    ),
    "SetPlatformSigner": _fields(
        f"address signer, address platform, address platformSigner, bool enabled, {_TAIL}"
    ),
    "SetPlatformStatus": _fields(f"address signer, address platform, uint8 status, {_TAIL}"),
    "GrantConsent": _fields(
        f"address signer, uint64 accountId, address platform, uint8 scope, {_TAIL}"
    ),
    "RevokeConsent": _fields(f"address signer, uint64 consentId, {_TAIL}"),
    "Reserve": _fields(
        f"address signer, uint64 accountId, address platform, Range[] ranges, {_TAIL}"
    ),
    "ReleaseReservation": _fields(f"address signer, uint64 reservationId, {_TAIL}"),
    "TransferReservation": _fields(f"address signer, uint64 reservationId, {_TAIL}"),
    "Escrow": _fields(
        f"address signer, uint64 accountId, address platform, Range[] ranges, {_TAIL}"
    ),
    "SettleEscrow": _fields(f"address signer, uint64 escrowId, uint64 toAccount, {_TAIL}"),
    "ReleaseEscrow": _fields(f"address signer, uint64 escrowId, {_TAIL}"),
    "Associate": _fields(
        "address signer, uint64 accountId, address thirdPartyRegistry, bytes32 certificateId, "
        f"Range[] ranges, {_TAIL}"
    ),
    "Dissociate": _fields(f"address signer, uint64 associationId, {_TAIL}"),
    "RetireAssociation": _fields(
        f"address signer, uint64 associationId, string beneficiary, string reason, {_TAIL}"
    ),
    # Article 6 (Article6Hashing.sol).
    "RegisterParty": _fields(
        "address signer, bytes8 party, bytes8 registryId, address labelAuthority, "
        f"address[] administrators, {_TAIL}"
    ),
    "RegisterCooperativeApproach": _fields(
        f"address signer, bytes32 approachId, string name, bytes8[] parties, {_TAIL}"
    ),
    "SetMechanismAccounts": _fields(
        "address signer, uint64 pending, uint64 holding, uint64 cancellation, "
        f"uint64 omgeCancellation, uint64 shareOfProceeds, {_TAIL}"
    ),
    "Authorize": _fields(
        "address signer, bytes8 party, bytes32 letterId, bytes32 approachId, uint8 purposes, "
        f"uint8 firstTransferDefinition, uint64 authorizedAt, Range[] ranges, {_TAIL}"
    ),
    "IssueArticle64": _fields(
        "address signer, bytes32 projectId, bytes32 unitType, uint16 vintage, "
        "uint64 monitoringStart, uint64 monitoringEnd, uint64 quantity, Forward[] forwards, "
        f"{_TAIL}"
    ),
    "TransferItmos": _fields(
        "address signer, uint64 fromAccount, uint64 toAccount, uint64 authorizationId, "
        f"Range[] ranges, {_TAIL}"
    ),
    "ApproveItmoTransfer": _fields(f"address signer, uint64 transferId, {_TAIL}"),
    "RescindItmoTransfer": _fields(f"address signer, uint64 transferId, {_TAIL}"),
    "CancelItmos": _fields(
        "address signer, uint64 accountId, uint64 authorizationId, Range[] ranges, uint8 purpose, "
        f"string beneficiary, string reason, {_TAIL}"
    ),
    # Inter-registry transfers (InteropHashing.sol); their protocol messages are PROTOCOL_TYPES.
    "SetPeer": _fields(
        "address signer, bytes8 registryCode, string apiUrl, address operator, uint64 chainId, "
        f"address registry, {_TAIL}"
    ),
    "TransferOut": _fields(
        f"address signer, uint64 fromAccount, bytes8 toRegistry, uint64 toAccount, Range[] ranges, "
        f"{_TAIL}"
    ),
    "ApproveTransferOut": _fields(f"address signer, uint64 transferId, {_TAIL}"),
    "TransferItmosOut": _fields(
        "address signer, uint64 fromAccount, bytes8 toRegistry, uint64 toAccount, bytes8 toParty, "
        f"uint64 authorizationId, Range[] ranges, {_TAIL}"
    ),
}

# The inter-registry protocol's messages (InteropHashing.sol, docs/interop.md): signed by a
# registry's operator, not by a user, so no API route prepares them.
PROTOCOL_TYPES: dict[str, list[dict[str, str]]] = {
    "Proposal": _fields(
        "address signer, uint64 transferId, bytes8 sourceRegistry, bytes8 destRegistry, "
        "uint64 fromAccount, uint64 toAccount, InteropUnit[] units, ItmoTerms[] itmos, "
        f"{_TAIL}"
    ),
    "Answer": _fields(
        "address signer, uint64 transferId, Proposal proposal, bytes proposalSignature, "
        f"bool accepted, uint8 reason, {_TAIL}"
    ),
}
_SIGNED_TYPES = {**REQUEST_TYPES, **PROTOCOL_TYPES}

# Struct types requests embed, by name.
AUXILIARY_TYPES: dict[str, list[dict[str, str]]] = {
    "Range": _RANGE,
    "Representative": _REPRESENTATIVE,
    "Forward": _FORWARD,
    "InteropUnit": _fields(
        "uint64 start, uint64 end, bytes32 projectId, bytes32 unitType, uint16 vintage, "
        "uint64 monitoringStart, uint64 monitoringEnd, bytes8 originRegistry, bytes32[] labels"
    ),
    "ItmoTerms": _fields(
        "uint64 authorizationId, bytes8 authorizingParty, bytes32 approachId, bytes32 letterId, "
        "uint8 purposes, uint8 firstTransferDefinition, uint64 authorizedAt, "
        "bytes8 transferringParty, bytes8 acquiringParty"
    ),
    "Proposal": PROTOCOL_TYPES["Proposal"],
}
_AUXILIARY = AUXILIARY_TYPES


@dataclass(frozen=True)
class Operation:
    """How a signed request reaches the contract: its function and the unsigned arguments it takes.

    `takes_pending_record`: a decision on a two-person transfer also carries the transfer's
    record (decision D46), between the signature and the block hints.
    """

    function: str
    takes_block_hints: bool
    takes_pending_record: bool = False


@dataclass(frozen=True)
class PendingTransfer:
    """A pending two-person transfer's record, as its TransferInitiated event logs it.

    The contract stores only `record_hash()` (decision D46); approve and rescind are relayed with
    the record, unsigned like the block hints, and refused (`TransferRecordMismatch`) unless it
    hashes to the stored value.
    """

    from_account: int
    to_account: int
    quantity: int
    initiator: str

    def as_tuple(self) -> tuple[int, int, int, str]:
        """Return the record as the contract's `PendingTransfer` struct argument."""
        return (
            self.from_account,
            self.to_account,
            self.quantity,
            to_checksum_address(self.initiator),
        )

    def record_hash(self) -> bytes:
        """Return `keccak256(abi.encode(record))`, what `pendingTransferHash` reads on-chain."""
        from eth_abi.abi import encode as abi_encode

        return keccak(abi_encode(["uint64", "uint64", "uint64", "address"], list(self.as_tuple())))


# What a decision is relayed with when no record is known: it matches no pending transfer, so the
# contract refuses it (TransferNotPending or TransferRecordMismatch) and changes nothing.
_NO_RECORD = PendingTransfer(0, 0, 0, "0x" + "00" * 20)


OPERATIONS: dict[str, Operation] = {
    "OpenAccount": Operation("openAccount", False),
    "SetRepresentative": Operation("setRepresentative", False),
    "SetAccountStatus": Operation("setAccountStatus", False),
    "RegisterProject": Operation("registerProject", False),
    "DefineLabel": Operation("defineLabel", False),
    "Issue": Operation("issue", False),
    "InitiateTransfer": Operation("initiateTransfer", True),
    "ApproveTransfer": Operation("approveTransfer", True, takes_pending_record=True),
    "RescindTransfer": Operation("rescindTransfer", True, takes_pending_record=True),
    "Cancel": Operation("cancel", True),
    "SetLabel": Operation("setLabel", True),
    "RegisterPlatform": Operation("registerPlatform", False),
    "SetPlatformSigner": Operation("setPlatformSigner", False),
    "SetPlatformStatus": Operation("setPlatformStatus", False),
    "GrantConsent": Operation("grantConsent", False),
    "RevokeConsent": Operation("revokeConsent", False),
    "Reserve": Operation("reserve", True),
    "ReleaseReservation": Operation("releaseReservation", True),
    "TransferReservation": Operation("transferReservation", True),
    "Escrow": Operation("escrow", True),
    "SettleEscrow": Operation("settleEscrow", True),
    "ReleaseEscrow": Operation("releaseEscrow", True),
    "Associate": Operation("associate", True),
    "Dissociate": Operation("dissociate", True),
    "RetireAssociation": Operation("retireAssociation", True),
    "RegisterParty": Operation("registerParty", False),
    "RegisterCooperativeApproach": Operation("registerCooperativeApproach", False),
    "SetMechanismAccounts": Operation("setMechanismAccounts", False),
    "Authorize": Operation("authorize", True),
    "IssueArticle64": Operation("issueArticle64", False),
    "TransferItmos": Operation("transferItmos", True),
    "ApproveItmoTransfer": Operation("approveItmoTransfer", True),
    "RescindItmoTransfer": Operation("rescindItmoTransfer", True),
    "CancelItmos": Operation("cancelItmos", True),
    "SetPeer": Operation("setPeer", False),
    "TransferOut": Operation("transferOut", True),
    "ApproveTransferOut": Operation("approveTransferOut", True),
    "TransferItmosOut": Operation("transferItmosOut", True),
    "Proposal": Operation("sendProposal", False),
    "Answer": Operation("recordAnswer", True),
}


def typed_data(
    primary_type: str, message: dict[str, Any], chain_id: int, verifying_contract: str
) -> dict[str, Any]:
    """Return the full EIP-712 typed data of a request for the registry's domain."""
    if primary_type not in _SIGNED_TYPES:
        raise ValueError(
            f"unknown request type {primary_type!r}; expected one of {list(_SIGNED_TYPES)}"
        )
    types: dict[str, Any] = {
        "EIP712Domain": _fields(
            "string name, string version, uint256 chainId, address verifyingContract"
        ),
        primary_type: _SIGNED_TYPES[primary_type],
    }
    todo = [primary_type]
    while todo:  # embedded structs, and the structs they embed (an Answer embeds a Proposal)
        for field in types[todo.pop()]:
            base = field["type"].removesuffix("[]")
            if base in _AUXILIARY and base not in types:
                types[base] = _AUXILIARY[base]
                todo.append(base)
    return {
        "types": types,
        "primaryType": primary_type,
        "domain": {
            "name": "UnitRegistry",
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": verifying_contract,
        },
        "message": message,
    }


def sign_typed_data(account: LocalAccount, data: dict[str, Any]) -> bytes:
    """Sign typed data with an eth-account key and return the 65-byte signature."""
    signed = account.sign_message(encode_typed_data(full_message=data))
    return bytes(signed.signature)


def request_digest(data: dict[str, Any]) -> bytes:
    """Return the EIP-712 digest of typed data, the id the contract logs in RequestExecuted."""
    signable = encode_typed_data(full_message=data)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def _as_tuple(fields: list[dict[str, str]], value: dict[str, Any]) -> tuple[Any, ...]:
    out: list[Any] = []
    for field in fields:
        typ, item = field["type"], value[field["name"]]
        base = typ.removesuffix("[]")
        if base in _AUXILIARY:
            if typ.endswith("[]"):
                out.append([_as_tuple(_AUXILIARY[base], v) for v in item])
            else:
                out.append(_as_tuple(_AUXILIARY[base], item))
        elif typ.startswith("bytes") and isinstance(item, str):
            out.append(bytes.fromhex(item.removeprefix("0x")))
        elif typ.startswith("bytes") and typ.endswith("[]"):
            out.append(
                [bytes.fromhex(v.removeprefix("0x")) if isinstance(v, str) else v for v in item]
            )
        else:
            out.append(item)
    return tuple(out)


@dataclass(frozen=True)
class SignedRequest:
    """A request signed by its signer, ready for the relayer."""

    typed_data: dict[str, Any]
    signature: bytes
    block_hints: tuple[int, ...] = ()
    # The record of the transfer an ApproveTransfer or RescindTransfer decides (D46), unsigned.
    pending: PendingTransfer | None = None

    @property
    def primary_type(self) -> str:
        """Return the request's EIP-712 primary type, e.g. "InitiateTransfer"."""
        return str(self.typed_data["primaryType"])

    @property
    def digest(self) -> bytes:
        """Return the EIP-712 digest that identifies the request on-chain."""
        return request_digest(self.typed_data)

    @property
    def signer(self) -> str:
        """Return the address named as the request's signer."""
        return str(self.typed_data["message"]["signer"])

    @property
    def nonce(self) -> int:
        """Return the request's signer nonce."""
        return int(self.typed_data["message"]["nonce"])

    def call_args(self) -> tuple[str, list[Any]]:
        """Return the contract function name and its arguments."""
        operation = OPERATIONS[self.primary_type]
        request = _as_tuple(_SIGNED_TYPES[self.primary_type], self.typed_data["message"])
        args: list[Any] = [request, self.signature]
        if operation.takes_pending_record:
            args.append((self.pending or _NO_RECORD).as_tuple())
        if operation.takes_block_hints:
            args.append(list(self.block_hints))
        return operation.function, args


def text_bytes32(text: str) -> bytes:
    """Encode a short ASCII identifier (project id, unit type, label) as right-padded bytes32."""
    raw = text.encode("ascii")
    if not raw or len(raw) > 32:
        raise ValueError(f"identifier must be 1 to 32 ASCII characters, got {text!r}")
    return raw.ljust(32, b"\0")


def text_bytes8(text: str) -> bytes:
    """Encode a registry or Party code as right-padded bytes8."""
    raw = text.encode("ascii")
    if len(raw) > 8:
        raise ValueError(f"code must be at most 8 ASCII characters, got {text!r}")
    return raw.ljust(8, b"\0")


def bytes32_text(value: bytes | str) -> str:
    """Decode a right-padded bytes32/bytes8 identifier, given as bytes or as 0x-hex text."""
    raw = bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else bytes(value)
    return raw.rstrip(b"\0").decode("ascii", errors="replace")


@dataclass(frozen=True)
class DecodedError:
    """A contract custom error decoded from revert data."""

    name: str
    args: dict[str, Any]

    def __str__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        return f"{self.name}({inner})"


class ErrorDecoder:
    """Decode revert data into the contract's custom errors, via a precomputed selector map."""

    def __init__(self, abi: list[dict[str, Any]]) -> None:
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for item in abi:
            if item["type"] != "error":
                continue
            types = [_abi_type(i) for i in item["inputs"]]
            selector = keccak(f"{item['name']}({','.join(types)})".encode())[:4]
            self._errors[selector] = (item["name"], [i["name"] for i in item["inputs"]], types)
        # Solidity's built-in Error(string) and Panic(uint256).
        self._errors[bytes.fromhex("08c379a0")] = ("Error", ["message"], ["string"])
        self._errors[bytes.fromhex("4e487b71")] = ("Panic", ["code"], ["uint256"])

    def decode(self, data: bytes) -> DecodedError:
        """Return the decoded error, or `UnknownRevert` with the raw data."""
        from eth_abi.abi import decode as abi_decode

        if len(data) < 4 or data[:4] not in self._errors:
            return DecodedError("UnknownRevert", {"data": "0x" + data.hex()})
        name, names, types = self._errors[data[:4]]
        try:
            values = abi_decode(types, data[4:])
        except Exception:  # malformed revert data is reported, never raised
            return DecodedError("UnknownRevert", {"data": "0x" + data.hex()})
        return DecodedError(
            name, {n: _plain(t, v) for n, t, v in zip(names, types, values, strict=True)}
        )


def _abi_type(param: dict[str, Any]) -> str:
    typ = str(param["type"])
    if typ.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){typ.removeprefix('tuple')}"
    return typ


def _plain(typ: str, value: Any) -> Any:
    """Return a decoded value as events carry it too: checksummed addresses, hex bytes."""
    if typ == "address":
        return to_checksum_address(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value
