"""The protocol's decisions read from a subject's corrected history.

The month-6 decision [REG-M6-BASIS] and the other scheduled transitions (when each is due and
what it decides), and the reviews a monitor sees: month-6 decisions and progressions the
corrected data would now decide otherwise (the regimen given stays as recorded).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from ledger.protocol import schedule
from ledger.protocol.parameters import Month6Basis, ProtocolParameters
from ledger.protocol.response import Category, confirmed_category, first_progression
from ledger.protocol.schedule import Regimen, RegimenDecision
from ledger.subject.evaluation.assessments import Evaluation, evaluate, runs, series
from ledger.subject.evaluation.progression import Progression, progressions
from ledger.subject.history import SubjectHistory
from ledger.subject.timeline import RegimenPeriod


def month6_category(
    h: SubjectHistory,
    params: ProtocolParameters,
    reading: Month6Basis,
    evaluations: list[Evaluation] | None = None,
) -> Category | None:
    """What the month-6 decision reads [REG-M6-BASIS]: confirmed progression during induction
    first; else the month-6 assessment's derived category (``month6_assessment``; an unconfirmed
    PD read as SD) or the best confirmed category (``confirmed``); None when there is none."""
    start = h.treatment_start
    if start is None:
        return None
    month7 = schedule.month_start(start, params.schedule.induction_months + 1, params)
    induction = [
        e
        for e in (evaluations if evaluations is not None else evaluate(h, params))
        if e.line == 0 and e.on < month7
    ]
    if first_progression(runs(induction, params)) is not None:
        return Category.PD
    if reading == "confirmed":
        best = confirmed_category(series(induction), params)
        return best.category if best else None
    at_month_6 = [e for e in induction if e.protocol_month >= params.schedule.induction_months]
    if not at_month_6:
        return None
    category = at_month_6[-1].derived
    return Category.SD if category is Category.PD else category


def month6_decision(
    h: SubjectHistory,
    params: ProtocolParameters,
    reading: Month6Basis | None = None,
    evaluations: list[Evaluation] | None = None,
) -> RegimenDecision:
    chosen = reading or params.readings.month6_basis
    return schedule.regimen_at_month_6(
        month6_category(h, params, chosen, evaluations), reading=chosen
    )


def latest_category(h: SubjectHistory, params: ProtocolParameters, since: date) -> Category | None:
    within = [e for e in evaluate(h, params) if e.on >= since]
    return within[-1].derived if within else None


def due_on(
    h: SubjectHistory, params: ProtocolParameters, period: RegimenPeriod | None = None
) -> tuple[date, str] | None:
    """When the scheduled transition ending ``period`` (default: the latest regimen) is due,
    and what it is (cheap: no decision taken). None when the regimen has no scheduled end."""
    period = period or h.latest_period
    start = h.treatment_start
    if period is None or start is None:
        return None
    s = params.schedule
    r = period.regimen

    def month_after(month: int) -> date:
        return schedule.month_start(start, month + 1, params)

    found: tuple[date, str] | None = None
    if r is Regimen.INDUCTION:
        found = month_after(s.induction_months), "the month-6 decision"
    elif r is Regimen.CONTINUATION and period.rule_id == "REG-M6-RESPONSE":
        found = month_after(s.continuation_end_month), "the month-12 decision"
    elif r is Regimen.LOW_DOSE_DEX and period.rule_id in LOW_DOSE_FROM_MONTH_6:
        found = month_after(s.low_dex_end_month), "the month-12 decision"
    elif r is Regimen.LOW_DOSE_DEX and period.rule_id == "REG-M12-LOWDEX-EXTEND":
        found = month_after(s.low_dex_extension_end_month), "the month-18 decision"
    elif r is Regimen.HIGH_DOSE_DEX:
        end = schedule.high_dose_course_end(period.course_start, params)
        found = end + timedelta(days=1), "the end of the high-dose course"
    elif r is Regimen.OFF_TREATMENT:
        found = period.starts_on, "the start of follow-up"
    elif r is Regimen.FOLLOW_UP:
        found = schedule.follow_up_end(period.starts_on, params), "the end of follow-up"
    if found is not None and r is Regimen.FOLLOW_UP and h.last_date and found[0] < h.last_date:
        found = h.last_date, found[1]
    return found


LOW_DOSE_FROM_MONTH_6 = frozenset({"REG-M6-SD", "REG-M6-UNCONFIRMED", "REG-M6-NOT-ASSESSED"})


def due_transition(
    h: SubjectHistory,
    params: ProtocolParameters,
    *,
    physician_continues: bool = False,
    reading: Month6Basis | None = None,
) -> tuple[date, RegimenDecision, str] | None:
    """The next scheduled transition of ``h``'s latest regimen: (due date, decision when
    taken on that date, what it is). None when the regimen has no scheduled end. The end of
    follow-up is never dated before the subject's latest recorded clinical date."""
    due = due_on(h, params)
    period = h.latest_period
    if due is None or period is None:
        return None
    r = period.regimen
    latest = latest_category(h, params, period.course_start)
    decision: RegimenDecision
    if r is Regimen.INDUCTION:
        decision = month6_decision(h, params, reading)
    elif r is Regimen.CONTINUATION or (
        r is Regimen.LOW_DOSE_DEX and due[1].endswith("12 decision")
    ):
        decision = schedule.regimen_at_month_12(r, latest, physician_continues=physician_continues)
    elif r is Regimen.LOW_DOSE_DEX:
        decision = schedule.regimen_at_month_18(r, latest, physician_continues=physician_continues)
    elif r is Regimen.HIGH_DOSE_DEX:
        decision = schedule.regimen_after_high_dose_course(r)
    elif r is Regimen.OFF_TREATMENT:
        decision = schedule.end_of_treatment(r)
    else:
        decision = schedule.follow_up_complete(r)
    return due[0], decision, due[1]


