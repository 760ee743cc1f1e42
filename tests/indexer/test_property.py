"""Property: after any sequence of ledger operations, mirror == audit == the contract's own views.

Hypothesis drives random requests through the real relayer on a real anvil chain. A Python model
of the registry (`Ledger`, written from the contract's rules and sharing no code with the mirror,
the audit or `node.ledger`) picks plausible operations — mostly valid ones, some that the chain
must refuse — and predicts every outcome, down to the custom error's name. The requests between
two flushes go out as one `batch` transaction, refused ones among applied ones.

After each example the mirror is synced into an empty database and must equal
- the audit's replay of the chain's logs (`indexer.audit`),
- the contract's view functions, read in full: the block partition walked with `getBlock` from
  serial 1, every account, representative right, stored transfer, issuance, label, nonce and
  counter,
- the model, including what the audit does not compare (operation ranges, label changes,
  executed requests); so a refused request that changed anything on-chain fails the property,
- itself recomputed from its own raw events (`rebuild_derived`, the reorg path).

Every example starts from the same chain state: an `evm_snapshot` taken after a private
deployment, reverted at the end. The examples are derandomized, so a failure in CI (reported as
found, unshrunk) is the same locally, where Hypothesis shrinks it (for up to five minutes).
`REGISTRY_PROPERTY_EXAMPLES` sets the number of examples per database, e.g. 200 for a long run.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, Phase, event, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from indexer.audit import LedgerSnapshot, audit, read_mirror
from indexer.mirror import DERIVED_TABLES, rebuild_derived
from indexer.models import (
    BlockHash,
    Checkpoint,
    Event,
    ExecutedRequest,
    LabelChange,
    OperationRange,
    enum_text,
    sql_text,
    table_of,
)
from node.contracts import (
    AccountKind,
    AccountStatus,
    ApprovalPolicy,
    CancellationPurpose,
    PendingTransfer,
    SignedRequest,
    TransferStatus,
    UnitState,
    bytes32_text,
)
from node.deploy import grant_roles
from node.devchain import DevChain
from node.relayer import Relayer
from tests.conftest import Registry, _free_port, deploy_registry
from tests.indexer.conftest import make_indexer, rpc

pytestmark = pytest.mark.chain

PROPERTY_SETTINGS = settings(
    max_examples=int(os.environ.get("REGISTRY_PROPERTY_EXAMPLES", "20")),
    derandomize=True,  # the same examples on every run and in CI
    database=None,
    deadline=None,  # an example is a few hundred milliseconds of chain and SQL work
    # CI reports the failing example as found; a local run (the same examples) shrinks it.
    phases=(Phase.explicit, Phase.generate)
    if os.environ.get("CI")
    else (Phase.explicit, Phase.generate, Phase.shrink),
    suppress_health_check=[
        # `engine` is one database per leg, emptied at the start of every example.
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

PROJECT = "PROP-1"
UNIT_TYPE = "ACCU"
PARTY = "AU"
REGISTRY_CODE = "AU"  # deploy_registry's registry code: the origin of our issuances
YEAR = 365 * 24 * 3600
FIRST_PERIOD = 1_500_000_000
# People who may represent accounts; the registry roles sign the other requests.
PEOPLE = ("ar_1", "ar_2", "ar_3", "ar_4", "platform")
ROLE_KEYS = ("registry_admin", "issuer", "label_authority")
# Labels defined before the snapshot: (name, key of their authority). The issuer also holds
# the label authority role, so that issuance can carry a label (LabelChanged at issuance).
LABELS = (
    ("PROP-CORSIA", "label_authority"),
    ("PROP-NDC", "label_authority"),
    ("PROP-ISS", "issuer"),
)
ISSUER_LABEL = 2
UNDEFINED_LABEL = len(LABELS)
HOLDERS = ("Holder Pty Ltd", "Nul\x00 Holdings", "Ünïcödé Trust")
BENEFICIARIES = ("Acme", "Acme\x00 Corp", "")

RIGHT_APPOINTED, RIGHT_INITIATE, RIGHT_APPROVE = 1, 2, 4
FIRST_ACCOUNT_ID = 1_000_001
MIN_STEPS, MAX_STEPS = 8, 30  # random steps after the plausible start


# -- operations ------------------------------------------------------------------------------

Ranges = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class OpenAccount:
    policy: ApprovalPolicy
    reps: tuple[tuple[str, bool, bool, bool], ...]  # (person, primary, initiate, approve)
    kind: AccountKind = AccountKind.HOLDING
    holder: str = HOLDERS[0]


@dataclass(frozen=True)
class Issue:
    account: int
    quantity: int
    period: int  # monitoring year index; a reused one overlaps
    labels: int = 0
    signer: str = "issuer"


@dataclass(frozen=True)
class InitiateTransfer:
    signer: str
    source: int
    target: int
    ranges: Ranges


@dataclass(frozen=True)
class Decide:
    signer: str
    transfer: int
    approve: bool


@dataclass(frozen=True)
class Cancel:
    signer: str
    account: int
    ranges: Ranges
    purpose: CancellationPurpose = CancellationPurpose.VOLUNTARY
    beneficiary: str = BENEFICIARIES[0]


@dataclass(frozen=True)
class SetLabel:
    signer: str
    label: int
    applied: bool
    ranges: Ranges


@dataclass(frozen=True)
class SetStatus:
    account: int
    status: AccountStatus


@dataclass(frozen=True)
class SetRepresentative:
    account: int
    person: str
    primary: bool
    initiate: bool
    approve: bool


@dataclass(frozen=True)
class Replay:
    """Send an already executed request again: its nonce is used."""

    index: int


@dataclass(frozen=True)
class Flush:
    """Relay the requests signed since the last flush, as one batch; check their outcomes."""


Operation = (
    OpenAccount
    | Issue
    | InitiateTransfer
    | Decide
    | Cancel
    | SetLabel
    | SetStatus
    | SetRepresentative
    | Replay
    | Flush
)


# -- the model -------------------------------------------------------------------------------


class Refused(Exception):
    """The contract must refuse the request with this custom error."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class MBlock:
    start: int
    end: int
    account: int
    state: UnitState
    lock: int
    issuance: int
    labels: int = 0

    def row(self) -> tuple[Any, ...]:
        return (
            self.end,
            self.account,
            enum_text(self.state),
            self.lock,
            self.issuance,
            self.labels,
        )


