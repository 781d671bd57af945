"""Doses: the regimen's calendar decides what may be recorded; deviations and duplicates."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from ledger.domain.commands import Correct, RecordDose, RecordMissedDose
from ledger.errors import NotFoundError, RuleViolation, ValidationError
from ledger.events import (
    ENTERED_IN_ERROR,
    RECORD_STATUS_FIELD,
    Deviation,
    DoseAdministered,
    Drug,
    Route,
)
from ledger.protocol.schedule import DoseRuleViolation
from ledger.recording import TrialRecorder
from tests.domain.trial_helpers import (
    OTHER,
    START,
    SUBJECT,
    assess_serum,
    day,
    month_start,
    screen_subject,
)
from tests.support import Cast

Given = tuple[Drug, Decimal, Route]  # drug, dose in mg, route
ANAKINRA: Given = ("anakinra", Decimal(100), "SC")
LOW_DEX: Given = ("dexamethasone", Decimal(20), "PO")
HIGH_DEX: Given = ("dexamethasone", Decimal(40), "PO")


def dose_of(subject: str, on: date, what: Given, deviation: Deviation | None = None) -> RecordDose:
    drug, amount, route = what
    return RecordDose(
        subject_id=subject, date=on, drug=drug, dose=amount, route=route, deviation=deviation
    )


def dose(recorder: TrialRecorder, cast: Cast, on_day: int, what: Given) -> int:
    recorded = recorder.record(cast.coordinator, dose_of(SUBJECT, day(on_day), what))
    return recorded.positions[0]


def stable_at_month_6(recorder: TrialRecorder, cast: Cast) -> None:
    """Two SD assessments in induction, the second in month 6: low-dose dex from day 169."""
    assess_serum(recorder, cast, day(100), "3.1")
    assess_serum(recorder, cast, day(150), "3.0")


def progressed_on(recorder: TrialRecorder, cast: Cast, on_day: int) -> None:
    """Two PD assessments, then progression confirmed on ``on_day``: high-dose dex from it."""
    assess_serum(recorder, cast, day(on_day - 30), "4.0", "PD")
    assess_serum(recorder, cast, day(on_day), "4.1", "PD")


def test_records_a_dose_the_calendar_calls_for(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    recorded = recorder.record(cast.coordinator, dose_of(enrolled, day(1), ANAKINRA))
    event = recorded.events[0]
    assert isinstance(event, DoseAdministered)
    assert (event.drug, event.dose, event.unit, event.route) == (
        "anakinra",
        Decimal(100),
        "mg",
        "SC",
    )
    assert event.deviation is None
    assert recorder.patient(enrolled).doses == {("anakinra", day(1)): recorded.positions[0]}


def test_rejects_dexamethasone_during_induction(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    head = recorder.ledger.reader.size()
    with pytest.raises(DoseRuleViolation, match=r"DOSE-NOT-IN-REGIMEN.*regimen induction"):
        dose(recorder, cast, 1, LOW_DEX)
    assert recorder.ledger.reader.size() == head


def test_rejects_a_dose_amount_the_regimen_does_not_give(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    with pytest.raises(DoseRuleViolation, match=r"DOSE-ANAKINRA-DAILY.*expected anakinra 100 mg"):
        dose(recorder, cast, 1, ("anakinra", Decimal(50), "SC"))


def test_rejects_a_dose_before_treatment_start(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    with pytest.raises(DoseRuleViolation, match=r"DOSE-NOT-IN-REGIMEN.*regimen screening"):
        recorder.record(cast.coordinator, dose_of(enrolled, START - timedelta(days=1), ANAKINRA))


def test_records_a_dose_outside_the_calendar_as_a_deviation(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    deviation = Deviation(rule_id="DOSE-NOT-IN-REGIMEN", reason="given in error by home nurse")
    recorded = recorder.record(cast.coordinator, dose_of(enrolled, day(3), LOW_DEX, deviation))
    event = recorded.events[0]
    assert isinstance(event, DoseAdministered)
    assert event.deviation == deviation


def test_rejects_a_deviation_naming_another_rule(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    deviation = Deviation(rule_id="DOSE-LOWDEX-WEEKLY", reason="given in error")
    with pytest.raises(ValidationError, match=r"REC-DEVIATION.*departs from DOSE-NOT-IN-REGIMEN"):
        recorder.record(cast.coordinator, dose_of(enrolled, day(3), LOW_DEX, deviation))


def test_rejects_a_deviation_on_a_dose_the_calendar_calls_for(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    deviation = Deviation(rule_id="DOSE-ANAKINRA-DAILY", reason="just in case")
    with pytest.raises(ValidationError, match=r"REC-DEVIATION.*no deviation to record"):
        recorder.record(cast.coordinator, dose_of(enrolled, day(3), ANAKINRA, deviation))


def test_rejects_a_second_dose_of_a_drug_on_one_day(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    first = dose(recorder, cast, 2, ANAKINRA)
    with pytest.raises(RuleViolation, match=rf"REC-DUPLICATE-DOSE.*position {first}"):
        dose(recorder, cast, 2, ANAKINRA)


def test_accepts_a_dose_again_once_the_first_was_entered_in_error(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    first = dose(recorder, cast, 2, ANAKINRA)
    recorder.record(
        cast.coordinator,
        Correct(
            subject_id=enrolled,
            date=day(3),
            position=first,
            field=RECORD_STATUS_FIELD,
            new_value=ENTERED_IN_ERROR,
            reason="recorded for the wrong subject",
        ),
    )
    assert dose(recorder, cast, 2, ANAKINRA) > first


def test_accepts_a_dose_on_a_day_freed_by_correcting_the_date(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    first = dose(recorder, cast, 2, ANAKINRA)
    recorder.record(
        cast.coordinator,
        Correct(
            subject_id=enrolled,
            date=day(5),
            position=first,
            field="effective_date",
            new_value=day(4).isoformat(),
            reason="diary date misread",
        ),
    )
    dose(recorder, cast, 2, ANAKINRA)
    with pytest.raises(RuleViolation, match=r"REC-DUPLICATE-DOSE"):
        dose(recorder, cast, 4, ANAKINRA)


def test_low_dose_dexamethasone_is_weekly_from_month_7(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    stable_at_month_6(recorder, cast)
    assert month_start(7) == day(169)
    dose(recorder, cast, 169, LOW_DEX)
    dose(recorder, cast, 176, LOW_DEX)
    with pytest.raises(DoseRuleViolation, match=r"DOSE-LOWDEX-WEEKLY.*no dexamethasone on this"):
        dose(recorder, cast, 170, LOW_DEX)
    with pytest.raises(DoseRuleViolation, match=r"DOSE-LOWDEX-WEEKLY.*expected dexamethasone 20"):
        dose(recorder, cast, 183, HIGH_DEX)


def test_late_entered_doses_follow_the_regimen_of_their_own_date(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    stable_at_month_6(recorder, cast)
    dose(recorder, cast, 169, LOW_DEX)
    with pytest.raises(DoseRuleViolation, match=r"DOSE-NOT-IN-REGIMEN.*regimen induction"):
        dose(recorder, cast, 162, LOW_DEX)
    dose(recorder, cast, 162, ANAKINRA)


@pytest.mark.parametrize("regimen_day", [1, 2, 3, 4, 9, 12, 17, 20, 57, 60])
def test_high_dose_dexamethasone_follows_its_calendar(
    recorder: TrialRecorder, cast: Cast, enrolled: str, regimen_day: int
) -> None:
    progressed_on(recorder, cast, 70)
    dose(recorder, cast, 70 + regimen_day - 1, HIGH_DEX)


@pytest.mark.parametrize("regimen_day", [5, 8, 13, 21, 28, 33, 61])
def test_rejects_high_dose_dexamethasone_off_its_calendar(
    recorder: TrialRecorder, cast: Cast, enrolled: str, regimen_day: int
) -> None:
    progressed_on(recorder, cast, 70)
    with pytest.raises(DoseRuleViolation, match=r"DOSE-HIGHDEX-CALENDAR"):
        dose(recorder, cast, 70 + regimen_day - 1, HIGH_DEX)


def test_records_a_held_dose(recorder: TrialRecorder, cast: Cast, enrolled: str) -> None:
    recorded = recorder.record(
        cast.coordinator,
        RecordMissedDose(
            subject_id=enrolled,
            date=day(5),
            drug="anakinra",
            reason="grade 2 injection-site reaction",
            held=True,
        ),
    )
    assert recorder.patient(enrolled).missed == {("anakinra", day(5)): recorded.positions[0]}


def test_rejects_missing_a_dose_that_was_not_due(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    with pytest.raises(RuleViolation, match=r"REC-MISSED-NOT-DUE.*no dexamethasone is due"):
        recorder.record(
            cast.coordinator,
            RecordMissedDose(
                subject_id=enrolled, date=day(5), drug="dexamethasone", reason="forgot"
            ),
        )


def test_rejects_a_dose_on_a_day_it_was_recorded_missed(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    recorder.record(
        cast.coordinator,
        RecordMissedDose(subject_id=enrolled, date=day(5), drug="anakinra", reason="travelling"),
    )
    with pytest.raises(RuleViolation, match=r"REC-DOSE-MISSED-CONFLICT"):
        dose(recorder, cast, 5, ANAKINRA)


def test_rejects_missing_a_dose_already_given(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    dose(recorder, cast, 5, ANAKINRA)
    with pytest.raises(RuleViolation, match=r"REC-DUPLICATE-DOSE"):
        recorder.record(
            cast.coordinator,
            RecordMissedDose(
                subject_id=enrolled, date=day(5), drug="anakinra", reason="travelling"
            ),
        )


def test_rejects_a_dose_for_a_subject_never_enrolled(recorder: TrialRecorder, cast: Cast) -> None:
    screen_subject(recorder, cast, OTHER)
    with pytest.raises(RuleViolation, match=r"REC-ENROLLED.*MC0282-001-018 was never enrolled"):
        recorder.record(cast.coordinator, dose_of(OTHER, day(1), ANAKINRA))


def test_rejects_a_dose_for_a_subject_never_screened(recorder: TrialRecorder, cast: Cast) -> None:
    with pytest.raises(NotFoundError, match=r"REC-SCREENED.*MC0282-001-018 was never screened"):
        recorder.record(cast.coordinator, dose_of(OTHER, day(1), ANAKINRA))
