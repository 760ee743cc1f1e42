"""Reads come from the tables the reducer writes: only the event feed serves raw event data."""

from __future__ import annotations

import ast
from pathlib import Path

_API = Path(__file__).parents[2] / "api"
# The feed of raw events (`GET /v1/events`) is the one read whose answer is the events.
_EVENT_FEEDS = {"events.py"}


def _reads_event_data(source: str) -> bool:
    """Return whether code selects the events table's `data` column (`<events>.c.data`)."""
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "data"
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "c"
        ):
            return True
    return False


def test_no_read_outside_the_event_feed_parses_event_json() -> None:
    modules = [*(_API / "routes").glob("*.py"), *(_API / "queries").glob("*.py")]
    assert len(modules) > 10
    offenders = [
        m.name for m in modules if m.name not in _EVENT_FEEDS and _reads_event_data(m.read_text())
    ]
    assert offenders == []


def test_the_check_sees_a_read_of_event_data() -> None:
    assert _reads_event_data("select(_EVENTS.c.tx_hash, _EVENTS.c.data)")
    assert not _reads_event_data("select(_EVENTS.c.tx_hash, _EVENTS.c.name)")
