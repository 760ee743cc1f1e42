"""Raw eth_getLogs JSON decodes exactly like web3-formatted logs, for every registry event."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from node.ledger import EventDecoder
from tests.conftest import Registry
from tests.indexer.script import LedgerScript, run_full_scenario

EVENTS_ABI: list[dict[str, Any]] = [
    {
        "type": "event",
        "name": "Mixed",
        "anonymous": False,
        "inputs": [
            {"name": "who", "type": "address", "indexed": True},
            {"name": "delta", "type": "int64", "indexed": True},
            {"name": "note", "type": "string", "indexed": False},
            {"name": "flag", "type": "bool", "indexed": False},
            {"name": "blob", "type": "bytes", "indexed": False},
            {"name": "code", "type": "bytes8", "indexed": False},
            {"name": "amount", "type": "uint256", "indexed": False},
        ],
    },
    {
        "type": "event",
        "name": "WithArray",
        "anonymous": False,
        "inputs": [{"name": "values", "type": "uint64[]", "indexed": False}],
    },
]
_WHO = "0x" + "ab" * 20


def _logs(name: str, types: str, topics: list[bytes], data: bytes) -> tuple[dict[str, Any], ...]:
    """Return one log as web3 formats it and as eth_getLogs sends it."""
    topic0 = keccak(text=f"{name}({types})")
    position = {"blockNumber": 7, "logIndex": 3}
    hashes = {"blockHash": b"\x01" * 32, "transactionHash": b"\x02" * 32}
    formatted: dict[str, Any] = {
        "topics": [HexBytes(topic0), *(HexBytes(t) for t in topics)],
        "data": HexBytes(data),
        **position,
        **{k: HexBytes(v) for k, v in hashes.items()},
    }
    raw: dict[str, Any] = {
        "topics": ["0x" + t.hex() for t in (topic0, *topics)],
        "data": "0x" + data.hex(),
        **{k: hex(v) for k, v in position.items()},
        **{k: "0x" + v.hex() for k, v in hashes.items()},
    }
    return formatted, raw


@pytest.mark.parametrize(
    ("note", "delta"),
    [("plain", 5), ("with NUL\x00 and é", -1), ("", -(2**63))],
)
def test_hex_decoding_matches_eth_abi(note: str, delta: int) -> None:
    decoder = EventDecoder(EVENTS_ABI)
    topics = [abi_encode(["address"], [_WHO]), abi_encode(["int64"], [delta])]
    data = abi_encode(
        ["string", "bool", "bytes", "bytes8", "uint256"],
        [note, True, b"\x00\xff" * 40, b"AU", 2**256 - 1],
    )
    formatted, raw = _logs("Mixed", "address,int64,string,bool,bytes,bytes8,uint256", topics, data)
    decoded = decoder.decode_raw(raw)
    assert decoded == decoder.decode(formatted)  # type: ignore[arg-type]
    assert decoded is not None and decoded.args["delta"] == delta


def test_invalid_utf8_is_replaced_and_arrays_go_through_eth_abi() -> None:
    decoder = EventDecoder(EVENTS_ABI)
    data = abi_encode(
        ["bytes", "bool", "bytes", "bytes8", "uint256"], [b"\xff\xfeok", False, b"", b"", 0]
    )
    topics = [abi_encode(["address"], [_WHO]), abi_encode(["int64"], [0])]
    formatted, raw = _logs("Mixed", "address,int64,string,bool,bytes,bytes8,uint256", topics, data)
    decoded = decoder.decode_raw(raw)
    assert decoded is not None and decoded.args["note"] == "\ufffd\ufffdok"
    assert decoded == decoder.decode(formatted)  # type: ignore[arg-type]

    formatted, raw = _logs("WithArray", "uint64[]", [], abi_encode(["uint64[]"], [[1, 2, 3]]))
    array = decoder.decode_raw(raw)
    assert array is not None and array.args == {"values": [1, 2, 3]}
    assert array == decoder.decode(formatted)  # type: ignore[arg-type]


def test_malformed_and_unknown_logs() -> None:
    decoder = EventDecoder(EVENTS_ABI)
    topics = [abi_encode(["address"], [_WHO])]  # one indexed topic missing
    _, raw = _logs("Mixed", "address,int64,string,bool,bytes,bytes8,uint256", topics, b"")
    with pytest.raises(ValueError, match="expected 2 indexed topics"):
        decoder.decode_raw(raw)
    _, unknown = _logs("Other", "uint256", [], abi_encode(["uint256"], [1]))
    assert decoder.decode_raw(unknown) is None
    assert decoder.decode_raw({**unknown, "topics": []}) is None


@pytest.mark.chain
def test_every_registry_event_decodes_alike_from_raw_json(registry: Registry) -> None:
    run_full_scenario(LedgerScript(registry))
    client, address = registry.client, registry.deployment.registry
    head = client.block_number()
    formatted = [log for chunk in client.iter_logs(address, 0, head) for log in chunk]
    raw = [log for chunk in client.iter_raw_logs(address, 0, head) for log in chunk]
    decoded = [registry.decoder.decode_raw(log) for log in raw]
    assert decoded == [registry.decoder.decode(log) for log in formatted]
    names = {event.name for event in decoded if event is not None}
    assert {
        "RequestExecuted",
        "BatchItemFailed",
        "AccountOpened",
        "RepresentativeSet",
        "AccountStatusChanged",
        "ProjectRegistered",
        "LabelDefined",
        "UnitsIssued",
        "BlockChanged",
        "LabelChanged",
        "TransferInitiated",
        "TransferCompleted",
        "TransferRescinded",
        "UnitsCancelled",
    } <= names
