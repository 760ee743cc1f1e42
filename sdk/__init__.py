"""A Python client for integrators: SIWE login, then prepare -> sign -> submit with a key.

It imports nothing from the server side (node, indexer, api); only httpx and eth-account.
"""

from sdk.client import RegistryClient, RegistryError

__all__ = ["RegistryClient", "RegistryError"]
