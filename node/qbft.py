"""Configuration for a permissioned Hyperledger Besu QBFT network, generated in pure Python.

Produces what `besu operator generate-blockchain-config` and `besu rlp encode` would, plus the
local permissioning file: validator node keys, the QBFT genesis (with validator extraData), and the
nodes and accounts allowlists. No Besu binary is needed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import coincurve
import rlp
from eth_keys.datatypes import PrivateKey
from eth_utils.address import is_address, to_canonical_address, to_checksum_address
from rlp.exceptions import DecodingError

from node.errors import NetworkConfigError
from node.keys import atomic_write_text

__all__ = [
    "DEFAULT_GAS_LIMIT",
    "QBFT_MIX_HASH",
    "QbftExtraData",
    "ValidatorKey",
    "Vote",
    "accounts_allowlist",
    "decode_extra_data",
    "encode_extra_data",
    "enode_url",
    "generate_validator_keys",
    "genesis",
    "node_allowlist",
    "permissions_config",
    "qbft_extra_data",
    "write_network",
]

# Besu requires this exact mixHash in BFT (IBFT 2.0 / QBFT) blocks: ASCII "ctical byzantine fault
# tolerance", the Istanbul "digest" constant.
QBFT_MIX_HASH = "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
# Besu's free-gas recommendation; gas is not the limiting resource on a zero-fee network.
DEFAULT_GAS_LIMIT = 0x1FFFFFFFFFFFFF
VANITY_LENGTH = 32
SEAL_LENGTH = 65
# Besu's Vote.ADD_BYTE_VALUE; a drop vote is written as an empty byte string (RLP null, 0x80).
_VOTE_ADD = b"\xff"
_VOTE_DROP = b""


@dataclass(frozen=True)
class ValidatorKey:
    """A validator's secp256k1 node key; its address is the validator address in extraData."""

    private_key: bytes
    public_key: bytes
    address: str

    @classmethod
    def from_private_key(cls, private_key: bytes | str) -> ValidatorKey:
        """Derive the public key and address of a 32-byte private key (bytes or hex)."""
        raw = (
            bytes.fromhex(private_key.removeprefix("0x"))
            if isinstance(private_key, str)
            else private_key
        )
        try:
            key = PrivateKey(raw)
        except Exception as exc:
            raise NetworkConfigError(
                "not a valid secp256k1 node key: "
                "expect 32 bytes (64 hex digits) below the curve order"
            ) from exc
        return cls(
            private_key=key.to_bytes(),
            public_key=key.public_key.to_bytes(),
            address=key.public_key.to_checksum_address(),
        )

    @property
    def private_key_hex(self) -> str:
        """Return the private key as 0x-prefixed hex, the format of Besu's `key` file."""
        return "0x" + self.private_key.hex()

    @property
    def public_key_hex(self) -> str:
        """Return the 64-byte uncompressed public key (no 0x04 prefix) as 0x-prefixed hex."""
        return "0x" + self.public_key.hex()

    def enode(self, host: str, port: int) -> str:
        """Return this node's enode URL at `host:port`."""
        return enode_url(self.public_key_hex, host, port)


def generate_validator_keys(n: int) -> list[ValidatorKey]:
    """Generate `n` fresh validator node keys from the OS's secure random source."""
    if n < 1:
        raise NetworkConfigError(f"need at least one validator, got {n}")
    # coincurve draws from the OS CSPRNG and only returns keys inside the curve order.
    return [ValidatorKey.from_private_key(coincurve.PrivateKey().secret) for _ in range(n)]


@dataclass(frozen=True)
class Vote:
    """A validator vote carried in a block's extraData: add or drop `recipient`."""

    recipient: str
    add: bool


@dataclass(frozen=True)
class QbftExtraData:
    """The decoded fields of a QBFT block's extraData."""

    vanity: bytes
    validators: tuple[str, ...]
    vote: Vote | None
    round: int
    seals: tuple[bytes, ...]


