"""Account reads over HTTP on SQLite and PostgreSQL: fields, scope, filters, paging, CSV, min_block.

Expected holdings and balances come from replaying the chain's events into a `BlockIndex`, not
from the mirror the API reads.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select
from web3.types import RPCEndpoint

from api.models import SiweNonce
from api.paging import open_snapshot
from node.contracts import UnitState
from node.devchain import DevChain
from tests.api.helpers import DATABASES, World, assert_problem, login, serve_world, stranger


@pytest.fixture(scope="module", params=DATABASES)
def world(
    request: pytest.FixtureRequest,
    session_chain: DevChain,
    dev_keys: dict[str, LocalAccount],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    """Yield the read scenario once per database."""
    yield from serve_world(request.param, session_chain, dev_keys, tmp_path_factory.mktemp("reads"))


@pytest.fixture(scope="module")
def admin(world: World) -> dict[str, str]:
    """Return the registry administrator's auth headers."""
    return login(world.client, world.keys["registry_admin"])


def _issuance_attributes(world: World) -> dict[int, tuple[str, str, int]]:
    """Return (unit_type, project_id, vintage) by issuance id, as the scenario issued them."""
    attributes = {
        "alpha_accu": ("ACCU", "PRJ-ALPHA", 2021),
        "alpha_vcu": ("VCU", "PRJ-BRAVO", 2022),
        "bravo_accu": ("ACCU", "PRJ-ALPHA", 2023),
        "charlie_accu": ("ACCU", "PRJ-BRAVO", 2022),
    }
    return {world.issuance_ids[name]: value for name, value in attributes.items()}


def _expected_holdings(
    world: World, account: int, *, cancelled: bool = False
) -> list[dict[str, Any]]:
    attributes = _issuance_attributes(world)
    names = {bit: name for name, bit in world.labels.items()}
    out = []
    for block in world.blocks().blocks():
        if block.account != account or (block.state == UnitState.CANCELLED) != cancelled:
            continue
        unit_type, project_id, vintage = attributes[block.issuance]
        out.append(
            {
                "start": block.start,
                "end": block.end,
                "quantity": block.quantity,
                "unit_type": unit_type,
                "project_id": project_id,
                "vintage": vintage,
                "issuance_id": block.issuance,
                "state": block.state.name.lower(),
                "labels": [names[i] for i in sorted(names) if block.labels >> i & 1],
                "lock_id": block.lock_id or None,
            }
        )
    return out


def _all_pages(world: World, path: str, headers: dict[str, str], **params: Any) -> list[Any]:
    """Follow next_cursor to the end; check that every page reports as_of_block."""
    items: list[Any] = []
    cursor = None
    for _ in range(1000):
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        body = world.get(path, headers, **query)
        assert body["as_of_block"] >= world.head
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("paging did not end")


# -- GET /v1/accounts ------------------------------------------------------------------------


def test_admin_lists_every_account_with_its_fields(world: World, admin: dict[str, str]) -> None:
    body = world.get("/v1/accounts", admin)
    assert body["next_cursor"] is None
    assert body["as_of_block"] >= world.head
    by_id = {item["account_id"]: item for item in body["items"]}
    assert list(by_id) == [
        world.account_id(n) for n in (world.alpha, world.bravo, world.charlie, world.custody)
    ]
    alpha = by_id[world.account_id(world.alpha)]
    assert set(alpha) == {
        "account_id",
        "holder_name",
        "kind",
        "status",
        "party",
        "approval_policy",
        "opened_block",
    }
    assert alpha["holder_name"] == "Alpha Carbon"
    assert alpha["kind"] == "holding"
    assert alpha["status"] == "open"
    assert alpha["party"] == "AU"
    assert alpha["approval_policy"] == "two_person"
    assert 0 < alpha["opened_block"] <= world.head
    custody = by_id[world.account_id(world.custody)]
    assert (custody["kind"], custody["party"], custody["approval_policy"]) == (
        "custodial",
        "NZ",
        "single",
    )


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("ar_1", ["alpha"]),
        ("ar_2", ["alpha"]),
        ("ar_3", ["bravo", "custody"]),
        ("ar_4", ["charlie"]),
    ],
)
def test_a_representative_lists_only_its_accounts(
    world: World, role: str, expected: list[str]
) -> None:
    body = world.get("/v1/accounts", login(world.client, world.keys[role]))
    assert [i["account_id"] for i in body["items"]] == [
        world.account_id(getattr(world, name)) for name in expected
    ]


