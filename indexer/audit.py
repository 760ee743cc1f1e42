"""`registry audit` (R3): recompute the registry from the chain alone; compare with the mirror.

The chain side reads nothing but eth_getLogs and contract view calls: events are replayed by the
mirror's own reducer (`indexer.reducer`) into an in-memory store, and every derived table is
compared with the mirror's. A shared reducer would share its bugs, so the replay is also held
against contract storage through view calls at the audited block (counters, getBlock for every
block, getAccount for every account, the platform module's records) and each issuance's units
must add up. The mirror side is read with plain SQL, holdings and totals as aggregates, the way
readers will query them. Both sides become a `LedgerSnapshot`; any difference is reported.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy import Table as SqlTable
from sqlalchemy.pool import StaticPool
from web3 import Web3
from web3.exceptions import BlockNotFound

from indexer.aef import (
    ActionFact,
    AefReport,
    Article6Facts,
    AuthorizationFact,
    CancellationFact,
    IssuanceFact,
    build_aef,
    compare_aef,
    load_mirror_facts,
)
from indexer.db import create_engine, upgrade_database
from indexer.models import (
    BlockHash,
    Checkpoint,
    Event,
    enum_text,
    sql_text,
    table_of,
)
from indexer.reducer import (
    A6_ACTIONS,
    A6_APPROACH_PARTIES,
    A6_APPROACHES,
    A6_AUTHORIZATIONS,
    A6_CONFIG,
    A6_ITMO_TRANSFERS,
    A6_PARTIES,
    A6_PARTY_ADMINS,
    A64_ISSUANCES,
    A64_PARTS,
    ACCOUNTS,
    ASSOCIATIONS,
    CANCELLATIONS,
    CONSENTS,
    DERIVED_TABLES,
    ESCROWS,
    ISSUANCES,
    LABELS,
    PLATFORM_SIGNERS,
    PLATFORMS,
    PROJECTS,
    REPRESENTATIVES,
    RESERVATIONS,
    TRANSFERS,
    UNIT_BLOCKS,
    MemoryStore,
    Reducer,
)
from indexer.sync import Indexer
from node.chain import ChainClient
from node.contracts import (
    AccountKind,
    AccountStatus,
    ApprovalPolicy,
    AssociationStatus,
    ConsentScope,
    ConsentStatus,
    EscrowStatus,
    PlatformStatus,
    ReservationStatus,
    UnitState,
    bytes32_text,
)
from node.deploy import Deployment
from node.errors import ChainError
from node.ledger import BlockIndex, DecodedEvent, EventDecoder

__all__ = [
    "AefAudit",
    "AuditReport",
    "Difference",
    "LedgerSnapshot",
    "audit",
    "audit_aef",
    "chain_aef",
    "compare",
    "print_aef_audit",
    "print_report",
    "read_mirror",
    "recompute_from_chain",
]

# First account number the contract assigns (UnitRegistry constructor).
_FIRST_ACCOUNT_ID = 1_000_001
# Transfer ids at or above this are taken from a request's digest, not the counter (D33).
_DIGEST_IDS = 1 << 62


@dataclass(frozen=True)
class Difference:
    """One value on which the chain and the mirror (or the replay and a view call) disagree."""

    section: str
    key: str
    chain: str
    mirror: str


@dataclass
class LedgerSnapshot:
    """The registry's state and history at one block, in the mirror's representation."""

    blocks: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    accounts: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    representatives: dict[tuple[int, str], tuple[Any, ...]] = field(default_factory=dict)
    projects: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    issuances: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    labels: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    transfers: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    cancellations: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    platforms: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    platform_signers: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    consents: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    reservations: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    escrows: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    associations: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    holdings: dict[tuple[Any, ...], int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    events: dict[tuple[int, int], tuple[str, str]] = field(default_factory=dict)
    article6_parties: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    article6_approaches: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    article6_authorizations: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    article6_actions: dict[tuple[int, int], tuple[Any, ...]] = field(default_factory=dict)
    article6_itmo_transfers: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    article6_config: dict[str, int | None] = field(default_factory=dict)
    article64_issuances: dict[int, tuple[Any, ...]] = field(default_factory=dict)

    SECTIONS = (
        "totals",
        "holdings",
        "accounts",
        "representatives",
        "projects",
        "issuances",
        "labels",
        "transfers",
        "cancellations",
        "platforms",
        "platform_signers",
        "consents",
        "reservations",
        "escrows",
        "associations",
        "blocks",
        "events",
        "article6_parties",
        "article6_approaches",
        "article6_authorizations",
        "article6_actions",
        "article6_itmo_transfers",
        "article6_config",
        "article64_issuances",
    )


@dataclass
class AuditReport:
    """The outcome of an audit at one block."""

    block_number: int
    block_hash: str
    differences: list[Difference]
    compared: dict[str, int]
    spot_checks: int
    notes: list[str] = field(default_factory=list)
    # Rows compared in each derived table with the reducer replayed from the chain.
    tables: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Return True when nothing differs."""
        return not self.differences


