"""Request and response bodies of the write API: intents, signed submissions, request resources.

Intents use strict types (a quantity is a JSON integer, never "5" or 5.0) and bounded text, so
bad input is refused at the edge with a specific problem instead of reaching the chain.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "MAX_RANGES",
    "MAX_SERIAL",
    "AccountIntent",
    "ApproveIntent",
    "Article64IssuanceIntent",
    "AssociationIntent",
    "AuthorizationIntent",
    "CancellationIntent",
    "ConsentIntent",
    "CooperativeApproachIntent",
    "DecisionIntent",
    "DefineLabelIntent",
    "EscrowIntent",
    "EscrowSettleIntent",
    "ForwardIn",
    "IssuanceIntent",
    "ItmoCancellationIntent",
    "ItmoTransferIntent",
    "LabelChangeIntent",
    "MechanismAccountsIntent",
    "PartyIntent",
    "PlatformIntent",
    "PlatformSignerIntent",
    "PlatformStatusIntent",
    "PreparedRequest",
    "ProjectIntent",
    "RepresentativeIn",
    "RequestAccepted",
    "RequestResource",
    "ReservationIntent",
    "RetireIntent",
    "SerialRange",
    "SetRepresentativeIntent",
    "SetStatusIntent",
    "SignedSubmission",
    "TransferIntent",
    "UnitFilters",
]

MAX_SERIAL = 2**63 - 1
MAX_RANGES = 256


def _clean_text(value: str) -> str:
    """Refuse text the ledger should not hold: control characters, lone surrogates."""
    for char in value:
        category = unicodedata.category(char)
        if category == "Cc" or category == "Cs":
            raise ValueError(
                "text may not contain control characters or lone surrogates "
                f"(found U+{ord(char):04X})"
            )
    return value


def _address(value: str) -> str:
    if not (len(value) == 42 and value[:2] in ("0x", "0X")):
        raise ValueError("an address is 0x followed by 40 hex digits")
    try:
        int(value[2:], 16)
    except ValueError as exc:
        raise ValueError("an address is 0x followed by 40 hex digits") from exc
    from eth_utils.address import to_checksum_address

    return str(to_checksum_address(value))


def _after_epoch(value: date) -> date:
    # Dates are signed as unix seconds in unsigned fields: nothing before 1970 fits.
    if value < date(1970, 1, 2):
        raise ValueError("dates before 1970-01-02 cannot be recorded")
    return value


Text = Annotated[str, Field(max_length=200), AfterValidator(_clean_text)]
RecordDate = Annotated[date, AfterValidator(_after_epoch)]
ShortCode = Annotated[str, Field(min_length=1, max_length=8, pattern=r"^[A-Za-z0-9_-]+$")]
Identifier = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.:/-]+$")]
Address = Annotated[str, AfterValidator(_address), Field(examples=["0x" + "ab" * 20])]
AccountId = Annotated[str, Field(max_length=32, examples=["AU-1000001"])]
Quantity = Annotated[int, Field(strict=True, ge=1, le=MAX_SERIAL)]
Serial = Annotated[int, Field(strict=True, ge=1, le=MAX_SERIAL)]


class _Intent(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SerialRange(_Intent):
    """An inclusive serial range; its quantity is end - start + 1."""

    start: Serial
    end: Serial

    @model_validator(mode="after")
    def _ordered(self) -> SerialRange:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class UnitFilters(_Intent):
    """Which units a quantity may be taken from."""

    unit_type: Identifier | None = None
    vintage: Annotated[int, Field(strict=True, ge=1900, le=9999)] | None = None
    project_id: Identifier | None = None
    label: Identifier | None = None


class _SignerIntent(_Intent):
    signer: Address = Field(description="Address that will sign the request.")


class _UnitsIntent(_SignerIntent):
    """Units named either by quantity (+ filters) or by explicit ranges."""

    quantity: Quantity | None = None
    filters: UnitFilters | None = None
    ranges: Annotated[list[SerialRange], Field(min_length=1, max_length=MAX_RANGES)] | None = None

    @model_validator(mode="after")
    def _one_way(self) -> _UnitsIntent:
        if (self.quantity is None) == (self.ranges is None):
            raise ValueError("give either `quantity` (with optional `filters`) or `ranges`")
        if self.ranges is not None and self.filters is not None:
            raise ValueError("`filters` apply to `quantity`, not to explicit `ranges`")
        return self


class RepresentativeIn(_Intent):
    """An authorised representative and its rights."""

    address: Address
    primary: bool = False
    can_initiate: bool = True
    can_approve: bool = True


AccountKindName = Literal[
    "holding", "custodial", "pending", "cancellation", "omge_cancellation", "share_of_proceeds"
]


class AccountIntent(_SignerIntent):
    """Open an account (registry administrator)."""

    holder_name: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean_text)]
    kind: AccountKindName = "holding"
    party: ShortCode | None = None
    representatives: Annotated[list[RepresentativeIn], Field(min_length=1, max_length=16)]
    approval_policy: Literal["two_person", "single"] = "two_person"


class SetRepresentativeIntent(_SignerIntent):
    """Appoint, change or remove (all rights false) an authorised representative."""

    address: Address
    primary: bool = False
    can_initiate: bool = False
    can_approve: bool = False


class SetStatusIntent(_SignerIntent):
    """Suspend, reopen or close an account."""

    status: Literal["open", "suspended", "closed"]


class ProjectIntent(_SignerIntent):
    """Register a project."""

    project_id: Identifier
    name: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean_text)]
    methodology: Text = ""
    country: ShortCode


class DefineLabelIntent(_SignerIntent):
    """Define an eligibility label and the address that may apply it."""

    name: Identifier
    authority: Address


class IssuanceIntent(_SignerIntent):
    """Issue units of a project's monitoring period into an account (issuer)."""

    model_config = ConfigDict(extra="forbid", strict=False)  # ISO dates arrive as JSON strings

    project_id: Identifier
    unit_type: Identifier
    vintage: Annotated[int, Field(strict=True, ge=1900, le=9999)]
    monitoring_period_start: RecordDate
    monitoring_period_end: RecordDate
    quantity: Quantity
    to_account: AccountId
    labels: Annotated[list[Identifier], Field(max_length=256)] = []
    origin_registry: ShortCode | None = None


