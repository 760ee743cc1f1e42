"""SQL mirror tables: the registry's state and history as the chain's events define them.

Only `table=True` classes are tables. The `...Base` classes hold the fields a reader sees, so the
API can derive its `...Public` schemas from them without touching the table definitions.

Conventions:
- Serials, account ids, issuance ids and operation ids are BIGINT: the contract keeps serials below
  2^63 and the counters never get near it, so signed 64-bit columns hold them exactly.
- Enums are stored as their lower-case names (`held`, `two_person`, `ndc_use`), the words the HTTP
  API uses, so a row reads the same in SQL, JSON and CSV.
- There are no foreign keys: the chain already enforces referential integrity, and the mirror is
  written in bulk per batch, table by table, where constraint checks would only cost time.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import Field, SQLModel

from node.contracts import AuthorizationPurpose

__all__ = [
    "Account",
    "AccountBase",
    "Article6Action",
    "Article6Approach",
    "Article6ApproachParty",
    "Article6Authorization",
    "Article6Config",
    "Article6ItmoTransfer",
    "Article6Party",
    "Article6PartyAdministrator",
    "Article64Issuance",
    "Article64Part",
    "Association",
    "AssociationBase",
    "BlockHash",
    "Cancellation",
    "CancellationBase",
    "Checkpoint",
    "Consent",
    "ConsentBase",
    "DeferredIndex",
    "Escrow",
    "EscrowBase",
    "Event",
    "EventBase",
    "ExecutedRequest",
    "InteropImport",
    "InteropMessage",
    "InteropPeer",
    "InteropTransfer",
    "Issuance",
    "IssuanceBase",
    "Label",
    "LabelBase",
    "LabelChange",
    "OperationRange",
    "Platform",
    "PlatformBase",
    "PlatformSigner",
    "Project",
    "ProjectBase",
    "Representative",
    "RepresentativeBase",
    "Reservation",
    "ReservationBase",
    "Transfer",
    "TransferBase",
    "Uint256",
    "UnitBlock",
    "UnitBlockBase",
    "enum_text",
    "purposes_text",
    "sql_text",
    "table_of",
]

_ADDRESS = 42  # 0x + 20 bytes hex
_HASH = 66  # 0x + 32 bytes hex


class Uint256(TypeDecorator[int]):
    """Store an unsigned 256-bit integer exactly: NUMERIC(78,0) on PostgreSQL, text on SQLite.

    NOTE: SQLite integers are 64-bit and a NUMERIC-affinity column silently turns anything larger
    into an 8-byte float, losing bits of a label bitmap. Decimal text keeps every bit, reads the
    same as PostgreSQL's NUMERIC, and bitmaps are tested in Python anyway. 78 digits hold 2^256 - 1.
    """

    impl = Numeric(78, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Return NUMERIC(78,0), or VARCHAR(78) on SQLite."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(78))
        return dialect.type_descriptor(Numeric(78, 0, asdecimal=True))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        """Convert a Python int to the column's representation."""
        if value is None:
            return None
        if dialect.name == "sqlite":
            return str(int(value))
        return Decimal(int(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        """Convert a stored value back to a Python int."""
        if value is None:
            return None
        return int(value)


def _json_type() -> TypeEngine[Any]:
    # JSONB on PostgreSQL so the event feed can be filtered on its data; plain JSON text elsewhere.
    return JSON().with_variant(JSONB(), "postgresql")


def _id_column() -> Any:
    """Return a chain-assigned BIGINT primary key (never a database sequence)."""
    return Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})


def table_of(model: type[SQLModel]) -> Table:
    """Return the Core table of a table model, for bulk statements that skip the ORM."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


def enum_text(value: enum.IntEnum) -> str:
    """Return the stored name of a contract enum value, e.g. UnitState.HELD -> "held"."""
    return value.name.lower()


def purposes_text(bits: int) -> str:
    """Return an authorization's purposes bitmap as stored: "ndc_use", "oimp", "ndc_use,oimp"."""
    words = ((AuthorizationPurpose.NDC, "ndc_use"), (AuthorizationPurpose.OIMP, "oimp"))
    return ",".join(word for bit, word in words if bits & bit)