# -- chain side ------------------------------------------------------------------------------


class _Replay:
    """The one reducer (`indexer.reducer`) over an in-memory store, fed from eth_getLogs alone.

    It shares the mirror's reducer, and so would share its bugs: the audit therefore also holds
    its result against the contract's own views and each issuance's totals.
    """

    def __init__(self) -> None:
        self.store = MemoryStore()
        self.reducer = Reducer(self.store)
        self.events: dict[tuple[int, int], tuple[str, str]] = {}

    @property
    def index(self) -> BlockIndex:
        """The unit blocks the replay arrived at."""
        return self.store.blocks

    def apply(self, events: Sequence[DecodedEvent]) -> None:
        """Apply events in chain order."""
        for event in events:
            self.events[(event.block_number, event.log_index)] = (event.tx_hash, event.name)
        self.reducer.apply(events)

    def finish(self) -> LedgerSnapshot:
        """Return the replay as a snapshot; holdings and totals summed here, not in SQL."""
        s = _tables_snapshot(lambda table: self.store.rows(table).values())
        s.events = dict(self.events)
        units: Counter[str] = Counter()
        holdings: Counter[tuple[Any, ...]] = Counter()
        for b in self.index.blocks():
            state = enum_text(b.state)
            issuance = s.issuances[b.issuance]
            holdings[(b.account, state, issuance[1], issuance[2], issuance[0])] += b.quantity
            units[state] += b.quantity
        s.holdings = dict(holdings)
        s.totals = _totals(
            s,
            issued=sum(i[8] for i in s.issuances.values()),
            units=units,
            transfers=Counter(t[3] for t in s.transfers.values()),
            cancelled=_sum_by((c[1], c[2]) for c in s.cancellations.values()),
            events=len(s.events),
        )
        return s

    @property
    def facts(self) -> Article6Facts:
        """What an AEF is built from, read from the replayed tables."""
        rows = self.store.rows
        facts = Article6Facts()
        for r in rows(PROJECTS).values():
            facts.methodologies[r["id"]] = r["methodology"]
        for r in rows(ISSUANCES).values():
            facts.issuances.append(
                IssuanceFact(
                    id=r["id"],
                    start=r["start"],
                    end=r["end"],
                    project_id=r["project_id"],
                    unit_type=r["unit_type"],
                    vintage=r["vintage"],
                    origin_registry=r["origin_registry"],
                    tx_hash=r["tx_hash"],
                )
            )
        for r in rows(CANCELLATIONS).values():
            facts.cancellations[r["id"]] = CancellationFact(
                r["id"], r["purpose"], r["beneficiary"], r["tx_hash"]
            )
        parties = rows(A6_PARTIES)
        for r in rows(A6_AUTHORIZATIONS).values():
            party = parties.get((r["party"],))
            facts.authorizations[r["id"]] = AuthorizationFact(
                id=r["id"],
                party=r["party"],
                registry_id=party["registry_id"] if party is not None else "",
                approach_id=r["approach_id"],
                letter_id=r["letter_id"],
                purposes=r["purposes"],
                first_transfer_definition=r["first_transfer_definition"],
                authorized_at=r["authorized_at"],
                tx_hash=r["tx_hash"],
            )
        for (block_number, log_index), r in sorted(rows(A6_ACTIONS).items()):
            facts.actions.append(
                ActionFact(
                    block_number,
                    log_index,
                    r["tx_hash"],
                    0,
                    r["operation_id"],
                    r["authorization_id"],
                    r["action"],
                    r["start"],
                    r["end"],
                    r["account_id"],
                    r["party"],
                    r["counterparty"],
                )
            )
        return facts


def _sum_by(pairs: Iterable[tuple[str, int]]) -> Counter[str]:
    out: Counter[str] = Counter()
    for key, quantity in pairs:
        out[key] += quantity
    return out


def _totals(
    s: LedgerSnapshot,
    *,
    issued: int,
    units: Counter[str],
    transfers: Counter[str],
    cancelled: Counter[str],
    events: int,
) -> dict[str, int]:
    totals = {
        "accounts": len(s.accounts),
        "projects": len(s.projects),
        "issuances": len(s.issuances),
        "labels": len(s.labels),
        "units issued": issued,
        "events": events,
    }
    totals.update({f"units {state}": n for state, n in units.items() if n})
    totals.update({f"transfers {status}": n for status, n in transfers.items() if n})
    totals.update({f"units cancelled for {purpose}": n for purpose, n in cancelled.items() if n})
    return totals


