"""The ledger's operations end to end: signed EIP-712 requests relayed to a real anvil node."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from node.contracts import (
    AccountStatus,
    ApprovalPolicy,
    CancellationPurpose,
    PendingTransfer,
    SignedRequest,
    UnitState,
)
from node.relayer import RelayOutcome
from tests.conftest import Registry

YEAR = 365 * 24 * 3600
_periods = itertools.count()


def rep(
    address: str, primary: bool = False, initiate: bool = True, approve: bool = True
) -> dict[str, Any]:
    return {"addr": address, "primary": primary, "canInitiate": initiate, "canApprove": approve}


def relay_ok(registry: Registry, request: SignedRequest) -> RelayOutcome:
    outcome = registry.relayer.relay(request)
    assert outcome.ok, f"{request.primary_type} failed: {outcome.error}"
    return outcome


def relay_error(registry: Registry, request: SignedRequest) -> str:
    outcome = registry.relayer.relay(request)
    assert not outcome.ok, f"{request.primary_type} unexpectedly succeeded"
    assert outcome.error is not None
    return outcome.error.name


def open_account(registry: Registry, policy: ApprovalPolicy, *reps: dict[str, Any]) -> int:
    request = registry.signer.open_account(
        registry.keys["registry_admin"], "Holder Pty Ltd", list(reps), policy=policy, party="AU"
    )
    return int(relay_ok(registry, request).event("AccountOpened").args["accountId"])


def issue(
    registry: Registry, account: int, quantity: int, project: str = "ERF-E2E"
) -> tuple[int, int]:
    """Issue units for a fresh monitoring year; returns the serial range."""
    keys, signer = registry.keys, registry.signer
    if not registry.contract.functions.isProjectRegistered(
        Web3.to_bytes(text=project).ljust(32, b"\0")
    ).call():
        relay_ok(
            registry,
            signer.register_project(keys["issuer"], project, "Savanna burning", "SFM 2018", "AU"),
        )
    start = 1_500_000_000 + next(_periods) * YEAR
    outcome = relay_ok(
        registry,
        signer.issue(
            keys["issuer"], project, "ACCU", 2024, start, start + YEAR - 1, quantity, account
        ),
    )
    event = outcome.event("UnitsIssued")
    return int(event.args["start"]), int(event.args["end"])


@pytest.fixture
def parties(registry: Registry) -> dict[str, Any]:
    """A two-person seller account (ar_1 primary, ar_2) and a single-policy buyer (ar_3)."""
    keys = registry.keys
    seller = open_account(
        registry,
        ApprovalPolicy.TWO_PERSON,
        rep(keys["ar_1"].address, primary=True),
        rep(keys["ar_2"].address),
    )
    buyer = open_account(registry, ApprovalPolicy.SINGLE, rep(keys["ar_3"].address, primary=True))
    return {"seller": seller, "buyer": buyer}


def test_issue_initiate_approve_moves_a_sub_range(
    registry: Registry, parties: dict[str, Any]
) -> None:
    keys, signer = registry.keys, registry.signer
    seller, buyer = parties["seller"], parties["buyer"]
    start, end = issue(registry, seller, 1_000)

    transfer = (start + 100, start + 199)
    outcome = relay_ok(
        registry,
        signer.initiate_transfer(keys["ar_1"], seller, buyer, [transfer], registry.blocks()),
    )
    transfer_id = int(outcome.event("TransferInitiated").args["transferId"])
    pending = registry.blocks().containing(transfer[0])
    assert pending is not None
    assert (pending.start, pending.end, pending.state, pending.lock_id) == (
        *transfer,
        UnitState.PENDING,
        transfer_id,
    )

    hints = [b.start for b in registry.blocks().locked_by(UnitState.PENDING, transfer_id)]
    relay_ok(registry, signer.decide_transfer(keys["ar_2"], transfer_id, True, hints))

    blocks = registry.blocks()
    moved = blocks.containing(transfer[0])
    assert moved is not None and (moved.account, moved.state) == (buyer, UnitState.HELD)
    assert (
        sum(b.quantity for b in blocks.holdings(seller) if b.start >= start and b.end <= end) == 900
    )
    assert sum(b.quantity for b in blocks.holdings(buyer)) >= 100


def test_single_policy_completes_at_once(registry: Registry, parties: dict[str, Any]) -> None:
    keys, signer = registry.keys, registry.signer
    buyer = parties["buyer"]
    other = open_account(registry, ApprovalPolicy.SINGLE, rep(keys["ar_4"].address, primary=True))
    start, end = issue(registry, buyer, 50)
    outcome = relay_ok(
        registry,
        signer.initiate_transfer(keys["ar_3"], buyer, other, [(start, end)], registry.blocks()),
    )
    # One log for the whole transfer (decision D33): its initiator is its approver.
    executed = outcome.event("TransferExecuted").args
    assert executed["initiator"] == keys["ar_3"].address
    assert executed["transferId"] >= 1 << 62, "numbered from the request's digest"
    block = registry.blocks().containing(start)
    assert block is not None and block.account == other and block.state == UnitState.HELD


def test_rescind_returns_units(registry: Registry, parties: dict[str, Any]) -> None:
    keys, signer = registry.keys, registry.signer
    seller, buyer = parties["seller"], parties["buyer"]
    start, _ = issue(registry, seller, 10)
    outcome = relay_ok(
        registry,
        signer.initiate_transfer(
            keys["ar_2"], seller, buyer, [(start, start + 4)], registry.blocks()
        ),
    )
    transfer_id = int(outcome.event("TransferInitiated").args["transferId"])
    hints = [b.start for b in registry.blocks().locked_by(UnitState.PENDING, transfer_id)]
    relay_ok(registry, signer.decide_transfer(keys["ar_1"], transfer_id, False, hints))
    block = registry.blocks().containing(start)
    assert block is not None and (block.account, block.state) == (seller, UnitState.HELD)


def test_approver_must_differ_from_initiator(registry: Registry, parties: dict[str, Any]) -> None:
    keys, signer = registry.keys, registry.signer
    seller, buyer = parties["seller"], parties["buyer"]
    start, _ = issue(registry, seller, 10)
    outcome = relay_ok(
        registry,
        signer.initiate_transfer(keys["ar_1"], seller, buyer, [(start, start)], registry.blocks()),
    )
    transfer_id = int(outcome.event("TransferInitiated").args["transferId"])
    request = signer.decide_transfer(keys["ar_1"], transfer_id, True, [start])
    assert relay_error(registry, request) == "ApproverIsInitiator"


def test_a_decision_carries_the_pending_record_it_cannot_alter(
    registry: Registry, parties: dict[str, Any]
) -> None:
    """Only the record's hash is stored (decision D46); the record relayed must match it."""
    keys, signer = registry.keys, registry.signer
    seller, buyer = parties["seller"], parties["buyer"]
    start, _ = issue(registry, seller, 10)
    outcome = relay_ok(
        registry,
        signer.initiate_transfer(
            keys["ar_1"], seller, buyer, [(start, start + 3)], registry.blocks()
        ),
    )
    transfer_id = int(outcome.event("TransferInitiated").args["transferId"])
    record = signer.pending_transfer(transfer_id)
    assert record == PendingTransfer(seller, buyer, 4, keys["ar_1"].address)
    # The initiator's first pending transfer from the account is kept in its rights slot (D50).
    kept_id, kept_hash = registry.contract.functions.pendingTransferOf(
        seller, keys["ar_1"].address
    ).call()
    assert (kept_id, bytes(kept_hash)) == (transfer_id, record.record_hash()[:24])
    assert registry.contract.functions.isTransferPending(transfer_id, record.as_tuple()).call()

    other = open_account(registry, ApprovalPolicy.SINGLE, rep(keys["ar_4"].address, primary=True))
    forged = (
        dataclasses.replace(record, to_account=other),
        dataclasses.replace(record, quantity=3),
        dataclasses.replace(record, initiator=keys["ar_3"].address),
    )
    for wrong in forged:
        request = signer.decide_transfer(keys["ar_2"], transfer_id, True, [start], pending=wrong)
        assert relay_error(registry, request) == "TransferRecordMismatch"
    block = registry.blocks().containing(start)
    assert block is not None and block.state == UnitState.PENDING, "nothing moved"

    relay_ok(registry, signer.decide_transfer(keys["ar_2"], transfer_id, True, [start]))
    kept_id, _ = registry.contract.functions.pendingTransferOf(seller, keys["ar_1"].address).call()
    assert kept_id == 0
    assert not registry.contract.functions.isTransferPending(transfer_id, record.as_tuple()).call()
    again = signer.decide_transfer(keys["ar_1"], transfer_id, False, [start], pending=record)
    assert relay_error(registry, again) == "TransferNotPending"


