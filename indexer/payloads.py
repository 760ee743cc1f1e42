"""Typed payloads of the registry's events: one frozen dataclass per event, fields in ABI order.

A field is the ABI input's name in snake_case with the value exactly as `node.ledger` decodes it
(integers for uintN and enums, checksummed addresses, 0x-hex for fixed bytes). `decode` turns a
`DecodedEvent`'s argument dict into its payload, so handlers read `p.transfer_id`, which mypy
checks, instead of `args["transferId"]`, which nothing checks. `tests/indexer/test_reducer.py`
holds every payload against the packaged ABI, so a changed or new event cannot drift silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from operator import itemgetter
from typing import Any

from node.ledger import DecodedEvent

__all__ = ["IGNORED_EVENTS", "PAYLOADS", "abi_name", "decode", "decode_args"]

# Events the registry emits that change nothing the mirror derives (access control, EIP-712).
IGNORED_EVENTS = frozenset(
    {"EIP712DomainChanged", "RoleAdminChanged", "RoleGranted", "RoleRevoked"}
)


@dataclass(frozen=True, slots=True)
class AccountOpened:
    account_id: int
    kind: int
    approval_policy: int
    party: str  # 0x-hex bytes8
    holder_name: str


@dataclass(frozen=True, slots=True)
class AccountStatusChanged:
    account_id: int
    status: int


@dataclass(frozen=True, slots=True)
class BatchItemFailed:
    index: int
    reason: str  # 0x-hex bytes


@dataclass(frozen=True, slots=True)
class BlockChanged:
    start: int
    end: int
    account_id: int
    state: int
    lock_id: int


@dataclass(frozen=True, slots=True)
class LabelChanged:
    start: int
    end: int
    label_id: int
    applied: bool


@dataclass(frozen=True, slots=True)
class LabelDefined:
    label_id: int
    name: str  # 0x-hex bytes32
    authority: str  # checksummed address


@dataclass(frozen=True, slots=True)
class ProjectRegistered:
    project_id: str  # 0x-hex bytes32
    name: str
    methodology: str
    country: str  # 0x-hex bytes8


@dataclass(frozen=True, slots=True)
class ProjectUpdated:
    project_id: str  # 0x-hex bytes32
    name: str
    methodology: str


@dataclass(frozen=True, slots=True)
class RepresentativeSet:
    account_id: int
    representative: str  # checksummed address
    primary: bool
    can_initiate: bool
    can_approve: bool


@dataclass(frozen=True, slots=True)
class RequestExecuted:
    signer: str  # checksummed address
    nonce: int
    digest: str  # 0x-hex bytes32


@dataclass(frozen=True, slots=True)
class TransferCompleted:
    transfer_id: int
    approver: str  # checksummed address


@dataclass(frozen=True, slots=True)
class TransferExecuted:
    from_account: int
    to_account: int
    transfer_id: int
    initiator: str  # checksummed address
    quantity: int


@dataclass(frozen=True, slots=True)
class TransferInitiated:
    transfer_id: int
    from_account: int
    to_account: int
    initiator: str  # checksummed address
    quantity: int


@dataclass(frozen=True, slots=True)
class TransferRescinded:
    transfer_id: int
    representative: str  # checksummed address


@dataclass(frozen=True, slots=True)
class UnitsCancelled:
    cancellation_id: int
    account_id: int
    purpose: int
    quantity: int
    beneficiary: str
    reason: str


@dataclass(frozen=True, slots=True)
class UnitsIssued:
    issuance_id: int
    project_id: str  # 0x-hex bytes32
    account_id: int
    unit_type: str  # 0x-hex bytes32
    vintage: int
    monitoring_start: int
    monitoring_end: int
    origin_registry: str  # 0x-hex bytes8
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ConsentGranted:
    consent_id: int
    account_id: int
    platform: str  # checksummed address
    scope: int


@dataclass(frozen=True, slots=True)
class ConsentRevoked:
    consent_id: int
    representative: str  # checksummed address


@dataclass(frozen=True, slots=True)
class EscrowReleased:
    escrow_id: int
    account_id: int
    signer: str  # checksummed address
    quantity: int


@dataclass(frozen=True, slots=True)
class EscrowSettled:
    escrow_id: int
    to_account: int
    signer: str  # checksummed address
    quantity: int


@dataclass(frozen=True, slots=True)
class PlatformRegistered:
    platform: str  # checksummed address
    name: str
    custodial_account: int


@dataclass(frozen=True, slots=True)
class PlatformSignerSet:
    platform: str  # checksummed address
    signer: str  # checksummed address
    enabled: bool


@dataclass(frozen=True, slots=True)
class PlatformStatusChanged:
    platform: str  # checksummed address
    status: int


@dataclass(frozen=True, slots=True)
class ReservationReleased:
    reservation_id: int
    account_id: int
    platform: str  # checksummed address
    representative: str  # checksummed address


@dataclass(frozen=True, slots=True)
class ReservationTransferred:
    reservation_id: int
    transfer_id: int
    custodial_account: int
    representative: str  # checksummed address


@dataclass(frozen=True, slots=True)
class UnitsEscrowed:
    escrow_id: int
    account_id: int
    platform: str  # checksummed address
    quantity: int


@dataclass(frozen=True, slots=True)
class UnitsReserved:
    reservation_id: int
    account_id: int
    platform: str  # checksummed address
    quantity: int


@dataclass(frozen=True, slots=True)
class AssociationRetired:
    association_id: int
    cancellation_id: int
    third_party_registry: str  # checksummed address
    certificate_id: str  # 0x-hex bytes32


@dataclass(frozen=True, slots=True)
class UnitsAssociated:
    association_id: int
    account_id: int
    third_party_registry: str  # checksummed address
    certificate_id: str  # 0x-hex bytes32
    quantity: int


@dataclass(frozen=True, slots=True)
class UnitsDissociated:
    association_id: int
    account_id: int
    third_party_registry: str  # checksummed address


@dataclass(frozen=True, slots=True)
class Article64Distributed:
    issuance_id: int
    share: int
    account_id: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Article64Issued:
    issuance_id: int
    cancellation_id: int
    pending_account: int
    quantity: int
    share_of_proceeds: int
    omge: int
    forwarded: int


@dataclass(frozen=True, slots=True)
class Article6ActionRecorded:
    operation_id: int
    authorization_id: int
    action: int
    start: int
    end: int
    account_id: int
    party: str  # 0x-hex bytes8
    counterparty: str  # 0x-hex bytes8


@dataclass(frozen=True, slots=True)
class Article6LabelsDefined:
    ndc_label: int
    oimp_label: int
    first_transferred_label: int


@dataclass(frozen=True, slots=True)
class AuthorizationRecorded:
    authorization_id: int
    party: str  # 0x-hex bytes8
    approach_id: str  # 0x-hex bytes32
    letter_id: str  # 0x-hex bytes32
    purposes: int
    first_transfer_definition: int
    authorized_at: int


@dataclass(frozen=True, slots=True)
class CooperativeApproachRegistered:
    approach_id: str  # 0x-hex bytes32
    name: str
    parties: list[str]


@dataclass(frozen=True, slots=True)
class ItmoTransferInitiated:
    transfer_id: int
    authorization_id: int


@dataclass(frozen=True, slots=True)
class MechanismAccountsSet:
    pending: int
    holding: int
    cancellation: int
    omge_cancellation: int
    share_of_proceeds: int


@dataclass(frozen=True, slots=True)
class PartyRegistered:
    party: str  # 0x-hex bytes8
    registry_id: str  # 0x-hex bytes8
    label_authority: str  # checksummed address
    administrators: list[str]


# -- inter-registry transfers (InteropModule, docs/interop.md) ------------------------------


@dataclass(frozen=True, slots=True)
class PeerSet:
    registry_code: str  # 0x-hex bytes8
    operator: str  # checksummed address
    chain_id: int
    registry: str  # checksummed address
    api_url: str


@dataclass(frozen=True, slots=True)
class TransferOutInitiated:
    transfer_id: int
    from_account: int
    to_registry: str  # 0x-hex bytes8
    to_account: int
    initiator: str  # checksummed address
    quantity: int


@dataclass(frozen=True, slots=True)
class TransferOutApproved:
    transfer_id: int
    approver: str  # checksummed address


@dataclass(frozen=True, slots=True)
class ProposalSent:
    transfer_id: int
    proposal_digest: str  # 0x-hex bytes32
    signer: str  # checksummed address
    deadline: int
    signature: str  # 0x-hex bytes


@dataclass(frozen=True, slots=True)
class ProposalReceived:
    source_registry: str  # 0x-hex bytes8
    transfer_id: int
    proposal_digest: str  # 0x-hex bytes32
    signer: str  # checksummed address
    deadline: int
    signature: str  # 0x-hex bytes


@dataclass(frozen=True, slots=True)
class AnswerRecorded:
    source_registry: str  # 0x-hex bytes8
    transfer_id: int
    dest_registry: str  # 0x-hex bytes8
    accepted: bool
    reason: int
    answer_digest: str  # 0x-hex bytes32
    signer: str  # checksummed address
    signature: str  # 0x-hex bytes


@dataclass(frozen=True, slots=True)
class UnitsImported:
    source_registry: str  # 0x-hex bytes8
    transfer_id: int
    start: int
    end: int
    origin_start: int
    origin_end: int


PAYLOADS: dict[str, type[Any]] = {
    "AccountOpened": AccountOpened,
    "AccountStatusChanged": AccountStatusChanged,
    "BatchItemFailed": BatchItemFailed,
    "BlockChanged": BlockChanged,
    "LabelChanged": LabelChanged,
    "LabelDefined": LabelDefined,
    "ProjectRegistered": ProjectRegistered,
    "ProjectUpdated": ProjectUpdated,
    "RepresentativeSet": RepresentativeSet,
    "RequestExecuted": RequestExecuted,
    "TransferCompleted": TransferCompleted,
    "TransferExecuted": TransferExecuted,
    "TransferInitiated": TransferInitiated,
    "TransferRescinded": TransferRescinded,
    "UnitsCancelled": UnitsCancelled,
    "UnitsIssued": UnitsIssued,
    "ConsentGranted": ConsentGranted,
    "ConsentRevoked": ConsentRevoked,
    "EscrowReleased": EscrowReleased,
    "EscrowSettled": EscrowSettled,
    "PlatformRegistered": PlatformRegistered,
    "PlatformSignerSet": PlatformSignerSet,
    "PlatformStatusChanged": PlatformStatusChanged,
    "ReservationReleased": ReservationReleased,
    "ReservationTransferred": ReservationTransferred,
    "UnitsEscrowed": UnitsEscrowed,
    "UnitsReserved": UnitsReserved,
    "AssociationRetired": AssociationRetired,
    "UnitsAssociated": UnitsAssociated,
    "UnitsDissociated": UnitsDissociated,
    "Article64Distributed": Article64Distributed,
    "Article64Issued": Article64Issued,
    "Article6ActionRecorded": Article6ActionRecorded,
    "Article6LabelsDefined": Article6LabelsDefined,
    "AuthorizationRecorded": AuthorizationRecorded,
    "CooperativeApproachRegistered": CooperativeApproachRegistered,
    "ItmoTransferInitiated": ItmoTransferInitiated,
    "MechanismAccountsSet": MechanismAccountsSet,
    "PartyRegistered": PartyRegistered,
    "PeerSet": PeerSet,
    "TransferOutInitiated": TransferOutInitiated,
    "TransferOutApproved": TransferOutApproved,
    "ProposalSent": ProposalSent,
    "ProposalReceived": ProposalReceived,
    "AnswerRecorded": AnswerRecorded,
    "UnitsImported": UnitsImported,
}


def abi_name(field_name: str) -> str:
    """Return the ABI input name of a payload field (snake_case back to camelCase)."""
    head, *rest = field_name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _reader(cls: type[Any]) -> Callable[[dict[str, Any]], Any]:
    names = [abi_name(f.name) for f in fields(cls)]
    if len(names) == 1:
        only = names[0]
        return lambda args: cls(args[only])
    get = itemgetter(*names)
    return lambda args: cls(*get(args))


_READERS = {name: _reader(cls) for name, cls in PAYLOADS.items()}


def decode(event: DecodedEvent) -> Any:
    """Return an event's typed payload, or None for an event no payload describes."""
    reader = _READERS.get(event.name)
    return None if reader is None else reader(event.args)


def decode_args(name: str, args: dict[str, Any]) -> Any:
    """Return the typed payload of an event given by name and arguments, or None."""
    reader = _READERS.get(name)
    return None if reader is None else reader(args)