def _replay(
    client: ChainClient, deployment: Deployment, decoder: EventDecoder, block_number: int
) -> _Replay:
    replay = _Replay()
    for logs in client.iter_logs(deployment.registry, deployment.deploy_block, block_number):
        replay.apply(sorted(decoder.decode_all(logs), key=lambda e: (e.block_number, e.log_index)))
    return replay


def recompute_from_chain(
    client: ChainClient, deployment: Deployment, decoder: EventDecoder, block_number: int
) -> tuple[LedgerSnapshot, BlockIndex]:
    """Replay every registry event up to `block_number` from eth_getLogs alone."""
    replay = _replay(client, deployment, decoder, block_number)
    return replay.finish(), replay.index


# -- mirror side -----------------------------------------------------------------------------


_Rows = Callable[[SqlTable], Iterable[Mapping[str, Any]]]


def _tables_snapshot(rows: _Rows) -> LedgerSnapshot:
    """Project derived tables' rows (from the mirror or the replay) into a snapshot."""
    s = LedgerSnapshot()
    for r in rows(UNIT_BLOCKS):
        s.blocks[r["start"]] = (
            r["end"],
            r["account_id"],
            r["state"],
            r["lock_id"],
            r["issuance_id"],
            r["labels"],
        )
    for r in rows(ACCOUNTS):
        s.accounts[r["id"]] = (
            r["kind"],
            r["status"],
            r["approval_policy"],
            r["party"],
            r["holder_name"],
            r["primary_representative"],
        )
    for r in rows(REPRESENTATIVES):
        s.representatives[(r["account_id"], r["address"])] = (
            r["is_primary"],
            r["can_initiate"],
            r["can_approve"],
        )
    for r in rows(PROJECTS):
        s.projects[r["id"]] = (r["name"], r["methodology"], r["country"])
    for r in rows(ISSUANCES):
        s.issuances[r["id"]] = (
            r["project_id"],
            r["unit_type"],
            r["vintage"],
            r["monitoring_start"],
            r["monitoring_end"],
            r["origin_registry"],
            r["start"],
            r["end"],
            r["quantity"],
            r["account_id"],
        )
    for r in rows(LABELS):
        s.labels[r["id"]] = (r["name"], r["authority"])
    for r in rows(TRANSFERS):
        s.transfers[r["id"]] = (
            r["from_account"],
            r["to_account"],
            r["quantity"],
            r["status"],
            r["initiator"],
            r["approver"],
            r["rescinded_by"],
        )
    for r in rows(CANCELLATIONS):
        s.cancellations[r["id"]] = (
            r["account_id"],
            r["purpose"],
            r["quantity"],
            r["beneficiary"],
            r["reason"],
        )
    for r in rows(PLATFORMS):
        s.platforms[r["address"]] = (r["name"], r["custodial_account_id"], r["status"])
    for r in rows(PLATFORM_SIGNERS):
        s.platform_signers[(r["platform"], r["signer"])] = (True,)
    for r in rows(CONSENTS):
        s.consents[r["id"]] = (
            r["account_id"],
            r["platform"],
            r["scope"],
            r["status"],
            r["granted_by"],
            r["revoked_by"],
        )
    for table, target in ((RESERVATIONS, s.reservations), (ESCROWS, s.escrows)):
        for r in rows(table):
            target[r["id"]] = (
                r["account_id"],
                r["platform"],
                r["quantity"],
                r["status"],
                r["to_account"],
                r["created_by"],
                r["closed_by"],
            )
    for r in rows(ASSOCIATIONS):
        s.associations[r["id"]] = (
            r["account_id"],
            r["third_party_registry"],
            r["certificate_id"],
            r["quantity"],
            r["status"],
            r["cancellation_id"],
            r["created_by"],
            r["closed_by"],
        )
    _article6_snapshot(rows, s)
    return s


