"""Trial objectives: each figure, the subjects it counts, and why the others are excluded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ledger.service import TrialLedger
from projections.objectives import trial_summary
from projections.patient import stored_patients
from projections.response import stored_responses
from projections.statistics import clopper_pearson
from tests.projection_support import (  # noqa: F401
    S1,
    S2,
    S3,
    S4,
    S5,
    S6,
    Trial,
    engine_for,
    story,
    trial,
)


@pytest.fixture
def summary(ledger: TrialLedger, trial: Trial, tmp_path: Path) -> dict[str, Any]:  # noqa: F811
    for step in story(trial):
        step()
    engine = engine_for(ledger, tmp_path / "v.sqlite")
    engine.catch_up()
    conn = engine.connect()
    try:
        return trial_summary(stored_patients(conn), stored_responses(conn), ledger.reader.size())
    finally:
        conn.close()


def reasons(figure: dict[str, Any]) -> dict[str, str]:
    return {e["subject_id"]: e["reason"] for e in figure["excluded"]}


def test_populations_say_who_was_treated_and_why_others_were_not(
    summary: dict[str, Any],
) -> None:
    pops = summary["populations"]
    assert (pops["screened"], pops["enrolled"], pops["treated"]) == (6, 5, 4)
    assert pops["treated_subject_ids"] == [S1, S2, S3, S6]
    assert {e["subject_id"]: e["reason"] for e in pops["not_treated"]} == {
        S4: "never dosed",  # its only dose was entered in error
        S5: "not eligible",
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
    assert reasons(primary)[S6] == "withdrawn before month 6 (2003-03-01)"
    assert primary["by_category"]["MR"] == 1
    assert primary["investigator_disagreements"] == [
        {"subject_id": S1, "derived": "MR", "investigator": "SD"}
    ]


def test_response_after_dexamethasone_counts_assessments_on_dexamethasone(
    summary: dict[str, Any],
) -> None:
    dex = summary["dexamethasone_response_rate"]
    assert [(c["subject_id"], c["best_confirmed"], c["regimens"]) for c in dex["counted"]] == [
        (S2, "PR", ["low_dose_dex"])
    ]
    assert reasons(dex)[S3] == "not yet assessed on dexamethasone (started 2003-03-11)"
    assert reasons(dex)[S1] == "dexamethasone never added"


def test_progression_free_at_6_months(summary: dict[str, Any]) -> None:
    pfs = summary["progression_free_at_6_months"]
    assert {c["subject_id"]: c["progression_free"] for c in pfs["counted"]} == {
        S1: True,
        S2: True,
        S3: False,
    }
    assert reasons(pfs)[S6].startswith("withdrawn before month 6 without progression")


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
            "reason": "onset 2003-03-05 while off_study (no study drug)",
        }
    ]
