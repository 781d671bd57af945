"""A subject recorded as enrolled before any regimen was decided still gets a lane (found on a
benchmark ledger whose subjects are enrolled by import, without the regimen rules' event)."""

from __future__ import annotations

from datetime import date

from ledger.events import SubjectEnrolled, SubjectScreened, subject_stream_id
from ledger.subject.history import SubjectHistory
from projections.exports.plots.swimmer import lanes_of
from tests.domain.trial_helpers import baseline

SUBJECT = "MC0282-001-099"


def enrolled_without_regimen() -> SubjectHistory:
    stream = subject_stream_id(SUBJECT)
    screened = SubjectScreened(
        originator_id=stream, originator_version=1, subject_id=SUBJECT,
        effective_date=date(2003, 1, 6), site="001", age_years=61, sex="F",
    )  # fmt: skip
    enrolled = SubjectEnrolled(
        originator_id=stream, originator_version=2, subject_id=SUBJECT,
        effective_date=date(2003, 1, 10), site="001", treatment_start=date(2003, 1, 13),
        protocol_amendment="MC0282-original", baseline=baseline(),
    )  # fmt: skip
    return SubjectHistory.fold(SUBJECT, [(1, screened), (2, enrolled)])


def test_an_enrolled_subject_without_a_regimen_period_gets_an_empty_lane() -> None:
    history = enrolled_without_regimen()
    assert history.enrolment is not None
    assert history.periods == []
    (lane,) = lanes_of([history])
    assert lane.subject_id == SUBJECT
    assert lane.segments == ()
