"""Response history: assessments, disagreements, markers, confirmation, progression, DOR."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ledger.events import (
    LabResulted,
    MeasuredValues,
)
from ledger.protocol.schedule import Regimen
from ledger.service import TrialLedger
from ledger.subject import evaluation
from ledger.subject.history import SubjectHistory, as_on
from projections.connection import ViewsConnection
from projections.report import (
    best_confirmed,
    markers,
    params_of,
    percent_change,
    response_report,
)
from projections.subject import stored_history, subject_entries
from tests.projection_support import S1, S2, S3, RecordedTrial, engine_for, story
from tests.support import Cast


@pytest.fixture
def trial(ledger: TrialLedger, cast: Cast) -> RecordedTrial:
    return RecordedTrial(ledger, cast)


@pytest.fixture
def views(ledger: TrialLedger, trial: RecordedTrial, tmp_path: Path) -> Iterator[ViewsConnection]:
    for step in story(trial):
        step()
    # The serum results behind S2's partial responses on low-dose dexamethasone (categories are
    # derived from the labs, never read from the assessment), entered after the assessments.
    trial.append(trial.lab(S2, "2003-09-01", "1.9"), trial.lab(S2, "2003-10-20", "1.8"))
    engine = engine_for(ledger, tmp_path / "v.sqlite")
    engine.catch_up()
    conn = engine.connect()
    yield conn
    conn.close()


def history(conn: ViewsConnection, subject: str) -> SubjectHistory:
    found = stored_history(conn, subject)
    assert found is not None
    return found


def folded(ledger: TrialLedger, subject: str, on: date | None = None) -> SubjectHistory:
    """The subject's history folded from the ledger (leaves checked), as true on ``on``."""
    entries = subject_entries(ledger.reader, subject, ledger.reader.size(), check_leaves=True)
    return as_on(subject, entries, on)


def test_each_assessment_shows_both_categories_and_flags_disagreement(
    views: ViewsConnection,
) -> None:
    report = response_report(history(views, S1))
    assert [(a["investigator"], a["derived"], a["disagree"]) for a in report["assessments"]] == [
        ("MR", "MR", False),
        ("SD", "MR", True),
    ]
    assert report["disagreements"] == 1


def corrected_month_6(t: RecordedTrial) -> None:
    """MR at the month-6 assessment and continuation decided on it; then the serum result it
    was derived from is corrected from 2.9 (-27.5%, MR) to 3.5 g/dL (-12.5%, SD)."""
    t.onboard(S1)
    lab = t.append(
        t.lab(S1, "2003-07-18", "2.9"),
        t.assessed(S1, "2003-07-18", 6, "MR"),
        t.regimen(S1, "2003-07-19", "induction", "continuation", "REG-M6-RESPONSE"),
    )
    t.append(
        t.correction(
            S1, "2003-08-01", lab.header.first_position, LabResulted.TOPIC, "value", "2.9", "3.5"
        )
    )


def test_an_assessment_is_derived_again_on_the_corrected_lab_beside_the_recorded_category(
    ledger: TrialLedger,
    trial: RecordedTrial,
) -> None:
    corrected_month_6(trial)
    (assessment,) = response_report(folded(ledger, S1))["assessments"]
    assert {
        k: assessment[k]
        for k in ("investigator", "derived", "derived_as_recorded", "rederived", "disagree")
    } == {
        "investigator": "MR",
        "derived": "SD",
        "derived_as_recorded": "MR",
        "rederived": True,
        "disagree": True,
    }


def test_a_month_6_decision_the_corrected_data_would_change_is_listed_for_review(
    ledger: TrialLedger,
    trial: RecordedTrial,
) -> None:
    corrected_month_6(trial)
    report = response_report(folded(ledger, S1))
    assert [
        (r["recorded_rule_id"], r["regimen"], r["corrected_data_call_for"], r["regimen_called_for"])
        for r in report["decision_reviews"]
    ] == [("REG-M6-RESPONSE", "continuation", "REG-M6-SD", "low_dose_dex")]


def test_markers_show_baseline_nadir_and_percent_change(views: ViewsConnection) -> None:
    serum = response_report(history(views, S1))["markers"]["serum_m_protein"]
    assert {k: serum[k] for k in ("baseline", "baseline_source", "nadir", "latest")} == {
        "baseline": "4.0",
        "baseline_source": "enrolment",
        "nadir": "2.8",
        "latest": "2.8",
    }
    assert serum["change_from_baseline_pct"] == "-30.00"


def test_a_corrected_lab_value_replaces_the_original_in_the_markers(
    ledger: TrialLedger, views: ViewsConnection
) -> None:
    # As true before S2's results on dexamethasone: the 2003-05-01 result, 3.9 corrected to 3.7.
    serum = markers(folded(ledger, S2, on=date(2003, 8, 31)))["serum_m_protein"]
    assert (
        serum["results"],
        serum["latest"],
        serum["nadir"],
        serum["change_from_baseline_pct"],
    ) == (
        1,
        "3.7",
        "3.7",
        "-7.50",
    )


