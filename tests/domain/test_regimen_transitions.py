"""Progression and the scheduled regimen transitions (months 6, 12, 18, course end, follow-up)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ledger.domain.commands import (
    AdvanceRegimen,
    AssessResponse,
    ConfirmProgression,
    RecordFollowUp,
    RecordLab,
    StopTreatment,
)
from ledger.errors import RuleViolation, ValidationError
from ledger.events import Deviation, ProgressionConfirmed, RegimenChanged, ResponseAssessed
from ledger.protocol.schedule import Regimen
from ledger.recording import TrialRecorder
from tests.domain.trial_helpers import SUBJECT, assess_serum, day, event_names, month_start
from tests.support import Cast


def changes(recorded_events: tuple[object, ...]) -> list[tuple[str, str, str, date]]:
    return [
        (e.from_regimen, e.to_regimen, e.rule_id, e.effective_date)
        for e in recorded_events
        if isinstance(e, RegimenChanged)
    ]


def two_pd(recorder: TrialRecorder, cast: Cast, first: int, second: int) -> tuple[object, ...]:
    """Two consecutive derived PD: the second assessment records the progression the rules
    confirm, and the move it calls for, in its own commit; returns that commit's events."""
    assess_serum(recorder, cast, day(first), "4.0", "PD")
    return assess_serum(recorder, cast, day(second), "4.1", "PD").events


def confirm(recorder: TrialRecorder, cast: Cast, on_day: int) -> tuple[object, ...]:
    return recorder.record(
        cast.investigator,
        ConfirmProgression(
            subject_id=SUBJECT, date=day(on_day), basis="serum M-protein rising on two assessments"
        ),
    ).events


def continuation_from_month_7(recorder: TrialRecorder, cast: Cast) -> None:
    assess_serum(recorder, cast, day(100), "2.3", "MR")
    assess_serum(recorder, cast, day(150), "2.2", "MR")


def low_dose_from_month_7(recorder: TrialRecorder, cast: Cast) -> None:
    assess_serum(recorder, cast, day(100), "3.1")
    assess_serum(recorder, cast, day(150), "3.0")


