"""TrialRecorder: the site staff's recording commands over a :class:`TrialLedger`.

Each method loads the subject (:class:`Patient`, with the position of every event), runs the
command function, which checks the rules and builds the events, and appends them as one signed
commit. A refusal raises a :class:`~ledger.errors.LedgerError` naming the field, the value and
the rule, and writes nothing. Two writers racing on one subject cannot both write the same
stream version: the second commit is refused whole (:class:`~ledger.errors.ConcurrencyError`),
and the recorder then reloads the subject, checks the rules again on what is now recorded and
retries (up to :data:`BUSY_RETRIES` times, each after a random pause that grows with the
attempt), so a busy subject rarely costs the user anything; when the rules now refuse, or when
every retry lost its race (8 writers recording on one subject without pause for 30 s: 26 of
2,006 commands, mostly imports), the user sees a refusal and nothing is written.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError as PydanticValidationError

from ledger.chain import CommitRecord, EventRow
from ledger.domain.commands import Command, handler_for
from ledger.domain.guards import TrialContext, check_subject_id
from ledger.domain.patient import Patient
from ledger.errors import (
    ConcurrencyError,
    LedgerError,
    NotFoundError,
    UsageError,
    VerificationError,
)
from ledger.events import SubjectEvent, subject_stream_id
from ledger.input_limits import read_import_lines
from ledger.integrity.signing import Signer
from ledger.jsonl import parse_line
from ledger.registry import KeyRegistry
from ledger.service import AT_HEAD, TrialLedger, today
from ledger.verify.commit_proof import prove_commit_of
from ledger.verify.report import MALFORMED, Stop

E = TypeVar("E", bound=SubjectEvent)
BUSY_RETRIES = 16
"""Attempts of one recording command when other commits keep extending the same subject."""
BUSY_BACKOFF_S = 0.01
"""Pause before the n-th retry: a random time up to this times 2**n, at most
:data:`BUSY_BACKOFF_MAX_S` (full jitter: writers racing on one subject spread out rather than
colliding again in step)."""
BUSY_BACKOFF_MAX_S = 0.5


def busy_pause(attempt: int) -> None:
    """Wait before retry ``attempt`` of a command whose subject another commit extended."""
    ceiling = min(BUSY_BACKOFF_MAX_S, BUSY_BACKOFF_S * 2**attempt)
    time.sleep(random.uniform(0, ceiling))  # noqa: S311 - timing jitter, not a secret


MAX_LISTED_PROBLEMS = 50
PROGRESS_EVERY = 100
"""Lines between two progress reports of an import."""


@dataclass(frozen=True)
class Recorded:
    """What one recording command wrote: its signed commit and its events, in order."""

    commit: CommitRecord
    events: tuple[SubjectEvent, ...]

    @property
    def positions(self) -> tuple[int, ...]:
        header = self.commit.header
        return tuple(range(header.first_position, header.last_position + 1))

    def positioned(self) -> list[tuple[int, SubjectEvent]]:
        return list(zip(self.positions, self.events, strict=True))

    def first(self, kind: type[E]) -> tuple[int, E]:
        """The position and event of the first ``kind`` written (e.g. the AE reported)."""
        for position, event in self.positioned():
            if isinstance(event, kind):
                return position, event
        raise NotFoundError(f"this commit holds no {kind.__name__}")


class ImportRefused(LedgerError):
    """An import file with invalid lines: nothing of it was written."""

    def __init__(self, source: str, lines: int, problems: Sequence[tuple[int, str]]) -> None:
        self.source = source
        self.problems = list(problems)
        listed = "\n".join(f"  line {n}: {why}" for n, why in problems[:MAX_LISTED_PROBLEMS])
        more = len(problems) - MAX_LISTED_PROBLEMS
        tail = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(
            f"import of {source} refused, nothing written: {len(problems)} of {lines} lines "
            f"invalid\n{listed}{tail}"
        )


class TrialRecorder:
    """One method per recording command; each returns what it wrote (:class:`Recorded`)."""

    def __init__(self, ledger: TrialLedger, *, clock: Callable[[], date] = today) -> None:
        self.ledger = ledger
        self.clock = clock
        self._patients: dict[str, Patient] = {}
        self._proved: set[int] = set()
        """Commits re-proved by this recorder (their rows are folded into ``_patients``)."""

    # ------------------------------------------------------------------ reading

    def context(self) -> TrialContext:
        trial = self.ledger.registry().trial
        if trial is None:
            raise UsageError("the ledger has no TrialCreated event: it was never initialised")
        return TrialContext(
            amendment=trial.protocol_amendment,
            trial_start=trial.effective_date,
            today=self.clock(),
        )

    def patient(self, subject_id: str) -> Patient:
        """The subject's state now, every event with its position (empty if never screened).

        Kept between commands and brought up to date with only the events stored since (by
        stream version, so appends by other writers are seen). Treat it as read-only: commands
        fold pending events into a :meth:`Patient.copy`.
        """
        check_subject_id(subject_id)
        patient = self._patients.get(subject_id)
        if patient is None:
            patient = self._patients[subject_id] = Patient(subject_id)
        rows = self.ledger.reader.stream_rows(subject_stream_id(subject_id).hex, patient.version)
        self._prove(subject_id, rows)
        patient.extend_from_rows(rows)
        return patient

    def _prove(self, subject_id: str, rows: Sequence[EventRow]) -> None:
        """Re-prove the commits holding ``rows`` before the rules read them (each commit once
        per recorder: rehashed from its stored rows, rooted, its signature checked under the
        registry), so an edited record of the subject, even one put back afterwards, can never
        make the rules accept a command they would refuse."""
        if not rows:
            return
        registry = self.ledger.registry()
        try:
            for row in rows:
                prove_commit_of(self.ledger.reader, row.position, registry, self._proved)
        except Stop as stop:
            raise VerificationError(
                f"{subject_id}: the recorded history the rules read fails its re-proof at "
                f"position {stop.failure.position}: {stop.failure.reason}; refusing to record "
                "on it (nothing was written; run `trial-ledger verify`)"
            ) from None
        except MALFORMED as e:
            raise VerificationError(
                f"{subject_id}: a stored record is malformed ({e}); refusing to record on it "
                "(nothing was written; run `trial-ledger verify`)"
            ) from None

    # ------------------------------------------------------------------ writing

    def record(self, signer: Signer, command: Command) -> Recorded:
        """Run ``command`` for its subject and append its events as one commit signed by
        ``signer`` (with the command's meaning). A refusal writes nothing. When another commit
        extended the subject first, the subject is reloaded and the rules checked again (up to
        :data:`BUSY_RETRIES` times)."""
        handler = handler_for(command)
        for attempt in range(1, BUSY_RETRIES + 1):
            patient = self.patient(command.subject_id)
            events = handler(patient, self.context(), command)
            try:
                commit = self.ledger.append(signer, events, meaning=command.meaning)
            except ConcurrencyError:
                # Another commit extended this subject first: reload it (patient() reads the
                # events stored since) and check the rules again on what is now recorded.
                if attempt == BUSY_RETRIES:
                    raise
                busy_pause(attempt)
                continue
            return Recorded(commit, tuple(events))
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ import

    def import_jsonl(
        self,
        signer: Signer,
        source: Path | Iterable[str],
        progress: Callable[[int], None] | None = None,
    ) -> Recorded:
        """Append every line of a JSON Lines file (see :mod:`ledger.jsonl`) as ONE signed
        commit. Lines are checked in order against the domain rules, each on the state the
        lines before it leave, and against the signer's role and site; if any line is invalid
        the whole file is refused, listing every invalid line by number. Blank lines are
        skipped. A file is streamed within the limits of :mod:`ledger.input_limits` (line
        and file size, line count, UTF-8 text) and refused whole at the first line beyond
        one. ``progress`` is called with the number of lines checked so far."""
        name = str(source) if isinstance(source, Path) else "<lines>"
        given = None if isinstance(source, Path) else list(source)
        for attempt in range(1, BUSY_RETRIES + 1):
            lines = read_import_lines(source) if isinstance(source, Path) else given or []
            try:
                return self._import(signer, name, lines, progress)
            except ConcurrencyError:
                if attempt == BUSY_RETRIES:
                    raise
                busy_pause(attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _import(
        self,
        signer: Signer,
        name: str,
        lines: Iterable[str],
        progress: Callable[[int], None] | None,
    ) -> Recorded:
        registry = self.ledger.registry()
        events = self.import_events(signer.key_id, name, lines, progress, registry)
        commit = self.ledger.append(signer, events, registry=registry)
        return Recorded(commit, tuple(events))

    def import_events(
        self,
        key_id: str,
        name: str,
        lines: Iterable[str],
        progress: Callable[[int], None] | None,
        registry: KeyRegistry,
    ) -> list[SubjectEvent]:
        """The events of an import's lines, each line checked in order on the state the lines
        before it leave and against ``key_id``'s role and site (writes nothing): refused whole
        (:class:`ImportRefused`) if any line is invalid."""
        ctx = self.context()
        registered = registry.signer(key_id, AT_HEAD, ctx.today)
        patients: dict[str, Patient] = {}
        events: list[SubjectEvent] = []
        problems: list[tuple[int, str]] = []
        count = 0
        seen = 0
        for number, text_line in enumerate(lines, start=1):
            seen = number
            if progress is not None and number % PROGRESS_EVERY == 0:
                progress(number)
            if not text_line.strip():
                continue
            count += 1
            try:
                line = parse_line(text_line)
                patient = patients.get(line.subject_id)
                if patient is None:
                    patient = patients[line.subject_id] = self.patient(line.subject_id).copy()
                new = handler_for(line)(patient, ctx, line)
                for event in new:
                    registry.check_may_record(
                        registered, event.TOPIC, self.ledger.subject_site(event)
                    )
            except LedgerError as e:
                problems.append((number, e.diagnostics()))
                continue
            except PydanticValidationError as e:  # pragma: no cover - commands translate these
                problems.append((number, str(e)))
                continue
            for event in new:
                patient.apply(event)
            events.extend(new)
        if progress is not None:
            progress(seen)
        if problems:
            raise ImportRefused(name, count, problems)
        if not events:
            raise UsageError(f"import file {name}: no lines to import")
        return events