# NOTE: layout decision. Besu's QbftExtraDataCodec.encode (consensus/qbft, checked against its
# QbftExtraDataCodecTest known vector and the QBFT genesis example in the Besu docs) writes
#   RLP([vanity: 32 bytes,
#        validators: [20-byte address, ...],
#        vote: [] when absent, else [recipient, 0xff (add) | "" (drop)],
#        round: writeIntScalar -> minimal big-endian bytes, so round 0 is the empty string 0x80,
#        seals: [65-byte signature, ...]])
# The genesis form is vanity = 32 zero bytes, no vote, round 0 and no seals, so it ends in
# c0 80 c0. This differs from IBFT 2.0, whose round is a fixed 4-byte int (84 00000000) and whose
# empty vote is 0x80: reusing an IBFT 2.0 extraData would make Besu reject the genesis.
def encode_extra_data(
    validators: Sequence[str],
    *,
    vanity: bytes = bytes(VANITY_LENGTH),
    vote: Vote | None = None,
    round_number: int = 0,
    seals: Sequence[bytes] = (),
) -> bytes:
    """Encode QBFT extraData exactly as Besu's QbftExtraDataCodec does."""
    if len(vanity) != VANITY_LENGTH:
        raise NetworkConfigError(
            f"extraData vanity must be {VANITY_LENGTH} bytes, got {len(vanity)}"
        )
    if round_number < 0:
        raise NetworkConfigError(f"round must not be negative, got {round_number}")
    for seal in seals:
        if len(seal) != SEAL_LENGTH:
            raise NetworkConfigError(f"a seal must be {SEAL_LENGTH} bytes, got {len(seal)}")
    vote_item: list[bytes] = (
        []
        if vote is None
        else [_address_bytes(vote.recipient), _VOTE_ADD if vote.add else _VOTE_DROP]
    )
    encoded: bytes = rlp.encode(
        [
            vanity,
            [_address_bytes(address) for address in validators],
            vote_item,
            round_number,  # pyrlp encodes ints as minimal big-endian bytes, like writeIntScalar
            list(seals),
        ]
    )
    return encoded


def qbft_extra_data(validators: Sequence[str]) -> str:
    """Return the genesis extraData (0x hex) listing `validators` in the given order."""
    if not validators:
        raise NetworkConfigError(
            "a QBFT genesis with block-header validator selection needs at least one validator"
        )
    return "0x" + encode_extra_data(validators).hex()


def decode_extra_data(extra_data: str | bytes) -> QbftExtraData:
    """Decode QBFT extraData (0x hex or bytes) into its fields."""
    raw = (
        bytes.fromhex(extra_data.removeprefix("0x")) if isinstance(extra_data, str) else extra_data
    )
    try:
        items = rlp.decode(raw)
        vanity, validators, vote_item, round_bytes, seals = items
        if isinstance(vote_item, list) and not vote_item:
            vote = None
        else:
            recipient, kind = vote_item
            if kind not in (_VOTE_ADD, _VOTE_DROP):
                raise ValueError(f"unknown vote type {kind!r}")
            vote = Vote(recipient=to_checksum_address(recipient), add=kind == _VOTE_ADD)
        return QbftExtraData(
            vanity=bytes(vanity),
            validators=tuple(to_checksum_address(bytes(v)) for v in validators),
            vote=vote,
            round=int.from_bytes(round_bytes, "big"),
            seals=tuple(bytes(seal) for seal in seals),
        )
    except (DecodingError, ValueError, TypeError) as exc:
        raise NetworkConfigError(f"not QBFT extraData: {exc}") from exc


