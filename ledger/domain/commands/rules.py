"""Rules and builders the recording commands share: regimen changes, drafts, dates, doses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from ledger.domain.commands.base import Cli
from ledger.domain.guards import build, require_enrolled
from ledger.domain.patient import Patient
from ledger.errors import RuleViolation, ValidationError, show_position
from ledger.events import (
    CorrectionRecorded,
    Deviation,
    DoseAdministered,
    DoseMissed,
    RecordSigned,
    RegimenChanged,
    SubjectEvent,
    event_name,
)
from ledger.protocol import schedule
from ledger.protocol.parameters import Month6Basis, ProgressionStart, ProtocolParameters
from ledger.protocol.schedule import ON_TREATMENT, Regimen, RegimenDecision
from ledger.subject import evaluation
from ledger.subject.corrections import Record

DRUG_ACTIONS = frozenset({"dose-held", "dose-reduced", "drug-withdrawn"})

OTHER_MONTH6_READING = Cli(
    "--other-month6-reading",
    rule="REG-M6-BASIS",
    help="Decide month 6 by the other reading of REG-M6-BASIS (confirmed categories only), "
    "and why: recorded as a deviation on the regimen change.",
)

START_NEXT_MONTH = Cli(
    "--start-next-month",
    rule="REG-PD-START",
    help="Start high-dose dexamethasone on day 1 of the next protocol month (the other "
    "reading of REG-PD-START), and why: recorded as a deviation.",
)


def regimen_change(
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


def transition(
    p: Patient,
    events: list[SubjectEvent],
    decision: RegimenDecision,
    starts_on: date,
    on: date,
    deviation: Deviation | None = None,
) -> None:
    """Append the regimen change ``decision`` (and, when it ends treatment, the start of
    follow-up) to ``events``, folding each into ``p`` (a draft) as it goes."""
    change = regimen_change(p, 1, decision, starts_on, on, p.regimen_on(starts_on), deviation)
    events.append(change)
    p.apply(change)
    if decision.regimen is Regimen.OFF_TREATMENT:
        decision = schedule.end_of_treatment(Regimen.OFF_TREATMENT)
        follow = regimen_change(p, 1, decision, starts_on, on, p.regimen_on(starts_on))
        events.append(follow)
        p.apply(follow)


def draft_of(p: Patient, events: Sequence[SubjectEvent]) -> Patient:
    draft = p.copy()
    for event in events:
        draft.apply(event)
    return draft


def treatment_start(p: Patient) -> date:
    return require_enrolled(p, "treatment").treatment_start


def require_treatment_started(p: Patient, on: date, what: str) -> None:
    start = treatment_start(p)
    if on < start:
        raise ValidationError(
            "date",
            on.isoformat(),
            f"[REC-DATE-BEFORE-TREATMENT] {what} is dated from the treatment start "
            f"({start}) of subject {p.subject_id}",
        )


_NOT_CLINICAL = (RegimenChanged, CorrectionRecorded, RecordSigned)


def recorded_from(p: Patient, on: date, *, doses_only: bool, same_day: bool) -> list[Record]:
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


def refuse_records_after(p: Patient, on: date, what: str, *, doses_only: bool) -> None:
    """[REC-END-BEFORE-RECORDS] The end of treatment is its first day without study drug:
    no dose may be recorded on or after it. The end of participation (consent withdrawn, off
    study, death) may not precede any clinical record (the same day is allowed)."""
    later = recorded_from(p, on, doses_only=doses_only, same_day=doses_only)
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


def refuse_due_transition(p: Patient, params: ProtocolParameters, on: date, what: str) -> None:
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


def dose_check(
    p: Patient, params: ProtocolParameters, on: date, drug: str, dose: Decimal, route: str
) -> None:
    period = p.period_on(on)
    regimen = period.regimen if period else Regimen.SCREENING
    course_start = period.course_start if period else on
    schedule.check_dose(
        regimen,
        treatment_start(p),
        course_start,
        on,
        drug,  # type: ignore[arg-type]
        dose,
        route,  # type: ignore[arg-type]
        params,
    )


def ranges(positions: Sequence[int]) -> str:
    if not positions:
        return "none"
    shown = ", ".join(str(x) for x in positions[:20])
    return shown + (f", ... ({len(positions)} in all)" if len(positions) > 20 else "")


def month6_reading(
    params: ProtocolParameters, deviation: Deviation | None
) -> tuple[Month6Basis, Deviation | None]:
    """The REG-M6-BASIS reading to apply: the protocol's, or the other one when the
    investigator records it with a deviation naming REG-M6-BASIS and a reason."""
    chosen = params.readings.month6_basis
    if deviation is None:
        return chosen, None
    if deviation.rule_id != "REG-M6-BASIS":
        raise ValidationError(
            "other_month6_reading.rule_id",
            deviation.rule_id,
            "[REC-DEVIATION] the month-6 decision departs only from REG-M6-BASIS (what it "
            "reads): the deviation names that rule",
        )
    other: Month6Basis = "confirmed" if chosen == "month6_assessment" else "month6_assessment"
    return other, deviation


def progression_start_reading(
    params: ProtocolParameters, deviation: Deviation | None
) -> tuple[ProgressionStart, Deviation | None]:
    chosen = params.readings.progression_start
    if deviation is None:
        return chosen, None
    if deviation.rule_id != "REG-PD-START":
        raise ValidationError(
            "start_next_month.rule_id",
            deviation.rule_id,
            "[REC-DEVIATION] when high-dose dexamethasone starts is REG-PD-START: the "
            "deviation names that rule",
        )
    other: ProgressionStart = (
        "next_protocol_month" if chosen == "on_confirmation" else "on_confirmation"
    )
    return other, deviation
