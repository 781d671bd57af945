"""Command functions: check the rules on a patient's current state, then build the events.

Each function takes the :class:`~ledger.domain.patient.Patient` and a
:class:`~ledger.domain.guards.TrialContext`, never writes, never changes the patient, and
returns the events to append as one commit (stream versions continuing the patient's). Protocol
rules come from :mod:`ledger.protocol`; when one requires a regimen change the
:class:`~ledger.events.RegimenChanged` is returned in the same list as the event that triggered
it. Ending study treatment is always followed, in the same commit, by the start of follow-up
(REG-EOT-FOLLOW-UP).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from ledger.domain.guards import (
    Activity,
    TrialContext,
    build,
    check_date,
    check_values,
    require_enrolled,
    require_on_study,
    require_screened,
    require_status_open,
)
from ledger.domain.patient import Patient
from ledger.errors import (
    NotFoundError,
    RuleViolation,
    ValidationError,
    show_position,
    show_value,
)
from ledger.events import (
    ENTERED_IN_ERROR,
    RECORD_STATUS_FIELD,
    RECORD_VALID,
    AdverseEventReported,
    AdverseEventResolved,
    BaselineLabs,
    ConsentObtained,
    CorrectionRecorded,
    CriterionRecord,
    Deviation,
    DoseAdministered,
    DoseMissed,
    EligibilityAssessed,
    FollowUpVisit,
    LabResulted,
    MeasuredValues,
    ProgressionConfirmed,
    RecordSigned,
    RegimenChanged,
    ResponseAssessed,
    SubjectDied,
    SubjectEnrolled,
    SubjectEvent,
    SubjectOffStudy,
    SubjectScreened,
    SubjectWithdrawn,
    event_name,
    site_of,
)
from ledger.protocol import schedule
from ledger.protocol.eligibility import EligibilityInput
from ledger.protocol.eligibility import assess_eligibility as eligibility_rules
from ledger.protocol.parameters import Month6Basis, ProgressionStart, ProtocolParameters
from ledger.protocol.response import ConfirmedResponse, first_progression
from ledger.protocol.schedule import (
    ON_TREATMENT,
    DoseRuleViolation,
    Regimen,
    RegimenDecision,
)
from ledger.subject import evaluation
from ledger.subject.corrections import (
    NOT_CORRECTABLE,
    VOIDABLE,
    Record,
    field_text,
    with_field,
)
from ledger.subject.evaluation import Findings, due_transition, evaluate, in_line, runs

DRUG_ACTIONS = frozenset({"dose-held", "dose-reduced", "drug-withdrawn"})


# --------------------------------------------------------------------------- helpers


def _regimen_change(
    p: Patient,
    offset: int,
    decision: RegimenDecision,
    starts_on: date,
    decided_on: date,
    from_regimen: Regimen,
    deviation: Deviation | None = None,
) -> RegimenChanged:
    return build(
        RegimenChanged,
        p,
        offset,
        effective_date=starts_on,
        from_regimen=from_regimen.value,
        to_regimen=decision.regimen.value,
        rule_id=decision.rule_id,
        reason=decision.reason,
        decided_on=decided_on if decided_on != starts_on else None,
        deviation=deviation,
    )


def _transition(
    p: Patient,
    events: list[SubjectEvent],
    decision: RegimenDecision,
    starts_on: date,
    on: date,
    deviation: Deviation | None = None,
) -> None:
    """Append the regimen change ``decision`` (and, when it ends treatment, the start of
    follow-up) to ``events``, folding each into ``p`` (a draft) as it goes."""
    change = _regimen_change(p, 1, decision, starts_on, on, p.regimen_on(starts_on), deviation)
    events.append(change)
    p.apply(change)
    if decision.regimen is Regimen.OFF_TREATMENT:
        decision = schedule.end_of_treatment(Regimen.OFF_TREATMENT)
        follow = _regimen_change(p, 1, decision, starts_on, on, p.regimen_on(starts_on))
        events.append(follow)
        p.apply(follow)


def _draft(p: Patient, events: Sequence[SubjectEvent]) -> Patient:
    draft = p.copy()
    for event in events:
        draft.apply(event)
    return draft


def _treatment_start(p: Patient) -> date:
    return require_enrolled(p, "treatment").treatment_start


def _require_treatment_started(p: Patient, on: date, what: str) -> None:
    start = _treatment_start(p)
    if on < start:
        raise ValidationError(
            "date",
            on.isoformat(),
            f"[REC-DATE-BEFORE-TREATMENT] {what} is dated from the treatment start "
            f"({start}) of subject {p.subject_id}",
        )


_NOT_CLINICAL = (RegimenChanged, CorrectionRecorded, RecordSigned)


def _recorded_from(p: Patient, on: date, *, doses_only: bool, same_day: bool) -> list[Record]:
    """Current, not voided records dated after ``on`` (or on it, ``same_day``): doses and
    missed doses only, or every clinical record."""
    kinds: tuple[type[SubjectEvent], ...] = (DoseAdministered, DoseMissed)
    found: list[Record] = []
    for r in p.records:
        e = r.current
        if r.entered_in_error or isinstance(e, _NOT_CLINICAL):
            continue
        if doses_only and not isinstance(e, kinds):
            continue
        if e.effective_date > on or (same_day and e.effective_date == on):
            found.append(r)
    return found


def _refuse_records_after(p: Patient, on: date, what: str, *, doses_only: bool) -> None:
    """[REC-END-BEFORE-RECORDS] The end of treatment is its first day without study drug:
    no dose may be recorded on or after it. The end of participation (consent withdrawn, off
    study, death) may not precede any clinical record (the same day is allowed)."""
    later = _recorded_from(p, on, doses_only=doses_only, same_day=doses_only)
    if not later:
        return
    first = min(later, key=lambda r: r.current.effective_date)
    last = max(r.current.effective_date for r in later)
    kind = "dose" if doses_only else "record"
    raise RuleViolation(
        f"[REC-END-BEFORE-RECORDS] {what} of {p.subject_id} dated {on} would precede "
        f"{len(later)} {kind}(s) recorded {'on or ' if doses_only else ''}after it "
        f"({event_name(first.current.TOPIC)} {first.current.effective_date}, "
        f"{show_position(first.position)}; the last {last}): date it "
        f"{'after the last dose' if doses_only else 'on or after the last record'}, or "
        "correct or void those records first"
    )


def _refuse_due_transition(p: Patient, params: ProtocolParameters, on: date, what: str) -> None:
    """[REC-TRANSITION-DUE] A dose dated on or after a transition the protocol made due (the
    month-6 decision, month 12, month 18, the end of the high-dose course) waits for it."""
    period = p.period_on(on)
    if period is None or period.regimen not in ON_TREATMENT:
        return
    due = evaluation.due_on(p, params, period)
    if due is not None and due[0] <= on:
        how = (
            f"`assess` at the month-6 visit, or `advance --date {on}`"
            if due[1] == "the month-6 decision"
            else f"`advance --date {on}`"
        )
        raise RuleViolation(
            f"[REC-TRANSITION-DUE] {due[1]} of {p.subject_id} was due on {due[0]}: record it "
            f"({how}) before a {what} dated {on}"
        )


# --------------------------------------------------------------------------- screening


def screen(
    p: Patient, ctx: TrialContext, site: str, age_years: int, sex: str, on: date
) -> list[SubjectEvent]:
    if p.screening is not None:
        raise RuleViolation(
            f"[REC-DUPLICATE-SUBJECT] subject {p.subject_id} was already screened on "
            f"{p.screening.effective_date} ({show_position(p.screening_position)})"
        )
    if site != site_of(p.subject_id):
        raise ValidationError(
            "site",
            site,
            f"[REC-SITE] subject {p.subject_id} belongs to site {site_of(p.subject_id)}",
        )
    check_date(p, on, ctx)
    if on < ctx.trial_start:
        raise ValidationError(
            "date",
            on.isoformat(),
            f"[REC-DATE-BEFORE-TRIAL] before the trial's genesis date ({ctx.trial_start})",
        )
    return [
        build(SubjectScreened, p, 1, effective_date=on, site=site, age_years=age_years, sex=sex)
    ]


def assess_eligibility(
    p: Patient, ctx: TrialContext, inputs: EligibilityInput, on: date
) -> list[SubjectEvent]:
    screening = require_screened(p, "eligibility assessment")
    check_date(p, on, ctx)
    require_status_open(p, "eligibility assessment")
    if p.enrolment is not None:
        raise RuleViolation(
            f"[REC-ALREADY-ENROLLED] subject {p.subject_id} was enrolled on "
            f"{p.enrolment.effective_date}: eligibility is assessed before enrolment"
        )
    if inputs.age_years != screening.age_years:
        raise ValidationError(
            "age_years",
            inputs.age_years,
            f"[REC-ELIGIBILITY-AGE] subject {p.subject_id} was screened aged "
            f"{screening.age_years} ({show_position(p.screening_position)}); correct that first",
        )
    result = eligibility_rules(inputs, p.params(ctx.amendment))
    criteria = tuple(
        CriterionRecord(
            criterion_id=c.criterion_id,
            description=c.description,
            measured=c.measured,
            threshold=c.threshold,
            passed=c.passed,
        )
        for c in result.criteria
    )
    return [
        build(
            EligibilityAssessed,
            p,
            1,
            effective_date=on,
            protocol_amendment=result.amendment,
            criteria=criteria,
            eligible=result.eligible,
            inputs=inputs.model_dump(mode="json"),
        )
    ]


def consent(p: Patient, ctx: TrialContext, consent_version: str, on: date) -> list[SubjectEvent]:
    require_screened(p, "consent")
    check_date(p, on, ctx)
    require_on_study(p, on, "consent", "treatment")
    require_status_open(p, "consent")
    for given in p.consents:
        if given.consent_version == consent_version:
            raise RuleViolation(
                f"[REC-DUPLICATE-CONSENT] subject {p.subject_id} already consented to version "
                f"{consent_version} on {given.effective_date}"
            )
    return [build(ConsentObtained, p, 1, effective_date=on, consent_version=consent_version)]


def _waived_ids(rule_id: str) -> set[str]:
    return {part for part in re.split(r"[,\s]+", rule_id) if part}


def enrol(
    p: Patient,
    ctx: TrialContext,
    treatment_start: date,
    baseline: BaselineLabs,
    on: date,
    waiver: Deviation | None = None,
) -> list[SubjectEvent]:
    screening = require_screened(p, "enrolment")
    check_date(p, on, ctx)
    require_status_open(p, "enrolment")
    if p.enrolment is not None:
        raise RuleViolation(
            f"[REC-ALREADY-ENROLLED] subject {p.subject_id} was already enrolled on "
            f"{p.enrolment.effective_date}"
        )
    if not any(c.effective_date <= on for c in p.consents):
        raise RuleViolation(
            f"[REC-CONSENT-FIRST] subject {p.subject_id} has no consent obtained on or before "
            f"{on}: record consent before enrolment"
        )
    eligibility = p.eligibility
    if eligibility is None or eligibility.effective_date > on:
        raise RuleViolation(
            f"[REC-ELIGIBILITY-FIRST] subject {p.subject_id} has no eligibility assessment on "
            f"or before {on}: assess eligibility before enrolment"
        )
    failing = [c for c in eligibility.criteria if not c.passed]
    if failing and waiver is None:
        listed = "; ".join(
            f"{c.criterion_id} measured {c.measured}, required {c.threshold}" for c in failing
        )
        raise RuleViolation(
            f"[ELIGIBILITY] enrolment of {p.subject_id} refused: not eligible (assessed "
            f"{eligibility.effective_date}, {show_position(p.eligibility_position)}, amendment "
            f"{eligibility.protocol_amendment}); failing: {listed}. Enrol with a waiver naming "
            "these criteria and a reason to record a protocol deviation"
        )
    if waiver is not None:
        if not failing:
            raise ValidationError(
                "waiver.rule_id",
                waiver.rule_id,
                f"[REC-WAIVER] subject {p.subject_id} is eligible: there is nothing to waive",
            )
        missing = sorted({c.criterion_id for c in failing} - _waived_ids(waiver.rule_id))
        if missing:
            raise ValidationError(
                "waiver.rule_id",
                waiver.rule_id,
                f"[REC-WAIVER] a waiver names every failing criterion; not named: "
                f"{', '.join(missing)}",
            )
    if treatment_start < on:
        raise ValidationError(
            "treatment_start",
            treatment_start.isoformat(),
            f"[REC-TREATMENT-START] treatment starts on or after the enrolment date ({on})",
        )
    enrolled = build(
        SubjectEnrolled,
        p,
        1,
        effective_date=on,
        site=screening.site,
        treatment_start=treatment_start,
        protocol_amendment=ctx.amendment,
        baseline=baseline,
        waiver=waiver,
    )
    draft = _draft(p, [enrolled])
    decision = schedule.regimen_after_screening(eligible=True)
    if waiver is not None:
        decision = decision.model_copy(
            update={"reason": f"{decision.reason} (eligibility waived: {waiver.rule_id})"}
        )
    events: list[SubjectEvent] = [enrolled]
    _transition(draft, events, decision, treatment_start, on)
    return events


# --------------------------------------------------------------------------- dosing


def _dose_check(
    p: Patient, params: ProtocolParameters, on: date, drug: str, dose: Decimal, route: str
) -> None:
    period = p.period_on(on)
    regimen = period.regimen if period else Regimen.SCREENING
    course_start = period.course_start if period else on
    schedule.check_dose(
        regimen,
        _treatment_start(p),
        course_start,
        on,
        drug,  # type: ignore[arg-type]
        dose,
        route,  # type: ignore[arg-type]
        params,
    )


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


def record_dose(
    p: Patient,
    ctx: TrialContext,
    drug: str,
    dose: Decimal,
    route: str,
    on: date,
    deviation: Deviation | None = None,
    unit: str = "mg",
) -> list[SubjectEvent]:
    require_enrolled(p, "a dose")
    check_date(p, on, ctx)
    require_on_study(p, on, "dose", "treatment")
    _refuse_due_transition(p, p.params(ctx.amendment), on, "dose")
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
        _dose_check(p, p.params(ctx.amendment), on, drug, event.dose, route)
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


def record_missed_dose(
    p: Patient, ctx: TrialContext, drug: str, reason: str, on: date, held: bool = False
) -> list[SubjectEvent]:
    require_enrolled(p, "a missed dose")
    check_date(p, on, ctx)
    require_on_study(p, on, "missed dose", "treatment")
    _refuse_due_transition(p, p.params(ctx.amendment), on, "missed dose")
    _not_already_dosed(p, drug, on)
    period = p.period_on(on)
    due: tuple[schedule.ScheduledDose, ...] = ()
    if period is not None and period.regimen in ON_TREATMENT and on >= _treatment_start(p):
        due = schedule.doses_called_for(
            period.regimen, _treatment_start(p), period.course_start, on, p.params(ctx.amendment)
        )
    if not any(d.drug == drug for d in due):
        raise RuleViolation(
            f"[REC-MISSED-NOT-DUE] no {drug} is due on {on} for {p.subject_id} (regimen "
            f"{p.regimen_on(on)}): there is no dose to miss"
        )
    return [build(DoseMissed, p, 1, effective_date=on, drug=drug, held=held, reason=reason)]


# --------------------------------------------------------------------------- labs & response


def record_lab(
    p: Patient, ctx: TrialContext, analyte: str, value: Decimal, unit: str, on: date
) -> list[SubjectEvent]:
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


def _month6_reading(
    params: ProtocolParameters, deviation: Deviation | None
) -> tuple[Month6Basis, Deviation | None]:
    """The REG-M6-BASIS reading to apply: the protocol's, or the other one when the
    investigator records it with a deviation naming REG-M6-BASIS and a reason."""
    chosen = params.readings.month6_basis
    if deviation is None:
        return chosen, None
    if deviation.rule_id != "REG-M6-BASIS":
        raise ValidationError(
            "deviation.rule_id",
            deviation.rule_id,
            "[REC-DEVIATION] the month-6 decision departs only from REG-M6-BASIS (what it "
            "reads): the deviation names that rule",
        )
    other: Month6Basis = "confirmed" if chosen == "month6_assessment" else "month6_assessment"
    return other, deviation


def assess_response(
    p: Patient,
    ctx: TrialContext,
    investigator_category: str,
    on: date,
    findings: Findings | None = None,
    m6_deviation: Deviation | None = None,
    start_deviation: Deviation | None = None,
) -> list[SubjectEvent]:
    """Record the investigator's and the rule-derived category (derived on corrected values,
    :func:`ledger.subject.evaluation.evaluate`). At the month-6 assessment (still in induction,
    protocol month >= 6) the month-6 decision is made in the same commit (REG-M6-*, read as
    REG-M6-BASIS says): a continuation or low-dose dexamethasone starts on day 1 of month 7;
    progression the rules confirm is recorded, dated when its criteria were first met, and
    high-dose dexamethasone starts as REG-PD-START says."""
    require_enrolled(p, "a response assessment")
    check_date(p, on, ctx)
    require_on_study(p, on, "response assessment", "follow-up")
    _require_treatment_started(p, on, "a response assessment")
    params = p.params(ctx.amendment)
    reading, m6_deviation = _month6_reading(params, m6_deviation)
    start_reading, start_deviation = _progression_start_reading(params, start_deviation)
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
    derived = evaluate(p, params, extra=(on, findings or Findings()))
    if not derived or derived[-1].on != on:
        raise ValidationError(
            "date",
            on.isoformat(),
            "[REC-ASSESSMENT-ORDER] a response assessment follows the baseline of its line "
            "(the assessment that confirmed the last progression)",
        )
    new = derived[-1]
    start = _treatment_start(p)
    month = schedule.protocol_month(start, on, params)
    assessed = build(
        ResponseAssessed,
        p,
        1,
        effective_date=on,
        protocol_month=month,
        investigator_category=investigator_category,
        derived_category=new.derived.value,
        rule_ids=new.rule_ids,
        values_used=new.values_used,
        agrees=investigator_category == new.derived.value,
        measured=_measured(new),
        lab_positions=new.lab_positions,
        regimen=p.regimen_on(on).value,
    )
    events: list[SubjectEvent] = [assessed]
    draft = _draft(p, events)
    evaluations = evaluate(draft, params)
    induction = draft.latest_period
    if (
        induction is not None
        and induction.regimen is Regimen.INDUCTION
        and month >= params.schedule.induction_months
    ):
        _month6_decision(
            draft, events, params, evaluations, (reading, m6_deviation), on,
            (start_reading, start_deviation),
        )  # fmt: skip
        return events
    if m6_deviation is not None:
        raise ValidationError(
            "deviation.rule_id",
            m6_deviation.rule_id,
            f"[REC-DEVIATION] {on} is not a month-6 assessment in induction: there is no "
            "month-6 decision to read otherwise",
        )
    run = first_progression(runs(in_line(evaluations, len(draft.progressions)), params))
    if run is not None:  # the rules confirm progression, not yet recorded: record it now
        _record_progression(draft, events, run, on, "confirmed at this assessment")
        regimen = draft.regimen_on(on)
        if regimen in ON_TREATMENT:
            starts = schedule.progression_start(start, on, params, start_reading)
            decision = schedule.regimen_after_progression(regimen)
            _transition(draft, events, decision, starts, on, start_deviation)
            return events
    if start_deviation is not None:
        raise ValidationError(
            "start_deviation.rule_id",
            start_deviation.rule_id,
            f"[REC-DEVIATION] the assessment on {on} starts no high-dose dexamethasone: there "
            "is no REG-PD-START reading to take",
        )
    return events


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
    start = _treatment_start(draft)
    decision = evaluation.month6_decision(draft, params, reading, evaluations)
    if decision.regimen is Regimen.HIGH_DOSE_DEX:
        run = first_progression(runs(in_line(evaluations, 0), params))
        assert run is not None  # month6_category reads PD only from a confirmed run
        _record_progression(draft, events, run, on, "confirmed at the month-6 assessment")
        starts = schedule.progression_start(start, on, params, start_chosen[0])
        _transition(draft, events, decision, starts, on, start_chosen[1] or m6_deviation)
        return
    if start_chosen[1] is not None:
        raise ValidationError(
            "start_deviation.rule_id",
            start_chosen[1].rule_id,
            f"[REC-DEVIATION] the month-6 decision on {on} starts no high-dose dexamethasone: "
            "there is no REG-PD-START reading to take",
        )
    starts = schedule.month_start(start, params.schedule.induction_months + 1, params)
    _transition(draft, events, decision, starts, on, m6_deviation)


def _progression_start_reading(
    params: ProtocolParameters, deviation: Deviation | None
) -> tuple[ProgressionStart, Deviation | None]:
    chosen = params.readings.progression_start
    if deviation is None:
        return chosen, None
    if deviation.rule_id != "REG-PD-START":
        raise ValidationError(
            "start_deviation.rule_id",
            deviation.rule_id,
            "[REC-DEVIATION] when high-dose dexamethasone starts is REG-PD-START: the "
            "deviation names that rule",
        )
    other: ProgressionStart = (
        "next_protocol_month" if chosen == "on_confirmation" else "on_confirmation"
    )
    return other, deviation


def confirm_progression(
    p: Patient,
    ctx: TrialContext,
    basis: str,
    on: date,
    deviation: Deviation | None = None,
    progression_date: date | None = None,
    start_deviation: Deviation | None = None,
) -> list[SubjectEvent]:
    """Progression at any time moves the patient to high-dose dexamethasone (REG-PD-ANYTIME;
    on high-dose dexamethasone it ends treatment, REG-PD-ON-HIGHDEX), starting as REG-PD-START
    reads; after treatment it is recorded without a regimen change. The rules must confirm PD
    on the corrected assessments of the current line (CONF-PD: two consecutive derived PD;
    CONF-PD-SINGLE: marrow, bone lesions, plasmacytoma or hypercalcaemia) unless a deviation
    naming CONF-PD gives the investigator's reason. Progression the rules confirm is dated when
    its criteria were first met; otherwise ``progression_date`` (default: ``on``)."""
    require_enrolled(p, "a progression")
    check_date(p, on, ctx)
    require_on_study(p, on, "progression", "treatment")
    _require_treatment_started(p, on, "a progression")
    params = p.params(ctx.amendment)
    start_reading, start_deviation = _progression_start_reading(params, start_deviation)
    line = len(p.progressions)
    current = [e for e in in_line(evaluate(p, params), line) if e.on <= on]
    run = first_progression(runs(current, params))
    by_rules = run is not None
    if p.progressions and not current:
        raise RuleViolation(
            f"[REC-PROGRESSION-DUPLICATE] progression of {p.subject_id} was confirmed on "
            f"{p.progressions[-1][1].effective_date}; no assessment since shows a new one"
        )
    if not by_rules and deviation is None:
        latest = ", ".join(f"{e.on} {e.derived}" for e in current[-3:]) or "none"
        raise RuleViolation(
            f"[CONF-PD] progression of {p.subject_id} is not confirmed by the rules: it needs "
            f"{params.confirmation.consecutive_assessments} consecutive assessments with derived "
            "PD (or one PD by marrow, bone lesions, plasmacytoma or hypercalcaemia, "
            f"CONF-PD-SINGLE) since the last baseline (latest: {latest}); record the "
            "investigator's judgement with a deviation naming CONF-PD and a reason"
        )
    if by_rules and deviation is not None:
        raise ValidationError(
            "deviation.rule_id",
            deviation.rule_id,
            "[REC-DEVIATION] the rules confirm progression (CONF-PD): there is no deviation "
            "to record",
        )
    if deviation is not None and deviation.rule_id != "CONF-PD":
        raise ValidationError(
            "deviation.rule_id",
            deviation.rule_id,
            "[REC-DEVIATION] progression without rule confirmation departs from CONF-PD: the "
            "deviation names that rule",
        )
    if run is not None:
        if progression_date is not None and progression_date != run.first_on:
            raise ValidationError(
                "progression_date",
                progression_date.isoformat(),
                f"[CONF-PD] the rules date this progression {run.first_on}, when its criteria "
                "were first met",
            )
        progression_date = run.first_on
    elif progression_date is not None and not (_treatment_start(p) <= progression_date <= on):
        raise ValidationError(
            "progression_date",
            progression_date.isoformat(),
            f"[REC-PROGRESSION-DATE] progression is dated between the treatment start "
            f"({_treatment_start(p)}) and its confirmation ({on})",
        )
    progression = build(
        ProgressionConfirmed,
        p,
        1,
        effective_date=on,
        basis=basis,
        rule_ids=run.rule_ids if run else ("CONF-PD",),
        deviation=deviation,
        progression_date=progression_date or on,
    )
    events: list[SubjectEvent] = [progression]
    draft = _draft(p, events)
    regimen = draft.regimen_on(on)
    if regimen in ON_TREATMENT:
        starts = schedule.progression_start(_treatment_start(p), on, params, start_reading)
        decision = schedule.regimen_after_progression(regimen)
        _transition(draft, events, decision, starts, on, start_deviation)
    elif start_deviation is not None:
        raise ValidationError(
            "start_deviation.rule_id",
            start_deviation.rule_id,
            f"[REC-DEVIATION] {p.subject_id} is off study treatment: no regimen starts",
        )
    return events


# --------------------------------------------------------------------------- regimen


def advance_regimen(
    p: Patient,
    ctx: TrialContext,
    on: date,
    *,
    physician_continues: bool = False,
    m6_deviation: Deviation | None = None,
) -> list[SubjectEvent]:
    """Apply every scheduled transition due by ``on`` (month 6 without a month-6 assessment,
    month 12, month 18, end of the high-dose course, end of follow-up), each taking effect on
    its due date (:func:`ledger.subject.evaluation.due_transition`)."""
    require_enrolled(p, "a regimen transition")
    check_date(p, on, ctx)
    require_on_study(p, on, "regimen transition", "follow-up")
    params = p.params(ctx.amendment)
    reading, m6_deviation = _month6_reading(params, m6_deviation)
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
        _transition(draft, events, decision, due_on, on, m6_deviation if m6 else None)
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


def stop_treatment(p: Patient, ctx: TrialContext, reason: str, on: date) -> list[SubjectEvent]:
    """Study treatment ends early or at the physician's discretion (REG-OFF-TREATMENT)."""
    require_enrolled(p, "the end of treatment")
    check_date(p, on, ctx)
    require_on_study(p, on, "end of treatment", "treatment")
    _refuse_records_after(p, on, "the end of treatment", doses_only=True)
    draft = p.copy()
    events: list[SubjectEvent] = []
    _transition(draft, events, schedule.end_treatment(draft.regimen_on(on), reason), on, on)
    return events


