"""A Python client for integrators: SIWE login, then prepare -> sign -> submit with a key.

It imports nothing from the server side (node, indexer, api); only httpx and eth-account.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sdk.client import RegistryClient, RegistryError

__all__ = ["RegistryClient", "RegistryError"]


def __getattr__(name: str) -> Any:
    # NOTE: loaded on first use, so `registry --help` (which lists `registry demo` from this
    # package) does not pay for eth-account.
    if name in __all__:
        from sdk import client

        return getattr(client, name)
    raise AttributeError(f"module 'sdk' has no attribute {name!r}")