def _progression_reviews(known: list[Progression]) -> list[dict[str, Any]]:
    """Recorded progressions the corrected data no longer confirm, progressions it confirms
    that nobody recorded, and recorded ones it confirms from an earlier date."""
    found: list[dict[str, Any]] = [
        {
            "position": p.position,
            "recorded_rule_id": ",".join(p.rule_ids),
            "regimen": None,
            "corrected_data_call_for": "no progression",
            "regimen_called_for": None,
            "reason": "the corrected assessments no longer confirm this progression; it is not "
            "counted as an event (record the investigator's judgement with a deviation if it "
            "stands)",
        }
        for p in known
        if not p.supported
    ]
    found += [
        {
            "position": None,
            "recorded_rule_id": None,
            "regimen": None,
            "corrected_data_call_for": "progression",
            "regimen_called_for": Regimen.HIGH_DOSE_DEX.value,
            "reason": f"the corrected assessments confirm progression on {p.confirmed_on} "
            f"(criteria first met {p.on}), which is not recorded: record it with `progression`",
        }
        for p in known
        if p.source == "derived"
    ]
    found += [
        {
            "position": p.position,
            "recorded_rule_id": ",".join(p.rule_ids),
            "regimen": None,
            "corrected_data_call_for": "progression",
            "regimen_called_for": Regimen.HIGH_DOSE_DEX.value,
            "reason": f"the corrected assessments confirm this progression from "
            f"{p.rules_confirmed_on}, before it was recorded ({p.confirmed_on})",
        }
        for p in known
        if p.rules_confirmed_on is not None and p.rules_confirmed_on < p.confirmed_on
    ]
    return found


def _month6_reviews(
    h: SubjectHistory, params: ProtocolParameters, evaluations: list[Evaluation]
) -> list[dict[str, Any]]:
    """Month-6 decisions (without a recorded deviation) that the assessments known by the
    decision date, corrected, would now decide otherwise."""
    found: list[dict[str, Any]] = []
    for period in h.periods:
        if not period.rule_id.startswith("REG-M6-") or period.deviation is not None:
            continue
        decided = period.decided_on or period.starts_on
        known = [e for e in evaluations if e.on <= decided]
        now = month6_decision(h, params, evaluations=known)
        if now.rule_id != period.rule_id:
            found.append(
                {
                    "position": period.position,
                    "recorded_rule_id": period.rule_id,
                    "regimen": period.regimen.value,
                    "corrected_data_call_for": now.rule_id,
                    "regimen_called_for": now.regimen.value,
                    "reason": now.reason,
                }
            )
    return found


def decision_reviews(
    h: SubjectHistory,
    params: ProtocolParameters,
    evaluations: list[Evaluation] | None = None,
) -> list[dict[str, Any]]:
    """Month-6 decisions the corrected data would now decide otherwise, and progressions
    recorded on the rules that the corrected data no longer confirm (a monitor's query: the
    regimen given stays as recorded; the difference is shown, never hidden)."""
    if evaluations is None:
        evaluations = evaluate(h, params)
    known_progressions = progressions(h, params, evaluations)
    return _progression_reviews(known_progressions) + _month6_reviews(h, params, evaluations)
