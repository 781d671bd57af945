"""One subject's clinical history: the one fold of subject events, for rules and reports alike.

:meth:`SubjectHistory.fold` takes one subject's events with their ledger positions (stream
order) and returns its state: identity and screening, eligibility, consents, enrolment and
baseline, the regimen timeline (:mod:`ledger.subject.timeline`), dose and missed-dose tallies,
labs, response assessments as recorded, progressions, adverse events, follow-up, withdrawal,
off-study and death. Corrections and voids are applied first, in one place
(:mod:`ledger.subject.corrections`), so every field holds the current (corrected) form and a
voided record is absent. What is derived from the state (the rule-derived category of every
assessment on corrected values, confirmation, the date of progression, the month-6 decision,
due transitions) lives in :mod:`ledger.subject.evaluation` and is computed from this state
only.

Both time axes: the history as recorded up to position T is the fold of the events at
positions <= T; the history as true on clinical date D is the fold of those whose corrected
clinical date is <= D (:func:`as_on`). The recording rules check every command against the
history (:class:`ledger.domain.patient.Patient` extends it with the record index), and the
subject view stores it as JSON (:data:`HISTORY_JSON`) and presents it.

:meth:`SubjectHistory.fold_event` only assigns: it never checks a protocol rule, so a replay gives
the state the events describe even after an amendment changes a rule.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import TypeVar

from pydantic import TypeAdapter

from ledger.events import (
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
    SubjectScreened,
    SubjectWithdrawn,
)
from ledger.protocol.parameters import ProtocolParameters, parameters_for
from ledger.protocol.schedule import Regimen
from ledger.subject.corrections import CorrectionNote, Record, corrected_records
from ledger.subject.timeline import RegimenPeriod, Timeline

Entry = tuple[int | None, SubjectEvent]
E = TypeVar("E", bound=SubjectEvent)


@dataclass
class DoseTally:
    taken: int = 0
    first: date | None = None
    last: date | None = None


@dataclass
class MissedTally:
    missed: int = 0
    held: int = 0


@dataclass
class AdverseEvent:
    """One adverse event: its report (a later report of the same id updates it, the worst
    grade and the first onset kept) and its resolution."""

    report: AdverseEventReported
    position: int | None
    onset: date
    worst_grade: int
    resolution: AdverseEventResolved | None = None


@dataclass
class SubjectHistory:
    """One subject's state, folded from its (corrected) events; see the module docstring."""

    subject_id: str
    version: int = 0
    position: int = 0  # the last ledger position folded (0: none)
    screening: SubjectScreened | None = None
    screening_position: int | None = None
    eligibility: EligibilityAssessed | None = None
    eligibility_position: int | None = None
    consents: list[ConsentObtained] = field(default_factory=list)
    enrolment: SubjectEnrolled | None = None
    timeline: Timeline = field(default_factory=Timeline)
    dose_tally: dict[str, DoseTally] = field(default_factory=dict)
    missed_tally: dict[str, MissedTally] = field(default_factory=dict)
    labs: list[tuple[int | None, LabResulted]] = field(default_factory=list)
    assessment_records: list[tuple[int | None, ResponseAssessed]] = field(default_factory=list)
    progressions: list[tuple[int | None, ProgressionConfirmed]] = field(default_factory=list)
    adverse_events: dict[str, AdverseEvent] = field(default_factory=dict)
    follow_ups: list[tuple[int | None, FollowUpVisit]] = field(default_factory=list)
    treatment_withdrawal: SubjectWithdrawn | None = None
    consent_withdrawal: SubjectWithdrawn | None = None
    off_study: SubjectOffStudy | None = None
    death: SubjectDied | None = None
    death_position: int | None = None
    signatures: int = 0
    last_date: date | None = None
    corrections: list[CorrectionNote] = field(default_factory=list)

    # ------------------------------------------------------------------ folding

    @classmethod
    def fold(cls, subject_id: str, entries: Iterable[Entry]) -> SubjectHistory:
        """The history of ``entries`` (one subject's, stream order), corrections applied."""
        history = cls(subject_id)
        records, notes = corrected_records(entries)
        history.fold_records(records)
        history.corrections = notes
        return history

    def fold_records(self, records: Iterable[Record]) -> None:
        """Fold the current form of every record that is not voided nor a correction."""
        for record in records:
            if record.position is not None:
                self.position = max(self.position, record.position)
            self.version = max(self.version, record.recorded.originator_version)
            if not record.entered_in_error and not isinstance(record.current, CorrectionRecorded):
                self.fold_event(record.current, record.position)

    def extend(self, entries: Iterable[Entry]) -> bool:
        """Fold newer events; False (the history left as it was so far) at a correction, which
        needs the whole stream again (:meth:`fold`)."""
        for position, event in entries:
            if isinstance(event, CorrectionRecorded):
                return False
            self.fold_event(event, position)
            self.version = max(self.version, event.originator_version)
            if position is not None:
                self.position = max(self.position, position)
        return True

    def fold_event(self, e: SubjectEvent, pos: int | None) -> None:
        """Fold one current (corrected) event into the state: assignment only."""
        if isinstance(e, RecordSigned):
            self.signatures += 1
            return
        if self.last_date is None or e.effective_date > self.last_date:
            self.last_date = e.effective_date
        if not self._fold_clinical(e, pos):
            self._fold_participation(e, pos)

    def _fold_clinical(self, e: SubjectEvent, pos: int | None) -> bool:
        """Doses, labs, assessments, progressions, adverse events, follow-up visits and regimen
        changes; False for any other event."""
        if isinstance(e, DoseAdministered):
            self.tally_dose(e.drug, e.effective_date)
        elif isinstance(e, DoseMissed):
            missed = self.missed_tally.setdefault(e.drug, MissedTally())
            missed.missed += 1
            missed.held += 1 if e.held else 0
        elif isinstance(e, LabResulted):
            self.labs.append((pos, e))
        elif isinstance(e, ResponseAssessed):
            _insert_by_date(self.assessment_records, (pos, e))
        elif isinstance(e, RegimenChanged):
            self.timeline.add(e, pos)
        elif isinstance(e, ProgressionConfirmed):
            _insert_by_date(self.progressions, (pos, e))
        elif isinstance(e, AdverseEventReported | AdverseEventResolved):
            self._adverse_event(e, pos)
        elif isinstance(e, FollowUpVisit):
            self.follow_ups.append((pos, e))
        else:
            return False
        return True

    def _fold_participation(self, e: SubjectEvent, pos: int | None) -> None:
        """Screening, eligibility, consent, enrolment and the ends of participation."""
        if isinstance(e, SubjectScreened):
            self.screening, self.screening_position = e, pos
        elif isinstance(e, EligibilityAssessed):
            self.eligibility, self.eligibility_position = e, pos
        elif isinstance(e, ConsentObtained):
            self.consents.append(e)
        elif isinstance(e, SubjectEnrolled):
            self.enrolment = e
        elif isinstance(e, SubjectWithdrawn):
            if e.consent_withdrawn:
                self.consent_withdrawal = e
            else:
                self.treatment_withdrawal = e
        elif isinstance(e, SubjectOffStudy):
            self.off_study = e
        elif isinstance(e, SubjectDied):
            self.death, self.death_position = e, pos

    def tally_dose(self, drug: str, on: date) -> None:
        """Count one administered dose (the fold's branch for ``DoseAdministered``; the subject
        view calls it directly on the stored payload, the hot path, without a model)."""
        tally = self.dose_tally.get(drug)
        if tally is None:
            tally = self.dose_tally[drug] = DoseTally()
        tally.taken += 1
        if tally.first is None or on < tally.first:
            tally.first = on
        if tally.last is None or on > tally.last:
            tally.last = on
        if self.last_date is None or on > self.last_date:
            self.last_date = on

    def _adverse_event(
        self, e: AdverseEventReported | AdverseEventResolved, pos: int | None
    ) -> None:
        known = self.adverse_events.get(e.ae_id)
        if isinstance(e, AdverseEventResolved):
            if known is not None:
                known.resolution = e
            return
        if known is None:
            self.adverse_events[e.ae_id] = AdverseEvent(e, pos, e.effective_date, e.grade)
        else:
            known.report = e
            known.worst_grade = max(known.worst_grade, e.grade)
            known.onset = min(known.onset, e.effective_date)

    # ------------------------------------------------------------------ queries

    @property
    def screened(self) -> bool:
        return self.screening is not None

    @property
    def enrolled(self) -> bool:
        return self.enrolment is not None

    @property
    def site(self) -> str:
        if self.screening is not None:
            return self.screening.site
        return self.subject_id.split("-")[1]

    @property
    def treatment_start(self) -> date | None:
        return self.enrolment.treatment_start if self.enrolment else None

    def params(self, amendment: str) -> ProtocolParameters:
        """The amendment the subject was enrolled under, else ``amendment`` (the trial's)."""
        return parameters_for(self.enrolment.protocol_amendment if self.enrolment else amendment)

    @property
    def periods(self) -> list[RegimenPeriod]:
        return self.timeline.periods

    @property
    def latest_period(self) -> RegimenPeriod | None:
        return self.timeline.latest

    @property
    def current_regimen(self) -> Regimen:
        return self.timeline.current

    def period_on(self, on: date) -> RegimenPeriod | None:
        return self.timeline.period_on(on)

    def regimen_on(self, on: date) -> Regimen:
        return self.timeline.regimen_on(on)

    @property
    def off_study_from(self) -> date | None:
        found = self.timeline.off_study_from()
        if found is not None:
            return found
        return self.off_study.effective_date if self.off_study else None

    def first_dose(self, drug: str = "anakinra") -> date | None:
        tally = self.dose_tally.get(drug)
        return tally.first if tally else None


def _insert_by_date(entries: list[tuple[int | None, E]], entry: tuple[int | None, E]) -> None:
    """Keep ``entries`` in clinical-date order, a later record after an earlier one of the
    same date (appended in the usual case, inserted for a late entry)."""
    on = entry[1].effective_date
    if not entries or entries[-1][1].effective_date <= on:
        entries.append(entry)
    else:
        bisect.insort_right(entries, entry, key=lambda x: x[1].effective_date)


HISTORY_JSON: TypeAdapter[SubjectHistory] = TypeAdapter(SubjectHistory)
"""How the subject view stores a history (and loads it back, validated)."""


def as_on(subject_id: str, entries: Iterable[Entry], on: date | None) -> SubjectHistory:
    """The history as true on clinical date ``on``: events whose corrected clinical date is on
    or before it (corrections recorded at any time applied first); all when ``on`` is None."""
    if on is None:
        return SubjectHistory.fold(subject_id, entries)
    records, notes = corrected_records(entries)
    history = SubjectHistory(subject_id)
    history.fold_records(
        r
        for r in records
        if isinstance(r.current, CorrectionRecorded) or r.current.effective_date <= on
    )
    history.corrections = notes
    return history
