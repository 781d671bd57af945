"""Response: lab results, response assessments (and the month-6 decision), progression."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field

from ledger.domain.commands.base import Amount, Cli, Command, Flag, handles
from ledger.domain.commands.rules import (
    OTHER_MONTH6_READING,
    START_NEXT_MONTH,
    draft_of,
    month6_reading,
    progression_start_reading,
    require_treatment_started,
    transition,
    treatment_start,
)
from ledger.domain.guards import (
    TrialContext,
    build,
    check_date,
    check_values,
    require_enrolled,
    require_on_study,
)
from ledger.domain.patient import Patient
from ledger.errors import RuleViolation, ValidationError, show_position
from ledger.events import (
    Analyte,
    Deviation,
    LabResulted,
    MeasuredValues,
    PlainText,
    ProgressionConfirmed,
    RegimenChanged,
    ResponseAssessed,
    ResponseCategory,
    SubjectEvent,
)
from ledger.protocol import schedule
from ledger.protocol.parameters import Month6Basis, ProgressionStart, ProtocolParameters
from ledger.protocol.response import ConfirmedResponse, first_progression
from ledger.protocol.schedule import ON_TREATMENT, Regimen
from ledger.subject import evaluation
from ledger.subject.evaluation import Findings, evaluate, in_line, runs


class RecordLab(Command):
    """Record a lab result in its analyte's unit (wrong units and implausible values refused).

    Units: serum_m_protein g/dL, urine_m_protein mg/24h, ... (IFE: 1 negative, 0 positive).

    Example: trial-ledger lab --db trial.db --key cole.key --subject MC0282-001-017
    --analyte serum_m_protein --value 2.9 --unit g/dL --date 2003-02-10
    """

    name = "lab"
    command: Literal["lab"] = "lab"
    own_event = LabResulted
    analyte: Analyte = Field(description="The analyte measured, e.g. serum_m_protein.")
    value: Amount = Field(ge=0, description="Measured value (decimal), in the analyte's unit.")
    unit: PlainText = Field(
        description="Unit: serum_m_protein g/dL, urine_m_protein mg/24h, marrow_plasma_cells "
        "%, hs_crp mg/L, ... (see `trial-ledger lab --help`)."
    )


class AssessResponse(Command):
    """Assess response (investigator): your category and the rule-derived one, side by side.

    The rules (IMWG 2006 + EBMT minimal response) derive a category from the labs since the
    last assessment; a difference from yours is flagged, not hidden. The month-6 assessment
    (protocol month 6, still on induction) makes the month-6 regimen decision in the same
    commit (REG-M6-BASIS: on the category derived then; progression only when confirmed):
    continuation or low-dose dexamethasone from month 7 day 1. At any assessment where the rules
    confirm progression (CONF-PD, CONF-PD-SINGLE) it is recorded in the same commit, dated when
    its criteria were first met, with high-dose dexamethasone from that day (REG-PD-START;
    --start-next-month REASON for the other reading). Findings left unset count as not
    assessed (they can lower the category).

    Example: trial-ledger assess --db trial.db --key ada.key --subject MC0282-001-017
    --category MR --no-new-bone-lesions --date 2003-06-30
    """

    name = "assess"
    command: Literal["assess"] = "assess"
    own_event = ResponseAssessed
    rule_events = frozenset({ProgressionConfirmed, RegimenChanged})
    event_fields = (
        ("new_bone_lesions", "measured.new_bone_lesions"),
        ("plasmacytoma", "measured.plasmacytoma"),
        ("hypercalcaemia", "measured.hypercalcaemia"),
        ("other_month6_reading", None),
        ("start_next_month", None),
    )
    investigator_category: Annotated[ResponseCategory, Cli("--category")] = Field(
        description="Investigator's category: CR VGPR PR MR SD PD."
    )
    new_bone_lesions: Flag | None = Field(
        default=None,
        description="New or growing lytic lesions (progression by itself, CONF-PD-SINGLE); MR "
        "needs --no-new-bone-lesions.",
    )
    plasmacytoma: Flag | None = Field(
        default=None,
        description="A soft-tissue plasmacytoma is present (or not). Present after an "
        "assessment that recorded none: a new plasmacytoma, progression by itself "
        "(CONF-PD-SINGLE).",
    )
    hypercalcaemia: Flag | None = Field(
        default=None,
        description="Hypercalcaemia attributed to myeloma (progression by itself, CONF-PD-SINGLE).",
    )
    other_month6_reading: Annotated[Deviation | None, OTHER_MONTH6_READING] = Field(
        default=None,
        description="The month-6 decision read the other way (REG-M6-BASIS), and why.",
    )
    start_next_month: Annotated[Deviation | None, START_NEXT_MONTH] = Field(
        default=None,
        description="High-dose dexamethasone from day 1 of the next protocol month (the other "
        "reading of REG-PD-START), and why.",
    )

    @property
    def findings(self) -> Findings:
        return Findings(
            new_bone_lesions=self.new_bone_lesions,
            plasmacytoma=self.plasmacytoma,
            hypercalcaemia=self.hypercalcaemia,
        )


@handles(RecordLab)
def record_lab(p: Patient, ctx: TrialContext, cmd: RecordLab) -> list[SubjectEvent]:
    analyte, value, unit, on = cmd.analyte, cmd.value, cmd.unit, cmd.date
    require_enrolled(p, "a lab result")
    check_date(p, on, ctx)
    require_on_study(p, on, "lab result", "follow-up")
    event = build(LabResulted, p, 1, effective_date=on, analyte=analyte, value=value, unit=unit)
    check_values(event)
    return [event]


def _measured(e: evaluation.Evaluation) -> MeasuredValues:
    values = e.measurement.model_dump()
    values.pop("assessed_on")
    return MeasuredValues(**values)


@handles(AssessResponse)
def assess_response(p: Patient, ctx: TrialContext, cmd: AssessResponse) -> list[SubjectEvent]:
    """Record the investigator's and the rule-derived category (derived on corrected values,
    :func:`ledger.subject.evaluation.evaluate`). At the month-6 assessment (still in induction,
    protocol month >= 6) the month-6 decision is made in the same commit (REG-M6-*, read as
    REG-M6-BASIS says): a continuation or low-dose dexamethasone starts on day 1 of month 7;
    progression the rules confirm is recorded, dated when its criteria were first met, and
    high-dose dexamethasone starts as REG-PD-START says."""
    on = cmd.date
    require_enrolled(p, "a response assessment")
    check_date(p, on, ctx)
    require_on_study(p, on, "response assessment", "follow-up")
    require_treatment_started(p, on, "a response assessment")
    params = p.params(ctx.amendment)
    m6_chosen = month6_reading(params, cmd.other_month6_reading)
    start_chosen = progression_start_reading(params, cmd.start_next_month)
    new = _new_evaluation(p, params, on, cmd.findings)
    month = schedule.protocol_month(treatment_start(p), on, params)
    assessed = build(
        ResponseAssessed,
        p,
        1,
        effective_date=on,
        protocol_month=month,
        investigator_category=cmd.investigator_category,
        derived_category=new.derived.value,
        rule_ids=new.rule_ids,
        values_used=new.values_used,
        agrees=cmd.investigator_category == new.derived.value,
        measured=_measured(new),
        lab_positions=new.lab_positions,
        regimen=p.regimen_on(on).value,
    )
    events: list[SubjectEvent] = [assessed]
    draft = draft_of(p, events)
    evaluations = evaluate(draft, params)
    induction = draft.latest_period
    if (
        induction is not None
        and induction.regimen is Regimen.INDUCTION
        and month >= params.schedule.induction_months
    ):
        _month6_decision(draft, events, params, evaluations, m6_chosen, on, start_chosen)
        return events
    if m6_chosen[1] is not None:
        raise ValidationError(
            "other_month6_reading.rule_id",
            m6_chosen[1].rule_id,
            f"[REC-DEVIATION] {on} is not a month-6 assessment in induction: there is no "
            "month-6 decision to read otherwise",
        )
    _progression_at_assessment(draft, events, params, evaluations, on, start_chosen)
    return events


def _new_evaluation(
    p: Patient, params: ProtocolParameters, on: date, findings: Findings
) -> evaluation.Evaluation:
    """The evaluation an assessment on ``on`` derives (REC-ASSESSMENT-ORDER: after the
    baseline of its line and the last assessment, one a day)."""
    baseline = evaluation.baseline_measurement(p)
    if baseline is None:  # pragma: no cover - an enrolled patient has a baseline
        raise RuleViolation(f"[REC-ENROLLED] subject {p.subject_id} has no baseline")
    if on <= baseline.assessed_on:
        raise ValidationError(
            "date",
            on.isoformat(),
            f"[REC-ASSESSMENT-ORDER] a response assessment follows its baseline "
            f"({baseline.assessed_on})",
        )
    if p.assessment_records and on <= p.assessment_records[-1][1].effective_date:
        position, latest = p.assessment_records[-1]
        raise RuleViolation(
            f"[REC-ASSESSMENT-ORDER] subject {p.subject_id} was last assessed on "
            f"{latest.effective_date} ({show_position(position)}): assessments are recorded in "
            "date order, one per day"
        )
    derived = evaluate(p, params, extra=(on, findings))
    if not derived or derived[-1].on != on:
        raise ValidationError(
            "date",
            on.isoformat(),
            "[REC-ASSESSMENT-ORDER] a response assessment follows the baseline of its line "
            "(the assessment that confirmed the last progression)",
        )
    return derived[-1]


def _progression_at_assessment(
    draft: Patient,
    events: list[SubjectEvent],
    params: ProtocolParameters,
    evaluations: list[evaluation.Evaluation],
    on: date,
    start_chosen: tuple[ProgressionStart, Deviation | None],
) -> None:
    """Progression the rules confirm at this assessment, not yet recorded: recorded now, with
    high-dose dexamethasone (or the end of treatment) starting as REG-PD-START reads."""
    run = first_progression(runs(in_line(evaluations, len(draft.progressions)), params))
    if run is not None:
        _record_progression(draft, events, run, on, "confirmed at this assessment")
        regimen = draft.regimen_on(on)
        if regimen in ON_TREATMENT:
            starts = schedule.progression_start(treatment_start(draft), on, params, start_chosen[0])
            decision = schedule.regimen_after_progression(regimen)
            transition(draft, events, decision, starts, on, start_chosen[1])
            return
    if start_chosen[1] is not None:
        raise ValidationError(
            "start_next_month.rule_id",
            start_chosen[1].rule_id,
            f"[REC-DEVIATION] the assessment on {on} starts no high-dose dexamethasone: there "
            "is no REG-PD-START reading to take",
        )


def _record_progression(
    draft: Patient, events: list[SubjectEvent], run: ConfirmedResponse, on: date, when: str
) -> None:
    """Progression the rules confirm, recorded with the assessment that confirms it and dated
    when its criteria were first met (IMWG 2006)."""
    progression = build(
        ProgressionConfirmed,
        draft,
        1,
        effective_date=on,
        basis=f"progression {when} by the rules: {run.reason}",
        rule_ids=run.rule_ids,
        progression_date=run.first_on,
    )
    events.append(progression)
    draft.apply(progression)


def _month6_decision(
    draft: Patient,
    events: list[SubjectEvent],
    params: ProtocolParameters,
    evaluations: list[evaluation.Evaluation],
    chosen: tuple[Month6Basis, Deviation | None],
    on: date,
    start_chosen: tuple[ProgressionStart, Deviation | None],
) -> None:
    """The month-6 decision taken at the month-6 assessment (REG-M6-*, REG-M6-BASIS): a
    continuation or low-dose dexamethasone from day 1 of month 7; confirmed progression is
    recorded and high-dose dexamethasone starts as REG-PD-START reads."""
    reading, m6_deviation = chosen
    start = treatment_start(draft)
    decision = evaluation.month6_decision(draft, params, reading, evaluations)
    if decision.regimen is Regimen.HIGH_DOSE_DEX:
        run = first_progression(runs(in_line(evaluations, 0), params))
        assert run is not None  # month6_category reads PD only from a confirmed run
        _record_progression(draft, events, run, on, "confirmed at the month-6 assessment")
        starts = schedule.progression_start(start, on, params, start_chosen[0])
        transition(draft, events, decision, starts, on, start_chosen[1] or m6_deviation)
        return
    if start_chosen[1] is not None:
        raise ValidationError(
            "start_next_month.rule_id",
            start_chosen[1].rule_id,
            f"[REC-DEVIATION] the month-6 decision on {on} starts no high-dose dexamethasone: "
            "there is no REG-PD-START reading to take",
        )
    starts = schedule.month_start(start, params.schedule.induction_months + 1, params)
    transition(draft, events, decision, starts, on, m6_deviation)
