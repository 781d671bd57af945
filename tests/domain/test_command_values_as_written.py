"""Command values are taken only as people write them in the import format and on the command
line: plain ASCII numbers, JSON integers and booleans, bounded ids, visible text."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from ledger.domain.commands import (
    AssessResponse,
    Command,
    RecordDose,
    ReportAdverseEvent,
    Screen,
    StopTreatment,
)
from ledger.domain.commands.base import command_from
from ledger.errors import ValidationError

BASE = {"subject_id": "MC0282-001-017", "date": "2003-01-14"}
DOSE = {**BASE, "drug": "anakinra", "route": "SC"}
AE = {**BASE, "term": "Injection site reaction", "attribution": "definite",
      "action_taken": "none"}  # fmt: skip


@pytest.mark.parametrize(
    ("model", "fields", "match"),
    [
        (
            RecordDose,
            {**DOSE, "dose": "\u0661\u0660\u0660"},
            r"dose=.* refused: expected a decimal number",
        ),
        (
            RecordDose,
            {**DOSE, "dose": "\uff11\uff10\uff10"},
            r"dose=.* refused: expected a decimal number",
        ),
        (RecordDose, {**DOSE, "dose": "100 "}, r"dose=.* refused: expected a decimal number"),
        (RecordDose, {**DOSE, "dose": "1_00"}, r"dose=.* refused: expected a decimal number"),
        (RecordDose, {**DOSE, "dose": "+100"}, r"dose=.* refused: expected a decimal number"),
        (RecordDose, {**DOSE, "dose": True}, r"dose=true refused: expected a decimal number"),
        (ReportAdverseEvent, {**AE, "grade": True}, r"grade=true refused: .*valid integer"),
        (ReportAdverseEvent, {**AE, "grade": "2"}, r"grade='2' refused: .*valid integer"),
        (ReportAdverseEvent, {**AE, "grade": Decimal("2.0")}, r"grade=.* refused: .*integer"),
        (
            ReportAdverseEvent,
            {**AE, "grade": 2, "ae_id": "AE-" + "9" * 40},
            r"ae_id=.* refused: .*at most 10 characters",
        ),
        (
            Screen,
            {**BASE, "site": "001", "sex": "F", "age_years": "50"},
            r"age_years='50' refused: .*valid integer",
        ),
        (
            AssessResponse,
            {**BASE, "investigator_category": "SD", "new_bone_lesions": "false"},
            r"new_bone_lesions='false' refused: .*valid boolean",
        ),
        (StopTreatment, {**BASE, "reason": "stop\u034fped"}, r"U\+034F.*invisible"),
        (
            StopTreatment,
            {**BASE, "date": "2003-02-30", "reason": "declined"},
            r"date='2003-02-30' refused: no such calendar day",
        ),
        (StopTreatment, {**BASE, "reason": "\u115f\u115f\u115f"}, r"U\+115F.*invisible"),
    ],
    ids=[
        "arabic-indic",
        "fullwidth",
        "space",
        "underscore",
        "plus",
        "bool-dose",
        "bool-grade",
        "text-grade",
        "decimal-grade",
        "long-ae-id",
        "text-age",
        "text-flag",
        "cgj",
        "filler",
        "february-30",
    ],
)
def test_refuses_a_value_not_written_as_the_format_says(
    model: type[Command], fields: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValidationError, match=match):
        command_from(model, fields)


@pytest.mark.parametrize(
    ("written", "stored"), [("1E2", "100"), ("100", "100"), ("2.5E-1", "0.25")]
)
def test_a_whole_amount_written_with_an_exponent_is_stored_plainly(
    written: Any, stored: str
) -> None:
    dose = command_from(RecordDose, {**DOSE, "dose": written})
    assert isinstance(dose, RecordDose)
    assert str(dose.dose) == stored
