"""Adverse events: CTCAE grade, attribution, seriousness, action taken, resolution."""

from __future__ import annotations

import pytest

from ledger.domain.commands import ReportAdverseEvent, ResolveAdverseEvent
from ledger.domain.commands.base import command_from
from ledger.errors import NotFoundError, RuleViolation, ValidationError
from ledger.events import ActionTaken, AdverseEventReported, AdverseEventResolved, Seriousness
from ledger.recording import TrialRecorder
from tests.domain.trial_helpers import SUBJECT, day
from tests.support import Cast


def report(
    recorder: TrialRecorder,
    cast: Cast,
    *,
    grade: int = 1,
    action: ActionTaken = "none",
    criteria: tuple[Seriousness, ...] = (),
    on_day: int = 10,
    ae_id: str | None = None,
) -> AdverseEventReported:
    recorded = recorder.record(
        cast.coordinator,
        ReportAdverseEvent(
            subject_id=SUBJECT,
            date=day(on_day),
            term="Injection site reaction",
            grade=grade,
            attribution="definite",
            action_taken=action,
            seriousness_criteria=criteria,
            ae_id=ae_id,
        ),
    )
    event = recorded.events[0]
    assert isinstance(event, AdverseEventReported)
    return event


def test_numbers_adverse_events_per_subject(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    assert report(recorder, cast).ae_id == "AE-001"
    assert report(recorder, cast, on_day=12).ae_id == "AE-002"


def test_an_adverse_event_with_a_seriousness_criterion_is_serious(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    event = report(recorder, cast, grade=3, action="dose-held", criteria=("hospitalisation",))
    assert event.serious
    assert event.seriousness_criteria == ("hospitalisation",)


def test_rejects_an_adverse_event_id_reported_twice(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    report(recorder, cast, ae_id="AE-007")
    with pytest.raises(RuleViolation, match=r"AE-DUPLICATE.*AE-007.*already reported"):
        report(recorder, cast, ae_id="AE-007")


def test_rejects_grade_5_without_the_criterion_death(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    with pytest.raises(ValidationError, match=r"grade=5 refused: \[AE-SERIOUSNESS\]"):
        report(recorder, cast, grade=5, criteria=("hospitalisation",))


def test_rejects_the_criterion_death_below_grade_5(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    with pytest.raises(ValidationError, match=r"grade=3 refused: \[AE-SERIOUSNESS\].*death"):
        report(recorder, cast, grade=3, criteria=("death",))


def test_rejects_a_seriousness_criterion_listed_twice(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    with pytest.raises(ValidationError, match=r"AE-SERIOUSNESS\] each seriousness criterion"):
        report(recorder, cast, grade=3, criteria=("hospitalisation", "hospitalisation"))


def test_rejects_an_out_of_range_grade(recorder: TrialRecorder, cast: Cast, enrolled: str) -> None:
    with pytest.raises(ValidationError, match=r"grade=6 refused: .*less than or equal to 5"):
        recorder.record(
            cast.coordinator,
            command_from(
                ReportAdverseEvent,
                {
                    "subject_id": SUBJECT,
                    "date": day(10),
                    "term": "Injection site reaction",
                    "grade": 6,
                    "attribution": "definite",
                    "action_taken": "none",
                },
            ),
        )


def test_rejects_an_action_on_study_drug_when_none_is_given(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    """Day 0 is the day before treatment starts: no study drug is given yet."""
    with pytest.raises(ValidationError, match=r"action_taken='dose-held' refused: \[AE-ACTION\]"):
        report(recorder, cast, action="dose-held", on_day=0)
    assert report(recorder, cast, action="not-applicable", on_day=0).ae_id == "AE-001"


def test_resolves_a_reported_adverse_event(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    report(recorder, cast)
    recorder.record(
        cast.coordinator,
        ResolveAdverseEvent(subject_id=SUBJECT, date=day(14), ae_id="AE-001", outcome="recovered"),
    )
    resolution = recorder.patient(SUBJECT).adverse_events["AE-001"].resolution
    assert resolution is not None
    assert resolution.outcome == "recovered"


def test_rejects_resolving_an_adverse_event_never_reported(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    report(recorder, cast)
    with pytest.raises(NotFoundError, match=r"AE-UNKNOWN.*no adverse event AE-002.*AE-001"):
        recorder.record(
            cast.coordinator,
            ResolveAdverseEvent(
                subject_id=SUBJECT, date=day(14), ae_id="AE-002", outcome="recovered"
            ),
        )


def test_rejects_resolving_an_adverse_event_twice(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    report(recorder, cast)
    recorder.record(
        cast.coordinator,
        ResolveAdverseEvent(subject_id=SUBJECT, date=day(14), ae_id="AE-001", outcome="recovered"),
    )
    with pytest.raises(RuleViolation, match=r"AE-RESOLVED.*already resolved on 2003-01-26"):
        recorder.record(
            cast.coordinator,
            ResolveAdverseEvent(
                subject_id=SUBJECT, date=day(15), ae_id="AE-001", outcome="unknown"
            ),
        )


def test_rejects_a_resolution_before_the_onset(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    report(recorder, cast)
    with pytest.raises(ValidationError, match=r"AE-RESOLVED\] before the onset of AE-001"):
        recorder.record(
            cast.coordinator,
            ResolveAdverseEvent(
                subject_id=SUBJECT, date=day(9), ae_id="AE-001", outcome="recovered"
            ),
        )


def test_what_a_command_wrote_is_found_by_event_type(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    recorded = recorder.record(
        cast.coordinator,
        ReportAdverseEvent(
            subject_id=SUBJECT,
            date=day(3),
            term="Rash",
            grade=1,
            attribution="possible",
            action_taken="none",
        ),
    )
    position, event = recorded.first(AdverseEventReported)
    assert (position, event.ae_id) == (recorded.positions[0], "AE-001")
    with pytest.raises(NotFoundError, match=r"this commit holds no AdverseEventResolved"):
        recorded.first(AdverseEventResolved)