class TransferIntent(_UnitsIntent):
    """Initiate a transfer from an account (AR who may initiate)."""

    from_account: AccountId
    to_account: AccountId


class PeerIntent(_SignerIntent):
    """Record or replace a peer registry (registry administrator), as its identity shows it."""

    registry_code: Annotated[str, Field(min_length=1, max_length=8, pattern=r"^[A-Z0-9]+$")]
    api_url: Annotated[str, Field(min_length=1, max_length=512)]
    operator_address: Address
    chain_id: Annotated[int, Field(ge=1, le=2**64 - 1)]
    registry_address: Address


class TransferOutIntent(_UnitsIntent):
    """Transfer units to an account of a peer registry, e.g. NZ-1000002 (docs/interop.md)."""

    from_account: AccountId
    to_account: AccountId


class ApproveIntent(_SignerIntent):
    """Approve or rescind a pending transfer."""


class CancellationIntent(_UnitsIntent):
    """Cancel units voluntarily or for a purpose (AR of the account)."""

    account_id: AccountId
    purpose: Literal["voluntary", "ndc_use", "omge", "oimp"] = "voluntary"
    beneficiary: Text = ""
    reason: Text = ""


class LabelChangeIntent(_UnitsIntent):
    """Apply a label to, or remove it from, units (the label's authority)."""

    account_id: AccountId | None = Field(
        default=None, description="Account to take `quantity` from; not needed with `ranges`."
    )


# -- platform models (CER Class B) and third-party certificates (Class C) ---------------------


class DecisionIntent(_SignerIntent):
    """Act on an existing consent, reservation, escrow or association (the id is in the path)."""


class PlatformIntent(_SignerIntent):
    """Register a trading platform with its custodial account and signers (administrator)."""

    address: Address = Field(description="The platform's address: its identity on-chain.")
    name: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean_text)]
    custodial_account: AccountId = Field(
        description="An account of kind `custodial`: the platform's interim custody (B.3, B.4)."
    )
    signers: Annotated[list[Address], Field(max_length=16)] = Field(
        default_factory=list, description="Addresses that sign and read for the platform."
    )


class PlatformSignerIntent(_SignerIntent):
    """Add (`enabled`) or remove an address that signs for a platform (administrator)."""

    address: Address
    enabled: bool = True


class PlatformStatusIntent(_SignerIntent):
    """Suspend or reactivate a platform (administrator); takes effect at once."""

    status: Literal["active", "suspended"]


