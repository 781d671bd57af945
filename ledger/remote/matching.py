"""What a served proposal may hold, given the commands asked: exactly the events their handlers
can emit, and nothing else (:func:`check_matches`).

Each command model declares its events (:class:`~ledger.domain.commands.Command`):
``own_event``, the one event it records, and ``rule_events``, the only events the rules may
add after it. A proposal's events, in order, must be, for each command asked in turn (an
import's lines in file order):

1. its own event: of the declared type, for the command's subject, decided on the command's
   date (a regimen change's ``decided_on``, else its ``effective_date``), and holding every
   value the command gives (``event_fields`` says where, when not under the field's own
   name);
2. then at most :data:`~ledger.domain.commands.base.MAX_RULE_EVENTS` events of its declared
   ``rule_events``, each for the same subject and decided on the same date.

Anything else is refused, naming the position and topic: an event no command asked for can
produce (a correction added to a lab, a second copy of the lab), an own event missing or with
other values, a rule event of another subject. Where one command's rule events could also be
the next command's own event (an assessment, then ``progression``), every way of reading the
events is tried (at most ``MAX_RULE_EVENTS + 1`` starts a command).

What stays the server's word: which of the declared rule events the rules really make due
(the client does not hold the subject's history to decide it again); they are bound by the
signature and shown on the receipt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ledger.domain.commands import Command
from ledger.domain.commands.base import MAX_RULE_EVENTS
from ledger.errors import VerificationError
from ledger.events import event_name


@dataclass(frozen=True)
class Served:
    """One event of the proposal: its position, topic and payload."""

    position: int
    topic: str
    payload: dict[str, Any]

    @property
    def subject(self) -> object:
        return self.payload.get("subject_id")

    @property
    def decided_on(self) -> object:
        """The date the event was decided on: a regimen change's ``decided_on`` (set when it
        takes effect on another day), else its clinical date."""
        return self.payload.get("decided_on") or self.payload.get("effective_date")

    def named(self) -> str:
        return f"position {self.position} ({self.topic})"


class ProposalRefused(VerificationError):
    """The server's proposal is not the commit asked for: nothing was signed (exit 1)."""


def _refuse(what: str) -> ProposalRefused:
    return ProposalRefused(f"the server's proposal was not signed: {what}")


def _without_none(value: object) -> object:
    """A JSON value with its null members dropped at every level (as the command's dump)."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


_MISSING = object()


def _at(payload: dict[str, Any], path: str) -> object:
    value: object = payload
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return _without_none(value)


def asked_values(command: Command) -> dict[str, object]:
    """Where the own event holds each value the command gives (a dotted path) -> the value,
    as JSON (the fields the rules read but the event does not hold left out)."""
    given = command.model_dump(
        mode="json", exclude={"command", "subject_id", "date"}, exclude_none=True
    )
    where = dict(command.event_fields)
    return {
        path: value
        for field, value in given.items()
        if (path := where.get(field, field)) is not None
    }


def _own_problem(command: Command, event: Served | None) -> str | None:
    """Why ``event`` is not ``command``'s own event (None: it is)."""
    wanted = command.own_event
    asked = f"the {event_name(wanted.TOPIC)} the {command.name} asked for records"
    if event is None:
        return (
            f"the proposal holds no {event_name(wanted.TOPIC)} for {command.subject_id} on "
            f"{command.date}, which the {command.name} asked for records"
        )
    if event.topic != wanted.TOPIC:
        return f"{event.named()} is not {asked}"
    if event.subject != command.subject_id:
        return f"{event.named()} is of subject {event.subject}, not {command.subject_id}"
    if event.decided_on != command.date.isoformat():
        return f"{event.named()} is dated {event.decided_on}, not {command.date}"
    for path, value in asked_values(command).items():
        held = _at(event.payload, path)
        if held != value:
            shown = "nothing" if held is _MISSING else json.dumps(held)
            return (
                f"{event.named()} holds {path}={shown}, the {command.name} asked for "
                f"{json.dumps(value)}"
            )
    return None


def _rule_event(command: Command, event: Served) -> bool:
    return (
        event.topic in {t.TOPIC for t in command.rule_events}
        and event.subject == command.subject_id
        and event.decided_on == command.date.isoformat()
    )


def _ends(command: Command, events: list[Served], start: int) -> tuple[list[int], str | None]:
    """Where ``command``'s events may end when they start at ``start`` (none: the problem)."""
    problem = _own_problem(command, events[start] if start < len(events) else None)
    if problem is not None:
        return [], problem
    ends = [start + 1]
    while (
        ends[-1] < len(events)
        and len(ends) <= MAX_RULE_EVENTS
        and _rule_event(command, events[ends[-1]])
    ):
        ends.append(ends[-1] + 1)
    return ends, None


def _unexplained(commands: list[Command], event: Served) -> str:
    names = ", ".join(sorted({c.name for c in commands}))
    for command in commands:
        rule_topics = {t.TOPIC for t in command.rule_events}
        if event.topic in rule_topics and event.subject != command.subject_id:
            return (
                f"{event.named()} is of subject {event.subject}: the rules of the "
                f"{command.name} of {command.subject_id} add events of that subject only"
            )
    return (
        f"{event.named()} is not an event the {names} asked for records, nor one its rules may add"
    )


def check_matches(commands: list[Command], document: dict[str, Any]) -> None:
    """Refuse (:class:`ProposalRefused`) a proposal whose events are not
    exactly what ``commands`` can produce, in order (see the module docstring)."""
    events = [
        Served(int(line["position"]), str(line["topic"]), json.loads(line["state"]))
        for line in document["events"]
    ]
    starts = {0}
    for command in commands:
        following: set[int] = set()
        problem = None
        for start in sorted(starts):
            ends, why = _ends(command, events, start)
            following.update(ends)
            problem = problem or why
        if not following:
            raise _refuse(problem or f"nothing records the {command.name} asked for")
        starts = following
    if len(events) not in starts:
        raise _refuse(_unexplained(commands, events[max(starts)]))
