"""A Python client for integrators: SIWE login, then prepare -> check -> sign -> submit.

It imports nothing from the server side (node, indexer, api); only httpx and eth-account. It is
also built as a distribution of its own, `registry-sdk` (sdk/pyproject.toml).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOMES = {
    "AsyncRegistryClient": "sdk.client",
    "RegistryClient": "sdk.client",
    "Retry": "sdk.client",
    "RegistryError": "sdk.models",
    "Request": "sdk.models",
    "SignedWrite": "sdk.models",
    "TypedDataMismatch": "sdk.models",
}


def __getattr__(name: str) -> Any:
    # NOTE: loaded on first use, so `registry --help` (which lists `registry demo` from this
    # package) does not pay for httpx and eth-account.
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'sdk' has no attribute {name!r}")