def test_cancel_is_terminal(registry: Registry, parties: dict[str, Any]) -> None:
    keys, signer = registry.keys, registry.signer
    seller, buyer = parties["seller"], parties["buyer"]
    start, _ = issue(registry, seller, 20)
    cancelled = (start + 5, start + 9)
    outcome = relay_ok(
        registry,
        signer.cancel(
            keys["ar_1"],
            seller,
            [cancelled],
            registry.blocks(),
            purpose=CancellationPurpose.VOLUNTARY,
            beneficiary="Acme",
            reason="FY25 offset",
        ),
    )
    event = outcome.event("UnitsCancelled")
    assert (event.args["quantity"], event.args["beneficiary"], event.args["reason"]) == (
        5,
        "Acme",
        "FY25 offset",
    )
    block = registry.blocks().containing(cancelled[0])
    assert block is not None and block.state == UnitState.CANCELLED
    again = signer.initiate_transfer(keys["ar_1"], seller, buyer, [cancelled], registry.blocks())
    assert relay_error(registry, again) == "UnitsAlreadyCancelled"


def test_label_survives_split_and_transfer(registry: Registry, parties: dict[str, Any]) -> None:
    keys, signer = registry.keys, registry.signer
    seller, buyer = (
        parties["buyer"],
        open_account(registry, ApprovalPolicy.SINGLE, rep(keys["ar_4"].address, primary=True)),
    )
    outcome = relay_ok(
        registry,
        signer.define_label(keys["registry_admin"], "CORSIA", keys["label_authority"].address),
    )
    label_id = int(outcome.event("LabelDefined").args["labelId"])
    start, _ = issue(registry, seller, 100)
    relay_ok(
        registry,
        signer.set_label(
            keys["label_authority"], label_id, True, [(start + 10, start + 59)], registry.blocks()
        ),
    )
    relay_ok(
        registry,
        signer.initiate_transfer(
            keys["ar_3"], seller, buyer, [(start + 20, start + 29)], registry.blocks()
        ),
    )
    blocks = registry.blocks()
    for serial, labelled in (
        (start, False),
        (start + 10, True),
        (start + 25, True),
        (start + 59, True),
        (start + 60, False),
    ):
        block = blocks.containing(serial)
        assert block is not None
        assert bool(block.labels >> label_id & 1) is labelled, serial
    moved = blocks.containing(start + 25)
    assert moved is not None and moved.account == buyer