@dataclass
class MAccount:
    kind: AccountKind
    status: AccountStatus
    policy: ApprovalPolicy
    holder: str
    primary: str
    rights: dict[str, int]  # address -> rights bits; no entry = not a representative


@dataclass
class MTransfer:
    source: int
    target: int
    quantity: int
    status: TransferStatus
    initiator: str
    stored: bool  # two_person transfers' record hashes live in storage while pending (D46)
    approver: str | None = None
    rescinded_by: str | None = None


@dataclass(frozen=True)
class Move:
    source: int
    from_state: UnitState
    from_lock: int
    target: int
    to_state: UnitState
    to_lock: int


@dataclass
class LedgerState:
    """Everything the model knows; copied before each request and kept only if it succeeds."""

    next_account: int
    next_serial: int
    next_issuance: int
    next_operation: int
    nonces: dict[str, int]
    labels: dict[int, tuple[str, str]]
    accounts: dict[int, MAccount] = field(default_factory=dict)
    blocks: dict[int, MBlock] = field(default_factory=dict)
    issuances: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    periods: list[int] = field(default_factory=list)
    transfers: dict[int, MTransfer] = field(default_factory=dict)
    cancellations: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    operation_ranges: dict[tuple[int, int], int] = field(default_factory=dict)
    label_changes: list[tuple[int, int, int, bool]] = field(default_factory=list)
    executed: dict[str, tuple[str, int]] = field(default_factory=dict)


