"""Recording with the signature made on the caller's machine: prepare a commit, then commit it.

A served ledger (``trial-ledger serve``) never holds a person's private key. Recording there
takes two steps:

1. :func:`prepare_command` (or :func:`prepare_import`): the subject is loaded and re-proved
   (:meth:`TrialRecorder.patient`), the command's one handler checks the rules, the caller's
   registered role and site are checked for every event (as :meth:`TrialLedger.append` does),
   and, from the head read in the same snapshot, the commit header the events would get now is
   computed from their stored form (the store's own mapper: the bytes the recorder would
   insert). Nothing is written. The :class:`Proposal` holds the header, the rows (positions,
   leaves) and the events, and lives :data:`PROPOSAL_LIFETIME_S` seconds in a
   :class:`ProposalBook` under a random id.
2. The caller checks the proposal and signs ``header.to_bytes()`` with their own key;
   :func:`commit` verifies that signature under the caller's key as the registry stands now,
   then appends the proposal's exact events with a pre-signed seal
   (:class:`~ledger.store.seal.PresignedHeader`): inside the insert transaction the recorder
   computes the header from the actual head, as it always does, and stores the commit only if
   that header is byte-identical to the signed one. If another commit landed meanwhile nothing
   is written (:class:`~ledger.store.seal.HeadMovedError`) and the caller prepares again, so
   the rules' decision at prepare time is always the decision on exactly the state the commit
   extends.

A proposal is used once: a second commit of it, an expired one, or one by another caller is
refused, and nothing is written.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from ledger.bundle.export import event_line
from ledger.chain import ZERO_HASH, CommitHeader, CommitRecord, EventRow
from ledger.domain.commands import COMMANDS, Command, handler_for
from ledger.domain.commands.base import check_numbers
from ledger.errors import (
    AuthorisationError,
    ConcurrencyError,
    LedgerError,
    NotFoundError,
    UsageError,
    ValidationError,
    refusal_from_pydantic,
)
from ledger.events import MEANINGS, SubjectEvent, created_at_utc
from ledger.integrity import merkle
from ledger.integrity.signing import verify_signature
from ledger.recording import TrialRecorder
from ledger.registry import KeyRegistry, RegisteredKey
from ledger.service import AT_HEAD, TRIAL_STREAM, TrialLedger, today
from ledger.store import CommitSeal, LedgerReader
from ledger.store.chaining import chained_rows
from ledger.store.seal import PRESIGNED_MAX_AGE_S, HeadMovedError, PresignedHeader

PROPOSAL_LIFETIME_S = PRESIGNED_MAX_AGE_S
"""Seconds a prepared commit may be committed (the recorder refuses an older one too)."""

ANY_COMMAND: TypeAdapter[Command] = TypeAdapter(
    Annotated[Union[COMMANDS], Field(discriminator="command")]  # type: ignore[arg-type]  # noqa: UP007 - a union built from the command list
)
"""Every recording command (``sign`` too, with its meaning) as one JSON object: an import
line's form."""


def command_of(document: object) -> Command:
    """One command object (an import line's members, or ``sign``'s) as its model, validated as
    :func:`ledger.jsonl.parse_line` validates a line; a refusal names the field, the value and
    the rule."""
    if not isinstance(document, dict):
        raise ValidationError("command", document, "a command is one JSON object")
    try:
        command = ANY_COMMAND.validate_python(document)
    except PydanticValidationError as e:
        error = e.errors(include_url=False)[0]
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            raise ValidationError("command", document.get("command"), error["msg"]) from None
        raise refusal_from_pydantic(error, skip=1, default_field="command") from None
    check_numbers(command)
    return command


@dataclass(frozen=True)
class Head:
    """The chain head a proposal extends: last position, its leaf, the last commit's seq and
    recorded time."""

    position: int
    leaf: bytes
    seq: int
    recorded_at: str | None


