"""Safety: adverse events reported and resolved (CTCAE terms and grades)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ledger.domain.commands.base import Cli, Command, Whole, handles
from ledger.domain.commands.rules import DRUG_ACTIONS
from ledger.domain.guards import (
    TrialContext,
    build,
    check_date,
    check_values,
    require_enrolled,
    require_on_study,
)
from ledger.domain.patient import Patient
from ledger.errors import NotFoundError, RuleViolation, ValidationError, show_position
from ledger.events import (
    ActionTaken,
    AdverseEventReported,
    AdverseEventResolved,
    AeId,
    Attribution,
    Seriousness,
    ShortText,
    SubjectEvent,
)
from ledger.protocol.schedule import ON_TREATMENT


class ReportAdverseEvent(Command):
    """Report an adverse event (onset on --date); it is serious when a criterion is given.

    Example: trial-ledger ae --db trial.db --key cole.key --subject MC0282-001-017
    --term "Injection site reaction" --grade 1 --attribution definite --action none
    --date 2003-01-20
    """

    name = "ae"
    command: Literal["ae"] = "ae"
    own_event = AdverseEventReported
    term: ShortText = Field(description="CTCAE term, e.g. 'Injection site reaction'.")
    grade: Whole = Field(ge=1, le=5, description="CTCAE grade 1-5.")
    attribution: Attribution = Field(
        description="unrelated, unlikely, possible, probable, definite."
    )
    action_taken: Annotated[ActionTaken, Cli("--action")] = Field(
        description="none, dose-held, dose-reduced, drug-withdrawn, not-applicable."
    )
    seriousness_criteria: Annotated[tuple[Seriousness, ...], Cli("--serious")] = Field(
        default=(),
        description="Seriousness criterion (repeatable): death, life-threatening, "
        "hospitalisation, disability, congenital-anomaly, important-medical-event.",
    )
    ae_id: AeId | None = Field(
        default=None, max_length=10, description="AE id (default: the next AE-NNN)."
    )


class ResolveAdverseEvent(Command):
    """Record the resolution of a reported adverse event.

    Example: trial-ledger ae-resolve --db trial.db --key cole.key --subject MC0282-001-017
    --ae-id AE-001 --outcome recovered --date 2003-01-27
    """

    name = "ae-resolve"
    command: Literal["ae-resolve"] = "ae-resolve"
    own_event = AdverseEventResolved
    ae_id: AeId = Field(max_length=10, description="The AE resolved, e.g. AE-001.")
    outcome: Literal["recovered", "recovered-with-sequelae", "fatal", "unknown"] = Field(
        description="recovered, recovered-with-sequelae, fatal or unknown."
    )


def _next_ae_id(p: Patient) -> str:
    numbers = [int(ae_id.split("-")[1]) for ae_id in p.adverse_events]
    return f"AE-{max(numbers, default=0) + 1:03d}"


@handles(ReportAdverseEvent)
def report_adverse_event(
    p: Patient, ctx: TrialContext, cmd: ReportAdverseEvent
) -> list[SubjectEvent]:
    term, grade, attribution, action_taken, on = (
        cmd.term,
        cmd.grade,
        cmd.attribution,
        cmd.action_taken,
        cmd.date,
    )
    seriousness_criteria, ae_id = cmd.seriousness_criteria, cmd.ae_id
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


@handles(ResolveAdverseEvent)
def resolve_adverse_event(
    p: Patient, ctx: TrialContext, cmd: ResolveAdverseEvent
) -> list[SubjectEvent]:
    ae_id, outcome, on = cmd.ae_id, cmd.outcome, cmd.date
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
