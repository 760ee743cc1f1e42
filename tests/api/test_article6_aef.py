"""The golden AEF: a scripted year of ITMO actions gives exactly the expected rows, over HTTP in
JSON, CSV and XLSX, and `registry audit --aef` rebuilds the same AEF from the chain alone.

The year: Mongolia (MN) authorizes 600 of its units for NDC use, first transfer at use or
cancellation; transfers 300 to Japan (JP), which is their first transfer; uses 100 towards its
NDC and cancels 50 for OMGE (each preceded by its first transfer). Japan uses 100 of its 300.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from openpyxl import load_workbook
from sqlalchemy import text
from typer.testing import CliRunner

from indexer.aef import ACTION_COLUMNS, HOLDING_COLUMNS
from indexer.cli import app as indexer_app
from node.devchain import DevChain
from tests.api.article6_world import A6World, indexed, serve_a6_world
from tests.api.helpers import DATABASES, assert_problem, login

APPROACH = "JCM-MN-JP"
LETTER = "MN-LOA-2025-01"
METHODOLOGY = "MN_AM003 solar power"


class Year:
    """The scripted year: the world, its transactions and the chain's own records of them."""

    def __init__(self, world: A6World) -> None:
        self.world = world
        self.s = world.issued["start"]
        self.today = datetime.now(UTC).date().isoformat()
        self.tx: dict[str, str] = {}
        self.issuance_tx = ""

    def run(self) -> None:
        w, s, accounts = self.world, self.s, self.world.accounts
        self.issuance_tx = w.node.registry.client.w3.eth.get_transaction_receipt(
            self._issuance_tx_hash()
        )["transactionHash"].to_0x_hex()
        self.tx["authorize"] = w.write(
            "label_authority",
            "article6/authorizations",
            {
                "party": "MN",
                "letter_id": LETTER,
                "date": self.today,
                "purposes": ["ndc_use"],
                "cooperative_approach": APPROACH,
                "first_transfer_definition": "at_use_or_cancellation",
                "ranges": [{"start": s, "end": s + 599}],
            },
        )["tx_hash"]
        self.tx["transfer"] = w.write(
            "mn_ar",
            "article6/transfers",
            {
                "from_account": accounts["mn_holder"],
                "to_account": accounts["jp_holder"],
                "ranges": [{"start": s, "end": s + 299}],
            },
        )["tx_hash"]
        authorization_id = self.authorization_id()
        self.tx["mn_use"] = w.write(
            "mn_ar",
            "article6/cancellations",
            {
                "account_id": accounts["mn_holder"],
                "authorization_id": authorization_id,
                "quantity": 100,
                "purpose": "ndc_use",
                "beneficiary": "Mongolia NDC 2030",
            },
        )["tx_hash"]
        self.tx["omge"] = w.write(
            "mn_ar",
            "article6/cancellations",
            {
                "account_id": accounts["mn_holder"],
                "ranges": [{"start": s + 400, "end": s + 449}],
                "purpose": "omge",
            },
        )["tx_hash"]
        self.tx["jp_use"] = w.write(
            "jp_ar",
            "article6/cancellations",
            {
                "account_id": accounts["jp_holder"],
                "authorization_id": authorization_id,
                "quantity": 100,
                "purpose": "ndc_use",
                "beneficiary": "Japan NDC",
            },
        )["tx_hash"]

    def _issuance_tx_hash(self) -> str:
        admin = login(self.world.node.client, self.world.keys["registry_admin"])
        items = self.world.node.client.get(
            f"/v1/accounts/{self.world.accounts['mn_holder']}/transactions",
            params={"type": "issuance"},
            headers=admin,
        ).json()["items"]
        return str(items[0]["tx_hash"])

    def authorization_id(self) -> int:
        """Return the registry's number of MN's letter, from the chain's own view."""
        contract = self.world.node.registry.contract
        return int(
            contract.functions.authorizationOf(
                b"MN".ljust(8, b"\0"), LETTER.encode().ljust(32, b"\0")
            ).call()
        )

    def records(self, step: str) -> list[tuple[str, int, int, str]]:
        """Return (record id, start, end, action) of a step's Article 6 records, per its receipt."""
        registry = self.world.node.registry
        receipt = registry.client.w3.eth.get_transaction_receipt(self.tx[step])
        out = []
        for event in registry.decoder.decode_all(receipt["logs"]):
            if event.name == "Article6ActionRecorded":
                names = [
                    "none", "authorization", "first_transfer", "transfer", "acquisition",
                    "use_towards_ndc", "use_for_oimp", "voluntary_cancellation",
                    "omge_cancellation",
                ]  # fmt: skip
                out.append(
                    (
                        f"A6-{event.block_number}-{event.log_index}",
                        int(event.args["start"]),
                        int(event.args["end"]),
                        names[int(event.args["action"])],
                    )
                )
        return out

    def date(self, step: str) -> str:
        """Return the UTC date of the block a step's transaction is in."""
        client = self.world.node.registry.client
        block = client.w3.eth.get_transaction_receipt(self.tx[step])["blockNumber"]
        return datetime.fromtimestamp(client.get_block(block)["timestamp"], UTC).date().isoformat()

    @property
    def year(self) -> int:
        """Return the reported year: the one the actions are dated in."""
        return int(self.date("authorize")[:4])

    def row(self, step: str, index: int, **action: Any) -> dict[str, Any]:
        """Return the expected actions row of a step's `index`-th record."""
        record, start, end, name = self.records(step)[index]
        columns = {
            **self._units(start, end),
            "record_id": record,
            "action_date": self.date(step),
            "action_type": name,
            "transferring_party": None,
            "acquiring_party": None,
            "cancellation_purposes": None,
            "using_party_or_entity": None,
            "tx_hashes": _unique([self.tx[step], self.tx["authorize"], self.issuance_tx]),
            **action,
        }
        return {name: columns[name] for name, _ in ACTION_COLUMNS}

    def holding(self, start: int, end: int, source: str) -> dict[str, Any]:
        """Return the expected holdings row of `[start, end]`, brought in by step `source`."""
        columns = {
            **self._units(start, end),
            "record_id": f"A6H-{self.year}-{start}",
            "tx_hashes": _unique([self.tx[source], self.tx["authorize"], self.issuance_tx]),
        }
        return {name: columns[name] for name, _ in HOLDING_COLUMNS}

    def _units(self, start: int, end: int) -> dict[str, Any]:
        return {
            "cooperative_approach": APPROACH,
            "first_unique_identifier": f"{APPROACH}-MNG-MN-{start}-2025",
            "last_unique_identifier": f"{APPROACH}-MNG-MN-{end}-2025",
            "underlying_block_start": start,
            "underlying_block_end": end,
            "metric": "t CO2 eq",
            "quantity_in_metric": end - start + 1,
            "quantity_tco2e": end - start + 1,
            "first_transferring_party": "MN",
            "vintage": 2025,
            "sectors": None,
            "activity_types": [METHODOLOGY],
            "authorization_date": self.today,
            "authorization_id": LETTER,
            "authorized_purposes": ["ndc_use"],
            "oimp_authorized": False,
            "first_transfer_definition": "at_use_or_cancellation",
        }


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