def test_a_caller_without_accounts_lists_none(world: World) -> None:
    body = world.get("/v1/accounts", login(world.client, stranger()))
    assert body["items"] == []
    assert body["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"kind": "custodial"}, ["custody"]),
        ({"kind": "holding"}, ["alpha", "bravo", "charlie"]),
        ({"party": "NZ"}, ["custody"]),
        ({"status": "open", "party": "AU"}, ["alpha", "bravo", "charlie"]),
        ({"status": "suspended"}, []),
        ({"sort": "-account_id"}, ["custody", "charlie", "bravo", "alpha"]),
        ({"sort": "-holder_name"}, ["custody", "charlie", "bravo", "alpha"]),
        ({"sort": "holder_name", "kind": "holding"}, ["alpha", "bravo", "charlie"]),
    ],
)
def test_accounts_filter_and_sort(
    world: World, admin: dict[str, str], params: dict[str, str], expected: list[str]
) -> None:
    body = world.get("/v1/accounts", admin, **params)
    assert [i["account_id"] for i in body["items"]] == [
        world.account_id(getattr(world, name)) for name in expected
    ]


@pytest.mark.parametrize("sort", ["account_id", "-account_id", "holder_name", "-opened_block"])
def test_accounts_page_one_by_one(world: World, admin: dict[str, str], sort: str) -> None:
    whole = world.get("/v1/accounts", admin, sort=sort)["items"]
    assert _all_pages(world, "/v1/accounts", admin, sort=sort, limit=1) == whole
    assert len(whole) == 4


# -- GET /v1/accounts/{account_id} -----------------------------------------------------------


def test_account_detail_has_representatives_policy_and_balances(
    world: World, admin: dict[str, str]
) -> None:
    body = world.get(f"/v1/accounts/{world.account_id(world.alpha)}", admin)
    assert body["as_of_block"] >= world.head
    assert body["holder_name"] == "Alpha Carbon"
    assert body["approval_policy"] == "two_person"
    assert body["representatives"] == [
        {
            "address": world.keys["ar_1"].address,
            "primary": True,
            "can_initiate": True,
            "can_approve": True,
        },
        {
            "address": world.keys["ar_2"].address,
            "primary": False,
            "can_initiate": True,
            "can_approve": False,
        },
    ]
    attributes = _issuance_attributes(world)
    expected: Counter[tuple[str, str]] = Counter()
    for block in world.blocks().blocks():
        if block.account == world.alpha:
            expected[(attributes[block.issuance][0], block.state.name.lower())] += block.quantity
    assert {(b["unit_type"], b["state"]): b["quantity"] for b in body["balances"]} == expected
    assert expected[("ACCU", "pending")] == 20
    assert expected[("ACCU", "cancelled")] == 50
    assert expected[("VCU", "cancelled")] == 40


def test_a_representative_reads_its_account(world: World) -> None:
    body = world.get(
        f"/v1/accounts/{world.account_id(world.bravo)}", login(world.client, world.keys["ar_3"])
    )
    assert body["account_id"] == world.account_id(world.bravo)
    assert [r["address"] for r in body["representatives"]] == [world.keys["ar_3"].address]


# -- GET /v1/accounts/{account_id}/holdings --------------------------------------------------