# --------------------------------------------------------------------------- safety


def _next_ae_id(p: Patient) -> str:
    numbers = [int(ae_id.split("-")[1]) for ae_id in p.adverse_events]
    return f"AE-{max(numbers, default=0) + 1:03d}"


def report_adverse_event(
    p: Patient,
    ctx: TrialContext,
    term: str,
    grade: int,
    attribution: str,
    action_taken: str,
    on: date,
    seriousness_criteria: Sequence[str] = (),
    ae_id: str | None = None,
) -> list[SubjectEvent]:
    require_enrolled(p, "an adverse event")
    check_date(p, on, ctx)
    require_on_study(p, on, "adverse event", "treatment")
    ae_id = ae_id or _next_ae_id(p)
    if ae_id in p.adverse_events:
        known = p.adverse_events[ae_id]
        raise RuleViolation(
            f"[AE-DUPLICATE] {ae_id} of {p.subject_id} was already reported "
            f"({show_position(known.position)}, {known.report.term})"
        )
    if action_taken in DRUG_ACTIONS and p.regimen_on(on) not in ON_TREATMENT:
        raise ValidationError(
            "action_taken",
            action_taken,
            f"[AE-ACTION] no study drug is given to {p.subject_id} on {on} (regimen "
            f"{p.regimen_on(on)}): the action taken is 'none' or 'not-applicable'",
        )
    event = build(
        AdverseEventReported,
        p,
        1,
        effective_date=on,
        ae_id=ae_id,
        term=term,
        grade=grade,
        attribution=attribution,
        serious=bool(seriousness_criteria),
        seriousness_criteria=tuple(seriousness_criteria),
        action_taken=action_taken,
    )
    check_values(event)
    return [event]


