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
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from ledger.events import MeasuredValues
from ledger.protocol import schedule
from ledger.protocol.parameters import Month6Basis, ProtocolParameters
from ledger.protocol.response import (
    Category,
    ConfirmedResponse,
    Measurement,
    confirmation_runs,
    confirmed_alone,
    confirmed_category,
    derive_response,
    first_progression,
)
from ledger.protocol.schedule import Regimen, RegimenDecision
from ledger.subject.history import SubjectHistory
from ledger.subject.timeline import RegimenPeriod

MARKERS: tuple[tuple[str, str], ...] = (
    ("serum_m_protein", "serum_m_protein_g_dl"),
    ("urine_m_protein", "urine_m_protein_mg_24h"),
    ("marrow_plasma_cells", "marrow_plasma_cells_pct"),
    ("serum_ife", "serum_ife_negative"),
    ("urine_ife", "urine_ife_negative"),
)
RESPONSES = frozenset({Category.CR, Category.VGPR, Category.PR, Category.MR})


@dataclass(frozen=True)
class Findings:
    """Clinical findings of a response assessment that no lab gives (IMWG 2006 PD criteria)."""

    new_bone_lesions: bool | None = None
    plasmacytoma: bool | None = None
    hypercalcaemia: bool | None = None


@dataclass(frozen=True)
class Evaluation:
    """One response assessment as the corrected history derives it."""

    position: int | None
    on: date
    protocol_month: int
    investigator: Category
    derived: Category
    recorded_derived: Category
    rule_ids: tuple[str, ...]
    values_used: dict[str, str]
    measurement: Measurement
    lab_positions: tuple[int, ...]
    line: int
    regimen: Regimen  # in force the day before: the regimen the response is attributed to
    alone: bool  # PD that needs no second assessment (CONF-PD-SINGLE)


@dataclass(frozen=True)
class Progression:
    """A progression: dated when its criteria were first met, confirmed (acted on) later."""

    on: date
    confirmed_on: date
    source: str  # ProgressionConfirmed, derived or FollowUpVisit
    position: int | None
    basis: str | None
    rule_ids: tuple[str, ...]
    by_rules: bool  # the corrected assessments confirm it
    supported: bool = True  # by the rules now, or by the investigator's recorded judgement
    rules_confirmed_on: date | None = None  # when the corrected assessments confirm it

    def to_json(self) -> dict[str, Any]:
        return {
            "date": self.on.isoformat(),
            "confirmed_on": self.confirmed_on.isoformat(),
            "source": self.source,
            "position": self.position,
            "basis": self.basis,
            "rule_ids": list(self.rule_ids),
            "confirmed_by_rules": self.by_rules,
            "supported": self.supported,
        }


# --------------------------------------------------------------------------- measurements


def baseline_measurement(h: SubjectHistory) -> Measurement | None:
    """The enrolment baseline (corrected) as a response measurement, dated at enrolment."""
    if h.enrolment is None:
        return None
    b = h.enrolment.baseline
    return Measurement(
        assessed_on=h.enrolment.effective_date,
        serum_m_protein_g_dl=b.serum_m_protein_g_dl,
        urine_m_protein_mg_24h=b.urine_m_protein_mg_24h,
        marrow_plasma_cells_pct=b.marrow_plasma_cells_pct,
    )


def latest_lab(
    h: SubjectHistory, analyte: str, after: date, on: date
) -> tuple[Decimal, int | None] | None:
    """The latest ``analyte`` result dated in (``after``, ``on``]; the last recorded wins ties."""
    found: tuple[Decimal, int | None] | None = None
    latest: date | None = None
    for position, lab in h.labs:
        when = lab.effective_date
        if lab.analyte == analyte and after < when <= on and (latest is None or when >= latest):
            found, latest = (lab.value, position), when
    return found


def measure(
    h: SubjectHistory, on: date, findings: Findings, previous: date | None
) -> tuple[MeasuredValues, tuple[int, ...]]:
    """The values of an assessment on ``on`` [RESP-VALUES]; ``previous`` is the date of the
    assessment before it (None: the first, measured from the enrolment baseline)."""
    baseline = baseline_measurement(h)
    after = previous or (baseline.assessed_on if baseline else on)
    values: dict[str, Any] = {}
    positions: list[int] = []
    for analyte, name in MARKERS:
        found = latest_lab(h, analyte, after, on)
        if found is None:
            continue
        value, position = found
        values[name] = value == 1 if analyte.endswith("_ife") else value
        if position is not None:
            positions.append(position)
    measured = MeasuredValues(
        **values,
        new_bone_lesions=findings.new_bone_lesions,
        plasmacytoma=findings.plasmacytoma,
        hypercalcaemia=findings.hypercalcaemia,
    )
    return measured, tuple(sorted(positions))


def line_starts(h: SubjectHistory) -> list[date]:
    """The confirmation dates of recorded progressions: each ends a line of response."""
    return sorted(p.effective_date for _, p in h.progressions)


def _line_of(on: date, starts: list[date]) -> int:
    return sum(1 for start in starts if start < on)


