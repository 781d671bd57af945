"""TrialRecorder: the site staff's recording commands over a :class:`TrialLedger`.

Each method loads the subject (:class:`Patient`, with the position of every event), runs the
command function, which checks the rules and builds the events, and appends them as one signed
commit. A refusal raises a :class:`~ledger.errors.LedgerError` naming the field, the value and
the rule, and writes nothing. Two writers racing on one subject cannot both write the same
stream version: the second commit is refused whole (:class:`~ledger.errors.ConcurrencyError`),
and the recorder then reloads the subject, checks the rules again on what is now recorded and
retries (up to :data:`BUSY_RETRIES` times), so a busy subject loses no work; the user sees a
refusal only when the rules now refuse.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from pydantic import ValidationError as PydanticValidationError

from ledger.chain import CommitRecord
from ledger.domain import commands
from ledger.domain.guards import TrialContext, check_subject_id
from ledger.domain.imports import events_for
from ledger.domain.patient import Patient
from ledger.errors import ConcurrencyError, LedgerError, NotFoundError, UsageError
from ledger.events import BaselineLabs, Deviation, SubjectEvent, subject_stream_id
from ledger.input_limits import read_import_lines
from ledger.integrity.signing import Signer
from ledger.jsonl import parse_line
from ledger.protocol.eligibility import EligibilityInput
from ledger.service import AT_HEAD, TrialLedger, today
from ledger.subject.evaluation import Findings

P = ParamSpec("P")
E = TypeVar("E", bound=SubjectEvent)
Command = Callable[Concatenate[Patient, TrialContext, P], list[SubjectEvent]]
BUSY_RETRIES = 8
"""Attempts of one recording command when other commits keep extending the same subject."""
BUSY_BACKOFF_S = 0.02
"""Pause before the n-th retry: n times this (a short, growing wait)."""

MAX_LISTED_PROBLEMS = 50


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
        patient.extend_from_rows(
            self.ledger.reader.stream_rows(subject_stream_id(subject_id).hex, patient.version)
        )
        return patient

    # ------------------------------------------------------------------ writing

    def _record(
        self,
        signer: Signer,
        subject_id: str,
        command: Command[P],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Recorded:
        for attempt in range(1, BUSY_RETRIES + 1):
            patient = self.patient(subject_id)
            events = command(patient, self.context(), *args, **kwargs)
            try:
                commit = self.ledger.append(signer, events)
            except ConcurrencyError:
                # Another commit extended this subject first: reload it (patient() reads the
                # events stored since) and check the rules again on what is now recorded.
                if attempt == BUSY_RETRIES:
                    raise
                time.sleep(BUSY_BACKOFF_S * attempt)
                continue
            return Recorded(commit, tuple(events))
        raise AssertionError("unreachable")  # pragma: no cover

    def screen(
        self, signer: Signer, subject_id: str, site: str, age: int, sex: str, on: date
    ) -> Recorded:
        return self._record(signer, subject_id, commands.screen, site, age, sex, on)

    def assess_eligibility(
        self, signer: Signer, subject_id: str, inputs: EligibilityInput, on: date
    ) -> Recorded:
        return self._record(signer, subject_id, commands.assess_eligibility, inputs, on)

    def consent(self, signer: Signer, subject_id: str, consent_version: str, on: date) -> Recorded:
        return self._record(signer, subject_id, commands.consent, consent_version, on)

    def enrol(
        self,
        signer: Signer,
        subject_id: str,
        treatment_start: date,
        baseline: BaselineLabs,
        on: date,
        waiver: Deviation | None = None,
    ) -> Recorded:
        return self._record(
            signer, subject_id, commands.enrol, treatment_start, baseline, on, waiver
        )

    def record_dose(
        self,
        signer: Signer,
        subject_id: str,
        drug: str,
        dose: Decimal,
        route: str,
        on: date,
        deviation: Deviation | None = None,
    ) -> Recorded:
        return self._record(
            signer, subject_id, commands.record_dose, drug, dose, route, on, deviation
        )

    def record_missed_dose(
        self,
        signer: Signer,
        subject_id: str,
        drug: str,
        reason: str,
        on: date,
        held: bool = False,
    ) -> Recorded:
        return self._record(signer, subject_id, commands.record_missed_dose, drug, reason, on, held)

    def record_lab(
        self,
        signer: Signer,
        subject_id: str,
        analyte: str,
        value: Decimal,
        unit: str,
        on: date,
    ) -> Recorded:
        return self._record(signer, subject_id, commands.record_lab, analyte, value, unit, on)

    def assess_response(
        self,
        signer: Signer,
        subject_id: str,
        investigator_category: str,
        on: date,
        findings: Findings | None = None,
        m6_deviation: Deviation | None = None,
        start_deviation: Deviation | None = None,
    ) -> Recorded:
        return self._record(
            signer,
            subject_id,
            commands.assess_response,
            investigator_category,
            on,
            findings,
            m6_deviation,
            start_deviation,
        )

    def confirm_progression(
        self,
        signer: Signer,
        subject_id: str,
        basis: str,
        on: date,
        deviation: Deviation | None = None,
        progression_date: date | None = None,
        start_deviation: Deviation | None = None,
    ) -> Recorded:
        return self._record(
            signer,
            subject_id,
            commands.confirm_progression,
            basis,
            on,
            deviation,
            progression_date,
            start_deviation,
        )

    def advance_regimen(
        self,
        signer: Signer,
        subject_id: str,
        on: date,
        *,
        physician_continues: bool = False,
        m6_deviation: Deviation | None = None,
    ) -> Recorded:
        return self._record(
            signer,
            subject_id,
            commands.advance_regimen,
            on,
            physician_continues=physician_continues,
            m6_deviation=m6_deviation,
        )

    def stop_treatment(self, signer: Signer, subject_id: str, reason: str, on: date) -> Recorded:
        return self._record(signer, subject_id, commands.stop_treatment, reason, on)

    def report_adverse_event(
        self,
        signer: Signer,
        subject_id: str,
        term: str,
        grade: int,
        attribution: str,
        action_taken: str,
        on: date,
        seriousness_criteria: Sequence[str] = (),
        ae_id: str | None = None,
    ) -> Recorded:
        return self._record(
            signer,
            subject_id,
            commands.report_adverse_event,
            term,
            grade,
            attribution,
            action_taken,
            on,
            seriousness_criteria,
            ae_id,
        )

    def resolve_adverse_event(
        self, signer: Signer, subject_id: str, ae_id: str, outcome: str, on: date
    ) -> Recorded:
        return self._record(signer, subject_id, commands.resolve_adverse_event, ae_id, outcome, on)

    def follow_up(
        self, signer: Signer, subject_id: str, disease_status: str, on: date, note: str = ""
    ) -> Recorded:
        return self._record(signer, subject_id, commands.follow_up, disease_status, on, note)

    def withdraw(
        self,
        signer: Signer,
        subject_id: str,
        reason: str,
        on: date,
        consent_withdrawn: bool = True,
    ) -> Recorded:
        return self._record(signer, subject_id, commands.withdraw, reason, on, consent_withdrawn)

    def off_study(self, signer: Signer, subject_id: str, reason: str, on: date) -> Recorded:
        return self._record(signer, subject_id, commands.off_study, reason, on)

    def record_death(self, signer: Signer, subject_id: str, cause: str, on: date) -> Recorded:
        return self._record(signer, subject_id, commands.record_death, cause, on)

    def correct(
        self,
        signer: Signer,
        subject_id: str,
        position: int,
        field: str,
        new_value: str,
        reason: str,
        on: date,
        old_value: str | None = None,
    ) -> Recorded:
        return self._record(
            signer,
            subject_id,
            commands.correct,
            position,
            field,
            new_value,
            reason,
            on,
            old_value,
        )

    def sign(
        self,
        signer: Signer,
        subject_id: str,
        positions: Sequence[int],
        meaning: str,
        statement: str,
        on: date,
    ) -> Recorded:
        """A review, approval or statement of responsibility; the commit carries the meaning."""
        patient = self.patient(subject_id)
        events = commands.sign(patient, self.context(), positions, meaning, statement, on)
        commit = self.ledger.append(signer, events, meaning=meaning)
        return Recorded(commit, tuple(events))

    # ------------------------------------------------------------------ import

    def import_jsonl(self, signer: Signer, source: Path | Iterable[str]) -> Recorded:
        """Append every line of a JSON Lines file (see :mod:`ledger.jsonl`) as ONE signed
        commit. Lines are checked in order against the domain rules, each on the state the
        lines before it leave, and against the signer's role and site; if any line is invalid
        the whole file is refused, listing every invalid line by number. Blank lines are
        skipped. A file is streamed within the limits of :mod:`ledger.input_limits` (line
        and file size, line count, UTF-8 text) and refused whole at the first line beyond
        one."""
        name = str(source) if isinstance(source, Path) else "<lines>"
        given = None if isinstance(source, Path) else list(source)
        for attempt in range(1, BUSY_RETRIES + 1):
            lines = read_import_lines(source) if isinstance(source, Path) else given or []
            try:
                return self._import(signer, name, lines)
            except ConcurrencyError:
                if attempt == BUSY_RETRIES:
                    raise
                time.sleep(BUSY_BACKOFF_S * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _import(self, signer: Signer, name: str, lines: Iterable[str]) -> Recorded:
        ctx = self.context()
        registry = self.ledger.registry()
        registered = registry.signer(signer.key_id, AT_HEAD, ctx.today)
        patients: dict[str, Patient] = {}
        events: list[SubjectEvent] = []
        problems: list[tuple[int, str]] = []
        count = 0
        for number, text_line in enumerate(lines, start=1):
            if not text_line.strip():
                continue
            count += 1
            try:
                line = parse_line(text_line)
                patient = patients.get(line.subject_id)
                if patient is None:
                    patient = patients[line.subject_id] = self.patient(line.subject_id).copy()
                new = events_for(line, patient, ctx)
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
        if problems:
            raise ImportRefused(name, count, problems)
        if not events:
            raise UsageError(f"import file {name}: no lines to import")
        commit = self.ledger.append(signer, events, registry=registry)
        return Recorded(commit, tuple(events))
