"""The cancellations register (retirements) and free-text search, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from openpyxl import load_workbook

from node.devchain import DevChain
from tests.api.helpers import DATABASES, assert_problem
from tests.api.public_world import (
    FORMULA_BENEFICIARY,
    FORMULA_REASON,
    PublicWorld,
    serve_public_world,
)

_PATH = "/v1/registers/cancellations"
_FIELDS = {
    "cancellation_id",
    "issuance_id",
    "ranges",
    "quantity",
    "unit_type",
    "project_id",
    "vintage",
    "purpose",
    "beneficiary",
    "reason",
    "block_number",
    "timestamp",
    "tx_hash",
}
_HOLDER_FIELDS = {"account_id", "account", "holder", "holder_name", "to_account", "from_account"}


@pytest.fixture(scope="module", params=DATABASES)
def public(
    request: pytest.FixtureRequest,
    session_chain: DevChain,
    dev_keys: dict[str, LocalAccount],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PublicWorld]:
    """Yield the public scenario once per database."""
    yield from serve_public_world(
        request.param, session_chain, dev_keys, tmp_path_factory.mktemp("cancellations")
    )


def _get(public: PublicWorld, path: str = _PATH, **params: Any) -> Any:
    response = public.world.client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _keys(items: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [(i["cancellation_id"], i["project_id"]) for i in items]


def test_one_row_per_cancellation_and_issuance(public: PublicWorld) -> None:
    world = public.world
    body = _get(public)
    assert set(body) == {"items", "next_cursor", "as_of_block"}
    assert body["as_of_block"] >= public.head and body["next_cursor"] is None
    items = body["items"]
    for item in items:
        assert set(item) == _FIELDS
        assert not set(item) & _HOLDER_FIELDS
        assert item["timestamp"].endswith("Z")
        assert item["tx_hash"].startswith("0x") and len(item["tx_hash"]) == 66
        assert item["quantity"] == sum(r["end"] - r["start"] + 1 for r in item["ranges"])
    a, _ = world.issuances["alpha_accu"]
    v, _ = world.issuances["alpha_vcu"]
    b, _ = world.issuances["bravo_accu"]
    c, _ = world.issuances["charlie_accu"]
    # Alpha's cancellation drew on two issuances: two rows, one id, one transaction.
    rows = {(i["cancellation_id"], i["issuance_id"]): i for i in items}
    assert sorted(rows) == sorted(
        [
            (world.cancelled, world.issuance_ids["alpha_accu"]),
            (world.cancelled, world.issuance_ids["alpha_vcu"]),
            (world.cancelled_ndc, world.issuance_ids["bravo_accu"]),
            (public.formula_cancellation, world.issuance_ids["charlie_accu"]),
        ]
    )
    accu = rows[(world.cancelled, world.issuance_ids["alpha_accu"])]
    vcu = rows[(world.cancelled, world.issuance_ids["alpha_vcu"])]
    assert accu["tx_hash"] == vcu["tx_hash"]
    assert (accu["ranges"], accu["quantity"], accu["unit_type"], accu["vintage"]) == (
        [{"start": a + 700, "end": a + 749}],
        50,
        "ACCU",
        2021,
    )
    assert (vcu["ranges"], vcu["project_id"], vcu["unit_type"], vcu["vintage"]) == (
        [{"start": v + 400, "end": v + 439}],
        "PRJ-BRAVO",
        "VCU",
        2022,
    )
    assert (accu["purpose"], accu["beneficiary"], accu["reason"]) == ("voluntary", "Acme", "FY25")
    ndc = rows[(world.cancelled_ndc, world.issuance_ids["bravo_accu"])]
    assert (ndc["purpose"], ndc["beneficiary"], ndc["ranges"]) == (
        "ndc_use",
        "Commonwealth",
        [{"start": b + 100, "end": b + 109}],
    )
    formula = rows[(public.formula_cancellation, world.issuance_ids["charlie_accu"])]
    assert formula["ranges"] == [{"start": c, "end": c + 4}]
    # The register agrees with the unit lookup of every cancelled serial's first unit.
    for item in items:
        unit = _get(public, f"/v1/registers/units/{item['ranges'][0]['start']}")
        assert unit["cancellation"]["cancellation_id"] == item["cancellation_id"]
        assert unit["cancellation"]["tx_hash"] == item["tx_hash"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"beneficiary": "acme"}, ["alpha_accu", "alpha_vcu"]),
        ({"beneficiary": "COMMON"}, ["bravo_accu"]),
        ({"beneficiary": "wealth"}, ["bravo_accu"]),
        ({"beneficiary": "%"}, []),  # LIKE wildcards match themselves
        ({"beneficiary": "_cme"}, []),
        ({"project_id": "PRJ-ALPHA"}, ["alpha_accu", "bravo_accu"]),
        ({"unit_type": "VCU"}, ["alpha_vcu"]),
        ({"vintage": "2022"}, ["alpha_vcu", "charlie_accu"]),
        ({"purpose": "ndc_use"}, ["bravo_accu"]),
        ({"purpose": "omge"}, []),
        ({"project_id": "PRJ-ALPHA", "purpose": "voluntary"}, ["alpha_accu"]),
        ({"q": "fy25"}, ["alpha_accu", "alpha_vcu"]),
        ({"q": "prj-bravo"}, ["alpha_vcu", "charlie_accu"]),
        ({"q": "hyperlink"}, ["charlie_accu"]),
        ({"q": "nothing like it"}, []),
        ({"since": "2000-01-01"}, ["alpha_accu", "alpha_vcu", "bravo_accu", "charlie_accu"]),
        ({"until": "2000-01-01"}, []),
        ({"since": "2999-01-01T00:00:00Z"}, []),
    ],
)
def test_filters(public: PublicWorld, params: dict[str, str], expected: list[str]) -> None:
    world = public.world
    items = _get(public, **params)["items"]
    assert sorted(i["issuance_id"] for i in items) == sorted(
        world.issuance_ids[n] for n in expected
    )


def test_since_and_until_cut_at_the_block_time(public: PublicWorld) -> None:
    items = _get(public, sort="timestamp")["items"]
    last = items[-1]
    at = last["timestamp"]
    assert [i["cancellation_id"] for i in _get(public, since=at)["items"]] == [
        i["cancellation_id"] for i in items if i["timestamp"] >= at
    ]
    assert all(i["timestamp"] < at for i in _get(public, until=at)["items"])


@pytest.mark.parametrize(
    "sort",
    [
        *("cancellation_id", "-cancellation_id", "timestamp", "-quantity", "vintage"),
        *("project_id", "-beneficiary"),
    ],
)
def test_sort_and_page_one_by_one(public: PublicWorld, sort: str) -> None:
    whole = _get(public, sort=sort)["items"]
    assert len(whole) == 4
    paged: list[Any] = []
    cursor = None
    for _ in range(10):
        body = _get(public, sort=sort, limit=1, **({"cursor": cursor} if cursor else {}))
        paged += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert paged == whole
    field = sort.removeprefix("-")
    field = "block_number" if field == "timestamp" else field
    values = [i[field] for i in whole]
    assert values == sorted(values, reverse=sort.startswith("-"))


def test_csv_and_xlsx_keep_formula_text_as_text(public: PublicWorld) -> None:
    world = public.world
    items = _get(public)["items"]
    response = world.client.get(_PATH, params={"format": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    assert int(response.headers["x-as-of-block"]) >= public.head
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == list(items[0])
    assert [int(r["cancellation_id"]) for r in rows] == [i["cancellation_id"] for i in items]
    formula = next(r for r in rows if int(r["cancellation_id"]) == public.formula_cancellation)
    assert formula["beneficiary"] == "'" + FORMULA_BENEFICIARY
    assert formula["reason"] == "'" + FORMULA_REASON
    assert formula["ranges"].startswith('[{"start":')

    sheet = world.client.get(_PATH, params={"format": "xlsx", "beneficiary": "zed"})
    assert sheet.status_code == 200
    assert sheet.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(sheet.content))
    table = list(book.active.iter_rows(values_only=True))  # type: ignore[union-attr]
    assert list(table[0]) == list(items[0])
    assert len(table) == 2
    cells = dict(zip(table[0], table[1], strict=True))
    assert cells["beneficiary"] == "'" + FORMULA_BENEFICIARY
    assert cells["cancellation_id"] == public.formula_cancellation
    # Stored as text, not as a formula cell.
    cell = book.active.cell(row=2, column=list(table[0]).index("beneficiary") + 1)  # type: ignore[union-attr]
    assert cell.data_type == "s"


def test_projects_free_text(public: PublicWorld) -> None:
    def ids(q: str) -> list[str]:
        return [p["project_id"] for p in _get(public, "/v1/registers/projects", q=q)["items"]]

    assert ids("carbon") == ["PRJ-BRAVO", "PRJ-CHARLIE"]  # Blue carbon, Soil carbon
    assert ids("SAVANNA") == ["PRJ-ALPHA"]
    assert ids("nz") == ["PRJ-BRAVO"]
    assert ids("sfm 2018") == ["PRJ-ALPHA", "PRJ-CHARLIE"]
    assert ids("%") == []
    assert ids("zzz") == []


def test_the_register_is_public(public: PublicWorld) -> None:
    client = public.world.client
    assert client.get(_PATH).status_code == 200
    assert client.get(_PATH, headers={"Authorization": "Bearer junk"}).status_code == 200


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"holder": "x"}, "INVALID_FILTER"),
        ({"account_id": "AU-1000001"}, "INVALID_FILTER"),
        ({"purpose": "retire"}, "INVALID_FILTER"),
        ({"vintage": "MMXXI"}, "INVALID_FILTER"),
        ({"since": "yesterday"}, "INVALID_FILTER"),
        ({"until": "2024-13-01"}, "INVALID_FILTER"),
        ({"beneficiary": ""}, "INVALID_FILTER"),
        ({"q": "x" * 257}, "INVALID_FILTER"),
        ({"q": "a\x00b"}, "INVALID_FILTER"),
        ({"sort": "reason"}, "INVALID_SORT"),
        ({"limit": "0"}, "INVALID_LIMIT"),
        ({"cursor": "abc"}, "INVALID_CURSOR"),
        ({"format": "pdf"}, "INVALID_FORMAT"),
        ({"min_block": "x"}, "INVALID_MIN_BLOCK"),
    ],
)
def test_bad_parameters(public: PublicWorld, params: dict[str, str], code: str) -> None:
    assert_problem(public.world.client.get(_PATH, params=params), 422, code)


def test_a_cursor_of_another_list_is_refused(public: PublicWorld) -> None:
    cursor = _get(public, "/v1/registers/issuances", limit=1)["next_cursor"]
    response = public.world.client.get(_PATH, params={"cursor": cursor})
    assert_problem(response, 422, "INVALID_CURSOR")


def test_min_block_beyond_the_mirror_is_503(
    public: PublicWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(public.world.node.services.settings, "wait_timeout_seconds", 0.2)
    response = public.world.client.get(_PATH, params={"min_block": str(public.head + 10)})
    assert_problem(response, 503, "BLOCK_NOT_INDEXED")
