"""Fast, realistic registry traffic: thousands of signed requests in relayer `batch` transactions.

Shared by the indexer benchmark (`scripts/bench_indexer.py`) and the indexer crash test. The mix
is what a registry sees: single-policy transfers of sub-ranges (which split blocks), two-person
transfers approved or rescinded later by the other representative, cancellations and label
changes, each request naming up to `max_ranges` serial ranges, signed by its own representative.

Speed comes from never waiting for the chain. The generator keeps a model of the unit blocks and
of the registry's counters and applies each request to it the moment it signs it. Transactions
go out from the relayer key in one ordered stream (sequential nonces), so the chain executes the
requests in the order the model applied them: block hints, signer nonces, and the ids the
contract will assign (accounts, labels, transfers) are all known in advance, and signing
overlaps with the chain executing earlier transactions. The batches are encoded here with
precomputed selectors rather than by `node.relayer.Relayer`, whose per-call web3 ABI lookup
would make generation, not the chain, the bottleneck; what reaches the chain is the same `batch`
call from the same relayer key. Every request must succeed: `verify` (run by `generate`) checks
every receipt, so a wrong model fails loudly instead of producing quietly different traffic.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import Web3

from node.contracts import (
    ApprovalPolicy,
    CancellationPurpose,
    PendingTransfer,
    SignedRequest,
    UnitState,
)
from tests.conftest import Registry

__all__ = ["Traffic", "TrafficStats"]

_YEAR = 365 * 24 * 3600
# Units per issuance: enough to split for millions of operations.
_ISSUANCE_QUANTITY = 10**12
# Gas declared per transaction, from generous per-request and per-range allowances (a sub-range
# transfer runs on about 100k); unused gas is not charged, too little would revert the batch.
_GAS_PER_TX = 100_000
_GAS_PER_REQUEST = 120_000
_GAS_PER_RANGE = 110_000
_MAX_TX_GAS = 28_000_000  # under anvil's 30M block gas limit
_BATCH_ITEM_FAILED = "0x" + keccak(text="BatchItemFailed(uint256,bytes)").hex()


@dataclass
class TrafficStats:
    """What a `Traffic` sent so far."""

    requests: int = 0
    transactions: int = 0
    events: int = 0
    seconds: float = 0.0
    by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def events_per_second(self) -> float:
        """Return the rate at which events were produced."""
        return self.events / self.seconds if self.seconds else 0.0


@dataclass(slots=True)
class _Block:
    end: int
    account: int
    state: UnitState
    labels: int


class _Pool:
    """The Held block starts of one account, with O(1) add, remove and random choice."""

    def __init__(self) -> None:
        self._items: list[int] = []
        self._where: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._items)

    def add(self, start: int) -> None:
        self._where[start] = len(self._items)
        self._items.append(start)

    def remove(self, start: int) -> None:
        i = self._where.pop(start)
        last = self._items.pop()
        if last != start:
            self._items[i] = last
            self._where[last] = i

    def sample(self, rng: random.Random, k: int) -> list[int]:
        return rng.sample(self._items, min(k, len(self._items)))


@dataclass
class _HoldingAccount:
    id: int
    policy: ApprovalPolicy
    initiator: LocalAccount
    approver: LocalAccount  # the initiator again under `single`


@dataclass
class _Pending:
    transfer_id: int
    source: _HoldingAccount
    target: int
    starts: list[int]
    record: PendingTransfer  # what approve and rescind are relayed with (D46)


class _BatchSender:
    """Send `batch` transactions from the relayer key in order, without waiting for receipts."""

    def __init__(self, registry: Registry) -> None:
        client = registry.client
        self._address = Web3.to_checksum_address(registry.deployment.registry)
        self._key = registry.keys["relayer"]
        self._chain_id = client.chain_id
        self._gas_price = client.gas_price()
        self._nonce = int(client.w3.eth.get_transaction_count(self._key.address, "pending"))
        self._url = client.rpc_url
        self._session = requests.Session()
        self._functions: dict[str, tuple[bytes, list[str]]] = {}
        for item in registry.abi:
            if item["type"] == "function":
                types = [_abi_type(i) for i in item["inputs"]]
                selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
                self._functions[item["name"]] = (selector, types)
        self.tx_hashes: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue(maxsize=64)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._send_loop, name="traffic-send", daemon=True)
        self._thread.start()

    def encode(self, request: SignedRequest) -> bytes:
        """Return the calldata of one signed request, as an item of `batch`."""
        function, args = request.call_args()
        selector, types = self._functions[function]
        return selector + abi_encode(types, args)

    def send(self, calls: list[bytes], gas: int) -> None:
        """Queue one `batch` transaction of `calls`."""
        selector, types = self._functions["batch"]
        tx: dict[str, Any] = {
            "to": self._address,
            "data": selector + abi_encode(types, [calls]),
            "gas": gas,
            "gasPrice": self._gas_price,
            "nonce": self._nonce,
            "chainId": self._chain_id,
            "value": 0,
        }
        self._nonce += 1
        signed = self._key.sign_transaction(tx)
        self.tx_hashes.append("0x" + bytes(signed.hash).hex())
        self._queue.put("0x" + bytes(signed.raw_transaction).hex())
        if self._error is not None:
            raise self._error

    def flush(self) -> None:
        """Wait until every queued transaction was handed to the node."""
        self._queue.join()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Stop the sending thread."""
        self._queue.put(None)
        self._thread.join()
        self._session.close()

    def verify(self) -> None:
        """Check that every transaction sent so far was mined, succeeded and failed no item."""
        self.flush()
        pending = list(self.tx_hashes)
        deadline = time.monotonic() + 120
        while pending:
            replies = self._rpc_batch(
                [("eth_getTransactionReceipt", [tx_hash]) for tx_hash in pending]
            )
            waiting = []
            for tx_hash, receipt in zip(pending, replies, strict=True):
                if receipt is None:
                    waiting.append(tx_hash)
                elif int(receipt["status"], 16) != 1:
                    raise AssertionError(f"batch transaction {tx_hash} reverted (out of gas?)")
                elif any(log["topics"][0] == _BATCH_ITEM_FAILED for log in receipt["logs"]):
                    raise AssertionError(
                        f"a request in {tx_hash} failed on-chain: the traffic model no longer "
                        "matches the chain"
                    )
            if waiting and time.monotonic() > deadline:
                raise AssertionError(f"{len(waiting)} batch transactions were never mined")
            pending = waiting
            if pending:
                time.sleep(0.05)

    def _send_loop(self) -> None:
        while True:
            raw = self._queue.get()
            try:
                if raw is None:
                    return
                if self._error is None:
                    self._rpc_batch([("eth_sendRawTransaction", [raw])])
            except BaseException as exc:  # reported to the generating thread
                self._error = exc
            finally:
                self._queue.task_done()

    def _rpc_batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        body: list[dict[str, Any]] = [
            {"jsonrpc": "2.0", "id": i, "method": method, "params": params}
            for i, (method, params) in enumerate(calls)
        ]
        response = self._session.post(self._url, json=body, timeout=60)
        response.raise_for_status()
        replies = sorted(response.json(), key=lambda r: r["id"])
        for reply in replies:
            if "error" in reply:
                raise AssertionError(f"JSON-RPC error from the chain: {reply['error']}")
        return [reply["result"] for reply in replies]