class Ledger:
    """The registry's rules in plain Python: predicts each request's outcome and its effects."""

    def __init__(self, state: LedgerState, keys: dict[str, LocalAccount]) -> None:
        self.state = state
        self.keys = keys
        self._digest = b""  # the request being applied: single transfers take their id from it
        self.roles: dict[str, set[str]] = {
            keys["registry_admin"].address: {"admin"},
            keys["issuer"].address: {"issuer", "label_authority"},
            keys["label_authority"].address: {"label_authority"},
        }

    # -- queries used to pick operations and to sign them ------------------------------------

    def blocks(self) -> list[MBlock]:
        return [self.state.blocks[s] for s in sorted(self.state.blocks)]

    def containing(self, serial: int) -> MBlock | None:
        starts = [s for s in self.state.blocks if s <= serial]
        if not starts:
            return None
        block = self.state.blocks[max(starts)]
        return block if block.end >= serial else None

    def hints(self, ranges: Ranges) -> list[int]:
        """Return the block start of each range as the contract meets it, after earlier ranges
        of the same request have split their blocks."""
        cuts = set(self.state.blocks)
        out = []
        for start, end in ranges:
            out.append(max((c for c in cuts if c <= start), default=0))
            cuts.update((start, end + 1))
        return out

    def pending_blocks(self, transfer_id: int) -> list[int]:
        return [
            b.start for b in self.blocks() if b.state == UnitState.PENDING and b.lock == transfer_id
        ]

    def people_with(self, account_id: int, right: int) -> list[str]:
        account = self.state.accounts.get(account_id)
        if account is None:
            return []
        return [
            name
            for name in PEOPLE
            if account.rights.get(self.keys[name].address, 0) & right == right
        ]

    def nonce(self, address: str) -> int:
        return self.state.nonces.get(address, 0)

    # -- applying a request ------------------------------------------------------------------

    def apply(self, op: Operation, request: SignedRequest) -> str | None:
        """Apply a request to the model; return the error the contract must refuse it with."""
        trial = copy.deepcopy(self.state)
        saved, self.state = self.state, trial
        self._digest = request.digest
        try:
            self._apply(op, request.signer)
        except Refused as refused:
            self.state = saved
            return refused.error
        self.state.nonces[request.signer] = request.nonce + 1
        self.state.executed["0x" + request.digest.hex()] = (request.signer, request.nonce)
        return None

    def _apply(self, op: Operation, signer: str) -> None:
        s = self.state
        if isinstance(op, Replay):
            raise Refused("InvalidAccountNonce")
        if isinstance(op, OpenAccount):
            self._require_role(signer, "admin")
            account_id = s.next_account
            s.next_account += 1
            rights: dict[str, int] = {}
            primaries = []
            for person, primary, initiate, approve in op.reps:
                address = self.keys[person].address
                if not (primary or initiate or approve) or address in rights:
                    raise Refused("InvalidRepresentative")
                rights[address] = _rights(initiate, approve)
                if primary:
                    primaries.append(address)
            if len(primaries) != 1:
                raise Refused("PrimaryRepresentativeRequired")
            s.accounts[account_id] = MAccount(
                op.kind, AccountStatus.OPEN, op.policy, sql_text(op.holder), primaries[0], rights
            )
        elif isinstance(op, SetRepresentative):
            self._require_role(signer, "admin")
            account = self._existing(op.account)
            if account.status == AccountStatus.CLOSED:
                raise Refused("AccountClosed")
            address = self.keys[op.person].address
            was_primary = account.primary == address
            if was_primary and not op.primary:
                raise Refused("CannotRemovePrimary")
            granted = _rights(op.initiate, op.approve)
            if not (op.primary or op.initiate or op.approve):
                granted = 0
            _set_rights(account, address, granted)
            if op.primary and not was_primary:
                previous, account.primary = account.primary, address
                if account.rights.get(previous) == RIGHT_APPOINTED:
                    _set_rights(account, previous, 0)
        elif isinstance(op, SetStatus):
            self._require_role(signer, "admin")
            account = self._existing(op.account)
            if account.status == AccountStatus.CLOSED or account.status == op.status:
                raise Refused("InvalidStatusChange")
            account.status = op.status
        elif isinstance(op, Issue):
            self._issue(op, signer)
        elif isinstance(op, InitiateTransfer):
            self._initiate(op, signer)
        elif isinstance(op, Decide):
            self._decide(op, signer)
        elif isinstance(op, Cancel):
            self._require_open(op.account)
            self._require_right(op.account, signer, RIGHT_INITIATE)
            cancellation_id = s.next_operation
            s.next_operation += 1
            move = Move(
                op.account, UnitState.HELD, 0, op.account, UnitState.CANCELLED, cancellation_id
            )
            quantity = self._move_ranges(op.ranges, move)
            s.cancellations[cancellation_id] = (
                op.account,
                enum_text(op.purpose),
                quantity,
                sql_text(op.beneficiary),
                "",
            )
            self._record_ranges(cancellation_id, op.ranges)
        elif isinstance(op, SetLabel):
            self._require_label_authority(1 << op.label, signer)
            for start, end in op.ranges:
                block = self._load(start, end)
                if block.state == UnitState.CANCELLED:
                    raise Refused("UnitsAlreadyCancelled")
                piece = self._isolate(block, start, end)
                bit = 1 << op.label
                piece.labels = piece.labels | bit if op.applied else piece.labels & ~bit
                s.label_changes.append((start, end, op.label, op.applied))
        else:
            raise AssertionError(f"not a request: {op!r}")

    def _issue(self, op: Issue, signer: str) -> None:
        s = self.state
        self._require_role(signer, "issuer")
        self._require_can_receive(op.account)
        if op.period in s.periods:
            raise Refused("MonitoringPeriodOverlap")
        s.periods.append(op.period)
        self._require_label_authority(op.labels, signer)
        if op.quantity == 0:
            raise Refused("InvalidQuantity")
        start, end = s.next_serial, s.next_serial + op.quantity - 1
        issuance_id = s.next_issuance
        s.next_serial, s.next_issuance = end + 1, issuance_id + 1
        monitoring_start, monitoring_end = period_bounds(op.period)
        s.issuances[issuance_id] = (
            PROJECT,
            UNIT_TYPE,
            vintage(op.period),
            monitoring_start,
            monitoring_end,
            REGISTRY_CODE,
            start,
            end,
            op.quantity,
            op.account,
        )
        s.blocks[start] = MBlock(
            start, end, op.account, UnitState.HELD, 0, issuance_id, labels=op.labels
        )
        s.label_changes.extend(
            (start, end, bit, True) for bit in range(op.labels.bit_length()) if op.labels >> bit & 1
        )

    def _initiate(self, op: InitiateTransfer, signer: str) -> None:
        s = self.state
        source = self._require_open(op.source)
        self._require_right(op.source, signer, RIGHT_INITIATE)
        if op.source == op.target:
            raise Refused("SameAccount")
        self._require_can_receive(op.target)
        single = source.policy == ApprovalPolicy.SINGLE
        if single:
            # Numbered from the request's digest, not the operation counter (decision D33).
            transfer_id = (int.from_bytes(self._digest, "big") >> 194) | (1 << 62)
        else:
            transfer_id = s.next_operation
            s.next_operation += 1
        if single:
            move = Move(op.source, UnitState.HELD, 0, op.target, UnitState.HELD, 0)
        else:
            move = Move(op.source, UnitState.HELD, 0, op.source, UnitState.PENDING, transfer_id)
        quantity = self._move_ranges(op.ranges, move)
        s.transfers[transfer_id] = MTransfer(
            op.source,
            op.target,
            quantity,
            TransferStatus.COMPLETED if single else TransferStatus.PENDING,
            signer,
            stored=not single,
            approver=signer if single else None,
        )
        self._record_ranges(transfer_id, op.ranges)

    def _decide(self, op: Decide, signer: str) -> None:
        transfer = self.state.transfers.get(op.transfer)
        # The chain keeps only pending transfers (their record's hash, D46): unknown, single and
        # decided transfers are all refused alike.
        if transfer is None or not transfer.stored or transfer.status != TransferStatus.PENDING:
            raise Refused("TransferNotPending")
        self._require_open(transfer.source)
        if op.approve:
            self._require_right(transfer.source, signer, RIGHT_APPROVE)
            if signer == transfer.initiator:
                raise Refused("ApproverIsInitiator")
            self._require_open(transfer.target)
            transfer.status, transfer.approver = TransferStatus.COMPLETED, signer
            receiver = transfer.target
        else:
            self._require_right(transfer.source, signer, RIGHT_APPOINTED)
            transfer.status, transfer.rescinded_by = TransferStatus.RESCINDED, signer
            receiver = transfer.source
        move = Move(transfer.source, UnitState.PENDING, op.transfer, receiver, UnitState.HELD, 0)
        for start in self.pending_blocks(op.transfer):
            self._move_range(start, self.state.blocks[start].end, move)

    # -- the contract's shared checks, in its order ------------------------------------------

    def _require_role(self, signer: str, role: str) -> None:
        if role not in self.roles.get(signer, set()):
            raise Refused("MissingRole")

    def _existing(self, account_id: int) -> MAccount:
        account = self.state.accounts.get(account_id)
        if account is None:
            raise Refused("AccountNotFound")
        return account

    def _require_open(self, account_id: int) -> MAccount:
        account = self._existing(account_id)
        if account.status == AccountStatus.SUSPENDED:
            raise Refused("AccountSuspended")
        if account.status == AccountStatus.CLOSED:
            raise Refused("AccountClosed")
        return account

    def _require_can_receive(self, account_id: int) -> None:
        if self._require_open(account_id).kind in (
            AccountKind.CANCELLATION,
            AccountKind.OMGE_CANCELLATION,
        ):
            raise Refused("AccountCannotReceive")

    def _require_right(self, account_id: int, signer: str, right: int) -> None:
        rights = self.state.accounts[account_id].rights.get(signer, 0)
        if rights == 0:
            raise Refused("NotRepresentative")
        if rights & right != right:
            raise Refused("CannotInitiate" if right == RIGHT_INITIATE else "CannotApprove")

    def _require_label_authority(self, labels: int, signer: str) -> None:
        for label_id in range(labels.bit_length()):
            if labels >> label_id & 1:
                label = self.state.labels.get(label_id)
                if label is None:
                    raise Refused("LabelNotFound")
                if label[1] != signer:
                    raise Refused("NotLabelAuthority")
        if labels:
            self._require_role(signer, "label_authority")

    def _load(self, start: int, end: int) -> MBlock:
        block = self.containing(start)
        if block is None:
            raise Refused("BlockNotFound")
        if end > block.end:
            raise Refused("RangeNotInBlock")
        return block

    def _move_ranges(self, ranges: Ranges, move: Move) -> int:
        return sum(self._move_range(start, end, move) for start, end in ranges)

    def _move_range(self, start: int, end: int, move: Move) -> int:
        block = self._load(start, end)
        if (block.state, block.lock) != (move.from_state, move.from_lock):
            if block.state == UnitState.CANCELLED:
                raise Refused("UnitsAlreadyCancelled")
            raise Refused("UnitsLocked")
        if block.account != move.source:
            raise Refused("UnitsNotHeld")
        piece = self._isolate(block, start, end)
        piece.account, piece.state, piece.lock = move.target, move.to_state, move.to_lock
        return end - start + 1

    def _isolate(self, block: MBlock, start: int, end: int) -> MBlock:
        """Split `block` so that `[start, end]` is a block of its own; never merge."""
        if block.start < start:
            tail = copy.copy(block)
            tail.start, block.end = start, start - 1
            self.state.blocks[start] = block = tail
        if end < block.end:
            after = copy.copy(block)
            after.start, block.end = end + 1, end
            self.state.blocks[end + 1] = after
        return block

    def _record_ranges(self, operation_id: int, ranges: Ranges) -> None:
        for start, end in ranges:
            self.state.operation_ranges[(operation_id, start)] = end

    # -- the model's view of the world, in the shapes the mirror and the views use -----------

    def expected_mirror(self) -> dict[str, dict[Any, Any]]:
        s = self.state
        accounts, representatives = {}, {}
        for account_id, a in s.accounts.items():
            accounts[account_id] = (
                enum_text(a.kind),
                enum_text(a.status),
                enum_text(a.policy),
                PARTY,
                a.holder,
                a.primary,
            )
            for address, rights in a.rights.items():
                representatives[(account_id, address)] = _rep_row(a.primary, address, rights)
        return {
            "blocks": {b.start: b.row() for b in s.blocks.values()},
            "accounts": accounts,
            "representatives": representatives,
            "issuances": dict(s.issuances),
            "labels": dict(s.labels),
            "transfers": {
                i: (
                    t.source,
                    t.target,
                    t.quantity,
                    enum_text(t.status),
                    t.initiator,
                    t.approver,
                    t.rescinded_by,
                )
                for i, t in s.transfers.items()
            },
            "cancellations": dict(s.cancellations),
            "operation ranges": dict(s.operation_ranges),
            "label changes": dict(enumerate(s.label_changes)),
            "executed requests": dict(s.executed),
        }

    def expected_views(self, people: list[str]) -> dict[str, dict[Any, Any]]:
        s = self.state
        mirror = self.expected_mirror()
        return {
            "counters": {
                "counters": (
                    s.next_account,
                    s.next_serial,
                    s.next_issuance,
                    s.next_operation,
                    len(s.labels),
                )
            },
            "blocks": mirror["blocks"],
            "accounts": {i: (*a[:4], a[5]) for i, a in mirror["accounts"].items()},
            "representatives": mirror["representatives"],
            "issuances": {i: v[:8] for i, v in s.issuances.items()},
            "labels": dict(s.labels),
            # The chain keeps 192 bits of a pending record's hash in its initiator's rights slot,
            # or all of it in an id-keyed slot (D50): compared on those 24 bytes.
            "transfers": {
                i: "0x" + _record_hash(t.source, t.target, t.quantity, t.initiator)[:24].hex()
                for i, t in s.transfers.items()
                if t.stored and t.status == TransferStatus.PENDING
            },
            "nonces": {a: s.nonces.get(a, 0) for a in people},
        }


