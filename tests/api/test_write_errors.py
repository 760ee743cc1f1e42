"""Bad input to the write API: each case is a problem with a specific code and changes nothing."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select

from api.models import JournalEntry
from sdk import RegistryClient
from tests.api.conftest import ApiNode
from tests.api.helpers import login

TypedData = dict[str, Any]


@pytest.fixture(scope="module")
def seller(node: ApiNode) -> dict[str, Any]:
    """Open a single-policy account with 100 units; return its id, AR key and serial range."""
    ar = Account.create()
    admin = RegistryClient(node.client, node.keys["registry_admin"], domain="testserver")
    account = admin.write(
        "admin/accounts",
        {
            "holder_name": "Errors Pty Ltd",
            "approval_policy": "single",
            "representatives": [{"address": ar.address, "primary": True}],
        },
    )["result"]["account_id"]
    buyer = admin.write(
        "admin/accounts",
        {"holder_name": "Other", "representatives": [{"address": ar.address, "primary": True}]},
    )["result"]["account_id"]
    issuer = RegistryClient(node.client, node.keys["issuer"], domain="testserver")
    issuer.write("admin/projects", {"project_id": "ERR-1", "name": "Errors", "country": "AU"})
    issued = issuer.write(
        "admin/issuances",
        {
            "project_id": "ERR-1",
            "unit_type": "ACCU",
            "vintage": 2023,
            "monitoring_period_start": "2023-01-01",
            "monitoring_period_end": "2023-12-31",
            "quantity": 100,
            "to_account": account,
        },
    )["result"]["ranges"][0]
    return {"account": account, "buyer": buyer, "ar": ar, "range": issued}


def _state(node: ApiNode, seller: dict[str, Any]) -> tuple[Any, ...]:
    """Return what a refused request must not change: the block, the nonce lane 0, the journal."""
    contract = node.registry.contract
    block = contract.functions.getBlock(seller["range"]["start"]).call()
    with node.services.engine.connect() as conn:
        journal = conn.execute(select(func.count()).select_from(JournalEntry)).scalar()
    return (tuple(block[0]), block[1], journal, node.registry.client.block_number())


def _intent(seller: dict[str, Any], quantity: int = 10) -> dict[str, Any]:
    return {
        "signer": seller["ar"].address,
        "from_account": seller["account"],
        "to_account": seller["buyer"],
        "quantity": quantity,
    }


def _prepared(node: ApiNode, seller: dict[str, Any]) -> TypedData:
    response = node.client.post("/v1/transfers/prepare", json=_intent(seller))
    assert response.status_code == 200, response.text
    typed: TypedData = response.json()["typed_data"]
    return typed


def _sign(key: LocalAccount, typed: TypedData) -> str:
    return "0x" + bytes(key.sign_message(encode_typed_data(full_message=typed)).signature).hex()


def _problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code, body
    assert {"type", "title", "status", "detail"} <= set(body)


# -- malformed bodies -------------------------------------------------------------------------

MALFORMED: list[tuple[str, Callable[[dict[str, Any]], Any], int, str]] = [
    ("quantity as string", lambda s: {**_intent(s), "quantity": "10"}, 422, "INVALID_REQUEST"),
    ("quantity as float", lambda s: {**_intent(s), "quantity": 10.0}, 422, "INVALID_REQUEST"),
    ("quantity zero", lambda s: _intent(s, 0), 422, "INVALID_REQUEST"),
    ("quantity negative", lambda s: _intent(s, -5), 422, "INVALID_REQUEST"),
    ("quantity beyond 2^256", lambda s: _intent(s, 2**256 + 1), 422, "INVALID_REQUEST"),
    ("unknown field", lambda s: {**_intent(s), "force": True}, 422, "INVALID_REQUEST"),
    (
        "missing account",
        lambda s: {"signer": s["ar"].address, "quantity": 1},
        422,
        "INVALID_REQUEST",
    ),
    ("bad signer", lambda s: {**_intent(s), "signer": "0x1234"}, 422, "INVALID_REQUEST"),
    (
        "ranges and quantity",
        lambda s: {**_intent(s), "ranges": [{"start": 1, "end": 2}]},
        422,
        "INVALID_REQUEST",
    ),
    (
        "reversed range",
        lambda s: {
            k: v
            for k, v in {**_intent(s), "ranges": [{"start": 9, "end": 2}]}.items()
            if k != "quantity"
        },
        422,
        "INVALID_REQUEST",
    ),
    (
        "serial beyond 2^63",
        lambda s: {
            k: v
            for k, v in {**_intent(s), "ranges": [{"start": 1, "end": 2**63}]}.items()
            if k != "quantity"
        },
        422,
        "INVALID_REQUEST",
    ),
    (
        "malformed account id",
        lambda s: {**_intent(s), "to_account": "xx-1"},
        422,
        "INVALID_ACCOUNT_ID",
    ),
    (
        "account id without a number",
        lambda s: {**_intent(s), "to_account": "NZ-"},
        422,
        "INVALID_ACCOUNT_ID",
    ),
    (
        # A well-formed account of another registry is a transfer out; XX is no peer.
        "account of a registry that is no peer",
        lambda s: {**_intent(s), "to_account": "XX-1"},
        404,
        "PEER_NOT_FOUND",
    ),
    (
        "unknown account",
        lambda s: {**_intent(s), "to_account": "AU-999999999"},
        404,
        "ACCOUNT_NOT_FOUND",
    ),
    ("more than held", lambda s: _intent(s, 10_000), 409, "INSUFFICIENT_UNITS"),
]


@pytest.mark.parametrize(
    ("case", "body", "status", "code"), MALFORMED, ids=[case[0] for case in MALFORMED]
)
def test_bad_intents_are_refused(
    node: ApiNode,
    seller: dict[str, Any],
    case: str,
    body: Callable[[dict[str, Any]], Any],
    status: int,
    code: str,
) -> None:
    before = _state(node, seller)
    _problem(node.client.post("/v1/transfers/prepare", json=body(seller)), status, code)
    assert _state(node, seller) == before


@pytest.mark.parametrize(
    ("case", "payload"),
    [
        ("not json", b"{not json"),
        ("truncated", b'{"typed_data": {'),
        ("array", b"[]"),
        ("nul in json", b'{"typed_data": {}, "signature": "\\u0000"}'),
    ],
)
def test_malformed_submissions_are_refused(
    node: ApiNode, seller: dict[str, Any], case: str, payload: bytes
) -> None:
    before = _state(node, seller)
    response = node.client.post(
        "/v1/transfers", content=payload, headers={"content-type": "application/json"}
    )
    assert response.status_code in (400, 422), response.text
    assert response.json()["code"] in ("MALFORMED_JSON", "INVALID_REQUEST", "INVALID_TYPED_DATA")
    assert _state(node, seller) == before


def test_odd_text_in_names_is_refused(node: ApiNode) -> None:
    admin = node.keys["registry_admin"]
    for name in ("Nul\x00Pty", "Bell\x07", "\ud800 lone surrogate"):
        body = {
            "signer": admin.address,
            "holder_name": name,
            "representatives": [{"address": admin.address, "primary": True}],
        }
        response = node.client.post(
            "/v1/admin/accounts/prepare",
            content=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
        )
        _problem(response, 422, "INVALID_REQUEST")


# -- signatures and typed data ----------------------------------------------------------------


def _tamper_quantity(typed: TypedData) -> TypedData:
    changed = copy.deepcopy(typed)
    changed["message"]["ranges"][0]["end"] += 5
    return changed


def _other_domain(typed: TypedData) -> TypedData:
    changed = copy.deepcopy(typed)
    changed["domain"]["chainId"] = 1
    return changed


def _expired(typed: TypedData) -> TypedData:
    changed = copy.deepcopy(typed)
    changed["message"]["deadline"] = 1_000_000
    return changed


SIGNED: list[tuple[str, Callable[[TypedData], TypedData], str, int, str]] = [
    # (case, change typed data, who signs: "ar" | "other" | "after", status, code)
    ("signature by another key", lambda t: t, "other", 422, "INVALID_SIGNATURE"),
    ("altered after signing", _tamper_quantity, "after", 422, "INVALID_SIGNATURE"),
    ("another domain", _other_domain, "ar", 422, "WRONG_DOMAIN"),
    ("expired deadline", _expired, "ar", 422, "DEADLINE_EXPIRED"),
]


@pytest.mark.parametrize(
    ("case", "change", "who", "status", "code"), SIGNED, ids=[case[0] for case in SIGNED]
)
def test_bad_signed_requests_are_refused(
    node: ApiNode,
    seller: dict[str, Any],
    case: str,
    change: Callable[[TypedData], TypedData],
    who: str,
    status: int,
    code: str,
) -> None:
    typed = _prepared(node, seller)
    before = _state(node, seller)
    if who == "after":
        signature = _sign(seller["ar"], typed)
        typed = change(typed)
    else:
        typed = change(typed)
        signature = _sign(seller["ar"] if who == "ar" else Account.create(), typed)
    response = node.client.post("/v1/transfers", json={"typed_data": typed, "signature": signature})
    _problem(response, status, code)
    assert _state(node, seller) == before


@pytest.mark.parametrize(
    "signature", ["0x", "0x1234", "nothex", "0x" + "00" * 65, "0x" + "ff" * 65]
)
def test_unreadable_signatures_are_refused(
    node: ApiNode, seller: dict[str, Any], signature: str
) -> None:
    typed = _prepared(node, seller)
    before = _state(node, seller)
    response = node.client.post("/v1/transfers", json={"typed_data": typed, "signature": signature})
    _problem(response, 422, "INVALID_SIGNATURE")
    assert _state(node, seller) == before


def test_wrong_operation_for_the_typed_data_is_refused(
    node: ApiNode, seller: dict[str, Any]
) -> None:
    typed = _prepared(node, seller)
    response = node.client.post(
        "/v1/cancellations", json={"typed_data": typed, "signature": _sign(seller["ar"], typed)}
    )
    _problem(response, 422, "INVALID_TYPED_DATA")


def test_replay_gives_the_same_request_and_applies_once(
    node: ApiNode, seller: dict[str, Any]
) -> None:
    typed = _prepared(node, seller)
    body = {"typed_data": typed, "signature": _sign(seller["ar"], typed)}
    first = node.client.post("/v1/transfers", json=body, params={"wait": "indexed"})
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "indexed"
    second = node.client.post("/v1/transfers", json=body)
    assert second.status_code == 202
    assert second.json() == {"request_id": first.json()["request_id"], "status": "indexed"}
    (moved,) = first.json()["result"]["ranges"]
    block, _labels = node.registry.contract.functions.getBlock(moved["start"]).call()
    assert block[1] == int(seller["buyer"].split("-")[1])
    with node.services.engine.connect() as conn:
        rows = conn.execute(
            select(func.count())
            .select_from(JournalEntry)
            .where(
                JournalEntry.request_id == first.json()["request_id"]  # type: ignore[arg-type]
            )
        ).scalar()
    assert rows == 1


def test_non_representative_cannot_prepare_or_submit(node: ApiNode, seller: dict[str, Any]) -> None:
    stranger = Account.create()
    response = node.client.post(
        "/v1/transfers/prepare", json={**_intent(seller), "signer": stranger.address}
    )
    _problem(response, 403, "NOT_AUTHORISED")
    typed = _prepared(node, seller)
    typed["message"]["signer"] = stranger.address
    before = _state(node, seller)
    response = node.client.post(
        "/v1/transfers", json={"typed_data": typed, "signature": _sign(stranger, typed)}
    )
    _problem(response, 403, "NOT_AUTHORISED")
    assert _state(node, seller) == before


def test_admin_operations_refuse_non_admins(node: ApiNode, seller: dict[str, Any]) -> None:
    ar = seller["ar"]
    for path, body in [
        (
            "admin/accounts",
            {"holder_name": "X", "representatives": [{"address": ar.address, "primary": True}]},
        ),
        ("admin/projects", {"project_id": "P", "name": "P", "country": "AU"}),
        ("admin/labels", {"name": "L", "authority": ar.address}),
        (f"admin/accounts/{seller['account']}/status", {"status": "suspended"}),
    ]:
        response = node.client.post(f"/v1/{path}/prepare", json={"signer": ar.address, **body})
        _problem(response, 403, "NOT_AUTHORISED")


def test_used_nonce_is_refused(node: ApiNode, seller: dict[str, Any]) -> None:
    typed = _prepared(node, seller)
    body = {"typed_data": typed, "signature": _sign(seller["ar"], typed)}
    assert (
        node.client.post("/v1/transfers", json=body, params={"wait": "indexed"}).status_code == 200
    )
    # Same nonce, different content: a new digest whose nonce the chain has used.
    other = copy.deepcopy(typed)
    other["message"]["ranges"] = [
        {"start": r["end"] + 1, "end": r["end"] + 1} for r in typed["message"]["ranges"]
    ]
    response = node.client.post(
        "/v1/transfers", json={"typed_data": other, "signature": _sign(seller["ar"], other)}
    )
    _problem(response, 409, "NONCE_USED")


def test_requests_prepared_together_apply_in_any_order(
    node: ApiNode, seller: dict[str, Any]
) -> None:
    """Prepare gives each request an unordered nonce of its own (decision D33): bits of one word."""
    last = int(seller["range"]["end"])  # the seller's newest units, which other tests leave alone
    prepared = []
    for i in range(3):
        serials = {"start": last - i, "end": last - i}
        intent = {k: v for k, v in _intent(seller).items() if k != "quantity"}
        intent["ranges"] = [serials]
        response = node.client.post("/v1/transfers/prepare", json=intent)
        assert response.status_code == 200, response.text
        prepared.append(response.json()["typed_data"])
    nonces = [int(t["message"]["nonce"]) for t in prepared]
    assert all(n >> 255 == 1 for n in nonces), "unordered nonces"
    assert len(set(nonces)) == 3
    assert len({n >> 8 for n in nonces}) == 1, "one bitmap word"
    for typed in reversed(prepared):
        body = {"typed_data": typed, "signature": _sign(seller["ar"], typed)}
        response = node.client.post("/v1/transfers", json=body, params={"wait": "indexed"})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "indexed"
    # The next prepare moves on past the used bits.
    nxt = int(_prepared(node, seller)["message"]["nonce"])
    assert nxt not in nonces and nxt >> 8 == nonces[0] >> 8


def test_unknown_request_is_404(node: ApiNode) -> None:
    admin = login(node.client, node.keys["registry_admin"])
    _problem(
        node.client.get("/v1/requests/0x" + "ab" * 32, headers=admin), 404, "REQUEST_NOT_FOUND"
    )
    _problem(node.client.get("/v1/requests/nope", headers=admin), 422, "INVALID_REQUEST_ID")
    _problem(node.client.get("/v1/requests/0x" + "ab" * 32), 401, "UNAUTHENTICATED")


def test_representative_of_another_account_cannot_write(
    node: ApiNode, seller: dict[str, Any]
) -> None:
    other_ar = Account.create()
    admin = RegistryClient(node.client, node.keys["registry_admin"], domain="testserver")
    admin.write(
        "admin/accounts",
        {
            "holder_name": "Neighbour",
            "representatives": [{"address": other_ar.address, "primary": True}],
        },
    )
    before = _state(node, seller)
    response = node.client.post(
        "/v1/transfers/prepare", json={**_intent(seller), "signer": other_ar.address}
    )
    _problem(response, 403, "NOT_AUTHORISED")
    typed = _prepared(node, seller)
    typed["message"]["signer"] = other_ar.address
    response = node.client.post(
        "/v1/transfers", json={"typed_data": typed, "signature": _sign(other_ar, typed)}
    )
    _problem(response, 403, "NOT_AUTHORISED")
    assert _state(node, seller) == before