@pytest.fixture(scope="module", params=DATABASES)
def year(
    request: pytest.FixtureRequest,
    session_chain: DevChain,
    dev_keys: dict[str, LocalAccount],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Year]:
    """Yield the scripted year, on SQLite and then on PostgreSQL."""
    for world in serve_a6_world(
        request.param, session_chain, dev_keys, tmp_path_factory.mktemp("a6-aef")
    ):
        scripted = Year(world)
        scripted.run()
        yield scripted


def _aef(scripted: Year, party: str, as_key: str = "registry_admin", **params: Any) -> Any:
    world = scripted.world
    headers = login(world.node.client, world.keys[as_key])
    return world.node.client.get(
        "/v1/article6/aef",
        params={"party": party, "year": scripted.year, **params},
        headers=headers,
    )


def test_mn_actions_and_holdings_are_exactly_the_golden_rows(year: Year) -> None:
    s = year.s
    response = _aef(year, "MN")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["heading"] == {"party": "MN", "reported_year": year.year}
    assert year.records("transfer") == [
        (year.records("transfer")[0][0], s, s + 299, "first_transfer"),
        (year.records("transfer")[1][0], s, s + 299, "transfer"),
        (year.records("transfer")[2][0], s, s + 299, "acquisition"),
    ]
    expected = [
        year.row("authorize", 0),
        year.row("transfer", 0, transferring_party="MN", acquiring_party="JP"),
        year.row("transfer", 1, transferring_party="MN", acquiring_party="JP"),
        year.row("mn_use", 0, transferring_party="MN"),
        year.row("mn_use", 1, cancellation_purposes=["ndc_use"], using_party_or_entity="MN"),
        year.row("omge", 0, transferring_party="MN"),
        year.row("omge", 1, cancellation_purposes=["omge"], using_party_or_entity="MN"),
    ]
    assert body["actions"] == expected
    assert [r["action_type"] for r in body["actions"]] == [
        "authorization",
        "first_transfer",
        "transfer",
        "first_transfer",
        "use_towards_ndc",
        "first_transfer",
        "omge_cancellation",
    ]
    # MN used the oldest 100 of what it kept: [s+300, s+399].
    assert body["actions"][4]["underlying_block_start"] == s + 300
    assert body["holdings"] == [year.holding(s + 450, s + 599, "authorize")]
    assert "NA" not in json.dumps(body).replace("NAT", "")