def genesis(
    chain_id: int,
    validators: Sequence[str],
    *,
    block_period_seconds: int = 2,
    epoch_length: int = 30000,
    request_timeout_seconds: int = 10,
    zero_base_fee: bool = True,
    alloc: Mapping[str, int] | None = None,
    gas_limit: int = DEFAULT_GAS_LIMIT,
) -> dict[str, Any]:
    """Return a Besu QBFT genesis (block-header validator selection) as a JSON-ready dict."""
    if chain_id < 1:
        raise NetworkConfigError(f"chain id must be positive, got {chain_id}")
    for name, value in (
        ("block_period_seconds", block_period_seconds),
        ("epoch_length", epoch_length),
        ("request_timeout_seconds", request_timeout_seconds),
    ):
        if value < 1:
            raise NetworkConfigError(f"{name} must be at least 1, got {value}")
    addresses = [_checked_address(v, "validator") for v in validators]
    if len(set(addresses)) != len(addresses):
        raise NetworkConfigError("validator addresses must be unique")
    # NOTE: sorted because Besu keeps validators as a sorted set and writes them sorted in the
    # extraData of every block it produces; a sorted genesis list is the canonical form and lets
    # identical inputs give a byte-identical genesis.
    ordered = sorted(addresses, key=to_canonical_address)
    config: dict[str, Any] = {
        "chainId": chain_id,
        # Besu implies every earlier milestone from the latest one listed. cancun pins the same
        # EVM as the contracts' compiler setting and as anvil.
        "berlinBlock": 0,
        "londonBlock": 0,
        "shanghaiTime": 0,
        "cancunTime": 0,
        # contractSizeLimit is deliberately left at Besu's default (24576): the contracts must fit
        # the limit production chains enforce.
        "qbft": {
            "blockperiodseconds": block_period_seconds,
            "epochlength": epoch_length,
            "requesttimeoutseconds": request_timeout_seconds,
        },
    }
    document: dict[str, Any] = {
        "config": config,
        "nonce": "0x0",
        "timestamp": "0x0",
        "gasLimit": hex(gas_limit),
        "difficulty": "0x1",
        "mixHash": QBFT_MIX_HASH,
        "coinbase": "0x" + "00" * 20,
        "extraData": qbft_extra_data(ordered),
        "alloc": {},
    }
    if zero_base_fee:
        # After London a free-gas network needs zeroBaseFee on every node; the explicit genesis
        # base fee stops Besu from defaulting block 0 to a non-zero one.
        config["zeroBaseFee"] = True
        document["baseFeePerGas"] = "0x0"
    for address, balance in (alloc or {}).items():
        if balance < 0:
            raise NetworkConfigError(f"balance of {address} must not be negative")
        key = _checked_address(address, "alloc").lower().removeprefix("0x")
        document["alloc"][key] = {"balance": hex(balance)}
    return document


def enode_url(node_pubkey_hex: str, host: str, port: int) -> str:
    """Return `enode://<pubkey>@host:port` for a node's 64-byte public key."""
    pubkey = node_pubkey_hex.lower().removeprefix("0x")
    if len(pubkey) == 130 and pubkey.startswith("04"):
        pubkey = pubkey[2:]  # SEC1 uncompressed form; enode ids omit the 0x04 marker
    try:
        valid = len(bytes.fromhex(pubkey)) == 64
    except ValueError:
        valid = False
    if not valid:
        raise NetworkConfigError(
            "a node public key is 64 bytes (128 hex digits); "
            f"got {node_pubkey_hex!r}. Use the node's key.pub, not its address"
        )
    if not 1 <= port <= 65535:
        raise NetworkConfigError(f"port must be between 1 and 65535, got {port}")
    if not host:
        raise NetworkConfigError("an enode needs a host")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6 literal
    return f"enode://{pubkey}@{host}:{port}"


def node_allowlist(enodes: Iterable[str]) -> str:
    """Return the `nodes-allowlist` line of Besu's permissions_config.toml."""
    unique = _unique(enodes)
    for enode in unique:
        if not enode.startswith("enode://") or "@" not in enode:
            raise NetworkConfigError(f"not an enode URL: {enode!r}; build one with enode_url()")
    return f"nodes-allowlist={_toml_strings(unique)}\n"


def accounts_allowlist(addresses: Iterable[str]) -> str:
    """Return the `accounts-allowlist` line of Besu's permissions_config.toml."""
    # Besu lower-cases entries, requires the 0x prefix and rejects duplicates.
    unique = _unique(_checked_address(a, "account").lower() for a in addresses)
    return f"accounts-allowlist={_toml_strings(unique)}\n"


def permissions_config(node_enodes: Iterable[str], account_addresses: Iterable[str]) -> str:
    """Return Besu's permissions_config.toml text with the nodes and accounts allowlists."""
    return (
        "# Besu local permissioning. Enable with --permissions-nodes-config-file-enabled and\n"
        "# --permissions-accounts-config-file-enabled; every node should use the same lists.\n"
        + accounts_allowlist(account_addresses)
        + "\n"
        + node_allowlist(node_enodes)
    )


