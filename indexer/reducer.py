"""The one reducer: what each registry event means for the derived tables, written once.

`Reducer` holds one handler per event. A handler takes the event's typed payload (see
`indexer.payloads`) and its position in the chain, and writes rows to a keyed `Store`:

- the mirror runs it over `indexer.mirror.SqlStore`, which buffers a batch's rows and writes
  them in bulk inside the indexer's transaction;
- the audit runs it over `MemoryStore` (plain dictionaries) from eth_getLogs alone and compares
  every derived table with the mirror's.

Unit blocks go through the store's block map (`node.ledger.BlockIndex`, the only one), which
splits ranges exactly as the contract does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from sqlalchemy import Table

from indexer import payloads as p
from indexer.errors import MirrorInconsistentError
from indexer.models import (
    Account,
    AccountTransaction,
    Article6Action,
    Article6Approach,
    Article6ApproachParty,
    Article6Authorization,
    Article6Config,
    Article6ItmoTransfer,
    Article6Party,
    Article6PartyAdministrator,
    Article64Issuance,
    Article64Part,
    Association,
    Cancellation,
    Consent,
    Escrow,
    ExecutedRequest,
    InteropImport,
    InteropMessage,
    InteropPeer,
    InteropTransfer,
    Issuance,
    Label,
    LabelChange,
    OperationRange,
    Platform,
    PlatformSigner,
    Project,
    Representative,
    Reservation,
    Transfer,
    UnitBlock,
    enum_text,
    purposes_text,
    sql_text,
    table_of,
)
from node.contracts import (
    AccountKind,
    AccountStatus,
    ApprovalPolicy,
    Article64Share,
    CancellationPurpose,
    ConsentScope,
    FirstTransferDefinition,
    PlatformStatus,
    UnitState,
    bytes32_text,
)
from node.contracts import Article6Action as Action
from node.ledger import BlockIndex, BlockRecord, DecodedEvent

__all__ = [
    "DERIVED_TABLES",
    "MemoryStore",
    "Reducer",
    "Store",
    "block_row",
    "hex_text",
    "key_of",
]

ACCOUNTS = table_of(Account)
REPRESENTATIVES = table_of(Representative)
PROJECTS = table_of(Project)
ISSUANCES = table_of(Issuance)
LABELS = table_of(Label)
UNIT_BLOCKS = table_of(UnitBlock)
TRANSFERS = table_of(Transfer)
CANCELLATIONS = table_of(Cancellation)
OPERATION_RANGES = table_of(OperationRange)
ACCOUNT_TRANSACTIONS = table_of(AccountTransaction)
LABEL_CHANGES = table_of(LabelChange)
EXECUTED_REQUESTS = table_of(ExecutedRequest)
PLATFORMS = table_of(Platform)
PLATFORM_SIGNERS = table_of(PlatformSigner)
CONSENTS = table_of(Consent)
RESERVATIONS = table_of(Reservation)
ESCROWS = table_of(Escrow)
ASSOCIATIONS = table_of(Association)
A6_PARTIES = table_of(Article6Party)
A6_PARTY_ADMINS = table_of(Article6PartyAdministrator)
A6_APPROACHES = table_of(Article6Approach)
A6_APPROACH_PARTIES = table_of(Article6ApproachParty)
A6_AUTHORIZATIONS = table_of(Article6Authorization)
A6_ACTIONS = table_of(Article6Action)
A6_ITMO_TRANSFERS = table_of(Article6ItmoTransfer)
A6_CONFIG = table_of(Article6Config)
A64_ISSUANCES = table_of(Article64Issuance)
A64_PARTS = table_of(Article64Part)
INTEROP_PEERS = table_of(InteropPeer)
INTEROP_TRANSFERS = table_of(InteropTransfer)
INTEROP_MESSAGES = table_of(InteropMessage)
INTEROP_IMPORTS = table_of(InteropImport)

# Every table that is a function of the raw events alone, i.e. what a rebuild recomputes, in
# the order a store writes them. The audit compares each of them; `tests/indexer/
# test_reducer.py` fails when a table of the schema is neither here nor known to be bookkeeping.
DERIVED_TABLES: tuple[Table, ...] = (
    ACCOUNTS,
    REPRESENTATIVES,
    PROJECTS,
    ISSUANCES,
    LABELS,
    UNIT_BLOCKS,
    TRANSFERS,
    CANCELLATIONS,
    OPERATION_RANGES,
    ACCOUNT_TRANSACTIONS,
    LABEL_CHANGES,
    EXECUTED_REQUESTS,
    PLATFORMS,
    PLATFORM_SIGNERS,
    CONSENTS,
    RESERVATIONS,
    ESCROWS,
    ASSOCIATIONS,
    A6_PARTIES,
    A6_PARTY_ADMINS,
    A6_APPROACHES,
    A6_APPROACH_PARTIES,
    A6_AUTHORIZATIONS,
    A6_ACTIONS,
    A6_ITMO_TRANSFERS,
    A6_CONFIG,
    A64_ISSUANCES,
    A64_PARTS,
    INTEROP_PEERS,
    INTEROP_TRANSFERS,
    INTEROP_MESSAGES,
    INTEROP_IMPORTS,
)

Key = tuple[Any, ...]
Row = dict[str, Any]

# A state's text as the mirror stores it, by the state.
STATE_TEXT = {state: enum_text(state) for state in UnitState}
_CANCELLED = int(UnitState.CANCELLED)


def hex_text(value: str) -> str:
    """Decode a right-padded bytes32/bytes8 identifier given as 0x-hex into mirror text."""
    return sql_text(bytes32_text(value))


def key_of(table: Table) -> tuple[str, ...]:
    """Return the names of a table's primary-key columns, in column order."""
    return tuple(c.name for c in table.primary_key.columns)


