"""The ``response`` part of the ``patient`` JSON, and the figures the objectives reuse.

Every assessment with the category the rules derive now on corrected values (``derived``)
beside the one recorded at the time (``derived_as_recorded``) and the investigator's; markers
(baseline, nadir, latest, per analyte, corrected); best confirmed response; progression dated
when its criteria were first met, with ``confirmed_on``; month-6 decisions the corrected data
would now decide otherwise (``decision_reviews``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from ledger.events import ANALYTE_UNITS
from ledger.protocol.parameters import ProtocolParameters
from ledger.protocol.response import ConfirmedResponse, best_confirmed_response
from ledger.protocol.schedule import Regimen
from ledger.subject import evaluation
from ledger.subject.evaluation import RESPONSES, Evaluation
from ledger.subject.history import SubjectHistory
from projections.report.common import _iso, params_of, percent_change

BASELINE_FIELDS = {
    "serum_m_protein_g_dl": "serum_m_protein",
    "urine_m_protein_mg_24h": "urine_m_protein",
    "marrow_plasma_cells_pct": "marrow_plasma_cells",
    "hs_crp_mg_l": "hs_crp",
}
FLAG_ANALYTES = frozenset({"serum_ife", "urine_ife"})


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
