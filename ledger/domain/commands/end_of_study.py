"""End of study: follow-up visits, withdrawal, going off study, death."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ledger.domain.commands.base import Cli, Command, Flag, handles
from ledger.domain.commands.rules import draft_of, refuse_records_after, transition
from ledger.domain.guards import (
    TrialContext,
    build,
    check_date,
    require_enrolled,
    require_on_study,
    require_screened,
    require_status_open,
)
from ledger.domain.patient import Patient
from ledger.errors import RuleViolation
from ledger.events import (
    FollowUpVisit,
    PlainText,
    Reason,
    RegimenChanged,
    SubjectDied,
    SubjectEvent,
    SubjectOffStudy,
    SubjectWithdrawn,
)
from ledger.protocol import schedule
from ledger.protocol.schedule import ON_TREATMENT, Regimen


class RecordFollowUp(Command):
    """Record a follow-up visit (after study treatment ended).

    Example: trial-ledger follow-up --db trial.db --key cole.key --subject MC0282-001-017
    --status no-progression --date 2004-07-01
    """

    name = "follow-up"
    command: Literal["follow-up"] = "follow-up"
    own_event = FollowUpVisit
    disease_status: Annotated[
        Literal["no-progression", "progression", "unknown"], Cli("--status")
    ] = Field(description="no-progression, progression or unknown.")
    note: PlainText = Field(default="", description="Free-text note.")


class Withdraw(Command):
    """Record a withdrawal: of consent (off study), or with --treatment-only of treatment.

    Example: trial-ledger withdraw --db trial.db --key cole.key --subject MC0282-001-017
    --reason "moved away" --date 2003-03-01
    """

    name = "withdraw"
    command: Literal["withdraw"] = "withdraw"
    own_event = SubjectWithdrawn
    rule_events = frozenset({RegimenChanged})
    reason: Reason = Field(description="Why (recorded in the ledger).")
    consent_withdrawn: Annotated[Flag, Cli("--consent-withdrawn/--treatment-only")] = Field(
        default=True,
        description="Consent withdrawn (off study); false (--treatment-only): withdrawn from "
        "study treatment only, consent kept, follow-up continues.",
    )


class TakeOffStudy(Command):
    """Take a subject off study (screen failure, follow-up complete, lost to follow-up).

    Example: trial-ledger off-study --db trial.db --key cole.key --subject MC0282-001-018
    --reason "screen failure: ANC below threshold" --date 2003-01-09
    """

    name = "off-study"
    command: Literal["off-study"] = "off-study"
    own_event = SubjectOffStudy
    rule_events = frozenset({RegimenChanged})
    reason: Reason = Field(description="Why (recorded in the ledger).")


class RecordDeath(Command):
    """Record a subject's death (investigator); only corrections and signatures may follow.

    Example: trial-ledger death --db trial.db --key ada.key --subject MC0282-001-017
    --cause "myocardial infarction" --date 2006-02-11
    """

    name = "death"
    command: Literal["death"] = "death"
    own_event = SubjectDied
    rule_events = frozenset({RegimenChanged})
    cause: Reason = Field(description="Cause of death.")


@handles(RecordFollowUp)
def follow_up(p: Patient, ctx: TrialContext, cmd: RecordFollowUp) -> list[SubjectEvent]:
    disease_status, on, note = cmd.disease_status, cmd.date, cmd.note
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


@handles(Withdraw)
def withdraw(p: Patient, ctx: TrialContext, cmd: Withdraw) -> list[SubjectEvent]:
    """Consent withdrawn: off study (REG-WITHDRAWAL). Withdrawn from study treatment only:
    treatment ends (REG-OFF-TREATMENT) and follow-up starts."""
    reason, on, consent_withdrawn = cmd.reason, cmd.date, cmd.consent_withdrawn
    require_screened(p, "withdrawal")
    check_date(p, on, ctx)
    require_status_open(p, "withdrawal")
    require_on_study(p, on, "withdrawal", "follow-up")
    if consent_withdrawn:
        refuse_records_after(p, on, "the withdrawal of consent", doses_only=False)
    else:
        refuse_records_after(p, on, "the withdrawal from treatment", doses_only=True)
    withdrawn = build(
        SubjectWithdrawn,
        p,
        1,
        effective_date=on,
        reason=reason,
        consent_withdrawn=consent_withdrawn,
    )
    events: list[SubjectEvent] = [withdrawn]
    draft = draft_of(p, events)
    current = draft.regimen_on(on)
    if consent_withdrawn:
        transition(draft, events, schedule.withdraw(current, reason), on, on)
        return events
    if current not in ON_TREATMENT:
        raise RuleViolation(
            f"[REC-NOT-ON-TREATMENT] subject {p.subject_id} is not on study treatment "
            f"(regimen {current}): withdraw consent, or record going off study, instead"
        )
    transition(draft, events, schedule.end_treatment(current, reason), on, on)
    return events


@handles(TakeOffStudy)
def off_study(p: Patient, ctx: TrialContext, cmd: TakeOffStudy) -> list[SubjectEvent]:
    """Screen failure (REG-SCREEN-INELIGIBLE), follow-up complete (REG-FU-COMPLETE) or any
    other end of participation (REG-WITHDRAWAL)."""
    reason, on = cmd.reason, cmd.date
    require_screened(p, "off-study")
    check_date(p, on, ctx)
    require_status_open(p, "off-study")
    require_on_study(p, on, "off-study", "follow-up")
    refuse_records_after(p, on, "going off study", doses_only=False)
    event = build(SubjectOffStudy, p, 1, effective_date=on, reason=reason)
    events: list[SubjectEvent] = [event]
    draft = draft_of(p, events)
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
    transition(draft, events, decision, on, on)
    return events


@handles(RecordDeath)
def record_death(p: Patient, ctx: TrialContext, cmd: RecordDeath) -> list[SubjectEvent]:
    cause, on = cmd.cause, cmd.date
    require_enrolled(p, "a death")
    check_date(p, on, ctx)
    require_status_open(p, "death")
    require_on_study(p, on, "death", "follow-up")
    refuse_records_after(p, on, "the death", doses_only=False)
    died = build(SubjectDied, p, 1, effective_date=on, cause=cause)
    events: list[SubjectEvent] = [died]
    draft = draft_of(p, events)
    transition(draft, events, schedule.died(draft.regimen_on(on), cause), on, on)
    return events