def _record_hash(source: int, target: int, quantity: int, initiator: str) -> bytes:
    return PendingTransfer(source, target, quantity, initiator).record_hash()


def _rights(initiate: bool, approve: bool) -> int:
    return RIGHT_APPOINTED | (RIGHT_INITIATE if initiate else 0) | (RIGHT_APPROVE if approve else 0)


def _set_rights(account: MAccount, address: str, rights: int) -> None:
    if rights:
        account.rights[address] = rights
    else:
        account.rights.pop(address, None)


def _rep_row(primary: str, address: str, rights: int) -> tuple[bool, bool, bool]:
    return (address == primary, bool(rights & RIGHT_INITIATE), bool(rights & RIGHT_APPROVE))


def period_bounds(period: int) -> tuple[int, int]:
    start = FIRST_PERIOD + period * YEAR
    return start, start + YEAR - 1


def vintage(period: int) -> int:
    return 2000 + period


# -- choosing operations ---------------------------------------------------------------------


def _mostly(draw: st.DrawFn, plausible: bool = False) -> bool:
    """True nine times in ten (always when `plausible`); shrinks towards True."""
    return plausible or draw(st.integers(0, 9)) != 9


def _ranges(draw: st.DrawFn, blocks: list[MBlock]) -> Ranges:
    """One to three ranges inside `blocks`, whole blocks or sub-ranges; mostly disjoint (then
    several may lie in one block, which needs hints that follow the request's own splits)."""
    out: list[tuple[int, int]] = []
    free = [(b.start, b.end) for b in blocks]
    for _ in range(draw(st.integers(1, 3))):
        if not free:
            break
        first, last = draw(st.sampled_from(free))
        if draw(st.booleans()):
            start, end = first, last
        else:
            start = draw(st.integers(first, last))
            end = draw(st.integers(start, last))
        out.append((start, end))
        if _mostly(draw):  # keep the next ranges off this one
            free.remove((first, last))
            free += [r for r in ((first, start - 1), (end + 1, last)) if r[0] <= r[1]]
    return tuple(out)


