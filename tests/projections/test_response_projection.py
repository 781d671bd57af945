"""Response history: assessments, disagreements, markers, confirmation, progression, DOR."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.service import TrialLedger
from projections.folding import StreamReader
from projections.response import ResponseFold, fold_response, percent_change, stored_response
from tests.projection_support import S1, S2, S3, Trial, engine_for, story, trial  # noqa: F401


@pytest.fixture
def views(ledger: TrialLedger, trial: Trial, tmp_path: Path) -> Iterator[sqlite3.Connection]:  # noqa: F811
    for step in story(trial):
        step()
    engine = engine_for(ledger, tmp_path / "v.sqlite")
    engine.catch_up()
    conn = engine.connect()
    yield conn
    conn.close()


def response(conn: sqlite3.Connection, subject: str) -> ResponseFold:
    found = stored_response(conn, subject)
    assert found is not None
    return found


def folded(ledger: TrialLedger, subject: str) -> ResponseFold:
    streams = StreamReader(ledger.reader.db_path)
    try:
        return fold_response(subject, streams.rows(subject, None, check_leaves=True))
    finally:
        streams.close()


def test_each_assessment_shows_both_categories_and_flags_disagreement(
    views: sqlite3.Connection,
) -> None:
    report = response(views, S1).report()
    assert [(a["investigator"], a["derived"], a["disagree"]) for a in report["assessments"]] == [
        ("MR", "MR", False),
        ("SD", "MR", True),
    ]
    assert report["disagreements"] == 1


def test_markers_show_baseline_nadir_and_percent_change(views: sqlite3.Connection) -> None:
    serum = response(views, S1).report()["markers"]["serum_m_protein"]
    assert {k: serum[k] for k in ("baseline", "baseline_source", "nadir", "latest")} == {
        "baseline": "4.0",
        "baseline_source": "enrolment",
        "nadir": "2.8",
        "latest": "2.8",
    }
    assert serum["change_from_baseline_pct"] == "-30.00"


def test_a_corrected_lab_value_replaces_the_original_in_the_markers(
    views: sqlite3.Connection,
) -> None:
    serum = response(views, S2).report()["markers"]["serum_m_protein"]
    assert (serum["latest"], serum["nadir"], serum["change_from_baseline_pct"]) == (
        "3.7",
        "3.7",
        "-7.50",
    )


def test_best_confirmed_response_per_regimen_and_overall(views: sqlite3.Connection) -> None:
    s2 = response(views, S2)
    induction = s2.best_confirmed(frozenset({"induction"}))
    dex = s2.best_confirmed(frozenset({"low_dose_dex", "high_dose_dex"}))
    assert induction is not None
    assert dex is not None
    assert (induction.category, dex.category) == ("SD", "PR")
    assert s2.report()["best_confirmed"]["category"] == "PR"


def test_duration_of_response_runs_from_the_first_confirmed_response(
    views: sqlite3.Connection,
) -> None:
    assert response(views, S2).report()["duration_of_response"] == {
        "from": "2003-09-01",
        "to": "2003-10-20",
        "days": 49,
        "progressed": False,
    }


def test_progression_comes_from_the_recorded_confirmation(views: sqlite3.Connection) -> None:
    assert response(views, S3).report()["progression"] == {
        "date": "2003-03-10",
        "source": "ProgressionConfirmed",
        "position": response(views, S3).progressions[0][1],
        "basis": "serum M-protein rose 30% from nadir",
    }


def test_two_derived_pd_assessments_date_progression_when_none_was_recorded(
    ledger: TrialLedger,
    trial: Trial,  # noqa: F811
) -> None:
    trial.onboard(S1)
    trial.append(
        trial.assessed(S1, "2003-04-01", 3, "PD", "SD"),
        trial.assessed(S1, "2003-05-01", 4, "PD", "SD"),
    )
    progression = folded(ledger, S1).report()["progression"]
    assert (progression["date"], progression["source"]) == ("2003-04-01", "derived")


def test_baseline_falls_back_to_the_last_lab_before_treatment(
    ledger: TrialLedger,
    trial: Trial,  # noqa: F811
) -> None:
    trial.append(
        trial.screened(S1),
        trial.lab(S1, "2003-01-07", "3.6"),
        trial.lab(S1, "2003-01-15", "3.5"),
        trial.lab(S1, "2003-03-01", "3.0"),  # dated after the start, recorded before enrolment
    )
    trial.append(trial.enrolled(S1, "2003-01-20", start="2003-02-01", serum=None))
    trial.append(trial.lab(S1, "2003-04-01", "3.2"))
    serum = folded(ledger, S1).report()["markers"]["serum_m_protein"]
    assert (serum["baseline"], serum["baseline_source"], serum["nadir"], serum["latest"]) == (
        "3.5",
        "lab",
        "3.0",
        "3.2",
    )
    assert serum["change_from_nadir_pct"] == "6.67"


def test_percent_change_is_exact_decimal_rounded_half_even() -> None:
    assert percent_change("3.0", "2.0") == "-33.33"
    assert percent_change("0", "2.0") is None
    assert percent_change(None, "2.0") is None
