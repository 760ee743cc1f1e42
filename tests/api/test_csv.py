"""CSV exports open safely in a spreadsheet: user text never becomes a formula."""

from __future__ import annotations

import csv
import io

import pytest
from pydantic import BaseModel

from api.paging import csv_response


class _Row(BaseModel):
    holder_name: str
    quantity: int
    note: str | None


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("Alpha Carbon", "Alpha Carbon"),
        ("", ""),
    ],
)
def test_text_cells_starting_a_formula_are_quoted(text: str, written: str) -> None:
    response = csv_response(_Row, [_Row(holder_name=text, quantity=-5, note=None)], None, 7)
    (row,) = list(csv.DictReader(io.StringIO(bytes(response.body).decode())))
    assert row == {"holder_name": written, "quantity": "-5", "note": ""}
    assert response.headers["x-as-of-block"] == "7"