@pytest.mark.parametrize("name", ["alpha", "bravo", "charlie", "custody"])
def test_holdings_match_the_chain(world: World, admin: dict[str, str], name: str) -> None:
    account = getattr(world, name)
    body = world.get(f"/v1/accounts/{world.account_id(account)}/holdings", admin)
    assert body["items"] == _expected_holdings(world, account)
    cancelled = world.get(
        f"/v1/accounts/{world.account_id(account)}/holdings", admin, state="cancelled"
    )
    assert cancelled["items"] == _expected_holdings(world, account, cancelled=True)


def test_holdings_show_every_state_label_and_big_label_ids(
    world: World, admin: dict[str, str]
) -> None:
    a, _ = world.issuances["alpha_accu"]
    items = world.get(f"/v1/accounts/{world.account_id(world.alpha)}/holdings", admin)["items"]
    by_start = {item["start"]: item for item in items}
    assert by_start[a + 180]["labels"] == ["CORSIA", "ART6", "HIGH"]  # HIGH is bit 70
    assert by_start[a + 500]["state"] == "pending"
    assert {item["state"] for item in items} == {"held", "pending"}
    assert all(item["quantity"] == item["end"] - item["start"] + 1 for item in items)


@pytest.mark.parametrize(
    ("params", "predicate"),
    [
        ({"unit_type": "VCU"}, lambda h: h["unit_type"] == "VCU"),
        ({"vintage": "2021"}, lambda h: h["vintage"] == 2021),
        ({"project_id": "PRJ-BRAVO"}, lambda h: h["project_id"] == "PRJ-BRAVO"),
        ({"label": "CORSIA"}, lambda h: "CORSIA" in h["labels"]),
        ({"label": "HIGH"}, lambda h: "HIGH" in h["labels"]),
        ({"label": "ART6", "unit_type": "ACCU"}, lambda h: "ART6" in h["labels"]),
        ({"state": "pending"}, lambda h: h["state"] == "pending"),
        (
            {"state": "held", "vintage": "2022"},
            lambda h: h["state"] == "held" and h["vintage"] == 2022,
        ),
        ({"label": "NO-SUCH-LABEL"}, lambda h: False),
        ({"unit_type": "NOPE"}, lambda h: False),
    ],
)
def test_holdings_filters(
    world: World, admin: dict[str, str], params: dict[str, str], predicate: Any
) -> None:
    path = f"/v1/accounts/{world.account_id(world.alpha)}/holdings"
    everything = world.get(path, admin)["items"]
    expected = [h for h in everything if predicate(h)]
    assert world.get(path, admin, **params)["items"] == expected
    if "label" in params and params["label"] != "NO-SUCH-LABEL":
        assert expected


def test_holdings_filter_by_issuance(world: World, admin: dict[str, str]) -> None:
    issuance = world.issuance_ids["alpha_vcu"]
    path = f"/v1/accounts/{world.account_id(world.alpha)}/holdings"
    items = world.get(path, admin, issuance_id=str(issuance))["items"]
    assert items and {h["issuance_id"] for h in items} == {issuance}


_HOLDING_SORTS = [
    "start",
    "end",
    "quantity",
    "vintage",
    "issuance_id",
    "unit_type",
    "project_id",
    "state",
]


@pytest.mark.parametrize("field", _HOLDING_SORTS)
@pytest.mark.parametrize("descending", [False, True])
def test_holdings_sort_and_page_without_gaps_or_repeats(
    world: World, admin: dict[str, str], field: str, descending: bool
) -> None:
    path = f"/v1/accounts/{world.account_id(world.alpha)}/holdings"
    sort = f"-{field}" if descending else field
    whole = world.get(path, admin, sort=sort, limit="1000")["items"]
    expected = sorted(
        _expected_holdings(world, world.alpha),
        key=lambda h: (h[field], h["start"]),
        reverse=descending,
    )
    assert whole == expected
    paged = _all_pages(world, path, admin, sort=sort, limit="3")
    assert paged == whole
    assert len({h["start"] for h in paged}) == len(paged) > 3


