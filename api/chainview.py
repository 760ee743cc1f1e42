"""What the API asks the chain directly: roles and nonces, which the mirror does not hold."""

from __future__ import annotations

import threading
import time
from typing import Any

from web3 import Web3

from node.chain import ChainClient
from node.deploy import ROLE_NAMES

__all__ = ["NONCE_MASK", "ChainView", "split_nonce"]

NONCE_MASK = (1 << 64) - 1
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
        holds = bool(
            self.contract.functions.hasRole(
                ROLE_NAMES[role_name], Web3.to_checksum_address(address)
            ).call()
        )
        with self._lock:
            self._roles[key] = (now, holds)
        return holds

    def next_nonce(self, signer: str, key: int) -> int:
        """Return the next unused sequence number of a signer's nonce lane."""
        value = self.contract.functions.nonces(Web3.to_checksum_address(signer), key).call()
        return int(value) & NONCE_MASK
