"""What the API asks the chain directly: roles and nonces, which the mirror does not hold."""

from __future__ import annotations

import threading
import time
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from web3 import Web3
from web3.types import RPCEndpoint

from api.problems import Problem, refuse
from node.chain import ChainClient
from node.deploy import ROLE_NAMES
from node.errors import ChainError

__all__ = ["NONCE_MASK", "UNORDERED_NONCE", "ChainView", "split_nonce"]

NONCE_MASK = (1 << 64) - 1
# A nonce with the top bit set is unordered: bit `nonce & 255` of the signer's word `nonce >> 8`
# (decision D33); other nonces are keyed lanes (D7).
UNORDERED_NONCE = 1 << 255
_NONCES_SELECTOR = keccak(text="nonces(address,uint192)")[:4]
_BITMAP_SELECTOR = keccak(text="nonceBitmap(address,uint256)")[:4]
_HAS_ROLE_SELECTOR = keccak(text="hasRole(bytes32,address)")[:4]
_ROLE_TTL = 5.0  # seconds a role lookup is trusted; the contract re-checks every write anyway


def split_nonce(nonce: int) -> tuple[int, int]:
    """Return (lane key, sequence) of a keyed nonce (OpenZeppelin NoncesKeyed layout)."""
    return nonce >> 64, nonce & NONCE_MASK


class ChainView:
    """Read roles and keyed nonces from the registry contract, with a short role cache."""

    def __init__(self, client: ChainClient, registry: str, abi: list[dict[str, Any]]) -> None:
        self.client = client
        self.contract = client.w3.eth.contract(address=Web3.to_checksum_address(registry), abi=abi)
        self._roles: dict[tuple[str, str], tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def has_role(self, role_name: str, address: str) -> bool:
        """Return whether an address holds a registry role, e.g. "registry_admin"."""
        key = (role_name, address.lower())
        now = time.monotonic()
        with self._lock:
            cached = self._roles.get(key)
        if cached is not None and now - cached[0] < _ROLE_TTL:
            return cached[1]
        data = _HAS_ROLE_SELECTOR + abi_encode(
            ["bytes32", "address"], [ROLE_NAMES[role_name], address]
        )
        try:
            holds = int(self._eth_call(data), 16) != 0
        except Problem:
            if cached is not None:
                return cached[1]  # reads need only the mirror: a chain outage keeps the last answer
            raise
        with self._lock:
            self._roles[key] = (now, holds)
        return holds

    def next_nonce(self, signer: str, key: int) -> int:
        """Return the next unused sequence number of a signer's nonce lane."""
        data = _NONCES_SELECTOR + abi_encode(["address", "uint192"], [signer, key])
        return int(self._eth_call(data), 16) & NONCE_MASK

    def nonce_bitmap(self, signer: str, word: int) -> int:
        """Return a signer's bitmap word of unordered nonces (`word` is such a nonce >> 8)."""
        data = _BITMAP_SELECTOR + abi_encode(["address", "uint256"], [signer, word])
        return int(self._eth_call(data), 16)

    def nonce_used(self, signer: str, nonce: int) -> bool:
        """Return whether the chain has used an unordered nonce of a signer."""
        return (self.nonce_bitmap(signer, nonce >> 8) >> (nonce & 0xFF)) & 1 == 1

    def outbound_itmos(self, transfer_id: int) -> list[dict[str, Any]]:
        """Return the ITMO terms an outbound transfer's proposal must carry (none: ordinary units),
        as the contract computes them (IInteropItmos.outboundItmos), in typed-data form."""
        try:
            rows = self.contract.functions.outboundItmos(transfer_id).call()
        except Exception as exc:  # a chain outage; the interop worker retries next round
            raise ChainError(f"outboundItmos({transfer_id}) failed: {exc}") from exc
        names = (
            "authorizationId",
            "authorizingParty",
            "approachId",
            "letterId",
            "purposes",
            "firstTransferDefinition",
            "authorizedAt",
            "transferringParty",
            "acquiringParty",
        )
        return [
            {
                name: "0x" + value.hex() if isinstance(value, bytes) else int(value)
                for name, value in zip(names, row, strict=True)
            }
            for row in rows
        ]

    def _eth_call(self, data: bytes) -> str:
        # NOTE: a raw eth_call with precomputed calldata: web3's contract call machinery costs
        # more than the round trip (it validates the chain id with a second request each time).
        try:
            response = self.client.w3.provider.make_request(
                RPCEndpoint("eth_call"),
                [{"to": self.contract.address, "data": "0x" + data.hex()}, "latest"],
            )
        except Exception as exc:  # requests raises several connection error types
            raise refuse(
                "CHAIN_UNAVAILABLE",
                "The registry's chain node does not answer; retry shortly.",
                headers={"Retry-After": "5"},
            ) from exc
        if "error" in response:
            raise ChainError(f"eth_call to the registry failed: {response['error']}")
        return str(response["result"])
