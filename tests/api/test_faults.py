"""Faults: acknowledged requests survive a killed API and a killed chain, applied exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import text

from indexer.db import create_engine, upgrade_database
from indexer.sync import Indexer
from node.contracts import ApprovalPolicy
from node.deploy import grant_roles
from node.devchain import DevChain
from node.keys import Keystore
from sdk import RegistryClient
from tests.api.conftest import ApiNode, build_node
from tests.conftest import Registry, _free_port, deploy_registry
from tests.indexer.script import LedgerScript, rep

PASSWORD = "fault-test-password"


# A two-person transfer logs TransferInitiated; a single-policy one TransferExecuted.
_TRANSFER_EVENTS = ("TransferInitiated", "TransferExecuted")


def _wait_for(predicate: Any, timeout: float, what: str, state: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {state() if state else ''}")
        time.sleep(0.05)


def _statuses(client: RegistryClient, ids: list[str]) -> list[tuple[str, Any]]:
    return [(r["status"], r["error"]) for r in map(client.request, ids)]


def _seller_and_buyer(registry: Registry, ar: LocalAccount, units: int) -> tuple[int, int, int]:
    """Open two single-policy accounts represented by `ar`; issue units to the first."""
    script = LedgerScript(registry, project="FAULTS")
    seller = script.open_account(ApprovalPolicy.SINGLE, rep(ar.address, primary=True))
    buyer = script.open_account(ApprovalPolicy.SINGLE, rep(ar.address, primary=True))
    start, _end = script.issue(seller, units)
    return seller, buyer, start


def _send_transfers(
    client: RegistryClient, seller: str, buyer: str, first: int, count: int
) -> list[str]:
    """Submit one-unit transfers of serials first.. without waiting; return their request ids."""
    ids = []
    for serial in range(first, first + count):
        typed = client.prepare(
            "transfers",
            {
                "from_account": seller,
                "to_account": buyer,
                "ranges": [{"start": serial, "end": serial}],
            },
        )
        accepted = client.submit("transfers", typed, client.sign(typed))
        assert accepted["status"] in ("accepted", "submitted", "confirmed", "indexed"), accepted
        ids.append(accepted["request_id"])
    return ids


def _applied(registry: Registry, buyer: int, first: int, count: int) -> bool:
    try:
        _assert_applied_once(registry, buyer, first, count)
    except AssertionError:
        return False
    return True


def _assert_applied_once(registry: Registry, buyer: int, first: int, count: int) -> None:
    contract = registry.contract
    for serial in range(first, first + count):
        block, _labels = contract.functions.getBlock(serial).call()
        assert block[1] == buyer, f"serial {serial} is in account {block[1]}, not {buyer}"
    # One transfer per request: exactly `count` transfers moved units into the buyer.
    completed = registry.client.w3.eth.get_logs(
        {
            "address": registry.deployment.registry,
            "fromBlock": registry.deployment.deploy_block,
            "toBlock": "latest",
            "topics": [[registry.decoder.topic(n) for n in _TRANSFER_EVENTS]],
        }
    )
    # The destination account is the last topic of both (TransferExecuted: single policy).
    to_buyer = [log for log in completed if int(log["topics"][-1].hex(), 16) == buyer]
    assert len(to_buyer) == count


# -- the API killed after acknowledging, before relaying ------------------------------------------


class ApiProcess:
    """`registry api` in a subprocess over a data dir."""

    def __init__(self, data_dir: Path, rpc_url: str, port: int) -> None:
        self.data_dir, self.rpc_url, self.port = data_dir, rpc_url, port
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "api.log"
        self.log = self.log_path.open("ab")

    def start(self, relay: bool) -> None:
        env = {
            **os.environ,
            "REGISTRY_DATA_DIR": str(self.data_dir),
            "REGISTRY_RPC_URL": self.rpc_url,
            "REGISTRY_API_PORT": str(self.port),
            "REGISTRY_API_DOMAIN": f"127.0.0.1:{self.port}",
            "REGISTRY_KEYSTORE_PASSWORD": PASSWORD,
            "REGISTRY_API_RELAY": "true" if relay else "false",
        }
        registry = Path(sys.executable).parent / "registry"
        self.process = subprocess.Popen(
            [str(registry), "api"], env=env, stdout=subprocess.DEVNULL, stderr=self.log
        )

        def healthy() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(self.log_path.read_text())
            try:
                return httpx.get(f"http://127.0.0.1:{self.port}/v1/health").status_code == 200
            except httpx.HTTPError:
                return False

        _wait_for(healthy, 60, "the API to start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


@pytest.fixture
def api_process(
    session_chain: DevChain, dev_keys: dict[str, LocalAccount], tmp_path: Path
) -> Iterator[tuple[ApiProcess, Registry]]:
    """A fresh registry whose API runs as `registry api`, with an indexer thread beside it."""
    registry = deploy_registry(session_chain.rpc_url, dev_keys, tmp_path / "deployments")
    relayer: LocalAccount = Account.create()
    registry.client.w3.provider.make_request(  # type: ignore[attr-defined]
        "anvil_setBalance", [relayer.address, hex(10**24)]
    )
    grant_roles(
        registry.client,
        dev_keys["registry_admin"],
        registry.deployment,
        registry.deployments_dir,
        {"relayer": [relayer.address]},
    )
    Keystore(tmp_path / "keystore").import_key("relayer", relayer.key, PASSWORD)
    engine = create_engine(f"sqlite:///{tmp_path / 'mirror.sqlite3'}")
    upgrade_database(engine)
    indexer = Indexer(engine, registry.client, registry.deployment, registry.abi, progress=False)
    stop = threading.Event()
    thread = threading.Thread(target=indexer.run_forever, args=(0.05, stop), daemon=True)
    thread.start()
    process = ApiProcess(tmp_path, session_chain.rpc_url, _free_port())
    try:
        yield process, registry
    finally:
        process.stop()
        stop.set()
        thread.join(timeout=10)
        registry.relayer.stop()
        engine.dispose()


def test_requests_acknowledged_before_a_kill_complete_after_restart(
    api_process: tuple[ApiProcess, Registry],
) -> None:
    process, registry = api_process
    ar: LocalAccount = Account.create()
    seller, buyer, first = _seller_and_buyer(registry, ar, 100)
    process.start(relay=False)  # journal only: nothing can be relayed before the kill
    client = RegistryClient(f"http://127.0.0.1:{process.port}", ar)
    ids = _send_transfers(client, f"AU-{seller}", f"AU-{buyer}", first, 12)
    assert {client.request(i)["status"] for i in ids} == {"accepted"}
    process.kill()

    process.start(relay=True)
    _wait_for(
        lambda: all(client.request(i)["status"] == "indexed" for i in ids),
        90,
        "every request",
        lambda: _statuses(client, ids),
    )
    _assert_applied_once(registry, buyer, first, 12)


# -- the chain killed after acknowledgements, restarted from its state file ---------------------


@pytest.fixture
def own_chain(tmp_path: Path) -> Iterator[DevChain]:
    """An anvil of this test's own, so killing it harms no other test."""
    chain = DevChain(tmp_path / "chain-data", port=_free_port())
    chain.start()
    try:
        yield chain
    finally:
        chain.stop()


