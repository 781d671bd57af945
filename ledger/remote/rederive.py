"""The rules run again here, on the served history, before a proposal is signed.

:func:`~ledger.remote.matching.check_matches` checks the events the rules add (a regimen
change, a confirmed progression) only by kind, subject and date. But an event's stored state
is a pure payload (RFC 8785 JSON of the event's fields, no timestamps), so this client can
decide the command again and require the very bytes. :class:`Rederivation`, for every command
(an import's lines in file order, each on the state the lines before it leave, as
:meth:`~ledger.recording.TrialRecorder.import_events` decides them):

1. reads each named subject's stream (``GET /v1/subjects/{subject_id}/events``, export-bundle
   event lines in version order): every row must be an event of that subject, in its stream,
   its state decoding as its topic's model, versions running 1, 2, ...; the rows up to the
   head the proposal extends (``first_position - 1``: a commit landed since is not what the
   server's rules read) are folded into a :class:`~ledger.domain.patient.Patient` as
   :meth:`TrialRecorder.patient` folds them;
2. builds the :class:`~ledger.domain.guards.TrialContext` the server used: the protocol
   amendment and trial start of the genesis (``GET /v1/genesis``, the ``TrialCreated`` at
   position 1), today being the date of the header's ``recorded_at``;
3. runs the command's one handler (:func:`~ledger.domain.commands.handler_for`) and maps the
   events it gives to stored events with the store's own mapper
   (:class:`~ledger.store.persistence.LedgerMapper`).

The proposal's events must then be exactly these: as many, in the same order, each of the
same topic, stream, version and state bytes. The first difference is refused
(:class:`~ledger.remote.matching.ProposalRefused`, exit 1) naming its position, topic and the
first member that differs; nothing is signed. A command the rules refuse on the served
history is refused too (the server should have refused it).

What stays the server's word: the history itself. A server that serves a subject's history
other than it is changes what the rules give here; but every row it serves is an event of a
signed commit, which ``trial-ledger verify`` and every follower re-prove (the client cannot
recompute a row's leaf without the leaf before it, so it checks the rows' contents only).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx

from ledger.bundle.members import EVENT_MEMBERS, members_problem
from ledger.chain import CommitHeader, EventRow
from ledger.domain.commands import Command, handler_for
from ledger.domain.guards import TrialContext
from ledger.domain.patient import Patient
from ledger.errors import LedgerError, StorageError
from ledger.events import SubjectEvent, TrialCreated, decode_event, subject_stream_id
from ledger.remote.head_proof import HeadProof
from ledger.remote.matching import ProposalRefused
from ledger.store.persistence import LedgerMapper

EVENTS_PATH = "/v1/subjects/{subject_id}/events"
GENESIS_PATH = "/v1/genesis"


def _refuse(what: str) -> ProposalRefused:
    return ProposalRefused(f"the server's proposal was not signed: {what}")


def _row(line: object, subject_id: str, version: int) -> EventRow:
    """One served event line of ``subject_id``'s stream, the ``version``-th, as a row."""
    problem = members_problem(line, EVENT_MEMBERS)
    if problem is not None:
        raise _refuse(f"the history it serves of {subject_id} is malformed: {problem}")
    assert isinstance(line, dict)
    named = f"{subject_id}'s served event at position {line['position']} ({line['topic']})"
    try:
        state, leaf = line["state"].encode("utf-8"), bytes.fromhex(line["leaf_hash"])
        event = decode_event(line["topic"], state, line["originator_id"], version)
    except (LedgerError, ValueError) as e:
        raise _refuse(f"{named} does not decode ({e})") from None
    if line["originator_id"] != subject_stream_id(subject_id).hex or not (
        isinstance(event, SubjectEvent) and event.subject_id == subject_id
    ):
        raise _refuse(f"{named} is not an event of {subject_id}'s stream")
    if line["originator_version"] != version:
        raise _refuse(f"{named} is version {line['originator_version']}, not {version}")
    return EventRow(
        line["position"], line["originator_id"], version, line["topic"], state, leaf,
        line["commit"],
    )  # fmt: skip


def _differs(served: object, derived: object, path: str = "") -> tuple[str, object, object]:
    """The first member (a dotted path, in key order) where two JSON values differ."""
    if isinstance(served, dict) and isinstance(derived, dict):
        for key in sorted(set(served) | set(derived)):
            held, given = served.get(key, _NONE), derived.get(key, _NONE)
            if held != given:
                return _differs(held, given, f"{path}{key}.")
    return path.rstrip(".") or "state", served, derived


class _None:
    def __repr__(self) -> str:
        return "nothing"


_NONE = _None()


def _shown(value: object) -> str:
    """A value as a refusal names it: text quoted, 'nothing' for an absent member, else
    JSON."""
    if isinstance(value, _None | str):
        return repr(value)
    return json.dumps(value)