def resolve_adverse_event(
    p: Patient, ctx: TrialContext, ae_id: str, outcome: str, on: date
) -> list[SubjectEvent]:
    require_enrolled(p, "an adverse event resolution")
    check_date(p, on, ctx)
    require_on_study(p, on, "adverse event resolution", "follow-up")
    known = p.adverse_events.get(ae_id)
    if known is None:
        reported = ", ".join(sorted(p.adverse_events)) or "none"
        raise NotFoundError(
            f"[AE-UNKNOWN] subject {p.subject_id} has no adverse event {ae_id} "
            f"(reported: {reported})"
        )
    if known.resolution is not None:
        raise RuleViolation(
            f"[AE-RESOLVED] {ae_id} of {p.subject_id} was already resolved on "
            f"{known.resolution.effective_date} ({known.resolution.outcome})"
        )
    if on < known.report.effective_date:
        raise ValidationError(
            "date",
            on.isoformat(),
            f"[AE-RESOLVED] before the onset of {ae_id} on {known.report.effective_date}",
        )
    return [build(AdverseEventResolved, p, 1, effective_date=on, ae_id=ae_id, outcome=outcome)]


# --------------------------------------------------------------------------- end of study


def follow_up(
    p: Patient, ctx: TrialContext, disease_status: str, on: date, note: str = ""
) -> list[SubjectEvent]:
    require_enrolled(p, "a follow-up visit")
    check_date(p, on, ctx)
    require_on_study(p, on, "follow-up visit", "follow-up")
    regimen = p.regimen_on(on)
    if regimen not in (Regimen.FOLLOW_UP, Regimen.OFF_TREATMENT):
        raise RuleViolation(
            f"[REC-FOLLOW-UP-PHASE] follow-up visits start when study treatment ends; "
            f"{p.subject_id} is in regimen {regimen} on {on}"
        )
    period = p.period_on(on)
    if period is not None and regimen is Regimen.FOLLOW_UP:
        end = schedule.follow_up_end(period.starts_on, p.params(ctx.amendment))
        if on > end:
            raise RuleViolation(
                f"[REG-FU-COMPLETE] follow-up of {p.subject_id} ended on {end} (5 years after "
                f"study treatment ended on {period.starts_on}, last visit window included): "
                "no visit dated later; record `advance` or `off-study` to close the record"
            )
    return [build(FollowUpVisit, p, 1, effective_date=on, disease_status=disease_status, note=note)]


