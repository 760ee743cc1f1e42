"""The CADT export (I3) against a fixture of the CADT data model: API endpoint and CLI."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from openpyxl import load_workbook

from indexer.cadt import UNFILLED
from node.devchain import DevChain
from tests.api.helpers import assert_problem, serve
from tests.api.public_world import FORMULA_BENEFICIARY, PublicWorld, build_public_world

SCHEMA: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "cadt_schema.json").read_text(encoding="utf-8")
)
TABLES = ("projects", "issuances", "units", "labels")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@pytest.fixture(scope="module")
def public(
    session_chain: DevChain,
    dev_keys: dict[str, LocalAccount],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PublicWorld]:
    """The public scenario on SQLite."""
    yield from serve(
        build_public_world, "sqlite", session_chain, dev_keys, tmp_path_factory.mktemp("cadt")
    )


def _check_against_schema(document: dict[str, Any]) -> None:
    unfilled = document["unfilled"]
    for table in TABLES:
        fields = SCHEMA[table]
        # What the export says it cannot fill names fields of the model, and is null everywhere.
        assert set(unfilled[table]) <= set(fields), table
        for record in document[table]:
            assert set(record) == set(fields), (table, set(record) ^ set(fields))
            for name, spec in fields.items():
                value = record[name]
                if value is None:
                    required = spec["required"]
                    when = spec.get("required_when", {})
                    for other, values in when.items():
                        required = required or record[other] in values
                    assert not required or name in unfilled[table], (table, name, record)
                    continue
                assert name not in unfilled[table], (table, name, value)
                kind = spec["type"]
                if kind == "string":
                    assert isinstance(value, str) and value, (table, name, value)
                elif kind == "integer":
                    assert isinstance(value, int) and not isinstance(value, bool)
                    assert spec.get("minimum", value) <= value <= spec.get("maximum", value)
                elif kind == "date":
                    assert isinstance(value, str) and _DATE.fullmatch(value), (name, value)
                elif kind == "array":
                    assert isinstance(value, list)
                if "enum" in spec:
                    assert value in spec["enum"], (table, name, value)
            # A record never lacks a required field the export claims it can fill.
            for name, spec in fields.items():
                if spec["required"] and name not in unfilled[table]:
                    assert record[name] is not None, (table, name)


def test_the_api_export_follows_the_cadt_model(public: PublicWorld) -> None:
    world = public.world
    response = world.client.get("/v1/registers/cadt")
    assert response.status_code == 200
    document = response.json()
    assert document["as_of_block"] >= public.head
    assert int(response.headers["x-as-of-block"]) == document["as_of_block"]
    assert document["registry"]["registry_code"] == "AU"
    assert document["unfilled"] == UNFILLED
    _check_against_schema(document)

    projects = {p["projectId"]: p for p in document["projects"]}
    assert sorted(projects) == ["PRJ-ALPHA", "PRJ-BRAVO", "PRJ-CHARLIE"]
    alpha = projects["PRJ-ALPHA"]
    assert (alpha["projectName"], alpha["methodology"], alpha["projectStatus"]) == (
        "Savanna burning",
        "SFM 2018",
        "Registered",
    )
    assert alpha["projectLink"] == "http://testserver/projects/PRJ-ALPHA"
    # Every issued unit is in exactly one unit record; retired ones carry their reason.
    issued = sum(i["quantity"] for i in world.get("/v1/registers/issuances")["items"])
    units = document["units"]
    assert sum(u["unitCount"] for u in units) == issued
    retired = [u for u in units if u["unitStatus"] in ("Retired", "Cancelled")]
    cancelled = world.get("/v1/registers/cancellations")["items"]
    assert sum(u["unitCount"] for u in retired) == sum(c["quantity"] for c in cancelled)
    assert all(u["unitStatus"] == "Retired" for u in retired)  # none was an OMGE cancellation
    hostile = [u for u in retired if FORMULA_BENEFICIARY in u["unitStatusReason"]]
    assert [u["unitCount"] for u in hostile] == [5]
    # Units link to their issuance, issuances to their project.
    issuance_ids = {i["id"] for i in document["issuances"]}
    project_ids = {p["warehouseProjectId"] for p in document["projects"]}
    assert {u["issuanceId"] for u in units} <= issuance_ids
    assert {i["warehouseProjectId"] for i in document["issuances"]} <= project_ids
    # Labels per project: CORSIA on Alpha's ACCU (100) and on Bravo's VCU (50).
    corsia = {
        lbl["warehouseProjectId"]: lbl["unitQuantity"]
        for lbl in document["labels"]
        if lbl["label"] == "CORSIA"
    }
    assert corsia == {
        projects["PRJ-ALPHA"]["warehouseProjectId"]: 100,
        projects["PRJ-BRAVO"]["warehouseProjectId"]: 50,
    }
    label_ids = {lbl["id"] for lbl in document["labels"]}
    assert {x for u in units for x in u["labels"]} == label_ids
    # The same registry exported again names every record the same way.
    again = world.client.get("/v1/registers/cadt").json()
    assert [u["warehouseUnitId"] for u in again["units"]] == [u["warehouseUnitId"] for u in units]


def test_the_xlsx_export_has_a_sheet_per_table(public: PublicWorld) -> None:
    world = public.world
    document = world.client.get("/v1/registers/cadt").json()
    response = world.client.get("/v1/registers/cadt", params={"format": "xlsx"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["about", *TABLES, "unfilled"]
    for table in TABLES:
        rows = list(book[table].iter_rows(values_only=True))
        assert list(rows[0]) == list(SCHEMA[table]) or set(rows[0]) == set(SCHEMA[table])
        assert len(rows) - 1 == len(document[table])
    units = list(book["units"].iter_rows(values_only=True))
    reason = list(units[0]).index("unitStatusReason")
    cells = [row[reason] for row in units[1:] if row[reason]]
    assert any(FORMULA_BENEFICIARY in c for c in cells)
    assert all(not str(c).startswith(("=", "+", "-", "@")) for row in units[1:] for c in row if c)


@pytest.mark.parametrize(
    ("params", "code"),
    [({"format": "csv"}, "INVALID_FORMAT"), ({"party": "AU"}, "INVALID_FILTER")],
)
def test_bad_parameters(public: PublicWorld, params: dict[str, str], code: str) -> None:
    assert_problem(public.world.client.get("/v1/registers/cadt", params=params), 422, code)


def test_the_cli_exports_the_same_document(public: PublicWorld, tmp_path: Path) -> None:
    world = public.world
    api = world.client.get("/v1/registers/cadt").json()
    services = world.node.services
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env["REGISTRY_DATABASE_URL"] = services.engine.url.render_as_string(hide_password=False)
    registry = str(Path(sys.executable).with_name("registry"))
    out = tmp_path / "cadt.json"
    done = subprocess.run(
        [registry, "export", "cadt", "--out", str(out), "--base-url", "http://testserver/"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(out.read_text(encoding="utf-8")) == api
    sheet = tmp_path / "cadt.xlsx"
    done = subprocess.run(
        [registry, "export", "cadt", "--format", "xlsx", "--out", str(sheet)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert load_workbook(sheet).sheetnames == ["about", *TABLES, "unfilled"]
