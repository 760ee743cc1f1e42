"""Fixtures for the API tests: a fresh registry, its mirror, an indexer thread and the app.

Layers: session chain -> registry deployment -> mirror database + indexer -> services -> client.
The API gets a deployment of its own (so its journal and mirror start empty) and a relayer key of
its own (so it never races the session relayer for transaction nonces).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient

from api.app import create_app
from api.config import ApiSettings
from api.services import Services
from indexer.service import follow
from indexer.sync import Indexer
from node.deploy import grant_roles
from node.devchain import DevChain
from tests.conftest import Registry, deploy_registry

API_DOMAIN = "testserver"  # the Host TestClient sends; SIWE messages must name it


@dataclass
class ApiNode:
    """A running API over a fresh registry, with the tools to drive and inspect it."""

    registry: Registry
    services: Services
    client: TestClient
    keys: dict[str, LocalAccount]

    def wait_indexed(self, block: int, timeout: float = 30.0) -> None:
        """Wait until the background indexer has reached a block."""
        deadline = time.monotonic() + timeout
        while self.services.indexed_block() < block:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the mirror did not reach block {block}")
            time.sleep(0.02)

    def account_id(self, number: int) -> str:
        """Return an account number as the API writes it."""
        return f"{self.services.registry_code}-{number}"


def _relayer_key(registry: Registry) -> LocalAccount:
    key: LocalAccount = Account.create()
    registry.client.w3.provider.make_request(  # type: ignore[attr-defined]
        "anvil_setBalance", [key.address, hex(10**24)]
    )
    grant_roles(
        registry.client,
        registry.keys["registry_admin"],
        registry.deployment,
        registry.deployments_dir,
        {"relayer": [key.address]},
    )
    return key


def build_node(
    chain: DevChain,
    keys: dict[str, LocalAccount],
    data_dir: Path,
    database_url: str | None = None,
    **settings: Any,
) -> Iterator[ApiNode]:
    """Deploy a registry, start its indexer thread and yield an ApiNode around a TestClient."""
    deployments = data_dir / "deployments"
    registry = deploy_registry(chain.rpc_url, keys, deployments)
    config = ApiSettings(
        data_dir=data_dir,
        rpc_url=chain.rpc_url,
        database_url=database_url,
        api_domain=API_DOMAIN,
        **settings,
    )
    services = Services.from_settings(config, relayer_key=_relayer_key(registry))
    indexer = Indexer(
        services.engine, services.client, services.deployment, services.abi, progress=False
    )
    stop = threading.Event()
    # The indexer role's loop: it publishes `mirror`, which wakes the journal worker at once.
    thread = threading.Thread(
        target=follow, args=(indexer, services.notifier, 0.05, stop), daemon=True
    )
    thread.start()
    try:
        with TestClient(create_app(services)) as client:
            yield ApiNode(registry, services, client, keys)
    finally:
        stop.set()
        thread.join(timeout=10)
        registry.relayer.stop()
        services.engine.dispose()


@pytest.fixture(scope="module")
def node(
    session_chain: DevChain,
    dev_keys: dict[str, LocalAccount],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ApiNode]:
    """Yield an API node on SQLite, shared by the tests of one module."""
    yield from build_node(session_chain, dev_keys, tmp_path_factory.mktemp("api-node"))
