"""Layered fixtures shared by every test package: chain -> deployment -> relayer -> signer."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount

from node.chain import ChainClient
from node.compile import compile_contracts, registry_abi
from node.deploy import Deployment, deploy, grant_roles
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

    def blocks(self) -> BlockIndex:
        """Replay every event since deployment into a fresh block index."""
        index = BlockIndex()
        head = self.client.block_number()
        for logs in self.client.iter_logs(
            self.deployment.registry, self.deployment.deploy_block, head
        ):
            index.apply_all(self.decoder.decode_all(logs))
        return index


@pytest.fixture(scope="session")
def registry(
    session_chain: DevChain,
    dev_keys: dict[str, LocalAccount],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Registry]:
    """Deploy the registry on the session chain, grant roles and run a relayer."""
    client = ChainClient(session_chain.rpc_url)
    deployments = tmp_path_factory.mktemp("deployments")
    deployment, _ = deploy(
        client, dev_keys["deployer"], dev_keys["registry_admin"].address, "AU", deployments
    )
    grant_roles(
        client,
        dev_keys["registry_admin"],
        deployment,
        deployments,
        {
            "issuer": [dev_keys["issuer"].address],
            "label_authority": [dev_keys["label_authority"].address],
            "relayer": [dev_keys["relayer"].address],
        },
    )
    abi = registry_abi(compile_contracts())
    relayer = Relayer(client, deployment.registry, abi, dev_keys["relayer"]).start()
    try:
        yield Registry(
            client=client,
            deployment=deployment,
            relayer=relayer,
            signer=RequestSigner(client, deployment.registry),
            keys=dev_keys,
            decoder=EventDecoder(abi),
        )
    finally:
        relayer.stop()
        client.close()