def test_jp_actions_and_holdings(year: Year) -> None:
    s = year.s
    body = _aef(year, "JP").json()
    assert body["heading"] == {"party": "JP", "reported_year": year.year}
    assert body["actions"] == [
        year.row("transfer", 2, transferring_party="MN", acquiring_party="JP"),
        year.row("jp_use", 0, cancellation_purposes=["ndc_use"], using_party_or_entity="JP"),
    ]
    assert body["actions"][1]["underlying_block_start"] == s
    assert body["holdings"] == [year.holding(s + 100, s + 299, "transfer")]


def test_another_year_has_no_actions(year: Year) -> None:
    body = _aef(year, "MN", year=year.year - 1).json()
    assert body["heading"]["reported_year"] == year.year - 1
    assert body["actions"] == [] and body["holdings"] == []


def _csv_tables(payload: str) -> dict[str, list[list[str]]]:
    tables: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    for row in csv.reader(io.StringIO(payload)):
        if len(row) == 1 and row[0].startswith("Table "):
            current = tables.setdefault(row[0].split(": ")[1], [])
        elif row and current is not None:
            current.append(row)
    return tables


def _cells(row: dict[str, Any], columns: Any) -> list[str]:
    out = []
    for name, _ in columns:
        value = row[name]
        if value is None:
            out.append("")
        elif isinstance(value, bool):
            out.append("yes" if value else "no")
        elif isinstance(value, list):
            out.append("; ".join(value))
        else:
            out.append(str(value))
    return out


def test_csv_and_xlsx_carry_the_same_three_tables(year: Year) -> None:
    body = _aef(year, "MN").json()
    response = _aef(year, "MN", format="csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    tables = _csv_tables(response.text)
    assert list(tables) == ["Heading", "Actions", "Holdings"]
    assert tables["Heading"] == [["Party", "Year"], ["MN", str(year.year)]]
    assert tables["Actions"][0] == [title for _, title in ACTION_COLUMNS]
    assert tables["Actions"][1:] == [_cells(r, ACTION_COLUMNS) for r in body["actions"]]
    assert tables["Holdings"][0] == [title for _, title in HOLDING_COLUMNS]
    assert tables["Holdings"][1:] == [_cells(r, HOLDING_COLUMNS) for r in body["holdings"]]
    assert ",NA," not in response.text

    single = _aef(year, "MN", format="csv", table="actions")
    assert list(csv.reader(io.StringIO(single.text))) == tables["Actions"]

    xlsx = _aef(year, "MN", format="xlsx")
    assert xlsx.status_code == 200
    assert "attachment" in xlsx.headers["content-disposition"]
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["Heading", "Actions", "Holdings"]
    for sheet in book.sheetnames:
        rows = [
            ["" if v is None else str(v) for v in r]
            for r in book[sheet].iter_rows(values_only=True)
        ]
        assert rows == tables[sheet]


def _audit(year: Year, party: str, out: Path) -> Any:
    settings = year.world.node.services.settings
    args = [
        "audit",
        "--aef", party, str(year.year),
        "--aef-out", str(out),
        "--data-dir", str(settings.data_dir),
        "--rpc-url", str(settings.rpc_url),
    ]  # fmt: skip
    if settings.database_url:
        args += ["--database-url", settings.database_url]
    return CliRunner().invoke(indexer_app, args)


@pytest.mark.parametrize("party", ["MN", "JP"])
def test_registry_audit_rebuilds_the_same_aef_from_the_chain(
    year: Year, party: str, tmp_path: Path
) -> None:
    api = _aef(year, party).json()
    result = _audit(year, party, tmp_path / "aef.json")
    assert result.exit_code == 0, result.output
    assert "equals the chain's" in result.output
    chain = json.loads((tmp_path / "aef.json").read_text())
    for table in ("heading", "actions", "holdings"):
        assert chain[table] == api[table]


def test_registry_audit_reports_a_tampered_mirror(year: Year, tmp_path: Path) -> None:
    engine = year.world.node.services.engine
    tampered = year.records("omge")[1][0]
    block, log = (int(x) for x in tampered.split("-")[1:])
    change = text(
        'UPDATE article6_actions SET "end" = "end" + :d WHERE block_number = :b AND log_index = :l'
    )
    with engine.begin() as conn:
        conn.execute(change, {"d": -10, "b": block, "l": log})
    try:
        result = _audit(year, "MN", tmp_path / "aef.json")
        assert result.exit_code == 1, result.output
        assert "differs" in result.output and tampered in result.output
    finally:
        with engine.begin() as conn:
            conn.execute(change, {"d": 10, "b": block, "l": log})
    assert _audit(year, "MN", tmp_path / "aef.json").exit_code == 0


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"year": "twenty"}, 422, "INVALID_FILTER"),
        ({"year": 1800}, 422, "INVALID_FILTER"),
        ({"format": "pdf"}, 422, "INVALID_FORMAT"),
        ({"table": "actions"}, 422, "INVALID_FILTER"),
        ({"colour": "red"}, 422, "INVALID_FILTER"),
        ({"party": "M N"}, 422, "INVALID_FILTER"),
        ({"party": "ZZ"}, 404, "PARTY_NOT_FOUND"),
    ],
)
def test_bad_aef_requests(year: Year, params: dict[str, Any], status: int, code: str) -> None:
    world = year.world
    headers = login(world.node.client, world.keys["registry_admin"])
    response = world.node.client.get(
        "/v1/article6/aef", params={"party": "MN", "year": year.year, **params}, headers=headers
    )
    assert_problem(response, status, code)


