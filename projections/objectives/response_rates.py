"""Response rates: the primary (anakinra alone at month 6) and one per dexamethasone course."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger.protocol.schedule import Regimen
from ledger.subject.evaluation import RESPONSES
from projections.objectives.population import Subject, by_category, rate

INDUCTION_ONLY = frozenset({Regimen.INDUCTION})


def _not_assessed_at_month_6(s: Subject) -> str:
    """Why a treated subject without a month-6 assessment is not counted."""
    m6 = s.month_6_end
    last = s.h.last_date
    ended = s.h.timeline.treatment_end()
    if ended is not None and ended <= m6:
        return f"treatment ended before month 6 ({ended}) without a month-6 assessment"
    if last is None or last < m6:
        return f"not yet at month 6 (last recorded date {last}, month 6 ends {m6})"
    return "no month-6 response assessment recorded"


def _month_6_outcome(s: Subject, best: Any, responder: bool) -> tuple[bool, str]:
    """(counted, reason) for a treated subject: a responder, a progression or death by the end
    of month 6, or a month-6 assessment count; otherwise the subject is excluded."""
    months = s.params.schedule.induction_months
    m6 = s.month_6_end
    progressed = s.progressed_on
    reached = any(e.protocol_month >= months and e.line == 0 for e in s.evaluations)
    left = s.left_study_on()
    if responder:
        return True, f"confirmed {best.category} during induction (from {best.first_on})"
    if progressed is not None and progressed <= m6:
        return True, f"progressed during induction ({progressed})"
    if (died := s.died_on()) is not None and died <= m6:
        return True, f"died during induction ({died})"
    if left is not None and left <= m6 and not reached:
        return False, f"withdrawn before month 6 ({left})"
    if not reached:
        return False, _not_assessed_at_month_6(s)
    return True, f"best confirmed response {best.category}" if best else "no confirmed response"


def primary(subjects: Sequence[Subject]) -> dict[str, Any]:
    """Response rate to anakinra alone at month 6, with the investigator's disagreements."""
    counted: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    disagreements: list[dict[str, Any]] = []
    for s in subjects:
        why = s.exclusion()
        if why is not None:
            excluded.append({"subject_id": s.subject_id, "reason": why})
            continue
        best = s.best(INDUCTION_ONLY)
        responder = best is not None and best.category in RESPONSES
        counts, reason = _month_6_outcome(s, best, responder)
        if not counts:
            excluded.append({"subject_id": s.subject_id, "reason": reason})
            continue
        counted.append(
            {
                "subject_id": s.subject_id,
                "responder": responder,
                "best_confirmed": best.category.value if best else None,
                "reason": reason,
            }
        )
        by_investigator = s.best(INDUCTION_ONLY, basis="investigator")
        other = by_investigator is not None and by_investigator.category in RESPONSES
        if other != responder:
            disagreements.append(
                {
                    "subject_id": s.subject_id,
                    "derived": best.category.value if best else None,
                    "investigator": by_investigator.category.value if by_investigator else None,
                }
            )
    k = sum(1 for c in counted if c["responder"])
    return {
        "description": "response rate to anakinra alone at month 6 (best confirmed response "
        "MR or better during induction)",
        "basis": "derived",
        **rate(k, len(counted)),
        "by_category": by_category(counted),
        "counted": counted,
        "excluded": excluded,
        "investigator_disagreements": disagreements,
    }


COURSES: dict[str, tuple[Regimen, str]] = {
    "low_dose": (
        Regimen.LOW_DOSE_DEX,
        "response rate on anakinra + low-dose dexamethasone (stable disease at month 6; best "
        "confirmed response MR or better on low_dose_dex, from the enrolment baseline)",
    ),
    "high_dose": (
        Regimen.HIGH_DOSE_DEX,
        "response rate on anakinra + high-dose dexamethasone (after progression; best "
        "confirmed response MR or better on high_dose_dex, from the baseline at progression)",
    ),
}


def course(subjects: Sequence[Subject], regimen: Regimen, description: str) -> dict[str, Any]:
    counted: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    only = frozenset({regimen})
    for s in subjects:
        why = s.exclusion()
        if why is not None:
            excluded.append({"subject_id": s.subject_id, "reason": why})
            continue
        started = s.h.timeline.entered(only)
        if started is None:
            excluded.append({"subject_id": s.subject_id, "reason": f"never started {regimen}"})
            continue
        best = s.best(only)
        assessed = any(e.regimen is regimen for e in s.evaluations)
        ended = [
            d
            for d in (s.progressed_on, s.died_on(), s.left_study_on(), s.h.timeline.left(only))
            if d is not None and d >= started
        ]
        if not assessed and not ended:
            excluded.append(
                {
                    "subject_id": s.subject_id,
                    "reason": f"not yet assessed on {regimen} (started {started})",
                }
            )
            continue
        responder = best is not None and best.category in RESPONSES
        period = next(p for p in s.h.periods if p.regimen is regimen)
        counted.append(
            {
                "subject_id": s.subject_id,
                "responder": responder,
                "best_confirmed": best.category.value if best else None,
                "started": started.isoformat(),
                "rule_id": period.rule_id,
            }
        )
    k = sum(1 for c in counted if c["responder"])
    return {
        "description": description,
        "regimen": regimen.value,
        "basis": "derived",
        **rate(k, len(counted)),
        "by_category": by_category(counted),
        "counted": counted,
        "excluded": excluded,
    }