def test_requests_survive_a_killed_chain(
    own_chain: DevChain, dev_keys: dict[str, LocalAccount], tmp_path: Path
) -> None:
    nodes = build_node(own_chain, dev_keys, tmp_path / "node", receipt_timeout_seconds=5.0)
    node: ApiNode = next(nodes)
    try:
        ar: LocalAccount = Account.create()
        seller, buyer, first = _seller_and_buyer(node.registry, ar, 200)
        client = RegistryClient(node.client, ar, domain="testserver")
        ids = _send_transfers(client, f"AU-{seller}", f"AU-{buyer}", first, 20)
        _wait_for(
            lambda: all(client.request(i)["status"] == "indexed" for i in ids), 60, "first half"
        )
        # The state file as anvil last dumped it: what a SIGKILL right now would restart from.
        time.sleep(1.5)  # anvil dumps every second
        saved = own_chain.state_path.read_bytes()
        more = _send_transfers(client, f"AU-{seller}", f"AU-{buyer}", first + 20, 20)
        ids += more
        _wait_for(
            lambda: sum(client.request(i)["status"] in ("confirmed", "indexed") for i in more) >= 5,
            60,
            "confirmations after the saved state",
        )
        pid = own_chain.pid
        assert pid is not None
        head_before = own_chain.block_number()
        os.kill(pid, signal.SIGKILL)
        own_chain.state_path.write_bytes(saved)
        time.sleep(0.5)
        own_chain.start()
        assert own_chain.block_number() < head_before  # acknowledged requests were lost
        # Statuses said `indexed` before the restart; wait until the mirror has seen the loss.
        _wait_for(
            lambda: node.services.indexed_block() < head_before, 60, "the mirror to roll back"
        )
        _wait_for(
            lambda: all(client.request(i)["status"] == "indexed" for i in ids),
            120,
            "every request to be indexed after the restart",
            lambda: _statuses(client, ids),
        )
        _assert_applied_once(node.registry, buyer, first, 40)
        with node.services.engine.connect() as conn:
            resent = conn.execute(text("SELECT count(*) FROM api_requests WHERE attempts > 1"))
            assert resent.scalar()  # some requests were relayed again
    finally:
        nodes.close()


