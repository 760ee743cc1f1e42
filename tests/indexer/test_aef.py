"""The AEF's CSV and XLSX open safely in a spreadsheet: text users wrote never becomes a formula."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from indexer.aef import (
    ACTION_COLUMNS,
    ActionFact,
    Article6Facts,
    AuthorizationFact,
    CancellationFact,
    IssuanceFact,
    _unit_columns,
    aef_csv,
    aef_xlsx,
    build_aef,
    year_bounds,
)

YEAR = 2024
BENEFICIARY_COLUMN = [name for name, _ in ACTION_COLUMNS].index("using_party_or_entity")
ACTIVITY_COLUMN = [name for name, _ in ACTION_COLUMNS].index("activity_types")


def _facts(beneficiary: str, methodology: str) -> Article6Facts:
    """A Party that authorizes 10 units and cancels 4 of them voluntarily for `beneficiary`."""
    when = year_bounds(YEAR)[0] + 86_400
    authorized, cancelled, issued = ("0x" + c * 64 for c in "abc")

    def action(block: int, operation: int, name: str, end: int, tx_hash: str) -> ActionFact:
        return ActionFact(block, 0, tx_hash, when, operation, 1, name, 1, end, 1_000_001, "XX", "")

    return Article6Facts(
        actions=[
            action(10, 7, "authorization", 10, authorized),
            action(11, 8, "voluntary_cancellation", 4, cancelled),
        ],
        authorizations={
            1: AuthorizationFact(
                1, "XX", "APPROACH", "LOA-1", "oimp", "at_authorization", when, authorized
            )
        },
        issuances=[IssuanceFact(1, 1, 100, "P-1", "VCU", 2023, "XXR", issued)],
        cancellations={8: CancellationFact(8, "voluntary", beneficiary, cancelled)},
        methodologies={"P-1": methodology},
    )


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("Alpha Carbon", "Alpha Carbon"),
    ],
)
def test_user_text_starting_a_formula_is_quoted_in_csv_and_xlsx(text: str, written: str) -> None:
    report = build_aef(_facts(text, text), "XX", YEAR, year_bounds(YEAR)[1])
    (cancelled,) = [r for r in report.actions if r["action_type"] == "voluntary_cancellation"]
    assert cancelled["using_party_or_entity"] == text  # the JSON keeps the text as written

    rows = list(csv.reader(io.StringIO(aef_csv(report, "actions"))))
    assert [row[BENEFICIARY_COLUMN] for row in rows[1:]] == ["", written]
    assert {row[ACTIVITY_COLUMN] for row in rows[1:]} == {written}

    sheet = load_workbook(io.BytesIO(aef_xlsx(report)))["Actions"]
    cells = [row[BENEFICIARY_COLUMN] for row in sheet.iter_rows(min_row=2)]
    assert [c.value for c in cells] == [None, written]
    assert cells[1].data_type == "s"  # text, never a formula


def test_an_itmo_identifier_names_the_authorizing_partys_registry() -> None:
    """A1: approach, originating Party registry id, first transferring Party, serial, vintage.

    The registry code the units were issued under ("AU" here) is not the Party's registry id.
    """
    facts = Article6Facts(
        issuances=[IssuanceFact(7, 100, 199, "P-1", "A6.4ER", 2023, "AU", "0x" + "11" * 32)]
    )
    authorization = AuthorizationFact(
        id=1,
        party="X701",
        approach_id="CA-701",
        letter_id="L-1",
        purposes="ndc_use",
        first_transfer_definition="authorization",
        authorized_at=0,
        tx_hash="0x" + "22" * 32,
        registry_id="X701-REG",
    )
    columns, issuance = _unit_columns(facts, authorization, 120, 129)
    assert issuance.id == 7
    assert columns["first_unique_identifier"] == "CA-701-X701-REG-X701-120-2023"
    assert columns["last_unique_identifier"] == "CA-701-X701-REG-X701-129-2023"