class ConsentIntent(_SignerIntent):
    """Consent that a platform views one scope of an account (AR of the account, B.1)."""

    account_id: AccountId
    platform: Address
    scope: Literal["holdings", "reserved", "escrowed"]


class ReservationIntent(_UnitsIntent):
    """Reserve units of an account for a platform (AR of the account, B.4)."""

    account_id: AccountId
    platform: Address


class EscrowIntent(_UnitsIntent):
    """Put units of an account in escrow under a platform's control (AR of the account, B.5)."""

    account_id: AccountId
    platform: Address


class EscrowSettleIntent(_SignerIntent):
    """Settle an escrow to a buyer's account (the platform, or the administrator overriding)."""

    to_account: AccountId


class AssociationIntent(_UnitsIntent):
    """Associate units 1:1 with a third-party certificate, which locks them (AR, C.1)."""

    account_id: AccountId
    third_party_registry: Address
    certificate_id: Identifier = Field(description="The third party's certificate id (D4).")


class RetireIntent(_SignerIntent):
    """Retire a certificate: its associated units are cancelled (the third-party registry)."""

    beneficiary: Text = ""
    reason: Text = ""


class PreparedRequest(BaseModel):
    """EIP-712 typed data to sign, fully resolved."""

    typed_data: dict[str, Any]


class SignedSubmission(BaseModel):
    """Typed data from `prepare`, and the signer's signature over it."""

    model_config = ConfigDict(extra="forbid")

    typed_data: dict[str, Any]
    signature: Annotated[str, Field(max_length=200, examples=["0x" + "ab" * 65])]


class RequestAccepted(BaseModel):
    """A journaled request."""

    request_id: str
    status: str


class RequestResource(BaseModel):
    """A request and what became of it."""

    request_id: str
    operation: str
    signer: str
    status: Literal["accepted", "submitted", "confirmed", "indexed", "failed"]
    tx_hash: str | None
    block_number: int | None
    error: dict[str, Any] | None
    result: dict[str, Any] | None
    accepted_at: str


# -- Article 6 -------------------------------------------------------------------------------

AuthorizationPurposeName = Literal["ndc_use", "oimp"]
FirstTransferDefinitionName = Literal["at_authorization", "at_issuance", "at_use_or_cancellation"]
PartyCode = ShortCode  # the code accounts of a Party section carry, e.g. JP


class PartyIntent(_SignerIntent):
    """Register a participating Party's section, or replace its authority and administrators."""

    party: PartyCode = Field(description="The code accounts of its section carry, e.g. JP.")
    registry_id: ShortCode = Field(description="Its registry's id, part of ITMO identifiers.")
    label_authority: Address = Field(description="Who signs the Party's authorizations.")
    administrators: Annotated[list[Address], Field(max_length=64)] = Field(
        default=[], description="Who may read the Party's section through the API."
    )


class CooperativeApproachIntent(_SignerIntent):
    """Register a cooperative approach and its participating Parties (or replace them)."""

    approach_id: Identifier
    name: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean_text)]
    parties: Annotated[list[PartyCode], Field(min_length=1, max_length=MAX_RANGES)]


class MechanismAccountsIntent(_SignerIntent):
    """Name the Article 6.4 mechanism registry's accounts."""

    pending: AccountId
    holding: AccountId
    cancellation: AccountId
    omge_cancellation: AccountId
    share_of_proceeds: AccountId


class AuthorizationIntent(_UnitsIntent):
    """Apply a Party's letter of authorization to units of its section (its label authority).

    The first request naming a letter records its terms; later ones must repeat them.
    """

    party: PartyCode
    letter_id: Identifier = Field(description="The authorization ID the Party's letter carries.")
    date: Annotated[date, Field(strict=False, description="Date of the letter (ISO).")]
    purposes: Annotated[list[AuthorizationPurposeName], Field(min_length=1, max_length=2)]
    cooperative_approach: Identifier
    first_transfer_definition: FirstTransferDefinitionName
    account_id: AccountId | None = Field(
        default=None, description="Account to take `quantity` from; not needed with `ranges`."
    )

    @model_validator(mode="after")
    def _distinct_purposes(self) -> AuthorizationIntent:
        if len(set(self.purposes)) != len(self.purposes):
            raise ValueError("`purposes` lists a purpose twice")
        if self.quantity is not None and self.account_id is None:
            raise ValueError("`quantity` needs an `account_id` to take the units from")
        return self


