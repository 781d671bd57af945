"""The state part of the ``patient`` JSON: regimen, protocol time, doses, visits, AEs.

* regimen: the timeline's regimen on the reference date, ``regimen_since`` the first day of its
  current run; ``regimen_history`` the periods in force, ``regimen_cancelled`` those a later
  change cancelled before they started;
* next doses: what the dosing calendar calls for in the 7 days after the reference date if the
  regimen continues unchanged; next visits: the regimen's next scheduled transition (the
  protocol decision the rules would take, with its rule id) and, after treatment, the next
  follow-up visits.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from ledger.errors import ValidationError
from ledger.protocol.parameters import ProtocolParameters
from ledger.protocol.schedule import (
    ON_TREATMENT,
    Regimen,
    ScheduledDose,
    doses_called_for,
    follow_up_visits,
    next_doses,
    protocol_day,
    protocol_month,
)
from ledger.subject import evaluation
from ledger.subject.history import SubjectHistory
from projections.report.common import _iso, params_of

NEXT_DOSE_DAYS = 7
NEXT_VISITS = 3


def patient_report(h: SubjectHistory, on: date | None) -> dict[str, Any]:
    """The documented ``patient`` JSON (state part) on reference date ``on``."""
    ref = on or h.last_date
    params = params_of(h)
    period = h.period_on(ref) if ref else None
    regimen = period.regimen if period else Regimen.SCREENING
    start = h.treatment_start
    month = pday = None
    if ref and start and ref >= start:
        month, pday = protocol_month(start, ref, params), protocol_day(start, ref)
    return {
        "subject_id": h.subject_id,
        "site": h.site,
        "reference_date": _iso(ref),
        "regimen": regimen.value,
        "regimen_since": _iso(period.course_start if period else None),
        "regimen_rule_id": period.rule_id if period else None,
        "regimen_history": h.timeline.history(),
        "regimen_cancelled": h.timeline.cancelled_history(),
        "screened_on": _iso(h.screening.effective_date if h.screening else None),
        "eligible": h.eligibility.eligible if h.eligibility else None,
        "consented_on": _iso(h.consents[-1].effective_date if h.consents else None),
        "enrolled_on": _iso(h.enrolment.effective_date if h.enrolment else None),
        "treatment_start": _iso(start),
        "protocol_amendment": params.amendment,
        "protocol_month": month,
        "protocol_day": pday,
        "due_today": _due_today(h, ref, params),
        "next_doses": _next_doses(h, ref, params),
        "next_visits": _next_visits(h, ref, params),
        "doses": _doses(h),
        "adverse_events": {
            "open": [_ae(h, i) for i in _ae_ids(h, resolved=False)],
            "resolved": [_ae(h, i) for i in _ae_ids(h, resolved=True)],
        },
        **_participation_ended(h),
        "corrections": [c.to_json() for c in h.corrections],
    }


def _doses(h: SubjectHistory) -> dict[str, dict[str, Any]]:
    """Per drug: doses taken (first and last date), missed and held."""
    return {
        drug: {
            "taken": h.dose_tally[drug].taken if drug in h.dose_tally else 0,
            "first": _iso(h.dose_tally[drug].first) if drug in h.dose_tally else None,
            "last": _iso(h.dose_tally[drug].last) if drug in h.dose_tally else None,
            "missed": h.missed_tally[drug].missed if drug in h.missed_tally else 0,
            "held": h.missed_tally[drug].held if drug in h.missed_tally else 0,
        }
        for drug in sorted(set(h.dose_tally) | set(h.missed_tally))
    }


def _participation_ended(h: SubjectHistory) -> dict[str, Any]:
    """``withdrawn``, ``off_study`` and ``died``: each None, or its date and reason."""
    w = h.consent_withdrawal or h.treatment_withdrawal
    return {
        "withdrawn": (
            None
            if w is None
            else {
                "date": w.effective_date.isoformat(),
                "reason": w.reason,
                "consent_withdrawn": w.consent_withdrawn,
            }
        ),
        "off_study": (
            None
            if h.off_study is None
            else {"date": h.off_study.effective_date.isoformat(), "reason": h.off_study.reason}
        ),
        "died": (
            None
            if h.death is None
            else {"date": h.death.effective_date.isoformat(), "cause": h.death.cause}
        ),
    }


def _ae_ids(h: SubjectHistory, *, resolved: bool) -> list[str]:
    chosen = [k for k, a in h.adverse_events.items() if (a.resolution is not None) == resolved]
    return sorted(chosen, key=lambda k: (h.adverse_events[k].onset, k))


def _ae(h: SubjectHistory, ae_id: str) -> dict[str, Any]:
    a = h.adverse_events[ae_id]
    r = a.report
    return {
        "ae_id": ae_id,
        "term": r.term,
        "grade": r.grade,
        "worst_grade": a.worst_grade,
        "onset": a.onset.isoformat(),
        "attribution": r.attribution,
        "serious": r.serious,
        "seriousness_criteria": list(r.seriousness_criteria),
        "action_taken": r.action_taken,
        "resolved_on": _iso(a.resolution.effective_date) if a.resolution else None,
        "outcome": a.resolution.outcome if a.resolution else None,
        "position": a.position,
    }


def _dose_json(on: date, s: ScheduledDose) -> dict[str, Any]:
    return {
        "date": on.isoformat(),
        "drug": s.drug,
        "dose": str(s.dose),
        "unit": s.unit,
        "route": s.route,
        "rule_id": s.rule_id,
    }


def _due_today(h: SubjectHistory, ref: date | None, params: ProtocolParameters) -> list[Any]:
    """The doses the calendar calls for on the reference date itself (what the recording
    rules accept as `dose` on that date)."""
    period = h.period_on(ref) if ref else None
    start = h.treatment_start
    if ref is None or period is None or start is None or period.regimen not in ON_TREATMENT:
        return []
    if ref < start:
        return []
    due = evaluation.due_on(h, params, period)
    if due is not None and due[0] <= ref:
        return []  # REC-TRANSITION-DUE: the overdue transition comes first (next_visits)
    called = doses_called_for(period.regimen, start, period.course_start, ref, params)
    return [_dose_json(ref, s) for s in called]


def _next_doses(h: SubjectHistory, ref: date | None, params: ProtocolParameters) -> list[Any]:
    period = h.period_on(ref) if ref else None
    start = h.treatment_start
    if ref is None or period is None or start is None or period.regimen not in ON_TREATMENT:
        return []
    try:
        upcoming = next_doses(
            period.regimen, start, period.course_start, ref, params, 2 * NEXT_DOSE_DAYS
        )
    except ValidationError:
        return []
    until = ref + timedelta(days=NEXT_DOSE_DAYS)
    return [
        _dose_json(on, s)
        for on, s in upcoming
        if on <= until and h.regimen_on(on) is period.regimen
    ]


def _next_visits(h: SubjectHistory, ref: date | None, params: ProtocolParameters) -> list[Any]:
    """Nothing is due for a subject off study (on the reference date or by a later-dated
    record already known): only visits before the end of participation are listed."""
    if ref is None or h.treatment_start is None or h.regimen_on(ref) is Regimen.OFF_STUDY:
        return []
    ends = h.off_study_from
    overdue: list[tuple[date, str, str]] = []
    visits: list[tuple[date, str, str]] = []
    pending = [p for p in h.periods if p.starts_on > ref]
    due = evaluation.due_transition(h, params)
    if pending:
        p = pending[0]
        visits.append((p.starts_on, f"{p.regimen.value} starts", p.rule_id))
    elif due is not None and h.regimen_on(ref) is not Regimen.FOLLOW_UP:
        if due[0] <= ref:
            overdue.append((due[0], f"{due[2]} (overdue)", due[1].rule_id))
        else:
            visits.append((due[0], due[2], due[1].rule_id))
    end = h.timeline.treatment_end()
    if end is not None:
        visits.extend(
            (on, "follow-up visit", "REG-EOT-FOLLOW-UP") for on in follow_up_visits(end, params)
        )
        if due is not None and due[1].rule_id == "REG-FU-COMPLETE":
            visits.append((due[0], due[2], "REG-FU-COMPLETE"))
    upcoming = sorted(v for v in visits if v[0] > ref and (ends is None or v[0] < ends))
    upcoming = [*overdue, *upcoming][:NEXT_VISITS]
    return [{"date": on.isoformat(), "visit": what, "rule_id": rule} for on, what, rule in upcoming]
