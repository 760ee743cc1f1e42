"""The signed writes the SDK knows: one row per operation, mirroring the API's catalogue.

A row names the operation's path as a template (the ids a route carries in braces), the EIP-712
request type its typed data must have, and how each intent field appears in the signed message,
so `check` can compare the two before signing. A test keeps this table equal to the server's
catalogue (paths and primary types).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["OPERATIONS", "Field", "OperationSpec", "resolve"]

# How an intent (or path) value appears in the message: "account" ("AU-1000001" -> 1000001),
# "address" (case-insensitive), "addresses" (a list of them, in order), "text", "int", "bool",
# "units" (quantity or explicit ranges), "representatives" (a list of an address and its rights),
# "representative" (the intent's own address and rights), "code" (text in a right-padded bytes8 or
# bytes32: party and registry codes, identifiers), "codes" (a list of them), "purposes" (words
# -> the authorization's bit set), "day_start"/"day_end" (an ISO date -> its first or last second,
# UTC), "registry_of" (the registry code an account id starts with: "NZ-1000002" -> NZ),
# "forwards" (an Article 6.4 issuance's instructions), or an enumeration (name -> the uint8 the
# contract uses).
Kind = str | dict[str, int]


@dataclass(frozen=True)
class Field:
    """One intent or path value and the message field that must carry it."""

    name: str
    message: str
    kind: Kind
    default: Any = None  # what the API assumes when the intent leaves the field out


@dataclass(frozen=True)
class OperationSpec:
    """One signed write: its path template, its request type and the fields to compare."""

    template: str
    primary_type: str
    fields: tuple[Field, ...] = ()

    @property
    def catalogue_path(self) -> str:
        """The path without its ids, as the API's catalogue names the operation."""
        return "/".join(part for part in self.template.split("/") if not part.startswith("{"))

    def path(self, **ids: Any) -> str:
        """Fill the template's ids in."""
        return self.template.format(**{name: str(value) for name, value in ids.items()})


_PURPOSE = {"voluntary": 0, "ndc_use": 1, "omge": 2, "oimp": 3}
_ACCOUNT_STATUS = {"open": 1, "suspended": 2, "closed": 3}
_PLATFORM_STATUS = {"active": 1, "suspended": 2}
_SCOPE = {"holdings": 0, "reserved": 1, "escrowed": 2}
_POLICY = {"two_person": 0, "single": 1}
_FIRST_TRANSFER = {"at_authorization": 1, "at_issuance": 2, "at_use_or_cancellation": 3}
_ACCOUNT_KIND = {
    "holding": 1,
    "custodial": 2,
    "pending": 3,
    "cancellation": 4,
    "omge_cancellation": 5,
    "share_of_proceeds": 6,
}


def _f(spec: str) -> tuple[Field, ...]:
    """Parse "intent_name:messageName:kind[:default], ..." into fields."""
    fields = []
    for part in spec.split(","):
        name, message, kind, *default = part.strip().split(":")
        enums = {
            "purpose": _PURPOSE,
            "account_status": _ACCOUNT_STATUS,
            "platform_status": _PLATFORM_STATUS,
            "scope": _SCOPE,
            "policy": _POLICY,
            "account_kind": _ACCOUNT_KIND,
            "first_transfer": _FIRST_TRANSFER,
        }
        value: Any = default[0] if default else None
        if kind == "bool" and value is not None:
            value = value == "true"
        fields.append(Field(name, message, enums.get(kind, kind), value))
    return tuple(fields)


_UNITS = "units:ranges:units"