def block_row(b: BlockRecord) -> Row:
    """Return a unit block as the `unit_blocks` table holds it."""
    return {
        "start": b.start,
        "end": b.end,
        "account_id": b.account,
        "state": STATE_TEXT[b.state],
        "lock_id": b.lock_id,
        "issuance_id": b.issuance,
        "labels": b.labels,
    }


class Store(Protocol):
    """Keyed rows of the derived tables, and the unit-block map, that the reducer writes."""

    @property
    def blocks(self) -> BlockIndex:
        """The unit blocks (`unit_blocks` is written from it, not through `insert`)."""
        ...

    def prefetch(self, serials: Iterable[int]) -> None:
        """Make sure the blocks containing `serials` are in `blocks` (a batch's, in SQL)."""
        ...

    def insert(self, table: Table, row: Row) -> None:
        """Add a row that does not exist yet."""
        ...

    def update(self, table: Table, key: Key, **values: Any) -> None:
        """Set some columns of an existing row."""
        ...

    def replace(self, table: Table, key: Key, row: Row | None) -> None:
        """Put a row in place of whatever row has this key (None: remove that row)."""
        ...

    def row(self, table: Table, key: Key) -> Row | None:
        """Return the current row with this key, if any."""
        ...

    def keys_where(self, table: Table, column: str, value: Any) -> set[Key]:
        """Return the keys of the current rows whose `column` equals `value`."""
        ...


class MemoryStore:
    """A `Store` in plain dictionaries: the audit's replay from the chain alone."""

    def __init__(self) -> None:
        self._blocks = BlockIndex()
        self.tables: dict[str, dict[Key, Row]] = {t.name: {} for t in DERIVED_TABLES}
        self._keys = {t.name: key_of(t) for t in DERIVED_TABLES}

    @property
    def blocks(self) -> BlockIndex:
        return self._blocks

    def prefetch(self, serials: Iterable[int]) -> None:
        return None  # every block is in memory already

    def insert(self, table: Table, row: Row) -> None:
        self.tables[table.name][tuple(row[c] for c in self._keys[table.name])] = dict(row)

    def update(self, table: Table, key: Key, **values: Any) -> None:
        self.tables[table.name][key].update(values)

    def replace(self, table: Table, key: Key, row: Row | None) -> None:
        rows = self.tables[table.name]
        rows.pop(key, None)
        if row is not None:
            self.insert(table, row)

    def row(self, table: Table, key: Key) -> Row | None:
        found = self.tables[table.name].get(key)
        return None if found is None else dict(found)

    def keys_where(self, table: Table, column: str, value: Any) -> set[Key]:
        return {k for k, r in self.tables[table.name].items() if r[column] == value}

    def rows(self, table: Table) -> dict[Key, Row]:
        """Return a table's rows by key (unit blocks from the block map)."""
        if table is UNIT_BLOCKS:
            return {(b.start,): block_row(b) for b in self._blocks.blocks()}
        return self.tables[table.name]


_Handler = Callable[["Reducer", DecodedEvent, Any], None]


