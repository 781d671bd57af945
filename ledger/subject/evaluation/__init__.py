"""What the response rules derive from a subject's history, on corrected values only.

Every function here reads a :class:`~ledger.subject.history.SubjectHistory` (corrections
already applied) and the protocol parameters; nothing reads the categories stored in a
:class:`~ledger.events.ResponseAssessed` except to show them "as recorded". The recording rules
and every report call these same functions.

* Measurement of an assessment [RESP-VALUES]: for each marker the latest lab dated after the
  previous assessment (or the enrolment baseline) and on or before the assessment date, the
  last recorded winning a tie; the clinical findings (bone lesions, plasmacytoma,
  hypercalcaemia) the investigator recorded with it. A corrected lab value or date, or a voided
  lab, therefore changes the measurement exactly as if it had been recorded right the first
  time.
* Lines: a recorded progression (``ProgressionConfirmed``) ends a line; responses after it are
  measured from a new baseline, the last assessment on or before its confirmation [assumed].
* Derived category: :func:`ledger.protocol.response.derive_response` on the line's baseline,
  the line's earlier assessments and this one.
* Confirmation: two consecutive assessments [CONF-CONSECUTIVE, CONF-MAINTAINED, CONF-PD]; PD by
  marrow, bone lesions, plasmacytoma or hypercalcaemia needs none [CONF-PD-SINGLE].
* Progression is dated when its criteria were first met (IMWG 2006): the first assessment of
  the confirming run; ``confirmed_on`` is when it was confirmed and acted on.

Modules: :mod:`~ledger.subject.evaluation.assessments` (measurement, lines and the derived
category of every assessment), :mod:`~ledger.subject.evaluation.progression` (progressions and
their dates), :mod:`~ledger.subject.evaluation.decisions` (the month-6 decision, the scheduled
transitions and the reviews of decisions the corrected data would now take otherwise). Every
name is importable from here as well.
"""

from __future__ import annotations

from ledger.subject.evaluation.assessments import (
    MARKERS,
    RESPONSES,
    Evaluation,
    Findings,
    alone_dates,
    baseline_measurement,
    evaluate,
    in_line,
    latest_lab,
    line_starts,
    measure,
    runs,
    series,
)
from ledger.subject.evaluation.decisions import (
    LOW_DOSE_FROM_MONTH_6,
    decision_reviews,
    due_on,
    due_transition,
    latest_category,
    month6_category,
    month6_decision,
)
from ledger.subject.evaluation.progression import (
    Progression,
    first_progression_of,
    progressions,
)

__all__ = [
    "LOW_DOSE_FROM_MONTH_6",
    "MARKERS",
    "RESPONSES",
    "Evaluation",
    "Findings",
    "Progression",
    "alone_dates",
    "baseline_measurement",
    "decision_reviews",
    "due_on",
    "due_transition",
    "evaluate",
    "first_progression_of",
    "in_line",
    "latest_category",
    "latest_lab",
    "line_starts",
    "measure",
    "month6_category",
    "month6_decision",
    "progressions",
    "runs",
    "series",
]