class ItmoTransferIntent(_UnitsIntent):
    """Transfer ITMOs of one authorization (AR of `from_account` who may initiate)."""

    from_account: AccountId
    to_account: AccountId
    authorization_id: Annotated[int, Field(strict=True, ge=1, le=2**64 - 1)] | None = Field(
        default=None,
        description="The registry's authorization number; with `ranges` it may be left out.",
    )

    @model_validator(mode="after")
    def _authorization_with_quantity(self) -> ItmoTransferIntent:
        if self.quantity is not None and self.authorization_id is None:
            raise ValueError("`quantity` needs the `authorization_id` to take ITMOs of")
        return self


class ItmoCancellationIntent(_UnitsIntent):
    """Use ITMOs towards an NDC or OIMP, or cancel them (AR of the account)."""

    account_id: AccountId
    authorization_id: Annotated[int, Field(strict=True, ge=1, le=2**64 - 1)] | None = None
    purpose: Literal["ndc_use", "oimp", "voluntary", "omge"]
    beneficiary: Text = ""
    reason: Text = ""

    @model_validator(mode="after")
    def _authorization_with_quantity(self) -> ItmoCancellationIntent:
        if self.quantity is not None and self.authorization_id is None:
            raise ValueError("`quantity` needs the `authorization_id` to take ITMOs of")
        return self


class ForwardIn(_Intent):
    """An activity participant's instruction: where forwarded units go, and how many."""

    account_id: AccountId
    quantity: Quantity | None = Field(
        default=None, description="Leave it out on one forward to give it the rest."
    )


class Article64IssuanceIntent(_SignerIntent):
    """Issue A6.4ERs: into the pending account, with share of proceeds, OMGE and forwards."""

    model_config = ConfigDict(extra="forbid", strict=False)  # ISO dates arrive as JSON strings

    project_id: Identifier
    unit_type: Identifier = "A6.4ER"
    vintage: Annotated[int, Field(strict=True, ge=1900, le=9999)]
    monitoring_period_start: RecordDate
    monitoring_period_end: RecordDate
    quantity: Annotated[int, Field(strict=True, ge=1, le=2**64 - 1)]
    forwards: Annotated[list[ForwardIn], Field(max_length=MAX_RANGES)] = Field(
        description="The activity participants' instructions, in serial order."
    )

    @model_validator(mode="after")
    def _one_rest(self) -> Article64IssuanceIntent:
        if sum(f.quantity is None for f in self.forwards) > 1:
            raise ValueError("at most one forward may leave out `quantity` (it gets the rest)")
        return self


# -- examples for OpenAPI -------------------------------------------------------------------------

_AR = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
_ADMIN = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
_PLATFORM = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"

