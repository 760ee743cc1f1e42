"""Benchmark the API against baselines measured in the same run; prints numbers, asserts nothing.

Writes: signed one-unit transfers through the API (prepare -> sign -> submit, several signers at
once), counted from the first submission until every request is `indexed`; against the same
contract call (`initiateTransfer` with a signed request) sent straight to anvil as pre-signed
transactions, counted until the last receipt.

Reads: holdings reads per second and their p50/p99 latency, against a trivial FastAPI endpoint
served the same way (uvicorn, same process, same client threads).

    .venv/bin/python -m scripts.bench_api [--requests 1000] [--signers 8] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from eth_account import Account
from eth_account.signers.local import LocalAccount
from fastapi import FastAPI
from sqlalchemy import text

from api.app import create_app
from node.contracts import ApprovalPolicy
from node.devchain import DevChain
from node.keys import dev_accounts
from sdk import RegistryClient
from tests.api.conftest import ApiNode, build_node
from tests.conftest import _free_port
from tests.indexer.script import LedgerScript, rep


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Serve an app with uvicorn in a thread; yield its base URL."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def accounts_with_units(
    node: ApiNode, signers: int, units: int
) -> tuple[int, list[tuple[LocalAccount, int, int]]]:
    """Open a sink account and `signers` funded accounts; return (sink, [(key, account, start)])."""
    script = LedgerScript(node.registry, project=f"BENCH-{time.time_ns()}")
    sink = script.open_account(ApprovalPolicy.SINGLE, rep(node.keys["ar_4"].address, primary=True))
    out = []
    for _ in range(signers):
        key: LocalAccount = Account.create()
        account = script.open_account(ApprovalPolicy.SINGLE, rep(key.address, primary=True))
        start, _end = script.issue(account, units)
        out.append((key, account, start))
    node.wait_indexed(node.registry.client.block_number())
    return sink, out


def bench_api_writes(node: ApiNode, url: str, requests: int, signers: int) -> tuple[float, float]:
    """Return (accepted -> indexed transfers/s, prepare + sign + submit -> indexed transfers/s)."""
    each = requests // signers
    sink, funded = accounts_with_units(node, signers, 2 * each)

    def prepared(key: LocalAccount, account: int, first: int) -> list[str]:
        client = RegistryClient(url, key, domain="testserver")
        out = []
        for serial in range(first, first + each):
            typed = client.prepare(
                "transfers",
                {
                    "from_account": f"AU-{account}",
                    "to_account": f"AU-{sink}",
                    "ranges": [{"start": serial, "end": serial}],
                },
            )
            out.append(json.dumps({"typed_data": typed, "signature": client.sign(typed)}))
        return out

    def submit_all(bodies: list[str]) -> None:
        with httpx.Client(base_url=url) as http:
            for body in bodies:
                response = http.post(
                    "/v1/transfers", content=body, headers={"content-type": "application/json"}
                )
                assert response.status_code == 202, response.text

    def full(key: LocalAccount, account: int, first: int) -> None:
        submit_all(prepared(key, account, first))

    # 1. Signed requests submitted (prepared and signed beforehand, as a platform would batch them).
    with ThreadPoolExecutor(max_workers=signers) as pool:
        signed = list(pool.map(lambda f: prepared(*f), funded))
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=signers) as pool:
        list(pool.map(submit_all, signed))
    _wait_settled(node)
    accepted_rate = signers * each / (time.perf_counter() - started)
    # 2. The whole client round: prepare, sign, submit.
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=signers) as pool:
        list(pool.map(lambda f: full(f[0], f[1], f[2] + each), funded))
    _wait_settled(node)
    full_rate = signers * each / (time.perf_counter() - started)
    return accepted_rate, full_rate


def _wait_settled(node: ApiNode) -> None:
    with node.services.engine.connect() as conn:
        while conn.execute(
            text("SELECT count(*) FROM api_requests WHERE status NOT IN ('indexed', 'failed')")
        ).scalar():
            conn.rollback()
            time.sleep(0.01)
        failed = conn.execute(text("SELECT count(*) FROM api_requests WHERE status = 'failed'"))
        if failed.scalar():
            raise SystemExit("some benchmark requests failed; the benchmark is broken")


def bench_raw_writes(node: ApiNode, requests: int) -> float:
    """Return pre-signed `initiateTransfer` transactions per second mined by anvil directly."""
    sink, funded = accounts_with_units(node, 1, requests)
    key, account, start = funded[0]
    registry = node.registry
    relayer = node.keys["relayer"]
    contract = registry.contract
    w3 = registry.client.w3
    nonce = w3.eth.get_transaction_count(relayer.address)
    raw = []
    first_nonce = registry.signer.next_nonce(key.address)
    for i, serial in enumerate(range(start, start + requests)):
        signed = registry.signer.sign(
            key,
            "InitiateTransfer",
            {
                "fromAccount": account,
                "toAccount": sink,
                "ranges": [{"start": serial, "end": serial}],
            },
            block_hints=[serial],
            nonce=first_nonce + i,
        )
        function, args = signed.call_args()
        tx = {
            "from": relayer.address,
            "to": contract.address,
            "data": contract.encode_abi(function, args=args),
            "gas": 400_000,
            "gasPrice": w3.eth.gas_price,
            "nonce": nonce + i,
            "chainId": registry.client.chain_id,
        }
        raw.append(relayer.sign_transaction(tx).raw_transaction)
    started = time.perf_counter()
    hashes = [w3.eth.send_raw_transaction(tx) for tx in raw]
    receipt = w3.eth.wait_for_transaction_receipt(hashes[-1], timeout=300)
    elapsed = time.perf_counter() - started
    if receipt["status"] != 1 or w3.eth.get_transaction_receipt(hashes[0])["status"] != 1:
        raise SystemExit("the baseline transactions reverted; the benchmark is broken")
    return requests / elapsed


def bench_reads(
    url: str, path: str, headers: dict[str, str], seconds: float, threads: int
) -> tuple[float, float, float]:
    """Return (reads per second, p50 ms, p99 ms) of GET path from `threads` clients."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def run() -> None:
        mine = []
        with httpx.Client(base_url=url, headers=headers) as client:
            while time.perf_counter() < stop:
                began = time.perf_counter()
                response = client.get(path)
                mine.append(time.perf_counter() - began)
                assert response.status_code == 200, response.text
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    return len(latencies) / elapsed, p50, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--signers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        chain = DevChain(Path(tmp) / "chain", port=_free_port()).start()
        nodes = build_node(chain, dev_accounts(), Path(tmp) / "node")
        node = next(nodes)
        try:
            with serve(create_app(node.services)) as url:
                raw = bench_raw_writes(node, args.requests)
                api, api_full = bench_api_writes(node, url, args.requests, args.signers)
                reader = RegistryClient(url, node.keys["ar_4"], domain="testserver")
                token = reader.login()
                sink = node.services.registry_code + "-1000001"
                headers = {"Authorization": f"Bearer {token}"}
                holdings = bench_reads(
                    url,
                    f"/v1/accounts/{sink}/holdings?limit=100",
                    headers,
                    args.seconds,
                    args.threads,
                )
            trivial_app = FastAPI()
            trivial_app.get("/ping")(lambda: {"ok": True})
            with serve(trivial_app) as trivial_url:
                trivial = bench_reads(trivial_url, "/ping", {}, args.seconds, args.threads)
        finally:
            nodes.close()
            chain.stop()
    print(f"{'measure':<44}{'value':>12}")
    print(f"{'raw anvil initiateTransfer tx/s':<44}{raw:>12.1f}")
    print(f"{'API signed transfers submit->indexed /s':<44}{api:>12.1f}")
    print(f"{'  ratio API / raw':<44}{api / raw:>12.2f}")
    print(f"{'API prepare+sign+submit->indexed /s':<44}{api_full:>12.1f}")
    print(f"{'  ratio API (whole round) / raw':<44}{api_full / raw:>12.2f}")
    print(f"{'holdings reads/s':<44}{holdings[0]:>12.1f}")
    print(f"{'  p50 / p99 ms':<44}{holdings[1]:>6.1f} /{holdings[2]:>5.1f}")
    print(f"{'trivial FastAPI endpoint reads/s':<44}{trivial[0]:>12.1f}")
    print(f"{'  p50 / p99 ms':<44}{trivial[1]:>6.1f} /{trivial[2]:>5.1f}")
    print(f"{'  ratio holdings / trivial':<44}{holdings[0] / trivial[0]:>12.2f}")


if __name__ == "__main__":
    main()
