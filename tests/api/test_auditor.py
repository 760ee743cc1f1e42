"""The auditor's own path: `registry audit --rpc-url URL --registry ADDRESS [--api URL]`.

Run as the auditor would, as a separate process with nothing but the chain's URL, the registry's
address and the operator's public API URL: no data directory, no manifest, no ABI file.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from eth_account.signers.local import LocalAccount
from sqlalchemy import text

from api.app import create_app
from indexer.independent import find_deployment, packaged_abi
from node.chain import ChainClient
from node.compile import load_artifacts, registry_abi
from node.devchain import DevChain
from tests.api.conftest import build_node
from tests.api.public_world import PublicWorld, build_public_world

REGISTRY = str(Path(sys.executable).with_name("registry"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def served(
    session_chain: DevChain,
    dev_keys: dict[str, LocalAccount],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[PublicWorld, str]]:
    """The public scenario on SQLite, its API served over HTTP on 127.0.0.1."""
    nodes = build_node(session_chain, dev_keys, tmp_path_factory.mktemp("audited"))
    node = next(nodes)
    try:
        public = build_public_world(node)
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(node.services, run_workers=False),
                host="127.0.0.1",
                port=port,
                log_level="warning",
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        try:
            yield public, f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=30)
    finally:
        next(nodes, None)


def _audit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # A clean directory and environment: no data dir, manifest or database of the operator.
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [REGISTRY, "audit", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_packaged_abi_is_the_compiled_one() -> None:
    compiled = json.loads(json.dumps(registry_abi(load_artifacts()), sort_keys=True))
    assert packaged_abi() == compiled, "run `.venv/bin/python -m scripts.packaged_abi`"


def test_the_deployment_is_found_from_the_address(served: tuple[PublicWorld, str]) -> None:
    public, _ = served
    registry = public.world.node.registry
    client = ChainClient(registry.client.rpc_url)
    found = find_deployment(client, registry.deployment.registry.lower(), packaged_abi())
    assert found.registry == registry.deployment.registry
    # The first block with the registry's code: at or after the manifest's (which counts from
    # the first module deployed), never after the registry's first event.
    assert registry.deployment.deploy_block <= found.deploy_block
    assert client.request("eth_getCode", [found.registry, hex(found.deploy_block - 1)]) == "0x"
    assert client.request("eth_getCode", [found.registry, hex(found.deploy_block)]) != "0x"
    logs = client.iter_logs(found.registry, 0, client.block_number())
    first_log = next(log for chunk in logs for log in chunk)
    assert found.deploy_block <= first_log["blockNumber"]
    assert found.registry_code == "AU"
    assert found.chain_id == registry.deployment.chain_id


def test_an_auditor_needs_only_the_rpc_url_and_the_address(
    served: tuple[PublicWorld, str], tmp_path: Path
) -> None:
    public, api = served
    registry = public.world.node.registry
    rpc = registry.client.rpc_url
    done = _audit("--rpc-url", rpc, "--registry", registry.deployment.registry, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "The mirror equals the chain." in done.stdout
    found = find_deployment(ChainClient(rpc), registry.deployment.registry, packaged_abi())
    assert f"reading logs from block {found.deploy_block}." in done.stdout
    audited = re.search(r"Audit at block (\d+)", done.stdout)
    assert audited is not None and int(audited.group(1)) >= public.head
    assert list(tmp_path.iterdir()) == []  # it left nothing behind
    with_api = _audit(
        "--rpc-url", rpc, "--registry", registry.deployment.registry, "--api", api, cwd=tmp_path
    )
    assert with_api.returncode == 0, with_api.stdout + with_api.stderr
    assert "The operator's public registers equal the chain." in with_api.stdout
    assert "4 cancellations" in with_api.stdout


def test_an_address_without_a_registry_is_refused(
    served: tuple[PublicWorld, str], tmp_path: Path
) -> None:
    public, _ = served
    rpc = public.world.node.registry.client.rpc_url
    nobody = "0x" + "12" * 20
    done = _audit("--rpc-url", rpc, "--registry", nobody, cwd=tmp_path)
    assert done.returncode == 2
    assert "There is no contract at" in done.stdout
    assert _audit("--registry", nobody, cwd=tmp_path).returncode == 2  # no --rpc-url
    registry = public.world.node.registry.deployment.registry
    closed = f"http://127.0.0.1:{_free_port()}"
    unreachable = _audit("--rpc-url", rpc, "--registry", registry, "--api", closed, cwd=tmp_path)
    assert unreachable.returncode == 2
    assert "Cannot read" in unreachable.stdout


def test_a_tampered_mirror_is_named(served: tuple[PublicWorld, str], tmp_path: Path) -> None:
    public, api = served
    world = public.world
    registry = world.node.registry
    engine = world.node.services.engine
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE cancellations SET beneficiary = 'Mallory' WHERE id = :id"),
            {"id": world.cancelled},
        )
    try:
        done = _audit(
            "--rpc-url",
            registry.client.rpc_url,
            "--registry",
            registry.deployment.registry,
            "--api",
            api,
            cwd=tmp_path,
        )
    finally:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE cancellations SET beneficiary = 'Acme' WHERE id = :id"),
                {"id": world.cancelled},
            )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "The mirror equals the chain." in done.stdout  # the auditor's own mirror is right
    accu = f"{world.cancelled}/{world.issuance_ids['alpha_accu']}"
    assert f"DIFFERENCE cancellations {accu} beneficiary: chain 'Acme' / api 'Mallory'" in (
        done.stdout
    )
    assert "differ from the chain" in done.stdout