def test_a_cursor_continues_its_sort_and_filters_repeat(
    world: World, admin: dict[str, str]
) -> None:
    path = f"/v1/accounts/{world.account_id(world.alpha)}/holdings"
    first = world.get(path, admin, sort="-quantity", limit="2", unit_type="ACCU")
    rest = world.get(path, admin, cursor=first["next_cursor"], unit_type="ACCU", limit="1000")
    whole = world.get(path, admin, sort="-quantity", unit_type="ACCU")["items"]
    assert first["items"] + rest["items"] == whole
    assert rest["next_cursor"] is None


def test_holdings_as_csv(world: World, admin: dict[str, str]) -> None:
    path = f"/v1/accounts/{world.account_id(world.alpha)}/holdings"
    items = world.get(path, admin)["items"]
    response = world.client.get(path, params={"format": "csv"}, headers=admin)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert int(response.headers["x-as-of-block"]) >= world.head
    assert "x-next-cursor" not in response.headers
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == list(items[0])
    assert len(rows) == len(items)
    for row, item in zip(rows, items, strict=True):
        assert int(row["start"]) == item["start"]
        assert int(row["quantity"]) == item["quantity"]
        assert row["state"] == item["state"]
        assert json.loads(row["labels"]) == item["labels"]


def test_csv_pages_through_headers(world: World, admin: dict[str, str]) -> None:
    path = f"/v1/accounts/{world.account_id(world.alpha)}/holdings"
    first = world.client.get(path, params={"format": "csv", "limit": "2"}, headers=admin)
    cursor = first.headers["x-next-cursor"]
    second = world.client.get(
        path, params={"format": "csv", "limit": "2", "cursor": cursor}, headers=admin
    )
    starts = [
        int(r["start"])
        for response in (first, second)
        for r in csv.DictReader(io.StringIO(response.text))
    ]
    assert starts == [h["start"] for h in world.get(path, admin, limit="4")["items"]]


def test_an_empty_csv_still_has_its_header(world: World, admin: dict[str, str]) -> None:
    response = world.client.get(
        f"/v1/accounts/{world.account_id(world.custody)}/holdings",
        params={"format": "csv"},
        headers=admin,
    )
    assert response.text.strip().split(",")[:3] == ["start", "end", "quantity"]


# -- GET /v1/accounts/{account_id}/transactions ----------------------------------------------