def compare(lines: Sequence[dict[str, Any]], derived: Sequence[SubjectEvent]) -> None:
    """Refuse unless the proposal's event ``lines`` are exactly ``derived`` as stored."""
    mapper = LedgerMapper()
    for number, event in enumerate(derived):
        stored = mapper.to_stored_event(event)
        if number >= len(lines):
            raise _refuse(
                f"it holds {len(lines)} of the {len(derived)} events the rules give: it leaves "
                f"out {stored.topic} of {event.subject_id}"
            )
        line = lines[number]
        named = f"position {line['position']} ({line['topic']})"
        if line["topic"] != stored.topic:
            raise _refuse(f"{named}: the rules give {stored.topic} there")
        if (line["originator_id"], line["originator_version"]) != (
            UUID(str(stored.originator_id)).hex,
            stored.originator_version,
        ):
            raise _refuse(
                f"{named} is version {line['originator_version']} of stream "
                f"{line['originator_id']}, the rules give version {stored.originator_version} "
                f"of {event.subject_id}'s stream"
            )
        if line["state"].encode("utf-8") != stored.state:
            member, held, given = _differs(json.loads(line["state"]), json.loads(stored.state))
            raise _refuse(f"{named}: {member} is {_shown(held)}, the rules give {_shown(given)}")
    if len(lines) > len(derived):
        extra = lines[len(derived)]
        raise _refuse(
            f"position {extra['position']} ({extra['topic']}) is not an event the rules give "
            f"(they give {len(derived)}, it holds {len(lines)})"
        )


class Rederivation:
    """Decides each proposal's commands again on the history ``client`` serves (requests
    signed by ``auth``); the genesis is read once, or taken from ``proof`` (the genesis it
    proved rooted in the sponsor's key) when the recorder has one."""

    def __init__(
        self, client: httpx.Client, auth: httpx.Auth, proof: HeadProof | None = None
    ) -> None:
        self.client, self.auth, self.proof = client, auth, proof
        self._trial: TrialCreated | None = None

    def _document(self, path: str) -> dict[str, Any]:
        try:
            answer = self.client.get(path, auth=self.auth)
        except httpx.HTTPError as e:
            raise StorageError(
                f"cannot reach the served ledger at {self.client.base_url}: {e}"
            ) from None
        try:
            document = answer.json() if answer.status_code == httpx.codes.OK else None
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise _refuse(
                f"its rules cannot be run again here: GET {path} answered {answer.status_code} "
                f"{answer.text[:200]}"
            )
        return document

    def trial(self) -> TrialCreated:
        """The served genesis event (position 1), read once (or the one ``proof`` proved)."""
        if self.proof is not None:
            self.proof.ledger_id()  # proves the genesis, once
            self._trial = self.proof.genesis
        if self._trial is None:
            line = self._document(GENESIS_PATH).get("event")
            problem = members_problem(line, EVENT_MEMBERS)
            if problem is None and isinstance(line, dict) and line["position"] != 1:
                problem = f"it is at position {line['position']}"
            if problem is not None or not isinstance(line, dict):
                raise _refuse(f"the genesis it serves is malformed: {problem}")
            try:
                state = line["state"].encode("utf-8")
                event = decode_event(
                    line["topic"], state, line["originator_id"], line["originator_version"]
                )
            except (LedgerError, ValueError) as e:
                raise _refuse(f"the genesis it serves does not decode ({e})") from None
            if not isinstance(event, TrialCreated):
                raise _refuse(f"the genesis it serves is a {event.TOPIC}, not TrialCreated")
            self._trial = event
        return self._trial

    def patient(self, subject_id: str, head: int) -> Patient:
        """``subject_id``'s served history up to position ``head`` (the head the proposal
        extends; later commits are not what the rules read), folded as
        :meth:`TrialRecorder.patient` folds it."""
        lines = self._document(EVENTS_PATH.format(subject_id=subject_id)).get("events")
        if not isinstance(lines, list):
            raise _refuse(f"the history it serves of {subject_id} is not a list of events")
        rows = [_row(line, subject_id, number) for number, line in enumerate(lines, start=1)]
        patient = Patient(subject_id)
        patient.extend_from_rows([r for r in rows if r.position <= head])
        return patient

    def context(self, header: CommitHeader) -> TrialContext:
        trial = self.trial()
        recorded = datetime.fromisoformat(header.recorded_at.removesuffix("Z"))
        return TrialContext(trial.protocol_amendment, trial.effective_date, recorded.date())

    def derive(
        self, commands: Sequence[Command], context: TrialContext, head: int
    ) -> list[SubjectEvent]:
        """The events the rules give ``commands`` in order, each on the state before it, on
        the history up to position ``head``."""
        patients: dict[str, Patient] = {}
        events: list[SubjectEvent] = []
        for command in commands:
            patient = patients.get(command.subject_id)
            if patient is None:
                patient = patients[command.subject_id] = self.patient(command.subject_id, head)
            try:
                new = handler_for(command)(patient, context, command)
            except LedgerError as e:
                raise _refuse(
                    f"on the history it serves, the rules refuse the {command.name} of "
                    f"{command.subject_id} ({e}); the server should have refused it"
                ) from None
            for event in new:
                patient.apply(event)
            events.extend(new)
        return events

    def check(
        self, commands: Sequence[Command], document: dict[str, Any], header: CommitHeader
    ) -> None:
        """Refuse (:class:`ProposalRefused`) a proposal whose events are not exactly what the
        rules give ``commands`` on the served history (see the module docstring)."""
        head = header.first_position - 1
        compare(document["events"], self.derive(commands, self.context(header), head))


__all__ = ["Rederivation", "compare"]
