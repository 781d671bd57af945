"""Screening, eligibility, consent and enrolment: what is recorded and what is refused."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ledger.domain.commands import AssessEligibility, Consent, Screen
from ledger.domain.commands.base import command_from
from ledger.errors import AuthorisationError, NotFoundError, RuleViolation, ValidationError
from ledger.events import Deviation, EligibilityAssessed, RegimenChanged, SubjectEnrolled
from ledger.recording import TrialRecorder
from tests.domain.trial_helpers import (
    ENROLLED_ON,
    SCREENED_ON,
    START,
    SUBJECT,
    eligible_inputs,
    enrol_command,
    enrol_subject,
    event_names,
    screen_command,
    screen_subject,
)
from tests.support import Cast


def size(recorder: TrialRecorder) -> int:
    return recorder.ledger.reader.size()


def test_screening_is_the_first_event_of_a_subject(recorder: TrialRecorder, cast: Cast) -> None:
    recorded = recorder.record(cast.coordinator, screen_command())
    assert event_names(recorded) == ["SubjectScreened"]
    assert recorded.events[0].originator_version == 1
    assert recorded.positions == (size(recorder),)
    assert recorder.patient(SUBJECT).screening == recorded.events[0]


def test_rejects_screening_a_subject_twice(recorder: TrialRecorder, cast: Cast) -> None:
    recorder.record(cast.coordinator, screen_command())
    head = size(recorder)
    with pytest.raises(RuleViolation, match=r"REC-DUPLICATE-SUBJECT.*already screened"):
        recorder.record(cast.coordinator, screen_command())
    assert size(recorder) == head


def test_rejects_a_site_other_than_the_one_in_the_subject_id(
    recorder: TrialRecorder, cast: Cast
) -> None:
    with pytest.raises(ValidationError, match=r"site='002' refused: \[REC-SITE\] .* site 001"):
        recorder.record(cast.coordinator, screen_command(site="002"))


def test_rejects_screening_before_the_trial_started(recorder: TrialRecorder, cast: Cast) -> None:
    with pytest.raises(ValidationError, match=r"REC-DATE-BEFORE-TRIAL.*2002-11-01"):
        recorder.record(cast.coordinator, screen_command(on=date(2002, 10, 31)))


def test_rejects_a_malformed_subject_id(recorder: TrialRecorder, cast: Cast) -> None:
    with pytest.raises(ValidationError, match=r"subject_id='MC0282-1-17' refused.*REC-SUBJECT-ID"):
        recorder.record(
            cast.coordinator,
            command_from(
                Screen,
                {
                    "subject_id": "MC0282-1-17",
                    "date": SCREENED_ON,
                    "site": "001",
                    "age_years": 61,
                    "sex": "F",
                },
            ),
        )


def test_rejects_an_age_below_18_naming_the_field(recorder: TrialRecorder, cast: Cast) -> None:
    with pytest.raises(ValidationError, match=r"age_years=17 refused: .*greater than or equal"):
        recorder.record(
            cast.coordinator,
            command_from(
                Screen,
                {
                    "subject_id": SUBJECT,
                    "date": SCREENED_ON,
                    "site": "001",
                    "age_years": 17,
                    "sex": "F",
                },
            ),
        )


def test_eligibility_records_every_criterion_with_value_and_threshold(
    recorder: TrialRecorder, cast: Cast
) -> None:
    recorder.record(cast.coordinator, screen_command())
    recorded = recorder.record(
        cast.investigator,
        AssessEligibility(
            subject_id=SUBJECT, date=SCREENED_ON, inputs=eligible_inputs(anc_per_mm3=Decimal(1500))
        ),
    )
    event = recorded.events[0]
    assert isinstance(event, EligibilityAssessed)
    assert not event.eligible
    assert event.protocol_amendment == "MC0282-original"
    anc = next(c for c in event.criteria if c.criterion_id == "ELIG-ANC")
    assert (anc.measured, anc.threshold, anc.passed) == ("1500/mm3", ">= 1700/mm3", False)
    assert len(event.criteria) == 21
    assert event.inputs["anc_per_mm3"] == "1500"


def test_rejects_eligibility_with_an_age_other_than_screened(
    recorder: TrialRecorder, cast: Cast
) -> None:
    recorder.record(cast.coordinator, screen_command())
    with pytest.raises(ValidationError, match=r"age_years=62 refused: \[REC-ELIGIBILITY-AGE\]"):
        recorder.record(
            cast.investigator,
            AssessEligibility(
                subject_id=SUBJECT, date=SCREENED_ON, inputs=eligible_inputs(age_years=62)
            ),
        )


def test_rejects_eligibility_of_a_subject_never_screened(
    recorder: TrialRecorder, cast: Cast
) -> None:
    with pytest.raises(NotFoundError, match=r"REC-SCREENED.*never screened"):
        recorder.record(
            cast.investigator,
            AssessEligibility(subject_id=SUBJECT, date=SCREENED_ON, inputs=eligible_inputs()),
        )


def test_rejects_eligibility_after_enrolment(recorder: TrialRecorder, cast: Cast) -> None:
    enrol_subject(recorder, cast)
    with pytest.raises(RuleViolation, match=r"REC-ALREADY-ENROLLED.*before enrolment"):
        recorder.record(
            cast.investigator,
            AssessEligibility(subject_id=SUBJECT, date=ENROLLED_ON, inputs=eligible_inputs()),
        )


def test_rejects_the_same_consent_version_twice(recorder: TrialRecorder, cast: Cast) -> None:
    screen_subject(recorder, cast)
    with pytest.raises(RuleViolation, match=r"REC-DUPLICATE-CONSENT.*version 2002-10"):
        recorder.record(
            cast.coordinator,
            Consent(subject_id=SUBJECT, date=ENROLLED_ON, consent_version="2002-10"),
        )


def test_enrolment_starts_induction_in_the_same_commit(recorder: TrialRecorder, cast: Cast) -> None:
    recorded = enrol_subject(recorder, cast)
    enrolled, change = recorded.events
    assert isinstance(enrolled, SubjectEnrolled)
    assert isinstance(change, RegimenChanged)
    assert enrolled.protocol_amendment == "MC0282-original"
    assert enrolled.site == "001"
    assert (change.from_regimen, change.to_regimen, change.rule_id) == (
        "screening",
        "induction",
        "REG-SCREEN-ELIGIBLE",
    )
    assert change.effective_date == START
    assert change.decided_on == ENROLLED_ON
    assert recorded.commit.header.first_position + 1 == recorded.commit.header.last_position


def test_refuses_an_ineligible_subject_listing_every_failing_criterion(
    recorder: TrialRecorder, cast: Cast
) -> None:
    screen_subject(recorder, cast, anc_per_mm3=Decimal(1500), wbc_per_mm3=Decimal(3000))
    head = size(recorder)
    with pytest.raises(RuleViolation, match=r"not eligible") as refused:
        recorder.record(cast.investigator, enrol_command())
    message = str(refused.value)
    assert "ELIG-WBC measured 3000/mm3, required >= 3500/mm3" in message
    assert "ELIG-ANC measured 1500/mm3, required >= 1700/mm3" in message
    assert size(recorder) == head


def test_enrols_an_ineligible_subject_with_a_waiver_as_a_deviation(
    recorder: TrialRecorder, cast: Cast
) -> None:
    screen_subject(recorder, cast, anc_per_mm3=Decimal(1650))
    waiver = Deviation(rule_id="ELIG-ANC", reason="ANC 1650 judged adequate by the PI")
    recorded = recorder.record(cast.investigator, enrol_command(waiver=waiver))
    enrolled, change = recorded.events
    assert isinstance(enrolled, SubjectEnrolled)
    assert isinstance(change, RegimenChanged)
    assert enrolled.waiver == waiver
    assert "eligibility waived: ELIG-ANC" in change.reason


def test_rejects_a_waiver_that_does_not_name_every_failing_criterion(
    recorder: TrialRecorder, cast: Cast
) -> None:
    screen_subject(recorder, cast, anc_per_mm3=Decimal(1500), ecog=1)
    waiver = Deviation(rule_id="ELIG-ANC", reason="PI judgement")
    with pytest.raises(ValidationError, match=r"waiver.rule_id='ELIG-ANC'.*not named: ELIG-ECOG"):
        recorder.record(cast.investigator, enrol_command(waiver=waiver))


def test_rejects_a_waiver_for_an_eligible_subject(recorder: TrialRecorder, cast: Cast) -> None:
    screen_subject(recorder, cast)
    waiver = Deviation(rule_id="ELIG-ANC", reason="PI judgement")
    with pytest.raises(ValidationError, match=r"REC-WAIVER.*nothing to waive"):
        recorder.record(cast.investigator, enrol_command(waiver=waiver))


def test_rejects_enrolment_without_consent(recorder: TrialRecorder, cast: Cast) -> None:
    recorder.record(cast.coordinator, screen_command())
    recorder.record(
        cast.investigator,
        AssessEligibility(subject_id=SUBJECT, date=SCREENED_ON, inputs=eligible_inputs()),
    )
    with pytest.raises(RuleViolation, match=r"REC-CONSENT-FIRST"):
        recorder.record(cast.investigator, enrol_command())


def test_rejects_enrolment_without_an_eligibility_assessment(
    recorder: TrialRecorder, cast: Cast
) -> None:
    recorder.record(cast.coordinator, screen_command())
    recorder.record(
        cast.coordinator, Consent(subject_id=SUBJECT, date=SCREENED_ON, consent_version="2002-10")
    )
    with pytest.raises(RuleViolation, match=r"REC-ELIGIBILITY-FIRST"):
        recorder.record(cast.investigator, enrol_command())


def test_rejects_enrolling_a_subject_twice(recorder: TrialRecorder, cast: Cast) -> None:
    enrol_subject(recorder, cast)
    with pytest.raises(RuleViolation, match=r"REC-ALREADY-ENROLLED.*already enrolled"):
        recorder.record(cast.investigator, enrol_command())


def test_rejects_a_treatment_start_before_the_enrolment_date(
    recorder: TrialRecorder, cast: Cast
) -> None:
    screen_subject(recorder, cast)
    with pytest.raises(ValidationError, match=r"treatment_start='2003-01-09'.*REC-TREATMENT-START"):
        recorder.record(cast.investigator, enrol_command(start=date(2003, 1, 9)))


def test_rejects_enrolment_by_a_coordinator(recorder: TrialRecorder, cast: Cast) -> None:
    screen_subject(recorder, cast)
    with pytest.raises(AuthorisationError, match=r"may not record SubjectEnrolled"):
        recorder.record(cast.coordinator, enrol_command())


def test_rejects_screening_by_staff_of_another_site(recorder: TrialRecorder, cast: Cast) -> None:
    with pytest.raises(AuthorisationError, match=r"site 002.*subject of site 001"):
        recorder.record(cast.coordinator_site2, screen_command())