def sql_text(value: str) -> str:
    """Return free text as the mirror stores it: PostgreSQL text cannot hold NUL characters.

    NOTE: holder names, beneficiaries and reasons are signed by users and may contain U+0000;
    replacing it (with U+FFFD) on both databases keeps the mirror identical everywhere and stops
    one request from halting the indexer on PostgreSQL. The audit applies the same rule.
    """
    return value.replace("\x00", "\ufffd")


# -- accounts --------------------------------------------------------------------------------


class AccountBase(SQLModel):
    """What a reader sees of an account."""

    kind: str = Field(sa_type=String(32))
    status: str = Field(sa_type=String(16))
    approval_policy: str = Field(sa_type=String(16))
    party: str = Field(sa_type=String(8))
    holder_name: str
    primary_representative: str = Field(sa_type=String(_ADDRESS))


class Account(AccountBase, table=True):
    """An account, keyed by its on-chain number (formatted as e.g. AU-1000001 by the API)."""

    __tablename__ = "accounts"

    id: int = _id_column()
    opened_block: int = Field(sa_type=BigInteger)
    opened_tx_hash: str = Field(sa_type=String(_HASH))


class RepresentativeBase(SQLModel):
    """What a reader sees of an authorised representative."""

    is_primary: bool
    can_initiate: bool
    can_approve: bool


class Representative(RepresentativeBase, table=True):
    """An authorised representative of an account; removed representatives have no row."""

    __tablename__ = "representatives"

    account_id: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    address: str = Field(primary_key=True, sa_type=String(_ADDRESS), index=True)
    updated_block: int = Field(sa_type=BigInteger)


# -- projects, issuances and labels ----------------------------------------------------------


class ProjectBase(SQLModel):
    """What the public project register shows."""

    name: str
    methodology: str
    country: str = Field(sa_type=String(8))


class Project(ProjectBase, table=True):
    """A registered project, keyed by its identifier (bytes32 on-chain, text here)."""

    __tablename__ = "projects"

    id: str = Field(primary_key=True, sa_type=String(32))
    registered_block: int = Field(sa_type=BigInteger)
    tx_hash: str = Field(sa_type=String(_HASH))


class IssuanceBase(SQLModel):
    """What the public issuance register shows."""

    project_id: str = Field(sa_type=String(32), index=True)
    unit_type: str = Field(sa_type=String(32))
    vintage: int
    monitoring_start: int = Field(sa_type=BigInteger)  # unix seconds, as signed
    monitoring_end: int = Field(sa_type=BigInteger)
    origin_registry: str = Field(sa_type=String(8))
    start: int = Field(sa_type=BigInteger)
    end: int = Field(sa_type=BigInteger)
    quantity: int = Field(sa_type=BigInteger)


class Issuance(IssuanceBase, table=True):
    """An issuance: one serial range of one project, unit type and vintage."""

    __tablename__ = "issuances"

    id: int = _id_column()
    account_id: int = Field(sa_type=BigInteger)  # the account issued into
    block_number: int = Field(sa_type=BigInteger)
    tx_hash: str = Field(sa_type=String(_HASH))


class LabelBase(SQLModel):
    """What the public label register shows."""

    name: str = Field(sa_type=String(32))
    authority: str = Field(sa_type=String(_ADDRESS))


class Label(LabelBase, table=True):
    """A label definition; its id is the bit it occupies in block label bitmaps."""

    __tablename__ = "labels"

    id: int = Field(
        primary_key=True, sa_type=SmallInteger, sa_column_kwargs={"autoincrement": False}
    )
    defined_block: int = Field(sa_type=BigInteger)
    tx_hash: str = Field(sa_type=String(_HASH))


# -- unit blocks -----------------------------------------------------------------------------


class UnitBlockBase(SQLModel):
    """What a reader sees of a unit block."""

    end: int = Field(sa_type=BigInteger)
    account_id: int = Field(sa_type=BigInteger)
    state: str = Field(sa_type=String(16))
    lock_id: int = Field(sa_type=BigInteger)  # transfer or cancellation id; 0 when held
    issuance_id: int = Field(sa_type=BigInteger, index=True)
    labels: int = Field(sa_type=Uint256)  # bit i set = label i applies


