"""Progression confirmed by the investigator (the rules confirm it at an assessment too)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field

from ledger.domain.commands.base import Cli, ClinicalDate, Command, handles
from ledger.domain.commands.rules import (
    START_NEXT_MONTH,
    draft_of,
    progression_start_reading,
    require_treatment_started,
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
from ledger.errors import RuleViolation, ValidationError
from ledger.events import (
    Deviation,
    ProgressionConfirmed,
    Reason,
    RegimenChanged,
    SubjectEvent,
)
from ledger.protocol import schedule
from ledger.protocol.parameters import ProtocolParameters
from ledger.protocol.response import ConfirmedResponse, first_progression
from ledger.protocol.schedule import ON_TREATMENT
from ledger.subject.evaluation import evaluate, in_line, runs


class ConfirmProgression(Command):
    """Confirm progression (investigator); on treatment, moves to high-dose dexamethasone.

    The regimen change (REG-PD-ANYTIME) is written in the same commit and starts that day
    (REG-PD-START). The rules must confirm PD on the corrected assessments (two consecutive
    derived PD, CONF-PD; or one PD by marrow plasma cells, new bone lesions, plasmacytoma or
    hypercalcaemia, CONF-PD-SINGLE) unless --deviation-reason records the investigator's
    judgement as a protocol deviation. Progression is dated when its criteria were first met.

    Example: trial-ledger progression --db trial.db --key ada.key --subject MC0282-001-017
    --basis "serum M-protein up 40% from nadir on two assessments" --date 2003-04-28
    """

    name = "progression"
    command: Literal["progression"] = "progression"
    own_event = ProgressionConfirmed
    rule_events = frozenset({RegimenChanged})
    event_fields = (("start_next_month", None),)
    basis: Reason = Field(description="What shows the progression.")
    deviation: Annotated[
        Deviation | None,
        Cli(
            "--deviation-reason",
            rule="CONF-PD",
            help="Confirm although the rules do not (yet): a deviation from CONF-PD, and why.",
        ),
    ] = Field(
        default=None,
        description="Progression the rules do not (yet) confirm: a deviation naming CONF-PD "
        "and the investigator's reason.",
    )
    progression_date: ClinicalDate | None = Field(
        default=None,
        description="With a deviation: when the criteria were first met (default: the date). "
        "Progression the rules confirm is dated by them.",
    )
    start_next_month: Annotated[Deviation | None, START_NEXT_MONTH] = Field(
        default=None,
        description="High-dose dexamethasone from day 1 of the next protocol month (the other "
        "reading of REG-PD-START), and why.",
    )


@handles(ConfirmProgression)
def confirm_progression(
    p: Patient, ctx: TrialContext, cmd: ConfirmProgression
) -> list[SubjectEvent]:
    """Progression at any time moves the patient to high-dose dexamethasone (REG-PD-ANYTIME;
    on high-dose dexamethasone it ends treatment, REG-PD-ON-HIGHDEX), starting as REG-PD-START
    reads; after treatment it is recorded without a regimen change. The rules must confirm PD
    on the corrected assessments of the current line (CONF-PD: two consecutive derived PD;
    CONF-PD-SINGLE: marrow, bone lesions, plasmacytoma or hypercalcaemia) unless a deviation
    naming CONF-PD gives the investigator's reason. Progression the rules confirm is dated when
    its criteria were first met; otherwise ``progression_date`` (default: the date)."""
    on, deviation = cmd.date, cmd.deviation
    require_enrolled(p, "a progression")
    check_date(p, on, ctx)
    require_on_study(p, on, "progression", "treatment")
    require_treatment_started(p, on, "a progression")
    params = p.params(ctx.amendment)
    start_reading, start_deviation = progression_start_reading(params, cmd.start_next_month)
    run = _progression_run(p, params, on, deviation)
    progression = build(
        ProgressionConfirmed,
        p,
        1,
        effective_date=on,
        basis=cmd.basis,
        rule_ids=run.rule_ids if run else ("CONF-PD",),
        deviation=deviation,
        progression_date=_progression_date(p, run, on, cmd.progression_date),
    )
    events: list[SubjectEvent] = [progression]
    draft = draft_of(p, events)
    regimen = draft.regimen_on(on)
    if regimen in ON_TREATMENT:
        starts = schedule.progression_start(treatment_start(p), on, params, start_reading)
        decision = schedule.regimen_after_progression(regimen)
        transition(draft, events, decision, starts, on, start_deviation)
    elif start_deviation is not None:
        raise ValidationError(
            "start_next_month.rule_id",
            start_deviation.rule_id,
            f"[REC-DEVIATION] {p.subject_id} is off study treatment: no regimen starts",
        )
    return events


def _progression_run(
    p: Patient, params: ProtocolParameters, on: date, deviation: Deviation | None
) -> ConfirmedResponse | None:
    """The run of assessments by which the rules confirm progression by ``on`` (None: the
    investigator's judgement, which needs a deviation naming CONF-PD)."""
    line = len(p.progressions)
    current = [e for e in in_line(evaluate(p, params), line) if e.on <= on]
    run = first_progression(runs(current, params))
    if p.progressions and not current:
        raise RuleViolation(
            f"[REC-PROGRESSION-DUPLICATE] progression of {p.subject_id} was confirmed on "
            f"{p.progressions[-1][1].effective_date}; no assessment since shows a new one"
        )
    if run is None and deviation is None:
        latest = ", ".join(f"{e.on} {e.derived}" for e in current[-3:]) or "none"
        raise RuleViolation(
            f"[CONF-PD] progression of {p.subject_id} is not confirmed by the rules: it needs "
            f"{params.confirmation.consecutive_assessments} consecutive assessments with derived "
            "PD (or one PD by marrow, bone lesions, plasmacytoma or hypercalcaemia, "
            f"CONF-PD-SINGLE) since the last baseline (latest: {latest}); record the "
            "investigator's judgement with a deviation naming CONF-PD and a reason"
        )
    if run is not None and deviation is not None:
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
    return run


def _progression_date(
    p: Patient, run: ConfirmedResponse | None, on: date, given: date | None
) -> date:
    """When progression's criteria were first met: as the rules date it, or as the
    investigator gives it (REC-PROGRESSION-DATE), by default the confirmation date."""
    if run is not None:
        if given is not None and given != run.first_on:
            raise ValidationError(
                "progression_date",
                given.isoformat(),
                f"[CONF-PD] the rules date this progression {run.first_on}, when its criteria "
                "were first met",
            )
        return run.first_on
    if given is not None and not (treatment_start(p) <= given <= on):
        raise ValidationError(
            "progression_date",
            given.isoformat(),
            f"[REC-PROGRESSION-DATE] progression is dated between the treatment start "
            f"({treatment_start(p)}) and its confirmation ({on})",
        )
    return given or on