def test_transactions_of_an_account(world: World, admin: dict[str, str]) -> None:
    keys = world.keys
    a, a_end = world.issuances["alpha_accu"]
    v, v_end = world.issuances["alpha_vcu"]
    alpha, bravo, charlie = (world.account_id(n) for n in (world.alpha, world.bravo, world.charlie))
    body = world.get(f"/v1/accounts/{alpha}/transactions", admin)
    assert body["as_of_block"] >= world.head
    by_id = {t["transaction_id"]: t for t in body["items"]}
    issuance = world.issuance_ids["alpha_accu"]
    assert list(by_id) == [
        f"issuance-{issuance}",
        f"issuance-{world.issuance_ids['alpha_vcu']}",
        f"transfer-{world.approved}",
        f"transfer-{world.pending}",
        f"transfer-{world.rescinded}",
        f"cancellation-{world.cancelled}",
    ]
    blocks = [t["block_number"] for t in body["items"]]
    assert blocks == sorted(blocks)
    for item in body["items"]:
        assert item["timestamp"].endswith("Z") and item["timestamp"][:2] == "20"
        assert item["tx_hash"].startswith("0x") and len(item["tx_hash"]) == 66
        assert item["quantity"] == sum(r["end"] - r["start"] + 1 for r in item["ranges"])
    issued = by_id[f"issuance-{issuance}"]
    assert issued == issued | {
        "type": "issuance",
        "status": "completed",
        "from_account": None,
        "to_account": alpha,
        "ranges": [{"start": a, "end": a_end}],
        "quantity": 1000,
        "initiated_by": keys["issuer"].address,
        "approved_by": None,
    }
    approved = by_id[f"transfer-{world.approved}"]
    assert approved == approved | {
        "type": "transfer",
        "status": "completed",
        "from_account": alpha,
        "to_account": bravo,
        "ranges": [{"start": a, "end": a + 49}],
        "quantity": 50,
        "initiated_by": keys["ar_2"].address,
        "approved_by": keys["ar_1"].address,
        "rescinded_by": None,
    }
    assert approved["decided_block_number"] > approved["block_number"]
    pending = by_id[f"transfer-{world.pending}"]
    assert (pending["status"], pending["to_account"], pending["approved_by"]) == (
        "pending",
        charlie,
        None,
    )
    assert pending["decided_tx_hash"] is None
    rescinded = by_id[f"transfer-{world.rescinded}"]
    assert (rescinded["status"], rescinded["rescinded_by"]) == ("rescinded", keys["ar_1"].address)
    cancelled = by_id[f"cancellation-{world.cancelled}"]
    assert cancelled == cancelled | {
        "type": "cancellation",
        "status": "completed",
        "from_account": alpha,
        "to_account": None,
        "ranges": [{"start": a + 700, "end": a + 749}, {"start": v + 400, "end": v + 439}],
        "quantity": 90,
        "initiated_by": keys["ar_1"].address,
        "approved_by": None,
    }
    assert v_end > v


def test_both_sides_of_a_transfer_see_it(world: World, admin: dict[str, str]) -> None:
    bravo = world.account_id(world.bravo)
    items = world.get(f"/v1/accounts/{bravo}/transactions", admin, type="transfer")["items"]
    assert [t["transaction_id"] for t in items] == [
        f"transfer-{world.approved}",
        f"transfer-{world.rescinded}",
        f"transfer-{world.single}",
    ]
    single = items[-1]
    assert single["from_account"] == bravo
    assert single["initiated_by"] == single["approved_by"] == world.keys["ar_3"].address


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"type": "issuance"}, ["issuance", "issuance"]),
        ({"type": "cancellation"}, ["cancellation"]),
        ({"status": "pending"}, ["transfer"]),
        ({"status": "completed", "type": "transfer"}, ["transfer"]),
        ({"type": "issuance", "status": "pending"}, []),
        (
            {"since": "2000-01-01"},
            ["issuance", "issuance", "transfer", "transfer", "transfer", "cancellation"],
        ),
        ({"since": "2999-01-01T00:00:00Z"}, []),
        ({"sort": "-quantity", "type": "issuance"}, ["issuance", "issuance"]),
    ],
)
def test_transactions_filter(
    world: World, admin: dict[str, str], params: dict[str, str], expected: list[str]
) -> None:
    path = f"/v1/accounts/{world.account_id(world.alpha)}/transactions"
    items = world.get(path, admin, **params)["items"]
    assert [t["type"] for t in items] == expected
    if params.get("sort") == "-quantity":
        assert [t["quantity"] for t in items] == [1000, 500]


def test_since_cuts_at_a_block_time(world: World, admin: dict[str, str]) -> None:
    path = f"/v1/accounts/{world.account_id(world.alpha)}/transactions"
    items = world.get(path, admin)["items"]
    last = items[-1]["timestamp"]
    later = world.get(path, admin, since=last)["items"]
    assert later and all(t["timestamp"] >= last for t in later)
    assert items[-1] in later