class UnitBlock(UnitBlockBase, table=True):
    """A current unit block `[start, end]`, exactly as the contract holds it (never merged)."""

    __tablename__ = "unit_blocks"
    __table_args__ = (
        Index("ix_unit_blocks_account_state", "account_id", "state"),
        Index("ix_unit_blocks_state_lock", "state", "lock_id"),
        # An account's holdings page walks this index in serial order: O(page), not O(blocks).
        Index("ix_unit_blocks_account_start", "account_id", "start"),
    )

    start: int = _id_column()


# -- transaction history ---------------------------------------------------------------------


class TransferBase(SQLModel):
    """What a reader sees of a transfer."""

    from_account: int = Field(sa_type=BigInteger, index=True)
    to_account: int = Field(sa_type=BigInteger, index=True)
    quantity: int = Field(sa_type=BigInteger)
    status: str = Field(sa_type=String(16))  # pending, completed, rescinded
    initiator: str = Field(sa_type=String(_ADDRESS))
    approver: str | None = Field(default=None, sa_type=String(_ADDRESS))
    rescinded_by: str | None = Field(default=None, sa_type=String(_ADDRESS))


class Transfer(TransferBase, table=True):
    """A transfer with its initiate step and its approve or rescind step."""

    __tablename__ = "transfers"

    id: int = _id_column()
    initiated_block: int = Field(sa_type=BigInteger)
    initiated_tx_hash: str = Field(sa_type=String(_HASH))
    # Where the transfer was approved or rescinded; equal to the initiation under `single`.
    decided_block: int | None = Field(default=None, sa_type=BigInteger)
    decided_tx_hash: str | None = Field(default=None, sa_type=String(_HASH))


class CancellationBase(SQLModel):
    """What a reader sees of a cancellation."""

    account_id: int = Field(sa_type=BigInteger, index=True)
    purpose: str = Field(sa_type=String(16))
    quantity: int = Field(sa_type=BigInteger)
    beneficiary: str
    reason: str


class Cancellation(CancellationBase, table=True):
    """A cancellation; its blocks stay in the account in state `cancelled` (decision D3)."""

    __tablename__ = "cancellations"

    id: int = _id_column()
    block_number: int = Field(sa_type=BigInteger)
    tx_hash: str = Field(sa_type=String(_HASH))


class AccountTransaction(SQLModel, table=True):
    """One operation as accounts' transaction histories list it, with the accounts it touched.

    Transfers, issuances, cancellations, reservations, escrows and associations each get one
    row, written by the reducer beside the operation's own table and updated when it is
    decided. An account's history is then one indexed table rather than a union of six, and the
    signer of a one-step operation (issuance, cancellation) is stored, not re-read from events.
    """

    __tablename__ = "account_transactions"

    type: str = Field(primary_key=True, sa_type=String(16))
    operation_id: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    status: str = Field(sa_type=String(16))
    from_account: int | None = Field(default=None, sa_type=BigInteger, index=True)
    to_account: int | None = Field(default=None, sa_type=BigInteger, index=True)
    quantity: int = Field(sa_type=BigInteger)
    initiated_by: str | None = Field(default=None, sa_type=String(_ADDRESS))
    approved_by: str | None = Field(default=None, sa_type=String(_ADDRESS))
    rescinded_by: str | None = Field(default=None, sa_type=String(_ADDRESS))
    decided_by: str | None = Field(default=None, sa_type=String(_ADDRESS))
    tx_hash: str = Field(sa_type=String(_HASH))
    block_number: int = Field(sa_type=BigInteger)
    decided_tx_hash: str | None = Field(default=None, sa_type=String(_HASH))
    decided_block_number: int | None = Field(default=None, sa_type=BigInteger)
    # The platform (reservations, escrows) or third-party registry (associations).
    platform: str | None = Field(default=None, sa_type=String(_ADDRESS))
    # An association's certificate id.
    reference: str | None = Field(default=None)
    # An issuance's serials (other operations' ranges are in `operation_ranges`).
    range_start: int | None = Field(default=None, sa_type=BigInteger)
    range_end: int | None = Field(default=None, sa_type=BigInteger)


