"""A Python client for integrators: SIWE login, then prepare -> check -> sign -> submit.

It imports nothing from the server side (node, indexer, api); only httpx and eth-account. It is
also built as a distribution of its own, `registry-sdk` (sdk/pyproject.toml).
"""

from sdk.client import AsyncRegistryClient, RegistryClient, Retry
from sdk.models import RegistryError, Request, SignedWrite, TypedDataMismatch

__all__ = [
    "AsyncRegistryClient",
    "RegistryClient",
    "RegistryError",
    "Request",
    "Retry",
    "SignedWrite",
    "TypedDataMismatch",
]
