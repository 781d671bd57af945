"""Trial objectives: each figure, the subjects it counts, and why the others are excluded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ledger.service import TrialLedger
from projections.objectives import trial_summary
from projections.statistics import clopper_pearson
from projections.subject import stored_histories
from tests.projection_support import (
    S1,
    S2,
    S3,
    S4,
    S5,
    S6,
    S7,
    S8,
    RecordedTrial,
    engine_for,
    story,
)
from tests.support import Cast


@pytest.fixture
def trial(ledger: TrialLedger, cast: Cast) -> RecordedTrial:
    return RecordedTrial(ledger, cast)


def summary_of(ledger: TrialLedger, views: Path) -> dict[str, Any]:
    engine = engine_for(ledger, views)
    engine.catch_up()
    conn = engine.connect()
    try:
        return trial_summary(stored_histories(conn), ledger.reader.size())
    finally:
        conn.close()


@pytest.fixture
def summary(ledger: TrialLedger, trial: RecordedTrial, tmp_path: Path) -> dict[str, Any]:
    for step in story(trial):
        step()
    # The serum results behind S2's partial responses on low-dose dexamethasone (categories are
    # derived from the labs, never read from the assessment), entered after the assessments.
    trial.append(trial.lab(S2, "2003-09-01", "1.9"), trial.lab(S2, "2003-10-20", "1.8"))
    return summary_of(ledger, tmp_path / "v.sqlite")


def reasons(figure: dict[str, Any]) -> dict[str, str]:
    return {e["subject_id"]: e["reason"] for e in figure["excluded"]}


def test_populations_say_who_was_treated_and_why_others_were_not(
    summary: dict[str, Any],
) -> None:
    pops = summary["populations"]
    assert (pops["screened"], pops["enrolled"], pops["treated"]) == (6, 5, 4)
    assert pops["treated_subject_ids"] == [S1, S2, S3, S6]
    assert {e["subject_id"]: e["reason"] for e in pops["not_treated"]} == {
        S4: "no anakinra dose recorded",  # its only dose was entered in error
        S5: "not eligible",
    }


def test_populations_exclude_who_left_or_progressed_before_treatment_or_never_enrolled(
    ledger: TrialLedger,
    trial: RecordedTrial,
    tmp_path: Path,
) -> None:
    trial.onboard(S7)
    trial.append(trial.off_study(S7, "2003-01-25"))  # before the treatment start, 2003-02-01
    trial.onboard(S8)
    trial.append(trial.progression(S8, "2003-01-28"), trial.dose(S8, "2003-02-01"))
    trial.append(trial.screened(S1), trial.eligibility(S1), trial.consent(S1))
    pops = summary_of(ledger, tmp_path / "v.sqlite")["populations"]
    assert (pops["screened"], pops["enrolled"], pops["treated"]) == (3, 2, 0)
    assert {e["subject_id"]: e["reason"] for e in pops["not_treated"]} == {
        S1: "not enrolled",
        S7: "off study before treatment (2003-01-25: follow-up complete)",
        S8: "progressed before treatment (2003-01-28)",
    }


def test_primary_response_rate_counts_induction_responses_with_an_exact_interval(
    summary: dict[str, Any],
) -> None:
    primary = summary["primary_response_rate"]
    assert (primary["responders"], primary["n"], primary["rate"]) == (1, 3, 0.3333)
    lower, upper = clopper_pearson(1, 3)
    assert primary["ci95"] == [round(lower, 4), round(upper, 4)]
    assert {c["subject_id"]: c["responder"] for c in primary["counted"]} == {
        S1: True,
        S2: False,
        S3: False,
    }
    assert primary["by_category"]["MR"] == 1
    assert primary["investigator_disagreements"] == [
        {"subject_id": S1, "derived": "MR", "investigator": "SD"}
    ]


def test_primary_response_rate_excludes_a_subject_whose_treatment_ended_before_month_6(
    summary: dict[str, Any],
) -> None:
    # S6 left study treatment on 2003-03-01 but is still on study, in follow-up.
    assert reasons(summary["primary_response_rate"])[S6] == (
        "treatment ended before month 6 (2003-03-01) without a month-6 assessment"
    )


def test_primary_and_progression_free_exclude_a_subject_who_withdrew_consent_before_month_6(
    ledger: TrialLedger,
    trial: RecordedTrial,
    tmp_path: Path,
) -> None:
    trial.onboard(S1)
    trial.append(*trial.doses(S1, "2003-02-01", 3), trial.consent_withdrawn(S1, "2003-03-01"))
    summary = summary_of(ledger, tmp_path / "v.sqlite")
    assert summary["populations"]["treated_subject_ids"] == [S1]
    assert reasons(summary["primary_response_rate"]) == {
        S1: "withdrawn before month 6 (2003-03-01)"
    }
    assert reasons(summary["progression_free_at_6_months"]) == {
        S1: "withdrawn before month 6 without progression (2003-03-01)"
    }


def test_low_dose_dexamethasone_response_counts_assessments_on_low_dose_dexamethasone(
    summary: dict[str, Any],
) -> None:
    dex = summary["low_dose_dexamethasone_response_rate"]
    assert [
        (c["subject_id"], c["best_confirmed"], c["started"], c["rule_id"]) for c in dex["counted"]
    ] == [(S2, "PR", "2003-07-19", "REG-M6-SD")]
    assert (dex["responders"], dex["n"]) == (1, 1)
    assert reasons(dex)[S1] == "never started low_dose_dex"
    assert reasons(dex)[S3] == "never started low_dose_dex"


def test_high_dose_dexamethasone_response_waits_for_an_assessment_on_high_dose(
    summary: dict[str, Any],
) -> None:
    dex = summary["high_dose_dexamethasone_response_rate"]
    assert dex["counted"] == []
    assert reasons(dex)[S3] == "not yet assessed on high_dose_dex (started 2003-03-11)"
    assert reasons(dex)[S2] == "never started high_dose_dex"


def pd_then_high_dose(t: RecordedTrial) -> None:
    """S1 progresses by serum M-protein (first met 04-01, confirmed 05-01), then responds on
    high-dose dexamethasone: PR from the 5.4 g/dL of the progression, MR from enrolment's 4.0."""
    t.onboard(S1)
    t.append(*t.doses(S1, "2003-02-01", 3))
    t.append(t.lab(S1, "2003-04-01", "5.2"), t.assessed(S1, "2003-04-01", 3, "PD"))
    t.append(
        t.lab(S1, "2003-05-01", "5.4"),
        t.assessed(S1, "2003-05-01", 4, "PD"),
        t.progression(S1, "2003-05-01"),
        t.regimen(S1, "2003-05-02", "induction", "high_dose_dex", "REG-PD-ANYTIME"),
    )
    t.append(t.lab(S1, "2003-06-01", "2.5"), t.assessed(S1, "2003-06-01", 5, "PR"))
    t.append(t.lab(S1, "2003-07-15", "2.4"), t.assessed(S1, "2003-07-15", 6, "PR"))