class OperationRange(SQLModel, table=True):
    """A serial range a transfer or cancellation named (both share one on-chain id sequence)."""

    __tablename__ = "operation_ranges"

    operation_id: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    start: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    end: int = Field(sa_type=BigInteger)


class LabelChange(SQLModel, table=True):
    """A label applied to or removed from a serial range (at issuance, or by its authority)."""

    __tablename__ = "label_changes"

    block_number: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    log_index: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    tx_hash: str = Field(sa_type=String(_HASH))
    start: int = Field(sa_type=BigInteger, index=True)
    end: int = Field(sa_type=BigInteger)
    label_id: int = Field(sa_type=SmallInteger)
    applied: bool


class ExecutedRequest(SQLModel, table=True):
    """A signed request the contract applied, by EIP-712 digest: how a write becomes `indexed`."""

    __tablename__ = "executed_requests"

    digest: str = Field(primary_key=True, sa_type=String(_HASH))
    signer: str = Field(sa_type=String(_ADDRESS), index=True)
    nonce: int = Field(sa_type=Uint256)  # keyed nonces carry a 192-bit lane in the high bits
    block_number: int = Field(sa_type=BigInteger)
    log_index: int
    tx_hash: str = Field(sa_type=String(_HASH))


# -- platforms, consents, reservations, escrows, associations (CER Class B and C) -----------


class PlatformBase(SQLModel):
    """What a reader sees of a registered trading platform."""

    name: str
    custodial_account_id: int = Field(sa_type=BigInteger)  # its interim custodial account (B.4)
    status: str = Field(sa_type=String(16))  # active, suspended


class Platform(PlatformBase, table=True):
    """A trading platform the administrator registered, keyed by its (checksummed) address."""

    __tablename__ = "platforms"

    address: str = Field(primary_key=True, sa_type=String(_ADDRESS))
    registered_block: int = Field(sa_type=BigInteger)
    registered_tx_hash: str = Field(sa_type=String(_HASH))
    updated_block: int = Field(sa_type=BigInteger)  # the last registration or status change


class PlatformSigner(SQLModel, table=True):
    """An address that may sign and read for a platform; removed signers have no row."""

    __tablename__ = "platform_signers"

    platform: str = Field(primary_key=True, sa_type=String(_ADDRESS))
    signer: str = Field(primary_key=True, sa_type=String(_ADDRESS), index=True)
    added_block: int = Field(sa_type=BigInteger)
    added_tx_hash: str = Field(sa_type=String(_HASH))


class ConsentBase(SQLModel):
    """What a reader sees of an account holder's view consent to a platform (B.1)."""

    account_id: int = Field(sa_type=BigInteger, index=True)
    platform: str = Field(sa_type=String(_ADDRESS), index=True)
    scope: str = Field(sa_type=String(16))  # holdings, reserved, escrowed
    status: str = Field(sa_type=String(16))  # active, revoked


class Consent(ConsentBase, table=True):
    """A consent, with the steps that granted and (perhaps) revoked it."""

    __tablename__ = "consents"

    id: int = _id_column()
    granted_by: str = Field(sa_type=String(_ADDRESS))
    granted_block: int = Field(sa_type=BigInteger)
    granted_tx_hash: str = Field(sa_type=String(_HASH))
    revoked_by: str | None = Field(default=None, sa_type=String(_ADDRESS))
    revoked_block: int | None = Field(default=None, sa_type=BigInteger)
    revoked_tx_hash: str | None = Field(default=None, sa_type=String(_HASH))


class _Lock(SQLModel):
    """The id of a reservation, escrow or association, the step that created it and the one
    that ended it.

    NOTE: tables name it as their first base: columns follow the bases in reverse order, so
    these come after the `...Base` fields, where migration 0002 puts them.
    """

    id: int = _id_column()
    created_by: str = Field(sa_type=String(_ADDRESS))
    created_block: int = Field(sa_type=BigInteger)
    created_tx_hash: str = Field(sa_type=String(_HASH))
    closed_by: str | None = Field(default=None, sa_type=String(_ADDRESS))
    closed_block: int | None = Field(default=None, sa_type=BigInteger)
    closed_tx_hash: str | None = Field(default=None, sa_type=String(_HASH))


