"""Corrections and signatures: a field corrected (the original stays), records signed."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ledger.domain.commands.base import Cli, Command, Whole, handles
from ledger.domain.commands.rules import dose_check, ranges, refuse_due_transition
from ledger.domain.guards import (
    Activity,
    TrialContext,
    build,
    check_date,
    check_values,
    require_on_study,
    require_screened,
)
from ledger.domain.patient import Patient
from ledger.errors import NotFoundError, RuleViolation, ValidationError, show_value
from ledger.events import (
    ENTERED_IN_ERROR,
    RECORD_STATUS_FIELD,
    RECORD_VALID,
    AdverseEventReported,
    AdverseEventResolved,
    CorrectionRecorded,
    DoseAdministered,
    DoseMissed,
    PlainText,
    Reason,
    RecordSigned,
    RegimenChanged,
    ShortText,
    SubjectDied,
    SubjectEvent,
    SubjectOffStudy,
    SubjectScreened,
    SubjectWithdrawn,
    event_name,
)
from ledger.protocol.schedule import DoseRuleViolation
from ledger.subject.corrections import NOT_CORRECTABLE, VOIDABLE, Record, field_text, with_field


class Correct(Command):
    """Correct one field of an event; the original stays in the ledger and in every audit view.

    Example: trial-ledger correct --db trial.db --key cole.key --subject MC0282-001-017
    --position 42 --field value --old 29 --new 2.9 --reason "decimal point missed"
    """

    name = "correct"
    command: Literal["correct"] = "correct"
    own_event = CorrectionRecorded
    event_fields = (("position", "corrects_position"),)
    position: Whole = Field(ge=1, description="Position of the event corrected.")
    field: ShortText = Field(
        description="Field corrected (e.g. dose, effective_date, baseline.hs_crp_mg_l), or "
        "record_status to mark the event entered in error."
    )
    new_value: Annotated[PlainText, Cli("--new")] = Field(
        description="New value ('entered-in-error' for record_status)."
    )
    old_value: Annotated[PlainText | None, Cli("--old")] = Field(
        default=None, description="Value you expect it to have now (refused if it differs)."
    )
    reason: Reason = Field(description="Why (recorded in the ledger).")


class Sign(Command):
    """Sign a subject's records with a meaning (review, approval, responsibility).

    Example: trial-ledger sign --db trial.db --key mona.key --subject MC0282-001-017
    --positions 40-45 --meaning review --statement "source data verified"
    """

    name = "sign"
    importable = False
    command: Literal["sign"] = "sign"
    own_event = RecordSigned
    event_fields = (("signature_meaning", "meaning"),)
    positions: Annotated[tuple[Whole, ...], Cli(positions=True)] = Field(
        description="Positions signed, e.g. 40,41,42 or 40-42."
    )
    signature_meaning: Annotated[
        Literal["review", "approval", "responsibility"], Cli("--meaning")
    ] = Field(description="review, approval or responsibility.")
    statement: Reason = Field(description="What you attest.")

    @property
    def meaning(self) -> str:
        return self.signature_meaning


@handles(Correct)
def correct(p: Patient, ctx: TrialContext, cmd: Correct) -> list[SubjectEvent]:
    position, field, new_value = cmd.position, cmd.field, cmd.new_value
    require_screened(p, "correction")
    check_date(p, cmd.date, ctx)
    target = _correctable(p, position)
    name = event_name(target.current.TOPIC)
    current_text = _current_text(target, field, new_value)
    if cmd.old_value is not None and cmd.old_value != current_text:
        raise ValidationError(
            "old_value",
            cmd.old_value,
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
            effective_date=cmd.date,
            corrects_position=position,
            corrected_topic=target.current.TOPIC,
            field=field,
            old_value=current_text,
            new_value=new_value,
            reason=cmd.reason,
        )
    ]


def _correctable(p: Patient, position: int) -> Record:
    """The subject's record at ``position``, if a correction may change it."""
    target = p.record_at(position)
    if target is None:
        raise NotFoundError(
            f"[REC-CORRECT-TARGET] position {position} holds no event of subject "
            f"{p.subject_id} (its events are at positions {ranges(p.positions)})"
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
    return target


def _current_text(target: Record, field: str, new_value: str) -> str:
    """The field's current value as text (``record_status``: valid, which may change only to
    entered-in-error, and only on a voidable record)."""
    if field != RECORD_STATUS_FIELD:
        return field_text(target.current, field)
    if target.current.TOPIC not in VOIDABLE:
        raise ValidationError(
            "field",
            field,
            f"[REC-CORRECT-FIELD] {event_name(target.current.TOPIC)} started a regimen or was "
            "derived by a rule: it cannot be marked entered in error",
        )
    if new_value != ENTERED_IN_ERROR:
        raise ValidationError(
            "new_value",
            new_value,
            f"[REC-CORRECT-FIELD] {RECORD_STATUS_FIELD} changes from {RECORD_VALID} to "
            f"{ENTERED_IN_ERROR}",
        )
    return RECORD_VALID


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
    refuse_due_transition(p, p.params(ctx.amendment), on, "dose")
    try:
        dose_check(p, p.params(ctx.amendment), on, after.drug, after.dose, after.route)
    except DoseRuleViolation as v:
        if after.deviation is None or after.deviation.rule_id != v.rule_id:
            raise RuleViolation(
                f"[REC-CORRECT-RULES] the corrected dose departs from {v.rule_id} ({v}): a "
                "dose is corrected to what the calendar calls for, or recorded as given with "
                "a deviation naming the rule"
            ) from None


@handles(Sign)
def sign(p: Patient, ctx: TrialContext, cmd: Sign) -> list[SubjectEvent]:
    positions, meaning, statement, on = (
        cmd.positions,
        cmd.signature_meaning,
        cmd.statement,
        cmd.date,
    )
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
            f"subject {p.subject_id} (its events are at positions {ranges(p.positions)})"
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