def test_high_dose_dexamethasone_response_is_measured_from_the_baseline_at_progression(
    ledger: TrialLedger,
    trial: RecordedTrial,
    tmp_path: Path,
) -> None:
    pd_then_high_dose(trial)
    dex = summary_of(ledger, tmp_path / "v.sqlite")["high_dose_dexamethasone_response_rate"]
    assert [
        (c["subject_id"], c["responder"], c["best_confirmed"], c["started"], c["rule_id"])
        for c in dex["counted"]
    ] == [(S1, True, "PR", "2003-05-02", "REG-PD-ANYTIME")]


def test_time_to_progression_dates_progression_when_its_criteria_were_first_met(
    ledger: TrialLedger,
    trial: RecordedTrial,
    tmp_path: Path,
) -> None:
    pd_then_high_dose(trial)
    summary = summary_of(ledger, tmp_path / "v.sqlite")
    ttp = summary["time_to_progression"]
    assert [(r["subject_id"], r["to"], r["days"], r["event"]) for r in ttp["counted"]] == [
        (S1, "2003-04-01", 59, True)  # confirmed on 2003-05-01
    ]
    assert summary["primary_response_rate"]["counted"][0]["reason"] == (
        "progressed during induction (2003-04-01)"
    )


def test_progression_free_at_6_months(summary: dict[str, Any]) -> None:
    pfs = summary["progression_free_at_6_months"]
    assert {c["subject_id"]: c["progression_free"] for c in pfs["counted"]} == {
        S1: True,
        S2: True,
        S3: False,
    }
    # S6 is in follow-up after leaving treatment: an evaluation from month 6 on may still come.
    assert reasons(pfs)[S6] == (
        "treatment ended 2003-03-01, no disease evaluation from month 6 on (last evaluation None)"
    )


def test_time_to_progression_censors_at_the_last_evaluation(summary: dict[str, Any]) -> None:
    ttp = summary["time_to_progression"]
    assert {(r["subject_id"], r["days"], r["event"]) for r in ttp["counted"]} == {
        (S1, 167, False),
        (S2, 261, False),
        (S3, 37, True),
        (S6, 0, False),
    }
    assert (ttp["n"], ttp["events"], ttp["median"]) == (4, 1, None)


def test_duration_of_response_counts_confirmed_responders(summary: dict[str, Any]) -> None:
    dor = summary["duration_of_response"]
    assert {(r["subject_id"], r["days"]) for r in dor["counted"]} == {(S1, 78), (S2, 49)}
    assert reasons(dor)[S3] == "no confirmed response (MR or better)"


def test_adverse_events_split_by_the_regimen_on_their_onset_date(
    summary: dict[str, Any],
) -> None:
    ae = summary["adverse_events"]
    assert [
        (t["term"], t["subject_ids"], t["by_worst_grade"]["1"])
        for t in ae["anakinra_alone"]["terms"]
    ] == [("injection-site reaction", [S1], 1)]
    assert [
        (t["term"], t["subject_ids"], t["by_worst_grade"]["3"])
        for t in ae["with_dexamethasone"]["terms"]
    ] == [("infection", [S2], 1)]
    assert ae["with_dexamethasone"]["exposed_subjects"] == 2
    assert ae["excluded"] == [
        {
            "subject_id": S6,
            "ae_id": "AE-001",
            "term": "fatigue",
            "reason": "onset 2003-03-05 while follow_up (no study drug)",
        }
    ]
