"""Patient state: regimen, protocol month, next doses and visits, doses, AEs, as-of queries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from ledger.protocol.parameters import MC0282_ORIGINAL
from ledger.protocol.schedule import high_dose_course_end
from ledger.service import TrialLedger
from ledger.subject.history import SubjectHistory, as_on
from projections.audit import position_at
from projections.connection import ViewsConnection
from projections.engine import ProjectionEngine
from projections.report import patient_report
from projections.subject import dump_history, stored_histories, stored_history, subject_entries
from tests.projection_support import S1, S2, S3, S4, RecordedTrial, engine_for, story
from tests.support import Cast


@pytest.fixture
def trial(ledger: TrialLedger, cast: Cast) -> RecordedTrial:
    return RecordedTrial(ledger, cast)


@pytest.fixture
def views(ledger: TrialLedger, trial: RecordedTrial, tmp_path: Path) -> Iterator[ViewsConnection]:
    for step in story(trial):
        step()
    engine = engine_for(ledger, tmp_path / "v.sqlite")
    engine.catch_up()
    conn = engine.connect()
    yield conn
    conn.close()


def patient(conn: ViewsConnection, subject: str) -> SubjectHistory:
    found = stored_history(conn, subject)
    assert found is not None
    return found


def folded(
    ledger: TrialLedger, subject: str, *, upto: int | None = None, on: date | None = None
) -> SubjectHistory:
    """The subject's history folded from the ledger (leaves checked): as recorded up to
    position ``upto`` (default: all), as true on clinical date ``on`` (default: every date)."""
    last = ledger.reader.size() if upto is None else upto
    return as_on(subject, subject_entries(ledger.reader, subject, last, check_leaves=True), on)


def test_regimen_follows_enrolment_and_regimen_changes(views: ViewsConnection) -> None:
    report = patient_report(patient(views, S2), None)
    assert (report["regimen"], report["regimen_since"]) == ("low_dose_dex", "2003-07-19")
    assert [h["regimen"] for h in report["regimen_history"]] == ["induction", "low_dose_dex"]
    assert patient_report(patient(views, S2), date(2003, 7, 1))["regimen"] == "induction"
    assert patient_report(patient(views, S2), date(2003, 1, 25))["regimen"] == "screening"


def test_withdrawal_of_consent_puts_the_subject_off_study_from_its_date(
    ledger: TrialLedger,
    trial: RecordedTrial,
) -> None:
    trial.onboard(S1)
    trial.append(trial.consent_withdrawn(S1, "2003-03-01"))
    history = folded(ledger, S1)
    report = patient_report(history, None)
    assert report["regimen"] == "off_study"
    assert report["withdrawn"] == {
        "date": "2003-03-01",
        "reason": "moved away",
        "consent_withdrawn": True,
    }
    assert history.off_study_from == date(2003, 3, 1)
    assert patient_report(history, date(2003, 2, 28))["regimen"] == "induction"


def test_withdrawal_from_treatment_only_leaves_the_subject_in_follow_up(
    ledger: TrialLedger,
    trial: RecordedTrial,
) -> None:
    trial.onboard(S1)
    trial.append(trial.withdrawn(S1, "2003-03-01"))
    report = patient_report(folded(ledger, S1), date(2003, 3, 2))
    assert (report["regimen"], report["regimen_since"]) == ("follow_up", "2003-03-01")
    assert (report["withdrawn"]["consent_withdrawn"], report["off_study"]) == (False, None)
    assert report["next_doses"] == []
    assert [(v["date"], v["visit"], v["rule_id"]) for v in report["next_visits"]] == [
        (on, "follow-up visit", "REG-EOT-FOLLOW-UP")
        for on in ("2003-09-01", "2004-03-01", "2004-09-01")
    ]


def test_a_later_recorded_change_cancels_a_period_that_had_not_started(
    ledger: TrialLedger,
    trial: RecordedTrial,
) -> None:
    trial.onboard(S2)
    decided = trial.append(
        trial.assessed(S2, "2003-07-18", 6, "SD"),
        trial.regimen(S2, "2003-07-19", "induction", "low_dose_dex", "REG-M6-SD"),
    )
    stopped = trial.append(
        trial.regimen(S2, "2003-07-18", "induction", "off_treatment", "REG-OFF-TREATMENT"),
        trial.regimen(S2, "2003-07-18", "off_treatment", "follow_up", "REG-EOT-FOLLOW-UP"),
    )
    report = patient_report(folded(ledger, S2), date(2003, 7, 20))
    assert [h["regimen"] for h in report["regimen_history"]] == [
        "induction",
        "off_treatment",
        "follow_up",
    ]
    assert [
        (c["regimen"], c["effective_date"], c["position"], c["cancelled_by"])
        for c in report["regimen_cancelled"]
    ] == [
        ("low_dose_dex", "2003-07-19", decided.header.last_position, stopped.header.first_position)
    ]
    assert (report["regimen"], report["next_doses"]) == ("follow_up", [])


def test_protocol_month_counts_28_day_cycles_from_the_treatment_start(
    views: ViewsConnection,
) -> None:
    report = patient_report(patient(views, S2), date(2003, 7, 20))
    assert (report["protocol_month"], report["protocol_day"]) == (7, 170)
    assert patient_report(patient(views, S2), date(2003, 2, 1))["protocol_month"] == 1


def test_next_doses_on_low_dose_dexamethasone_include_the_weekly_dexamethasone(
    views: ViewsConnection,
) -> None:
    doses = patient_report(patient(views, S2), date(2003, 7, 21))["next_doses"]
    assert {d["date"] for d in doses} == {f"2003-07-{n}" for n in range(22, 29)}
    assert [(d["date"], d["rule_id"]) for d in doses if d["drug"] == "dexamethasone"] == [
        ("2003-07-26", "DOSE-LOWDEX-WEEKLY")
    ]


def test_next_visit_on_high_dose_dexamethasone_is_the_day_after_its_course_ends(
    views: ViewsConnection,
) -> None:
    visits = patient_report(patient(views, S3), date(2003, 3, 12))["next_visits"]
    end = high_dose_course_end(date(2003, 3, 11), MC0282_ORIGINAL)
    assert visits == [
        {
            "date": (end + timedelta(days=1)).isoformat(),
            "visit": "the end of the high-dose course",
            "rule_id": "REG-HIGHDEX-COURSE-END",
        }
    ]


def test_next_visit_during_induction_is_the_month_6_decision_on_day_1_of_month_7(
    views: ViewsConnection,
) -> None:
    visits = patient_report(patient(views, S1), date(2003, 3, 1))["next_visits"]
    # S1's month-6 assessment derives MR: the decision would continue anakinra alone.
    assert visits == [
        {"date": "2003-07-19", "visit": "the month-6 decision", "rule_id": "REG-M6-RESPONSE"}
    ]


def test_doses_taken_and_missed_are_counted_per_drug(views: ViewsConnection) -> None:
    doses = patient_report(patient(views, S1), None)["doses"]
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
    ledger: TrialLedger, views: ViewsConnection
) -> None:
    open_aes = patient_report(patient(views, S2), None)["adverse_events"]["open"]
    assert [(a["ae_id"], a["term"], a["grade"]) for a in open_aes] == [("AE-001", "infection", 3)]
    before_onset = folded(ledger, S2, on=date(2003, 7, 31))
    assert patient_report(before_onset, date(2003, 7, 31))["adverse_events"]["open"] == []


def test_event_entered_in_error_is_not_counted_but_its_correction_is_listed(
    views: ViewsConnection,
) -> None:
    report = patient_report(patient(views, S4), None)
    assert report["doses"] == {}
    assert [(c["field"], c["new_value"], c["applied"]) for c in report["corrections"]] == [
        ("record_status", "entered-in-error", True)
    ]


def test_the_view_equals_a_fold_of_each_subject_from_the_ledger(
    ledger: TrialLedger, views: ViewsConnection
) -> None:
    stored = stored_histories(views)
    assert len(stored) == 6
    for history in stored:
        fold = SubjectHistory.fold(
            history.subject_id,
            subject_entries(
                ledger.reader, history.subject_id, ledger.reader.size(), check_leaves=True
            ),
        )
        assert dump_history(fold) == dump_history(history)


def test_as_of_a_position_shows_what_the_ledger_said_before_a_correction(
    ledger: TrialLedger,
    trial: RecordedTrial,
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
    before = folded(ledger, S1, upto=first.header.last_position)
    after = folded(ledger, S1)
    on_date = folded(ledger, S1, on=date(2003, 1, 31))
    assert patient_report(before, None)["doses"]["anakinra"]["first"] == "2003-02-01"
    assert patient_report(after, None)["doses"]["anakinra"]["first"] == "2003-01-30"
    assert patient_report(on_date, date(2003, 1, 31))["doses"]["anakinra"]["taken"] == 1


def test_as_of_a_recorded_time_finds_the_last_position_recorded_by_then(
    ledger: TrialLedger,
    trial: RecordedTrial,
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
