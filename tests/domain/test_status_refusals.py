"""Who may still have events recorded: never enrolled, withdrawn, dead, off study; dates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest

from ledger.domain.commands import (
    AdvanceRegimen,
    AssessResponse,
    Consent,
    Correct,
    Enrol,
    RecordDeath,
    RecordFollowUp,
    RecordLab,
    ReportAdverseEvent,
    Screen,
    Sign,
    TakeOffStudy,
    Withdraw,
)
from ledger.errors import NotFoundError, RuleViolation, ValidationError
from ledger.events import RegimenChanged
from ledger.protocol.schedule import Regimen
from ledger.recording import Recorded, TrialRecorder
from tests.domain.trial_helpers import (
    OTHER,
    SCREENED_ON,
    SUBJECT,
    TODAY,
    anakinra_command,
    assess_serum,
    baseline,
    day,
    month_start,
    screen_command,
    screen_subject,
)
from tests.support import Cast

Command = Callable[[TrialRecorder, Cast, date], Recorded]

COMMANDS: dict[str, Command] = {
    "dose": lambda r, c, on: r.record(
        c.coordinator,
        anakinra_command(on),
    ),
    "lab": lambda r, c, on: r.record(
        c.coordinator,
        RecordLab(subject_id=SUBJECT, date=on, analyte="hs_crp", value=Decimal("2.1"), unit="mg/L"),
    ),
    "assessment": lambda r, c, on: r.record(
        c.investigator, AssessResponse(subject_id=SUBJECT, date=on, investigator_category="SD")
    ),
    "adverse event": lambda r, c, on: r.record(
        c.coordinator,
        ReportAdverseEvent(
            subject_id=SUBJECT,
            date=on,
            term="Fatigue",
            grade=1,
            attribution="possible",
            action_taken="none",
        ),
    ),
    "follow-up": lambda r, c, on: r.record(
        c.coordinator, RecordFollowUp(subject_id=SUBJECT, date=on, disease_status="no-progression")
    ),
    "death": lambda r, c, on: r.record(
        c.investigator, RecordDeath(subject_id=SUBJECT, date=on, cause="stroke")
    ),
}


def regimens(recorded: Recorded) -> list[tuple[str, str]]:
    return [(e.to_regimen, e.rule_id) for e in recorded.events if isinstance(e, RegimenChanged)]


@pytest.mark.parametrize("command", ["dose", "lab", "assessment", "adverse event", "death"])
def test_rejects_events_for_a_subject_never_enrolled(
    recorder: TrialRecorder, cast: Cast, command: str
) -> None:
    screen_subject(recorder, cast)
    head = recorder.ledger.reader.size()
    with pytest.raises(RuleViolation, match=r"REC-ENROLLED.*never enrolled"):
        COMMANDS[command](recorder, cast, day(10))
    assert recorder.ledger.reader.size() == head


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_rejects_events_for_a_subject_never_screened(
    recorder: TrialRecorder, cast: Cast, command: str
) -> None:
    with pytest.raises(NotFoundError, match=r"REC-SCREENED.*never screened"):
        COMMANDS[command](recorder, cast, day(10))


@pytest.mark.parametrize("command", ["dose", "lab", "adverse event"])
def test_rejects_a_clinical_date_in_the_future(
    recorder: TrialRecorder, cast: Cast, enrolled: str, command: str
) -> None:
    with pytest.raises(ValidationError, match=r"date='2008-01-02' refused: \[REC-DATE-FUTURE\]"):
        COMMANDS[command](recorder, cast, date(2008, 1, 2))
    assert date(2008, 1, 1) == TODAY


@pytest.mark.parametrize("command", ["lab", "adverse event"])
def test_rejects_a_clinical_date_before_screening(
    recorder: TrialRecorder, cast: Cast, enrolled: str, command: str
) -> None:
    with pytest.raises(ValidationError, match=r"REC-DATE-BEFORE-SCREENING.*2003-01-06"):
        COMMANDS[command](recorder, cast, date(2003, 1, 5))


def test_rejects_consent_dated_before_screening(recorder: TrialRecorder, cast: Cast) -> None:
    recorder.record(cast.coordinator, screen_command())
    with pytest.raises(ValidationError, match=r"REC-DATE-BEFORE-SCREENING"):
        recorder.record(
            cast.coordinator,
            Consent(subject_id=SUBJECT, date=date(2003, 1, 1), consent_version="2002-10"),
        )


def test_rejects_dose_after_withdrawal(recorder: TrialRecorder, cast: Cast, enrolled: str) -> None:
    withdrawn = recorder.record(
        cast.coordinator, Withdraw(subject_id=SUBJECT, date=day(20), reason="moved abroad")
    )
    assert regimens(withdrawn) == [("off_study", "REG-WITHDRAWAL")]
    head = recorder.ledger.reader.size()
    with pytest.raises(
        RuleViolation, match=r"REC-AFTER-WITHDRAWAL.*withdrew consent on 2003-02-01"
    ):
        COMMANDS["dose"](recorder, cast, day(21))
    assert recorder.ledger.reader.size() == head


def test_accepts_a_late_entered_dose_dated_before_withdrawal(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    recorder.record(
        cast.coordinator, Withdraw(subject_id=SUBJECT, date=day(20), reason="moved abroad")
    )
    COMMANDS["dose"](recorder, cast, day(19))


@pytest.mark.parametrize("command", ["lab", "follow-up", "adverse event"])
def test_rejects_events_dated_after_death(
    recorder: TrialRecorder, cast: Cast, enrolled: str, command: str
) -> None:
    died = recorder.record(
        cast.investigator,
        RecordDeath(subject_id=SUBJECT, date=day(30), cause="myocardial infarction"),
    )
    assert regimens(died) == [("off_study", "REG-DEATH")]
    with pytest.raises(RuleViolation, match=r"REC-AFTER-DEATH.*died on 2003-02-11"):
        COMMANDS[command](recorder, cast, day(31))


def test_rejects_recording_a_death_twice(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    recorder.record(
        cast.investigator,
        RecordDeath(subject_id=SUBJECT, date=day(30), cause="myocardial infarction"),
    )
    with pytest.raises(RuleViolation, match=r"REC-AFTER-DEATH.*no death can follow"):
        recorder.record(
            cast.investigator,
            RecordDeath(subject_id=SUBJECT, date=day(30), cause="myocardial infarction"),
        )


def test_accepts_corrections_and_signatures_after_death(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    dose = COMMANDS["dose"](recorder, cast, day(2)).positions[0]
    recorder.record(
        cast.investigator,
        RecordDeath(subject_id=SUBJECT, date=day(30), cause="myocardial infarction"),
    )
    recorder.record(
        cast.coordinator,
        Correct(
            subject_id=SUBJECT,
            date=day(40),
            position=dose,
            field="effective_date",
            new_value=day(3).isoformat(),
            reason="diary misread",
        ),
    )
    recorder.record(
        cast.monitor,
        Sign(
            subject_id=SUBJECT,
            date=day(40),
            positions=(dose,),
            signature_meaning="review",
            statement="source verified",
        ),
    )


def test_withdrawal_from_treatment_keeps_follow_up_and_refuses_doses(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    withdrawn = recorder.record(
        cast.coordinator,
        Withdraw(
            subject_id=SUBJECT,
            date=day(20),
            reason="intolerable injections",
            consent_withdrawn=False,
        ),
    )
    assert regimens(withdrawn) == [
        ("off_treatment", "REG-OFF-TREATMENT"),
        ("follow_up", "REG-EOT-FOLLOW-UP"),
    ]
    COMMANDS["follow-up"](recorder, cast, day(200))
    with pytest.raises(RuleViolation, match=r"REC-AFTER-WITHDRAWAL.*withdrawn from study treat"):
        COMMANDS["dose"](recorder, cast, day(21))
    with pytest.raises(RuleViolation, match=r"REC-AFTER-WITHDRAWAL.*only follow-up visits"):
        COMMANDS["adverse event"](recorder, cast, day(21))
    COMMANDS["lab"](recorder, cast, day(21))  # disease follow-up goes on, as after stopping
    COMMANDS["death"](recorder, cast, day(400))


def test_rejects_withdrawing_from_treatment_a_patient_not_on_treatment(
    recorder: TrialRecorder, cast: Cast
) -> None:
    screen_subject(recorder, cast)
    with pytest.raises(RuleViolation, match=r"REC-NOT-ON-TREATMENT.*regimen screening"):
        recorder.record(
            cast.coordinator,
            Withdraw(
                subject_id=SUBJECT, date=day(1), reason="changed mind", consent_withdrawn=False
            ),
        )


def test_rejects_withdrawing_consent_twice(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    recorder.record(
        cast.coordinator, Withdraw(subject_id=SUBJECT, date=day(20), reason="moved abroad")
    )
    with pytest.raises(RuleViolation, match=r"REC-AFTER-WITHDRAWAL.*no withdrawal can follow"):
        recorder.record(
            cast.coordinator, Withdraw(subject_id=SUBJECT, date=day(20), reason="moved abroad")
        )


def test_consent_withdrawn_during_screening_takes_the_subject_off_study(
    recorder: TrialRecorder, cast: Cast
) -> None:
    screen_subject(recorder, cast)
    withdrawn = recorder.record(
        cast.coordinator, Withdraw(subject_id=SUBJECT, date=date(2003, 1, 9), reason="declined")
    )
    change = withdrawn.events[1]
    assert isinstance(change, RegimenChanged)
    assert (change.from_regimen, change.to_regimen) == ("screening", "off_study")


def test_off_study_after_an_ineligible_screening_cites_the_screening_rule(
    recorder: TrialRecorder, cast: Cast
) -> None:
    screen_subject(recorder, cast, ecog=2)
    recorded = recorder.record(
        cast.coordinator,
        TakeOffStudy(subject_id=SUBJECT, date=date(2003, 1, 9), reason="screen failure"),
    )
    assert regimens(recorded) == [("off_study", "REG-SCREEN-INELIGIBLE")]
    with pytest.raises(RuleViolation, match=r"REC-AFTER-OFF-STUDY.*no enrolment can follow"):
        recorder.record(
            cast.investigator,
            Enrol(
                subject_id=SUBJECT,
                date=date(2003, 1, 10),
                treatment_start=day(1),
                baseline=baseline(),
            ),
        )


def test_rejects_events_dated_after_going_off_study(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    recorder.record(
        cast.coordinator, TakeOffStudy(subject_id=SUBJECT, date=day(50), reason="lost to follow-up")
    )
    with pytest.raises(RuleViolation, match=r"REC-AFTER-OFF-STUDY.*went off study on 2003-03-03"):
        COMMANDS["lab"](recorder, cast, day(51))


def test_rejects_a_follow_up_visit_during_treatment(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    with pytest.raises(RuleViolation, match=r"REC-FOLLOW-UP-PHASE.*regimen induction"):
        COMMANDS["follow-up"](recorder, cast, day(50))


def test_follow_up_visits_are_recorded_after_treatment_ends(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    assess_serum(recorder, cast, day(100), "2.3", "MR")
    assess_serum(recorder, cast, day(150), "2.2", "MR")
    recorder.record(cast.investigator, AdvanceRegimen(subject_id=SUBJECT, date=month_start(13)))
    COMMANDS["follow-up"](recorder, cast, month_start(19))
    assert recorder.patient(SUBJECT).current_regimen is Regimen.FOLLOW_UP


def test_a_subject_of_another_site_has_a_separate_record(
    recorder: TrialRecorder, cast: Cast
) -> None:
    subject = "MC0282-002-001"
    recorder.record(
        cast.coordinator_site2,
        Screen(subject_id=subject, date=SCREENED_ON, site="002", age_years=58, sex="M"),
    )
    assert recorder.patient(subject).screened
    assert not recorder.patient(OTHER).screened