def withdraw(
    p: Patient, ctx: TrialContext, reason: str, on: date, consent_withdrawn: bool = True
) -> list[SubjectEvent]:
    """Consent withdrawn: off study (REG-WITHDRAWAL). Withdrawn from study treatment only:
    treatment ends (REG-OFF-TREATMENT) and follow-up starts."""
    require_screened(p, "withdrawal")
    check_date(p, on, ctx)
    require_status_open(p, "withdrawal")
    require_on_study(p, on, "withdrawal", "follow-up")
    if consent_withdrawn:
        _refuse_records_after(p, on, "the withdrawal of consent", doses_only=False)
    else:
        _refuse_records_after(p, on, "the withdrawal from treatment", doses_only=True)
    withdrawn = build(
        SubjectWithdrawn,
        p,
        1,
        effective_date=on,
        reason=reason,
        consent_withdrawn=consent_withdrawn,
    )
    events: list[SubjectEvent] = [withdrawn]
    draft = _draft(p, events)
    current = draft.regimen_on(on)
    if consent_withdrawn:
        _transition(draft, events, schedule.withdraw(current, reason), on, on)
        return events
    if current not in ON_TREATMENT:
        raise RuleViolation(
            f"[REC-NOT-ON-TREATMENT] subject {p.subject_id} is not on study treatment "
            f"(regimen {current}): withdraw consent, or record going off study, instead"
        )
    _transition(draft, events, schedule.end_treatment(current, reason), on, on)
    return events


