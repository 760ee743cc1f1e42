"""Services other packages run inside `registry up` (the indexer, the API), found by entry point.

node starts the chain and deploys; then it starts each installed service in entry-point order
(group `registry.services`) and stops them in reverse. Each entry point is a callable
`start(settings, options) -> ServiceHandle`; node never imports the packages that provide them.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Protocol

from node.settings import NodeSettings

__all__ = ["ServiceHandle", "ServiceStarter", "service_starters"]


class ServiceHandle(Protocol):
    """A running service."""

    name: str
    urls: dict[str, str]

    def is_healthy(self) -> bool:
        """Return False once the service has stopped by itself."""
        ...

    def stop(self) -> None:
        """Stop the service and wait for it."""
        ...


class ServiceStarter(Protocol):
    """Start a service for a node's settings and the `up` command's options."""

    def __call__(self, settings: NodeSettings, options: dict[str, Any]) -> ServiceHandle: ...


# Start order: the mirror first, so the API never serves an empty one for long.
_ORDER = {"indexer": 0, "api": 1}


def service_starters() -> list[tuple[str, ServiceStarter]]:
    """Return the installed services' starters, in start order."""
    found = [(entry.name, entry.load()) for entry in entry_points(group="registry.services")]
    return sorted(found, key=lambda item: (_ORDER.get(item[0], 99), item[0]))