def read_mirror(engine: Engine) -> LedgerSnapshot:
    """Read the mirror's tables into a snapshot; holdings and totals come from SQL aggregates."""
    blocks, issuances = UNIT_BLOCKS, ISSUANCES
    transfers, cancellations = TRANSFERS, CANCELLATIONS
    events = table_of(Event)
    with engine.connect() as conn:
        s = _tables_snapshot(lambda table: (dict(r._mapping) for r in conn.execute(select(table))))
        for r in conn.execute(
            select(events.c.block_number, events.c.log_index, events.c.tx_hash, events.c.name)
        ):
            s.events[(r.block_number, r.log_index)] = (r.tx_hash, r.name)

        quantity = func.sum(blocks.c.end - blocks.c.start + 1)
        held = (
            select(
                blocks.c.account_id,
                blocks.c.state,
                issuances.c.unit_type,
                issuances.c.vintage,
                issuances.c.project_id,
                quantity,
            )
            .join(issuances, issuances.c.id == blocks.c.issuance_id)
            .group_by(
                blocks.c.account_id,
                blocks.c.state,
                issuances.c.unit_type,
                issuances.c.vintage,
                issuances.c.project_id,
            )
        )
        s.holdings = {tuple(r[:5]): int(r[5]) for r in conn.execute(held)}
        units = Counter(
            {
                r.state: int(r[1])
                for r in conn.execute(select(blocks.c.state, quantity).group_by(blocks.c.state))
            }
        )
        by_status = Counter(
            {
                r.status: int(r[1])
                for r in conn.execute(
                    select(transfers.c.status, func.count()).group_by(transfers.c.status)
                )
            }
        )
        cancelled = Counter(
            {
                r.purpose: int(r[1])
                for r in conn.execute(
                    select(cancellations.c.purpose, func.sum(cancellations.c.quantity)).group_by(
                        cancellations.c.purpose
                    )
                )
            }
        )
        issued = conn.execute(select(func.coalesce(func.sum(issuances.c.quantity), 0))).scalar()
        event_count = conn.execute(select(func.count()).select_from(events)).scalar()
    s.totals = _totals(
        s,
        issued=int(issued or 0),
        units=units,
        transfers=by_status,
        cancelled=cancelled,
        events=int(event_count or 0),
    )
    return s


def _article6_snapshot(rows: _Rows, s: LedgerSnapshot) -> None:
    admins: dict[str, list[str]] = {}
    for r in rows(A6_PARTY_ADMINS):
        admins.setdefault(r["party"], []).append(r["address"])
    for r in rows(A6_PARTIES):
        s.article6_parties[r["party"]] = (
            r["registry_id"],
            r["label_authority"],
            tuple(sorted(admins.get(r["party"], []))),
        )
    members: dict[str, list[str]] = {}
    for r in rows(A6_APPROACH_PARTIES):
        members.setdefault(r["approach_id"], []).append(r["party"])
    for r in rows(A6_APPROACHES):
        s.article6_approaches[r["approach_id"]] = (
            r["name"],
            tuple(sorted(members.get(r["approach_id"], []))),
        )
    for r in rows(A6_AUTHORIZATIONS):
        s.article6_authorizations[r["id"]] = (
            r["party"],
            r["approach_id"],
            r["letter_id"],
            r["purposes"],
            r["first_transfer_definition"],
            r["authorized_at"],
        )
    for r in rows(A6_ACTIONS):
        s.article6_actions[(r["block_number"], r["log_index"])] = (
            r["operation_id"],
            r["authorization_id"],
            r["action"],
            r["start"],
            r["end"],
            r["account_id"],
            r["party"],
            r["counterparty"],
        )
    for r in rows(A6_ITMO_TRANSFERS):
        s.article6_itmo_transfers[r["transfer_id"]] = (r["authorization_id"],)
    for config in rows(A6_CONFIG):
        s.article6_config = {k: v for k, v in config.items() if k != "id" and v is not None}
    parts: dict[int, list[tuple[int, int, str, int]]] = {}
    for r in rows(A64_PARTS):
        parts.setdefault(r["issuance_id"], []).append(
            (r["start"], r["end"], r["share"], r["account_id"])
        )
    for r in rows(A64_ISSUANCES):
        s.article64_issuances[r["issuance_id"]] = (
            r["cancellation_id"],
            r["pending_account"],
            r["quantity"],
            r["share_of_proceeds"],
            r["omge"],
            r["forwarded"],
            tuple(sorted(parts.get(r["issuance_id"], []))),
        )


# -- comparison ------------------------------------------------------------------------------


def _show(value: Any) -> str:
    return "(missing)" if value is None else repr(value)


def compare(chain: LedgerSnapshot, mirror: LedgerSnapshot) -> list[Difference]:
    """Return every key on which the two snapshots differ, section by section."""
    out: list[Difference] = []
    for section in LedgerSnapshot.SECTIONS:
        left: dict[Any, Any] = getattr(chain, section)
        right: dict[Any, Any] = getattr(mirror, section)
        for key in sorted(left.keys() | right.keys(), key=repr):
            a, b = left.get(key), right.get(key)
            if a != b:
                out.append(Difference(section, _key(key), _show(a), _show(b)))
    return out


def _key(key: Any) -> str:
    if isinstance(key, tuple):
        return " / ".join(str(part) for part in key)
    return str(key)


# -- view spot checks ------------------------------------------------------------------------