class Reducer:
    """Apply registry events in chain order to a `Store`.

    One reducer may apply several consecutive chunks of events (a rebuild does); it remembers
    the current request's signer and ranges across chunks, because one transaction's events may
    straddle them.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        # Ranges moved by the request being applied: a request's events start with its
        # RequestExecuted, and its unit-moving event follows the BlockChanged events it caused.
        # Each is (start, end, state, lock id).
        self._tx_hash = ""
        self._ranges: list[tuple[int, int, int, int]] = []
        # The signer of the request being applied (its RequestExecuted comes first), and the
        # transaction it was relayed in.
        self._signer = ""
        self._signer_tx = ""

    def apply(self, events: Sequence[DecodedEvent]) -> None:
        """Apply events in chain order (the store's blocks for them are fetched first)."""
        decoded = [p.decode(e) for e in events]
        self.store.prefetch(
            x.start for x in decoded if isinstance(x, p.BlockChanged | p.LabelChanged)
        )
        for event, payload in zip(events, decoded, strict=True):
            if event.tx_hash != self._tx_hash:
                self._tx_hash = event.tx_hash
                self._ranges = []
            handler = HANDLERS.get(event.name)
            if handler is not None:
                handler(self, event, payload)

    # -- requests, accounts, projects, labels ------------------------------------------------

    def request_executed(self, e: DecodedEvent, x: p.RequestExecuted) -> None:
        self._ranges = []
        self._signer = x.signer
        self._signer_tx = e.tx_hash
        self.store.insert(
            EXECUTED_REQUESTS,
            {
                "digest": x.digest,
                "signer": x.signer,
                "nonce": x.nonce,
                "block_number": e.block_number,
                "log_index": e.log_index,
                "tx_hash": e.tx_hash,
            },
        )

    def _request_signer(self, e: DecodedEvent) -> str | None:
        """Return who signed the request an event belongs to (None: no signed request)."""
        return self._signer if self._signer_tx == e.tx_hash else None

    def _transaction(self, e: DecodedEvent, kind: str, operation_id: int, **values: Any) -> None:
        """List an operation in the transaction histories of the accounts it touched."""
        row: Row = {c.name: None for c in ACCOUNT_TRANSACTIONS.columns}
        row.update(type=kind, operation_id=operation_id, tx_hash=e.tx_hash)
        row.update(block_number=e.block_number, **values)
        self.store.insert(ACCOUNT_TRANSACTIONS, row)

    def _decided(self, e: DecodedEvent, kind: str, operation_id: int, **values: Any) -> None:
        self.store.update(
            ACCOUNT_TRANSACTIONS,
            (kind, operation_id),
            decided_tx_hash=e.tx_hash,
            decided_block_number=e.block_number,
            **values,
        )

    def batch_item_failed(self, e: DecodedEvent, x: p.BatchItemFailed) -> None:
        self._ranges = []

    def account_opened(self, e: DecodedEvent, x: p.AccountOpened) -> None:
        self.store.insert(
            ACCOUNTS,
            {
                "id": x.account_id,
                "kind": enum_text(AccountKind(x.kind)),
                "status": enum_text(AccountStatus.OPEN),
                "approval_policy": enum_text(ApprovalPolicy(x.approval_policy)),
                "party": hex_text(x.party),
                "holder_name": sql_text(x.holder_name),
                # Set by the RepresentativeSet(primary) event that follows in the same request.
                "primary_representative": "",
                "opened_block": e.block_number,
                "opened_tx_hash": e.tx_hash,
            },
        )

    def representative_set(self, e: DecodedEvent, x: p.RepresentativeSet) -> None:
        # NOTE: the event documents "all flags false" as a removal, so the row goes.
        removed = not (x.primary or x.can_initiate or x.can_approve)
        row = None
        if not removed:
            row = {
                "account_id": x.account_id,
                "address": x.representative,
                "is_primary": x.primary,
                "can_initiate": x.can_initiate,
                "can_approve": x.can_approve,
                "updated_block": e.block_number,
            }
        self.store.replace(REPRESENTATIVES, (x.account_id, x.representative), row)
        if x.primary:
            self.store.update(ACCOUNTS, (x.account_id,), primary_representative=x.representative)

    def account_status_changed(self, e: DecodedEvent, x: p.AccountStatusChanged) -> None:
        status = enum_text(AccountStatus(x.status))
        self.store.update(ACCOUNTS, (x.account_id,), status=status)

    def project_registered(self, e: DecodedEvent, x: p.ProjectRegistered) -> None:
        self.store.insert(
            PROJECTS,
            {
                "id": hex_text(x.project_id),
                "name": sql_text(x.name),
                "methodology": sql_text(x.methodology),
                "country": hex_text(x.country),
                "registered_block": e.block_number,
                "tx_hash": e.tx_hash,
            },
        )

    def project_updated(self, e: DecodedEvent, x: p.ProjectUpdated) -> None:
        self.store.update(
            PROJECTS,
            (hex_text(x.project_id),),
            name=sql_text(x.name),
            methodology=sql_text(x.methodology),
        )

    def label_defined(self, e: DecodedEvent, x: p.LabelDefined) -> None:
        self.store.insert(
            LABELS,
            {
                "id": x.label_id,
                "name": hex_text(x.name),
                "authority": x.authority,
                "defined_block": e.block_number,
                "tx_hash": e.tx_hash,
            },
        )

    # -- units -------------------------------------------------------------------------------

    def units_issued(self, e: DecodedEvent, x: p.UnitsIssued) -> None:
        self.store.insert(
            ISSUANCES,
            {
                "id": x.issuance_id,
                "project_id": hex_text(x.project_id),
                "unit_type": hex_text(x.unit_type),
                "vintage": x.vintage,
                "monitoring_start": x.monitoring_start,
                "monitoring_end": x.monitoring_end,
                "origin_registry": hex_text(x.origin_registry),
                "start": x.start,
                "end": x.end,
                "quantity": x.end - x.start + 1,
                "account_id": x.account_id,
                "block_number": e.block_number,
                "tx_hash": e.tx_hash,
            },
        )
        self.store.blocks.issue(x.start, x.end, x.account_id, x.issuance_id)
        self._transaction(
            e,
            "issuance",
            x.issuance_id,
            status="completed",
            to_account=x.account_id,
            quantity=x.end - x.start + 1,
            initiated_by=self._request_signer(e),
            range_start=x.start,
            range_end=x.end,
        )

    def block_changed(self, e: DecodedEvent, x: p.BlockChanged) -> None:
        self.store.blocks.change(x.start, x.end, x.account_id, x.state, x.lock_id)
        self._ranges.append((x.start, x.end, x.state, x.lock_id))

    def label_changed(self, e: DecodedEvent, x: p.LabelChanged) -> None:
        self.store.blocks.label(x.start, x.end, x.label_id, x.applied)
        self.store.insert(
            LABEL_CHANGES,
            {
                "block_number": e.block_number,
                "log_index": e.log_index,
                "tx_hash": e.tx_hash,
                "start": x.start,
                "end": x.end,
                "label_id": x.label_id,
                "applied": x.applied,
            },
        )

    def _record_ranges(self, operation_id: int, *, cancelled: bool = False) -> None:
        for start, end, state, lock_id in self._ranges:
            # NOTE: an Article 6.4 issuance moves its other parts in the same request before it
            # cancels the OMGE part: a cancellation's ranges are the ones it cancelled.
            if cancelled and (state != _CANCELLED or lock_id != operation_id):
                continue
            self.store.insert(
                OPERATION_RANGES, {"operation_id": operation_id, "start": start, "end": end}
            )

    # -- transfers and cancellations ---------------------------------------------------------

    def _transfer(
        self,
        e: DecodedEvent,
        transfer_id: int,
        from_account: int,
        to_account: int,
        quantity: int,
        initiator: str,
        *,
        executed: bool,
    ) -> None:
        self.store.insert(
            TRANSFERS,
            {
                "id": transfer_id,
                "from_account": from_account,
                "to_account": to_account,
                "quantity": quantity,
                "status": "completed" if executed else "pending",
                "initiator": initiator,
                "approver": initiator if executed else None,
                "rescinded_by": None,
                "initiated_block": e.block_number,
                "initiated_tx_hash": e.tx_hash,
                "decided_block": e.block_number if executed else None,
                "decided_tx_hash": e.tx_hash if executed else None,
            },
        )
        self._record_ranges(transfer_id)
        self._transaction(
            e,
            "transfer",
            transfer_id,
            status="completed" if executed else "pending",
            from_account=from_account,
            to_account=to_account,
            quantity=quantity,
            initiated_by=initiator,
            approved_by=initiator if executed else None,
            decided_by=initiator if executed else None,
            decided_tx_hash=e.tx_hash if executed else None,
            decided_block_number=e.block_number if executed else None,
        )

    def transfer_initiated(self, e: DecodedEvent, x: p.TransferInitiated) -> None:
        self._transfer(
            e, x.transfer_id, x.from_account, x.to_account, x.quantity, x.initiator, executed=False
        )

    def transfer_executed(self, e: DecodedEvent, x: p.TransferExecuted) -> None:
        # A single-policy core transfer: initiated and completed by its initiator in one request.
        self._transfer(
            e, x.transfer_id, x.from_account, x.to_account, x.quantity, x.initiator, executed=True
        )

    def transfer_completed(self, e: DecodedEvent, x: p.TransferCompleted) -> None:
        self.store.update(
            TRANSFERS,
            (x.transfer_id,),
            status="completed",
            approver=x.approver,
            decided_block=e.block_number,
            decided_tx_hash=e.tx_hash,
        )
        self._decided(
            e,
            "transfer",
            x.transfer_id,
            status="completed",
            approved_by=x.approver,
            decided_by=x.approver,
        )

    def transfer_rescinded(self, e: DecodedEvent, x: p.TransferRescinded) -> None:
        self.store.update(
            TRANSFERS,
            (x.transfer_id,),
            status="rescinded",
            rescinded_by=x.representative,
            decided_block=e.block_number,
            decided_tx_hash=e.tx_hash,
        )
        self._decided(
            e,
            "transfer",
            x.transfer_id,
            status="rescinded",
            rescinded_by=x.representative,
            decided_by=x.representative,
        )

    def units_cancelled(self, e: DecodedEvent, x: p.UnitsCancelled) -> None:
        self.store.insert(
            CANCELLATIONS,
            {
                "id": x.cancellation_id,
                "account_id": x.account_id,
                "purpose": enum_text(CancellationPurpose(x.purpose)),
                "quantity": x.quantity,
                "beneficiary": sql_text(x.beneficiary),
                "reason": sql_text(x.reason),
                "block_number": e.block_number,
                "tx_hash": e.tx_hash,
            },
        )
        self._record_ranges(x.cancellation_id, cancelled=True)
        self._transaction(
            e,
            "cancellation",
            x.cancellation_id,
            status="completed",
            from_account=x.account_id,
            quantity=x.quantity,
            initiated_by=self._request_signer(e),
        )

    # -- platforms, consents, reservations, escrows, associations ----------------------------

    def platform_registered(self, e: DecodedEvent, x: p.PlatformRegistered) -> None:
        self.store.insert(
            PLATFORMS,
            {
                "address": x.platform,
                "name": sql_text(x.name),
                "custodial_account_id": x.custodial_account,
                "status": enum_text(PlatformStatus.ACTIVE),
                "registered_block": e.block_number,
                "registered_tx_hash": e.tx_hash,
                "updated_block": e.block_number,
            },
        )

    def platform_signer_set(self, e: DecodedEvent, x: p.PlatformSignerSet) -> None:
        row = None
        if x.enabled:
            row = {
                "platform": x.platform,
                "signer": x.signer,
                "added_block": e.block_number,
                "added_tx_hash": e.tx_hash,
            }
        self.store.replace(PLATFORM_SIGNERS, (x.platform, x.signer), row)

    def platform_status_changed(self, e: DecodedEvent, x: p.PlatformStatusChanged) -> None:
        self.store.update(
            PLATFORMS,
            (x.platform,),
            status=enum_text(PlatformStatus(x.status)),
            updated_block=e.block_number,
        )

    def consent_granted(self, e: DecodedEvent, x: p.ConsentGranted) -> None:
        self.store.insert(
            CONSENTS,
            {
                "id": x.consent_id,
                "account_id": x.account_id,
                "platform": x.platform,
                "scope": enum_text(ConsentScope(x.scope)),
                "status": "active",
                "granted_by": self._signer,
                "granted_block": e.block_number,
                "granted_tx_hash": e.tx_hash,
                "revoked_by": None,
                "revoked_block": None,
                "revoked_tx_hash": None,
            },
        )

    def consent_revoked(self, e: DecodedEvent, x: p.ConsentRevoked) -> None:
        self.store.update(
            CONSENTS,
            (x.consent_id,),
            status="revoked",
            revoked_by=x.representative,
            revoked_block=e.block_number,
            revoked_tx_hash=e.tx_hash,
        )

    def _locked(
        self,
        e: DecodedEvent,
        table: Table,
        operation_id: int,
        account_id: int,
        quantity: int,
        **values: Any,
    ) -> None:
        """Record a reservation, escrow or association and the ranges it locked."""
        self.store.insert(
            table,
            {
                "id": operation_id,
                "account_id": account_id,
                **values,
                "quantity": quantity,
                "status": "active",
                "created_by": self._signer,
                "created_block": e.block_number,
                "created_tx_hash": e.tx_hash,
                "closed_by": None,
                "closed_block": None,
                "closed_tx_hash": None,
            },
        )
        self._record_ranges(operation_id)
        self._transaction(
            e,
            _LOCK_KINDS[table.name],
            operation_id,
            status="active",
            from_account=account_id,
            quantity=quantity,
            initiated_by=self._signer,
            platform=values.get("platform", values.get("third_party_registry")),
            reference=values.get("certificate_id"),
        )

    def _closed(
        self,
        e: DecodedEvent,
        table: Table,
        operation_id: int,
        status: str,
        by: str,
        **values: Any,
    ) -> None:
        self.store.update(
            table,
            (operation_id,),
            status=status,
            closed_by=by,
            closed_block=e.block_number,
            closed_tx_hash=e.tx_hash,
            **values,
        )
        moved = {"to_account": values["to_account"]} if "to_account" in values else {}
        self._decided(
            e, _LOCK_KINDS[table.name], operation_id, status=status, decided_by=by, **moved
        )

    def units_reserved(self, e: DecodedEvent, x: p.UnitsReserved) -> None:
        self._locked(
            e,
            RESERVATIONS,
            x.reservation_id,
            x.account_id,
            x.quantity,
            platform=x.platform,
            to_account=None,
        )

    def reservation_released(self, e: DecodedEvent, x: p.ReservationReleased) -> None:
        self._closed(e, RESERVATIONS, x.reservation_id, "released", x.representative)

    def reservation_transferred(self, e: DecodedEvent, x: p.ReservationTransferred) -> None:
        self._closed(
            e,
            RESERVATIONS,
            x.reservation_id,
            "transferred",
            x.representative,
            to_account=x.custodial_account,
        )

    def units_escrowed(self, e: DecodedEvent, x: p.UnitsEscrowed) -> None:
        self._locked(
            e, ESCROWS, x.escrow_id, x.account_id, x.quantity, platform=x.platform, to_account=None
        )

    def escrow_settled(self, e: DecodedEvent, x: p.EscrowSettled) -> None:
        self._closed(e, ESCROWS, x.escrow_id, "settled", x.signer, to_account=x.to_account)

    def escrow_released(self, e: DecodedEvent, x: p.EscrowReleased) -> None:
        self._closed(e, ESCROWS, x.escrow_id, "released", x.signer)

    def units_associated(self, e: DecodedEvent, x: p.UnitsAssociated) -> None:
        self._locked(
            e,
            ASSOCIATIONS,
            x.association_id,
            x.account_id,
            x.quantity,
            third_party_registry=x.third_party_registry,
            certificate_id=hex_text(x.certificate_id),
            cancellation_id=None,
        )

    def units_dissociated(self, e: DecodedEvent, x: p.UnitsDissociated) -> None:
        self._closed(e, ASSOCIATIONS, x.association_id, "dissociated", x.third_party_registry)

    def association_retired(self, e: DecodedEvent, x: p.AssociationRetired) -> None:
        self._closed(
            e,
            ASSOCIATIONS,
            x.association_id,
            "retired",
            x.third_party_registry,
            cancellation_id=x.cancellation_id,
        )

    # -- Article 6 ---------------------------------------------------------------------------

    def _replace_members(
        self, table: Table, key: str, owner: str, member: str, new: Iterable[str]
    ) -> None:
        """Make a Party's administrators, or an approach's Parties, exactly `new`."""
        current = {k[1] for k in self.store.keys_where(table, key, owner)}
        wanted = set(new)
        for gone in sorted(current - wanted):
            self.store.replace(table, (owner, gone), None)
        for added in sorted(wanted - current):
            self.store.insert(table, {key: owner, member: added})

    def _update_config(self, **values: Any) -> None:
        row = self.store.row(A6_CONFIG, (1,))
        if row is None:
            row = {c.name: None for c in A6_CONFIG.columns} | {"id": 1}
        self.store.replace(A6_CONFIG, (1,), row | values)

    def party_registered(self, e: DecodedEvent, x: p.PartyRegistered) -> None:
        party = hex_text(x.party)
        self.store.replace(
            A6_PARTIES,
            (party,),
            {
                "party": party,
                "registry_id": hex_text(x.registry_id),
                "label_authority": x.label_authority,
                "registered_block": e.block_number,
                "tx_hash": e.tx_hash,
            },
        )
        self._replace_members(A6_PARTY_ADMINS, "party", party, "address", x.administrators)

    def approach_registered(self, e: DecodedEvent, x: p.CooperativeApproachRegistered) -> None:
        approach = hex_text(x.approach_id)
        self.store.replace(
            A6_APPROACHES,
            (approach,),
            {
                "approach_id": approach,
                "name": sql_text(x.name),
                "registered_block": e.block_number,
                "tx_hash": e.tx_hash,
            },
        )
        self._replace_members(
            A6_APPROACH_PARTIES,
            "approach_id",
            approach,
            "party",
            (hex_text(party) for party in x.parties),
        )

    def mechanism_accounts_set(self, e: DecodedEvent, x: p.MechanismAccountsSet) -> None:
        self._update_config(
            pending_account=x.pending,
            holding_account=x.holding,
            cancellation_account=x.cancellation,
            omge_cancellation_account=x.omge_cancellation,
            share_of_proceeds_account=x.share_of_proceeds,
        )

    def article6_labels_defined(self, e: DecodedEvent, x: p.Article6LabelsDefined) -> None:
        self._update_config(
            ndc_label=x.ndc_label,
            oimp_label=x.oimp_label,
            first_transferred_label=x.first_transferred_label,
        )

    def authorization_recorded(self, e: DecodedEvent, x: p.AuthorizationRecorded) -> None:
        self.store.insert(
            A6_AUTHORIZATIONS,
            {
                "id": x.authorization_id,
                "party": hex_text(x.party),
                "approach_id": hex_text(x.approach_id),
                "letter_id": hex_text(x.letter_id),
                "purposes": purposes_text(x.purposes),
                "first_transfer_definition": enum_text(
                    FirstTransferDefinition(x.first_transfer_definition)
                ),
                "authorized_at": x.authorized_at,
                "block_number": e.block_number,
                "tx_hash": e.tx_hash,
            },
        )

    def article6_action_recorded(self, e: DecodedEvent, x: p.Article6ActionRecorded) -> None:
        self.store.insert(
            A6_ACTIONS,
            {
                "block_number": e.block_number,
                "log_index": e.log_index,
                "tx_hash": e.tx_hash,
                "operation_id": x.operation_id,
                "authorization_id": x.authorization_id,
                "action": enum_text(Action(x.action)),
                "start": x.start,
                "end": x.end,
                "account_id": x.account_id,
                "party": hex_text(x.party),
                "counterparty": hex_text(x.counterparty),
            },
        )

    def itmo_transfer_initiated(self, e: DecodedEvent, x: p.ItmoTransferInitiated) -> None:
        self.store.insert(
            A6_ITMO_TRANSFERS,
            {"transfer_id": x.transfer_id, "authorization_id": x.authorization_id},
        )

    def article64_issued(self, e: DecodedEvent, x: p.Article64Issued) -> None:
        self.store.insert(
            A64_ISSUANCES,
            {
                "issuance_id": x.issuance_id,
                "cancellation_id": x.cancellation_id,
                "pending_account": x.pending_account,
                "quantity": x.quantity,
                "share_of_proceeds": x.share_of_proceeds,
                "omge": x.omge,
                "forwarded": x.forwarded,
                "block_number": e.block_number,
                "tx_hash": e.tx_hash,
            },
        )

    def article64_distributed(self, e: DecodedEvent, x: p.Article64Distributed) -> None:
        self.store.insert(
            A64_PARTS,
            {
                "issuance_id": x.issuance_id,
                "start": x.start,
                "end": x.end,
                "share": enum_text(Article64Share(x.share)),
                "account_id": x.account_id,
            },
        )

    # -- inter-registry transfers (docs/interop.md) -----------------------------------------

    def peer_set(self, e: DecodedEvent, x: p.PeerSet) -> None:
        code = hex_text(x.registry_code)
        self.store.replace(
            INTEROP_PEERS,
            (code,),
            {
                "registry_code": code,
                "operator_address": x.operator,
                "chain_id": x.chain_id,
                "registry_address": x.registry,
                "api_url": x.api_url,
                "block_number": e.block_number,
                "tx_hash": e.tx_hash,
            },
        )

    def _message(self, e: DecodedEvent, key: Key, **values: Any) -> None:
        direction, peer, transfer_id = key
        self.store.insert(
            INTEROP_MESSAGES,
            {
                "block_number": e.block_number,
                "log_index": e.log_index,
                "tx_hash": e.tx_hash,
                "event": e.name,
                "direction": direction,
                "peer_registry": peer,
                "transfer_id": transfer_id,
                "digest": None,
                "signer": None,
                "signature": None,
                "deadline": None,
                "accepted": None,
                "reason": None,
                **values,
            },
        )

    def _outbound(self, transfer_id: int) -> Key:
        """Return the key of this registry's outbound transfer (ids are the source's own)."""
        keys = [
            k
            for k in self.store.keys_where(INTEROP_TRANSFERS, "transfer_id", transfer_id)
            if k[0] == "out"
        ]
        if len(keys) != 1:
            raise MirrorInconsistentError(
                f"no outbound interop transfer {transfer_id} is mirrored; run `registry audit`"
            )
        return keys[0]

    def transfer_out_initiated(self, e: DecodedEvent, x: p.TransferOutInitiated) -> None:
        key = ("out", hex_text(x.to_registry), x.transfer_id)
        self.store.insert(
            INTEROP_TRANSFERS,
            {
                "direction": key[0],
                "peer_registry": key[1],
                "transfer_id": key[2],
                "status": "pending",
                "from_account": x.from_account,
                "to_account": x.to_account,
                "initiator": x.initiator,
                "quantity": x.quantity,
                "proposal_digest": None,
                "deadline": None,
                "reason": None,
                "answer_digest": None,
            },
        )
        self._message(e, key, signer=x.initiator)

    def transfer_out_approved(self, e: DecodedEvent, x: p.TransferOutApproved) -> None:
        key = self._outbound(x.transfer_id)
        self.store.update(INTEROP_TRANSFERS, key, status="in_transit")
        self._message(e, key, signer=x.approver)

    def proposal_sent(self, e: DecodedEvent, x: p.ProposalSent) -> None:
        key = self._outbound(x.transfer_id)
        self.store.update(
            INTEROP_TRANSFERS, key, proposal_digest=x.proposal_digest, deadline=x.deadline
        )
        self._message(
            e,
            key,
            digest=x.proposal_digest,
            signer=x.signer,
            signature=x.signature,
            deadline=x.deadline,
        )

    def proposal_received(self, e: DecodedEvent, x: p.ProposalReceived) -> None:
        key = ("in", hex_text(x.source_registry), x.transfer_id)
        self.store.insert(
            INTEROP_TRANSFERS,
            {
                "direction": key[0],
                "peer_registry": key[1],
                "transfer_id": key[2],
                "status": "proposed",
                "from_account": None,
                "to_account": None,
                "initiator": None,
                "quantity": None,
                "proposal_digest": x.proposal_digest,
                "deadline": x.deadline,
                "reason": None,
                "answer_digest": None,
            },
        )
        self._message(
            e,
            key,
            digest=x.proposal_digest,
            signer=x.signer,
            signature=x.signature,
            deadline=x.deadline,
        )

    def answer_recorded(self, e: DecodedEvent, x: p.AnswerRecorded) -> None:
        # On the destination the answer is to a proposal it received (keyed by the source); on
        # the source, to its own outbound transfer to that destination.
        key: Key = ("in", hex_text(x.source_registry), x.transfer_id)
        if self.store.row(INTEROP_TRANSFERS, key) is not None:
            status = "accepted" if x.accepted else "refused"
        else:
            key = self._outbound(x.transfer_id)
            if key[1] != hex_text(x.dest_registry):
                raise MirrorInconsistentError(
                    f"an answer to outbound transfer {x.transfer_id} names another peer"
                )
            status = "transferred" if x.accepted else "returned"
        self.store.update(
            INTEROP_TRANSFERS, key, status=status, reason=x.reason, answer_digest=x.answer_digest
        )
        self._message(
            e,
            key,
            digest=x.answer_digest,
            signer=x.signer,
            signature=x.signature,
            accepted=x.accepted,
            reason=x.reason,
        )

    def units_imported(self, e: DecodedEvent, x: p.UnitsImported) -> None:
        # Logged while the answer is applied, before the ProposalReceived of the same request.
        source = hex_text(x.source_registry)
        self.store.insert(
            INTEROP_IMPORTS,
            {
                "source_registry": source,
                "transfer_id": x.transfer_id,
                "start": x.start,
                "end": x.end,
                "origin_start": x.origin_start,
                "origin_end": x.origin_end,
            },
        )
        self._message(e, ("in", source, x.transfer_id))


# The transaction type of each lock table's operations.
_LOCK_KINDS = {
    RESERVATIONS.name: "reservation",
    ESCROWS.name: "escrow",
    ASSOCIATIONS.name: "association",
}

# One handler per event the registry emits (bar `payloads.IGNORED_EVENTS`); a test holds this
# against the ABI, so an event without a handler fails loudly.
HANDLERS: dict[str, _Handler] = {
    "RequestExecuted": Reducer.request_executed,
    "BatchItemFailed": Reducer.batch_item_failed,
    "AccountOpened": Reducer.account_opened,
    "RepresentativeSet": Reducer.representative_set,
    "AccountStatusChanged": Reducer.account_status_changed,
    "ProjectRegistered": Reducer.project_registered,
    "ProjectUpdated": Reducer.project_updated,
    "LabelDefined": Reducer.label_defined,
    "UnitsIssued": Reducer.units_issued,
    "BlockChanged": Reducer.block_changed,
    "LabelChanged": Reducer.label_changed,
    "TransferInitiated": Reducer.transfer_initiated,
    "TransferCompleted": Reducer.transfer_completed,
    "TransferExecuted": Reducer.transfer_executed,
    "TransferRescinded": Reducer.transfer_rescinded,
    "UnitsCancelled": Reducer.units_cancelled,
    "PlatformRegistered": Reducer.platform_registered,
    "PlatformSignerSet": Reducer.platform_signer_set,
    "PlatformStatusChanged": Reducer.platform_status_changed,
    "ConsentGranted": Reducer.consent_granted,
    "ConsentRevoked": Reducer.consent_revoked,
    "UnitsReserved": Reducer.units_reserved,
    "ReservationReleased": Reducer.reservation_released,
    "ReservationTransferred": Reducer.reservation_transferred,
    "UnitsEscrowed": Reducer.units_escrowed,
    "EscrowSettled": Reducer.escrow_settled,
    "EscrowReleased": Reducer.escrow_released,
    "UnitsAssociated": Reducer.units_associated,
    "UnitsDissociated": Reducer.units_dissociated,
    "AssociationRetired": Reducer.association_retired,
    "PartyRegistered": Reducer.party_registered,
    "CooperativeApproachRegistered": Reducer.approach_registered,
    "MechanismAccountsSet": Reducer.mechanism_accounts_set,
    "Article6LabelsDefined": Reducer.article6_labels_defined,
    "AuthorizationRecorded": Reducer.authorization_recorded,
    "Article6ActionRecorded": Reducer.article6_action_recorded,
    "ItmoTransferInitiated": Reducer.itmo_transfer_initiated,
    "Article64Issued": Reducer.article64_issued,
    "Article64Distributed": Reducer.article64_distributed,
    "PeerSet": Reducer.peer_set,
    "TransferOutInitiated": Reducer.transfer_out_initiated,
    "TransferOutApproved": Reducer.transfer_out_approved,
    "ProposalSent": Reducer.proposal_sent,
    "ProposalReceived": Reducer.proposal_received,
    "AnswerRecorded": Reducer.answer_recorded,
    "UnitsImported": Reducer.units_imported,
}
