"""The ``patient`` JSON: a subject's history (:mod:`ledger.subject.history`) presented.

Nothing here folds events: every figure is read from a
:class:`~ledger.subject.history.SubjectHistory` and what
:mod:`ledger.subject.evaluation` derives from it, the same functions the recording rules call.
What is clinical "now" is never the wall clock: the reference date is the ``--on`` date when
given, else the latest clinical date recorded for the subject.

* :mod:`~projections.report.state`: the state part (:func:`patient_report`): regimen,
  protocol month and day, doses due and next, next visits, doses, adverse events, the end of
  participation, corrections;
* :mod:`~projections.report.response`: the ``response`` part (:func:`response_report`):
  assessments derived again, markers, best confirmed response, progression, duration of
  response, decision reviews;
* :mod:`~projections.report.common`: the subject's protocol amendment (:func:`params_of`) and
  percent changes.

Every name is importable from here as well.
"""

from __future__ import annotations

from projections.report.common import params_of, percent_change
from projections.report.response import (
    BASELINE_FIELDS,
    FLAG_ANALYTES,
    best_confirmed,
    confirmed_json,
    duration_of_response,
    last_evaluation,
    markers,
    response_report,
)
from projections.report.state import NEXT_DOSE_DAYS, NEXT_VISITS, patient_report

__all__ = [
    "BASELINE_FIELDS",
    "FLAG_ANALYTES",
    "NEXT_DOSE_DAYS",
    "NEXT_VISITS",
    "best_confirmed",
    "confirmed_json",
    "duration_of_response",
    "last_evaluation",
    "markers",
    "params_of",
    "patient_report",
    "percent_change",
    "response_report",
]
