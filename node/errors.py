"""Exceptions raised by the registry node.

Every error the node raises on purpose derives from `RegistryError`, so callers (the CLI, the API's
exception handlers) can catch one type and show its message. Messages say what went wrong and what
to do next; they never carry a stack trace to the user.
"""

from __future__ import annotations

__all__ = [
    "ChainError",
    "CompileError",
    "ConfigError",
    "DeploymentError",
    "DevChainError",
    "KeystoreError",
    "NetworkConfigError",
    "RegistryError",
    "RelayError",
]


class RegistryError(Exception):
    """Raised when the registry node cannot do what it was asked; the root of all node errors."""


class ConfigError(RegistryError):
    """Raised when settings are missing, malformed or contradict each other."""


class NetworkConfigError(ConfigError):
    """Raised when a production (QBFT) network configuration cannot be generated or written."""


class ChainError(RegistryError):
    """Raised when the chain node cannot be reached or answers in an unexpected way."""


class DevChainError(ChainError):
    """Raised when the embedded development chain (anvil) cannot be found, started or stopped."""


class KeystoreError(RegistryError):
    """Raised when a key cannot be created, stored, found or decrypted."""


class CompileError(RegistryError):
    """Raised when the Solidity sources cannot be compiled into artifacts."""


class DeploymentError(RegistryError):
    """Raised when contracts cannot be deployed or the deployment manifest is missing or stale."""


class RelayError(RegistryError):
    """Raised when the relayer cannot submit a journaled request or track its transaction."""