def off_study(p: Patient, ctx: TrialContext, reason: str, on: date) -> list[SubjectEvent]:
    """Screen failure (REG-SCREEN-INELIGIBLE), follow-up complete (REG-FU-COMPLETE) or any
    other end of participation (REG-WITHDRAWAL)."""
    require_screened(p, "off-study")
    check_date(p, on, ctx)
    require_status_open(p, "off-study")
    require_on_study(p, on, "off-study", "follow-up")
    _refuse_records_after(p, on, "going off study", doses_only=False)
    event = build(SubjectOffStudy, p, 1, effective_date=on, reason=reason)
    events: list[SubjectEvent] = [event]
    draft = _draft(p, events)
    current = draft.regimen_on(on)
    params = p.params(ctx.amendment)
    decision = schedule.withdraw(current, reason)
    if current is Regimen.SCREENING and p.eligibility is not None and not p.eligibility.eligible:
        screened_out = schedule.regimen_after_screening(eligible=False)
        decision = screened_out.model_copy(update={"reason": f"{screened_out.reason}: {reason}"})
    elif current is Regimen.FOLLOW_UP and (period := draft.period_on(on)) is not None:
        visits = schedule.follow_up_visits(period.starts_on, params)
        if on >= visits[-1]:
            decision = schedule.follow_up_complete(current)
    _transition(draft, events, decision, on, on)
    return events


