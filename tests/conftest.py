"""Layered fixtures shared by every test package: chain -> deployment -> relayer -> signer."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from node.chain import ChainClient
from node.deploy import Deployment, deploy, grant_roles, load_abi
from node.devchain import DevChain, find_anvil
from node.errors import DevChainError
from node.keys import dev_accounts
from node.ledger import BlockIndex, EventDecoder
from node.relayer import Relayer
from node.signing import RequestSigner


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def dev_keys() -> dict[str, LocalAccount]:
    """Return the well-known dev key of every role."""
    return dev_accounts()


@pytest.fixture(scope="session")
def session_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevChain]:
    """Start one real anvil node for the session, in a throwaway data dir."""
    try:
        find_anvil()
    except DevChainError as exc:
        pytest.fail(f"anvil is required for the chain tests: {exc}")
    chain = DevChain(tmp_path_factory.mktemp("chain-data"), port=_free_port())
    chain.start()
    try:
        yield chain
    finally:
        chain.stop()


@dataclass
class Registry:
    """A deployed registry with its relayer, signer and a block index replayed from its events."""

    client: ChainClient
    deployment: Deployment
    relayer: Relayer
    signer: RequestSigner
    keys: dict[str, LocalAccount]
    decoder: EventDecoder
    deployments_dir: Path
    abi: list[dict[str, Any]]

    @property
    def contract(self) -> Contract:
        """Return the registry as a web3 contract with the full ABI (core plus modules)."""
        return self.client.w3.eth.contract(
            address=Web3.to_checksum_address(self.deployment.registry), abi=self.abi
        )

    def blocks(self) -> BlockIndex:
        """Replay every event since deployment into a fresh block index."""
        index = BlockIndex()
        head = self.client.block_number()
        for logs in self.client.iter_logs(
            self.deployment.registry, self.deployment.deploy_block, head
        ):
            index.apply_all(self.decoder.decode_all(logs))
        return index


def deploy_registry(rpc_url: str, keys: dict[str, LocalAccount], deployments: Path) -> Registry:
    """Deploy a registry on a chain, grant the dev roles and start a relayer."""
    client = ChainClient(rpc_url)
    deployment, _ = deploy(
        client, keys["deployer"], keys["registry_admin"].address, "AU", deployments
    )
    grant_roles(
        client,
        keys["registry_admin"],
        deployment,
        deployments,
        {
            "issuer": [keys["issuer"].address],
            "label_authority": [keys["label_authority"].address],
            "relayer": [keys["relayer"].address],
        },
    )
    # The ABI written at deployment, not a fresh compile: sources may change while the suite runs.
    abi = load_abi(deployments)
    return Registry(
        client=client,
        deployment=deployment,
        relayer=Relayer(client, deployment.registry, abi, keys["relayer"]).start(),
        signer=RequestSigner(client, deployment.registry),
        keys=keys,
        decoder=EventDecoder(abi),
        deployments_dir=deployments,
        abi=abi,
    )


@pytest.fixture(scope="session")
def registry(
    session_chain: DevChain,
    dev_keys: dict[str, LocalAccount],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Registry]:
    """Deploy the registry on the session chain, grant roles and run a relayer."""
    deployed = deploy_registry(
        session_chain.rpc_url, dev_keys, tmp_path_factory.mktemp("deployments")
    )
    try:
        yield deployed
    finally:
        deployed.relayer.stop()
        deployed.client.close()