def _spot_check(
    client: ChainClient,
    deployment: Deployment,
    abi: list[dict[str, Any]],
    snapshot: LedgerSnapshot,
    block_number: int,
    samples: int | None,
    seed: int | None,
) -> tuple[list[Difference], int]:
    """Compare the replay with contract storage through view calls at the audited block.

    `samples` blocks and accounts are chosen at random; None checks every one of them.
    """
    contract = client.w3.eth.contract(
        address=Web3.to_checksum_address(deployment.registry), abi=abi
    )
    at = block_number
    out: list[Difference] = []
    checks = 0

    def check(key: str, replayed: Any, viewed: Any) -> None:
        nonlocal checks
        checks += 1
        if replayed != viewed:
            # NOTE: here "chain" is the event replay and "mirror" is contract storage.
            out.append(Difference("view", key, _show(replayed), _show(viewed)))

    counters = contract.functions.counters().call(block_identifier=at)
    next_account, next_serial, next_issuance, next_operation, label_count = counters
    totals = snapshot.totals
    check("counters: accounts", totals["accounts"], next_account - _FIRST_ACCOUNT_ID)
    check("counters: units issued", totals["units issued"], next_serial - 1)
    check("counters: issuances", totals["issuances"], next_issuance - 1)
    # Transfers (ITMO transfers included), cancellations, consents, reservations, escrows,
    # associations and authorize calls share one operation counter. An authorize call that adds
    # units to a recorded letter takes an id but records no letter, so those calls are counted
    # by the operation ids of their authorization records.
    authorize_calls = {
        row[0] for row in snapshot.article6_actions.values() if row[2] == "authorization"
    }
    # A single-policy core transfer is numbered from its request's digest, at 2^62 or above, and
    # takes no operation id (decision D33).
    counted_transfers = sum(1 for transfer_id in snapshot.transfers if transfer_id < _DIGEST_IDS)
    # Transfers to a peer registry (docs/interop.md) take an operation id too.
    outbound = sum(1 for _tx, name in snapshot.events.values() if name == "TransferOutInitiated")
    # ITMOs accepted from a peer (decision D47) take an id for the acquisition, and one for this
    # registry's record of the source's letter the first time it arrives (an authorization that
    # no authorize call recorded).
    imported_letters = set(snapshot.article6_authorizations) - authorize_calls
    acquisitions = {
        row[0]
        for row in snapshot.article6_actions.values()
        if row[2] == "acquisition" and row[0] not in snapshot.transfers
    }
    operations = (
        len(authorize_calls)
        + len(imported_letters)
        + len(acquisitions)
        + outbound
        + counted_transfers
        + sum(
            len(getattr(snapshot, section))
            for section in (
                "cancellations",
                "consents",
                "reservations",
                "escrows",
                "associations",
            )
        )
    )
    check("counters: operations", operations, next_operation - 1)
    check("counters: labels", totals["labels"], label_count)

    rng = random.Random(seed)
    starts = sorted(snapshot.blocks)
    picked = set(starts if samples is None else rng.sample(starts, min(samples, len(starts))))
    if starts:
        picked.update((starts[0], starts[-1]))
    states = {enum_text(state): int(state) for state in UnitState}
    for start in sorted(picked):
        end, account, state, lock_id, issuance, labels = snapshot.blocks[start]
        stored, stored_labels = contract.functions.getBlock(start).call(
            block_identifier=block_number
        )
        check(
            f"getBlock({start})",
            (end, account, issuance, lock_id, states[state], labels),
            (stored[0], stored[1], stored[2], stored[3], stored[4], stored_labels),
        )
    kinds = {enum_text(k): int(k) for k in AccountKind}
    statuses = {enum_text(k): int(k) for k in AccountStatus}
    policies = {enum_text(k): int(k) for k in ApprovalPolicy}
    ids = sorted(snapshot.accounts)
    chosen = ids if samples is None else rng.sample(ids, min(samples, len(ids)))
    for account_id in sorted(chosen):
        kind, status, policy, party, _, primary = snapshot.accounts[account_id]
        stored = contract.functions.getAccount(account_id).call(block_identifier=at)
        check(
            f"getAccount({account_id})",
            (kinds[kind], statuses[status], policies[policy], party, primary),
            (stored[0], stored[1], stored[2], sql_text(bytes32_text(stored[3])), stored[4]),
        )
    functions = {item.get("name") for item in abi if item.get("type") == "function"}
    if "getReservation" in functions:
        _spot_check_platforms(contract, snapshot, at, rng, samples, check)
    return out, checks


# A status as the mirror stores it -> its number in the module's views, per section.
_STATUS = {
    section: {enum_text(status): int(status) for status in statuses}
    for section, statuses in (
        ("consents", ConsentStatus),
        ("reservations", ReservationStatus),
        ("escrows", EscrowStatus),
        ("associations", AssociationStatus),
        ("platforms", PlatformStatus),
    )
}