@pytest.mark.parametrize(
    "sort", ["block_number", "-block_number", "timestamp", "quantity", "-quantity"]
)
def test_transactions_page_one_by_one(world: World, admin: dict[str, str], sort: str) -> None:
    path = f"/v1/accounts/{world.account_id(world.alpha)}/transactions"
    whole = world.get(path, admin, sort=sort)["items"]
    paged = _all_pages(world, path, admin, sort=sort, limit="1")
    assert paged == whole
    assert len({t["transaction_id"] for t in paged}) == 6
    field = sort.removeprefix("-")
    field = "block_number" if field == "timestamp" else field
    values = [t[field] for t in whole]
    assert values == sorted(values, reverse=sort.startswith("-"))


def test_transactions_as_csv(world: World, admin: dict[str, str]) -> None:
    path = f"/v1/accounts/{world.account_id(world.alpha)}/transactions"
    items = world.get(path, admin)["items"]
    response = world.client.get(path, params={"format": "csv"}, headers=admin)
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["transaction_id"] for r in rows] == [t["transaction_id"] for t in items]
    assert json.loads(rows[0]["ranges"]) == items[0]["ranges"]
    assert rows[0]["from_account"] == ""  # null


# -- min_block -------------------------------------------------------------------------------


def test_min_block_waits_for_the_mirror(world: World, admin: dict[str, str]) -> None:
    target = world.node.registry.client.block_number() + 1

    def mine_later() -> None:
        time.sleep(0.3)
        world.node.registry.client.w3.provider.make_request(RPCEndpoint("evm_mine"), [])

    miner = threading.Thread(target=mine_later)
    miner.start()
    try:
        body = world.get("/v1/accounts", admin, min_block=str(target))
    finally:
        miner.join()
    assert body["as_of_block"] >= target
    unit = world.get(f"/v1/registers/units/{world.issuances['alpha_accu'][0]}", min_block=target)
    assert unit["as_of_block"] >= target