def _pick(draw: st.DrawFn, preferred: list[Any], fallback: list[Any]) -> Any:
    """Mostly one of `preferred`, else (or when there is none) one of `fallback`."""
    if preferred and _mostly(draw):
        return draw(st.sampled_from(preferred))
    return draw(st.sampled_from(fallback))


@st.composite
def open_accounts(draw: st.DrawFn, plausible: bool = False) -> OpenAccount:
    # Plausible accounts have a second representative who can approve what the primary initiates.
    people = draw(
        st.lists(st.sampled_from(PEOPLE), min_size=2 if plausible else 1, max_size=3, unique=True)
    )
    reps = [(people[0], True, True, draw(st.booleans()))]
    for person in people[1:]:  # a representative without any right is refused
        initiate = draw(st.booleans())
        reps.append((person, False, initiate, plausible or not initiate or draw(st.booleans())))
    if not _mostly(draw, plausible):
        broken = draw(st.sampled_from(["no primary", "two primaries", "duplicate", "no right"]))
        if broken == "no primary":
            reps[0] = (people[0], False, True, True)
        elif broken == "two primaries":
            reps.append((next(p for p in PEOPLE if p not in people), True, True, True))
        elif broken == "duplicate":
            reps.append(reps[0])
        else:
            reps.append((next(p for p in PEOPLE if p not in people), False, False, False))
    return OpenAccount(
        policy=draw(st.sampled_from([ApprovalPolicy.TWO_PERSON, ApprovalPolicy.SINGLE])),
        reps=tuple(reps),
        kind=AccountKind.HOLDING if _mostly(draw, plausible) else AccountKind.CANCELLATION,
        holder=draw(st.sampled_from(HOLDERS)),
    )


@st.composite
def issues(draw: st.DrawFn, ledger: Ledger, plausible: bool = False) -> Issue:
    s = ledger.state
    accounts = sorted(s.accounts)
    receiving = [
        a
        for a, account in s.accounts.items()
        if account.status == AccountStatus.OPEN and account.kind == AccountKind.HOLDING
    ]
    fresh = max(s.periods, default=-1) + 1
    return Issue(
        account=draw(st.sampled_from(receiving)) if plausible else _pick(draw, receiving, accounts),
        quantity=draw(st.integers(1 if plausible else 0, 60)),
        period=fresh
        if _mostly(draw, plausible) or not s.periods
        else draw(st.sampled_from(s.periods)),
        labels=draw(
            st.sampled_from([0, 1 << ISSUER_LABEL] if plausible else [0, 1 << ISSUER_LABEL, 1])
        ),
        signer="issuer" if _mostly(draw, plausible) else "registry_admin",
    )


@st.composite
def operations(draw: st.DrawFn, ledger: Ledger, executed: int) -> Operation:
    """Draw the next operation, plausible for the model's current state more often than not."""
    s = ledger.state
    accounts = sorted(s.accounts)
    blocks = ledger.blocks()
    # Repeats weigh the choice; the first kinds are what a failing example shrinks towards.
    kinds = ["flush", "flush", "open"]
    if accounts:
        kinds += ["issue", "issue", "status", "representative"]
    if blocks:
        kinds += ["transfer"] * 5 + ["cancel", "cancel", "label", "label"]
    if s.transfers:
        kinds += ["decide"] * 3
    if executed:
        kinds += ["replay"]
    kind = draw(st.sampled_from(kinds))

    if kind == "open":
        return draw(open_accounts())
    if kind == "issue":
        return draw(issues(ledger))
    if kind == "status":
        return SetStatus(
            account=draw(st.sampled_from(accounts)),
            status=draw(
                st.sampled_from([AccountStatus.SUSPENDED, AccountStatus.OPEN, AccountStatus.CLOSED])
            ),
        )
    if kind == "representative":
        return SetRepresentative(
            account=draw(st.sampled_from(accounts)),
            person=draw(st.sampled_from(PEOPLE)),
            primary=not _mostly(draw),
            initiate=draw(st.booleans()),
            approve=draw(st.booleans()),
        )
    if kind in ("transfer", "cancel"):
        holding = sorted(
            {b.account for b in blocks if b.state == UnitState.HELD and b.account in s.accounts}
        )
        account = _pick(draw, holding, accounts)
        own = [b for b in blocks if b.account == account and b.state == UnitState.HELD]
        # Not plausible: units of another account, pending or cancelled units.
        ranges = _ranges(draw, own if own and _mostly(draw) else blocks)
        signer = _pick(draw, ledger.people_with(account, RIGHT_INITIATE), list(PEOPLE))
        if kind == "cancel":
            return Cancel(
                signer=signer,
                account=account,
                ranges=ranges,
                purpose=draw(st.sampled_from(CancellationPurpose)),
                beneficiary=draw(st.sampled_from(BENEFICIARIES)),
            )
        others = [a for a in accounts if a != account]
        return InitiateTransfer(signer, account, _pick(draw, others, accounts), ranges)
    if kind == "label":
        label = _pick(draw, list(s.labels), [UNDEFINED_LABEL])
        authority = s.labels.get(label, ("", ""))[1]
        names = [n for n in ("label_authority", "issuer") if ledger.keys[n].address == authority]
        live = [b for b in blocks if b.state != UnitState.CANCELLED]
        return SetLabel(
            signer=_pick(draw, names, ["label_authority", "issuer", "ar_1"]),
            label=label,
            applied=draw(st.integers(0, 3)) != 3,
            ranges=_ranges(draw, live if live and _mostly(draw) else blocks),
        )
    if kind == "decide":
        pending = [i for i, t in s.transfers.items() if t.status == TransferStatus.PENDING]
        # Not plausible: a decided transfer, or an id that names no stored transfer (a single
        # policy transfer, numbered from its digest, or a cancellation).
        known = sorted(set(range(1, s.next_operation)) | set(s.transfers))
        transfer_id = _pick(draw, pending, known)
        approve = draw(st.integers(0, 3)) != 3
        transfer = s.transfers.get(transfer_id)
        if transfer is None:
            deciders = []
        elif approve:
            deciders = [
                p
                for p in ledger.people_with(transfer.source, RIGHT_APPROVE)
                if ledger.keys[p].address != transfer.initiator
            ]
        else:
            deciders = ledger.people_with(transfer.source, RIGHT_APPOINTED)
        return Decide(_pick(draw, deciders, list(PEOPLE)), transfer_id, approve)
    if kind == "replay":
        return Replay(draw(st.integers(0, executed - 1)))
    return Flush()