# One written example per intent, shown by /docs and validated by tests/api/test_discovery.py.
INTENT_EXAMPLES: dict[type[BaseModel], dict[str, Any]] = {
    AccountIntent: {
        "signer": _ADMIN,
        "holder_name": "Mulga Carbon Pty Ltd",
        "representatives": [
            {"address": _AR, "primary": True, "can_initiate": True, "can_approve": False},
            {"address": _PLATFORM, "primary": False, "can_initiate": False, "can_approve": True},
        ],
        "approval_policy": "two_person",
    },
    SetRepresentativeIntent: {
        "signer": _ADMIN,
        "address": _PLATFORM,
        "primary": False,
        "can_initiate": True,
        "can_approve": True,
    },
    SetStatusIntent: {"signer": _ADMIN, "status": "suspended"},
    ProjectIntent: {
        "signer": _ADMIN,
        "project_id": "ERF-101234",
        "name": "Mulga regeneration, Bourke",
        "methodology": "HIR-2013",
        "country": "AU",
    },
    DefineLabelIntent: {"signer": _ADMIN, "name": "CORSIA_ELIGIBLE", "authority": _PLATFORM},
    IssuanceIntent: {
        "signer": _ADMIN,
        "project_id": "ERF-101234",
        "unit_type": "ACCU",
        "vintage": 2024,
        "monitoring_period_start": "2024-01-01",
        "monitoring_period_end": "2024-12-31",
        "quantity": 10000,
        "to_account": "AU-1000001",
    },
    TransferIntent: {
        "signer": _AR,
        "from_account": "AU-1000001",
        "to_account": "AU-1000002",
        "quantity": 250,
        "filters": {"unit_type": "ACCU", "vintage": 2024},
    },
    ApproveIntent: {"signer": _PLATFORM},
    DecisionIntent: {"signer": _AR},
    CancellationIntent: {
        "signer": _AR,
        "account_id": "AU-1000001",
        "ranges": [{"start": 1, "end": 1000}],
        "purpose": "voluntary",
        "beneficiary": "Harbour Airlines Ltd",
        "reason": "Offsetting 2025 domestic flights",
    },
    LabelChangeIntent: {"signer": _PLATFORM, "ranges": [{"start": 1001, "end": 2000}]},
    PlatformIntent: {
        "signer": _ADMIN,
        "address": _PLATFORM,
        "name": "Harbour Exchange",
        "custodial_account": "AU-1000003",
        "signers": [_PLATFORM],
    },
    PlatformSignerIntent: {"signer": _ADMIN, "address": _AR, "enabled": True},
    PlatformStatusIntent: {"signer": _ADMIN, "status": "suspended"},
    ConsentIntent: {
        "signer": _AR,
        "account_id": "AU-1000001",
        "platform": _PLATFORM,
        "scope": "holdings",
    },
    ReservationIntent: {
        "signer": _AR,
        "account_id": "AU-1000001",
        "quantity": 500,
        "platform": _PLATFORM,
    },
    EscrowIntent: {
        "signer": _AR,
        "account_id": "AU-1000001",
        "ranges": [{"start": 2001, "end": 3000}],
        "platform": _PLATFORM,
    },
    EscrowSettleIntent: {"signer": _PLATFORM, "to_account": "AU-1000002"},
    AssociationIntent: {
        "signer": _AR,
        "account_id": "AU-1000001",
        "quantity": 100,
        "third_party_registry": _PLATFORM,
        "certificate_id": "GS-CERT-2024-0042",
    },
    RetireIntent: {
        "signer": _PLATFORM,
        "beneficiary": "Coastal Councils Alliance",
        "reason": "Certificate retired for the 2024 inventory",
    },
    PartyIntent: {
        "signer": _ADMIN,
        "party": "MN",
        "registry_id": "MNG",
        "label_authority": _PLATFORM,
        "administrators": [_AR],
    },
    CooperativeApproachIntent: {
        "signer": _ADMIN,
        "approach_id": "JCM-MN-JP",
        "name": "Joint Crediting Mechanism, Mongolia and Japan",
        "parties": ["MN", "JP"],
    },
    MechanismAccountsIntent: {
        "signer": _ADMIN,
        "pending": "AU-1000010",
        "holding": "AU-1000011",
        "cancellation": "AU-1000012",
        "omge_cancellation": "AU-1000013",
        "share_of_proceeds": "AU-1000014",
    },
    AuthorizationIntent: {
        "signer": _PLATFORM,
        "party": "MN",
        "letter_id": "MN-LOA-2025-007",
        "date": "2025-03-14",
        "purposes": ["ndc_use"],
        "cooperative_approach": "JCM-MN-JP",
        "first_transfer_definition": "at_authorization",
        "account_id": "AU-1000005",
        "quantity": 600,
    },
    ItmoTransferIntent: {
        "signer": _AR,
        "from_account": "AU-1000005",
        "to_account": "AU-1000006",
        "authorization_id": 12,
        "quantity": 300,
    },
    ItmoCancellationIntent: {
        "signer": _AR,
        "account_id": "AU-1000006",
        "authorization_id": 12,
        "quantity": 100,
        "purpose": "ndc_use",
        "beneficiary": "Japan",
        "reason": "Use towards Japan's NDC, 2025",
    },
    Article64IssuanceIntent: {
        "signer": _ADMIN,
        "project_id": "A64-MN-0001",
        "vintage": 2025,
        "monitoring_period_start": "2025-01-01",
        "monitoring_period_end": "2025-12-31",
        "quantity": 1000,
        "forwards": [{"account_id": "AU-1000005", "quantity": 600}, {"account_id": "AU-1000006"}],
    },
    PeerIntent: {
        "signer": _ADMIN,
        "registry_code": "NZ",
        "api_url": "https://registry.example.nz",
        "operator_address": _PLATFORM,
        "chain_id": 31338,
        "registry_address": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    },
    TransferOutIntent: {
        "signer": _AR,
        "from_account": "AU-1000001",
        "to_account": "NZ-1000002",
        "quantity": 250,
    },
}

for _model, _example in INTENT_EXAMPLES.items():
    _model.model_config["json_schema_extra"] = {"examples": [_example]}
    _model.model_rebuild(force=True)
