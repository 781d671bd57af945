"""Corrections name an event by position and keep the original; signatures carry a meaning."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.domain.commands import AssessResponse, Correct, RecordLab, Sign
from ledger.errors import AuthorisationError, NotFoundError, RuleViolation, ValidationError
from ledger.events import (
    ENTERED_IN_ERROR,
    RECORD_STATUS_FIELD,
    CorrectionRecorded,
    LabResulted,
    RecordSigned,
    SubjectEnrolled,
)
from ledger.recording import TrialRecorder
from tests.domain.trial_helpers import (
    OTHER,
    SUBJECT,
    anakinra_command,
    assess_serum,
    day,
    enrol_subject,
)
from tests.support import Cast


def lab_position(recorder: TrialRecorder, cast: Cast, value: str = "2.9") -> int:
    recorded = recorder.record(
        cast.coordinator,
        RecordLab(
            subject_id=SUBJECT,
            date=day(10),
            analyte="serum_m_protein",
            value=Decimal(value),
            unit="g/dL",
        ),
    )
    return recorded.positions[0]


def correct(
    recorder: TrialRecorder,
    cast: Cast,
    position: int,
    field: str,
    new: str,
    old: str | None = None,
) -> CorrectionRecorded:
    recorded = recorder.record(
        cast.coordinator,
        Correct(
            subject_id=SUBJECT,
            date=day(12),
            position=position,
            field=field,
            new_value=new,
            reason="transcription error",
            old_value=old,
        ),
    )
    event = recorded.events[0]
    assert isinstance(event, CorrectionRecorded)
    return event


def test_a_correction_names_position_field_old_and_new_value(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    position = lab_position(recorder, cast, "2.9")
    event = correct(recorder, cast, position, "value", "2.7", old="2.9")
    assert (event.corrects_position, event.corrected_topic) == (position, LabResulted.TOPIC)
    assert (event.field, event.old_value, event.new_value) == ("value", "2.9", "2.7")
    record = recorder.patient(SUBJECT).record_at(position)
    assert record is not None
    assert isinstance(record.recorded, LabResulted)
    assert isinstance(record.current, LabResulted)
    assert (record.recorded.value, record.current.value) == (Decimal("2.9"), Decimal("2.7"))


def test_a_corrected_lab_is_what_the_next_assessment_uses(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    position = lab_position(recorder, cast, "1.1")
    correct(recorder, cast, position, "value", "3.1")
    event = recorder.record(
        cast.investigator,
        AssessResponse(subject_id=SUBJECT, date=day(11), investigator_category="SD"),
    ).events[0]
    assert event.values_used["serum.current"] == "3.1"  # type: ignore[attr-defined]


def test_rejects_a_correction_of_a_position_that_does_not_exist(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    head = recorder.ledger.reader.size()
    with pytest.raises(NotFoundError, match=r"REC-CORRECT-TARGET\] position 999 holds no event"):
        correct(recorder, cast, 999, "value", "3.1")
    assert recorder.ledger.reader.size() == head


def test_rejects_a_correction_of_another_subjects_event(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    other = enrol_subject(recorder, cast, OTHER).positions[0]
    with pytest.raises(
        NotFoundError, match=rf"position {other} holds no event of subject {SUBJECT}"
    ):
        correct(recorder, cast, other, "baseline.hs_crp_mg_l", "3")


def test_rejects_an_old_value_that_is_not_the_current_one(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    position = lab_position(recorder, cast, "2.9")
    correct(recorder, cast, position, "value", "2.7")
    with pytest.raises(ValidationError, match=r"old_value='2.9' refused: \[REC-CORRECT-OLD\].*2.7"):
        correct(recorder, cast, position, "value", "2.5", old="2.9")


def test_rejects_a_correction_that_changes_nothing(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    position = lab_position(recorder, cast, "2.9")
    with pytest.raises(ValidationError, match=r"REC-CORRECT-SAME"):
        correct(recorder, cast, position, "value", "2.9")


def test_rejects_an_unknown_field_listing_the_correctable_ones(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    position = lab_position(recorder, cast)
    with pytest.raises(ValidationError, match=r"field='units' refused.*correctable: analyte, eff"):
        correct(recorder, cast, position, "units", "g/L")


def test_rejects_a_new_value_the_event_model_refuses(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    position = lab_position(recorder, cast)
    with pytest.raises(ValidationError, match=r"new_value='abc' refused: value of LabResulted"):
        correct(recorder, cast, position, "value", "abc")


def test_rejects_a_correction_that_breaks_a_value_rule(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    position = lab_position(recorder, cast)
    with pytest.raises(ValidationError, match=r"\[LAB-UNIT\] serum_m_protein is recorded in g/dL"):
        correct(recorder, cast, position, "unit", "g/L")
    with pytest.raises(ValidationError, match=r"\[LAB-RANGE\]"):
        correct(recorder, cast, position, "value", "29")


def test_rejects_a_corrected_date_in_the_future(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    position = lab_position(recorder, cast)
    with pytest.raises(ValidationError, match=r"new_value='2009-01-01'.*REC-DATE-FUTURE"):
        correct(recorder, cast, position, "effective_date", "2009-01-01")


def test_rejects_a_correction_that_would_duplicate_a_dose(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    for n in (2, 3):
        recorder.record(
            cast.coordinator,
            anakinra_command(day(n)),
        )
    first = recorder.patient(SUBJECT).doses[("anakinra", day(2))]
    assert first is not None
    with pytest.raises(RuleViolation, match=r"REC-DUPLICATE-DOSE.*would duplicate"):
        correct(recorder, cast, first, "effective_date", day(3).isoformat())


@pytest.mark.parametrize(
    ("field", "why"),
    [("treatment_start", "correctable:"), ("site", "correctable:"), ("subject_id", "correctable:")],
)
def test_rejects_correcting_a_field_that_started_a_regimen(
    recorder: TrialRecorder, cast: Cast, field: str, why: str
) -> None:
    enrolment = enrol_subject(recorder, cast).positions[0]
    with pytest.raises(ValidationError, match=rf"field='{field}'.*SubjectEnrolled.*{why}"):
        correct(recorder, cast, enrolment, field, "2003-01-20")


def test_corrects_a_nested_baseline_value(recorder: TrialRecorder, cast: Cast) -> None:
    enrolment = enrol_subject(recorder, cast).positions[0]
    correct(recorder, cast, enrolment, "baseline.serum_m_protein_g_dl", "3.4", old="3.2")
    enrolled = recorder.patient(SUBJECT).enrolment
    assert isinstance(enrolled, SubjectEnrolled)
    assert enrolled.baseline.serum_m_protein_g_dl == Decimal("3.4")


def test_rejects_correcting_a_rule_derived_event(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    assessed = assess_serum(recorder, cast, day(30), "3.0").positions[0]
    with pytest.raises(RuleViolation, match=r"REC-CORRECT-TOPIC\] ResponseAssessed.*assess again"):
        correct(recorder, cast, assessed, "investigator_category", "MR")


def test_rejects_correcting_a_correction(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    position = lab_position(recorder, cast, "2.9")
    correct(recorder, cast, position, "value", "2.7")
    correction = recorder.patient(SUBJECT).positions[-1]
    with pytest.raises(RuleViolation, match=r"REC-CORRECT-TOPIC\] CorrectionRecorded"):
        correct(recorder, cast, correction, "new_value", "2.6")


def test_marks_an_event_entered_in_error_and_refuses_further_corrections(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    position = lab_position(recorder, cast, "2.9")
    event = correct(recorder, cast, position, RECORD_STATUS_FIELD, ENTERED_IN_ERROR, old="valid")
    assert (event.old_value, event.new_value) == ("valid", ENTERED_IN_ERROR)
    assert recorder.patient(SUBJECT).labs == []
    with pytest.raises(RuleViolation, match=r"REC-CORRECT-TOPIC.*marked entered in error"):
        correct(recorder, cast, position, "value", "2.7")


def test_rejects_entering_an_enrolment_in_error(recorder: TrialRecorder, cast: Cast) -> None:
    enrolment = enrol_subject(recorder, cast).positions[0]
    with pytest.raises(ValidationError, match=r"REC-CORRECT-FIELD\] SubjectEnrolled started"):
        correct(recorder, cast, enrolment, RECORD_STATUS_FIELD, ENTERED_IN_ERROR)


def test_rejects_a_record_status_other_than_entered_in_error(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    position = lab_position(recorder, cast)
    with pytest.raises(ValidationError, match=r"new_value='deleted' refused"):
        correct(recorder, cast, position, RECORD_STATUS_FIELD, "deleted")


def test_a_review_signature_carries_its_meaning_in_the_commit(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    positions = recorder.patient(SUBJECT).positions
    recorded = recorder.record(
        cast.monitor,
        Sign(
            subject_id=SUBJECT,
            date=day(20),
            positions=tuple(positions),
            signature_meaning="review",
            statement="source data verified",
        ),
    )
    event = recorded.events[0]
    assert isinstance(event, RecordSigned)
    assert event.positions == tuple(positions)
    assert recorded.commit.header.meaning == "review"


def test_rejects_signing_events_of_another_subject(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    other = enrol_subject(recorder, cast, OTHER).positions[0]
    with pytest.raises(NotFoundError, match=rf"REC-SIGN-TARGET\] positions {other} hold no event"):
        recorder.record(
            cast.monitor,
            Sign(
                subject_id=SUBJECT,
                date=day(20),
                positions=(other,),
                signature_meaning="approval",
                statement="approved",
            ),
        )


def test_rejects_signing_a_position_twice_in_one_signature(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    position = recorder.patient(SUBJECT).positions[0]
    with pytest.raises(ValidationError, match=r"REC-SIGN-TARGET\] each position once"):
        recorder.record(
            cast.monitor,
            Sign(
                subject_id=SUBJECT,
                date=day(20),
                positions=(position, position),
                signature_meaning="review",
                statement="reviewed",
            ),
        )


def test_rejects_a_signature_by_a_role_that_may_not_sign(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    position = recorder.patient(SUBJECT).positions[0]
    with pytest.raises(AuthorisationError, match=r"may not record RecordSigned"):
        recorder.record(
            cast.coordinator,
            Sign(
                subject_id=SUBJECT,
                date=day(20),
                positions=(position,),
                signature_meaning="review",
                statement="reviewed",
            ),
        )
