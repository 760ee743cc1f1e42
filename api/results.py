"""The `result` of a request, read off the events it emitted (API.md's write table).

Each operation record names its reader (`api.operations.results`); this looks it up by the
request's type and hands it the request's events as typed payloads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from api.operations.catalogue import RESULTS
from api.operations.results import receipt

__all__ = ["result_from_events"]


def result_from_events(
    registry_code: str, primary_type: str, events: Sequence[tuple[str, dict[str, Any]]]
) -> dict[str, Any]:
    """Return the result fields of an applied request from its events."""
    reader = RESULTS.get(primary_type)
    return {} if reader is None else reader(receipt(registry_code, events))
