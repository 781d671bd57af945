"""The ``patient`` JSON: a subject's history (:mod:`ledger.subject.history`) presented.

Nothing here folds events: every figure is read from a
:class:`~ledger.subject.history.SubjectHistory` and what
:mod:`ledger.subject.evaluation` derives from it, the same functions the recording rules call.
What is clinical "now" is never the wall clock: the reference date is the ``--on`` date when
given, else the latest clinical date recorded for the subject.

* regimen: the timeline's regimen on the reference date, ``regimen_since`` the first day of its
  current run; ``regimen_history`` the periods in force, ``regimen_cancelled`` those a later
  change cancelled before they started;
* next doses: what the dosing calendar calls for in the 7 days after the reference date if the
  regimen continues unchanged; next visits: the regimen's next scheduled transition (the
  protocol decision the rules would take, with its rule id) and, after treatment, the next
  follow-up visits;
* response: every assessment with the category the rules derive now on corrected values
  (``derived``) beside the one recorded at the time (``derived_as_recorded``) and the
  investigator's; markers (baseline, nadir, latest, per analyte, corrected); best confirmed
  response; progression dated when its criteria were first met, with ``confirmed_on``;
  month-6 decisions the corrected data would now decide otherwise (``decision_reviews``).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from ledger.errors import ValidationError
from ledger.events import ANALYTE_UNITS
from ledger.protocol.parameters import MC0282_ORIGINAL, ProtocolParameters, parameters_for
from ledger.protocol.response import ConfirmedResponse, best_confirmed_response
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
from ledger.subject.evaluation import RESPONSES, Evaluation
from ledger.subject.history import SubjectHistory

NEXT_DOSE_DAYS = 7
NEXT_VISITS = 3
BASELINE_FIELDS = {
    "serum_m_protein_g_dl": "serum_m_protein",
    "urine_m_protein_mg_24h": "urine_m_protein",
    "marrow_plasma_cells_pct": "marrow_plasma_cells",
    "hs_crp_mg_l": "hs_crp",
}
FLAG_ANALYTES = frozenset({"serum_ife", "urine_ife"})
_CENT = Decimal("0.01")


def params_of(h: SubjectHistory) -> ProtocolParameters:
    """The subject's protocol amendment (the original protocol before enrolment)."""
    amendment = h.enrolment.protocol_amendment if h.enrolment else None
    if amendment is None and h.eligibility is not None:
        amendment = h.eligibility.protocol_amendment
    if amendment:
        try:
            return parameters_for(amendment)
        except ValidationError:
            pass
    return MC0282_ORIGINAL


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def percent_change(reference: Decimal | None, current: Decimal | None) -> str | None:
    """(current - reference) / reference in percent, rounded half-even to 0.01, as a string."""
    if reference is None or current is None or reference == 0:
        return None
    return str(((current - reference) * 100 / reference).quantize(_CENT, ROUND_HALF_EVEN))


# --------------------------------------------------------------------------- state


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
    w = h.consent_withdrawal or h.treatment_withdrawal
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
        "doses": {
            drug: {
                "taken": h.dose_tally[drug].taken if drug in h.dose_tally else 0,
                "first": _iso(h.dose_tally[drug].first) if drug in h.dose_tally else None,
                "last": _iso(h.dose_tally[drug].last) if drug in h.dose_tally else None,
                "missed": h.missed_tally[drug].missed if drug in h.missed_tally else 0,
                "held": h.missed_tally[drug].held if drug in h.missed_tally else 0,
            }
            for drug in sorted(set(h.dose_tally) | set(h.missed_tally))
        },
        "adverse_events": {
            "open": [_ae(h, i) for i in _ae_ids(h, resolved=False)],
            "resolved": [_ae(h, i) for i in _ae_ids(h, resolved=True)],
        },
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
        "corrections": [c.to_json() for c in h.corrections],
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


# --------------------------------------------------------------------------- response


def confirmed_json(run: ConfirmedResponse | None, basis: str) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "category": run.category.value,
        "first_on": run.first_on.isoformat(),
        "confirmed_on": run.confirmed_on.isoformat(),
        "rule_ids": list(run.rule_ids),
        "reason": run.reason,
        "basis": basis,
    }


def best_confirmed(
    evaluations: list[Evaluation],
    params: ProtocolParameters,
    regimens: frozenset[Regimen] | None = None,
    basis: str = "derived",
) -> ConfirmedResponse | None:
    """The best confirmed response among the assessments attributed to ``regimens``."""
    chosen = [e for e in evaluations if regimens is None or e.regimen in regimens]
    return best_confirmed_response(
        evaluation.series(chosen, basis), params, evaluation.alone_dates(chosen)
    )