# -- driving the chain -----------------------------------------------------------------------


class Driver:
    """Sign each operation and predict its outcome with the model; `flush` relays the requests
    signed since the last flush together, as one batch transaction, and checks every outcome.

    NOTE: one batch at a time, each mined before the next is sent. The relayer pipelines batches,
    and it estimates a batch's gas against the chain without its own unmined batches, so a batch
    whose requests depend on an earlier one can run out of gas and revert as a whole.
    """

    def __init__(self, registry: Registry, ledger: Ledger) -> None:
        self.registry = registry
        self.ledger = ledger
        self.keys = registry.keys
        self.executed: list[SignedRequest] = []
        self.queued: list[tuple[Operation, SignedRequest, str | None]] = []

    def run(self, op: Operation) -> None:
        if isinstance(op, Flush):
            self.flush()
            return
        request = self.executed[op.index] if isinstance(op, Replay) else self.sign(op)
        expected = self.ledger.apply(op, request)
        event(f"{type(op).__name__}: {expected or 'applied'}")
        if expected is None:
            self.executed.append(request)
        self.queued.append((op, request, expected))

    def flush(self) -> None:
        queued, self.queued = self.queued, []
        futures = [self.registry.relayer.submit(request) for _, request, _ in queued]
        transactions = set()
        for (op, _, expected), future in zip(queued, futures, strict=True):
            outcome = future.result(timeout=120)
            transactions.add(outcome.tx_hash)
            got = None if outcome.ok else outcome.error.name if outcome.error else "?"
            assert got == expected, (
                f"{op}: the model expected {expected or 'success'}, the chain said "
                f"{outcome.error or 'success'}"
            )
        if queued:
            assert len(transactions) == 1, "a flush's requests were split over transactions"
            size = len(queued)
            event("requests per batch: " + ("1" if size == 1 else "2-4" if size < 5 else "5+"))

    def sign(self, op: Operation) -> SignedRequest:
        signer = self.registry.signer
        if isinstance(op, OpenAccount):
            key = self.keys["registry_admin"]
            reps = [
                {"addr": self.keys[p].address, "primary": pr, "canInitiate": i, "canApprove": a}
                for p, pr, i, a in op.reps
            ]
            return signer.open_account(
                key,
                op.holder,
                reps,
                kind=op.kind,
                policy=op.policy,
                party=PARTY,
                nonce=self._nonce(key),
            )
        if isinstance(op, SetRepresentative):
            key = self.keys["registry_admin"]
            rep = {
                "addr": self.keys[op.person].address,
                "primary": op.primary,
                "canInitiate": op.initiate,
                "canApprove": op.approve,
            }
            return signer.set_representative(key, op.account, rep, nonce=self._nonce(key))
        if isinstance(op, SetStatus):
            key = self.keys["registry_admin"]
            return signer.set_account_status(key, op.account, op.status, nonce=self._nonce(key))
        if isinstance(op, Issue):
            key = self.keys[op.signer]
            monitoring_start, monitoring_end = period_bounds(op.period)
            return signer.issue(
                key,
                PROJECT,
                UNIT_TYPE,
                vintage(op.period),
                monitoring_start,
                monitoring_end,
                op.quantity,
                op.account,
                labels=op.labels,
                nonce=self._nonce(key),
            )
        if isinstance(op, Decide):
            key = self.keys[op.signer]
            hints = self.ledger.pending_blocks(op.transfer)
            known = self.ledger.state.transfers.get(op.transfer)
            record = (
                PendingTransfer(known.source, known.target, known.quantity, known.initiator)
                if known is not None
                else None
            )
            return signer.decide_transfer(
                key, op.transfer, op.approve, hints, pending=record, nonce=self._nonce(key)
            )
        fields: dict[str, Any]
        if isinstance(op, InitiateTransfer):
            primary_type, fields = (
                "InitiateTransfer",
                {"fromAccount": op.source, "toAccount": op.target},
            )
        elif isinstance(op, Cancel):
            primary_type = "Cancel"
            fields = {
                "accountId": op.account,
                "purpose": int(op.purpose),
                "beneficiary": op.beneficiary,
                "reason": "",
            }
        elif isinstance(op, SetLabel):
            primary_type, fields = "SetLabel", {"labelId": op.label, "applied": op.applied}
        else:
            raise AssertionError(f"cannot sign {op!r}")
        key = self.keys[op.signer]
        fields["ranges"] = [{"start": s, "end": e} for s, e in op.ranges]
        return signer.sign(
            key,
            primary_type,
            fields,
            block_hints=self.ledger.hints(op.ranges),
            nonce=self._nonce(key),
        )

    def _nonce(self, key: LocalAccount) -> int:
        return self.ledger.nonce(key.address)


# -- reading every side ----------------------------------------------------------------------


