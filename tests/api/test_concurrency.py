"""Many signers at once over real HTTP: every request lands exactly once, no nonce error leaks."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import uvicorn
from eth_account import Account
from eth_account.signers.local import LocalAccount

from api.app import create_app
from node.contracts import ApprovalPolicy
from sdk import RegistryClient
from tests.api.conftest import ApiNode
from tests.conftest import _free_port
from tests.indexer.script import LedgerScript, rep

SIGNERS = 20
REQUESTS_EACH = 50


@pytest.fixture(scope="module")
def live_url(node: ApiNode) -> Iterator[str]:
    """Serve the node's app over real HTTP (uvicorn in a thread), journal worker included."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(node.services), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_concurrent_signers_all_land_once(node: ApiNode, live_url: str) -> None:
    script = LedgerScript(node.registry, project="CONCURRENT")
    sink = script.open_account(ApprovalPolicy.SINGLE, rep(node.keys["ar_4"].address, primary=True))
    signers: list[tuple[LocalAccount, int, int]] = []
    for _ in range(SIGNERS):
        key: LocalAccount = Account.create()
        account = script.open_account(ApprovalPolicy.SINGLE, rep(key.address, primary=True))
        start, _end = script.issue(account, REQUESTS_EACH)
        signers.append((key, account, start))
    node.wait_indexed(node.registry.client.block_number())

    def run(key: LocalAccount, account: int, start: int) -> list[str]:
        client = RegistryClient(live_url, key, domain="testserver")
        ids = []
        for serial in range(start, start + REQUESTS_EACH):
            typed = client.prepare(
                "transfers",
                {
                    "from_account": f"AU-{account}",
                    "to_account": f"AU-{sink}",
                    "ranges": [{"start": serial, "end": serial}],
                },
            )
            ids.append(client.submit("transfers", typed, client.sign(typed))["request_id"])
        return ids

    with ThreadPoolExecutor(max_workers=SIGNERS) as pool:
        results = list(pool.map(lambda s: run(*s), signers))  # any RegistryError fails the test
    ids = [request_id for batch in results for request_id in batch]
    assert len(set(ids)) == SIGNERS * REQUESTS_EACH

    reader = RegistryClient(live_url, node.keys["registry_admin"], domain="testserver")
    deadline = time.monotonic() + 180
    pending = set(ids)
    while pending and time.monotonic() < deadline:
        pending = {i for i in pending if reader.request(i)["status"] != "indexed"}
        time.sleep(0.2)
    # On failure, say what became of them: the status and the stable code of each.
    outcomes = [reader.request(i) for i in sorted(pending)[:5]]
    assert not pending, (
        len(pending),
        [(r["status"], (r["error"] or {}).get("code"), r["block_number"]) for r in outcomes],
        outcomes[:1],
    )
    contract = node.registry.contract
    for _key, _account, start in signers:
        for serial in (start, start + REQUESTS_EACH - 1):
            block, _labels = contract.functions.getBlock(serial).call()
            assert block[1] == sink
