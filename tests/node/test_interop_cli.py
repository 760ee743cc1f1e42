"""`registry interop verify` and `registry reconcile` refuse what they cannot use in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import _free_port

REGISTRY = str(Path(sys.executable).parent / "registry")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([REGISTRY, *args], capture_output=True, text=True, timeout=60)


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "cannot read"), ("{", "is not JSON"), ("[1, 2", "is not JSON")],
)
def test_verify_refuses_a_file_it_cannot_read(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    path = tmp_path / "transfer.json"
    if content is not None:
        path.write_text(content)
    assert expected in _one_error_line(_run("interop", "verify", str(path)))


def test_reconcile_without_a_node_says_how_to_reach_one() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    line = _one_error_line(_run("reconcile", "--peer", "NZ", "--api-url", url))
    assert f"cannot reach this registry's API at {url}" in line and "--api-url" in line
