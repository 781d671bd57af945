"""Treatment: doses given and missed, the scheduled regimen transitions, ending treatment."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field

from ledger.domain.commands.base import Amount, Cli, Command, Flag, handles
from ledger.domain.commands.rules import (
    OTHER_MONTH6_READING,
    dose_check,
    month6_reading,
    refuse_due_transition,
    refuse_records_after,
    transition,
    treatment_start,
)
from ledger.domain.guards import (
    TrialContext,
    build,
    check_date,
    require_enrolled,
    require_on_study,
)
from ledger.domain.patient import Patient
from ledger.errors import RuleViolation, ValidationError, show_position
from ledger.events import (
    Deviation,
    DoseAdministered,
    DoseMissed,
    Drug,
    Reason,
    RegimenChanged,
    Route,
    SubjectEvent,
)
from ledger.protocol import schedule
from ledger.protocol.schedule import ON_TREATMENT, DoseRuleViolation
from ledger.subject.evaluation import due_transition


class RecordDose(Command):
    """Record a dose given (refused if the regimen does not call for it, unless a deviation).

    The current regimen's dosing calendar must call for the drug, dose and route on --date;
    otherwise the dose is refused, naming the rule, unless it is recorded as a protocol
    deviation (--deviation-rule RULE --deviation-reason TEXT). A second dose of a drug on one
    day is refused.

    Example: trial-ledger dose --db trial.db --key cole.key --subject MC0282-001-017
    --drug anakinra --dose 100 --route SC --date 2003-01-13
    """

    name = "dose"
    command: Literal["dose"] = "dose"
    own_event = DoseAdministered
    drug: Drug = Field(description="anakinra or dexamethasone.")
    dose: Amount = Field(gt=0, le=1000, description="Dose given, in mg (e.g. 100).")
    unit: Literal["mg"] = Field(default="mg", description="Unit of the dose: mg.")
    route: Route = Field(description="SC or PO.")
    deviation: Annotated[Deviation | None, Cli("--deviation", pair=True)] = Field(
        default=None,
        description="A dose the calendar does not call for: the protocol rule departed from "
        "and why (records a deviation).",
    )


class RecordMissedDose(Command):
    """Record a dose the calendar called for that was missed or held.

    Example: trial-ledger missed-dose --db trial.db --key cole.key --subject MC0282-001-017
    --drug anakinra --reason "injection-site reaction" --held --date 2003-02-04
    """

    name = "missed-dose"
    command: Literal["missed-dose"] = "missed-dose"
    own_event = DoseMissed
    drug: Drug = Field(description="anakinra or dexamethasone.")
    reason: Reason = Field(description="Why (recorded in the ledger).")
    held: Flag = Field(default=False, description="Held by the investigator (not just missed).")


class AdvanceRegimen(Command):
    """Apply the regimen transitions the protocol makes due by --date.

    Month 6 without a month-6 assessment (treated as stable disease, REG-M6-NOT-ASSESSED),
    month 12, month 18, the end of the high-dose course, the end of follow-up (5 years after
    treatment, last visit window included): each takes effect on its due date.

    Example: trial-ledger advance --db trial.db --key ada.key --subject MC0282-001-017
    --date 2003-12-15
    """

    name = "advance"
    command: Literal["advance"] = "advance"
    own_event = RegimenChanged
    rule_events = frozenset({RegimenChanged})
    event_fields = (
        ("physician_continues", None),
        ("other_month6_reading", None),
    )
    physician_continues: Flag = Field(
        default=False, description="Continue beyond month 12/18 (physician's discretion)."
    )
    other_month6_reading: Annotated[Deviation | None, OTHER_MONTH6_READING] = Field(
        default=None,
        description="The month-6 decision read the other way (REG-M6-BASIS), and why.",
    )


class StopTreatment(Command):
    """End study treatment early (toxicity, the physician's decision); follow-up starts.

    Example: trial-ledger stop-treatment --db trial.db --key ada.key --subject MC0282-001-017
    --reason "grade 3 neutropenia" --date 2003-05-02
    """

    name = "stop-treatment"
    command: Literal["stop-treatment"] = "stop-treatment"
    own_event = RegimenChanged
    rule_events = frozenset({RegimenChanged})
    reason: Reason = Field(description="Why (recorded in the ledger).")


def _not_already_dosed(p: Patient, drug: str, on: date) -> None:
    if (drug, on) in p.doses:
        raise RuleViolation(
            f"[REC-DUPLICATE-DOSE] {drug} on {on} is already recorded for {p.subject_id} "
            f"({show_position(p.doses[(drug, on)])}); correct that record instead"
        )
    if (drug, on) in p.missed:
        raise RuleViolation(
            f"[REC-DOSE-MISSED-CONFLICT] {drug} on {on} is recorded as missed for "
            f"{p.subject_id} ({show_position(p.missed[(drug, on)])}); correct that record instead"
        )


@handles(RecordDose)
def record_dose(p: Patient, ctx: TrialContext, cmd: RecordDose) -> list[SubjectEvent]:
    drug, dose, route, on, deviation, unit = (
        cmd.drug,
        cmd.dose,
        cmd.route,
        cmd.date,
        cmd.deviation,
        cmd.unit,
    )
    require_enrolled(p, "a dose")
    check_date(p, on, ctx)
    require_on_study(p, on, "dose", "treatment")
    refuse_due_transition(p, p.params(ctx.amendment), on, "dose")
    _not_already_dosed(p, drug, on)
    event = build(
        DoseAdministered,
        p,
        1,
        effective_date=on,
        drug=drug,
        dose=dose,
        unit=unit,
        route=route,
        deviation=deviation,
    )
    try:
        dose_check(p, p.params(ctx.amendment), on, drug, event.dose, route)
    except DoseRuleViolation as v:
        if deviation is None:
            raise DoseRuleViolation(
                v.rule_id,
                v.on,
                v.expected,
                f"{v.found}; if it was given, record it with a deviation naming {v.rule_id} "
                "and a reason",
            ) from None
        if deviation.rule_id != v.rule_id:
            raise ValidationError(
                "deviation.rule_id",
                deviation.rule_id,
                f"[REC-DEVIATION] the dose departs from {v.rule_id} ({v}): the deviation "
                "names that rule",
            ) from None
    else:
        if deviation is not None:
            raise ValidationError(
                "deviation.rule_id",
                deviation.rule_id,
                f"[REC-DEVIATION] {drug} {dose} mg {route} on {on} is what the calendar calls "
                "for: there is no deviation to record",
            )
    return [event]


@handles(RecordMissedDose)
def record_missed_dose(p: Patient, ctx: TrialContext, cmd: RecordMissedDose) -> list[SubjectEvent]:
    drug, reason, on, held = cmd.drug, cmd.reason, cmd.date, cmd.held
    require_enrolled(p, "a missed dose")
    check_date(p, on, ctx)
    require_on_study(p, on, "missed dose", "treatment")
    refuse_due_transition(p, p.params(ctx.amendment), on, "missed dose")
    _not_already_dosed(p, drug, on)
    period = p.period_on(on)
    due: tuple[schedule.ScheduledDose, ...] = ()
    if period is not None and period.regimen in ON_TREATMENT and on >= treatment_start(p):
        due = schedule.doses_called_for(
            period.regimen, treatment_start(p), period.course_start, on, p.params(ctx.amendment)
        )
    if not any(d.drug == drug for d in due):
        raise RuleViolation(
            f"[REC-MISSED-NOT-DUE] no {drug} is due on {on} for {p.subject_id} (regimen "
            f"{p.regimen_on(on)}): there is no dose to miss"
        )
    return [build(DoseMissed, p, 1, effective_date=on, drug=drug, held=held, reason=reason)]


# --------------------------------------------------------------------------- regimen


@handles(AdvanceRegimen)
def advance_regimen(p: Patient, ctx: TrialContext, cmd: AdvanceRegimen) -> list[SubjectEvent]:
    """Apply every scheduled transition due by ``on`` (month 6 without a month-6 assessment,
    month 12, month 18, end of the high-dose course, end of follow-up), each taking effect on
    its due date (:func:`ledger.subject.evaluation.due_transition`)."""
    on, physician_continues = cmd.date, cmd.physician_continues
    require_enrolled(p, "a regimen transition")
    check_date(p, on, ctx)
    require_on_study(p, on, "regimen transition", "follow-up")
    params = p.params(ctx.amendment)
    reading, m6_deviation = month6_reading(params, cmd.other_month6_reading)
    draft = p.copy()
    events: list[SubjectEvent] = []
    for _ in range(8):  # a chain of transitions is short; the bound guards a rule cycle
        due = due_transition(
            draft, params, physician_continues=physician_continues, reading=reading
        )
        if due is None or due[0] > on:
            break
        due_on, decision, _what = due
        m6 = decision.rule_id.startswith("REG-M6-")
        transition(draft, events, decision, due_on, on, m6_deviation if m6 else None)
        if decision.regimen is draft.current_regimen and decision.rule_id in (
            "REG-M12-DISCRETION",
            "REG-M18-DISCRETION",
        ):
            break
    if not events:
        period = p.latest_period
        regimen = f"{period.regimen} since {period.starts_on}" if period else "screening"
        nxt = due_transition(p, params, physician_continues=physician_continues, reading=reading)
        when = f"next: {nxt[2]} on {nxt[0]}" if nxt else "this regimen has no scheduled end"
        raise RuleViolation(
            f"[REC-NOTHING-DUE] no regimen transition is due on {on} for {p.subject_id} "
            f"(regimen {regimen}; {when})"
        )
    return events


@handles(StopTreatment)
def stop_treatment(p: Patient, ctx: TrialContext, cmd: StopTreatment) -> list[SubjectEvent]:
    """Study treatment ends early or at the physician's discretion (REG-OFF-TREATMENT)."""
    reason, on = cmd.reason, cmd.date
    require_enrolled(p, "the end of treatment")
    check_date(p, on, ctx)
    require_on_study(p, on, "end of treatment", "treatment")
    refuse_records_after(p, on, "the end of treatment", doses_only=True)
    draft = p.copy()
    events: list[SubjectEvent] = []
    transition(draft, events, schedule.end_treatment(draft.regimen_on(on), reason), on, on)
    return events