def record_death(p: Patient, ctx: TrialContext, cause: str, on: date) -> list[SubjectEvent]:
    require_enrolled(p, "a death")
    check_date(p, on, ctx)
    require_status_open(p, "death")
    require_on_study(p, on, "death", "follow-up")
    _refuse_records_after(p, on, "the death", doses_only=False)
    died = build(SubjectDied, p, 1, effective_date=on, cause=cause)
    events: list[SubjectEvent] = [died]
    draft = _draft(p, events)
    _transition(draft, events, schedule.died(draft.regimen_on(on), cause), on, on)
    return events


# --------------------------------------------------------------------------- audit


def correct(
    p: Patient,
    ctx: TrialContext,
    position: int,
    field: str,
    new_value: str,
    reason: str,
    on: date,
    old_value: str | None = None,
) -> list[SubjectEvent]:
    require_screened(p, "correction")
    check_date(p, on, ctx)
    target = p.record_at(position)
    if target is None:
        raise NotFoundError(
            f"[REC-CORRECT-TARGET] position {position} holds no event of subject "
            f"{p.subject_id} (its events are at positions {_ranges(p.positions)})"
        )
    topic = target.current.TOPIC
    name = event_name(topic)
    if topic in NOT_CORRECTABLE:
        raise RuleViolation(
            f"[REC-CORRECT-TOPIC] {name} at position {position} is not corrected: "
            f"{NOT_CORRECTABLE[topic]}"
        )
    if target.entered_in_error:
        raise RuleViolation(
            f"[REC-CORRECT-TOPIC] {name} at position {position} was marked entered in error: "
            "it is no longer corrected"
        )
    if field == RECORD_STATUS_FIELD:
        current_text = RECORD_VALID
        if topic not in VOIDABLE:
            raise ValidationError(
                "field",
                field,
                f"[REC-CORRECT-FIELD] {name} started a regimen or was derived by a rule: it "
                "cannot be marked entered in error",
            )
        if new_value != ENTERED_IN_ERROR:
            raise ValidationError(
                "new_value",
                new_value,
                f"[REC-CORRECT-FIELD] {RECORD_STATUS_FIELD} changes from {RECORD_VALID} to "
                f"{ENTERED_IN_ERROR}",
            )
    else:
        current_text = field_text(target.current, field)
    if old_value is not None and old_value != current_text:
        raise ValidationError(
            "old_value",
            old_value,
            f"[REC-CORRECT-OLD] {name} at position {position} has "
            f"{field}={show_value(current_text)}",
        )
    if new_value == current_text:
        raise ValidationError(
            "new_value",
            new_value,
            f"[REC-CORRECT-SAME] {field} of position {position} already has that value",
        )
    if field != RECORD_STATUS_FIELD:
        corrected = with_field(target.current, field, new_value)
        if corrected == target.current:  # another spelling of the same value (100 vs 100.0)
            raise ValidationError(
                "new_value",
                new_value,
                f"[REC-CORRECT-SAME] {field} of position {position} already has that value "
                f"({show_value(current_text)})",
            )
        check_values(corrected)
        _check_corrected(p, ctx, target.current, corrected, position)
    return [
        build(
            CorrectionRecorded,
            p,
            1,
            effective_date=on,
            corrects_position=position,
            corrected_topic=topic,
            field=field,
            old_value=current_text,
            new_value=new_value,
            reason=reason,
        )
    ]


