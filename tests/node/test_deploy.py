"""Idempotent deployment against a real anvil: reuse when live, redeploy when the chain is new."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account

from node.chain import ChainClient
from node.deploy import deploy, grant_roles, load_manifest
from node.devchain import DevChain
from node.errors import ChainError
from node.keys import dev_accounts


def test_deploy_is_idempotent_and_survives_a_chain_reset(
    dev_chain: DevChain, tmp_path: Path
) -> None:
    keys = dev_accounts()
    deployments = tmp_path / "deployments"
    dev_chain.start()
    client = ChainClient(dev_chain.rpc_url)

    first, fresh = deploy(
        client, keys["deployer"], keys["registry_admin"].address, "AU", deployments
    )
    assert fresh
    again, fresh_again = deploy(
        client, keys["deployer"], keys["registry_admin"].address, "AU", deployments
    )
    assert not fresh_again and again.contracts == first.contracts
    assert load_manifest(deployments, client.chain_id).registry == first.registry
    assert (deployments / "UnitRegistry.abi.json").exists()

    granted = grant_roles(
        client, keys["registry_admin"], first, deployments, {"relayer": [keys["relayer"].address]}
    )
    blocks = client.block_number()
    grant_roles(
        client, keys["registry_admin"], granted, deployments, {"relayer": [keys["relayer"].address]}
    )
    assert client.block_number() == blocks, "a grant already in place must not send a transaction"

    # A dev chain started without its state file has none of the recorded code: deploy anew.
    dev_chain.stop()
    dev_chain.state_path.unlink()
    dev_chain.start()
    client = ChainClient(dev_chain.rpc_url)
    fresh_deployment, fresh = deploy(
        client, keys["deployer"], keys["registry_admin"].address, "AU", deployments
    )
    assert fresh
    assert client.code_at(fresh_deployment.registry)


def test_state_persists_across_a_graceful_restart(dev_chain: DevChain, tmp_path: Path) -> None:
    keys = dev_accounts()
    deployments = tmp_path / "deployments"
    dev_chain.start()
    deployment, _ = deploy(
        ChainClient(dev_chain.rpc_url),
        keys["deployer"],
        keys["registry_admin"].address,
        "AU",
        deployments,
    )
    dev_chain.stop()
    dev_chain.start()
    again, fresh = deploy(
        ChainClient(dev_chain.rpc_url),
        keys["deployer"],
        keys["registry_admin"].address,
        "AU",
        deployments,
    )
    assert not fresh and again.registry == deployment.registry


def test_an_unfunded_deployer_gets_one_line_to_act_on(dev_chain: DevChain, tmp_path: Path) -> None:
    dev_chain.start()
    client = ChainClient(dev_chain.rpc_url)
    broke = Account.create()
    with pytest.raises(ChainError) as refused:
        deploy(client, broke, broke.address, "AU", tmp_path / "deployments")
    message = str(refused.value)
    assert "cannot pay for gas" in message and broke.address in message, message
    assert "{" not in message  # not a raw JSON-RPC error dict
