"""Exceptions raised by the indexer; all derive from the node's `RegistryError`."""

from __future__ import annotations

from node.errors import RegistryError

__all__ = [
    "CheckpointConflictError",
    "IndexerError",
    "MirrorInconsistentError",
    "WrongMirrorError",
]


class IndexerError(RegistryError):
    """Raised when the indexer cannot bring the SQL mirror up to date with the chain."""


class WrongMirrorError(IndexerError):
    """Raised when the database mirrors another chain or registry deployment than the one given."""


class CheckpointConflictError(IndexerError):
    """Raised when another indexer moved the checkpoint while this one was writing a batch."""


class MirrorInconsistentError(IndexerError):
    """Raised when an event does not fit the mirrored state, i.e. the mirror no longer matches."""