class ReservationBase(SQLModel):
    """What a reader sees of a reservation of units for a platform (B.4)."""

    account_id: int = Field(sa_type=BigInteger, index=True)
    platform: str = Field(sa_type=String(_ADDRESS), index=True)
    quantity: int = Field(sa_type=BigInteger)
    status: str = Field(sa_type=String(16))  # active, released, settled
    # The platform's custodial account the units were settled into (status settled).
    to_account: int | None = Field(default=None, sa_type=BigInteger)


class Reservation(_Lock, ReservationBase, table=True):
    """A reservation, with the step that created it and the one that ended it."""

    __tablename__ = "reservations"


class EscrowBase(SQLModel):
    """What a reader sees of units escrowed under a platform's control (B.5)."""

    account_id: int = Field(sa_type=BigInteger, index=True)
    platform: str = Field(sa_type=String(_ADDRESS), index=True)
    quantity: int = Field(sa_type=BigInteger)
    status: str = Field(sa_type=String(16))  # active, settled, released
    to_account: int | None = Field(default=None, sa_type=BigInteger)  # the buyer, once settled


class Escrow(_Lock, EscrowBase, table=True):
    """An escrow, with the step that created it and the one that ended it."""

    __tablename__ = "escrows"


class AssociationBase(SQLModel):
    """What a reader sees of units associated 1:1 with a third-party certificate (C.1)."""

    account_id: int = Field(sa_type=BigInteger, index=True)
    third_party_registry: str = Field(sa_type=String(_ADDRESS), index=True)
    certificate_id: str
    quantity: int = Field(sa_type=BigInteger)
    status: str = Field(sa_type=String(16))  # active, dissociated, retired
    cancellation_id: int | None = Field(default=None, sa_type=BigInteger)  # once retired


class Association(_Lock, AssociationBase, table=True):
    """An association, with the step that created it and the one that ended it."""

    __tablename__ = "associations"


# -- raw events and sync bookkeeping ---------------------------------------------------------


class EventBase(SQLModel):
    """What the public event feed shows of an event."""

    block_number: int = Field(sa_type=BigInteger)
    log_index: int
    tx_hash: str = Field(sa_type=String(_HASH), index=True)
    name: str = Field(sa_type=String(64), index=True)
    data: dict[str, Any] = Field(sa_type=_json_type())