class Views:
    """The registry's view functions by plain eth_call (web3's contract calls take ~15 ms each)."""

    def __init__(self, registry: Registry) -> None:
        self.provider = registry.client.w3.provider
        self.address = registry.deployment.registry
        self.functions = {
            (item["name"], len(item["inputs"])): item
            for item in registry.abi
            if item["type"] == "function" and item["stateMutability"] == "view"
        }

    def __call__(self, name: str, *args: Any) -> Any:
        item = self.functions[name, len(args)]
        inputs = [_abi_type(i) for i in item["inputs"]]
        data = keccak(text=f"{name}({','.join(inputs)})")[:4] + abi_encode(inputs, args)
        response = self.provider.make_request(
            "eth_call",  # type: ignore[arg-type]
            [{"to": self.address, "data": "0x" + data.hex()}, "latest"],
        )
        assert "error" not in response, response
        values = abi_decode(
            [_abi_type(o) for o in item["outputs"]], bytes.fromhex(response["result"][2:])
        )
        return values[0] if len(values) == 1 else values


def _abi_type(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){param['type'].removeprefix('tuple')}"
    return str(param["type"])


def contract_views(registry: Registry, people: list[str]) -> dict[str, dict[Any, Any]]:
    """Read the registry's state through its view functions alone."""
    view = Views(registry)
    counters = tuple(view("counters"))
    next_account, next_serial, next_issuance, next_operation, label_count = counters
    blocks: dict[int, tuple[Any, ...]] = {}
    start = 1
    while start < next_serial:  # the blocks must partition the issued serials exactly
        (end, account, issuance, lock, state), labels = view("getBlock", start)
        assert state != UnitState.NONE, f"no block starts at serial {start}: a gap"
        blocks[start] = (end, account, enum_text(UnitState(state)), lock, issuance, labels)
        start = end + 1
    assert start == next_serial, f"the last block ends at {start - 1}, past the issued serials"
    accounts: dict[int, tuple[Any, ...]] = {}
    representatives: dict[tuple[int, str], tuple[bool, bool, bool]] = {}
    transfers: dict[int, str] = {}
    for account_id in range(FIRST_ACCOUNT_ID, next_account):
        kind, status, policy, party, primary = view("getAccount", account_id)
        primary = to_checksum_address(primary)
        accounts[account_id] = (
            enum_text(AccountKind(kind)),
            enum_text(AccountStatus(status)),
            enum_text(ApprovalPolicy(policy)),
            bytes32_text(party),
            primary,
        )
        for address in people:
            if rights := view("representativeRights", account_id, address):
                representatives[(account_id, address)] = _rep_row(primary, address, rights)
            kept_id, kept_hash = view("pendingTransferOf", account_id, address)
            if kept_id:  # a representative's first pending transfer from the account (D50)
                assert kept_id not in transfers, f"transfer {kept_id} kept twice"
                transfers[kept_id] = "0x" + bytes(kept_hash).hex()
    issuances = {}
    for issuance_id in range(1, next_issuance):
        project, unit_type, first, last, m_start, m_end, year, origin = view(
            "getIssuance", issuance_id
        )
        issuances[issuance_id] = (
            bytes32_text(project),
            bytes32_text(unit_type),
            year,
            m_start,
            m_end,
            bytes32_text(origin),
            first,
            last,
        )
    for operation_id in range(1, next_operation):
        record_hash = view("pendingTransferHash", operation_id)
        if any(record_hash):  # pending records that found their initiator's slot taken (D46, D50)
            assert operation_id not in transfers, f"transfer {operation_id} kept twice"
            transfers[operation_id] = "0x" + bytes(record_hash)[:24].hex()
    labels = {}
    for label_id in range(label_count):
        name, authority = view("getLabel", label_id)
        labels[label_id] = (bytes32_text(name), to_checksum_address(authority))
    return {
        "counters": {"counters": counters},
        "blocks": blocks,
        "accounts": accounts,
        "representatives": representatives,
        "issuances": issuances,
        "labels": labels,
        "transfers": transfers,
        "nonces": {address: view("nonces", address) for address in people},
    }


def mirror_tables(engine: Engine) -> dict[str, dict[Any, Any]]:
    """Read the mirror: the audit's snapshot plus the tables the audit does not compare."""
    snapshot = read_mirror(engine)
    ranges, changes, executed = (
        table_of(OperationRange),
        table_of(LabelChange),
        table_of(ExecutedRequest),
    )
    with engine.connect() as conn:
        operation_ranges = {(r.operation_id, r.start): r.end for r in conn.execute(select(ranges))}
        label_changes = [
            (r.start, r.end, r.label_id, r.applied)
            for r in conn.execute(
                select(changes).order_by(changes.c.block_number, changes.c.log_index)
            )
        ]
        executed_requests = {r.digest: (r.signer, r.nonce) for r in conn.execute(select(executed))}
    return {
        "blocks": snapshot.blocks,
        "accounts": snapshot.accounts,
        "representatives": snapshot.representatives,
        "issuances": snapshot.issuances,
        "labels": snapshot.labels,
        "transfers": snapshot.transfers,
        "cancellations": snapshot.cancellations,
        "operation ranges": operation_ranges,
        "label changes": dict(enumerate(label_changes)),
        "executed requests": executed_requests,
    }


def differences(
    expected: dict[str, dict[Any, Any]], actual: dict[str, dict[Any, Any]]
) -> list[str]:
    out = []
    for section in expected:
        want, got = expected[section], actual[section]
        for key in sorted(want.keys() | got.keys(), key=repr):
            if want.get(key) != got.get(key):
                out.append(f"{section} {key!r}: expected {want.get(key)!r}, got {got.get(key)!r}")
    return out


def assert_same(
    what: str, expected: dict[str, dict[Any, Any]], actual: dict[str, dict[Any, Any]]
) -> None:
    found = differences(expected, actual)
    assert not found, f"{what}: {len(found)} differences\n" + "\n".join(found[:40])