def read_head(reader: LedgerReader) -> Head:
    """The head as ``reader`` sees it (no lock: the recorder checks it again under its own)."""
    size = reader.size()
    row = reader.event_at(size) if size else None
    commit = reader.commit_at(size) if size else None
    if row is None or commit is None:
        return Head(0, ZERO_HASH, 0, None)
    return Head(size, row.leaf_hash, commit.header.seq, commit.header.recorded_at)


@dataclass(frozen=True)
class Proposal:
    """A commit prepared for a remote signer: the header to sign and what it binds."""

    id: str
    key_id: str
    header: CommitHeader
    events: tuple[SubjectEvent, ...]
    rows: tuple[EventRow, ...]
    registry_version: int
    expires_at: float
    """Seconds since the epoch."""

    def event_lines(self) -> list[dict[str, Any]]:
        """The events as an export bundle's ``events.jsonl`` lines."""
        return [event_line(r) for r in self.rows]

    @property
    def expires_at_text(self) -> str:
        return created_at_utc(datetime.fromtimestamp(self.expires_at, UTC))


def authorise(
    ledger: TrialLedger,
    registry: KeyRegistry,
    key_id: str,
    events: Sequence[SubjectEvent],
    meaning: str,
) -> RegisteredKey:
    """Refuse unless ``key_id`` is registered and active now and its role and site may
    record every event with this meaning (the rule :meth:`TrialLedger.append` applies)."""
    if meaning not in MEANINGS:
        raise ValidationError("meaning", meaning, f"a signature means one of {', '.join(MEANINGS)}")
    registered = registry.signer(key_id, AT_HEAD, today())
    for event in events:
        registry.check_may_record(registered, event.TOPIC, ledger.subject_site(event))
    return registered


Decide = Callable[[KeyRegistry], list[SubjectEvent]]


def _prepare(
    recorder: TrialRecorder, key_id: str, meaning: str, decide: Decide, clock: Callable[[], float]
) -> Proposal:
    """Head, registry, subject and rules read in one snapshot; the header computed from the
    events' stored form. Writes nothing."""
    ledger = recorder.ledger
    with ledger.reader.snapshot():
        head = read_head(ledger.reader)
        registry = ledger.registry()
        events = decide(registry)
        authorise(ledger, registry, key_id, events, meaning)
        ledger_id = ledger.ledger_id
    stored = [ledger.store.mapper.to_stored_event(e) for e in events]
    rows = chained_rows(stored, head.seq + 1, head.position, head.leaf)
    now = clock()
    recorded_at = created_at_utc(datetime.fromtimestamp(now, UTC))
    if head.recorded_at is not None and recorded_at < head.recorded_at:
        recorded_at = head.recorded_at  # recorded times never run backwards
    header = CommitHeader(
        seq=head.seq + 1,
        ledger_id=ledger_id,
        first_position=head.position + 1,
        last_position=head.position + len(rows),
        prev_leaf=head.leaf,
        events_root=merkle.root([r.leaf_hash for r in rows]),
        signer=key_id,
        meaning=meaning,
        recorded_at=recorded_at,
    )
    return Proposal(
        id=secrets.token_urlsafe(24),
        key_id=key_id,
        header=header,
        events=tuple(events),
        rows=tuple(rows),
        registry_version=registry.version,
        expires_at=now + PROPOSAL_LIFETIME_S,
    )


def prepare_command(
    recorder: TrialRecorder, key_id: str, command: Command, clock: Callable[[], float] = time.time
) -> Proposal:
    """The commit ``command`` would be now, signed by ``key_id`` with the command's meaning."""

    def decide(_registry: KeyRegistry) -> list[SubjectEvent]:
        patient = recorder.patient(command.subject_id)
        return handler_for(command)(patient, recorder.context(), command)

    return _prepare(recorder, key_id, command.meaning, decide, clock)


def prepare_import(
    recorder: TrialRecorder,
    key_id: str,
    source: str,
    lines: Iterable[str],
    clock: Callable[[], float] = time.time,
) -> Proposal:
    """The one commit of authorship an import's ``lines`` would be now (refused whole, with
    the numbers of its invalid lines, as ``trial-ledger import`` refuses a file)."""

    def decide(registry: KeyRegistry) -> list[SubjectEvent]:
        return recorder.import_events(key_id, source, lines, None, registry)

    return _prepare(recorder, key_id, "authorship", decide, clock)


