"""Corrections and voids: the one place where a recorded event gets its current form.

A :class:`Record` keeps an event as recorded and as it stands after corrections;
:func:`apply_correction` is the only code that changes a record, for the recording rules
(:class:`ledger.domain.patient.Patient`) and every projection alike
(:func:`ledger.subject.history.SubjectHistory.fold`).

Fields of a recorded event as a correction names them, and the event with one field changed.

A correction names a payload field (``dose``) or a dotted path into a nested model
(``baseline.hs_crp_mg_l``); its old and new values are the text of the JSON value: ``""`` for
none, ``true``/``false`` for booleans, list items joined by ``,``, everything else as stored
(dates ``YYYY-MM-DD``, decimals ``"2.45"``). Applying a correction re-validates the whole event
with the new value, so a correction can never produce an event the model would refuse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from ledger.errors import ValidationError, show_text
from ledger.events import (
    ENTERED_IN_ERROR,
    RECORD_STATUS_FIELD,
    RECORD_VALID,
    AdverseEventReported,
    AdverseEventResolved,
    ConsentObtained,
    CorrectionRecorded,
    DoseAdministered,
    DoseMissed,
    EligibilityAssessed,
    FollowUpVisit,
    LabResulted,
    ProgressionConfirmed,
    RecordSigned,
    RegimenChanged,
    ResponseAssessed,
    SubjectDied,
    SubjectEnrolled,
    SubjectEvent,
    SubjectOffStudy,
    SubjectWithdrawn,
    event_name,
)

NOT_CORRECTABLE: dict[str, str] = {
    EligibilityAssessed.TOPIC: "derived by the eligibility rules: record a new assessment",
    ResponseAssessed.TOPIC: "derived by the response rules: correct the labs, assess again",
    ProgressionConfirmed.TOPIC: "it changed the regimen: corrections cannot undo a transition",
    RegimenChanged.TOPIC: "required by a protocol rule: it is not edited field by field",
    CorrectionRecorded.TOPIC: "correct the original event again instead",
    RecordSigned.TOPIC: "a signature is not edited: sign again",
}
"""Topics a correction may not name, and why."""

FIXED_FIELDS: dict[str, frozenset[str]] = {
    SubjectEnrolled.TOPIC: frozenset(
        {"site", "protocol_amendment", "treatment_start", "effective_date"}
    ),
    SubjectWithdrawn.TOPIC: frozenset({"consent_withdrawn", "effective_date"}),
    SubjectOffStudy.TOPIC: frozenset({"effective_date"}),
    SubjectDied.TOPIC: frozenset({"effective_date"}),
}
"""Fields that started a regimen (its RegimenChanged cites them) and so are not corrected."""
ALWAYS_FIXED = frozenset({"subject_id", "site"})

VOIDABLE: frozenset[str] = frozenset(
    {
        DoseAdministered.TOPIC,
        DoseMissed.TOPIC,
        LabResulted.TOPIC,
        AdverseEventReported.TOPIC,
        AdverseEventResolved.TOPIC,
        FollowUpVisit.TOPIC,
        ConsentObtained.TOPIC,
    }
)
"""Topics a correction may mark entered in error (they started no regimen)."""


def as_text(value: object) -> str:
    """The text a correction records for one JSON value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def _leaves(payload: dict[str, Any], prefix: str = "") -> dict[str, object]:
    found: dict[str, object] = {}
    for name, value in payload.items():
        path = f"{prefix}{name}"
        if isinstance(value, dict):
            found.update(_leaves(value, f"{path}."))
        elif value is None or isinstance(value, str | int | bool | list):
            if isinstance(value, list) and not all(isinstance(v, str) for v in value):
                continue
            found[path] = value
    return found


def correctable_fields(event: SubjectEvent) -> dict[str, object]:
    """Every field a correction may name on ``event``, with its current JSON value."""
    fixed = ALWAYS_FIXED | FIXED_FIELDS.get(event.TOPIC, frozenset())
    return {
        path: value
        for path, value in _leaves(event.payload()).items()
        if path.split(".")[0] not in fixed
    }


