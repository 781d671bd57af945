"""One subject as the SDTM rows read it: the corrected history, its current records, epochs.

:func:`load_subject` folds the subject's stream from the verified snapshot exactly as
:meth:`~projections.exports.ExportSource.history` does (corrections and voids applied by
:func:`ledger.subject.corrections.corrected_records`), and keeps the current form of every
record as well, since the history only counts doses while EX lists each one. The objectives'
:class:`~projections.objectives.population.Subject` gives the evaluations (categories derived
again on corrected values), progressions and whether the subject was treated.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import TypeVar

from ledger.events import ConsentObtained, CorrectionRecorded, SubjectEvent
from ledger.protocol.schedule import Regimen
from ledger.subject.corrections import corrected_records
from ledger.subject.history import SubjectHistory
from ledger.subject.timeline import RegimenPeriod
from projections.exports.sdtm.terms import EPOCHS, STUDYID
from projections.exports.source import ExportSource
from projections.objectives.population import Subject
from projections.subject import subject_entries

E = TypeVar("E", bound=SubjectEvent)


def iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass
class SubjectData:
    """See the module docstring."""

    history: SubjectHistory
    records: list[tuple[int | None, SubjectEvent]]
    """The current (corrected) form of every record not voided, corrections left out."""
    subject: Subject = field(init=False)
    visits: list[tuple[float, str, date, int | None]] = field(init=False)
    """(VISITNUM, VISIT, date, ledger position of the record that dates it)."""

    def __post_init__(self) -> None:
        self.subject = Subject(self.history)
        self.visits = list(_visits(self))

    @property
    def usubjid(self) -> str:
        return f"{STUDYID}-{self.history.subject_id}"

    @property
    def treated(self) -> bool:
        return self.subject.exclusion() is None

    def of_type(self, kind: type[E]) -> list[tuple[int | None, E]]:
        return [(p, e) for p, e in self.records if isinstance(e, kind)]

    def position_of(self, event: SubjectEvent | None) -> str | None:
        """The ledger position of a current record, as SDTM's --SPID text."""
        for position, e in self.records:
            if e is event:
                return None if position is None else str(position)
        return None

    def epoch_on(self, on: date) -> str | None:
        """The epoch in force on ``on``; on or after going off study, the epoch it ended in."""
        period = self.history.period_on(on)
        if period is None:
            return EPOCHS[Regimen.SCREENING]
        if period.regimen is not Regimen.OFF_STUDY:
            return EPOCHS[period.regimen]
        before = [p for p in self.history.periods if p.starts_on < period.starts_on]
        if not before or before[-1].regimen is Regimen.OFF_STUDY:
            return EPOCHS[Regimen.SCREENING]
        return EPOCHS[before[-1].regimen]

    def participation_end(self) -> date | None:
        """Off study (the timeline or the event), else death, else the latest date recorded."""
        h = self.history
        if h.off_study_from is not None:
            return h.off_study_from
        if h.death is not None:
            return h.death.effective_date
        return h.last_date

    def runs(self) -> list[tuple[RegimenPeriod, date | None]]:
        """Every run of one regimen (a confirming decision continues it), with the first day
        of the next run (None: ongoing); off study ends a run and starts none."""
        found: list[tuple[RegimenPeriod, date | None]] = []
        for period in self.history.periods:
            if found and found[-1][0].regimen is period.regimen:
                continue
            if found and found[-1][1] is None:
                found[-1] = (found[-1][0], period.starts_on)
                if found[-1][0].starts_on == period.starts_on:
                    found.pop()  # in force for no day: followed on its first day
            if period.regimen is not Regimen.OFF_STUDY:
                found.append((period, None))
        return found

    def first_consent(self) -> date | None:
        dates = [e.effective_date for _, e in self.of_type(ConsentObtained)]
        return min(dates, default=None)


def load_subject(source: ExportSource, subject_id: str) -> SubjectData:
    """The subject's records up to the snapshot's position, folded (see the module)."""
    entries = subject_entries(source.reader, subject_id, source.position, check_leaves=False)
    records, notes = corrected_records(entries)
    history = SubjectHistory(subject_id)
    history.fold_records(records)
    history.corrections = notes
    current = [
        (r.position, r.current)
        for r in records
        if not r.entered_in_error and not isinstance(r.current, CorrectionRecorded)
    ]
    return SubjectData(history, current)


def _visits(s: SubjectData) -> Iterator[tuple[float, str, date, int | None]]:
    """Screening (1), enrolment (2), each response assessment (10 + protocol month; a second
    one in the same month is unscheduled, .1 more) and each follow-up visit (1000 + n)."""
    h = s.history
    if h.screening is not None:
        yield 1.0, "SCREENING", h.screening.effective_date, h.screening_position
    if h.enrolment is not None:
        enrolled = s.position_of(h.enrolment)
        yield 2.0, "ENROLMENT", h.enrolment.effective_date, _int(enrolled)
    seen: dict[int, int] = {}
    for e in s.subject.evaluations:
        extra = seen.get(e.protocol_month, 0)
        seen[e.protocol_month] = extra + 1
        number = 10 + e.protocol_month + extra / 10
        name = f"MONTH {e.protocol_month}" + (f" UNSCHEDULED {extra}" if extra else "")
        yield number, name, e.on, e.position
    for n, (position, visit) in enumerate(sorted(h.follow_ups, key=_on), 1):
        yield 1000.0 + n, f"FOLLOW-UP {n}", visit.effective_date, position


def _on(entry: tuple[int | None, SubjectEvent]) -> tuple[date, int]:
    return entry[1].effective_date, entry[0] or 0


def _int(text: str | None) -> int | None:
    return int(text) if text is not None else None
