"""Rules that keep the recorded history one truth: ends follow the records they end, doses
wait for a due transition, corrections obey the rules a new record would."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.domain.commands import (
    AdvanceRegimen,
    AssessResponse,
    Correct,
    RecordDeath,
    RecordLab,
    ReportAdverseEvent,
    ResolveAdverseEvent,
    StopTreatment,
    Withdraw,
)
from ledger.errors import RuleViolation, ValidationError
from ledger.events import ProgressionConfirmed, ResponseAssessed
from ledger.protocol.schedule import Regimen
from ledger.recording import TrialRecorder
from tests.domain.trial_helpers import SUBJECT, anakinra_command, assess_serum, day, month_start
from tests.support import Cast


def dose(recorder: TrialRecorder, cast: Cast, on_day: int) -> int:
    return recorder.record(cast.coordinator, anakinra_command(day(on_day))).positions[0]


def test_rejects_ending_treatment_on_or_before_a_recorded_dose(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    dose(recorder, cast, 30)
    head = recorder.ledger.reader.size()
    with pytest.raises(RuleViolation, match=r"REC-END-BEFORE-RECORDS.*2003-02-11.*after the last"):
        recorder.record(
            cast.investigator, StopTreatment(subject_id=SUBJECT, date=day(30), reason="toxicity")
        )
    with pytest.raises(RuleViolation, match=r"REC-END-BEFORE-RECORDS"):
        recorder.record(
            cast.coordinator,
            Withdraw(
                subject_id=SUBJECT, date=day(20), reason="injections", consent_withdrawn=False
            ),
        )
    assert recorder.ledger.reader.size() == head
    recorder.record(
        cast.investigator, StopTreatment(subject_id=SUBJECT, date=day(31), reason="toxicity")
    )


def test_rejects_death_or_withdrawal_dated_before_a_recorded_lab(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    recorder.record(
        cast.coordinator,
        RecordLab(
            subject_id=SUBJECT,
            date=day(60),
            analyte="serum_m_protein",
            value=Decimal("3.0"),
            unit="g/dL",
        ),
    )
    with pytest.raises(RuleViolation, match=r"REC-END-BEFORE-RECORDS.*LabResulted 2003-03-13"):
        recorder.record(
            cast.investigator, RecordDeath(subject_id=SUBJECT, date=day(50), cause="road accident")
        )
    with pytest.raises(RuleViolation, match=r"REC-END-BEFORE-RECORDS"):
        recorder.record(
            cast.coordinator, Withdraw(subject_id=SUBJECT, date=day(50), reason="moved away")
        )
    recorder.record(
        cast.investigator, RecordDeath(subject_id=SUBJECT, date=day(60), cause="road accident")
    )  # same day


def test_rejects_a_dose_after_a_due_transition_until_it_is_recorded(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    """No month-6 assessment: the month-6 decision is due on month 7 day 1 (REG-M6-*)."""
    with pytest.raises(RuleViolation, match=r"REC-TRANSITION-DUE.*month-6 decision.*2003-06-30"):
        recorder.record(cast.coordinator, anakinra_command(month_start(7)))
    recorder.record(cast.investigator, AdvanceRegimen(subject_id=SUBJECT, date=month_start(7)))
    recorder.record(cast.coordinator, anakinra_command(month_start(7)))
    assert recorder.patient(SUBJECT).regimen_on(month_start(7)) is Regimen.LOW_DOSE_DEX


def test_rejects_a_correction_that_moves_a_dose_off_its_calendar(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    position = dose(recorder, cast, 30)
    with pytest.raises(RuleViolation, match=r"REC-CORRECT-RULES.*DOSE-NOT-IN-REGIMEN"):
        recorder.record(
            cast.coordinator,
            Correct(
                subject_id=SUBJECT,
                date=day(31),
                position=position,
                field="drug",
                new_value="dexamethasone",
                reason="wrong drug",
            ),
        )
    with pytest.raises(RuleViolation, match=r"REC-CORRECT-RULES.*DOSE-ANAKINRA-DAILY"):
        recorder.record(
            cast.coordinator,
            Correct(
                subject_id=SUBJECT,
                date=day(31),
                position=position,
                field="dose",
                new_value="40",
                reason="misread",
            ),
        )
    recorder.record(
        cast.coordinator,
        Correct(
            subject_id=SUBJECT,
            date=day(31),
            position=position,
            field="effective_date",
            new_value=day(29).isoformat(),
            reason="diary line misread",
        ),
    )


def test_a_stop_on_the_day_a_pending_regimen_starts_cancels_it(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    """Stable at month 6: low-dose dexamethasone from month 7 day 1; the patient declines it
    and treatment ends that day: the low-dose period never starts."""
    assess_serum(recorder, cast, day(100), "3.1")
    assess_serum(recorder, cast, day(150), "3.0")
    recorder.record(
        cast.investigator,
        StopTreatment(subject_id=SUBJECT, date=month_start(7), reason="declined dexamethasone"),
    )
    patient = recorder.patient(SUBJECT)
    assert patient.regimen_on(month_start(7)) is Regimen.FOLLOW_UP
    assert [p.regimen for p in patient.periods] == [
        Regimen.INDUCTION,
        Regimen.OFF_TREATMENT,
        Regimen.FOLLOW_UP,
    ]
    assert [(p.regimen, p.rule_id) for p in patient.timeline.cancelled] == [
        (Regimen.LOW_DOSE_DEX, "REG-M6-SD")
    ]


def test_rejects_a_correction_moving_a_record_after_death(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    lab = recorder.record(
        cast.coordinator,
        RecordLab(
            subject_id=SUBJECT,
            date=day(8),
            analyte="serum_m_protein",
            value=Decimal("3.0"),
            unit="g/dL",
        ),
    ).positions[0]
    recorder.record(cast.investigator, RecordDeath(subject_id=SUBJECT, date=day(8), cause="stroke"))
    with pytest.raises(RuleViolation, match=r"REC-AFTER-DEATH.*LabResulted dated 2003-01-25"):
        recorder.record(
            cast.coordinator,
            Correct(
                subject_id=SUBJECT,
                date=day(20),
                position=lab,
                field="effective_date",
                new_value=day(13).isoformat(),
                reason="typo",
            ),
        )


def test_rejects_a_correction_moving_an_adverse_event_after_its_resolution(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    reported = recorder.record(
        cast.coordinator,
        ReportAdverseEvent(
            subject_id=SUBJECT,
            date=day(5),
            term="Fatigue",
            grade=1,
            attribution="possible",
            action_taken="none",
        ),
    )
    recorder.record(
        cast.coordinator,
        ResolveAdverseEvent(subject_id=SUBJECT, date=day(9), ae_id="AE-001", outcome="recovered"),
    )
    with pytest.raises(ValidationError, match=r"AE-RESOLVED.*resolved \(2003-01-21\) before"):
        recorder.record(
            cast.coordinator,
            Correct(
                subject_id=SUBJECT,
                date=day(20),
                position=reported.positions[0],
                field="effective_date",
                new_value=day(12).isoformat(),
                reason="typo",
            ),
        )


def test_rejects_a_correction_moving_a_dose_past_a_due_transition(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    position = dose(recorder, cast, 160)
    with pytest.raises(RuleViolation, match=r"REC-TRANSITION-DUE.*month-6 decision"):
        recorder.record(
            cast.coordinator,
            Correct(
                subject_id=SUBJECT,
                date=month_start(7),
                position=position,
                field="effective_date",
                new_value=month_start(7).isoformat(),
                reason="typo",
            ),
        )


def test_a_progression_a_late_lab_confirmed_is_recorded_by_the_next_assessment(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    """PD on day 30; SD on day 58 (no lab since); a serum result dated day 57 entered late
    makes day 58 PD as well: the next assessment records the progression the rules confirm."""
    assess_serum(recorder, cast, day(30), "4.2", "PD")
    recorder.record(
        cast.investigator,
        AssessResponse(
            subject_id=SUBJECT, date=day(58), investigator_category="SD", new_bone_lesions=False
        ),
    )
    recorder.record(
        cast.coordinator,
        RecordLab(
            subject_id=SUBJECT,
            date=day(57),
            analyte="serum_m_protein",
            value=Decimal("4.3"),
            unit="g/dL",
        ),
    )
    events = assess_serum(recorder, cast, day(86), "4.4", "PD").events
    assert [type(e).__name__ for e in events] == [
        "ResponseAssessed",
        "ProgressionConfirmed",
        "RegimenChanged",
    ]
    progression = events[1]
    assert isinstance(progression, ProgressionConfirmed)
    assert progression.progression_date == day(30)


def test_a_new_plasmacytoma_after_an_assessment_without_one_is_progression(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    recorder.record(
        cast.coordinator,
        RecordLab(
            subject_id=SUBJECT,
            date=day(30),
            analyte="serum_m_protein",
            value=Decimal("3.1"),
            unit="g/dL",
        ),
    )
    recorder.record(
        cast.investigator,
        AssessResponse(
            subject_id=SUBJECT,
            date=day(30),
            investigator_category="SD",
            new_bone_lesions=False,
            plasmacytoma=False,
            hypercalcaemia=False,
        ),
    )
    events = recorder.record(
        cast.investigator,
        AssessResponse(
            subject_id=SUBJECT,
            date=day(58),
            investigator_category="PD",
            new_bone_lesions=False,
            plasmacytoma=True,
            hypercalcaemia=False,
        ),
    ).events
    assessed, progression = events[0], events[1]
    assert isinstance(assessed, ResponseAssessed)
    assert "RESP-PD-PLASMACYTOMA" in assessed.rule_ids
    assert isinstance(progression, ProgressionConfirmed)
    assert progression.rule_ids == ("CONF-PD-SINGLE",)


def test_rejects_a_correction_that_only_respells_the_value(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    position = dose(recorder, cast, 30)
    with pytest.raises(ValidationError, match=r"REC-CORRECT-SAME.*already has that value"):
        recorder.record(
            cast.coordinator,
            Correct(
                subject_id=SUBJECT,
                date=day(31),
                position=position,
                field="dose",
                new_value="100.0",
                reason="respelt",
            ),
        )