def evaluate(
    h: SubjectHistory, params: ProtocolParameters, extra: tuple[date, Findings] | None = None
) -> list[Evaluation]:
    """Every assessment derived again on corrected values, in date order (one per date, the
    last recorded winning). ``extra``: an assessment not yet recorded (date, findings), derived
    as the recording rules would, with investigator category and month left as SD and 0."""
    baseline = baseline_measurement(h)
    start = h.treatment_start
    if baseline is None or start is None:
        return []
    by_date: dict[date, tuple[int | None, Any, Findings]] = {}
    for position, a in h.assessment_records:
        m = a.measured or MeasuredValues()
        by_date[a.effective_date] = (
            position,
            a,
            Findings(m.new_bone_lesions, m.plasmacytoma, m.hypercalcaemia),
        )
    if extra is not None:
        by_date[extra[0]] = (None, None, extra[1])
    starts = line_starts(h)
    found: list[Evaluation] = []
    previous: date | None = None
    line_baselines: dict[int, Measurement] = {0: baseline}
    for on in sorted(by_date):
        position, recorded, findings = by_date[on]
        measured, labs = measure(h, on, findings, previous)
        previous = on
        current = Measurement(assessed_on=on, **measured.model_dump())
        line = _line_of(on, starts)
        base = line_baselines.get(line)
        if base is None:  # the last assessment of the line before, at its confirmation
            before = [e for e in found if e.on <= starts[line - 1]]
            base = before[-1].measurement if before else baseline
            line_baselines[line] = base
        if on <= base.assessed_on:
            continue
        prior = [e.measurement for e in found if e.line == line and e.on > base.assessed_on]
        derived = derive_response(base, prior, current, params)
        found.append(
            Evaluation(
                position=position,
                on=on,
                protocol_month=(
                    recorded.protocol_month
                    if recorded is not None
                    else schedule.protocol_month(start, on, params)
                    if on >= start
                    else 0
                ),
                investigator=Category(recorded.investigator_category if recorded else "SD"),
                derived=derived.category,
                recorded_derived=Category(
                    recorded.derived_category if recorded else derived.category.value
                ),
                rule_ids=derived.rule_ids,
                values_used=derived.values_used,
                measurement=current,
                lab_positions=labs,
                line=line,
                regimen=h.regimen_on(on - timedelta(days=1)),
                alone=confirmed_alone(derived, params),
            )
        )
    return found


def series(evaluations: list[Evaluation], basis: str = "derived") -> list[tuple[date, Category]]:
    return [(e.on, e.derived if basis == "derived" else e.investigator) for e in evaluations]


def alone_dates(evaluations: list[Evaluation]) -> frozenset[date]:
    """Dates whose PD confirms itself; an investigator's PD is read the same way only where the
    rules found such a criterion."""
    return frozenset(e.on for e in evaluations if e.alone)


def runs(
    evaluations: list[Evaluation], params: ProtocolParameters, basis: str = "derived"
) -> tuple[ConfirmedResponse, ...]:
    return confirmation_runs(series(evaluations, basis), params, alone_dates(evaluations))


def in_line(evaluations: list[Evaluation], line: int) -> list[Evaluation]:
    return [e for e in evaluations if e.line == line]


# --------------------------------------------------------------------------- progression


def progressions(
    h: SubjectHistory,
    params: ProtocolParameters,
    evaluations: list[Evaluation] | None = None,
) -> list[Progression]:
    """Every progression, by date: recorded ones (dated from the corrected assessments that
    confirm them, else from the investigator's progression date or the confirmation), one the
    rules confirm in the current line that nobody recorded yet, and follow-up visits that found
    progression. ``evaluations``: :func:`evaluate` of ``h``, when the caller has it already."""
    if evaluations is None:
        evaluations = evaluate(h, params)
    found: list[Progression] = []
    for line, (position, event) in enumerate(h.progressions):
        upto = [e for e in in_line(evaluations, line) if e.on <= event.effective_date]
        run = first_progression(runs(upto, params))
        if run is not None:
            on, by_rules, rule_ids = run.first_on, True, run.rule_ids
        else:
            on, by_rules = event.progression_date or event.effective_date, False
            rule_ids = event.rule_ids
        found.append(
            Progression(
                on=on,
                confirmed_on=event.effective_date,
                source="ProgressionConfirmed",
                position=position,
                basis=event.basis,
                rule_ids=tuple(rule_ids),
                by_rules=by_rules,
                supported=by_rules or event.deviation is not None,
                rules_confirmed_on=run.confirmed_on if run is not None else None,
            )
        )
    pending = first_progression(runs(in_line(evaluations, len(h.progressions)), params))
    if pending is not None:
        found.append(
            Progression(
                on=pending.first_on,
                confirmed_on=pending.confirmed_on,
                source="derived",
                position=None,
                basis=pending.reason,
                rule_ids=pending.rule_ids,
                by_rules=True,
            )
        )
    for position, visit in h.follow_ups:
        if visit.disease_status == "progression":
            found.append(
                Progression(
                    on=visit.effective_date,
                    confirmed_on=visit.effective_date,
                    source="FollowUpVisit",
                    position=position,
                    basis=visit.note or None,
                    rule_ids=(),
                    by_rules=False,
                )
            )
    found.sort(key=lambda p: (p.on, p.confirmed_on))
    return found


def first_progression_of(
    h: SubjectHistory, params: ProtocolParameters, evaluations: list[Evaluation] | None = None
) -> Progression | None:
    """The first progression the corrected record supports (the objectives' event): one the
    rules no longer confirm after a correction, and that no investigator judgement was
    recorded for, is not counted (it is listed in :func:`decision_reviews`)."""
    return next((p for p in progressions(h, params, evaluations) if p.supported), None)


# --------------------------------------------------------------------------- decisions


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
        for p in known_progressions
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
        for p in known_progressions
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
        for p in known_progressions
        if p.rules_confirmed_on is not None and p.rules_confirmed_on < p.confirmed_on
    ]
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