def commit(ledger: TrialLedger, proposal: Proposal, key_id: str, signature: bytes) -> CommitRecord:
    """Append ``proposal`` signed with ``signature`` by ``key_id`` (the caller, active now).

    The signature must verify over the proposal's header bytes under the caller's registered
    key; the recorder then stores the events only if the header it computes from the actual
    head is byte-identical (else :class:`HeadMovedError`: nothing was written)."""
    if key_id != proposal.key_id:
        raise AuthorisationError(
            f"proposal {proposal.id} was prepared for key {proposal.key_id}, not {key_id}"
        )
    registry = ledger.registry()
    if registry.version != proposal.registry_version:
        raise HeadMovedError(
            "the key registry changed since this commit was prepared; nothing was written, "
            "prepare it again"
        )
    registered = authorise(ledger, registry, key_id, proposal.events, proposal.header.meaning)
    header_bytes = proposal.header.to_bytes()
    try:
        verify_signature(registered.public_raw, header_bytes, signature)
    except LedgerError:
        raise AuthorisationError(
            f"signature refused: it does not verify over the prepared header of commit "
            f"{proposal.header.seq} under key {key_id}; nothing was written"
        ) from None
    seal = CommitSeal(
        signer=None,
        meaning=proposal.header.meaning,
        registry_stream=TRIAL_STREAM,
        registry_version=proposal.registry_version,
        registry=registry,
        presigned=PresignedHeader(proposal.header, signature, registered.public_raw),
    )
    try:
        return ledger.store.append(list(proposal.events), seal)
    except HeadMovedError:
        raise
    except ConcurrencyError as e:  # the subject's stream moved: so did the head
        raise HeadMovedError(f"{e}; prepare it again") from None


class ProposalSpent(UsageError):
    """A proposal committed (or refused at commit) before: each is used once."""


class ProposalExpired(UsageError):
    """A proposal older than :data:`PROPOSAL_LIFETIME_S`."""


class ProposalBook:
    """Proposals kept in memory until committed or expired (a server restart drops them all:
    the caller prepares again). Thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, Proposal] = {}
        self._spent: dict[str, float] = {}

    def add(self, proposal: Proposal) -> None:
        with self._lock:
            self._sweep()
            self._pending[proposal.id] = proposal

    def take(self, proposal_id: str, key_id: str) -> Proposal:
        """The proposal, removed from the book (used once), if it is ``key_id``'s and not
        expired; refused otherwise (another caller's proposal is left in place)."""
        with self._lock:
            self._sweep()
            if proposal_id in self._spent:
                raise ProposalSpent(
                    f"proposal={proposal_id!r} refused: it was committed (or refused) already; "
                    "a proposal is used once, prepare again"
                )
            found = self._pending.get(proposal_id)
            if found is None:
                raise NotFoundError(
                    f"proposal={proposal_id!r} refused: no such proposal (proposals live "
                    f"{PROPOSAL_LIFETIME_S:.0f} s and end with a server restart); prepare again"
                )
            if found.key_id != key_id:
                raise AuthorisationError(
                    f"proposal={proposal_id!r} refused: it was prepared for key "
                    f"{found.key_id}, not for {key_id}"
                )
            del self._pending[proposal_id]
            self._spent[proposal_id] = found.expires_at + PROPOSAL_LIFETIME_S
        if found.expires_at < self.clock():
            raise ProposalExpired(
                f"proposal={proposal_id!r} refused: it expired at {found.expires_at_text} "
                f"(proposals live {PROPOSAL_LIFETIME_S:.0f} s); nothing was written, prepare again"
            )
        return found

    def _sweep(self) -> None:
        now = self.clock()
        for pid in [p for p, kept in self._pending.items() if kept.expires_at + 600 < now]:
            del self._pending[pid]
        for pid in [p for p, until in self._spent.items() if until + 600 < now]:
            del self._spent[pid]
