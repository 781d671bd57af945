"""Two entry points, one command model: a subject recorded with the CLI's options and the same
subject recorded as import lines (one line a file, signed by the same people) write the same
events, position for position, and a refusal reads the same rule from both."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_clinical_paths import (
    Trial,
    iso,
    new_trial,
    run,
    template,  # noqa: F401 - the module's template ledger fixture
)
from tests.domain.trial_helpers import ENROLLED_ON, SCREENED_ON, START, day, eligible_inputs

SUBJECT = "MC0282-001-061"

# (who signs, CLI arguments after the command name, the same command as an import line)
STEPS: list[tuple[str, list[str], dict[str, Any]]] = [
    ("cole", ["screen", "--site", "001", "--age", "61", "--sex", "F", "--date", iso(SCREENED_ON)],
     {"command": "screen", "site": "001", "age_years": 61, "sex": "F", "date": iso(SCREENED_ON)}),
    ("cole", ["consent", "--version", "2002-10", "--date", "2003-01-07"],
     {"command": "consent", "consent_version": "2002-10", "date": "2003-01-07"}),
    ("ada", ["eligibility", "--inputs", "{inputs}", "--date", "2003-01-08"],
     {"command": "eligibility", "inputs": "{inputs}", "date": "2003-01-08"}),
    ("ada", ["enrol", "--treatment-start", iso(START), "--serum-m-protein", "3.2", "--hs-crp",
             "4.1", "--date", iso(ENROLLED_ON)],
     {"command": "enrol", "treatment_start": iso(START), "date": iso(ENROLLED_ON),
      "baseline": {"serum_m_protein_g_dl": "3.2", "hs_crp_mg_l": "4.1"}}),
    ("cole", ["dose", "--drug", "anakinra", "--dose", "100", "--route", "SC", "--date",
              iso(START)],
     {"command": "dose", "drug": "anakinra", "dose": 100, "route": "SC", "date": iso(START)}),
    ("cole", ["missed-dose", "--drug", "anakinra", "--reason", "injection-site reaction",
              "--held", "--date", iso(day(2))],
     {"command": "missed-dose", "drug": "anakinra", "reason": "injection-site reaction",
      "held": True, "date": iso(day(2))}),
    ("cole", ["lab", "--analyte", "serum_m_protein", "--value", "2.9", "--unit", "g/dL",
              "--date", iso(day(28))],
     {"command": "lab", "analyte": "serum_m_protein", "value": "2.9", "unit": "g/dL",
      "date": iso(day(28))}),
    ("ada", ["assess", "--category", "SD", "--no-new-bone-lesions", "--plasmacytoma",
             "--date", iso(day(28))],
     {"command": "assess", "investigator_category": "SD", "new_bone_lesions": False,
      "plasmacytoma": True, "date": iso(day(28))}),
    ("cole", ["ae", "--term", "Injection site reaction", "--grade", "3", "--attribution",
              "definite", "--action", "dose-held", "--serious", "hospitalisation",
              "--serious", "important-medical-event", "--date", iso(day(29))],
     {"command": "ae", "term": "Injection site reaction", "grade": 3,
      "attribution": "definite", "action_taken": "dose-held",
      "seriousness_criteria": ["hospitalisation", "important-medical-event"],
      "date": iso(day(29))}),
    ("cole", ["ae-resolve", "--ae-id", "AE-001", "--outcome", "recovered", "--date",
              iso(day(35))],
     {"command": "ae-resolve", "ae_id": "AE-001", "outcome": "recovered",
      "date": iso(day(35))}),
    ("cole", ["correct", "--position", "{lab}", "--field", "value", "--old", "2.9", "--new",
              "2.8", "--reason", "transcription error", "--date", iso(day(36))],
     {"command": "correct", "position": "{lab}", "field": "value", "old_value": "2.9",
      "new_value": "2.8", "reason": "transcription error", "date": iso(day(36))}),
    ("ada", ["stop-treatment", "--reason", "patient declined further treatment", "--date",
             iso(day(40))],
     {"command": "stop-treatment", "reason": "patient declined further treatment",
      "date": iso(day(40))}),
    ("cole", ["follow-up", "--status", "no-progression", "--note", "well", "--date",
              iso(day(70))],
     {"command": "follow-up", "disease_status": "no-progression", "note": "well",
      "date": iso(day(70))}),
    ("ada", ["withdraw", "--reason", "moved away", "--date", iso(day(80))],
     {"command": "withdraw", "reason": "moved away", "consent_withdrawn": True,
      "date": iso(day(80))}),
]  # fmt: skip


def _fill(value: Any, slots: dict[str, Any]) -> Any:
    if isinstance(value, str) and value in slots:
        return slots[value]
    if isinstance(value, dict):
        return {k: _fill(v, slots) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, slots) for v in value]
    return value


def _import(trial: Trial, who: str, line: dict[str, Any], number: int) -> list[dict[str, Any]]:
    file = trial.folder / f"line-{number}.jsonl"
    file.write_text(json.dumps({"subject_id": SUBJECT, **line}) + "\n", encoding="utf-8")
    result = run("import", file, "--db", trial.db, "--key", trial.folder / f"{who}.key",
                 "--passphrase-file", trial.folder / "passphrase", "--json")  # fmt: skip
    assert result.code == 0, result
    events: list[dict[str, Any]] = result.json()["events"]
    return events


def test_the_cli_and_an_import_record_the_same_events_for_the_same_commands(
    template: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    by_cli = new_trial(template, tmp_path_factory, "cli")
    by_import = new_trial(template, tmp_path_factory, "import")
    inputs = by_cli.folder / "inputs.json"
    inputs.write_text(eligible_inputs().model_dump_json(), encoding="utf-8")
    slots: dict[str, Any] = {"{inputs}": str(inputs)}
    for number, (who, argv, line) in enumerate(STEPS):
        cli_args = [str(_fill(a, slots)) for a in argv]
        from_cli = by_cli.ok(who, cli_args[0], "--subject", SUBJECT, *cli_args[1:])
        line_slots = {**slots, "{inputs}": eligible_inputs().model_dump(mode="json")}
        from_import = _import(by_import, who, _fill(line, line_slots), number)
        assert from_import == from_cli, cli_args[0]
        if cli_args[0] == "lab":
            slots["{lab}"] = from_cli[0]["position"]
    assert by_cli.tree()[0] == by_import.tree()[0]
    by_cli.subject = by_import.subject = SUBJECT
    recorded, imported = by_cli.patient(), by_import.patient()
    for view in (recorded, imported):  # when each commit was made differs, nothing else
        view["as_of"].pop("recorded_at")
    assert recorded == imported


REFUSALS = [
    (["dose", "--drug", "anakinra", "--dose", "\u0661\u0660\u0660", "--route", "SC",
      "--date", iso(START)],
     {"command": "dose", "drug": "anakinra", "dose": "\u0661\u0660\u0660", "route": "SC",
      "date": iso(START)},
     "expected a decimal number written in ASCII digits"),
        (["dose", "--drug", "anakinra", "--dose", "100", "--route", "SC", "--date",
          iso(date(2003, 1, 9))],
         {"command": "dose", "drug": "anakinra", "dose": "100", "route": "SC",
          "date": "2003-01-09"},
         "[REC-SCREENED]"),
        (["screen", "--site", "002", "--age", "61", "--sex", "F", "--date", iso(SCREENED_ON)],
         {"command": "screen", "site": "002", "age_years": 61, "sex": "F",
          "date": iso(SCREENED_ON)},
         "[REC-SITE]"),
        (["screen", "--site", "001", "--age", "61", "--sex", "F", "--date", "2003-1-6"],
         {"command": "screen", "site": "001", "age_years": 61, "sex": "F", "date": "2003-1-6"},
         "expected a date as YYYY-MM-DD"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "line", "rule"),
    REFUSALS,
    ids=["other-digits", "dose-before-enrolment", "wrong-site", "loose-date"],
)
def test_a_refusal_reads_the_same_rule_from_the_cli_and_from_an_import(
    template: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
    argv: list[str],
    line: dict[str, Any],
    rule: str,
) -> None:
    trial = new_trial(template, tmp_path_factory, "refusal")
    before = trial.tree()
    by_cli = trial.record("cole", argv[0], "--subject", SUBJECT, *argv[1:])
    file = trial.folder / "one.jsonl"
    file.write_text(json.dumps({"subject_id": SUBJECT, **line}) + "\n", encoding="utf-8")
    by_import = run("import", file, "--db", trial.db, "--key", trial.folder / "cole.key",
                    "--passphrase-file", trial.folder / "passphrase")  # fmt: skip
    assert (by_cli.code, by_import.code) == (2, 2)
    assert rule in by_cli.err
    assert rule in by_import.err
    assert trial.tree() == before