def field_text(event: SubjectEvent, field: str) -> str:
    """The current text of a correctable field (refused, listing the fields, if not one)."""
    fields = correctable_fields(event)
    if field not in fields:
        raise ValidationError(
            "field",
            field,
            f"[REC-CORRECT-FIELD] {event_name(event.TOPIC)} has no correctable field "
            f"{show_text(field)}; correctable: {', '.join(sorted(fields))}",
        )
    return as_text(fields[field])


def with_field(event: SubjectEvent, field: str, new_value: str) -> SubjectEvent:
    """``event`` with ``field`` set from its correction text, validated as a whole."""
    payload = event.model_dump(mode="json")
    current = correctable_fields(event).get(field)
    parts = field.split(".")
    target = payload
    for part in parts[:-1]:
        target = target[part]
    value: object
    if isinstance(current, list):
        value = [item.strip() for item in new_value.split(",") if item.strip()]
    else:
        value = None if new_value == "" else new_value
    target[parts[-1]] = value
    try:
        return type(event).model_validate(payload)
    except PydanticValidationError as e:
        error = e.errors()[0]
        raise ValidationError(
            "new_value",
            new_value,
            f"{field} of {event_name(event.TOPIC)}: {error['msg']}",
        ) from None


# --------------------------------------------------------------------------- applying


@dataclass
class Record:
    """One event of the subject: as recorded, and as it stands after corrections."""

    position: int | None
    recorded: SubjectEvent
    current: SubjectEvent
    entered_in_error: bool = False
    corrected_by: list[int | None] = field(default_factory=list)


@dataclass(frozen=True)
class CorrectionNote:
    """What one correction asked for and whether the fold applied it."""

    position: int | None
    corrects_position: int
    field: str
    old_value: str
    new_value: str
    reason: str
    applied: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "corrects_position": self.corrects_position,
            "field": self.field,
            "old_value": self.old_value,
            "new_value": self.new_value,
            "reason": self.reason,
            "applied": self.applied,
        }


def _applicable(target: Record, c: CorrectionRecorded, position: int | None) -> bool:
    """The rules :func:`ledger.domain.commands.correct` enforces, checked again on replay: an
    earlier event of the subject, of the named topic, correctable, not voided."""
    topic = target.current.TOPIC
    return (
        (position is None or (target.position is not None and target.position < position))
        and topic == c.corrected_topic
        and topic not in NOT_CORRECTABLE
        and not target.entered_in_error
    )


def apply_correction(
    by_position: Mapping[int, Record], c: CorrectionRecorded, position: int | None
) -> CorrectionNote:
    """Apply correction ``c`` (at ``position``) to its target record, if it applies.

    ``record_status`` set to ``entered-in-error`` voids a voidable record; any other field is
    replaced and the whole event validated again. A correction that names no earlier record of
    the subject, a topic or field the rules do not correct, or a value the model refuses is
    kept as a note with ``applied: false`` and changes nothing.
    """
    target = by_position.get(c.corrects_position)
    applied = False
    if target is not None and _applicable(target, c, position):
        if c.field == RECORD_STATUS_FIELD:
            if target.current.TOPIC in VOIDABLE and c.new_value in (RECORD_VALID, ENTERED_IN_ERROR):
                target.entered_in_error = c.new_value == ENTERED_IN_ERROR
                applied = True
        elif c.field in correctable_fields(target.current):
            try:
                target.current = with_field(target.current, c.field, c.new_value)
                applied = True
            except ValidationError:
                applied = False
        if applied:
            target.corrected_by.append(position)
    return CorrectionNote(
        position=position,
        corrects_position=c.corrects_position,
        field=c.field,
        old_value=c.old_value,
        new_value=c.new_value,
        reason=c.reason,
        applied=applied,
    )


def corrected_records(
    entries: Iterable[tuple[int | None, SubjectEvent]],
) -> tuple[list[Record], list[CorrectionNote]]:
    """Every record of one subject's events (stream order), with its corrections applied."""
    records: list[Record] = []
    by_position: dict[int, Record] = {}
    notes: list[CorrectionNote] = []
    for position, event in entries:
        record = Record(position=position, recorded=event, current=event)
        records.append(record)
        if position is not None:
            by_position[position] = record
        if isinstance(event, CorrectionRecorded):
            notes.append(apply_correction(by_position, event, position))
    return records, notes
