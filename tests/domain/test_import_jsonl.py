"""JSON Lines import: one atomic signed commit, or the whole file refused with line numbers."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ledger.errors import AuthorisationError, UsageError
from ledger.events import LabResulted
from ledger.jsonl import import_line_schema, import_line_schema_text
from ledger.recording import ImportRefused, TrialRecorder
from tests.domain.trial_helpers import OTHER, SUBJECT, baseline, day, eligible_inputs
from tests.support import Cast, new_signer

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schemas" / "import-line.schema.json"


def line(command: str, on_day: int, subject: str = SUBJECT, **fields: Any) -> str:
    document = {"command": command, "subject_id": subject, "date": day(on_day).isoformat()}
    document.update(fields)
    return json.dumps(document, default=str)


def diary(first_day: int, days: int) -> list[str]:
    return [
        line("dose", n, drug="anakinra", dose="100", route="SC")
        for n in range(first_day, first_day + days)
    ]


def write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "transfer.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def commits(recorder: TrialRecorder) -> int:
    return sum(1 for _ in recorder.ledger.reader.iter_commits())


def test_imports_a_dosing_diary_as_one_signed_commit(
    recorder: TrialRecorder, cast: Cast, enrolled: str, tmp_path: Path
) -> None:
    before = commits(recorder)
    recorded = recorder.import_jsonl(cast.coordinator, write(tmp_path, diary(1, 14)))
    assert len(recorded.positions) == 14
    assert commits(recorder) == before + 1
    assert recorded.commit.header.signer == cast.coordinator.key_id
    assert len(recorder.patient(SUBJECT).doses) == 14


def test_refuses_the_whole_file_listing_every_invalid_line(
    recorder: TrialRecorder, cast: Cast, enrolled: str, tmp_path: Path
) -> None:
    lines = [
        *diary(1, 3),
        line("dose", 2, drug="anakinra", dose="100", route="SC"),  # duplicate of line 2
        line("lab", 3, analyte="serum_m_protein", value="31", unit="g/dL"),
        line("dose", 4, drug="dexamethasone", dose="20", route="PO"),
        "{not json",
        line("teleport", 5),
    ]
    head = recorder.ledger.reader.size()
    with pytest.raises(ImportRefused, match=r"refused, nothing written: 5 of 8 lines") as refused:
        recorder.import_jsonl(cast.coordinator, write(tmp_path, lines))
    message = str(refused.value)
    assert "line 4: [REC-DUPLICATE-DOSE]" in message
    assert "line 5: value='31' refused: [LAB-RANGE]" in message
    assert "line 6: DOSE-NOT-IN-REGIMEN" in message
    assert "line 7: line='{not json' refused: [INPUT-JSON] not JSON" in message
    assert "line 8: command='teleport' refused" in message
    assert [n for n, _ in refused.value.problems] == [4, 5, 6, 7, 8]
    assert recorder.ledger.reader.size() == head


def test_checks_lines_in_order_on_the_state_the_earlier_lines_leave(
    recorder: TrialRecorder, cast: Cast
) -> None:
    inputs = eligible_inputs().model_dump(mode="json")
    lines = [
        line("screen", -7, site="001", age_years=61, sex="F"),
        line("consent", -6, consent_version="2002-10"),
        line("eligibility", -5, inputs=inputs),
        line("enrol", -3, treatment_start=day(1).isoformat(), baseline=baseline().model_dump()),
        *diary(1, 2),
    ]
    recorded = recorder.import_jsonl(cast.investigator, lines)
    names = [type(e).__name__ for e in recorded.events]
    assert names[:5] == [
        "SubjectScreened",
        "ConsentObtained",
        "EligibilityAssessed",
        "SubjectEnrolled",
        "RegimenChanged",
    ]
    assert [e.originator_version for e in recorded.events] == list(range(1, 8))


def test_a_line_refused_by_an_earlier_lines_effect_is_listed(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    lines = [
        line("withdraw", 10, reason="moved abroad"),
        line("dose", 11, drug="anakinra", dose="100", route="SC"),
    ]
    with pytest.raises(ImportRefused, match=r"line 2: \[REC-AFTER-WITHDRAWAL\]"):
        recorder.import_jsonl(cast.coordinator, lines)


def test_refuses_lines_the_signer_may_not_record(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    lines = [*diary(1, 1), line("assess", 30, investigator_category="SD")]
    with pytest.raises(ImportRefused, match=r"line 2: role 'coordinator'.*ResponseAssessed"):
        recorder.import_jsonl(cast.coordinator, lines)


def test_refuses_an_import_by_an_unregistered_key(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    with pytest.raises(AuthorisationError, match=r"not registered"):
        recorder.import_jsonl(new_signer(), diary(1, 1))


def test_refuses_an_empty_file(recorder: TrialRecorder, cast: Cast, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no lines to import"):
        recorder.import_jsonl(cast.coordinator, write(tmp_path, ["", "  "]))


def test_refuses_a_missing_file(recorder: TrialRecorder, cast: Cast, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"import file .*missing.jsonl"):
        recorder.import_jsonl(cast.coordinator, tmp_path / "missing.jsonl")


def test_json_numbers_are_read_as_exact_decimals(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    text = (
        '{"command": "lab", "subject_id": "MC0282-001-017", "date": "2003-02-01",'
        ' "analyte": "serum_m_protein", "value": 2.45, "unit": "g/dL"}'
    )
    event = recorder.import_jsonl(cast.coordinator, [text]).events[0]
    assert isinstance(event, LabResulted)
    assert event.value == Decimal("2.45")
    assert event.payload()["value"] == "2.45"


def test_lines_of_several_subjects_go_in_one_commit(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    lines = [*diary(1, 1), line("screen", -7, OTHER, site="001", age_years=70, sex="M")]
    recorded = recorder.import_jsonl(cast.coordinator, lines)
    assert [e.subject_id for e in recorded.events] == [SUBJECT, OTHER]


def test_the_committed_schema_is_the_generated_one() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == import_line_schema_text(), (
        "schemas/import-line.schema.json is stale: regenerate it with "
        "`trial-ledger schema import-line > schemas/import-line.schema.json`"
    )


def test_the_schema_accepts_every_kind_of_line_the_tests_import() -> None:
    validator = jsonschema.Draft202012Validator(import_line_schema())
    inputs = eligible_inputs().model_dump(mode="json")
    for text in [
        *diary(1, 1),
        line("eligibility", 1, inputs=inputs),
        line("enrol", 1, treatment_start="2003-01-13", baseline=baseline().model_dump()),
        line("lab", 3, analyte="serum_m_protein", value=2.45, unit="g/dL"),
        line("correct", 4, position=12, field="dose", new_value="50", reason="diary misread"),
        line("ae", 4, term="Rash", grade=2, attribution="possible", action_taken="none"),
    ]:
        validator.validate(json.loads(text))


def test_the_schema_refuses_an_unknown_command_and_extra_fields() -> None:
    validator = jsonschema.Draft202012Validator(import_line_schema())
    assert not validator.is_valid(json.loads(line("teleport", 1)))
    assert not validator.is_valid(
        json.loads(line("dose", 1, drug="anakinra", dose="100", route="SC", nurse="Kim"))
    )


def test_the_schema_enforces_the_bounds_of_numbers_as_the_models_do() -> None:
    """A schema validator refuses what the models refuse by range (a marrow percentage over
    100, a negative serum M-protein, a dose over 1,000 mg), not only by type."""
    validator = jsonschema.Draft202012Validator(import_line_schema())
    inputs = eligible_inputs().model_dump(mode="json")
    assert validator.is_valid(json.loads(line("eligibility", 1, inputs=inputs)))
    for field, value in (("marrow_plasma_cells_pct", 150), ("serum_m_protein_g_dl", -1)):
        bad = {**inputs, field: value}
        assert not validator.is_valid(json.loads(line("eligibility", 1, inputs=bad))), field
    too_much = line("dose", 1, drug="anakinra", dose=5000, route="SC")
    assert not validator.is_valid(json.loads(too_much))
