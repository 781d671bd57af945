"""Trial objectives of NCT00635154, each figure with the subjects it counts and why not others.

Computed from the subject view (one :class:`~ledger.subject.history.SubjectHistory` per
subject; no table of its own), with the same derivation the recording rules use
(:mod:`ledger.subject.evaluation`: categories derived on corrected values, confirmation,
progression dated when its criteria were first met), so a summary reflects exactly the
position the view is at. Categories are the rule-derived ones (``basis: derived``); where the
investigator's categories would classify a subject differently the primary figure lists it
under ``investigator_disagreements``. A response is attributed to the regimen in force the day
before its assessment (the treatment whose effect it measures).

Populations, in order of the first exclusion that applies:

* not enrolled (screened only, or not eligible);
* off study before treatment: went off study (or withdrew) before the treatment start, the
  reason recorded shown (the registry's "progressed before treatment");
* progressed before treatment: a progression dated before the treatment start;
* no dose recorded: enrolled and past the treatment start without any ``DoseAdministered``
  of anakinra;
* treated: everyone else (the population of every figure below).

Primary, response rate to anakinra alone at month 6: responder = best confirmed response of MR
or better among the assessments attributed to induction. Treated subjects are counted as
non-responders when they progressed or died on or before the last day of month 6 or have a
month-6 assessment (``protocol_month`` >= induction months) without a confirmed response;
excluded when they went off study before month 6 without either ("withdrawn before month 6"),
when their last recorded date is before the end of month 6 ("not yet at month 6"), or when no
month-6 assessment was recorded although the date has passed. Exact (Clopper-Pearson) 95%
interval.

Response with dexamethasone, one figure per course, each with its own population:

* low-dose dexamethasone (stable disease at month 6, REG-M6-SD / REG-M6-NOT-ASSESSED /
  REG-M6-UNCONFIRMED): treated subjects who started low_dose_dex; responder = best confirmed
  response of MR or better among the assessments attributed to low_dose_dex, measured from the
  enrolment baseline;
* high-dose dexamethasone (progression at any time, REG-M6-PD / REG-PD-ANYTIME): treated
  subjects who started high_dose_dex; responder = best confirmed MR or better among the
  assessments attributed to high_dose_dex, measured from the new baseline at the progression.

In each, a subject is counted once assessed on that course, or when it progressed, died or left
study after the course started; otherwise excluded ("not yet assessed on ...").

Progression-free at 6 months: treated subjects; not progression-free when progression (dated
when its criteria were first met) or death is on or before the last day of month 6;
progression-free when a disease evaluation (assessment, lab, follow-up visit) is dated on or
after the first day of month 6 without either; otherwise excluded (withdrawn, or not yet
followed to month 6). Exact 95% interval.

Time to progression: treated subjects, days from the treatment start to progression (event,
dated when its criteria were first met) or to the last disease evaluation (censored; deaths
without progression are censored). Kaplan-Meier with the median's Brookmeyer-Crowley 95%
interval (``projections.statistics``).

Duration of response: subjects with a confirmed response of MR or better at any time, days
from the first assessment of the first confirmed response to progression (event) or the last
disease evaluation (censored).

Adverse events: by term and worst grade (per subject, the worst grade of that term), split by
the regimen on the onset date: anakinra alone (induction, continuation) or with dexamethasone
(low_dose_dex, high_dose_dex). AEs with onset in any other regimen are listed as excluded.
Exposure: subjects with a recorded anakinra dose who started a regimen of that group.

Modules: :mod:`~projections.objectives.population` (one subject's facts and population),
:mod:`~projections.objectives.response_rates` (primary and per-course response rates),
:mod:`~projections.objectives.time_to_event` (progression-free at 6 months, time to
progression, duration of response), :mod:`~projections.objectives.adverse_events`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger.subject.history import SubjectHistory
from projections.objectives.adverse_events import (
    ANAKINRA_ALONE,
    WITH_DEXAMETHASONE,
    adverse_events,
)
from projections.objectives.population import Subject
from projections.objectives.response_rates import COURSES, INDUCTION_ONLY, course, primary
from projections.objectives.time_to_event import (
    DAYS_PER_MONTH,
    progression_free,
    response_duration,
    time_to_progression,
)

__all__ = [
    "ANAKINRA_ALONE",
    "COURSES",
    "DAYS_PER_MONTH",
    "INDUCTION_ONLY",
    "WITH_DEXAMETHASONE",
    "trial_summary",
]


def trial_summary(histories: Sequence[SubjectHistory], position: int) -> dict[str, Any]:
    """The documented ``summary`` JSON."""
    subjects = [Subject(h) for h in sorted(histories, key=lambda h: h.subject_id)]
    treated = [s.subject_id for s in subjects if s.exclusion() is None]
    return {
        "trial_id": "NCT00635154",
        "position": position,
        "populations": {
            "screened": len(subjects),
            "enrolled": sum(1 for s in subjects if s.h.enrolment is not None),
            "treated": len(treated),
            "treated_subject_ids": treated,
            "not_treated": [
                {"subject_id": s.subject_id, "reason": why}
                for s in subjects
                if (why := s.exclusion()) is not None
            ],
        },
        "primary_response_rate": primary(subjects),
        "low_dose_dexamethasone_response_rate": course(subjects, *COURSES["low_dose"]),
        "high_dose_dexamethasone_response_rate": course(subjects, *COURSES["high_dose"]),
        "progression_free_at_6_months": progression_free(subjects),
        "time_to_progression": time_to_progression(subjects),
        "duration_of_response": response_duration(subjects),
        "adverse_events": adverse_events(subjects),
    }