def duration_of_response(
    h: SubjectHistory,
    evaluations: list[Evaluation],
    params: ProtocolParameters,
    progressions: list[evaluation.Progression] | None = None,
) -> dict[str, Any] | None:
    """From the first assessment of the first confirmed run at MR or better to progression
    (event) or the last disease evaluation (censored)."""
    found = [r for r in evaluation.runs(evaluations, params) if r.category in RESPONSES]
    if not found:
        return None
    first = min(found, key=lambda r: r.first_on).first_on
    if progressions is None:
        progressions = evaluation.progressions(h, params, evaluations)
    progression = next((p for p in progressions if p.supported and p.on >= first), None)
    if progression is not None:
        end, event = progression.on, True
    else:
        end, event = max(last_evaluation(h) or first, first), False
    return {
        "from": first.isoformat(),
        "to": end.isoformat(),
        "days": (end - first).days,
        "progressed": event,
    }


def last_evaluation(h: SubjectHistory) -> date | None:
    """The latest date of an assessment, a lab or a follow-up visit (censoring date)."""
    dates = [a.effective_date for _, a in h.assessment_records]
    dates += [lab.effective_date for _, lab in h.labs]
    dates += [v.effective_date for _, v in h.follow_ups]
    return max(dates, default=None)


def markers(h: SubjectHistory) -> dict[str, dict[str, Any]]:
    """Per analyte: results, baseline (enrolment value, else the latest result on or before the
    treatment start), nadir (lowest of baseline and later results), latest, percent changes."""
    start = h.treatment_start
    baseline: dict[str, tuple[Decimal, date | None, str]] = {}
    if h.enrolment is not None:
        for name, analyte in BASELINE_FIELDS.items():
            value = getattr(h.enrolment.baseline, name)
            if value is not None:
                baseline[analyte] = (value, h.enrolment.effective_date, "enrolment")
    found: dict[str, dict[str, Any]] = {}
    analytes = sorted({lab.analyte for _, lab in h.labs} | set(baseline))
    for analyte in analytes:
        labs = sorted(
            (
                (lab.effective_date, pos or 0, lab.value)
                for pos, lab in h.labs
                if lab.analyte == analyte
            ),
        )
        base = baseline.get(analyte)
        if base is None and start is not None:
            early = [x for x in labs if x[0] <= start]
            if early:
                base = (early[-1][2], early[-1][0], "lab")
        nadir = (base[0], base[1]) if base else None
        for on, _pos, value in labs:
            if start is not None and on > start and (nadir is None or value < nadir[0]):
                nadir = (value, on)
        latest = labs[-1] if labs else None
        numeric = analyte not in FLAG_ANALYTES
        latest_value = latest[2] if latest else None
        found[analyte] = {
            "unit": ANALYTE_UNITS.get(analyte, ""),
            "results": len(labs),
            "baseline": str(base[0]) if base else None,
            "baseline_date": _iso(base[1]) if base else None,
            "baseline_source": base[2] if base else None,
            "nadir": str(nadir[0]) if nadir else None,
            "nadir_date": _iso(nadir[1]) if nadir else None,
            "latest": str(latest_value) if latest_value is not None else None,
            "latest_date": _iso(latest[0]) if latest else None,
            "change_from_baseline_pct": (
                percent_change(base[0] if base else None, latest_value) if numeric else None
            ),
            "change_from_nadir_pct": (
                percent_change(nadir[0] if nadir else None, latest_value) if numeric else None
            ),
        }
    return found


def response_report(h: SubjectHistory) -> dict[str, Any]:
    """The documented ``response`` part of the ``patient`` JSON."""
    params = params_of(h)
    evaluations = evaluation.evaluate(h, params)
    found = evaluation.progressions(h, params, evaluations)
    supported = [p for p in found if p.supported]
    derived = [p for p in found if p.by_rules]
    return {
        "assessments": [
            {
                "position": e.position,
                "date": e.on.isoformat(),
                "protocol_month": e.protocol_month,
                "line": e.line,
                "regimen": e.regimen.value,
                "investigator": e.investigator.value,
                "derived": e.derived.value,
                "derived_as_recorded": e.recorded_derived.value,
                "rederived": e.derived is not e.recorded_derived,
                "rule_ids": list(e.rule_ids),
                "lab_positions": list(e.lab_positions),
                "disagree": e.investigator is not e.derived,
            }
            for e in evaluations
        ],
        "disagreements": sum(1 for e in evaluations if e.investigator is not e.derived),
        "markers": markers(h),
        "best_confirmed": confirmed_json(best_confirmed(evaluations, params), "derived"),
        "best_confirmed_investigator": confirmed_json(
            best_confirmed(evaluations, params, basis="investigator"), "investigator"
        ),
        "progression": supported[0].to_json() if supported else None,
        "progressions": [p.to_json() for p in found],
        "derived_progression_on": derived[0].on.isoformat() if derived else None,
        "duration_of_response": duration_of_response(h, evaluations, params, found),
        "decision_reviews": evaluation.decision_reviews(h, params, evaluations),
        "last_evaluation": _iso(last_evaluation(h)),
    }