def test_suspended_account_refuses_and_reopens(registry: Registry, parties: dict[str, Any]) -> None:
    keys, signer = registry.keys, registry.signer
    seller, buyer = parties["seller"], parties["buyer"]
    start, _ = issue(registry, seller, 5)
    relay_ok(
        registry, signer.set_account_status(keys["registry_admin"], buyer, AccountStatus.SUSPENDED)
    )
    request = signer.initiate_transfer(
        keys["ar_1"], seller, buyer, [(start, start)], registry.blocks()
    )
    assert relay_error(registry, request) == "AccountSuspended"
    relay_ok(registry, signer.set_account_status(keys["registry_admin"], buyer, AccountStatus.OPEN))
    relay_ok(
        registry,
        signer.initiate_transfer(keys["ar_1"], seller, buyer, [(start, start)], registry.blocks()),
    )


def test_appointed_representative_can_act(registry: Registry, parties: dict[str, Any]) -> None:
    keys, signer = registry.keys, registry.signer
    buyer = parties["buyer"]
    newcomer = Account.create()
    start, _ = issue(registry, buyer, 5)
    request = signer.cancel(newcomer, buyer, [(start, start)], registry.blocks())
    assert relay_error(registry, request) == "NotRepresentative"
    relay_ok(
        registry, signer.set_representative(keys["registry_admin"], buyer, rep(newcomer.address))
    )
    relay_ok(registry, signer.cancel(newcomer, buyer, [(start, start)], registry.blocks()))


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        ("other_key", "InvalidSigner"),
        ("altered_after_signing", "InvalidSigner"),
        ("other_chain", "InvalidSigner"),
        ("expired", "DeadlineExpired"),
        ("replayed", "InvalidAccountNonce"),
        ("high_s", "ECDSAInvalidSignatureS"),
    ],
)
def test_forged_requests_are_refused_on_chain(
    registry: Registry, parties: dict[str, Any], tamper: str, expected: str
) -> None:
    keys, signer = registry.keys, registry.signer
    seller, buyer = parties["seller"], parties["buyer"]
    start, _ = issue(registry, seller, 10)
    blocks = registry.blocks()
    request = signer.initiate_transfer(keys["ar_1"], seller, buyer, [(start, start + 1)], blocks)
    if tamper == "other_key":
        forged = signer.initiate_transfer(
            Account.create(), seller, buyer, [(start, start + 1)], blocks
        )
        request = SignedRequest(request.typed_data, forged.signature, request.block_hints)
    elif tamper == "altered_after_signing":
        data = {
            **request.typed_data,
            "message": {
                **request.typed_data["message"],
                "ranges": [{"start": start, "end": start + 9}],
            },
        }
        request = SignedRequest(data, request.signature, request.block_hints)
    elif tamper == "other_chain":
        from node.contracts import sign_typed_data

        data = {**request.typed_data, "domain": {**request.typed_data["domain"], "chainId": 1}}
        request = SignedRequest(
            request.typed_data, sign_typed_data(keys["ar_1"], data), request.block_hints
        )
    elif tamper == "expired":
        request = signer.initiate_transfer(
            keys["ar_1"], seller, buyer, [(start, start + 1)], blocks, deadline=1
        )
    elif tamper == "replayed":
        relay_ok(registry, request)
    elif tamper == "high_s":
        n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
        r, s, v = (
            request.signature[:32],
            int.from_bytes(request.signature[32:64], "big"),
            request.signature[64],
        )
        flipped = r + (n - s).to_bytes(32, "big") + bytes([55 - v])
        request = SignedRequest(request.typed_data, flipped, request.block_hints)
    nonce_before = signer.next_nonce(keys["ar_1"].address)
    blocks_before = [
        (b.start, b.end, b.account, b.state, b.lock_id) for b in registry.blocks().blocks()
    ]
    assert relay_error(registry, request) == expected
    assert signer.next_nonce(keys["ar_1"].address) == nonce_before
    assert [
        (b.start, b.end, b.account, b.state, b.lock_id) for b in registry.blocks().blocks()
    ] == blocks_before