def _spot_check_platforms(
    contract: Any,
    snapshot: LedgerSnapshot,
    at: int,
    rng: random.Random,
    samples: int | None,
    check: Any,
) -> None:
    """Compare sampled platforms, consents and locks of the replay with the module's views."""
    f = contract.functions

    def sample(keys: Iterable[Any]) -> list[Any]:
        ordered = sorted(keys)
        if samples is None:
            return sorted(ordered)
        return sorted(rng.sample(ordered, min(samples, len(ordered))))

    for address in sample(snapshot.platforms):
        _name, custodial, status = snapshot.platforms[address]
        stored = f.getPlatform(address).call(block_identifier=at)
        check(f"getPlatform({address})", (_STATUS["platforms"][status], custodial), tuple(stored))
    scopes = {enum_text(s): int(s) for s in ConsentScope}
    for consent_id in sample(snapshot.consents):
        account, platform, scope, status, _by, _revoked_by = snapshot.consents[consent_id]
        check(
            f"getConsent({consent_id})",
            (account, platform, scopes[scope], _STATUS["consents"][status]),
            tuple(f.getConsent(consent_id).call(block_identifier=at)),
        )
    for section, view in (("reservations", f.getReservation), ("escrows", f.getEscrow)):
        table: dict[int, tuple[Any, ...]] = getattr(snapshot, section)
        for lock_id in sample(table):
            account, platform, quantity, status, to_account, _by, _closed_by = table[lock_id]
            stored = view(lock_id).call(block_identifier=at)
            # The views' last field: the custody transfer's id (reservations) or the buyer.
            check(
                f"{view.fn_name}({lock_id})",
                (account, platform, quantity, _STATUS[section][status]),
                tuple(stored[:4]),
            )
            if section == "escrows":
                check(f"getEscrow({lock_id}).toAccount", to_account or 0, stored[4])
    for association_id in sample(snapshot.associations):
        account, registry, certificate, quantity, status, cancellation, _by, _closed = (
            snapshot.associations[association_id]
        )
        stored = f.getAssociation(association_id).call(block_identifier=at)
        check(
            f"getAssociation({association_id})",
            (account, registry, quantity, _STATUS["associations"][status], cancellation or 0),
            tuple(stored[:5]),
        )
        check(
            f"getAssociation({association_id}).certificateId",
            certificate,
            sql_text(bytes32_text(stored[5])),
        )


# -- conservation per issuance -----------------------------------------------------------------


def issuance_totals(snapshot: LedgerSnapshot, side: str) -> list[Difference]:
    """Check each issuance's blocks partition its serials: issued = the sum over every state.

    The blocks of an issuance must cover [start, end] with no gap and no overlap, so its units
    held + pending + reserved + escrowed + associated + cancelled equal the units issued.
    """
    by_issuance: dict[int, list[tuple[int, int, str]]] = {}
    for start, block in snapshot.blocks.items():
        end, _account, state, _lock, issuance, _labels = block
        by_issuance.setdefault(int(issuance), []).append((int(start), int(end), str(state)))
    out: list[Difference] = []
    for issuance_id, issuance in sorted(snapshot.issuances.items()):
        first, last, quantity = int(issuance[6]), int(issuance[7]), int(issuance[8])
        blocks = sorted(by_issuance.pop(issuance_id, []))
        by_state = Counter[str]()
        expected = first
        for start, end, state in blocks:
            if start != expected:
                out.append(
                    Difference(
                        "issuance totals",
                        f"{side} issuance {issuance_id}",
                        f"a block starting at {expected}",
                        f"a block starting at {start}",
                    )
                )
            by_state[state] += end - start + 1
            expected = end + 1
        counted = sum(by_state.values())
        if counted != quantity or expected != last + 1:
            states = ", ".join(f"{k} {v}" for k, v in sorted(by_state.items()))
            out.append(
                Difference(
                    "issuance totals",
                    f"{side} issuance {issuance_id}",
                    f"{quantity} issued ({first}-{last})",
                    f"{counted} in blocks ({states})",
                )
            )
    for issuance_id in sorted(by_issuance):
        out.append(
            Difference(
                "issuance totals", f"{side} issuance {issuance_id}", "no such issuance", "blocks"
            )
        )
    return out


# -- every derived table, rebuilt by the indexer from the chain --------------------------------


def rebuild_from_chain(
    client: ChainClient, deployment: Deployment, abi: list[dict[str, Any]], block_number: int
) -> Engine:
    """Index the chain up to `block_number` into a new in-memory mirror and return its engine.

    The ordinary indexer does it (eth_getLogs, block headers, the mirror's writer), so every
    derived table, including any added later, is recomputed without a line of audit code.
    """
    engine = create_engine("sqlite://", poolclass=StaticPool)
    upgrade_database(engine)
    indexer = Indexer(engine, client, deployment, abi, until_block=block_number, progress=False)
    for _ in range(100):
        if indexer.sync_once().end_block >= block_number:
            return engine
    engine.dispose()
    raise ChainError(f"could not index the chain up to block {block_number}")


def _normal(value: Any) -> Any:
    # PostgreSQL returns NUMERIC columns as Decimal and JSON as parsed values; SQLite as ints.
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value