def _check_corrected(
    p: Patient, ctx: TrialContext, before: SubjectEvent, after: SubjectEvent, position: int
) -> None:
    if after.effective_date != before.effective_date:
        if after.effective_date > ctx.today:
            raise ValidationError(
                "new_value",
                after.effective_date.isoformat(),
                f"[REC-DATE-FUTURE] a clinical date may not be after today ({ctx.today})",
            )
        if isinstance(after, SubjectScreened):
            others = [r.current.effective_date for r in p.records if r.position != position]
            if others and after.effective_date > min(others):
                raise ValidationError(
                    "new_value",
                    after.effective_date.isoformat(),
                    f"[REC-DATE-BEFORE-SCREENING] the subject has events dated {min(others)}, "
                    "before that screening date",
                )
        else:
            check_date(p, after.effective_date, ctx, field="new_value")
            _check_moved(p, after)
    if isinstance(after, DoseAdministered):
        _check_corrected_dose(p, ctx, after)
    if isinstance(after, DoseAdministered | DoseMissed) and isinstance(
        before, DoseAdministered | DoseMissed
    ):
        key = (after.drug, after.effective_date)
        if key != (before.drug, before.effective_date) and (key in p.doses or key in p.missed):
            raise RuleViolation(
                f"[REC-DUPLICATE-DOSE] {after.drug} on {after.effective_date} is already "
                f"recorded for {p.subject_id}: the correction would duplicate it"
            )