def test_min_block_beyond_the_bound_is_503_with_retry_after(
    world: World, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(world.node.services.settings, "wait_timeout_seconds", 0.3)
    target = world.node.registry.client.block_number() + 10  # a block the chain may yet mint
    started = time.monotonic()
    for path, headers in (
        ("/v1/accounts", admin),
        (f"/v1/accounts/{world.account_id(world.alpha)}", admin),
        ("/v1/registers/issuances", None),
    ):
        response = world.client.get(path, params={"min_block": target}, headers=headers)
        body = assert_problem(response, 503, "BLOCK_NOT_INDEXED")
        assert int(response.headers["retry-after"]) >= 1
        assert body["min_block"] == target
    assert time.monotonic() - started < 10


def test_a_caller_is_refused_before_any_wait(world: World) -> None:
    started = time.monotonic()
    far = world.head + 1_000_000
    assert_problem(
        world.client.get("/v1/accounts", params={"min_block": far}), 401, "UNAUTHENTICATED"
    )
    admin = login(world.client, world.keys["registry_admin"])
    response = world.client.get(
        "/v1/accounts", params={"min_block": far, "limit": 0}, headers=admin
    )
    assert_problem(response, 422, "INVALID_LIMIT")
    assert time.monotonic() - started < world.node.services.settings.wait_timeout_seconds / 2


def test_a_read_sees_one_snapshot(world: World) -> None:
    engine = world.node.services.engine
    count = select(func.count()).select_from(SiweNonce)
    with open_snapshot(engine) as snapshot:
        assert snapshot.as_of_block >= world.head
        before = snapshot.conn.execute(count).scalar_one()
        assert world.client.post("/v1/auth/siwe/nonce").status_code == 200  # commits elsewhere
        assert snapshot.conn.execute(count).scalar_one() == before
    with engine.connect() as conn:
        assert conn.execute(count).scalar_one() == before + 1


# -- authorisation ---------------------------------------------------------------------------

_ACCOUNT_PATHS = ["", "/holdings", "/transactions"]


@pytest.mark.parametrize("suffix", _ACCOUNT_PATHS)
def test_reads_need_a_token(world: World, suffix: str) -> None:
    path = f"/v1/accounts/{world.account_id(world.alpha)}{suffix}"
    response = world.client.get(path)
    assert_problem(response, 401, "UNAUTHENTICATED")
    assert response.headers["www-authenticate"].startswith("Bearer")
    for headers in (
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ):
        assert_problem(world.client.get(path, headers=headers), 401, "UNAUTHENTICATED")
    assert_problem(world.client.get("/v1/accounts"), 401, "UNAUTHENTICATED")


@pytest.mark.parametrize("suffix", _ACCOUNT_PATHS)
@pytest.mark.parametrize(
    ("role", "account", "status"),
    [
        ("registry_admin", "alpha", 200),
        ("registry_admin", "custody", 200),
        ("ar_1", "alpha", 200),
        ("ar_2", "alpha", 200),
        ("ar_3", "custody", 200),
        ("ar_3", "alpha", 403),
        ("ar_1", "bravo", 403),
        ("issuer", "alpha", 403),
        ("stranger", "alpha", 403),
    ],
)
def test_who_reads_which_account(
    world: World, suffix: str, role: str, account: str, status: int
) -> None:
    key = stranger() if role == "stranger" else world.keys[role]
    headers = login(world.client, key)
    response = world.client.get(
        f"/v1/accounts/{world.account_id(getattr(world, account))}{suffix}", headers=headers
    )
    if status == 403:
        assert_problem(response, 403, "NOT_AUTHORISED")
    else:
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("suffix", _ACCOUNT_PATHS)
def test_an_unknown_account_is_404_for_the_admin_and_403_for_others(
    world: World, admin: dict[str, str], suffix: str
) -> None:
    path = f"/v1/accounts/{world.account_id(9_999_999)}{suffix}"
    assert_problem(world.client.get(path, headers=admin), 404, "ACCOUNT_NOT_FOUND")
    ar = login(world.client, world.keys["ar_1"])
    assert_problem(world.client.get(path, headers=ar), 403, "NOT_AUTHORISED")


# -- bad input -------------------------------------------------------------------------------


def _cursor(document: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


_BAD_ACCOUNT_IDS = [
    "alpha",
    "AU-",
    "AU-abc",
    "NZ-1000001",
    "AU-1000001x",
    "AU--5",
    "AU-0",
    "AU-١٢٣",  # Arabic-Indic digits are decimal to Python, not to us
    "AU-99999999999999999999999",
    "au-1000001",
]


@pytest.mark.parametrize("suffix", _ACCOUNT_PATHS)
@pytest.mark.parametrize("account_id", _BAD_ACCOUNT_IDS)
def test_malformed_account_ids_are_refused(
    world: World, admin: dict[str, str], suffix: str, account_id: str
) -> None:
    response = world.client.get(f"/v1/accounts/{account_id}{suffix}", headers=admin)
    assert_problem(response, 422, "INVALID_ACCOUNT_ID")


_BAD_LIST_PARAMS: list[tuple[dict[str, str], str]] = [
    ({"limit": "0"}, "INVALID_LIMIT"),
    ({"limit": "1001"}, "INVALID_LIMIT"),
    ({"limit": "-1"}, "INVALID_LIMIT"),
    ({"limit": "ten"}, "INVALID_LIMIT"),
    ({"limit": "1e3"}, "INVALID_LIMIT"),
    ({"limit": "9" * 400}, "INVALID_LIMIT"),
    ({"cursor": "not a cursor"}, "INVALID_CURSOR"),
    ({"cursor": "!!!!"}, "INVALID_CURSOR"),
    ({"cursor": ""}, "INVALID_CURSOR"),
    ({"cursor": "x" * 5000}, "INVALID_CURSOR"),
    ({"cursor": _cursor([1, 2])}, "INVALID_CURSOR"),
    ({"cursor": _cursor({"s": "start", "k": ["one"]})}, "INVALID_CURSOR"),
    ({"cursor": _cursor({"s": "start", "k": [2**64]})}, "INVALID_CURSOR"),
    ({"cursor": _cursor({"s": "start", "k": [True]})}, "INVALID_CURSOR"),
    ({"cursor": _cursor({"s": "start", "k": [1, 2]})}, "INVALID_CURSOR"),
    ({"cursor": _cursor({"s": "vintage", "k": [2021]})}, "INVALID_CURSOR"),
    ({"cursor": _cursor({"s": "password", "k": [1]})}, "INVALID_CURSOR"),
    ({"cursor": _cursor({"s": "start", "k": [1]}), "sort": "-start"}, "INVALID_CURSOR"),
    ({"cursor": _cursor({"s": "unit_type", "k": ["A\u0000", 1]})}, "INVALID_CURSOR"),
    ({"sort": "holder"}, "INVALID_SORT"),
    ({"sort": "-"}, "INVALID_SORT"),
    ({"sort": "--start"}, "INVALID_SORT"),
    ({"sort": "labels"}, "INVALID_SORT"),
    ({"vintage": "twenty"}, "INVALID_FILTER"),
    ({"vintage": "70000"}, "INVALID_FILTER"),
    ({"state": "lost"}, "INVALID_FILTER"),
    ({"unit_type": "A\u0000"}, "INVALID_FILTER"),
    ({"label": "x" * 300}, "INVALID_FILTER"),
    ({"issuance_id": str(2**70)}, "INVALID_FILTER"),
    ({"vintag": "2021"}, "INVALID_FILTER"),
    ({"format": "xml"}, "INVALID_FORMAT"),
    ({"min_block": "-1"}, "INVALID_MIN_BLOCK"),
    ({"min_block": "soon"}, "INVALID_MIN_BLOCK"),
    ({"min_block": str(2**64)}, "INVALID_MIN_BLOCK"),
]


@pytest.mark.parametrize(("params", "code"), _BAD_LIST_PARAMS)
def test_bad_list_parameters_are_refused(
    world: World, admin: dict[str, str], params: dict[str, str], code: str
) -> None:
    path = f"/v1/accounts/{world.account_id(world.alpha)}/holdings"
    assert_problem(world.client.get(path, params=params, headers=admin), 422, code)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"type": "payment"}, "INVALID_FILTER"),
        ({"status": "done"}, "INVALID_FILTER"),
        ({"since": "yesterday"}, "INVALID_FILTER"),
        ({"since": "2024-13-01"}, "INVALID_FILTER"),
        ({"sort": "timestamp,quantity"}, "INVALID_SORT"),
        ({"cursor": _cursor({"s": "block_number", "k": [1, 2, 3]})}, "INVALID_CURSOR"),
    ],
)
def test_bad_transaction_parameters_are_refused(
    world: World, admin: dict[str, str], params: dict[str, str], code: str
) -> None:
    path = f"/v1/accounts/{world.account_id(world.alpha)}/transactions"
    assert_problem(world.client.get(path, params=params, headers=admin), 422, code)


@pytest.mark.parametrize(
    ("params", "code"),
    [({"kind": "savings"}, "INVALID_FILTER"), ({"status": "gone"}, "INVALID_FILTER")],
)
def test_bad_account_filters_are_refused(
    world: World, admin: dict[str, str], params: dict[str, str], code: str
) -> None:
    assert_problem(world.client.get("/v1/accounts", params=params, headers=admin), 422, code)


def test_a_cursor_from_another_list_is_refused(world: World, admin: dict[str, str]) -> None:
    cursor = world.get("/v1/accounts", admin, limit="1")["next_cursor"]
    path = f"/v1/accounts/{world.account_id(world.alpha)}/holdings"
    response = world.client.get(path, params={"cursor": cursor}, headers=admin)
    assert_problem(response, 422, "INVALID_CURSOR")