def empty_mirror(engine: Engine) -> None:
    """Delete every row of the mirror (the schema stays): the next sync starts from scratch."""
    with engine.begin() as conn:
        for table in (*DERIVED_TABLES, table_of(Event), table_of(BlockHash), table_of(Checkpoint)):
            conn.execute(table.delete())


def snapshot_sections(snapshot: LedgerSnapshot) -> dict[str, dict[Any, Any]]:
    return {section: getattr(snapshot, section) for section in LedgerSnapshot.SECTIONS}


# -- fixtures --------------------------------------------------------------------------------


class PropertyChain:
    """A registry on a chain of its own, reset to the same state after every example."""

    def __init__(self, registry: Registry, people: list[str], setup: list[SignedRequest]) -> None:
        self.registry = registry
        self.people = people  # every address that may hold a right or sign
        self.setup = setup  # the requests that registered the project and defined the labels

    def __repr__(self) -> str:
        return f"PropertyChain(registry={self.registry.deployment.registry})"

    @contextmanager
    def example(self) -> Iterator[Ledger]:
        """Yield a model of the registry as it is now; revert the chain to it afterwards."""
        registry = self.registry
        snapshot = rpc(registry, "evm_snapshot")
        # A relayer per example: after the revert its cached operator nonce would be ahead of
        # the chain. It lingers so that all the requests of one flush make one batch.
        registry.relayer = Relayer(
            registry.client,
            registry.deployment.registry,
            registry.abi,
            registry.keys["relayer"],
            linger=0.02,
        ).start()
        try:
            yield self._ledger()
        finally:
            # Requests still queued (an example stopped early) land before the revert.
            registry.relayer.stop()
            assert rpc(registry, "evm_revert", snapshot) is True

    def _ledger(self) -> Ledger:
        view = Views(self.registry)
        next_account, next_serial, next_issuance, next_operation, _ = view("counters")
        keys = self.registry.keys
        state = LedgerState(
            next_account=next_account,
            next_serial=next_serial,
            next_issuance=next_issuance,
            next_operation=next_operation,
            nonces={a: view("nonces", a) for a in self.people},
            labels={i: (name, keys[owner].address) for i, (name, owner) in enumerate(LABELS)},
            executed={"0x" + r.digest.hex(): (r.signer, r.nonce) for r in self.setup},
        )
        return Ledger(state, keys)


@pytest.fixture(scope="module")
def property_chain(
    dev_keys: dict[str, LocalAccount], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PropertyChain]:
    """Deploy on a private anvil (evm_revert must disturb no other test), with a project and
    the labels of `LABELS` defined."""
    chain = DevChain(tmp_path_factory.mktemp("property-chain"), port=_free_port()).start()
    deployments = tmp_path_factory.mktemp("deployments")
    registry = deploy_registry(chain.rpc_url, dev_keys, deployments)
    try:
        grant_roles(
            registry.client,
            dev_keys["registry_admin"],
            registry.deployment,
            deployments,
            {"label_authority": [dev_keys["issuer"].address]},
        )
        signer = registry.signer
        setup = [
            signer.register_project(
                dev_keys["issuer"], PROJECT, "Savanna burning", "SFM 2018", PARTY
            ),
            *(
                signer.define_label(
                    dev_keys["registry_admin"], name, dev_keys[owner].address, nonce=i
                )
                for i, (name, owner) in enumerate(LABELS)
            ),
        ]
        for request in setup:
            outcome = registry.relayer.relay(request)
            assert outcome.ok, outcome.error
        registry.relayer.stop()  # each example starts one of its own
        people: list[str] = [dev_keys[n].address for n in (*PEOPLE, *ROLE_KEYS)]
        yield PropertyChain(registry, people, setup)
    finally:
        registry.relayer.stop()
        registry.client.close()
        chain.stop()


# -- the property ----------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(data=st.data())
def test_mirror_audit_views_and_model_agree_after_random_operations(
    property_chain: PropertyChain,
    engine: Engine,
    data: st.DataObject,
) -> None:
    registry = property_chain.registry
    with property_chain.example() as ledger:
        driver = Driver(registry, ledger)
        # A plausible start, so that most examples move units: accounts with units in them.
        for _ in range(data.draw(st.integers(2, 4), label="accounts")):
            driver.run(data.draw(open_accounts(plausible=True), label="open"))
        for _ in range(data.draw(st.integers(1, 4), label="issuances")):
            driver.run(data.draw(issues(ledger, plausible=True), label="issue"))
        # Past the first steps, each is preceded by a "stop here?" draw that shrinks to yes.
        for step in range(MAX_STEPS):
            if step >= MIN_STEPS and data.draw(st.integers(0, 19), label=f"stop? {step}") == 0:
                break
            op = data.draw(operations(ledger, len(driver.executed)), label=f"step {step}")
            driver.run(op)
        event(f"steps: {(step // 10) * 10}+")
        driver.flush()

        batch_blocks = data.draw(st.sampled_from([2_000, 1, 3]), label="indexer batch_blocks")
        empty_mirror(engine)
        result = make_indexer(engine, registry, batch_blocks=batch_blocks).sync_once()
        assert result.end_block == registry.client.block_number()

        report = audit(
            engine, registry.client, registry.deployment, registry.abi, spot_checks=8, seed=0
        )
        assert report.ok, "mirror != audit:\n" + "\n".join(
            f"{d.section} {d.key}: chain={d.chain} mirror={d.mirror}" for d in report.differences
        )
        mirror = mirror_tables(engine)
        assert_same("model vs mirror", ledger.expected_mirror(), mirror)
        views = contract_views(registry, property_chain.people)
        assert_same("model vs contract views", ledger.expected_views(property_chain.people), views)

        forward = snapshot_sections(read_mirror(engine))
        with engine.begin() as conn:
            rebuild_derived(conn)
        assert_same("forward mirror vs rebuilt", forward, snapshot_sections(read_mirror(engine)))
        note(f"{len(driver.executed)} requests executed, {len(mirror['blocks'])} blocks")