def test_best_confirmed_response_per_regimen_and_overall(views: ViewsConnection) -> None:
    s2 = history(views, S2)
    params = params_of(s2)
    evaluations = evaluation.evaluate(s2, params)
    induction = best_confirmed(evaluations, params, frozenset({Regimen.INDUCTION}))
    dex = best_confirmed(
        evaluations, params, frozenset({Regimen.LOW_DOSE_DEX, Regimen.HIGH_DOSE_DEX})
    )
    assert induction is not None
    assert dex is not None
    assert (induction.category, dex.category) == ("SD", "PR")
    assert response_report(s2)["best_confirmed"]["category"] == "PR"


def test_duration_of_response_runs_from_the_first_confirmed_response(
    views: ViewsConnection,
) -> None:
    assert response_report(history(views, S2))["duration_of_response"] == {
        "from": "2003-09-01",
        "to": "2003-10-20",
        "days": 49,
        "progressed": False,
    }


def test_progression_comes_from_the_recorded_confirmation(views: ViewsConnection) -> None:
    s3 = history(views, S3)
    assert response_report(s3)["progression"] == {
        "date": "2003-03-10",
        "confirmed_on": "2003-03-10",
        "source": "ProgressionConfirmed",
        "position": s3.progressions[0][0],
        "basis": "serum M-protein rose 30% from nadir",
        "rule_ids": ["CONF-PD"],
        "confirmed_by_rules": False,  # no assessment shows it: the investigator's judgement
        "supported": True,  # recorded with a deviation from CONF-PD
    }


def serum_pd(t: RecordedTrial) -> None:
    """Serum M-protein rises 30% and 35% from the 4.0 g/dL baseline: PD on 04-01 and 05-01."""
    t.onboard(S1)
    t.append(t.lab(S1, "2003-04-01", "5.2"), t.assessed(S1, "2003-04-01", 3, "PD", "SD"))
    t.append(t.lab(S1, "2003-05-01", "5.4"), t.assessed(S1, "2003-05-01", 4, "PD", "SD"))


def test_a_recorded_progression_is_dated_when_its_criteria_were_first_met(
    ledger: TrialLedger,
    trial: RecordedTrial,
) -> None:
    serum_pd(trial)
    trial.append(trial.progression(S1, "2003-05-01"))
    progression = response_report(folded(ledger, S1))["progression"]
    assert {
        k: progression[k] for k in ("date", "confirmed_on", "source", "confirmed_by_rules")
    } == {
        "date": "2003-04-01",
        "confirmed_on": "2003-05-01",
        "source": "ProgressionConfirmed",
        "confirmed_by_rules": True,
    }


def test_two_derived_pd_assessments_date_progression_when_none_was_recorded(
    ledger: TrialLedger,
    trial: RecordedTrial,
) -> None:
    serum_pd(trial)
    report = response_report(folded(ledger, S1))
    progression = report["progression"]
    assert (progression["date"], progression["confirmed_on"], progression["source"]) == (
        "2003-04-01",
        "2003-05-01",
        "derived",
    )
    assert (progression["rule_ids"], report["derived_progression_on"]) == (
        ["CONF-PD"],
        "2003-04-01",
    )


def test_one_pd_assessment_by_serum_alone_confirms_no_progression(
    ledger: TrialLedger,
    trial: RecordedTrial,
) -> None:
    trial.onboard(S1)
    trial.append(trial.lab(S1, "2003-04-01", "5.2"), trial.assessed(S1, "2003-04-01", 3, "PD"))
    report = response_report(folded(ledger, S1))
    assert [a["derived"] for a in report["assessments"]] == ["PD"]
    assert (report["progression"], report["progressions"]) == (None, [])


def test_one_pd_assessment_by_hypercalcaemia_confirms_progression_that_day(
    ledger: TrialLedger,
    trial: RecordedTrial,
) -> None:
    trial.onboard(S1)
    hypercalcaemia = MeasuredValues(new_bone_lesions=False, hypercalcaemia=True)
    trial.append(trial.assessed(S1, "2003-04-01", 3, "PD", findings=hypercalcaemia))
    progression = response_report(folded(ledger, S1))["progression"]
    assert (
        progression["date"],
        progression["confirmed_on"],
        progression["source"],
        progression["rule_ids"],
    ) == ("2003-04-01", "2003-04-01", "derived", ["CONF-PD-SINGLE"])


def test_baseline_falls_back_to_the_last_lab_before_treatment(
    ledger: TrialLedger,
    trial: RecordedTrial,
) -> None:
    trial.append(
        trial.screened(S1),
        trial.lab(S1, "2003-01-07", "3.6"),
        trial.lab(S1, "2003-01-15", "3.5"),
        trial.lab(S1, "2003-03-01", "3.0"),  # dated after the start, recorded before enrolment
    )
    trial.append(trial.enrolled(S1, "2003-01-20", start="2003-02-01", serum=None))
    trial.append(trial.lab(S1, "2003-04-01", "3.2"))
    serum = response_report(folded(ledger, S1))["markers"]["serum_m_protein"]
    assert (serum["baseline"], serum["baseline_source"], serum["nadir"], serum["latest"]) == (
        "3.5",
        "lab",
        "3.0",
        "3.2",
    )
    assert serum["change_from_nadir_pct"] == "6.67"


def test_percent_change_is_exact_decimal_rounded_half_even() -> None:
    assert percent_change(Decimal("3.0"), Decimal("2.0")) == "-33.33"
    assert percent_change(Decimal("0"), Decimal("2.0")) is None
    assert percent_change(None, Decimal("2.0")) is None
    assert percent_change(Decimal("3.0"), None) is None
