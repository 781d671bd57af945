"""Rules that keep the recorded history one truth: ends follow the records they end, doses
wait for a due transition, corrections obey the rules a new record would."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.domain import Findings
from ledger.errors import RuleViolation, ValidationError
from ledger.events import ProgressionConfirmed, ResponseAssessed
from ledger.protocol.schedule import Regimen
from ledger.recording import TrialRecorder
from tests.domain.trial_helpers import SUBJECT, assess_serum, day, month_start
from tests.support import Cast

ANAKINRA = ("anakinra", Decimal(100), "SC")


def dose(recorder: TrialRecorder, cast: Cast, on_day: int) -> int:
    return recorder.record_dose(cast.coordinator, SUBJECT, *ANAKINRA, day(on_day)).positions[0]


def test_rejects_ending_treatment_on_or_before_a_recorded_dose(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    dose(recorder, cast, 30)
    head = recorder.ledger.reader.size()
    with pytest.raises(RuleViolation, match=r"REC-END-BEFORE-RECORDS.*2003-02-11.*after the last"):
        recorder.stop_treatment(cast.investigator, SUBJECT, "toxicity", day(30))
    with pytest.raises(RuleViolation, match=r"REC-END-BEFORE-RECORDS"):
        recorder.withdraw(cast.coordinator, SUBJECT, "injections", day(20), consent_withdrawn=False)
    assert recorder.ledger.reader.size() == head
    recorder.stop_treatment(cast.investigator, SUBJECT, "toxicity", day(31))


def test_rejects_death_or_withdrawal_dated_before_a_recorded_lab(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    recorder.record_lab(
        cast.coordinator, SUBJECT, "serum_m_protein", Decimal("3.0"), "g/dL", day(60)
    )
    with pytest.raises(RuleViolation, match=r"REC-END-BEFORE-RECORDS.*LabResulted 2003-03-13"):
        recorder.record_death(cast.investigator, SUBJECT, "road accident", day(50))
    with pytest.raises(RuleViolation, match=r"REC-END-BEFORE-RECORDS"):
        recorder.withdraw(cast.coordinator, SUBJECT, "moved away", day(50))
    recorder.record_death(cast.investigator, SUBJECT, "road accident", day(60))  # same day


def test_rejects_a_dose_after_a_due_transition_until_it_is_recorded(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    """No month-6 assessment: the month-6 decision is due on month 7 day 1 (REG-M6-*)."""
    with pytest.raises(RuleViolation, match=r"REC-TRANSITION-DUE.*month-6 decision.*2003-06-30"):
        recorder.record_dose(cast.coordinator, SUBJECT, *ANAKINRA, month_start(7))
    recorder.advance_regimen(cast.investigator, SUBJECT, month_start(7))
    recorder.record_dose(cast.coordinator, SUBJECT, *ANAKINRA, month_start(7))
    assert recorder.patient(SUBJECT).regimen_on(month_start(7)) is Regimen.LOW_DOSE_DEX


def test_rejects_a_correction_that_moves_a_dose_off_its_calendar(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    position = dose(recorder, cast, 30)
    with pytest.raises(RuleViolation, match=r"REC-CORRECT-RULES.*DOSE-NOT-IN-REGIMEN"):
        recorder.correct(
            cast.coordinator, SUBJECT, position, "drug", "dexamethasone", "wrong drug", day(31)
        )
    with pytest.raises(RuleViolation, match=r"REC-CORRECT-RULES.*DOSE-ANAKINRA-DAILY"):
        recorder.correct(cast.coordinator, SUBJECT, position, "dose", "40", "misread", day(31))
    recorder.correct(cast.coordinator, SUBJECT, position, "effective_date", day(29).isoformat(),
                     "diary line misread", day(31))  # fmt: skip


def test_a_stop_on_the_day_a_pending_regimen_starts_cancels_it(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    """Stable at month 6: low-dose dexamethasone from month 7 day 1; the patient declines it
    and treatment ends that day: the low-dose period never starts."""
    assess_serum(recorder, cast, day(100), "3.1")
    assess_serum(recorder, cast, day(150), "3.0")
    recorder.stop_treatment(cast.investigator, SUBJECT, "declined dexamethasone", month_start(7))
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
    lab = recorder.record_lab(
        cast.coordinator, SUBJECT, "serum_m_protein", Decimal("3.0"), "g/dL", day(8)
    ).positions[0]
    recorder.record_death(cast.investigator, SUBJECT, "stroke", day(8))
    with pytest.raises(RuleViolation, match=r"REC-AFTER-DEATH.*LabResulted dated 2003-01-25"):
        recorder.correct(
            cast.coordinator, SUBJECT, lab, "effective_date", day(13).isoformat(), "typo", day(20)
        )


def test_rejects_a_correction_moving_an_adverse_event_after_its_resolution(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    reported = recorder.report_adverse_event(
        cast.coordinator, SUBJECT, "Fatigue", 1, "possible", "none", day(5)
    )
    recorder.resolve_adverse_event(cast.coordinator, SUBJECT, "AE-001", "recovered", day(9))
    with pytest.raises(ValidationError, match=r"AE-RESOLVED.*resolved \(2003-01-21\) before"):
        recorder.correct(
            cast.coordinator,
            SUBJECT,
            reported.positions[0],
            "effective_date",
            day(12).isoformat(),
            "typo",
            day(20),
        )


def test_rejects_a_correction_moving_a_dose_past_a_due_transition(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    position = dose(recorder, cast, 160)
    with pytest.raises(RuleViolation, match=r"REC-TRANSITION-DUE.*month-6 decision"):
        recorder.correct(
            cast.coordinator,
            SUBJECT,
            position,
            "effective_date",
            month_start(7).isoformat(),
            "typo",
            month_start(7),
        )


def test_a_progression_a_late_lab_confirmed_is_recorded_by_the_next_assessment(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    """PD on day 30; SD on day 58 (no lab since); a serum result dated day 57 entered late
    makes day 58 PD as well: the next assessment records the progression the rules confirm."""
    assess_serum(recorder, cast, day(30), "4.2", "PD")
    recorder.assess_response(
        cast.investigator, SUBJECT, "SD", day(58), Findings(new_bone_lesions=False)
    )
    recorder.record_lab(
        cast.coordinator, SUBJECT, "serum_m_protein", Decimal("4.3"), "g/dL", day(57)
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
    recorder.record_lab(
        cast.coordinator, SUBJECT, "serum_m_protein", Decimal("3.1"), "g/dL", day(30)
    )
    recorder.assess_response(
        cast.investigator, SUBJECT, "SD", day(30), Findings(False, False, False)
    )
    events = recorder.assess_response(
        cast.investigator, SUBJECT, "PD", day(58), Findings(False, True, False)
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
        recorder.correct(cast.coordinator, SUBJECT, position, "dose", "100.0", "respelt", day(31))
