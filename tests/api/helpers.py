"""Shared helpers of the API tests: SIWE sign-in, problem checks, a read scenario, PostgreSQL."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from node.contracts import AccountKind, ApprovalPolicy, CancellationPurpose
from node.devchain import DevChain
from node.ledger import BlockIndex
from tests.api.conftest import API_DOMAIN, ApiNode, build_node
from tests.indexer.script import YEAR, LedgerScript, rep
from tests.postgres import admin_url

__all__ = [
    "DATABASES",
    "World",
    "assert_problem",
    "build_world",
    "login",
    "personal_sign",
    "serve",
    "serve_world",
    "siwe_message",
    "stranger",
    "throwaway_postgres",
]

T = TypeVar("T")

DATABASES = ("sqlite", "postgresql")
PROBLEM_JSON = "application/problem+json"


# -- SIWE ------------------------------------------------------------------------------------


def siwe_message(
    address: str,
    nonce: str,
    chain_id: int,
    *,
    domain: str = API_DOMAIN,
    issued_at: datetime | None = None,
    expiration_time: datetime | None = None,
    statement: str | None = "Sign in to read the unit registry.",
) -> str:
    """Return a standard EIP-4361 message."""

    def stamp(moment: datetime) -> str:
        return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

    lines = [f"{domain} wants you to sign in with your Ethereum account:", address, ""]
    if statement is not None:
        lines += [statement, ""]
    lines += [
        f"URI: http://{domain}",
        "Version: 1",
        f"Chain ID: {chain_id}",
        f"Nonce: {nonce}",
        f"Issued At: {stamp(issued_at or datetime.now(UTC))}",
    ]
    if expiration_time is not None:
        lines.append(f"Expiration Time: {stamp(expiration_time)}")
    return "\n".join(lines)


def personal_sign(account: LocalAccount, message: str) -> str:
    """Return an EIP-191 personal_sign signature of a text message, 0x-hex."""
    return "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()


def login(client: TestClient, account: LocalAccount, domain: str = API_DOMAIN) -> dict[str, str]:
    """Sign in with SIWE as `account`; return the headers that carry its bearer token."""
    chain_id = int(client.get("/v1/chain").json()["chain_id"])
    nonce = client.post("/v1/auth/siwe/nonce").json()["nonce"]
    message = siwe_message(
        account.address,
        nonce,
        chain_id,
        domain=domain,
        expiration_time=datetime.now(UTC) + timedelta(hours=1),
    )
    response = client.post(
        "/v1/auth/siwe/verify",
        json={"message": message, "signature": personal_sign(account, message)},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    return {"Authorization": f"Bearer {body['access_token']}"}


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Check that a response is an RFC 9457 problem with a status and code; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["detail"] and body["title"] and body["type"]
    assert "Traceback" not in response.text
    return body


# -- PostgreSQL ------------------------------------------------------------------------------


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """Create an empty PostgreSQL database, yield its URL and drop it afterwards.

    The server is the one `tests.postgres` finds (the machine's, else an embedded one).
    """
    server = admin_url()
    admin = psycopg.connect(server, autocommit=True, connect_timeout=5)
    name = f"registry_api_test_{secrets.token_hex(6)}"
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


# -- the read scenario -----------------------------------------------------------------------

_periods = itertools.count()


@dataclass
class World:
    """A registry with accounts, projects, issuances, labels, transfers and cancellations."""

    node: ApiNode
    database: str
    alpha: int  # two_person, ar_1 (primary) and ar_2
    bravo: int  # single, ar_3
    charlie: int  # single, ar_4
    custody: int  # custodial, ar_3
    issuances: dict[str, tuple[int, int]]  # name -> serial range
    issuance_ids: dict[str, int]
    labels: dict[str, int]  # name -> label id
    approved: int
    pending: int
    rescinded: int
    single: int
    cancelled: int
    cancelled_ndc: int
    head: int

    @property
    def client(self) -> TestClient:
        """Return the API client."""
        return self.node.client

    @property
    def keys(self) -> dict[str, LocalAccount]:
        """Return the dev keys."""
        return self.node.keys

    def blocks(self) -> BlockIndex:
        """Replay the chain's events into a block index: the expected unit blocks."""
        return self.node.registry.blocks()

    def account_id(self, number: int) -> str:
        """Return an account number as the API writes it."""
        return self.node.account_id(number)

    def get(self, path: str, headers: dict[str, str] | None = None, /, **params: Any) -> Any:
        """GET a path that must answer 200; return the JSON body."""
        response = self.client.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()


def _issue(
    script: LedgerScript, project: str, unit_type: str, vintage: int, quantity: int, account: int
) -> tuple[int, int, int]:
    keys = script.keys
    start = 1_500_000_000 + next(_periods) * YEAR
    event = script.relay(
        script.signer.issue(
            keys["issuer"], project, unit_type, vintage, start, start + YEAR - 1, quantity, account
        )
    ).event("UnitsIssued")
    return int(event.args["start"]), int(event.args["end"]), int(event.args["issuanceId"])


def _label(script: LedgerScript, label_id: int, ranges: list[tuple[int, int]]) -> None:
    """Apply a label, cutting the ranges at the current block boundaries (one block per range)."""
    blocks = script.registry.blocks()
    pieces = []
    for start, end in ranges:
        while start <= end:
            block = blocks.containing(start)
            assert block is not None
            pieces.append((start, min(end, block.end)))
            start = block.end + 1
    script.label(label_id, True, pieces)


def _define_labels(script: LedgerScript, names: list[str]) -> dict[str, int]:
    """Define many labels in one relayer batch (consecutive nonces of the administrator)."""
    admin = script.keys["registry_admin"]
    authority = script.keys["label_authority"].address
    nonce = script.signer.next_nonce(admin.address)
    futures = [
        script.registry.relayer.submit(
            script.signer.define_label(admin, name, authority, nonce=nonce + i)
        )
        for i, name in enumerate(names)
    ]
    ids = {}
    for name, future in zip(names, futures, strict=True):
        outcome = future.result(120)
        assert outcome.ok, outcome.error
        ids[name] = int(outcome.event("LabelDefined").args["labelId"])
    return ids


def build_world(node: ApiNode, database: str = "sqlite") -> World:
    """Create the scenario's on-chain data through signed requests and wait until indexed."""
    registry = node.registry
    keys = node.keys
    script = LedgerScript(registry)
    signer = registry.signer
    script.relay(
        signer.register_project(keys["issuer"], "PRJ-ALPHA", "Savanna burning", "SFM 2018", "AU")
    )
    script.relay(
        signer.register_project(keys["issuer"], "PRJ-BRAVO", "Blue carbon", "BC 2022", "NZ")
    )
    script.relay(
        signer.register_project(keys["issuer"], "PRJ-CHARLIE", "Soil carbon", "SFM 2018", "AU")
    )
    alpha = script.open_account(
        ApprovalPolicy.TWO_PERSON,
        rep(keys["ar_1"].address, primary=True),
        rep(keys["ar_2"].address, approve=False),
        holder="Alpha Carbon",
    )
    bravo = script.open_account(
        ApprovalPolicy.SINGLE, rep(keys["ar_3"].address, primary=True), holder="Bravo Offsets"
    )
    charlie = script.open_account(
        ApprovalPolicy.SINGLE, rep(keys["ar_4"].address, primary=True), holder="Charlie Trading"
    )
    custody = int(
        script.relay(
            signer.open_account(
                keys["registry_admin"],
                "Delta Custody",
                [rep(keys["ar_3"].address, primary=True)],
                kind=AccountKind.CUSTODIAL,
                policy=ApprovalPolicy.SINGLE,
                party="NZ",
            )
        )
        .event("AccountOpened")
        .args["accountId"]
    )
    # Labels 0 and 1, fillers, then one past bit 63: bitmaps beyond 64-bit integers.
    fillers = [f"FILL-{i:02d}" for i in range(2, 70)]
    labels = _define_labels(script, ["CORSIA", "ART6", *fillers, "HIGH"])
    labels = {name: labels[name] for name in ("CORSIA", "ART6", "HIGH")}
    issued: dict[str, tuple[int, int]] = {}
    issuance_ids: dict[str, int] = {}
    for name, project, unit_type, vintage, quantity, account in (
        ("alpha_accu", "PRJ-ALPHA", "ACCU", 2021, 1000, alpha),
        ("alpha_vcu", "PRJ-BRAVO", "VCU", 2022, 500, alpha),
        ("bravo_accu", "PRJ-ALPHA", "ACCU", 2023, 200, bravo),
        ("charlie_accu", "PRJ-BRAVO", "ACCU", 2022, 50, charlie),
    ):
        start, end, issuance_id = _issue(script, project, unit_type, vintage, quantity, account)
        issued[name] = (start, end)
        issuance_ids[name] = issuance_id
    a, _ = issued["alpha_accu"]
    v, _ = issued["alpha_vcu"]
    b, _ = issued["bravo_accu"]
    _label(script, labels["CORSIA"], [(a + 100, a + 199), (v, v + 49)])
    _label(script, labels["ART6"], [(a + 150, a + 249)])
    _label(script, labels["HIGH"], [(a + 180, a + 189), (v + 40, v + 59)])
    approved = script.transfer("ar_2", alpha, bravo, [(a, a + 49)])
    script.decide("ar_1", approved, approve=True)
    pending = script.transfer("ar_1", alpha, charlie, [(a + 500, a + 519)])
    rescinded = script.transfer("ar_1", alpha, bravo, [(a + 600, a + 609)])
    script.decide("ar_1", rescinded, approve=False)
    single = script.transfer("ar_3", bravo, charlie, [(b, b + 19)])
    cancelled = script.cancel(
        "ar_1", alpha, [(a + 700, a + 749), (v + 400, v + 439)], beneficiary="Acme", reason="FY25"
    )
    cancelled_ndc = script.cancel(
        "ar_3",
        bravo,
        [(b + 100, b + 109)],
        purpose=CancellationPurpose.NDC_USE,
        beneficiary="Commonwealth",
        reason="NDC",
    )
    head = registry.client.block_number()
    node.wait_indexed(head)
    return World(
        node=node,
        database=database,
        alpha=alpha,
        bravo=bravo,
        charlie=charlie,
        custody=custody,
        issuances=issued,
        issuance_ids=issuance_ids,
        labels=labels,
        approved=approved,
        pending=pending,
        rescinded=rescinded,
        single=single,
        cancelled=cancelled,
        cancelled_ndc=cancelled_ndc,
        head=head,
    )


def serve(
    build: Callable[[ApiNode, str], T],
    database: str,
    chain: DevChain,
    keys: dict[str, LocalAccount],
    data_dir: Path,
) -> Iterator[T]:
    """Yield `build(node, database)` on a fresh registry whose mirror is SQLite or PostgreSQL."""
    with ExitStack() as stack:
        url = stack.enter_context(throwaway_postgres()) if database == "postgresql" else None
        nodes = build_node(chain, keys, data_dir, database_url=url)
        node = next(nodes)
        stack.callback(next, nodes, None)  # resume past its yield: stop the node
        yield build(node, database)


def serve_world(
    database: str, chain: DevChain, keys: dict[str, LocalAccount], data_dir: Path
) -> Iterator[World]:
    """Yield the read scenario on a fresh registry whose mirror is SQLite or PostgreSQL."""
    yield from serve(build_world, database, chain, keys, data_dir)


def stranger() -> LocalAccount:
    """Return a fresh key that holds no role and represents no account."""
    account: LocalAccount = Account.create()
    return account
