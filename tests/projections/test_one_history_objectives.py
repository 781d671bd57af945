"""Objectives read the one subject history: AEs on the day treatment or life ended count with
the treatment, a declined start is no exposure, an unsupported progression is no event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ledger.domain.commands import RecordDeath, ReportAdverseEvent, StopTreatment
from ledger.recording import TrialRecorder
from ledger.service import TrialLedger
from projections.engine import ProjectionEngine
from projections.objectives import trial_summary
from projections.subject import stored_histories
from tests.domain.conftest import enrolled, recorder  # noqa: F401 - fixtures
from tests.domain.trial_helpers import SUBJECT, anakinra_command, assess_serum, day, month_start
from tests.support import Cast


def summary(ledger: TrialLedger, views: Path) -> dict[str, Any]:
    engine = ProjectionEngine(ledger.reader, views)
    engine.catch_up()
    conn = engine.connect()
    try:
        return trial_summary(stored_histories(conn), ledger.reader.size())
    finally:
        conn.close()


def test_an_adverse_event_on_the_day_treatment_ended_counts_with_the_treatment(
    recorder: TrialRecorder,  # noqa: F811
    cast: Cast,
    enrolled: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    recorder.record(
        cast.investigator,
        StopTreatment(subject_id=SUBJECT, date=day(40), reason="grade 3 neutropenia"),
    )
    recorder.record(
        cast.investigator,
        ReportAdverseEvent(
            subject_id=SUBJECT,
            date=day(40),
            term="Neutrophil count decreased",
            grade=3,
            attribution="probable",
            action_taken="none",
        ),
    )
    ae = summary(recorder.ledger, tmp_path / "v.sqlite")["adverse_events"]
    assert ae["excluded"] == []
    assert [t["term"] for t in ae["anakinra_alone"]["terms"]] == ["Neutrophil count decreased"]


def test_a_fatal_adverse_event_on_the_day_of_death_counts_with_the_treatment(
    recorder: TrialRecorder,  # noqa: F811
    cast: Cast,
    enrolled: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    recorder.record(
        cast.investigator,
        ReportAdverseEvent(
            subject_id=SUBJECT,
            date=day(50),
            term="Sepsis",
            grade=5,
            attribution="possible",
            action_taken="drug-withdrawn",
            seriousness_criteria=("death",),
        ),
    )
    recorder.record(
        cast.investigator, RecordDeath(subject_id=SUBJECT, date=day(50), cause="sepsis")
    )
    ae = summary(recorder.ledger, tmp_path / "v.sqlite")["adverse_events"]
    terms = ae["anakinra_alone"]["terms"]
    assert [(t["term"], t["by_worst_grade"]["5"]) for t in terms] == [("Sepsis", 1)]


def test_a_declined_low_dose_start_is_neither_exposure_nor_the_low_dose_population(
    recorder: TrialRecorder,  # noqa: F811
    cast: Cast,
    enrolled: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    assess_serum(recorder, cast, day(100), "3.1")
    assess_serum(recorder, cast, day(150), "3.0")  # SD at month 6: low-dose from month 7
    recorder.record(
        cast.coordinator,
        anakinra_command(day(168)),
    )
    recorder.record(
        cast.investigator,
        StopTreatment(subject_id=SUBJECT, date=month_start(7), reason="declined dexamethasone"),
    )
    report = summary(recorder.ledger, tmp_path / "v.sqlite")
    assert report["adverse_events"]["with_dexamethasone"]["exposed_subject_ids"] == []
    low = report["low_dose_dexamethasone_response_rate"]
    assert low["n"] == 0
    assert {e["subject_id"]: e["reason"] for e in low["excluded"]} == {
        SUBJECT: "never started low_dose_dex"
    }
