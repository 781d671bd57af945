"""Adverse events by term and worst grade, split by the regimen on the onset date."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from ledger.protocol.schedule import ON_TREATMENT, Regimen
from ledger.subject.timeline import Timeline
from projections.objectives.population import Subject

ANAKINRA_ALONE = frozenset({Regimen.INDUCTION, Regimen.CONTINUATION})
WITH_DEXAMETHASONE = frozenset({Regimen.LOW_DOSE_DEX, Regimen.HIGH_DOSE_DEX})


def adverse_events(subjects: Sequence[Subject]) -> dict[str, Any]:
    arms = {"anakinra_alone": ANAKINRA_ALONE, "with_dexamethasone": WITH_DEXAMETHASONE}
    worst: dict[str, dict[str, dict[str, int]]] = {arm: {} for arm in arms}
    events: dict[str, dict[str, int]] = {arm: {} for arm in arms}
    exposed: dict[str, list[str]] = {arm: [] for arm in arms}
    excluded: list[dict[str, Any]] = []
    for s in subjects:
        timeline = s.h.timeline
        for arm, regimens in arms.items():
            if s.h.first_dose("anakinra") is not None and timeline.entered(regimens):
                exposed[arm].append(s.subject_id)
        for ae_id in sorted(s.h.adverse_events):
            ae = s.h.adverse_events[ae_id]
            regimen = _onset_regimen(timeline, ae.onset)
            onset_arm = next((a for a, r in arms.items() if regimen in r), None)
            term = ae.report.term
            if onset_arm is None:
                excluded.append(
                    {
                        "subject_id": s.subject_id,
                        "ae_id": ae_id,
                        "term": term,
                        "reason": f"onset {ae.onset} while {regimen} (no study drug)",
                    }
                )
                continue
            per_term = worst[onset_arm].setdefault(term, {})
            per_term[s.subject_id] = max(per_term.get(s.subject_id, 0), ae.worst_grade)
            events[onset_arm][term] = events[onset_arm].get(term, 0) + 1
    result: dict[str, Any] = {
        "description": "adverse events by term and worst grade (CTCAE) per subject, split by "
        "the regimen on the onset date",
    }
    for arm, regimens in arms.items():
        terms = []
        for term in sorted(worst[arm]):
            grades = worst[arm][term]
            terms.append(
                {
                    "term": term,
                    "subjects": len(grades),
                    "events": events[arm][term],
                    "by_worst_grade": {
                        str(g): sum(1 for v in grades.values() if v == g) for g in range(1, 6)
                    },
                    "subject_ids": sorted(grades),
                }
            )
        result[arm] = {
            "regimens": sorted(r.value for r in regimens),
            "exposed_subjects": len(exposed[arm]),
            "exposed_subject_ids": exposed[arm],
            "terms": terms,
        }
    result["excluded"] = excluded
    return result


def _onset_regimen(timeline: Timeline, onset: date) -> Regimen:
    """The regimen an AE is attributed to: the one in force on its onset date, or, when study
    treatment ended or participation ended that very day, the treatment given until then (an
    AE on the day the drug was stopped, or on the day of death, counts with the treatment)."""
    regimen = timeline.regimen_on(onset)
    if regimen in ON_TREATMENT:
        return regimen
    before = timeline.regimen_on(onset - timedelta(days=1))
    started_today = any(p.starts_on == onset for p in timeline.periods)
    return before if before in ON_TREATMENT and started_today else regimen
