"""The read-model commands as a user runs them: JSON shapes, exports, exit codes, help."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cli import app, run
from ledger.service import TrialLedger
from ledger.store import APPEND_ONLY_TABLES
from tests.projection_support import S1, S2, RecordedTrial, recorded_trial, story  # noqa: F401

COMMANDS = [
    ["patient"],
    ["audit-trail"],
    ["summary"],
    ["projections", "rebuild"],
    ["projections", "status"],
    ["projections", "catch-up"],
    ["projections", "follow"],
]


@pytest.fixture
def db(ledger: TrialLedger, recorded_trial: RecordedTrial, db_path: Path) -> Path:  # noqa: F811
    t = recorded_trial
    for step in story(t):
        step()
    # The serum results behind S2's partial responses on low-dose dexamethasone (categories are
    # derived from the labs), entered after the assessments.
    t.append(t.lab(S2, "2003-09-01", "1.9"), t.lab(S2, "2003-10-20", "1.8"))
    return db_path


def json_of(capsys: pytest.CaptureFixture[str], argv: list[str]) -> Any:
    assert run(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_read_command_has_help_with_an_example(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run([*command, "--help"]) == 0
    assert "Example: trial-ledger" in capsys.readouterr().out
    assert app.registered_commands  # the app is wired


def test_patient_json_has_the_documented_members(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = json_of(capsys, ["patient", S2, "--db", str(db), "--json"])
    assert list(report)[:5] == ["as_of", "subject_id", "site", "reference_date", "regimen"]
    assert report["as_of"]["source"] == "views"
    assert report["regimen"] == "low_dose_dex"
    assert report["response"]["best_confirmed"]["category"] == "PR"


def test_patient_on_a_clinical_date_and_as_of_a_position(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    on = json_of(capsys, ["patient", S2, "--db", str(db), "--on", "2003-07-01", "--json"])
    assert (on["regimen"], on["as_of"]["on"], on["as_of"]["source"]) == (
        "induction",
        "2003-07-01",
        "ledger",
    )
    assert [a["date"] for a in on["response"]["assessments"]] == ["2003-05-01"]
    early = json_of(capsys, ["patient", S2, "--db", str(db), "--position", "20", "--json"])
    assert early["as_of"]["position"] == 20
    assert early["response"]["assessments"] == []


def test_patient_as_of_a_time_before_the_subject_existed_is_not_found(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["patient", S1, "--db", str(db), "--as-of", "2001-01-01T00:00:00Z"]) == 2
    assert "no events in the ledger up to position 0" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["patient", "017"], "expected a subject id"),
        (["patient", "MC0282-009-999"], "no events in the ledger"),
        (["patient", S1, "--position", "1", "--as-of", "2003-01-01"], "at most one of"),
        (["patient", S1, "--on", "yesterday"], "expected a date"),
        (["audit-trail", "--csv", "--json"], "at most one of --csv and --json"),
    ],
)
def test_refused_input_exits_2_with_a_message(
    db: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run([*argv, "--db", str(db)]) == 2
    assert message in capsys.readouterr().err


def test_audit_trail_csv_and_json_exports(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["audit-trail", "--db", str(db), "--subject", S2, "--csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("position,hash,event_type,subject_id,key_id,printed_name")
    out = tmp_path / "trail.json"
    argv = ["audit-trail", "--db", str(db), "--type", "CorrectionRecorded", "--json"]
    assert run([*argv, "--out", str(out)]) == 0
    document = json.loads(out.read_text())
    assert document["count"] == 3
    assert {e["field"] for e in document["events"]} == {"value", "record_status", "effective_date"}


def test_audit_trail_text_names_the_signer(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["audit-trail", "--db", str(db), "--person", "Mona"]) == 0
    assert "review by Mona Monitor (monitor, site *" in capsys.readouterr().out


def test_summary_json_and_text(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = json_of(capsys, ["summary", "--db", str(db), "--json"])
    assert list(report) == [
        "trial_id",
        "position",
        "populations",
        "primary_response_rate",
        "low_dose_dexamethasone_response_rate",
        "high_dose_dexamethasone_response_rate",
        "progression_free_at_6_months",
        "time_to_progression",
        "duration_of_response",
        "adverse_events",
        "views_proved",
    ]
    assert report["views_proved"]["position"] == report["position"]  # proved before serving
    trusted = json_of(capsys, ["summary", "--db", str(db), "--trust-views", "--json"])
    assert trusted["views_proved"] == report["views_proved"]  # served as last proved
    assert run(["summary", "--db", str(db)]) == 0
    assert "1/3 = 0.3333" in capsys.readouterr().out


def test_projections_status_and_rebuild(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = json_of(capsys, ["projections", "status", "--db", str(db), "--json"])
    assert [p["position"] for p in status["projections"]] == [0, 0]
    rebuilt = json_of(capsys, ["projections", "rebuild", "--db", str(db), "--json"])
    assert (rebuilt["mode"], rebuilt["events"]) == ("rebuild", status["ledger_size"])
    status = json_of(capsys, ["projections", "status", "--db", str(db), "--json"])
    assert [p["behind"] for p in status["projections"]] == [0, 0]


def test_a_ledger_that_fails_verification_stops_every_read_with_exit_1(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conn = sqlite3.connect(db)
    for table in APPEND_ONLY_TABLES:
        conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
    with conn:
        conn.execute("UPDATE stored_events SET leaf_hash=zeroblob(32) WHERE position=12")
    conn.close()
    assert run(["summary", "--db", str(db)]) == 1
    assert "refusing to project" in capsys.readouterr().err
