"""Hostile input the first outside attack found (issue 11): each is refused, and changes nothing.

The deep-nesting body that killed the process is also sent to a real `registry up` node in
tests/e2e/test_hostile_input.py, where a crash shows as a dead process rather than a dead pytest.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_keys.constants import SECPK1_N
from sqlalchemy import func, select

from api.limits import MAX_JSON_DEPTH, body_limit, json_depth_exceeds
from api.models import JournalEntry
from api.webhooks.egress import EgressPolicy, EgressRefused
from sdk import RegistryClient
from sdk.client import RegistryError
from tests.api.conftest import ApiNode
from tests.api.helpers import assert_problem, login

TypedData = dict[str, Any]


@pytest.fixture(scope="module")
def holder(node: ApiNode) -> dict[str, Any]:
    """Open a single-policy seller with two vintages and a buyer; return ids, keys, ranges."""
    ar, buyer_ar = Account.create(), Account.create()
    admin = RegistryClient(node.client, node.keys["registry_admin"], domain="testserver")
    account = admin.write(
        "admin/accounts",
        {
            "holder_name": "Hardening Pty Ltd",
            "approval_policy": "single",
            "representatives": [{"address": ar.address, "primary": True}],
        },
    )["result"]["account_id"]
    buyer = admin.write(
        "admin/accounts",
        {
            "holder_name": "Buyer",
            "representatives": [{"address": buyer_ar.address, "primary": True}],
        },
    )["result"]["account_id"]
    issuer = RegistryClient(node.client, node.keys["issuer"], domain="testserver")
    issuer.write("admin/projects", {"project_id": "HARD-1", "name": "Hardening", "country": "AU"})
    ranges = {}
    for vintage in (2024, 2021):  # the older vintage is issued last, so "oldest first" is visible
        ranges[vintage] = issuer.write(
            "admin/issuances",
            {
                "project_id": "HARD-1",
                "unit_type": "ACCU",
                "vintage": vintage,
                "monitoring_period_start": f"{vintage}-01-01",
                "monitoring_period_end": f"{vintage}-12-31",
                "quantity": 30,
                "to_account": account,
            },
        )["result"]["ranges"][0]
    return {"account": account, "buyer": buyer, "ar": ar, "buyer_ar": buyer_ar, "ranges": ranges}


def _sign(key: LocalAccount, typed: TypedData) -> bytes:
    return bytes(key.sign_message(encode_typed_data(full_message=typed)).signature)


def _journal_size(node: ApiNode) -> int:
    with node.services.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(JournalEntry)).scalar_one())


def _prepare(node: ApiNode, holder: dict[str, Any], **intent: Any) -> TypedData:
    body = {
        "signer": holder["ar"].address,
        "from_account": holder["account"],
        "to_account": holder["buyer"],
        **intent,
    }
    response = node.client.post("/v1/transfers/prepare", json=body)
    assert response.status_code == 200, response.text
    typed: TypedData = response.json()["typed_data"]
    return typed


# -- 1. bodies are bounded before any parser --------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/v1/auth/siwe/verify",
        "/v1/transfers/prepare",
        "/v1/transfers",
        "/v1/webhooks/subscriptions",
    ],
)
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 100_000])
def test_deeply_nested_bodies_are_refused_before_parsing(
    node: ApiNode, path: str, depth: int
) -> None:
    before = _journal_size(node)
    started = time.perf_counter()
    response = node.client.post(
        path, content="[" * depth + "]" * depth, headers={"content-type": "application/json"}
    )
    elapsed = time.perf_counter() - started
    if len("[" * depth) * 2 > body_limit(path):
        assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
    else:
        assert_problem(response, 400, "JSON_TOO_DEEP")
    assert elapsed < 2, elapsed
    assert _journal_size(node) == before


def test_nesting_inside_strings_does_not_count_and_real_bodies_pass() -> None:
    assert not json_depth_exceeds(b'{"a": "' + b"[" * 10_000 + b'"}')
    assert not json_depth_exceeds(b'{"a": [[[[1]]]], "b": "\\"[[[["}')
    assert json_depth_exceeds(b"{" * 33 + b"}" * 33)
    assert not json_depth_exceeds(b"[" * 32 + b"]" * 32)
    # Invalid UTF-8 and unterminated strings are judged on their brackets, never skipped.
    assert json_depth_exceeds(b'"\xff' + b"[" * 40)


def test_bodies_over_the_route_limit_are_refused(node: ApiNode) -> None:
    big = b'{"message": "' + b"a" * (body_limit("/v1/auth/siwe/verify") + 1) + b'"}'
    response = node.client.post(
        "/v1/auth/siwe/verify", content=big, headers={"content-type": "application/json"}
    )
    assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
    # Declared too large: refused from the header alone.
    response = node.client.post(
        "/v1/transfers/prepare",
        content=b"{}",
        headers={"content-type": "application/json", "content-length": str(10**9)},
    )
    assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
    response = node.client.post(
        "/v1/transfers/prepare",
        content=b"{}",
        headers={"content-type": "application/json", "content-length": "lots"},
    )
    assert_problem(response, 400, "INVALID_CONTENT_LENGTH")


# -- 2. a high-s copy of a signature cannot poison the request ---------------------------------


def test_high_s_copy_is_refused_and_the_genuine_signature_applies(
    node: ApiNode, holder: dict[str, Any]
) -> None:
    typed = _prepare(node, holder, quantity=1)
    genuine = _sign(holder["ar"], typed)
    r, s, v = genuine[:32], int.from_bytes(genuine[32:64], "big"), genuine[64]
    malleated = r + (SECPK1_N - s).to_bytes(32, "big") + bytes([55 - v])  # 27 <-> 28
    assert Account.recover_message(
        encode_typed_data(full_message=typed), signature=malleated
    ) == str(holder["ar"].address)  # the copy is a valid signature by the same key...
    before = _journal_size(node)
    copy = node.client.post(
        "/v1/transfers", json={"typed_data": typed, "signature": "0x" + malleated.hex()}
    )
    problem = assert_problem(copy, 422, "INVALID_SIGNATURE")  # ...that the chain would refuse
    assert "lower half" in problem["detail"]
    assert _journal_size(node) == before
    for v_byte in (0, 1):  # v as 0/1 is refused as well: OpenZeppelin's ECDSA takes 27/28 only
        other = genuine[:64] + bytes([v_byte])
        response = node.client.post(
            "/v1/transfers", json={"typed_data": typed, "signature": "0x" + other.hex()}
        )
        assert_problem(response, 422, "INVALID_SIGNATURE")
    applied = node.client.post(
        "/v1/transfers?wait=indexed",
        json={"typed_data": typed, "signature": "0x" + genuine.hex()},
    )
    assert applied.status_code == 200, applied.text
    assert applied.json()["status"] == "indexed", applied.json()


# -- 3. back-to-back quantity transfers --------------------------------------------------------


def test_twenty_quantity_transfers_in_a_row_all_apply_oldest_vintage_first(
    node: ApiNode, holder: dict[str, Any]
) -> None:
    seller = RegistryClient(node.client, holder["ar"], domain="testserver")
    ids = []
    chosen: list[dict[str, int]] = []
    for _ in range(20):
        typed = _prepare(node, holder, quantity=1)
        chosen.extend(typed["message"]["ranges"])
        submitted = seller.submit("transfers", typed, "0x" + _sign(holder["ar"], typed).hex())
        ids.append(submitted["request_id"])
    serials = [r["start"] for r in chosen]
    assert len(set(serials)) == 20, serials  # no unit chosen twice
    old = holder["ranges"][2021]
    assert all(old["start"] <= s <= old["end"] for s in serials), (serials, old)
    deadline = time.monotonic() + 60
    statuses: dict[str, str] = {}
    while time.monotonic() < deadline:
        statuses = {i: seller.request(i)["status"] for i in ids}
        if all(s in ("indexed", "failed") for s in statuses.values()):
            break
        time.sleep(0.1)
    assert set(statuses.values()) == {"indexed"}, [seller.request(i) for i in ids][:3]


# -- 4. request details are private -----------------------------------------------------------


def test_request_details_are_readable_only_by_those_it_concerns(
    node: ApiNode, holder: dict[str, Any]
) -> None:
    typed = _prepare(node, holder, quantity=1)
    response = node.client.post(
        "/v1/transfers?wait=indexed",
        json={"typed_data": typed, "signature": "0x" + _sign(holder["ar"], typed).hex()},
    )
    request_id = response.json()["request_id"]
    path = f"/v1/requests/{request_id}"
    assert_problem(node.client.get(path), 401, "UNAUTHENTICATED")
    for reader in (holder["ar"], holder["buyer_ar"], node.keys["registry_admin"]):
        body = node.client.get(path, headers=login(node.client, reader)).json()
        assert body["request_id"] == request_id and body["status"] == "indexed", body
    outsider = login(node.client, Account.create())
    hidden = assert_problem(node.client.get(path, headers=outsider), 404, "REQUEST_NOT_FOUND")
    absent = assert_problem(
        node.client.get("/v1/requests/0x" + "ab" * 32, headers=outsider), 404, "REQUEST_NOT_FOUND"
    )
    # Existing and missing requests look alike to an outsider.
    assert hidden["detail"].replace(request_id, "X") == absent["detail"].replace(
        "0x" + "ab" * 32, "X"
    )


# -- 5. webhooks cannot target internal addresses ---------------------------------------------


@pytest.mark.parametrize(
    ("url", "allow", "allow_http", "refused"),
    [
        ("http://169.254.169.254/latest/meta-data", "", True, True),
        ("https://169.254.169.254/latest/meta-data", "", False, True),
        ("https://127.0.0.1:8443/hooks", "", False, True),
        ("https://[::1]/hooks", "", False, True),
        ("https://[::ffff:127.0.0.1]/hooks", "", False, True),
        ("https://10.1.2.3/hooks", "", False, True),
        ("https://192.168.0.10/hooks", "", False, True),
        ("https://172.16.5.4/hooks", "", False, True),
        ("https://100.64.0.1/hooks", "", False, True),
        ("https://224.0.0.1/hooks", "", False, True),
        ("https://0.0.0.0/hooks", "", False, True),
        ("https://localhost/hooks", "", False, True),
        ("http://8.8.8.8/hooks", "", False, True),  # http needs the operator's consent
        ("https://8.8.8.8/hooks", "", False, False),
        ("http://8.8.8.8/hooks", "", True, False),
        ("https://127.0.0.1:8443/hooks", "127.0.0.0/8", False, False),
        ("https://localhost/hooks", "localhost", False, False),
        ("https://10.1.2.3/hooks", "10.1.0.0/16", False, False),
        ("https://10.2.2.3/hooks", "10.1.0.0/16", False, True),
    ],
)
def test_egress_policy(url: str, allow: str, allow_http: bool, refused: bool) -> None:
    policy = EgressPolicy(allow.split(","), allow_http=allow_http)
    if refused:
        with pytest.raises(EgressRefused):
            policy.check(url)
    else:
        policy.check(url)


def test_delivery_connects_to_the_address_it_checked() -> None:
    target = EgressPolicy(["localhost"]).resolve("https://localhost:9443/hooks?x=1")
    assert target.url.host in ("127.0.0.1", "::1")
    assert target.url.port == 9443 and target.url.path == "/hooks" and target.url.query == b"x=1"
    assert target.headers == {"host": "localhost:9443"}
    assert target.extensions == {"sni_hostname": "localhost"}
    # A name that resolves to loopback at delivery time is refused, whatever it was when subscribed.
    with pytest.raises(EgressRefused, match="not a public address"):
        EgressPolicy(allow_http=True).resolve("http://localhost:9/hooks")


# -- 6. smaller items -------------------------------------------------------------------------


def test_account_ids_have_one_written_form(node: ApiNode, holder: dict[str, Any]) -> None:
    code, number = holder["account"].split("-")
    headers = login(node.client, holder["ar"])
    assert node.client.get(f"/v1/accounts/{holder['account']}", headers=headers).status_code == 200
    for variant in (f"{code}-0{number}", f"{code}-00{number}", f"{code}-+{number}"):
        response = node.client.get(f"/v1/accounts/{variant}", headers=headers)
        assert_problem(response, 422, "INVALID_ACCOUNT_ID")
        prepare = node.client.post(
            "/v1/transfers/prepare",
            json={
                "signer": holder["ar"].address,
                "from_account": variant,
                "to_account": holder["buyer"],
                "quantity": 1,
            },
        )
        assert_problem(prepare, 422, "INVALID_ACCOUNT_ID")


@pytest.mark.parametrize(
    ("representatives", "code"),
    [
        (
            lambda a, b: [{"address": a, "primary": True}, {"address": a, "primary": True}],
            "INVALID_REPRESENTATIVE",
        ),
        (
            lambda a, b: [
                {"address": a, "primary": True},
                {"address": a.lower(), "primary": False, "can_initiate": True},
            ],
            "INVALID_REPRESENTATIVE",
        ),
        (
            lambda a, b: [{"address": a, "primary": True}, {"address": b, "primary": True}],
            "PRIMARY_REPRESENTATIVE_REQUIRED",
        ),
        (
            lambda a, b: [{"address": a, "primary": False, "can_initiate": True}],
            "PRIMARY_REPRESENTATIVE_REQUIRED",
        ),
    ],
)
def test_account_representatives_are_refused_at_prepare(
    node: ApiNode, representatives: Any, code: str
) -> None:
    a, b = Account.create().address, Account.create().address
    response = node.client.post(
        "/v1/admin/accounts/prepare",
        json={
            "signer": node.keys["registry_admin"].address,
            "holder_name": "Twice",
            "representatives": representatives(a, b),
        },
    )
    assert_problem(response, 422, code)


def test_min_block_beyond_the_head_is_refused_at_once(node: ApiNode) -> None:
    started = time.perf_counter()
    response = node.client.get("/v1/registers/projects", params={"min_block": 10**9})
    problem = assert_problem(response, 422, "MIN_BLOCK_BEYOND_HEAD")
    assert time.perf_counter() - started < 2
    assert problem["chain_block"] < 10**9


def test_the_sdk_reads_its_own_requests(node: ApiNode, holder: dict[str, Any]) -> None:
    seller = RegistryClient(node.client, holder["ar"], domain="testserver")
    intent = {"from_account": holder["account"], "to_account": holder["buyer"], "quantity": 1}
    submitted = seller.write("transfers", intent, wait=False)
    assert seller.request(submitted["request_id"])["request_id"] == submitted["request_id"]
    outsider = RegistryClient(node.client, Account.create(), domain="testserver")
    with pytest.raises(RegistryError) as refused:
        outsider.request(submitted["request_id"])
    assert (refused.value.status, refused.value.code) == (404, "REQUEST_NOT_FOUND")
