"""Without a PostgreSQL server the PostgreSQL legs run on an embedded one; under CI they fail.

Each case runs one PostgreSQL-leg test in a child pytest whose REGISTRY_TEST_POSTGRES_URL points
at a closed port, so the machine's server (which other tests use) is never touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import _free_port

ROOT = Path(__file__).resolve().parent.parent
LEG = "tests/indexer/test_schema.py::test_upgrading_twice_is_harmless[postgresql]"


def run_leg(*, ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    # Nothing listens on a port just freed.
    env["REGISTRY_TEST_POSTGRES_URL"] = f"postgresql://postgres@127.0.0.1:{_free_port()}/test"
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", LEG, "-q", "-rs", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_an_unreachable_server_is_replaced_by_an_embedded_one() -> None:
    result = run_leg(ci=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout and "skipped" not in result.stdout, result.stdout


def test_under_ci_an_unreachable_server_fails_the_leg() -> None:
    result = run_leg(ci=True)
    assert result.returncode != 0, result.stdout
    assert "CI runs the PostgreSQL legs on the machine's server" in result.stdout, result.stdout