OPERATIONS: dict[str, OperationSpec] = {
    # Administration.
    "admin.open_account": OperationSpec(
        "admin/accounts",
        "OpenAccount",
        _f(
            "holder_name:holderName:text, approval_policy:approvalPolicy:policy:two_person, "
            "kind:kind:account_kind:holding, representatives:representatives:representatives"
        ),
    ),
    "admin.set_representative": OperationSpec(
        "admin/accounts/{account_id}/representatives",
        "SetRepresentative",
        _f("account_id:accountId:account, address:representative:representative"),
    ),
    "admin.set_account_status": OperationSpec(
        "admin/accounts/{account_id}/status",
        "SetAccountStatus",
        _f("account_id:accountId:account, status:status:account_status"),
    ),
    "admin.register_project": OperationSpec(
        "admin/projects", "RegisterProject", _f("name:name:text, methodology:methodology:text:")
    ),
    "admin.update_project": OperationSpec(
        "admin/projects/{project_id}/details",
        "UpdateProject",
        _f("project_id:projectId:code, name:name:text, methodology:methodology:text:"),
    ),
    "admin.define_label": OperationSpec(
        "admin/labels", "DefineLabel", _f("authority:authority:address")
    ),
    "admin.issue": OperationSpec(
        "admin/issuances",
        "Issue",
        _f(
            "project_id:projectId:code, unit_type:unitType:code, vintage:vintage:int, "
            "monitoring_period_start:monitoringStart:day_start, "
            "monitoring_period_end:monitoringEnd:day_end, origin_registry:originRegistry:code, "
            "quantity:quantity:int, to_account:toAccount:account"
        ),
    ),
    "admin.register_platform": OperationSpec(
        "admin/platforms",
        "RegisterPlatform",
        _f(
            "address:platform:address, name:name:text, "
            "custodial_account:custodialAccount:account, signers:signers:addresses"
        ),
    ),
    "admin.set_platform_signer": OperationSpec(
        "admin/platforms/{platform}/signers",
        "SetPlatformSigner",
        _f("platform:platform:address, address:platformSigner:address, enabled:enabled:bool:true"),
    ),
    "admin.set_platform_status": OperationSpec(
        "admin/platforms/{platform}/status",
        "SetPlatformStatus",
        _f("platform:platform:address, status:status:platform_status"),
    ),
    # Transfers, cancellations, labels.
    "transfers.initiate": OperationSpec(
        "transfers",
        "InitiateTransfer",
        _f(f"from_account:fromAccount:account, to_account:toAccount:account, {_UNITS}"),
    ),
    "transfers.approve": OperationSpec(
        "transfers/{transfer_id}/approve", "ApproveTransfer", _f("transfer_id:transferId:int")
    ),
    "transfers.rescind": OperationSpec(
        "transfers/{transfer_id}/rescind", "RescindTransfer", _f("transfer_id:transferId:int")
    ),
    "cancellations.create": OperationSpec(
        "cancellations",
        "Cancel",
        _f(
            "account_id:accountId:account, purpose:purpose:purpose:voluntary, "
            f"beneficiary:beneficiary:text:, reason:reason:text:, {_UNITS}"
        ),
    ),
    # `applied` is no intent field: its default is what the path means.
    "labels.apply": OperationSpec(
        "labels/{label}/apply", "SetLabel", _f(f"{_UNITS}, applied:applied:bool:true")
    ),
    "labels.remove": OperationSpec(
        "labels/{label}/remove", "SetLabel", _f(f"{_UNITS}, applied:applied:bool:false")
    ),
    # Platform models.
    "consents.grant": OperationSpec(
        "consents",
        "GrantConsent",
        _f("account_id:accountId:account, platform:platform:address, scope:scope:scope"),
    ),
    "consents.revoke": OperationSpec(
        "consents/{consent_id}/revoke", "RevokeConsent", _f("consent_id:consentId:int")
    ),
    "reservations.create": OperationSpec(
        "reservations",
        "Reserve",
        _f(f"account_id:accountId:account, platform:platform:address, {_UNITS}"),
    ),
    "reservations.release": OperationSpec(
        "reservations/{reservation_id}/release",
        "ReleaseReservation",
        _f("reservation_id:reservationId:int"),
    ),
    "reservations.transfer": OperationSpec(
        "reservations/{reservation_id}/transfer",
        "TransferReservation",
        _f("reservation_id:reservationId:int"),
    ),
    "escrows.create": OperationSpec(
        "escrows",
        "Escrow",
        _f(f"account_id:accountId:account, platform:platform:address, {_UNITS}"),
    ),
    "escrows.settle": OperationSpec(
        "escrows/{escrow_id}/settle",
        "SettleEscrow",
        _f("escrow_id:escrowId:int, to_account:toAccount:account"),
    ),
    "escrows.release": OperationSpec(
        "escrows/{escrow_id}/release", "ReleaseEscrow", _f("escrow_id:escrowId:int")
    ),
    # Third-party certificates.
    "associations.create": OperationSpec(
        "associations",
        "Associate",
        _f(
            "account_id:accountId:account, third_party_registry:thirdPartyRegistry:address, "
            f"{_UNITS}"
        ),
    ),
    "associations.dissociate": OperationSpec(
        "associations/{association_id}/dissociate",
        "Dissociate",
        _f("association_id:associationId:int"),
    ),
    "associations.retire": OperationSpec(
        "associations/{association_id}/retire",
        "RetireAssociation",
        _f("association_id:associationId:int, beneficiary:beneficiary:text:, reason:reason:text:"),
    ),
    # Article 6.
    "article6.register_party": OperationSpec(
        "article6/parties",
        "RegisterParty",
        _f(
            "party:party:code, registry_id:registryId:code, "
            "label_authority:labelAuthority:address, administrators:administrators:addresses"
        ),
    ),
    "article6.register_cooperative_approach": OperationSpec(
        "article6/cooperative-approaches",
        "RegisterCooperativeApproach",
        _f("approach_id:approachId:code, name:name:text, parties:parties:codes"),
    ),
    "article6.set_mechanism_accounts": OperationSpec(
        "article6/mechanism-accounts",
        "SetMechanismAccounts",
        _f(
            "pending:pending:account, holding:holding:account, "
            "cancellation:cancellation:account, omge_cancellation:omgeCancellation:account, "
            "share_of_proceeds:shareOfProceeds:account"
        ),
    ),
    "article6.authorize": OperationSpec(
        "article6/authorizations",
        "Authorize",
        _f(
            "party:party:code, letter_id:letterId:code, cooperative_approach:approachId:code, "
            "purposes:purposes:purposes, "
            "first_transfer_definition:firstTransferDefinition:first_transfer, "
            f"date:authorizedAt:day_start, {_UNITS}"
        ),
    ),
    "article6.issue": OperationSpec(
        "article6/issuances",
        "IssueArticle64",
        _f(
            "project_id:projectId:code, unit_type:unitType:code:A6.4ER, vintage:vintage:int, "
            "monitoring_period_start:monitoringStart:day_start, "
            "monitoring_period_end:monitoringEnd:day_end, quantity:quantity:int, "
            "forwards:forwards:forwards"
        ),
    ),
    "article6.transfer": OperationSpec(
        "article6/transfers",
        "TransferItmos",
        _f(
            "from_account:fromAccount:account, to_account:toAccount:account, "
            f"authorization_id:authorizationId:int, {_UNITS}"
        ),
    ),
    "article6.approve_transfer": OperationSpec(
        "article6/transfers/{transfer_id}/approve",
        "ApproveItmoTransfer",
        _f("transfer_id:transferId:int"),
    ),
    "article6.rescind_transfer": OperationSpec(
        "article6/transfers/{transfer_id}/rescind",
        "RescindItmoTransfer",
        _f("transfer_id:transferId:int"),
    ),
    "article6.cancel": OperationSpec(
        "article6/cancellations",
        "CancelItmos",
        _f(
            "account_id:accountId:account, authorization_id:authorizationId:int, "
            "purpose:purpose:purpose, beneficiary:beneficiary:text:, reason:reason:text:, "
            f"{_UNITS}"
        ),
    ),
    # Inter-registry transfers (docs/interop.md).
    "admin.set_peer": OperationSpec(
        "admin/peers",
        "SetPeer",
        _f(
            "registry_code:registryCode:code, api_url:apiUrl:text, "
            "operator_address:operator:address, chain_id:chainId:int, "
            "registry_address:registry:address"
        ),
    ),
    "transfers.out": OperationSpec(
        "transfers/out",
        "TransferOut",
        _f(
            "from_account:fromAccount:account, to_account:toRegistry:registry_of, "
            f"to_account:toAccount:account, {_UNITS}"
        ),
    ),
    "article6.transfer_out": OperationSpec(
        "article6/transfers/out",
        "TransferItmosOut",
        _f(
            "from_account:fromAccount:account, to_account:toRegistry:registry_of, "
            "to_account:toAccount:account, authorization_id:authorizationId:int, "
            f"{_UNITS}"
        ),
    ),
    "transfers.approve_out": OperationSpec(
        "transfers/out/{transfer_id}/approve",
        "ApproveTransferOut",
        _f("transfer_id:transferId:int"),
    ),
}


def _pattern(template: str) -> re.Pattern[str]:
    parts = [
        f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part)
        for part in template.split("/")
    ]
    return re.compile("/".join(parts))


_PATTERNS = [(_pattern(spec.template), spec) for spec in OPERATIONS.values()]


def resolve(path: str) -> tuple[OperationSpec, dict[str, str]]:
    """Return the operation a concrete path (e.g. "transfers/7/approve") names, and its ids."""
    path = path.strip("/").removeprefix("v1/")
    for pattern, spec in _PATTERNS:
        match = pattern.fullmatch(path)
        if match is not None:
            return spec, match.groupdict()
    raise ValueError(f"no signed write at {path!r}")
