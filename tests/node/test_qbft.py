"""Tests for the Besu QBFT network configuration generator."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path
from typing import Any

import coincurve
import pytest
import rlp
from eth_account import Account

from node.errors import NetworkConfigError
from node.qbft import (
    QBFT_MIX_HASH,
    ValidatorKey,
    Vote,
    decode_extra_data,
    encode_extra_data,
    enode_url,
    generate_validator_keys,
    genesis,
    node_allowlist,
    permissions_config,
    qbft_extra_data,
    write_network,
)

# Published in the Besu docs, "Configure QBFT consensus", genesis with block header validator
# selection (docs/private-networks/how-to/configure/consensus/qbft.md).
BESU_DOCS_VALIDATORS = [
    "0x64a702e6263b7297a96638cac6ae65e6541f4169",
    "0x3923390ad55e90c237593b3b0e401f3b08a03185",
    "0xaefdb9a738c9f433e5b6b212a6d62f6370c2f692",
    "0xc7eeb9a4e00ce683cf93039b212648e01c6c6b78",
]
BESU_DOCS_EXTRA_DATA = (
    "0xf87aa00000000000000000000000000000000000000000000000000000000000000000f854"
    "9464a702e6263b7297a96638cac6ae65e6541f4169"
    "943923390ad55e90c237593b3b0e401f3b08a03185"
    "94aefdb9a738c9f433e5b6b212a6d62f6370c2f692"
    "94c7eeb9a4e00ce683cf93039b212648e01c6c6b78"
    "c080c0"
)
# Same page, contract validator selection: no validators in the header.
BESU_DOCS_EMPTY_EXTRA_DATA = (
    "0xe5a00000000000000000000000000000000000000000000000000000000000000000c0c080c0"
)
# Besu's QbftExtraDataCodecTest.RAW_HEX_ENCODING_STRING: vanity 0x01..0x20, validators 0x..01 and
# 0x..02, an add vote for 0x..01, round 0xFEDCBA and two seals (r=1,s=10,v=0) and (r=10,s=1,v=0).
BESU_CODEC_VECTOR = (
    "0xf8f0a00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20ea940000000000000000"
    "000000000000000000000001940000000000000000000000000000000000000002d7940000000000000000"
    "00000000000000000000000181ff83fedcbaf886b841000000000000000000000000000000000000000000"
    "0000000000000000000001000000000000000000000000000000000000000000000000000000000000000a"
    "00b841000000000000000000000000000000000000000000000000000000000000000a0000000000000000"
    "00000000000000000000000000000000000000000000000100"
)
# An IBFT 2.0 genesis extraData (Besu docs, IBFT 2.0 genesis example): 4-byte round, 0x80 vote.
IBFT2_EXTRA_DATA = (
    "0xf83ea00000000000000000000000000000000000000000000000000000000000000000"
    "d5949811ebc35d7b06b3fa8dc5809a1f9c52751e1deb808400000000c0"
)
# From the Besu docs' local permissioning page.
DOCS_PUBKEY = (
    "6f8a80d14311c39f35f516fa664deaaaa13e85b2f7493f37f6144d86991ec012"
    "937307647bd3b9a82abe2974e1407241d54947bbb39763a4cac9f77166ad92a0"
)
DOCS_NODES_ALLOWLIST = (
    f'nodes-allowlist=["enode://{DOCS_PUBKEY}@192.168.0.9:4567",'
    f'"enode://{DOCS_PUBKEY}@192.169.0.9:4568"]\n'
)


def _addr(n: int) -> str:
    return "0x" + n.to_bytes(20, "big").hex()


def _seal(r: int, s: int, v: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])


# -- extraData ---------------------------------------------------------------------------------


def test_extra_data_matches_besu_docs_genesis() -> None:
    assert qbft_extra_data(BESU_DOCS_VALIDATORS) == BESU_DOCS_EXTRA_DATA


def test_extra_data_without_validators_matches_besu_docs_contract_mode() -> None:
    assert "0x" + encode_extra_data([]).hex() == BESU_DOCS_EMPTY_EXTRA_DATA


def test_full_extra_data_matches_besu_codec_known_vector() -> None:
    encoded = encode_extra_data(
        [_addr(1), _addr(2)],
        vanity=bytes(range(1, 33)),
        vote=Vote(recipient=_addr(1), add=True),
        round_number=0xFEDCBA,
        seals=[_seal(1, 10, 0), _seal(10, 1, 0)],
    )
    assert "0x" + encoded.hex() == BESU_CODEC_VECTOR


def test_decode_besu_codec_known_vector() -> None:
    decoded = decode_extra_data(BESU_CODEC_VECTOR)
    assert decoded.vanity == bytes(range(1, 33))
    assert [v.lower() for v in decoded.validators] == [_addr(1), _addr(2)]
    assert decoded.vote is not None
    assert decoded.vote.add
    assert decoded.vote.recipient.lower() == _addr(1)
    assert decoded.round == 0xFEDCBA
    assert decoded.seals == (_seal(1, 10, 0), _seal(10, 1, 0))


def test_drop_vote_is_encoded_as_rlp_null() -> None:
    encoded = encode_extra_data([], vote=Vote(recipient=_addr(7), add=False))
    assert rlp.decode(encoded)[2] == [bytes.fromhex(_addr(7)[2:]), b""]
    decoded = decode_extra_data(encoded)
    assert decoded.vote is not None
    assert not decoded.vote.add
    assert decoded.vote.recipient.lower() == _addr(7)


def test_genesis_extra_data_built_by_hand_from_the_documented_layout() -> None:
    validator = "0x" + "ab" * 20
    # list header (payload 58 bytes > 55: long form f8 3a), 32-byte zero vanity (a0 ...),
    # validators list with one 20-byte string (d5 94 ...), empty vote c0, round 0 as 80, seals c0.
    expected = "0xf83a" + "a0" + "00" * 32 + "d594" + "ab" * 20 + "c0" + "80" + "c0"
    assert qbft_extra_data([validator]) == expected


def test_genesis_extra_data_structure() -> None:
    validators = [key.address for key in generate_validator_keys(4)]
    items: Any = rlp.decode(bytes.fromhex(qbft_extra_data(validators)[2:]))
    assert len(items) == 5
    vanity, listed, vote, round_number, seals = items
    assert vanity == bytes(32)
    assert listed == [bytes.fromhex(v[2:]) for v in validators]
    assert vote == []
    assert round_number == b""
    assert seals == []


def test_ibft2_extra_data_is_not_qbft() -> None:
    with pytest.raises(NetworkConfigError, match="not QBFT extraData"):
        decode_extra_data(IBFT2_EXTRA_DATA)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"vanity": bytes(31)},
        {"round_number": -1},
        {"seals": [bytes(64)]},
        {"vote": Vote(recipient="0x1234", add=True)},
    ],
)
def test_encode_rejects_malformed_fields(kwargs: dict[str, Any]) -> None:
    with pytest.raises(NetworkConfigError):
        encode_extra_data([_addr(1)], **kwargs)


def test_qbft_extra_data_needs_a_validator() -> None:
    with pytest.raises(NetworkConfigError, match="at least one validator"):
        qbft_extra_data([])


# -- keys and enodes ---------------------------------------------------------------------------


def test_generated_validator_keys_are_distinct_and_consistent() -> None:
    generated = generate_validator_keys(5)
    assert len({key.address for key in generated}) == 5
    for key in generated:
        assert len(key.private_key) == 32
        assert Account.from_key(key.private_key).address == key.address
        uncompressed = coincurve.PrivateKey(key.private_key).public_key.format(compressed=False)
        assert key.public_key == uncompressed[1:]
        assert key.private_key_hex == "0x" + key.private_key.hex()


def test_validator_key_from_known_private_key() -> None:
    key = ValidatorKey.from_private_key(
        "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
    )
    assert key.address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


@pytest.mark.parametrize("bad", ["0x" + "00" * 32, "0x1234", "0x" + "ff" * 32])
def test_validator_key_rejects_invalid_private_keys(bad: str) -> None:
    with pytest.raises(NetworkConfigError):
        ValidatorKey.from_private_key(bad)


def test_generate_needs_at_least_one_validator() -> None:
    with pytest.raises(NetworkConfigError):
        generate_validator_keys(0)


@pytest.mark.parametrize(
    ("pubkey", "host", "port", "expected"),
    [
        (DOCS_PUBKEY, "192.168.0.9", 4567, f"enode://{DOCS_PUBKEY}@192.168.0.9:4567"),
        ("0x" + DOCS_PUBKEY, "127.0.0.1", 30303, f"enode://{DOCS_PUBKEY}@127.0.0.1:30303"),
        ("0x04" + DOCS_PUBKEY.upper(), "node1", 30303, f"enode://{DOCS_PUBKEY}@node1:30303"),
        (DOCS_PUBKEY, "::1", 30303, f"enode://{DOCS_PUBKEY}@[::1]:30303"),
    ],
)
def test_enode_url(pubkey: str, host: str, port: int, expected: str) -> None:
    assert enode_url(pubkey, host, port) == expected


@pytest.mark.parametrize(
    ("pubkey", "host", "port"),
    [
        ("0x" + "ab" * 20, "127.0.0.1", 30303),  # an address, not a public key
        ("zz" * 64, "127.0.0.1", 30303),
        (DOCS_PUBKEY, "127.0.0.1", 0),
        (DOCS_PUBKEY, "127.0.0.1", 70000),
        (DOCS_PUBKEY, "", 30303),
    ],
)
def test_enode_url_rejects_bad_input(pubkey: str, host: str, port: int) -> None:
    with pytest.raises(NetworkConfigError):
        enode_url(pubkey, host, port)


# -- genesis -----------------------------------------------------------------------------------


def test_genesis_fields() -> None:
    validators = [key.address for key in generate_validator_keys(4)]
    funded = Account.create().address
    doc = genesis(
        2025,
        validators,
        block_period_seconds=3,
        epoch_length=100,
        request_timeout_seconds=12,
        alloc={funded: 10**18},
    )
    config = doc["config"]
    assert config["chainId"] == 2025
    assert config["qbft"] == {
        "blockperiodseconds": 3,
        "epochlength": 100,
        "requesttimeoutseconds": 12,
    }
    assert config["londonBlock"] == 0
    assert config["shanghaiTime"] == 0
    assert config["cancunTime"] == 0
    assert config["zeroBaseFee"] is True
    assert "contractSizeLimit" not in config  # production's 24576-byte limit stays enforced
    assert doc["baseFeePerGas"] == "0x0"
    assert doc["difficulty"] == "0x1"
    assert doc["mixHash"] == QBFT_MIX_HASH
    assert int(doc["gasLimit"], 16) == 0x1FFFFFFFFFFFFF
    assert doc["alloc"] == {funded.lower()[2:]: {"balance": hex(10**18)}}
    listed = decode_extra_data(doc["extraData"]).validators
    assert sorted(listed) == sorted(validators)
    assert list(listed) == sorted(listed, key=lambda a: bytes.fromhex(a[2:]))
    json.dumps(doc)  # JSON-ready


def test_genesis_is_independent_of_validator_order() -> None:
    validators = [key.address for key in generate_validator_keys(4)]
    assert genesis(7, validators) == genesis(7, list(reversed(validators)))


def test_genesis_without_zero_base_fee() -> None:
    doc = genesis(7, [_addr(1)], zero_base_fee=False)
    assert "zeroBaseFee" not in doc["config"]
    assert "baseFeePerGas" not in doc


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((0, [_addr(1)]), {}),
        ((7, []), {}),
        ((7, [_addr(1), _addr(1)]), {}),
        ((7, ["0xnot-an-address"]), {}),
        ((7, [_addr(1)]), {"block_period_seconds": 0}),
        ((7, [_addr(1)]), {"request_timeout_seconds": 0}),
        ((7, [_addr(1)]), {"alloc": {_addr(2): -1}}),
        ((7, [_addr(1)]), {"alloc": {"0x12": 1}}),
    ],
)
def test_genesis_rejects_bad_input(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    with pytest.raises(NetworkConfigError):
        genesis(*args, **kwargs)


# -- permissions -------------------------------------------------------------------------------


def test_node_allowlist_matches_besu_docs_format() -> None:
    enodes = [
        enode_url(DOCS_PUBKEY, "192.168.0.9", 4567),
        enode_url(DOCS_PUBKEY, "192.169.0.9", 4568),
    ]
    assert node_allowlist(enodes) == DOCS_NODES_ALLOWLIST


def test_permissions_config_is_valid_toml_with_both_allowlists() -> None:
    enode = enode_url(DOCS_PUBKEY, "10.0.0.1", 30303)
    checksummed = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    text = permissions_config([enode, enode], [checksummed, checksummed.lower(), _addr(9)])
    parsed = tomllib.loads(text)
    assert parsed["nodes-allowlist"] == [enode]
    # Besu requires 0x, compares lower-cased and rejects duplicates.
    assert parsed["accounts-allowlist"] == [checksummed.lower(), _addr(9)]


def test_permissions_config_rejects_bad_entries() -> None:
    with pytest.raises(NetworkConfigError):
        permissions_config(["not-an-enode"], [])
    with pytest.raises(NetworkConfigError):
        permissions_config([], ["0x1234"])


# -- write_network -----------------------------------------------------------------------------


def test_write_network(tmp_path: Path) -> None:
    out = tmp_path / "net"
    operator = Account.create().address
    summary = write_network(out, 4, 2025, alloc={operator: 10**18}, accounts=[_addr(5)])

    assert json.loads((out / "network.json").read_text()) == summary
    doc = json.loads((out / "genesis.json").read_text())
    assert doc["config"]["chainId"] == 2025
    validators = summary["validators"]
    assert len(validators) == 4
    listed = decode_extra_data(doc["extraData"]).validators
    assert sorted(listed) == sorted(v["address"] for v in validators)

    permissions = tomllib.loads((out / "permissions_config.toml").read_text())
    assert permissions["nodes-allowlist"] == [v["enode"] for v in validators]
    assert permissions["accounts-allowlist"] == [operator.lower(), _addr(5)]

    for i, validator in enumerate(validators):
        node_dir = out / f"validator{i + 1}"
        key_file = node_dir / "key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(node_dir.stat().st_mode) == 0o700
        key_hex = key_file.read_text().strip()
        assert key_hex.startswith("0x")
        assert len(key_hex) == 66
        key = ValidatorKey.from_private_key(key_hex)
        assert key.address == validator["address"]
        assert validator["enode"] == key.enode("127.0.0.1", 30303 + i)
        assert (node_dir / "key.pub").read_text().strip() == key.public_key_hex
        assert (node_dir / "permissions_config.toml").read_text() == (
            out / "permissions_config.toml"
        ).read_text()
        assert f"--p2p-port={30303 + i}" in validator["besu_args"]
        assert "--min-gas-price=0" in validator["besu_args"]

    # Relative paths only: the directory can be copied to the validators' machines.
    for path in out.rglob("*"):
        if path.is_file():
            assert str(tmp_path) not in path.read_text()


def test_write_network_refuses_to_replace_keys(tmp_path: Path) -> None:
    first = write_network(tmp_path, 1, 7)
    with pytest.raises(NetworkConfigError, match="already holds a network"):
        write_network(tmp_path, 1, 7)
    second = write_network(tmp_path, 1, 7, overwrite=True)
    assert first["validators"][0]["address"] != second["validators"][0]["address"]
