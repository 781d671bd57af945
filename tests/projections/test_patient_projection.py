"""Patient state: regimen, protocol month, next doses and visits, doses, AEs, as-of queries."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from ledger.protocol.parameters import MC0282_ORIGINAL
from ledger.protocol.schedule import high_dose_course_end
from ledger.service import TrialLedger
from projections.audit import position_at
from projections.engine import ProjectionEngine
from projections.folding import StreamReader
from projections.patient import PatientFold, fold_patient, stored_patient, stored_patients
from tests.projection_support import (  # noqa: F401
    S1,
    S2,
    S3,
    S4,
    Trial,
    engine_for,
    story,
    trial,
)


@pytest.fixture
def views(ledger: TrialLedger, trial: Trial, tmp_path: Path) -> Iterator[sqlite3.Connection]:  # noqa: F811
    for step in story(trial):
        step()
    engine = engine_for(ledger, tmp_path / "v.sqlite")
    engine.catch_up()
    conn = engine.connect()
    yield conn
    conn.close()


def patient(conn: sqlite3.Connection, subject: str) -> PatientFold:
    found = stored_patient(conn, subject)
    assert found is not None
    return found


def test_regimen_follows_enrolment_and_regimen_changes(views: sqlite3.Connection) -> None:
    report = patient(views, S2).report(None)
    assert (report["regimen"], report["regimen_since"]) == ("low_dose_dex", "2003-07-19")
    assert [h["regimen"] for h in report["regimen_history"]] == ["induction", "low_dose_dex"]
    assert patient(views, S2).report("2003-07-01")["regimen"] == "induction"
    assert patient(views, S2).report("2003-01-25")["regimen"] == "screening"


def test_withdrawal_puts_the_subject_off_study_for_good(ledger: TrialLedger, trial: Trial) -> None:  # noqa: F811
    trial.onboard(S1)
    trial.append(trial.withdrawn(S1, "2003-03-01"))
    trial.append(trial.regimen(S1, "2003-04-01", "induction", "continuation", "REG-M6-RESPONSE"))
    streams = StreamReader(ledger.reader.db_path)
    fold = fold_patient(S1, streams.rows(S1, None, check_leaves=True))
    streams.close()
    assert fold.report(None)["regimen"] == "off_study"
    assert fold.report("2003-02-28")["regimen"] == "induction"


def test_protocol_month_counts_28_day_cycles_from_the_treatment_start(
    views: sqlite3.Connection,
) -> None:
    report = patient(views, S2).report("2003-07-20")
    assert (report["protocol_month"], report["protocol_day"]) == (7, 170)
    assert patient(views, S2).report("2003-02-01")["protocol_month"] == 1


def test_next_doses_on_low_dose_dexamethasone_include_the_weekly_dexamethasone(
    views: sqlite3.Connection,
) -> None:
    doses = patient(views, S2).report("2003-07-21")["next_doses"]
    assert {d["date"] for d in doses} == {f"2003-07-{n}" for n in range(22, 29)}
    assert [(d["date"], d["rule_id"]) for d in doses if d["drug"] == "dexamethasone"] == [
        ("2003-07-26", "DOSE-LOWDEX-WEEKLY")
    ]


def test_next_visit_on_high_dose_dexamethasone_is_the_end_of_its_course(
    views: sqlite3.Connection,
) -> None:
    visits = patient(views, S3).report("2003-03-12")["next_visits"]
    end = high_dose_course_end(date(2003, 3, 11), MC0282_ORIGINAL)
    assert visits == [
        {
            "date": end.isoformat(),
            "visit": "end of the high-dose dexamethasone course",
            "rule_id": "REG-HIGHDEX-COURSE-END",
        }
    ]


def test_next_visit_during_induction_is_the_month_6_decision(views: sqlite3.Connection) -> None:
    visits = patient(views, S1).report("2003-03-01")["next_visits"]
    assert visits == [
        {"date": "2003-07-18", "visit": "month-6 response decision", "rule_id": "REG-M6"}
    ]


def test_doses_taken_and_missed_are_counted_per_drug(views: sqlite3.Connection) -> None:
    doses = patient(views, S1).report(None)["doses"]
    assert doses == {
        "anakinra": {
            "taken": 10,
            "first": "2003-01-31",  # corrected from 2003-02-01
            "last": "2003-02-10",
            "missed": 2,
            "held": 1,
        }
    }


def test_open_adverse_events_are_those_not_resolved(
    ledger: TrialLedger, views: sqlite3.Connection
) -> None:
    open_aes = patient(views, S2).report(None)["adverse_events"]["open"]
    assert [(a["ae_id"], a["term"], a["grade"]) for a in open_aes] == [("AE-001", "infection", 3)]
    streams = StreamReader(ledger.reader.db_path)
    before_onset = fold_patient(S2, streams.rows(S2, None, check_leaves=True), on="2003-07-31")
    streams.close()
    assert before_onset.report("2003-07-31")["adverse_events"]["open"] == []


def test_event_entered_in_error_is_not_counted_but_its_correction_is_listed(
    views: sqlite3.Connection,
) -> None:
    report = patient(views, S4).report(None)
    assert report["doses"] == {}
    assert [(c["field"], c["new_value"], c["applied"]) for c in report["corrections"]] == [
        ("record_status", "entered-in-error", True)
    ]


def test_the_view_equals_a_fold_of_each_subject_from_the_ledger(
    ledger: TrialLedger, views: sqlite3.Connection
) -> None:
    streams = StreamReader(ledger.reader.db_path)
    for stored in stored_patients(views):
        rows = streams.rows(stored.subject_id, None, check_leaves=True)
        assert fold_patient(stored.subject_id, rows).to_json() == stored.to_json()
    streams.close()


def test_as_of_a_position_shows_what_the_ledger_said_before_a_correction(
    ledger: TrialLedger,
    trial: Trial,  # noqa: F811
) -> None:
    trial.onboard(S1)
    first = trial.append(*trial.doses(S1, "2003-02-01", 2))
    trial.append(
        trial.correction(
            S1,
            "2003-02-10",
            first.header.first_position,
            "trial.DoseAdministered.v1",
            "effective_date",
            "2003-02-01",
            "2003-01-30",
        )
    )
    streams = StreamReader(ledger.reader.db_path)
    before = fold_patient(S1, streams.rows(S1, first.header.last_position, check_leaves=True))
    after = fold_patient(S1, streams.rows(S1, None, check_leaves=True))
    on_date = fold_patient(S1, streams.rows(S1, None, check_leaves=True), on="2003-01-31")
    streams.close()
    assert before.report(None)["doses"]["anakinra"]["first"] == "2003-02-01"
    assert after.report(None)["doses"]["anakinra"]["first"] == "2003-01-30"
    assert on_date.report("2003-01-31")["doses"]["anakinra"]["taken"] == 1


def test_as_of_a_recorded_time_finds_the_last_position_recorded_by_then(
    ledger: TrialLedger,
    trial: Trial,  # noqa: F811
    tmp_path: Path,
) -> None:
    first = trial.onboard(S1)
    trial.append(trial.dose(S1, "2003-02-01"))
    engine = ProjectionEngine(ledger.reader, tmp_path / "v.sqlite")
    engine.catch_up()
    conn = engine.connect()
    assert position_at(conn, first.header.recorded_at) == first.header.last_position
    assert position_at(conn, "2000-01-01T00:00:00.000000Z") == 0
    conn.close()
