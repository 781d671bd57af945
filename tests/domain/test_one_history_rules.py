"""Rules that keep the recorded history one truth: ends follow the records they end, doses
wait for a due transition, corrections obey the rules a new record would."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.domain import TrialRecorder
from ledger.errors import RuleViolation
from ledger.protocol.schedule import Regimen
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