def test_while_the_chain_is_down_reads_answer_and_prepared_writes_are_journaled(
    own_chain: DevChain, dev_keys: dict[str, LocalAccount], tmp_path: Path
) -> None:
    """The chain away: the mirror answers, health says degraded, a write prepared before is
    journaled (202) and relayed once the chain is back; a write needing the chain gets a code."""
    nodes = build_node(own_chain, dev_keys, tmp_path / "node", receipt_timeout_seconds=5.0)
    node: ApiNode = next(nodes)
    try:
        ar: LocalAccount = Account.create()
        seller, buyer, first = _seller_and_buyer(node.registry, ar, 50)
        client = RegistryClient(node.client, ar, domain="testserver")
        signed = [
            client.sign_write(
                "transfers",
                {
                    "from_account": f"AU-{seller}",
                    "to_account": f"AU-{buyer}",
                    "ranges": [{"start": serial, "end": serial}],
                },
            )
            for serial in range(first, first + 5)
        ]
        client.login()  # reads of the account are its AR's
        time.sleep(1.5)  # anvil dumps its state every second: the restart loses nothing here
        pid = own_chain.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        _wait_for(lambda: not own_chain.is_healthy(), 10, "the chain to go")
        assert node.client.get("/v1/health").json()["status"] == "degraded"
        holdings = client.get(f"/v1/accounts/AU-{seller}/holdings")
        assert holdings["items"], holdings  # the mirror answers
        ids = []
        for item in signed:
            answer = node.client.post(
                "/v1/transfers",
                json={"typed_data": item.typed_data, "signature": item.signature},
            )
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["request_id"])
        # Registering a project needs the issuer role, which only the chain can confirm.
        needs_chain = node.client.post(
            "/v1/admin/projects/prepare",
            json={
                "signer": dev_keys["issuer"].address,
                "project_id": "DOWN-1",
                "name": "x",
                "country": "AU",
            },
        )
        assert needs_chain.status_code == 503, needs_chain.text
        assert needs_chain.json()["code"] == "CHAIN_UNAVAILABLE"
        own_chain.start()
        _wait_for(
            lambda: all(client.request(i)["status"] == "indexed" for i in ids),
            120,
            "the journaled writes to be relayed and indexed",
            lambda: _statuses(client, ids),
        )
        _assert_applied_once(node.registry, buyer, first, 5)
    finally:
        nodes.close()