class Event(EventBase, table=True):
    """Every registry event, in chain order: the public feed and the source of every rebuild.

    `id` only ever grows, also across a reorg (SQLite AUTOINCREMENT, a PostgreSQL sequence), so a
    feed cursor never lands on a reused id; replacement events after a reorg get new ids.
    """

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("block_number", "log_index", name="uq_events_block_log"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(
        default=None,
        primary_key=True,
        # INTEGER on SQLite: only an INTEGER PRIMARY KEY is a rowid alias that can autoincrement.
        sa_type=BigInteger().with_variant(Integer(), "sqlite"),
        sa_column_kwargs={"autoincrement": True},
    )
    block_hash: str = Field(sa_type=String(_HASH))


class BlockHash(SQLModel, table=True):
    """The hash (and time) of an indexed block: every block with events and every batch end.

    These are what reorg detection compares against the chain to find the common ancestor.
    """

    __tablename__ = "block_hashes"

    number: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    hash: str = Field(sa_type=String(_HASH))
    timestamp: int = Field(sa_type=BigInteger)


class Checkpoint(SQLModel, table=True):
    """The one row saying which chain, which registry and up to which block the mirror holds."""

    __tablename__ = "checkpoint"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    chain_id: int = Field(sa_type=BigInteger)
    registry_address: str = Field(sa_type=String(_ADDRESS))
    block_number: int = Field(sa_type=BigInteger)
    block_hash: str = Field(sa_type=String(_HASH))


class DeferredIndex(SQLModel, table=True):
    """A secondary index dropped for a long backfill, with the statement that re-creates it.

    See `indexer.indexes`: a row exists exactly while its index is absent, so a crash mid-backfill
    leaves the list of what to re-create.
    """

    __tablename__ = "deferred_indexes"

    name: str = Field(primary_key=True, sa_type=String(128))
    table_name: str = Field(sa_type=String(128))
    ddl: str = Field(sa_type=Text)


# -- Article 6 -------------------------------------------------------------------------------


class Article6Party(SQLModel, table=True):
    """A participating Party's section: its code (as accounts carry it) and registry id."""

    __tablename__ = "article6_parties"

    party: str = Field(primary_key=True, sa_type=String(8))
    registry_id: str = Field(sa_type=String(8))
    label_authority: str = Field(sa_type=String(_ADDRESS))
    registered_block: int = Field(sa_type=BigInteger)
    tx_hash: str = Field(sa_type=String(_HASH))


class Article6PartyAdministrator(SQLModel, table=True):
    """An address the contract records as an administrator of a Party's section (A6)."""

    __tablename__ = "article6_party_administrators"

    party: str = Field(primary_key=True, sa_type=String(8))
    address: str = Field(primary_key=True, sa_type=String(_ADDRESS), index=True)


class Article6Approach(SQLModel, table=True):
    """A cooperative approach."""

    __tablename__ = "article6_approaches"

    approach_id: str = Field(primary_key=True, sa_type=String(32))
    name: str
    registered_block: int = Field(sa_type=BigInteger)
    tx_hash: str = Field(sa_type=String(_HASH))


class Article6ApproachParty(SQLModel, table=True):
    """A Party participating in a cooperative approach."""

    __tablename__ = "article6_approach_parties"

    approach_id: str = Field(primary_key=True, sa_type=String(32))
    party: str = Field(primary_key=True, sa_type=String(8))


class Article6Authorization(SQLModel, table=True):
    """A Party's letter of authorization, keyed by the operation id the registry gave it."""

    __tablename__ = "article6_authorizations"

    id: int = _id_column()
    party: str = Field(sa_type=String(8), index=True)
    approach_id: str = Field(sa_type=String(32))
    letter_id: str = Field(sa_type=String(32))
    purposes: str = Field(sa_type=String(16))  # "ndc_use", "oimp" or "ndc_use,oimp"
    first_transfer_definition: str = Field(sa_type=String(32))
    authorized_at: int = Field(sa_type=BigInteger)  # unix seconds, as signed
    block_number: int = Field(sa_type=BigInteger)
    tx_hash: str = Field(sa_type=String(_HASH))


class Article6Action(SQLModel, table=True):
    """One Article 6 action on one serial range: one record of a Party's AEF actions table."""

    __tablename__ = "article6_actions"
    __table_args__ = (Index("ix_article6_actions_party_block", "party", "block_number"),)

    block_number: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    log_index: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    tx_hash: str = Field(sa_type=String(_HASH))
    operation_id: int = Field(sa_type=BigInteger)
    authorization_id: int = Field(sa_type=BigInteger, index=True)
    action: str = Field(sa_type=String(32))
    start: int = Field(sa_type=BigInteger)
    end: int = Field(sa_type=BigInteger)
    account_id: int = Field(sa_type=BigInteger)
    party: str = Field(sa_type=String(8))
    counterparty: str = Field(sa_type=String(8))


class Article6ItmoTransfer(SQLModel, table=True):
    """The authorization an ITMO transfer moves units of (the transfer itself is in `transfers`)."""

    __tablename__ = "article6_itmo_transfers"

    transfer_id: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    authorization_id: int = Field(sa_type=BigInteger)


class Article6Config(SQLModel, table=True):
    """The one row of registry-wide Article 6 settings: its labels, the 6.4 mechanism accounts."""

    __tablename__ = "article6_config"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    ndc_label: int | None = Field(default=None, sa_type=SmallInteger)
    oimp_label: int | None = Field(default=None, sa_type=SmallInteger)
    first_transferred_label: int | None = Field(default=None, sa_type=SmallInteger)
    pending_account: int | None = Field(default=None, sa_type=BigInteger)
    holding_account: int | None = Field(default=None, sa_type=BigInteger)
    cancellation_account: int | None = Field(default=None, sa_type=BigInteger)
    omge_cancellation_account: int | None = Field(default=None, sa_type=BigInteger)
    share_of_proceeds_account: int | None = Field(default=None, sa_type=BigInteger)


class Article64Issuance(SQLModel, table=True):
    """An Article 6.4 issuance and how it was distributed (the issuance is in `issuances`)."""

    __tablename__ = "article64_issuances"

    issuance_id: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    cancellation_id: int = Field(sa_type=BigInteger)  # the OMGE cancellation
    pending_account: int = Field(sa_type=BigInteger)
    quantity: int = Field(sa_type=BigInteger)
    share_of_proceeds: int = Field(sa_type=BigInteger)
    omge: int = Field(sa_type=BigInteger)
    forwarded: int = Field(sa_type=BigInteger)
    block_number: int = Field(sa_type=BigInteger)
    tx_hash: str = Field(sa_type=String(_HASH))


class Article64Part(SQLModel, table=True):
    """One part of an Article 6.4 issuance: share of proceeds, OMGE, or a forward."""

    __tablename__ = "article64_parts"

    issuance_id: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    start: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    end: int = Field(sa_type=BigInteger)
    share: str = Field(sa_type=String(32))  # share_of_proceeds, omge, forwarded
    account_id: int = Field(sa_type=BigInteger)


# -- inter-registry transfers (InteropModule, docs/interop.md) ----------------------------------


class InteropPeer(SQLModel, table=True):
    """A peer registry as the administrator recorded it on-chain (its latest record)."""

    __tablename__ = "interop_peers"

    registry_code: str = Field(primary_key=True, sa_type=String(8))
    operator_address: str = Field(sa_type=String(_ADDRESS))  # signs its protocol messages
    chain_id: int = Field(sa_type=BigInteger)
    registry_address: str = Field(sa_type=String(_ADDRESS))
    api_url: str
    block_number: int = Field(sa_type=BigInteger)
    tx_hash: str = Field(sa_type=String(_HASH))


class InteropTransfer(SQLModel, table=True):
    """A transfer between this registry and a peer: `out` (this registry is the source, keyed by
    the destination's code) or `in` (keyed by the source's code), with its phase.

    Out: pending, in_transit, transferred or returned. In: proposed, accepted or refused.
    """

    __tablename__ = "interop_transfers"

    direction: str = Field(primary_key=True, sa_type=String(3))
    peer_registry: str = Field(primary_key=True, sa_type=String(8))
    transfer_id: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    status: str = Field(sa_type=String(16))
    from_account: int | None = Field(default=None, sa_type=BigInteger)  # out only
    to_account: int | None = Field(default=None, sa_type=BigInteger)  # out only
    initiator: str | None = Field(default=None, sa_type=String(_ADDRESS))  # out only
    quantity: int | None = Field(default=None, sa_type=BigInteger)  # out only
    proposal_digest: str | None = Field(default=None, sa_type=String(_HASH))
    deadline: int | None = Field(default=None, sa_type=BigInteger)
    reason: int | None = Field(default=None)
    answer_digest: str | None = Field(default=None, sa_type=String(_HASH))


class InteropMessage(SQLModel, table=True):
    """One interop event as a transfer's record shows it: who signed what, in which transaction.

    `digest` and `signature` are the protocol message's (proposal or answer); `signer` is the
    operator who signed it, or the representative who approved.
    """

    __tablename__ = "interop_messages"

    block_number: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    log_index: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    tx_hash: str = Field(sa_type=String(_HASH))
    event: str = Field(sa_type=String(32))
    direction: str = Field(sa_type=String(3), index=True)
    peer_registry: str = Field(sa_type=String(8))
    transfer_id: int = Field(sa_type=BigInteger, index=True)
    digest: str | None = Field(default=None, sa_type=String(_HASH))
    signer: str | None = Field(default=None, sa_type=String(_ADDRESS))
    signature: str | None = Field(default=None)
    deadline: int | None = Field(default=None, sa_type=BigInteger)
    accepted: bool | None = Field(default=None)
    reason: int | None = Field(default=None)


class InteropImport(SQLModel, table=True):
    """Serials an accepted inbound transfer issued here, and the source's serials they were."""

    __tablename__ = "interop_imports"

    source_registry: str = Field(primary_key=True, sa_type=String(8))
    transfer_id: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    start: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    end: int = Field(sa_type=BigInteger)
    origin_start: int = Field(sa_type=BigInteger)
    origin_end: int = Field(sa_type=BigInteger)