def _rows(conn: Connection, table: SqlTable) -> dict[tuple[Any, ...], dict[str, Any]]:
    keys = list(table.primary_key.columns) or list(table.columns)
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in conn.execute(select(table)):
        values = {name: _normal(value) for name, value in row._mapping.items()}
        out[tuple(values[c.name] for c in keys)] = values
    return out


def compare_derived(
    expected: Callable[[SqlTable], Mapping[tuple[Any, ...], Mapping[str, Any]]], mirror: Engine
) -> tuple[list[Difference], dict[str, int]]:
    """Compare every derived table with the mirror's, row by row; return differences and counts.

    `expected` gives a table's rows by primary key (the replay's store, or a rebuilt mirror).
    """
    differences: list[Difference] = []
    counted: dict[str, int] = {}
    with mirror.connect() as theirs:
        for table in DERIVED_TABLES:
            names = [c.name for c in table.columns]
            ours = {
                key: {n: _normal(row.get(n)) for n in names} for key, row in expected(table).items()
            }
            found = _rows(theirs, table)
            counted[table.name] = len(ours)
            for key in sorted(ours.keys() | found.keys(), key=repr):
                a, b = ours.get(key), found.get(key)
                if a != b:
                    differences.append(
                        Difference(f"table {table.name}", _key(key), _show(a), _show(b))
                    )
    return differences, counted


# -- the audit -------------------------------------------------------------------------------


def audit(
    engine: Engine,
    client: ChainClient,
    deployment: Deployment,
    abi: list[dict[str, Any]],
    *,
    spot_checks: int | None = None,
    seed: int | None = None,
    rebuild: bool = False,
) -> AuditReport:
    """Audit the mirror at its checkpoint block against the chain alone.

    Checks, each from the chain alone: the reducer replayed from eth_getLogs over an in-memory
    store, compared with every derived table row by row and with the mirror's holdings and
    totals read as SQL aggregates; each issuance's blocks add up to its quantity; and, because
    the replay shares the mirror's reducer (and so its bugs), the replay against the contract's
    own views for every block and account (`spot_checks=None`). `rebuild` also compares a
    mirror the indexer rebuilds from the chain.
    """
    checkpoint_table = table_of(Checkpoint)
    with engine.connect() as conn:
        checkpoint = conn.execute(select(checkpoint_table)).first()
    if checkpoint is None:
        return AuditReport(
            block_number=deployment.deploy_block - 1,
            block_hash="",
            differences=[Difference("checkpoint", "mirror", "a deployed registry", "empty mirror")],
            compared={},
            spot_checks=0,
            notes=["The mirror has never been synced; run `registry sync` first."],
        )
    number, stored_hash = int(checkpoint.block_number), str(checkpoint.block_hash)
    differences: list[Difference] = []
    notes: list[str] = []
    try:
        chain_hash = "0x" + bytes(client.get_block(number)["hash"]).hex()
    except BlockNotFound:
        chain_hash = "(no such block)"
    if chain_hash != stored_hash:
        differences.append(
            Difference("checkpoint", f"block {number} hash", chain_hash, stored_hash)
        )
        notes.append(
            "The mirror's checkpoint block is not on the chain any more (a reorg the indexer has "
            "not processed yet): run `registry sync`, then audit again."
        )

    replay = _replay(client, deployment, EventDecoder(abi), number)
    chain = replay.finish()
    mirror = read_mirror(engine)
    differences.extend(compare(chain, mirror))
    differences.extend(issuance_totals(chain, "chain"))
    differences.extend(issuance_totals(mirror, "mirror"))
    # Every derived table, column by column, against the replay's store.
    table_differences, tables = compare_derived(replay.store.rows, engine)
    differences.extend(table_differences)
    if rebuild:
        # The same reducer over SQL: a fresh mirror indexed from the chain by the indexer.
        rebuilt = rebuild_from_chain(client, deployment, abi, number)
        try:
            with rebuilt.connect() as conn:
                rebuilt_differences, _ = compare_derived(lambda t: _rows(conn, t), engine)
        finally:
            rebuilt.dispose()
        differences.extend(rebuilt_differences)
    checks = 0
    if spot_checks is None or spot_checks > 0:
        try:
            view_differences, checks = _spot_check(
                client, deployment, abi, chain, number, spot_checks, seed
            )
        except Exception as exc:  # e.g. a pruned node without state at that block
            notes.append(f"View spot checks skipped: the node cannot serve block {number}: {exc}")
        else:
            differences.extend(view_differences)
    compared = {section: len(getattr(chain, section)) for section in LedgerSnapshot.SECTIONS}
    return AuditReport(number, stored_hash, differences, compared, checks, notes, tables)


