"""The public registers over HTTP on SQLite and PostgreSQL: no token, no holders, full paging."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from node.contracts import UnitState
from node.devchain import DevChain
from tests.api.helpers import DATABASES, World, assert_problem, serve_world

# Fields that would name a holder; no register may carry them.
_HOLDER_FIELDS = {"account_id", "account", "holder", "holder_name", "to_account", "from_account"}


@pytest.fixture(scope="module", params=DATABASES)
def world(
    request: pytest.FixtureRequest,
    session_chain: DevChain,
    dev_keys: dict[str, LocalAccount],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    """Yield the read scenario once per database."""
    yield from serve_world(
        request.param, session_chain, dev_keys, tmp_path_factory.mktemp("registers")
    )


def _all_pages(world: World, path: str, **params: Any) -> list[Any]:
    items: list[Any] = []
    cursor = None
    for _ in range(1000):
        body = world.get(path, **params, **({"cursor": cursor} if cursor else {}))
        assert body["as_of_block"] >= world.head
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("paging did not end")


# -- projects --------------------------------------------------------------------------------


def test_projects_register(world: World) -> None:
    body = world.get("/v1/registers/projects")
    assert body["as_of_block"] >= world.head
    assert body["next_cursor"] is None
    assert [p["project_id"] for p in body["items"]] == ["PRJ-ALPHA", "PRJ-BRAVO", "PRJ-CHARLIE"]
    bravo = body["items"][1]
    assert set(bravo) == {
        "project_id",
        "name",
        "methodology",
        "country",
        "registered_block",
        "tx_hash",
    }
    assert (bravo["name"], bravo["methodology"], bravo["country"]) == (
        "Blue carbon",
        "BC 2022",
        "NZ",
    )
    assert 0 < bravo["registered_block"] <= world.head


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"country": "NZ"}, ["PRJ-BRAVO"]),
        ({"country": "AU"}, ["PRJ-ALPHA", "PRJ-CHARLIE"]),
        ({"methodology": "SFM 2018", "country": "AU"}, ["PRJ-ALPHA", "PRJ-CHARLIE"]),
        ({"country": "FJ"}, []),
        ({"sort": "-project_id"}, ["PRJ-CHARLIE", "PRJ-BRAVO", "PRJ-ALPHA"]),
        ({"sort": "name"}, ["PRJ-BRAVO", "PRJ-ALPHA", "PRJ-CHARLIE"]),
        ({"sort": "-name"}, ["PRJ-CHARLIE", "PRJ-ALPHA", "PRJ-BRAVO"]),
        ({"sort": "-country"}, ["PRJ-BRAVO", "PRJ-CHARLIE", "PRJ-ALPHA"]),
        ({"sort": "-registered_block"}, ["PRJ-CHARLIE", "PRJ-BRAVO", "PRJ-ALPHA"]),
    ],
)
def test_projects_filter_and_sort(
    world: World, params: dict[str, str], expected: list[str]
) -> None:
    items = world.get("/v1/registers/projects", **params)["items"]
    assert [p["project_id"] for p in items] == expected


@pytest.mark.parametrize("sort", ["project_id", "-name", "country", "-registered_block"])
def test_projects_page_one_by_one(world: World, sort: str) -> None:
    whole = world.get("/v1/registers/projects", sort=sort)["items"]
    assert _all_pages(world, "/v1/registers/projects", sort=sort, limit=1) == whole


def test_project_detail_totals_issued_and_cancelled_units(world: World) -> None:
    body = world.get("/v1/registers/projects/PRJ-ALPHA")
    assert body["as_of_block"] >= world.head
    assert (body["name"], body["country"]) == ("Savanna burning", "AU")
    assert body["issuance_count"] == 2
    assert body["issued_quantity"] == 1200
    assert body["cancelled_quantity"] == 60  # 50 by Alpha, 10 by Bravo for its NDC
    assert body["vintages"] == [
        {"unit_type": "ACCU", "vintage": 2021, "issued": 1000, "cancelled": 50},
        {"unit_type": "ACCU", "vintage": 2023, "issued": 200, "cancelled": 10},
    ]
    bravo = world.get("/v1/registers/projects/PRJ-BRAVO")
    assert bravo["vintages"] == [
        {"unit_type": "ACCU", "vintage": 2022, "issued": 50, "cancelled": 0},
        {"unit_type": "VCU", "vintage": 2022, "issued": 500, "cancelled": 40},
    ]
    charlie = world.get("/v1/registers/projects/PRJ-CHARLIE")
    assert (charlie["issuance_count"], charlie["issued_quantity"], charlie["vintages"]) == (
        0,
        0,
        [],
    )


@pytest.mark.parametrize(
    ("project_id", "status", "code"),
    [
        ("PRJ-NONE", 404, "PROJECT_NOT_FOUND"),
        ("x" * 33, 422, "INVALID_PROJECT_ID"),
        ("PRJ%00ALPHA", 422, "INVALID_PROJECT_ID"),
        ("PRJ%0AALPHA", 422, "INVALID_PROJECT_ID"),
    ],
)
def test_bad_project_ids(world: World, project_id: str, status: int, code: str) -> None:
    assert_problem(world.client.get(f"/v1/registers/projects/{project_id}"), status, code)


# -- issuances -------------------------------------------------------------------------------


def test_issuances_register(world: World) -> None:
    body = world.get("/v1/registers/issuances")
    items = body["items"]
    assert [i["issuance_id"] for i in items] == sorted(world.issuance_ids.values())
    first = items[0]
    assert set(first) == {
        "issuance_id",
        "project_id",
        "unit_type",
        "vintage",
        "monitoring_period_start",
        "monitoring_period_end",
        "origin_registry",
        "start",
        "end",
        "quantity",
        "block_number",
        "tx_hash",
        "timestamp",
    }
    assert not set(first) & _HOLDER_FIELDS
    a, a_end = world.issuances["alpha_accu"]
    assert (first["start"], first["end"], first["quantity"]) == (a, a_end, 1000)
    assert (first["project_id"], first["unit_type"], first["vintage"]) == (
        "PRJ-ALPHA",
        "ACCU",
        2021,
    )
    assert first["monitoring_period_start"] < first["monitoring_period_end"]
    assert len(first["monitoring_period_start"]) == 10  # an ISO date
    assert first["timestamp"].endswith("Z")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"project_id": "PRJ-ALPHA"}, ["alpha_accu", "bravo_accu"]),
        ({"unit_type": "ACCU", "vintage": "2022"}, ["charlie_accu"]),
        ({"vintage": "2022"}, ["alpha_vcu", "charlie_accu"]),
        ({"unit_type": "VCU"}, ["alpha_vcu"]),
        ({"origin_registry": "AU"}, ["alpha_accu", "alpha_vcu", "bravo_accu", "charlie_accu"]),
        ({"project_id": "PRJ-CHARLIE"}, []),
        ({"sort": "-quantity"}, ["alpha_accu", "alpha_vcu", "bravo_accu", "charlie_accu"]),
        ({"sort": "quantity"}, ["charlie_accu", "bravo_accu", "alpha_vcu", "alpha_accu"]),
        ({"sort": "-vintage"}, ["bravo_accu", "charlie_accu", "alpha_vcu", "alpha_accu"]),
        ({"sort": "-start"}, ["charlie_accu", "bravo_accu", "alpha_vcu", "alpha_accu"]),
    ],
)
def test_issuances_filter_and_sort(
    world: World, params: dict[str, str], expected: list[str]
) -> None:
    items = world.get("/v1/registers/issuances", **params)["items"]
    assert [i["issuance_id"] for i in items] == [world.issuance_ids[n] for n in expected]


@pytest.mark.parametrize(
    "sort", ["issuance_id", "-issuance_id", "vintage", "-quantity", "block_number", "project_id"]
)
def test_issuances_page_one_by_one(world: World, sort: str) -> None:
    whole = world.get("/v1/registers/issuances", sort=sort)["items"]
    paged = _all_pages(world, "/v1/registers/issuances", sort=sort, limit=1)
    assert paged == whole
    assert len({i["issuance_id"] for i in paged}) == 4


def test_issuances_as_csv(world: World) -> None:
    items = world.get("/v1/registers/issuances")["items"]
    response = world.client.get("/v1/registers/issuances", params={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == list(items[0])
    assert [int(r["issuance_id"]) for r in rows] == [i["issuance_id"] for i in items]
    assert [r["monitoring_period_end"] for r in rows] == [i["monitoring_period_end"] for i in items]


# -- units -----------------------------------------------------------------------------------


def test_a_held_unit_with_labels(world: World) -> None:
    a, _ = world.issuances["alpha_accu"]
    body = world.get(f"/v1/registers/units/{a + 185}")
    assert set(body) == {
        "serial",
        "block",
        "unit_type",
        "project_id",
        "vintage",
        "issuance_id",
        "state",
        "labels",
        "cancellation",
        "association",
        "as_of_block",
    }
    block = world.blocks().containing(a + 185)
    assert block is not None
    assert body == {
        "serial": a + 185,
        "block": {"start": block.start, "end": block.end},
        "unit_type": "ACCU",
        "project_id": "PRJ-ALPHA",
        "vintage": 2021,
        "issuance_id": world.issuance_ids["alpha_accu"],
        "state": "held",
        "labels": ["CORSIA", "ART6", "HIGH"],
        "cancellation": None,
        "association": None,
        "as_of_block": body["as_of_block"],
    }
    assert body["as_of_block"] >= world.head


def test_a_cancelled_unit_names_its_cancellation_not_its_holder(world: World) -> None:
    v, _ = world.issuances["alpha_vcu"]
    body = world.get(f"/v1/registers/units/{v + 420}")
    assert body["state"] == "cancelled"
    assert body["block"] == {"start": v + 400, "end": v + 439}
    cancellation = body["cancellation"]
    assert cancellation == cancellation | {
        "cancellation_id": world.cancelled,
        "purpose": "voluntary",
        "beneficiary": "Acme",
        "reason": "FY25",
        "quantity": 90,
    }
    assert cancellation["timestamp"].endswith("Z")
    assert not (set(body) | set(cancellation)) & _HOLDER_FIELDS
    ndc = world.get(f"/v1/registers/units/{world.issuances['bravo_accu'][0] + 105}")
    assert ndc["cancellation"]["purpose"] == "ndc_use"
    assert ndc["cancellation"]["beneficiary"] == "Commonwealth"


def test_every_block_edge_reads_as_the_chain_holds_it(world: World) -> None:
    for block in world.blocks().blocks():
        for serial in {block.start, block.end}:
            body = world.get(f"/v1/registers/units/{serial}")
            assert body["block"] == {"start": block.start, "end": block.end}
            assert body["state"] == block.state.name.lower()
            assert (body["cancellation"] is not None) == (block.state == UnitState.CANCELLED)


@pytest.mark.parametrize(
    ("serial", "status", "code"),
    [
        ("0", 422, "INVALID_SERIAL"),
        ("-1", 422, "INVALID_SERIAL"),
        ("abc", 422, "INVALID_SERIAL"),
        ("1.5", 422, "INVALID_SERIAL"),
        ("1e3", 422, "INVALID_SERIAL"),
        (" 1", 422, "INVALID_SERIAL"),
        ("٣", 422, "INVALID_SERIAL"),
        (str(2**63), 422, "INVALID_SERIAL"),
        (str(2**64), 422, "INVALID_SERIAL"),
        ("9" * 100, 422, "INVALID_SERIAL"),
        (str(2**63 - 1), 404, "UNIT_NOT_FOUND"),
        ("after-the-last", 404, "UNIT_NOT_FOUND"),
    ],
)
def test_bad_serials(world: World, serial: str, status: int, code: str) -> None:
    if serial == "after-the-last":
        serial = str(max(end for _, end in world.issuances.values()) + 1)
    assert_problem(world.client.get(f"/v1/registers/units/{serial}"), status, code)


# -- labels ----------------------------------------------------------------------------------


def test_labels_register_pages_through_every_label(world: World) -> None:
    whole = world.get("/v1/registers/labels", limit=1000)["items"]
    assert len(whole) == 71
    assert [label["label_id"] for label in whole] == list(range(71))
    high = whole[world.labels["HIGH"]]
    assert high == high | {
        "label_id": 70,
        "name": "HIGH",
        "authority": world.keys["label_authority"].address,
    }
    assert set(high) == {"label_id", "name", "authority", "defined_block", "tx_hash"}
    paged = _all_pages(world, "/v1/registers/labels", limit=10)
    assert paged == whole
    backwards = _all_pages(world, "/v1/registers/labels", limit=7, sort="-label_id")
    assert backwards == whole[::-1]
    by_name = _all_pages(world, "/v1/registers/labels", limit=9, sort="-name")
    assert [label["name"] for label in by_name] == sorted(
        (label["name"] for label in whole), reverse=True
    )


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"name": "HIGH"}, [70]),
        ({"name": "CORSIA"}, [0]),
        ({"name": "NOPE"}, []),
        ({"authority": "0x0000000000000000000000000000000000000001"}, []),
    ],
)
def test_labels_filter(world: World, params: dict[str, str], expected: list[int]) -> None:
    items = world.get("/v1/registers/labels", **params)["items"]
    assert [label["label_id"] for label in items] == expected


def test_labels_filter_by_authority_in_any_case(world: World) -> None:
    authority = world.keys["label_authority"].address
    for value in (authority, authority.lower()):
        assert len(world.get("/v1/registers/labels", authority=value, limit=100)["items"]) == 71


def test_labels_as_csv(world: World) -> None:
    response = world.client.get("/v1/registers/labels", params={"format": "csv", "limit": 5})
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["label_id"]) for r in rows] == [0, 1, 2, 3, 4]
    assert rows[0]["name"] == "CORSIA"
    assert response.headers["x-next-cursor"]


# -- conventions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/v1/registers/projects",
        "/v1/registers/projects/PRJ-ALPHA",
        "/v1/registers/issuances",
        "/v1/registers/units/1",
        "/v1/registers/labels",
    ],
)
def test_registers_are_public(world: World, path: str) -> None:
    assert world.client.get(path).status_code == 200
    assert world.client.get(path, headers={"Authorization": "Bearer junk"}).status_code == 200


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("/v1/registers/projects", {"limit": "0"}, "INVALID_LIMIT"),
        ("/v1/registers/projects", {"limit": "1001"}, "INVALID_LIMIT"),
        ("/v1/registers/projects", {"sort": "methodology"}, "INVALID_SORT"),
        ("/v1/registers/projects", {"cursor": "abc"}, "INVALID_CURSOR"),
        ("/v1/registers/projects", {"holder": "x"}, "INVALID_FILTER"),
        ("/v1/registers/issuances", {"vintage": "MMXXI"}, "INVALID_FILTER"),
        ("/v1/registers/issuances", {"sort": "-account_id"}, "INVALID_SORT"),
        ("/v1/registers/issuances", {"format": "xlsx"}, "INVALID_FORMAT"),
        ("/v1/registers/labels", {"limit": "1000000"}, "INVALID_LIMIT"),
        ("/v1/registers/labels", {"name": ""}, "INVALID_FILTER"),
        ("/v1/registers/units/1", {"min_block": "x"}, "INVALID_MIN_BLOCK"),
    ],
)
def test_bad_register_parameters(
    world: World, path: str, params: dict[str, str], code: str
) -> None:
    assert_problem(world.client.get(path, params=params), 422, code)


def test_a_cursor_of_one_sort_is_refused_for_another(world: World) -> None:
    cursor = world.get("/v1/registers/issuances", limit=1, sort="-quantity")["next_cursor"]
    response = world.client.get(
        "/v1/registers/issuances", params={"cursor": cursor, "sort": "quantity"}
    )
    assert_problem(response, 422, "INVALID_CURSOR")
    projects = world.client.get("/v1/registers/projects", params={"cursor": cursor})
    assert_problem(projects, 422, "INVALID_CURSOR")