_TREATMENT_RECORDS = (DoseAdministered, DoseMissed, AdverseEventReported)
_ENDS = (SubjectWithdrawn, SubjectOffStudy, SubjectDied)


def _check_moved(p: Patient, after: SubjectEvent) -> None:
    """A clinical date moved by a correction obeys the rules a new record on that date would:
    not after death, consent withdrawal or going off study (treatment records: not after a
    withdrawal from treatment either), an AE resolved on or after its onset."""
    if isinstance(after, (*_ENDS, RegimenChanged)):
        return
    on = after.effective_date
    activity: Activity = "treatment" if isinstance(after, _TREATMENT_RECORDS) else "follow-up"
    require_on_study(p, on, f"{event_name(after.TOPIC)}", activity)
    if isinstance(after, AdverseEventReported | AdverseEventResolved):
        known = p.adverse_events.get(after.ae_id)
        onset = after.effective_date if isinstance(after, AdverseEventReported) else None
        resolved = after.effective_date if isinstance(after, AdverseEventResolved) else None
        if known is not None:
            onset = onset or known.onset
            resolved = resolved or (known.resolution.effective_date if known.resolution else None)
        if onset is not None and resolved is not None and resolved < onset:
            raise ValidationError(
                "new_value",
                after.effective_date.isoformat(),
                f"[AE-RESOLVED] {after.ae_id} would be resolved ({resolved}) before its onset "
                f"({onset})",
            )


def _check_corrected_dose(p: Patient, ctx: TrialContext, after: DoseAdministered) -> None:
    """[REC-CORRECT-RULES] A dose as the correction leaves it must be one the dosing rules
    accept on its date (or carry a deviation naming the rule it departs from), and not dated
    on or after a transition the protocol made due (REC-TRANSITION-DUE)."""
    on = after.effective_date
    require_on_study(p, on, "dose", "treatment")
    _refuse_due_transition(p, p.params(ctx.amendment), on, "dose")
    try:
        _dose_check(p, p.params(ctx.amendment), on, after.drug, after.dose, after.route)
    except DoseRuleViolation as v:
        if after.deviation is None or after.deviation.rule_id != v.rule_id:
            raise RuleViolation(
                f"[REC-CORRECT-RULES] the corrected dose departs from {v.rule_id} ({v}): a "
                "dose is corrected to what the calendar calls for, or recorded as given with "
                "a deviation naming the rule"
            ) from None


def _ranges(positions: Sequence[int]) -> str:
    if not positions:
        return "none"
    shown = ", ".join(str(x) for x in positions[:20])
    return shown + (f", ... ({len(positions)} in all)" if len(positions) > 20 else "")


def sign(
    p: Patient,
    ctx: TrialContext,
    positions: Sequence[int],
    meaning: str,
    statement: str,
    on: date,
) -> list[SubjectEvent]:
    require_screened(p, "signature")
    check_date(p, on, ctx)
    if not positions:
        raise ValidationError("positions", "", "[REC-SIGN-TARGET] sign at least one position")
    if len(set(positions)) != len(positions):
        raise ValidationError(
            "positions", ",".join(map(str, positions)), "[REC-SIGN-TARGET] each position once"
        )
    foreign = [x for x in positions if p.record_at(x) is None]
    if foreign:
        raise NotFoundError(
            f"[REC-SIGN-TARGET] positions {', '.join(map(str, foreign))} hold no event of "
            f"subject {p.subject_id} (its events are at positions {_ranges(p.positions)})"
        )
    return [
        build(
            RecordSigned,
            p,
            1,
            effective_date=on,
            meaning=meaning,
            positions=tuple(positions),
            statement=statement,
        )
    ]
