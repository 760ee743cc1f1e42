"""Fixtures for the node package's tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.devchain import DevChain, find_anvil
from node.errors import DevChainError


@pytest.fixture
def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def anvil_bin() -> Path:
    """Return the anvil binary; fail with the install hint when it is missing."""
    try:
        return find_anvil()
    except DevChainError as exc:
        pytest.fail(f"anvil is required for the dev chain tests: {exc}")


@pytest.fixture
def dev_chain(tmp_path: Path, free_port: int, anvil_bin: Path) -> Iterator[DevChain]:
    """Yield a not-yet-started dev chain in a fresh data dir; stop it afterwards."""
    chain = DevChain(tmp_path / "data", port=free_port)
    try:
        yield chain
    finally:
        chain.stop()
