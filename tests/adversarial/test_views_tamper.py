"""Edited read models are never served as truth.

An attacker with the views file (`<db>.views.sqlite`) edits what monitors and inspectors read:
doses taken, an adverse event's grade, a tracking row. `projections verify` names the first
differing table and row (exit 1); `patient` refuses a subject whose view rows differ from a
fold of its events in the ledger; `summary --prove-views` refuses edited views; every read says
when the views were last proved.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cli import run
from ledger.service import TrialLedger
from tests.projection_support import S1, S2, Trial, story, trial  # noqa: F401


@pytest.fixture
def db(ledger: TrialLedger, trial: Trial, db_path: Path) -> Path:  # noqa: F811
    for step in story(trial):
        step()
    assert run(["summary", "--db", str(db_path)]) == 0  # builds the views
    return db_path


def views_of(db: Path) -> Path:
    return db.with_name(db.name + ".views.sqlite")


def edit_patient_state(db: Path, subject: str, old: str, new: str) -> None:
    conn = sqlite3.connect(views_of(db))
    with conn:
        (state,) = conn.execute(
            "SELECT state FROM patient_state WHERE subject_id=?", (subject,)
        ).fetchone()
        assert old in state, state[:300]
        conn.execute(
            "UPDATE patient_state SET state=? WHERE subject_id=?",
            (state.replace(old, new, 1), subject),
        )
    conn.close()


def json_of(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> Any:
    capsys.readouterr()
    assert run(argv) == code
    return json.loads(capsys.readouterr().out)


def test_projections_verify_passes_on_untouched_views_and_records_the_proof(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    check = json_of(capsys, ["projections", "verify", "--db", str(db), "--json"])
    assert check["ok"] is True
    assert check["first_difference"] is None
    status = json_of(capsys, ["projections", "status", "--db", str(db), "--json"])
    assert status["views_proved"]["position"] == check["position"]
    summary = json_of(capsys, ["summary", "--db", str(db), "--json"])
    assert summary["views_proved"] == status["views_proved"]
    patient = json_of(capsys, ["patient", S1, "--db", str(db), "--json"])
    assert patient["as_of"]["views_proved"] == status["views_proved"]
    assert patient["as_of"]["source"] == "views"


def test_edited_dose_count_is_named_by_projections_verify(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conn = sqlite3.connect(views_of(db))
    (state,) = conn.execute("SELECT state FROM patient_state WHERE subject_id=?", (S1,)).fetchone()
    conn.close()
    doses = json.loads(state)["dose_tally"]
    drug, tally = next(iter(doses.items()))
    taken = tally["taken"]
    edit_patient_state(db, S1, f'"{drug}":{{"taken":{taken},', f'"{drug}":{{"taken":{taken + 497},')
    check = json_of(capsys, ["projections", "verify", "--db", str(db), "--json"], code=1)
    assert check["ok"] is False
    assert check["first_difference"]["table"] == "patient_state"
    assert S1 in check["first_difference"]["stored"]
    capsys.readouterr()
    assert run(["projections", "verify", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert "patient_state" in err
    assert "projections rebuild" in err


def test_patient_refuses_a_subject_whose_views_were_edited(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conn = sqlite3.connect(views_of(db))
    (state,) = conn.execute("SELECT state FROM patient_state WHERE subject_id=?", (S1,)).fetchone()
    conn.close()
    assert '"site":"001"' in state
    edit_patient_state(db, S1, '"site":"001"', '"site":"003"')
    capsys.readouterr()
    assert run(["patient", S1, "--db", str(db), "--json"]) == 1
    err = capsys.readouterr().err
    assert "disagrees with the signed ledger" in err
    assert S1 in err
    # the other subject is still served
    assert run(["patient", S2, "--db", str(db), "--json"]) == 0


def test_edited_audit_signer_is_caught_and_summary_prove_views_refuses(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conn = sqlite3.connect(views_of(db))
    with conn:
        changed = conn.execute(
            "UPDATE audit_commits SET key_id = (SELECT key_id FROM audit_keys WHERE"
            " role='monitor') WHERE seq = (SELECT MAX(seq) FROM audit_commits WHERE key_id !="
            " (SELECT key_id FROM audit_keys WHERE role='monitor'))"
        ).rowcount
    conn.close()
    assert changed == 1
    check = json_of(capsys, ["projections", "verify", "--db", str(db), "--json"], code=1)
    assert check["first_difference"]["table"].startswith("audit")
    capsys.readouterr()
    assert run(["summary", "--db", str(db), "--prove-views"]) == 1
    assert "refusing to serve" in capsys.readouterr().err
    assert run(["audit-trail", "--db", str(db), "--prove-views", "--json"]) == 1


def test_tracking_row_moved_ahead_is_caught(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`projections status` would say `behind 0`; the proof compares the tracking rows too."""
    conn = sqlite3.connect(views_of(db))
    with conn:
        conn.execute("UPDATE tracking SET position = position - 3")
    conn.close()
    check = json_of(capsys, ["projections", "verify", "--db", str(db), "--json"], code=1)
    assert check["ok"] is False
    assert check["first_difference"]["table"] == "tracking"


def test_rebuild_repairs_edited_views(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit_patient_state(db, S1, '"site":"001"', '"site":"003"')
    assert run(["projections", "rebuild", "--db", str(db)]) == 0
    check = json_of(capsys, ["projections", "verify", "--db", str(db), "--json"])
    assert check["ok"] is True
