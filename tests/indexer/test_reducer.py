"""The one reducer: typed payloads held against the ABI, and the same rows over SQL and memory."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from indexer import payloads
from indexer.audit import compare_derived
from indexer.errors import MirrorInconsistentError
from indexer.mirror import MirrorWriter
from indexer.reducer import DERIVED_TABLES, HANDLERS, MemoryStore, Reducer
from node.ledger import BlockIndex, DecodedEvent

_ABI = Path(__file__).parents[2] / "indexer" / "registry_abi.json"


def _abi_events() -> dict[str, list[str]]:
    data = json.loads(_ABI.read_text())
    items = data["abi"] if isinstance(data, dict) else data
    return {
        item["name"]: [i["name"] for i in item["inputs"]]
        for item in items
        if item["type"] == "event"
    }


def test_every_event_has_a_payload_with_the_abi_fields_in_order() -> None:
    events = _abi_events()
    described = set(payloads.PAYLOADS) | payloads.IGNORED_EVENTS
    assert set(events) == described, "an event without a payload, or a payload without an event"
    for name, cls in payloads.PAYLOADS.items():
        assert [payloads.abi_name(f.name) for f in fields(cls)] == events[name], name


def test_every_payload_has_exactly_one_handler() -> None:
    assert set(HANDLERS) == set(payloads.PAYLOADS)


def test_a_payload_is_decoded_by_name_not_by_position() -> None:
    # Indexed arguments come first in a decoded log; the payload still follows the ABI order.
    event = DecodedEvent(
        "TransferInitiated",
        {"toAccount": 2, "transferId": 9, "quantity": 5, "fromAccount": 1, "initiator": "0xA"},
        1,
        "0x",
        0,
        "0x1",
    )
    assert payloads.decode(event) == payloads.TransferInitiated(9, 1, 2, "0xA", 5)


_SIGNER = "0x" + "11" * 20
_OTHER = "0x" + "22" * 20


def _events() -> list[DecodedEvent]:
    """A small history touching every kind of store write: inserts, updates, replacements,
    removals, member lists, the config row and block splits across two batches."""
    script: list[tuple[str, dict[str, Any]]] = [
        ("RequestExecuted", {"signer": _SIGNER, "nonce": 1, "digest": "0x" + "aa" * 32}),
        (
            "AccountOpened",
            {
                "accountId": 7,
                "kind": 0,
                "approvalPolicy": 0,
                "party": "0x4155000000000000",
                "holderName": "Holder",
            },
        ),
        (
            "RepresentativeSet",
            {
                "accountId": 7,
                "representative": _SIGNER,
                "primary": True,
                "canInitiate": True,
                "canApprove": True,
            },
        ),
        (
            "RepresentativeSet",
            {
                "accountId": 7,
                "representative": _OTHER,
                "primary": False,
                "canInitiate": True,
                "canApprove": False,
            },
        ),
        (
            "UnitsIssued",
            {
                "issuanceId": 1,
                "projectId": "0x" + "50" * 4 + "00" * 28,
                "accountId": 7,
                "unitType": "0x" + "55" * 3 + "00" * 29,
                "vintage": 2024,
                "monitoringStart": 1,
                "monitoringEnd": 2,
                "originRegistry": "0x4155000000000000",
                "start": 1,
                "end": 100,
            },
        ),
        ("BlockChanged", {"start": 10, "end": 19, "accountId": 7, "state": 2, "lockId": 3}),
        (
            "TransferInitiated",
            {
                "transferId": 3,
                "fromAccount": 7,
                "toAccount": 8,
                "initiator": _SIGNER,
                "quantity": 10,
            },
        ),
        ("LabelChanged", {"start": 1, "end": 9, "labelId": 2, "applied": True}),
        (
            "RepresentativeSet",
            {
                "accountId": 7,
                "representative": _OTHER,
                "primary": False,
                "canInitiate": False,
                "canApprove": False,
            },
        ),
        (
            "PartyRegistered",
            {
                "party": "0x4155000000000000",
                "registryId": "0x4155520000000000",
                "labelAuthority": _SIGNER,
                "administrators": [_SIGNER, _OTHER],
            },
        ),
        (
            "MechanismAccountsSet",
            {
                "pending": 1,
                "holding": 2,
                "cancellation": 3,
                "omgeCancellation": 4,
                "shareOfProceeds": 5,
            },
        ),
        # The second batch starts here: its blocks and rows come back from the store.
        ("BlockChanged", {"start": 15, "end": 19, "accountId": 8, "state": 1, "lockId": 0}),
        ("TransferCompleted", {"transferId": 3, "approver": _SIGNER}),
        (
            "PartyRegistered",
            {
                "party": "0x4155000000000000",
                "registryId": "0x4155520000000000",
                "labelAuthority": _OTHER,
                "administrators": [_OTHER],
            },
        ),
        ("Article6LabelsDefined", {"ndcLabel": 1, "oimpLabel": 2, "firstTransferredLabel": 3}),
        ("AccountStatusChanged", {"accountId": 7, "status": 2}),
    ]
    return [
        DecodedEvent(name, args, 10 + i // 4, "0x" + "bb" * 32, i, f"0x{i // 4:064x}")
        for i, (name, args) in enumerate(script)
    ]


def test_the_sql_store_and_the_memory_store_hold_the_same_rows(engine: Engine) -> None:
    events = _events()
    memory = MemoryStore()
    reducer = Reducer(memory)
    reducer.apply(events[:11])
    reducer.apply(events[11:])
    with engine.begin() as conn:
        writer = MirrorWriter(conn)
        writer.apply(events[:11])
        writer.apply(events[11:])
    differences, counted = compare_derived(memory.rows, engine)
    assert differences == []
    assert counted["unit_blocks"] == 4 and counted["article6_party_administrators"] == 1
    assert counted["representatives"] == 1 and counted["operation_ranges"] == 1
    assert memory.rows(DERIVED_TABLES[0])[(7,)]["status"] == "suspended"
    # One block map: the mirror's batch blocks and the audit's replay are the same class.
    assert isinstance(writer.store.blocks, BlockIndex) and isinstance(memory.blocks, BlockIndex)


def test_a_range_outside_every_stored_block_stops_the_mirror(engine: Engine) -> None:
    stray = DecodedEvent(
        "BlockChanged",
        {"start": 5, "end": 6, "accountId": 1, "state": 1, "lockId": 0},
        1,
        "0x",
        0,
        "0x1",
    )
    with engine.begin() as conn, pytest.raises(MirrorInconsistentError, match="audit"):
        MirrorWriter(conn).apply([stray])