def print_report(report: AuditReport, console: Console, limit: int = 50) -> None:
    """Print an audit report: what was compared and every difference (up to `limit`)."""
    compared = ", ".join(f"{n} {section}" for section, n in report.compared.items())
    console.print(f"Audit at block {report.block_number} ({report.block_hash})")
    console.print(f"Compared: {compared}; {report.spot_checks} view spot checks.")
    if report.tables:
        rows = sum(report.tables.values())
        console.print(
            f"Replayed from the chain and compared row by row: {len(report.tables)} derived "
            f"tables, {rows} rows."
        )
    for note in report.notes:
        console.print(f"[yellow]{note}[/]")
    if report.ok:
        console.print("[bold green]The mirror equals the chain.[/]")
        return
    table = Table(title=f"{len(report.differences)} differences")
    for column in ("section", "key", "chain", "mirror"):
        table.add_column(column, overflow="fold")
    for d in report.differences[:limit]:
        table.add_row(d.section, d.key, d.chain, d.mirror)
    console.print(table)
    if len(report.differences) > limit:
        console.print(f"... and {len(report.differences) - limit} more.")
    console.print(
        "[bold red]The mirror differs from the chain.[/] Rebuild it from an empty database "
        "(the chain is the source of truth)."
    )


# -- the AEF from chain data alone ---------------------------------------------------------


@dataclass
class AefAudit:
    """A Party's AEF for a year built from the chain alone, beside the mirror's."""

    block_number: int
    chain: AefReport
    mirror: AefReport | None
    differences: list[tuple[str, str, str]]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return True when the mirror's AEF equals the chain's."""
        return self.mirror is not None and not self.differences


def chain_aef(
    client: ChainClient,
    deployment: Deployment,
    abi: list[dict[str, Any]],
    party: str,
    year: int,
    block_number: int,
) -> AefReport:
    """Build a Party's AEF from eth_getLogs and block headers up to `block_number` alone."""
    replay = _replay(client, deployment, EventDecoder(abi), block_number)
    return _aef_of(replay, client, party, year, block_number)


def _aef_of(replay: _Replay, client: ChainClient, party: str, year: int, block: int) -> AefReport:
    facts = replay.facts
    times: dict[int, int] = {}

    def timestamp(number: int) -> int:
        if number not in times:
            times[number] = int(client.get_block(number)["timestamp"])
        return times[number]

    facts.actions = [
        replace(a, timestamp=timestamp(a.block_number)) for a in facts.actions if a.party == party
    ]
    return build_aef(facts, party, year, timestamp(block))


def audit_aef(
    engine: Engine,
    client: ChainClient,
    deployment: Deployment,
    abi: list[dict[str, Any]],
    party: str,
    year: int,
) -> AefAudit:
    """Build a Party's AEF from the chain alone at the mirror's checkpoint; compare the mirror's."""
    with engine.connect() as conn:
        checkpoint = conn.execute(select(table_of(Checkpoint))).first()
    number = deployment.deploy_block if checkpoint is None else int(checkpoint.block_number)
    replay = _replay(client, deployment, EventDecoder(abi), number)
    chain = _aef_of(replay, client, party, year, number)
    if checkpoint is None:
        return AefAudit(
            number, chain, None, [], ["The mirror has never been synced; run `registry sync`."]
        )
    if (party,) not in replay.store.rows(A6_PARTIES):
        # An empty report from both sides would "agree" about a mistyped Party.
        return AefAudit(
            number,
            chain,
            None,
            [],
            [f"No Party {party!r} is registered on the chain; give its code as accounts carry it."],
        )
    with engine.connect() as conn:
        facts = load_mirror_facts(conn, party, number)
        now = conn.execute(
            select(table_of(BlockHash).c.timestamp).where(table_of(BlockHash).c.number == number)
        ).scalar()
    mirror = build_aef(facts, party, year, int(now if now is not None else chain.holdings_at))
    return AefAudit(number, chain, mirror, compare_aef(chain, mirror))


def print_aef_audit(result: AefAudit, console: Console, limit: int = 50) -> None:
    """Print what an AEF audit compared and every difference (up to `limit`)."""
    chain = result.chain
    console.print(
        f"AEF of {chain.party} for {chain.year} at block {result.block_number}, from the chain "
        f"alone: {len(chain.actions)} actions, {len(chain.holdings)} holdings."
    )
    for note in result.notes:
        console.print(f"[yellow]{note}[/]")
    if result.ok:
        console.print("[bold green]The mirror's AEF equals the chain's.[/]")
        return
    if result.mirror is None:
        return
    table = Table(title=f"{len(result.differences)} differences")
    for column in ("row", "chain", "mirror"):
        table.add_column(column, overflow="fold")
    for where, left, right in result.differences[:limit]:
        table.add_row(where, left, right)
    console.print(table)
    console.print(
        "[bold red]The mirror's AEF differs from the chain's.[/] Rebuild the mirror from an "
        "empty database (the chain is the source of truth)."
    )