class Traffic:
    """Generate mixed registry traffic on one deployed registry, as fast as the chain takes it.

    Use one `Traffic` per registry and seed: the seed names the project it registers.
    """

    def __init__(
        self,
        registry: Registry,
        *,
        seed: int = 0,
        accounts: int = 12,
        max_ranges: int = 12,
        requests_per_transaction: int = 16,
    ) -> None:
        self.registry = registry
        self.rng = random.Random(seed)
        self.seed = seed
        self.account_count = accounts
        self.max_ranges = max_ranges
        self.requests_per_transaction = requests_per_transaction
        self.accounts: list[_HoldingAccount] = []
        self.labels: list[int] = []
        self._sender: _BatchSender | None = None
        self._blocks: dict[int, _Block] = {}
        self._held: dict[int, _Pool] = {}
        self._nonces: dict[str, int] = {}
        self._pending: list[_Pending] = []
        self._calls: list[bytes] = []
        self._gas = _GAS_PER_TX
        self._next_operation_id = 0
        self.stats = TrafficStats()

    # -- public ------------------------------------------------------------------------------

    def setup(self) -> None:
        """Open the accounts, register a project and two labels, and issue units to each account."""
        started = time.monotonic()
        self._sender = _BatchSender(self.registry)
        counters = self.registry.contract.functions.counters().call()
        next_account, next_serial, _, self._next_operation_id, label_count = counters
        keys, signer = self.registry.keys, self.registry.signer
        admin, issuer = keys["registry_admin"], keys["issuer"]
        for i in range(self.account_count):
            policy = ApprovalPolicy.TWO_PERSON if i % 3 == 0 else ApprovalPolicy.SINGLE
            initiator, approver = self._key(f"rep-{2 * i}"), self._key(f"rep-{2 * i + 1}")
            people = [_rep(initiator.address, primary=True)]
            if policy is ApprovalPolicy.TWO_PERSON:
                people.append(_rep(approver.address))
            else:
                approver = initiator
            self._add(
                signer.open_account(
                    admin,
                    f"Holder {i} Pty Ltd",
                    people,
                    policy=policy,
                    party="AU",
                    nonce=self._nonce(admin),
                ),
                "open_account",
                ranges=2,
                events=2 + len(people),
            )
            account_id = next_account + i
            self.accounts.append(_HoldingAccount(account_id, policy, initiator, approver))
            self._held[account_id] = _Pool()
        project = f"TRAFFIC-{self.seed}"
        self._add(
            signer.register_project(
                issuer, project, "Savanna burning", "SFM 2018", "AU", nonce=self._nonce(issuer)
            ),
            "register_project",
            ranges=0,
            events=2,
        )
        for n, name in enumerate(("CORSIA", "ART6-AUTH")):
            self._add(
                signer.define_label(
                    admin,
                    f"{name}-{self.seed}",
                    keys["label_authority"].address,
                    nonce=self._nonce(admin),
                ),
                "define_label",
                ranges=0,
                events=2,
            )
            self.labels.append(label_count + n)
        # A monitoring year per issuance, far from any other seed's years.
        period = 1_000_000_000 + self.seed * 1000 * _YEAR
        for n, account in enumerate(self.accounts):
            self._add(
                signer.issue(
                    issuer,
                    project,
                    "ACCU",
                    2020 + n % 5,
                    period + n * _YEAR,
                    period + (n + 1) * _YEAR - 1,
                    _ISSUANCE_QUANTITY,
                    account.id,
                    nonce=self._nonce(issuer),
                ),
                "issue",
                ranges=1,
                events=3,
            )
            start = next_serial + n * _ISSUANCE_QUANTITY
            self._blocks[start] = _Block(
                start + _ISSUANCE_QUANTITY - 1, account.id, UnitState.HELD, 0
            )
            self._held[account.id].add(start)
        self._send()
        self.stats.seconds += time.monotonic() - started

    def generate(
        self,
        events: int | None = None,
        *,
        seconds: float | None = None,
        transactions_per_second: float | None = None,
        verify: bool = True,
    ) -> TrafficStats:
        """Send requests until `events` more events were produced or `seconds` passed.

        With `transactions_per_second`, send one full batch transaction at each tick of that
        rate (steady traffic); otherwise as fast as the chain accepts them.
        """
        if self._sender is None:
            self.setup()
        started = time.monotonic()
        goal = None if events is None else self.stats.events + events
        sent = 0
        while True:
            if goal is not None and self.stats.events >= goal:
                break
            if seconds is not None and time.monotonic() - started >= seconds:
                break
            if transactions_per_second is not None:
                due = started + sent / transactions_per_second
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            for _ in range(self.requests_per_transaction):
                self._next_request()
            self._send()
            sent += 1
        if verify:
            self.verify()
        self.stats.seconds += time.monotonic() - started
        return self.stats

    def verify(self) -> None:
        """Wait for every transaction sent and check that every request in it succeeded."""
        if self._sender is not None:
            self._sender.verify()

    def close(self) -> None:
        """Stop the sender thread."""
        if self._sender is not None:
            self._sender.close()
            self._sender = None

    # -- requests ----------------------------------------------------------------------------

    def _next_request(self) -> None:
        # Decide a pending transfer now and then, so some stay pending for a while.
        if self._pending and self.rng.random() < 0.3:
            self._decide(self._pending.pop(0))
            return
        roll = self.rng.random()
        if roll < 0.45:
            self._transfer(single=True)
        elif roll < 0.6:
            self._transfer(single=False)
        elif roll < 0.8:
            self._cancel()
        else:
            self._label()

    def _transfer(self, *, single: bool) -> None:
        policy = ApprovalPolicy.SINGLE if single else ApprovalPolicy.TWO_PERSON
        source = self._account_with_units(policy)
        target = self.rng.choice([a for a in self.accounts if a.id != source.id])
        ranges, hints = self._pick(source.id)
        request = self.registry.signer.sign(
            source.initiator,
            "InitiateTransfer",
            {
                "fromAccount": source.id,
                "toAccount": target.id,
                "ranges": [{"start": s, "end": e} for s, e in ranges],
            },
            block_hints=hints,
            nonce=self._nonce(source.initiator),
        )
        if single:
            # Numbered from its digest, not the operation counter; one TransferExecuted (D33).
            for (s, e), hint in zip(ranges, hints, strict=True):
                self._move(hint, s, e, target.id, UnitState.HELD)
            self._add(request, "transfer", ranges=len(ranges), events=len(ranges) + 2)
            return
        transfer_id = self._operation_id()
        for (s, e), hint in zip(ranges, hints, strict=True):
            self._move(hint, s, e, source.id, UnitState.PENDING)
        self._add(request, "transfer_initiate", ranges=len(ranges), events=len(ranges) + 2)
        record = PendingTransfer(
            source.id,
            target.id,
            sum(e - s + 1 for s, e in ranges),
            source.initiator.address,
        )
        self._pending.append(
            _Pending(transfer_id, source, target.id, [s for s, _ in ranges], record)
        )

    def _decide(self, pending: _Pending) -> None:
        approve = self.rng.random() < 0.8
        # The approver must differ from the initiator; any appointed representative may rescind.
        key = pending.source.approver if approve else pending.source.initiator
        request = self.registry.signer.decide_transfer(
            key,
            pending.transfer_id,
            approve,
            pending.starts,
            pending=pending.record,
            nonce=self._nonce(key),
        )
        receiver = pending.target if approve else pending.source.id
        for start in pending.starts:
            self._move(start, start, self._blocks[start].end, receiver, UnitState.HELD)
        self._add(
            request,
            "approve" if approve else "rescind",
            ranges=len(pending.starts),
            events=len(pending.starts) + 2,
        )

    def _cancel(self) -> None:
        source = self._account_with_units(None)
        ranges, hints = self._pick(source.id)
        request = self.registry.signer.sign(
            source.initiator,
            "Cancel",
            {
                "accountId": source.id,
                "ranges": [{"start": s, "end": e} for s, e in ranges],
                "purpose": int(
                    self.rng.choice([CancellationPurpose.VOLUNTARY, CancellationPurpose.NDC_USE])
                ),
                "beneficiary": "Acme Pty Ltd",
                "reason": "FY25 voluntary offset",
            },
            block_hints=hints,
            nonce=self._nonce(source.initiator),
        )
        self._operation_id()
        for (s, e), hint in zip(ranges, hints, strict=True):
            self._move(hint, s, e, source.id, UnitState.CANCELLED)
        self._add(request, "cancel", ranges=len(ranges), events=len(ranges) + 2)

    def _label(self) -> None:
        source = self._account_with_units(None)
        ranges, hints = self._pick(source.id)
        label = self.rng.choice(self.labels)
        applied = self.rng.random() < 0.75
        authority = self.registry.keys["label_authority"]
        request = self.registry.signer.sign(
            authority,
            "SetLabel",
            {
                "labelId": label,
                "applied": applied,
                "ranges": [{"start": s, "end": e} for s, e in ranges],
            },
            block_hints=hints,
            nonce=self._nonce(authority),
        )
        bit = 1 << label
        for (s, e), hint in zip(ranges, hints, strict=True):
            block = self._isolate(hint, s, e)
            block.labels = block.labels | bit if applied else block.labels & ~bit
        self._add(request, "label", ranges=len(ranges), events=len(ranges) + 1)

    # -- the model ---------------------------------------------------------------------------

    def _account_with_units(self, policy: ApprovalPolicy | None) -> _HoldingAccount:
        choices = [
            a
            for a in self.accounts
            if (policy is None or a.policy is policy) and len(self._held[a.id])
        ]
        return self.rng.choice(choices)

    def _pick(self, account: int) -> tuple[list[tuple[int, int]], list[int]]:
        """Choose ranges in distinct Held blocks of an account; return them and their hints."""
        starts = sorted(self._held[account].sample(self.rng, self.rng.randint(1, self.max_ranges)))
        ranges = []
        for start in starts:
            end = self._blocks[start].end
            if end - start >= 2 and self.rng.random() < 0.85:
                # A strict inner range: the contract splits the block in three.
                first = self.rng.randint(start + 1, end - 1)
                ranges.append((first, self.rng.randint(first, end - 1)))
            else:
                ranges.append((start, end))
        return ranges, starts

    def _isolate(self, hint: int, start: int, end: int) -> _Block:
        """Split the block at `hint` as the contract does, so that `[start, end]` is a block."""
        block = self._blocks[hint]
        held = block.state is UnitState.HELD
        pieces = []
        if end < block.end:
            pieces.append((end + 1, _Block(block.end, block.account, block.state, block.labels)))
        if start > hint:
            pieces.append((hint, _Block(start - 1, block.account, block.state, block.labels)))
            if held:
                self._held[block.account].remove(hint)
                self._held[block.account].add(start)
        block.end = end
        self._blocks[start] = block
        for piece_start, piece in pieces:
            self._blocks[piece_start] = piece
            if held:
                self._held[piece.account].add(piece_start)
        return block

    def _move(self, hint: int, start: int, end: int, account: int, state: UnitState) -> None:
        block = self._isolate(hint, start, end)
        if block.state is UnitState.HELD:
            self._held[block.account].remove(start)
        block.account, block.state = account, state
        if state is UnitState.HELD:
            self._held[account].add(start)

    def _operation_id(self) -> int:
        # Transfers and cancellations share one id sequence, assigned in execution order.
        operation_id = int(self._next_operation_id)
        self._next_operation_id += 1
        return operation_id

    # -- sending -----------------------------------------------------------------------------

    def _key(self, name: str) -> LocalAccount:
        key: LocalAccount = Account.from_key(keccak(text=f"traffic-{self.seed}-{name}"))
        return key

    def _nonce(self, key: LocalAccount) -> int:
        if key.address not in self._nonces:
            self._nonces[key.address] = self.registry.signer.next_nonce(key.address)
        nonce = self._nonces[key.address]
        self._nonces[key.address] = nonce + 1
        return nonce

    def _add(self, request: SignedRequest, kind: str, *, ranges: int, events: int) -> None:
        assert self._sender is not None
        gas = _GAS_PER_REQUEST + _GAS_PER_RANGE * ranges
        if self._gas + gas > _MAX_TX_GAS:
            self._send()
        self._calls.append(self._sender.encode(request))
        self._gas += gas
        self.stats.requests += 1
        self.stats.events += events
        self.stats.by_kind[kind] = self.stats.by_kind.get(kind, 0) + 1

    def _send(self) -> None:
        assert self._sender is not None
        if self._calls:
            self._sender.send(self._calls, self._gas)
            self.stats.transactions += 1
        self._calls = []
        self._gas = _GAS_PER_TX


def _rep(address: str, primary: bool = False) -> dict[str, Any]:
    return {"addr": address, "primary": primary, "canInitiate": True, "canApprove": True}


def _abi_type(param: dict[str, Any]) -> str:
    typ = str(param["type"])
    if typ.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){typ.removeprefix('tuple')}"
    return typ