def test_non_relayer_cannot_submit(registry: Registry, parties: dict[str, Any]) -> None:
    keys, signer = registry.keys, registry.signer
    seller, buyer = parties["seller"], parties["buyer"]
    start, _ = issue(registry, seller, 3)
    request = signer.initiate_transfer(
        keys["ar_1"], seller, buyer, [(start, start)], registry.blocks()
    )
    function, args = request.call_args()
    data = registry.contract.encode_abi(function, args=args)
    with pytest.raises(Exception, match="0xe2517d3f"):  # AccessControlUnauthorizedAccount
        registry.client.w3.eth.call(
            {"from": keys["ar_1"].address, "to": registry.deployment.registry, "data": data}
        )


def test_double_issuance_is_refused(registry: Registry, parties: dict[str, Any]) -> None:
    keys, signer = registry.keys, registry.signer
    relay_ok(
        registry,
        signer.register_project(keys["issuer"], "ERF-DOUBLE", "Soil carbon", "SC 2021", "AU"),
    )
    relay_ok(
        registry,
        signer.issue(keys["issuer"], "ERF-DOUBLE", "ACCU", 2023, 1000, 2000, 10, parties["seller"]),
    )
    overlapping = signer.issue(
        keys["issuer"], "ERF-DOUBLE", "ACCU", 2023, 2000, 3000, 10, parties["seller"]
    )
    assert relay_error(registry, overlapping) == "MonitoringPeriodOverlap"
    relay_ok(
        registry,
        signer.issue(keys["issuer"], "ERF-DOUBLE", "ACCU", 2023, 2001, 3000, 10, parties["seller"]),
    )


def test_concurrent_signers_are_batched_and_all_land(
    registry: Registry, parties: dict[str, Any]
) -> None:
    """Many requests in flight at once share batches; every one is applied exactly once."""
    keys, signer = registry.keys, registry.signer
    buyer = parties["buyer"]
    starts = []
    for _ in range(20):
        s, _e = issue(registry, buyer, 3)
        starts.append(s)
    blocks = registry.blocks()
    nonce = signer.next_nonce(keys["ar_3"].address)
    requests = [
        signer.cancel(keys["ar_3"], buyer, [(s, s + 2)], blocks, nonce=nonce + i)
        for i, s in enumerate(starts)
    ]
    futures = [registry.relayer.submit(r) for r in requests]
    outcomes = [f.result(timeout=120) for f in futures]
    assert all(o.ok for o in outcomes), [str(o.error) for o in outcomes if not o.ok]
    assert len({o.tx_hash for o in outcomes}) < len(outcomes), "expected batching"
    assert signer.next_nonce(keys["ar_3"].address) == nonce + len(requests)