def test_the_assessment_that_confirms_progression_records_it_and_moves_to_high_dose(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    """REG-PD-ANYTIME, REG-PD-START: confirmed by the rules at any assessment (as at month 6),
    progression is recorded with it and high-dose dexamethasone starts that day."""
    events = two_pd(recorder, cast, 40, 70)
    assert [type(e).__name__ for e in events] == [
        "ResponseAssessed",
        "ProgressionConfirmed",
        "RegimenChanged",
    ]
    progression = events[1]
    assert isinstance(progression, ProgressionConfirmed)
    assert progression.rule_ids == ("CONF-PD",)
    assert changes(events) == [("induction", "high_dose_dex", "REG-PD-ANYTIME", day(70))]


def test_confirmed_progression_is_dated_when_its_criteria_were_first_met(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    progression = two_pd(recorder, cast, 40, 70)[1]
    assert isinstance(progression, ProgressionConfirmed)
    assert (progression.progression_date, progression.effective_date) == (day(40), day(70))


def test_rejects_a_progression_date_the_rules_contradict(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    """Only a progression the rules do not confirm takes the investigator's date: with one
    PD and a deviation, a date after the confirmation is refused."""
    assess_serum(recorder, cast, day(40), "4.0", "PD")
    deviation = Deviation(rule_id="CONF-PD", reason="clinical progression, bone pain")
    with pytest.raises(ValidationError, match=r"progression_date.*REC-PROGRESSION-DATE"):
        recorder.record(
            cast.investigator,
            ConfirmProgression(
                subject_id=SUBJECT,
                date=day(45),
                basis="rising",
                deviation=deviation,
                progression_date=day(46),
            ),
        )


def test_rejects_an_investigators_progression_date_outside_treatment(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    deviation = Deviation(rule_id="CONF-PD", reason="new lytic lesion on MRI, labs pending")
    with pytest.raises(ValidationError, match=r"REC-PROGRESSION-DATE.*between the treatment start"):
        recorder.record(
            cast.investigator,
            ConfirmProgression(
                subject_id=SUBJECT,
                date=day(40),
                basis="lesion",
                deviation=deviation,
                progression_date=day(41),
            ),
        )
    recorded = recorder.record(
        cast.investigator,
        ConfirmProgression(
            subject_id=SUBJECT,
            date=day(40),
            basis="lesion",
            deviation=deviation,
            progression_date=day(30),
        ),
    )
    progression = recorded.events[0]
    assert isinstance(progression, ProgressionConfirmed)
    assert progression.progression_date == day(30)


def test_marrow_progression_needs_no_second_assessment(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    """CONF-PD-SINGLE: marrow plasma cells 15% at baseline, 28% now (+87%, +13 points)."""
    recorder.record(
        cast.coordinator,
        RecordLab(
            subject_id=SUBJECT,
            date=day(60),
            analyte="marrow_plasma_cells",
            value=Decimal(28),
            unit="%",
        ),
    )
    events = assess_serum(recorder, cast, day(60), "3.2", "PD").events
    progression = events[1]
    assert isinstance(progression, ProgressionConfirmed)
    assert progression.rule_ids == ("CONF-PD-SINGLE",)
    assert changes(events) == [("induction", "high_dose_dex", "REG-PD-ANYTIME", day(60))]


def test_high_dose_may_start_next_month_by_the_other_reading_with_a_reason(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    """REG-PD-START, other reading: day 1 of the next protocol month (month 4 starts day 85),
    with the investigator's progression (one PD and a deviation from CONF-PD)."""
    assess_serum(recorder, cast, day(70), "4.0", "PD")
    reading = Deviation(rule_id="REG-PD-START", reason="start with the next cycle's calendar")
    judgement = Deviation(rule_id="CONF-PD", reason="symptomatic rise, act before confirming")
    events = recorder.record(
        cast.investigator,
        ConfirmProgression(
            subject_id=SUBJECT,
            date=day(70),
            basis="rising",
            deviation=judgement,
            start_next_month=reading,
        ),
    ).events
    assert changes(events) == [("induction", "high_dose_dex", "REG-PD-ANYTIME", day(85))]
    change = events[1]
    assert isinstance(change, RegimenChanged)
    assert (change.decided_on, change.deviation) == (day(70), reading)
    assert recorder.patient(SUBJECT).regimen_on(day(84)) is Regimen.INDUCTION


def test_rejects_progression_the_rules_do_not_confirm(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    assess_serum(recorder, cast, day(40), "4.0", "PD")
    head = recorder.ledger.reader.size()
    with pytest.raises(RuleViolation, match=r"\[CONF-PD\].*not confirmed by the rules.*2003-02-21"):
        confirm(recorder, cast, 40)
    assert recorder.ledger.reader.size() == head


def test_records_the_investigators_progression_as_a_deviation(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    deviation = Deviation(rule_id="CONF-PD", reason="new lytic lesion on MRI, labs pending")
    recorded = recorder.record(
        cast.investigator,
        ConfirmProgression(
            subject_id=SUBJECT, date=day(40), basis="new lytic lesion", deviation=deviation
        ),
    )
    progression = recorded.events[0]
    assert isinstance(progression, ProgressionConfirmed)
    assert progression.deviation == deviation
    assert changes(recorded.events)[0][1] == "high_dose_dex"


def test_rejects_a_progression_deviation_naming_another_rule(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    deviation = Deviation(rule_id="RESP-PD-BONE", reason="new lesion")
    with pytest.raises(ValidationError, match=r"deviation.rule_id='RESP-PD-BONE'.*CONF-PD"):
        recorder.record(
            cast.investigator,
            ConfirmProgression(
                subject_id=SUBJECT, date=day(40), basis="new lesion", deviation=deviation
            ),
        )


def test_rejects_confirming_the_same_progression_twice(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    two_pd(recorder, cast, 40, 70)
    with pytest.raises(RuleViolation, match=r"REC-PROGRESSION-DUPLICATE.*2003-03-23"):
        confirm(recorder, cast, 71)


def test_responses_after_progression_are_measured_from_the_progression(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    two_pd(recorder, cast, 40, 70)
    event = assess_serum(recorder, cast, day(100), "3.0", "MR").events[0]
    assert isinstance(event, ResponseAssessed)
    assert event.values_used["serum.baseline"] == "4.1"
    assert event.derived_category == "MR"


def test_progression_on_high_dose_ends_treatment_and_starts_follow_up(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    two_pd(recorder, cast, 40, 70)
    assess_serum(recorder, cast, day(100), "5.2", "PD")
    events = assess_serum(recorder, cast, day(130), "5.4", "PD").events
    assert changes(events) == [
        ("high_dose_dex", "off_treatment", "REG-PD-ON-HIGHDEX", day(130)),
        ("off_treatment", "follow_up", "REG-EOT-FOLLOW-UP", day(130)),
    ]


def test_progression_after_treatment_changes_no_regimen(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    continuation_from_month_7(recorder, cast)
    recorder.record(cast.investigator, AdvanceRegimen(subject_id=SUBJECT, date=month_start(13)))
    assess_serum(recorder, cast, month_start(14), "4.0", "PD")
    events = assess_serum(recorder, cast, month_start(15), "4.2", "PD").events
    assert [type(e).__name__ for e in events] == ["ResponseAssessed", "ProgressionConfirmed"]
    assert recorder.patient(SUBJECT).current_regimen is Regimen.FOLLOW_UP


def test_progression_before_a_scheduled_month_7_start_supersedes_it(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    assess_serum(recorder, cast, day(100), "3.1")
    assess_serum(recorder, cast, day(145), "3.0")  # month 6, SD: low-dose dex from day 169
    assess_serum(recorder, cast, day(150), "4.0", "PD")
    events = assess_serum(recorder, cast, day(160), "4.1", "PD").events
    # From the regimen in force on day 160 (induction): the low-dose start never happened.
    assert changes(events) == [("induction", "high_dose_dex", "REG-PD-ANYTIME", day(160))]
    patient = recorder.patient(SUBJECT)
    assert patient.regimen_on(day(159)) is Regimen.INDUCTION
    assert patient.regimen_on(day(200)) is Regimen.HIGH_DOSE_DEX
    assert [p.rule_id for p in patient.timeline.cancelled] == ["REG-M6-SD"]


def test_advance_at_month_7_without_a_month_6_assessment_treats_the_patient_as_stable(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    assess_serum(recorder, cast, day(130), "2.3", "MR")  # month 5: no month-6 decision yet
    events = recorder.record(
        cast.investigator, AdvanceRegimen(subject_id=SUBJECT, date=month_start(7))
    ).events
    assert changes(events) == [("induction", "low_dose_dex", "REG-M6-NOT-ASSESSED", month_start(7))]


def test_rejects_advance_when_nothing_is_due(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    with pytest.raises(
        RuleViolation, match=r"REC-NOTHING-DUE.*next: the month-6 decision on 2003-06-30"
    ):
        recorder.record(cast.investigator, AdvanceRegimen(subject_id=SUBJECT, date=day(100)))


def test_month_12_ends_continuation_and_starts_follow_up(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    continuation_from_month_7(recorder, cast)
    late = day(28 * 12 + 15)  # recorded two weeks after it was due
    events = recorder.record(
        cast.investigator, AdvanceRegimen(subject_id=SUBJECT, date=late)
    ).events
    assert changes(events) == [
        ("continuation", "off_treatment", "REG-M12-CONTINUATION-END", month_start(13)),
        ("off_treatment", "follow_up", "REG-EOT-FOLLOW-UP", month_start(13)),
    ]
    assert all(isinstance(e, RegimenChanged) and e.decided_on for e in events)


def test_the_physician_may_continue_anakinra_beyond_month_12(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    continuation_from_month_7(recorder, cast)
    events = recorder.record(
        cast.investigator,
        AdvanceRegimen(subject_id=SUBJECT, date=month_start(13), physician_continues=True),
    ).events
    assert changes(events) == [
        ("continuation", "continuation", "REG-M12-DISCRETION", month_start(13))
    ]
    with pytest.raises(RuleViolation, match=r"REC-NOTHING-DUE.*no scheduled end"):
        recorder.record(cast.investigator, AdvanceRegimen(subject_id=SUBJECT, date=month_start(20)))
    stopped = recorder.record(
        cast.investigator,
        StopTreatment(subject_id=SUBJECT, date=day(600), reason="patient's choice"),
    )
    assert [c[2] for c in changes(stopped.events)] == ["REG-OFF-TREATMENT", "REG-EOT-FOLLOW-UP"]


def test_low_dose_extends_to_month_18_when_stable_then_ends(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    low_dose_from_month_7(recorder, cast)
    assess_serum(recorder, cast, day(300), "3.0")
    extended = recorder.record(
        cast.investigator, AdvanceRegimen(subject_id=SUBJECT, date=month_start(13))
    ).events
    assert changes(extended) == [
        ("low_dose_dex", "low_dose_dex", "REG-M12-LOWDEX-EXTEND", month_start(13))
    ]
    patient = recorder.patient(SUBJECT)
    period = patient.period_on(month_start(14))
    assert period is not None
    assert period.course_start == month_start(7)  # the weekly calendar does not restart
    ended = recorder.record(
        cast.investigator, AdvanceRegimen(subject_id=SUBJECT, date=month_start(19))
    ).events
    assert [c[2] for c in changes(ended)] == ["REG-M18-LOWDEX-END", "REG-EOT-FOLLOW-UP"]


def test_low_dose_ends_at_month_12_without_an_assessment(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    low_dose_from_month_7(recorder, cast)
    events = recorder.record(
        cast.investigator, AdvanceRegimen(subject_id=SUBJECT, date=month_start(13))
    ).events
    assert [c[2] for c in changes(events)] == ["REG-M12-LOWDEX-END", "REG-EOT-FOLLOW-UP"]


def test_the_high_dose_course_ends_after_six_protocol_months(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    two_pd(recorder, cast, 40, 70)
    with pytest.raises(RuleViolation, match=r"REC-NOTHING-DUE.*high-dose course on 2003-09-07"):
        recorder.record(cast.investigator, AdvanceRegimen(subject_id=SUBJECT, date=day(237)))
    events = recorder.record(
        cast.investigator, AdvanceRegimen(subject_id=SUBJECT, date=day(238))
    ).events
    assert changes(events)[0] == (
        "high_dose_dex",
        "off_treatment",
        "REG-HIGHDEX-COURSE-END",
        day(70 + 168),
    )


def test_follow_up_ends_five_years_after_treatment(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    continuation_from_month_7(recorder, cast)
    recorder.record(cast.investigator, AdvanceRegimen(subject_id=SUBJECT, date=month_start(13)))
    later = TrialRecorder(recorder.ledger, clock=lambda: date(2010, 1, 1))
    # The last visit is due 2008-12-15; its 28-day window closes follow-up on 2009-01-12.
    later.record(
        cast.investigator,
        RecordFollowUp(
            subject_id=SUBJECT, date=date(2008, 12, 20), disease_status="no-progression"
        ),
    )
    with pytest.raises(RuleViolation, match=r"end of follow-up on 2009-01-12"):
        later.record(cast.investigator, AdvanceRegimen(subject_id=SUBJECT, date=date(2009, 1, 11)))
    with pytest.raises(RuleViolation, match=r"REG-FU-COMPLETE.*ended on 2009-01-12"):
        later.record(
            cast.investigator,
            RecordFollowUp(
                subject_id=SUBJECT, date=date(2009, 1, 13), disease_status="no-progression"
            ),
        )
    events = later.record(
        cast.investigator, AdvanceRegimen(subject_id=SUBJECT, date=date(2009, 1, 12))
    ).events
    assert changes(events) == [("follow_up", "off_study", "REG-FU-COMPLETE", date(2009, 1, 12))]


def test_rejects_stopping_treatment_in_follow_up(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    continuation_from_month_7(recorder, cast)
    recorder.record(cast.investigator, AdvanceRegimen(subject_id=SUBJECT, date=month_start(13)))
    with pytest.raises(RuleViolation, match=r"REG-OFF-TREATMENT: expected an on-treatment"):
        recorder.record(
            cast.investigator,
            StopTreatment(subject_id=SUBJECT, date=month_start(14), reason="toxicity"),
        )


def test_a_regimen_change_names_its_events_in_one_commit(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    recorder.record(
        cast.coordinator,
        RecordLab(
            subject_id=SUBJECT,
            date=day(40),
            analyte="serum_m_protein",
            value=Decimal("4.0"),
            unit="g/dL",
        ),
    )
    recorded = recorder.record(
        cast.investigator,
        AssessResponse(
            subject_id=SUBJECT, date=day(40), investigator_category="PD", new_bone_lesions=True
        ),
    )  # new bone lesions: progression by a single assessment (CONF-PD-SINGLE)
    assert event_names(recorded) == ["ResponseAssessed", "ProgressionConfirmed", "RegimenChanged"]
    assert len(recorded.positions) == 3