def write_network(
    out_dir: Path,
    n_validators: int = 4,
    chain_id: int = 1337,
    *,
    host: str = "127.0.0.1",
    p2p_port: int = 30303,
    rpc_port: int = 8545,
    alloc: Mapping[str, int] | None = None,
    accounts: Iterable[str] = (),
    block_period_seconds: int = 2,
    epoch_length: int = 30000,
    request_timeout_seconds: int = 10,
    zero_base_fee: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write a ready-to-run QBFT network to `out_dir` and return its `network.json` summary.

    Node `i` (1-based) listens on `p2p_port + i - 1` and serves JSON-RPC on `rpc_port + i - 1`.
    The accounts allowlist holds the `alloc` accounts plus `accounts`.
    """
    out_dir = Path(out_dir)
    if (out_dir / "genesis.json").exists() and not overwrite:
        raise NetworkConfigError(
            f"{out_dir} already holds a network (genesis.json); writing again would replace its "
            "validator keys. Choose another directory or pass overwrite=True."
        )
    validator_keys = generate_validator_keys(n_validators)
    genesis_doc = genesis(
        chain_id,
        [key.address for key in validator_keys],
        block_period_seconds=block_period_seconds,
        epoch_length=epoch_length,
        request_timeout_seconds=request_timeout_seconds,
        zero_base_fee=zero_base_fee,
        alloc=alloc,
    )
    enodes = [key.enode(host, p2p_port + i) for i, key in enumerate(validator_keys)]
    permissions = permissions_config(enodes, [*(alloc or {}), *accounts])

    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "genesis.json", json.dumps(genesis_doc, indent=2) + "\n", 0o644)
    atomic_write_text(out_dir / "permissions_config.toml", permissions, 0o644)
    nodes: list[dict[str, Any]] = []
    for i, key in enumerate(validator_keys):
        name = f"validator{i + 1}"
        node_dir = out_dir / name
        node_dir.mkdir(exist_ok=True)
        node_dir.chmod(0o700)  # mkdir(mode=) would not tighten an existing directory
        # Besu reads its node key from <data-path>/key and its permissions from
        # <data-path>/permissions_config.toml, so each validator dir is a ready --data-path.
        atomic_write_text(node_dir / "key", key.private_key_hex + "\n", 0o600)
        atomic_write_text(node_dir / "key.pub", key.public_key_hex + "\n", 0o644)
        atomic_write_text(node_dir / "permissions_config.toml", permissions, 0o644)
        nodes.append(
            {
                "name": name,
                "address": key.address,
                "enode": enodes[i],
                "p2p_port": p2p_port + i,
                "rpc_port": rpc_port + i,
                "data_path": name,
                "besu_args": _besu_args(name, p2p_port + i, rpc_port + i, enodes, zero_base_fee),
            }
        )
    summary: dict[str, Any] = {
        "consensus": "qbft",
        "chain_id": chain_id,
        "genesis": "genesis.json",
        "permissions_config": "permissions_config.toml",
        "block_period_seconds": block_period_seconds,
        "zero_base_fee": zero_base_fee,
        "validators": nodes,
        "note": (
            "Run each validator with its besu_args from this directory. validatorN/key is the "
            "node's private key: keep it secret and back it up. Byzantine fault tolerance needs "
            "at least 4 validators; never lose more than a third of them."
        ),
    }
    atomic_write_text(out_dir / "network.json", json.dumps(summary, indent=2) + "\n", 0o644)
    return summary


def _besu_args(
    data_path: str, p2p_port: int, rpc_port: int, enodes: Sequence[str], zero_base_fee: bool
) -> list[str]:
    args = [
        f"--data-path={data_path}",
        "--genesis-file=genesis.json",
        f"--p2p-port={p2p_port}",
        f"--bootnodes={','.join(enodes)}",
        "--rpc-http-enabled",
        f"--rpc-http-port={rpc_port}",
        "--rpc-http-api=ETH,NET,WEB3,QBFT",
        "--host-allowlist=localhost,127.0.0.1",
        "--permissions-nodes-config-file-enabled",
        "--permissions-accounts-config-file-enabled",
        "--sync-mode=FULL",
    ]
    if zero_base_fee:
        # Any node with a non-zero minimum silently drops zero-priced transactions.
        args.append("--min-gas-price=0")
    return args


def _address_bytes(address: str) -> bytes:
    return to_canonical_address(_checked_address(address, "validator"))


def _checked_address(address: str, what: str) -> str:
    if not is_address(address):
        raise NetworkConfigError(f"{what} {address!r} is not a 20-byte hex address")
    return to_checksum_address(address)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _toml_strings(items: Sequence[str]) -> str:
    # JSON string syntax is valid TOML basic-string syntax for these ASCII values.
    return "[" + ",".join(json.dumps(item) for item in items) + "]"