def test_the_aef_needs_a_token(year: Year) -> None:
    response = year.world.node.client.get(
        "/v1/article6/aef", params={"party": "MN", "year": year.year}
    )
    assert_problem(response, 401, "UNAUTHENTICATED")


def test_itmo_listing_gives_first_and_last_identifiers(year: Year) -> None:
    world, s = year.world, year.s
    headers = login(world.node.client, world.keys["mn_admin"])
    page = world.node.client.get(
        "/v1/article6/itmos", params={"party": "MN"}, headers=headers
    ).json()
    (held,) = page["items"]
    assert held["start"] == s + 450 and held["end"] == s + 599
    assert held["first_unique_identifier"] == f"{APPROACH}-MNG-MN-{s + 450}-2025"
    assert held["last_unique_identifier"] == f"{APPROACH}-MNG-MN-{s + 599}-2025"
    assert (held["state"], held["first_transferred"], held["letter_id"]) == ("held", False, LETTER)
    used = world.node.client.get(
        "/v1/article6/itmos", params={"party": "MN", "state": "cancelled"}, headers=headers
    ).json()["items"]
    assert [(i["start"], i["end"], i["first_transferred"]) for i in used] == [
        (s + 300, s + 399, True),
        (s + 400, s + 449, True),
    ]
    # The chain's own view of a block's identifier agrees with the listing.
    contract = world.node.registry.contract
    identifier = contract.functions.itmoIdentifier(s + 450).call()
    assert identifier[1].rstrip(b"\0") == b"MNG" and identifier[2].rstrip(b"\0") == b"MN"
    assert (identifier[3], identifier[4], identifier[5]) == (2025, s + 450, s + 599)
    jp = login(world.node.client, world.keys["jp_admin"])
    mine = world.node.client.get("/v1/article6/itmos", params={"party": "JP"}, headers=jp).json()
    assert [(i["start"], i["end"], i["first_transferred"]) for i in mine["items"]] == [
        (s + 100, s + 299, True)
    ]


def test_results_carry_the_first_transfer_ranges(year: Year) -> None:
    world = year.world
    s = year.s
    admin = login(world.node.client, world.keys["registry_admin"])
    transfer = world.node.client.get(
        "/v1/requests/" + _request_id(year, "transfer"), headers=admin
    ).json()["result"]
    assert transfer["status"] == "completed"
    assert transfer["ranges"] == [{"start": s, "end": s + 299}]
    assert transfer["first_transfer_ranges"] == [{"start": s, "end": s + 299}]


def _request_id(year: Year, step: str) -> str:
    registry = year.world.node.registry
    receipt = registry.client.w3.eth.get_transaction_receipt(year.tx[step])
    for event in registry.decoder.decode_all(receipt["logs"]):
        if event.name == "RequestExecuted":
            return str(event.args["digest"])
    raise AssertionError("no request executed")


def test_authorization_result(year: Year) -> None:
    s = year.s
    world = year.world
    admin = login(world.node.client, world.keys["registry_admin"])
    result = indexed(
        world.node.client.get(
            "/v1/requests/" + _request_id(year, "authorize"), headers=admin
        ).json()
    )
    assert result["authorization_id"] == year.authorization_id()
    assert result["ranges"] == [{"start": s, "end": s + 599}]
    assert result["first_transfer_ranges"] == []
