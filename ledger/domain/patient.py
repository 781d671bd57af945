"""The Patient aggregate: the subject's history, plus the record index the recording rules use.

A :class:`Patient` *is* the subject's :class:`~ledger.subject.history.SubjectHistory` (the one
fold every projection presents too), extended with what only a writer needs: every event as a
:class:`~ledger.subject.corrections.Record` with its ledger position (``None`` while pending in
an import), as recorded and as corrected, and an index of recorded doses by (drug, date) so a
refusal can name the record a command would duplicate. A correction is applied to its record
by :func:`~ledger.subject.corrections.apply_correction` (the one place corrections are
applied) and the history is folded again from the current forms; the original stays in
:attr:`Patient.records` for every audit view.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from ledger.chain import EventRow
from ledger.errors import UsageError
from ledger.events import (
    CorrectionRecorded,
    DoseAdministered,
    DoseMissed,
    LedgerEvent,
    SubjectEvent,
    decode_event,
)
from ledger.subject.corrections import Record, apply_correction
from ledger.subject.history import SubjectHistory


class Patient(SubjectHistory):
    """One subject's history and records. Build with :meth:`from_events` or :meth:`from_rows`."""

    def __init__(self, subject_id: str) -> None:
        super().__init__(subject_id)
        self.records: list[Record] = []
        self._by_position: dict[int, Record] = {}
        self.doses: dict[tuple[str, date], int | None] = {}
        self.missed: dict[tuple[str, date], int | None] = {}

    # ------------------------------------------------------------------ building

    @classmethod
    def from_events(
        cls,
        events: Iterable[SubjectEvent],
        positions: Sequence[int | None] | None = None,
        *,
        subject_id: str | None = None,
    ) -> Patient:
        """Fold ``events`` (one subject's, in version order) with their positions, if known."""
        events = list(events)
        if subject_id is None:
            if not events:
                raise UsageError("give subject_id to build a patient from no events")
            subject_id = events[0].subject_id
        patient = cls(subject_id)
        where = list(positions) if positions is not None else [None] * len(events)
        for event, position in zip(events, where, strict=True):
            patient.apply(event, position)
        return patient

    @classmethod
    def from_rows(cls, subject_id: str, rows: Iterable[EventRow]) -> Patient:
        patient = cls(subject_id)
        patient.extend_from_rows(rows)
        return patient

    def extend_from_rows(self, rows: Iterable[EventRow]) -> None:
        """Fold stored events newer than this state (rows in version order)."""
        for row in rows:
            event = decode_event(row.topic, row.state, row.originator_id, row.originator_version)
            self.apply(event, row.position)

    def copy(self) -> Patient:
        """An independent copy, to fold pending events into without touching this one.

        Events are frozen, so only the records (which corrections change) are copied; the
        history is folded again from them (cheaper than a deep copy, and the same fold).
        """
        twin = Patient(self.subject_id)
        for record in self.records:
            copied = Record(
                position=record.position,
                recorded=record.recorded,
                current=record.current,
                entered_in_error=record.entered_in_error,
                corrected_by=list(record.corrected_by),
            )
            twin.records.append(copied)
            if copied.position is not None:
                twin._by_position[copied.position] = copied
        twin._refold()
        twin.corrections = list(self.corrections)
        return twin

    # ------------------------------------------------------------------ folding

    def apply(self, event: LedgerEvent, position: int | None = None) -> None:
        """Keep one event of this subject and fold it (assignment only, no rule checks)."""
        if not isinstance(event, SubjectEvent):
            return
        record = Record(position=position, recorded=event, current=event)
        self.records.append(record)
        if position is not None:
            self._by_position[position] = record
        if isinstance(event, CorrectionRecorded):
            note = apply_correction(self._by_position, event, position)
            notes = [*self.corrections, note]
            self._refold()
            self.corrections = notes
            return
        self.version = max(self.version, event.originator_version)
        if position is not None:
            self.position = max(self.position, position)
        self._index(record)
        self.fold_event(event, position)

    def _index(self, record: Record) -> None:
        e = record.current
        if record.entered_in_error:
            return
        if isinstance(e, DoseAdministered):
            self.doses[(e.drug, e.effective_date)] = record.position
        elif isinstance(e, DoseMissed):
            self.missed[(e.drug, e.effective_date)] = record.position

    def _refold(self) -> None:
        fresh = SubjectHistory(self.subject_id)
        for name in fresh.__dataclass_fields__:
            setattr(self, name, getattr(fresh, name))
        self.doses, self.missed = {}, {}
        self.fold_records(self.records)
        for record in self.records:
            self._index(record)

    # ------------------------------------------------------------------ queries

    @property
    def positions(self) -> list[int]:
        return [r.position for r in self.records if r.position is not None]

    def record_at(self, position: int) -> Record | None:
        return self._by_position.get(position)
