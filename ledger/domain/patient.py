"""The Patient aggregate: one subject's state, folded from that subject's events.

:meth:`Patient.apply` only assigns state; it never checks a protocol rule, so a replay gives
the state the events describe even after an amendment changes a rule. The rules are checked by
the command functions in :mod:`ledger.domain.commands`, before events are built.

Every event is kept as a :class:`Record` with its ledger position (``None`` while pending in an
import), as recorded and as corrected. A correction replaces the corrected record's current
form (or marks it entered in error) and the derived state is folded again from the current
forms: the original stays in :attr:`Patient.records` for every audit view.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from ledger.chain import EventRow
from ledger.domain.corrections import with_field
from ledger.errors import UsageError
from ledger.events import (
    ENTERED_IN_ERROR,
    RECORD_STATUS_FIELD,
    AdverseEventReported,
    AdverseEventResolved,
    ConsentObtained,
    CorrectionRecorded,
    DoseAdministered,
    DoseMissed,
    EligibilityAssessed,
    FollowUpVisit,
    LabResulted,
    LedgerEvent,
    MeasuredValues,
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
from ledger.protocol.response import Category, Measurement
from ledger.protocol.schedule import Regimen
from ledger.store import decode_event


@dataclass
class Record:
    """One event of the subject: as recorded, and as it stands after corrections."""

    position: int | None
    recorded: SubjectEvent
    current: SubjectEvent
    entered_in_error: bool = False
    corrected_by: list[int | None] = field(default_factory=list)


@dataclass(frozen=True)
class RegimenPeriod:
    """A regimen from its first day; ``course_start`` is the first day of an unbroken run of
    the same regimen (a confirming decision such as REG-M12-LOWDEX-EXTEND does not restart the
    dosing calendar)."""

    regimen: Regimen
    starts_on: date
    course_start: date
    rule_id: str
    position: int | None


@dataclass(frozen=True)
class Assessment:
    on: date
    derived: Category
    investigator: Category
    measurement: Measurement
    position: int | None


@dataclass
class AdverseEvent:
    report: AdverseEventReported
    position: int | None
    resolution: AdverseEventResolved | None = None


def measurement_from(on: date, values: MeasuredValues) -> Measurement:
    return Measurement(assessed_on=on, **values.model_dump())


class Patient:
    """One subject's state. Build with :meth:`from_events` or :meth:`from_rows`."""

    def __init__(self, subject_id: str) -> None:
        self.subject_id = subject_id
        self.version = 0
        self.records: list[Record] = []
        self._by_position: dict[int, Record] = {}
        self._reset()

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
        for row in rows:
            event = decode_event(row.topic, row.state, row.originator_id, row.originator_version)
            patient.apply(event, row.position)
        return patient

    def copy(self) -> Patient:
        """An independent copy, to fold pending events into without touching this one.

        Events are frozen, so only the records (which corrections change) are copied; the
        derived state is folded again from them (cheaper than a deep copy, and the same fold).
        """
        twin = Patient(self.subject_id)
        twin.version = self.version
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
        return twin

    def extend_from_rows(self, rows: Iterable[EventRow]) -> None:
        """Fold stored events newer than this state (rows in version order)."""
        for row in rows:
            event = decode_event(row.topic, row.state, row.originator_id, row.originator_version)
            self.apply(event, row.position)

    # ------------------------------------------------------------------ folding

    def _reset(self) -> None:
        self.screening: SubjectScreened | None = None
        self.screening_position: int | None = None
        self.eligibility: EligibilityAssessed | None = None
        self.eligibility_position: int | None = None
        self.consents: list[ConsentObtained] = []
        self.enrolment: SubjectEnrolled | None = None
        self.periods: list[RegimenPeriod] = []
        self.doses: dict[tuple[str, date], int | None] = {}
        self.missed: dict[tuple[str, date], int | None] = {}
        self.labs: list[tuple[LabResulted, int | None]] = []
        self.assessments: list[Assessment] = []
        self.progressions: list[tuple[ProgressionConfirmed, int | None]] = []
        self.adverse_events: dict[str, AdverseEvent] = {}
        self.follow_ups: list[FollowUpVisit] = []
        self.treatment_withdrawal: SubjectWithdrawn | None = None
        self.consent_withdrawal: SubjectWithdrawn | None = None
        self.off_study: SubjectOffStudy | None = None
        self.death: SubjectDied | None = None
        self.death_position: int | None = None
        self.signatures: list[RecordSigned] = []

    def apply(self, event: LedgerEvent, position: int | None = None) -> None:
        """Fold one event of this subject into the state (assignment only, no rule checks)."""
        if not isinstance(event, SubjectEvent):
            return
        self.version = event.originator_version
        record = Record(position=position, recorded=event, current=event)
        self.records.append(record)
        if position is not None:
            self._by_position[position] = record
        if isinstance(event, CorrectionRecorded):
            target = self._by_position.get(event.corrects_position)
            if target is None:
                return
            if event.field == RECORD_STATUS_FIELD:
                target.entered_in_error = event.new_value == ENTERED_IN_ERROR
            else:
                target.current = with_field(target.current, event.field, event.new_value)
            target.corrected_by.append(position)
            self._refold()
            return
        self._fold(record)

    def _refold(self) -> None:
        self._reset()
        for record in self.records:
            self._fold(record)

    def _fold(self, record: Record) -> None:
        if record.entered_in_error:
            return
        e, pos = record.current, record.position
        if isinstance(e, SubjectScreened):
            self.screening, self.screening_position = e, pos
        elif isinstance(e, EligibilityAssessed):
            self.eligibility, self.eligibility_position = e, pos
        elif isinstance(e, ConsentObtained):
            self.consents.append(e)
        elif isinstance(e, SubjectEnrolled):
            self.enrolment = e
        elif isinstance(e, RegimenChanged):
            self._fold_regimen(e, pos)
        elif isinstance(e, DoseAdministered):
            self.doses[(e.drug, e.effective_date)] = pos
        elif isinstance(e, DoseMissed):
            self.missed[(e.drug, e.effective_date)] = pos
        elif isinstance(e, LabResulted):
            self.labs.append((e, pos))
        elif isinstance(e, ResponseAssessed):
            values = e.measured or MeasuredValues()
            self.assessments.append(
                Assessment(
                    on=e.effective_date,
                    derived=Category(e.derived_category),
                    investigator=Category(e.investigator_category),
                    measurement=measurement_from(e.effective_date, values),
                    position=pos,
                )
            )
        elif isinstance(e, ProgressionConfirmed):
            self.progressions.append((e, pos))
        elif isinstance(e, AdverseEventReported):
            self.adverse_events[e.ae_id] = AdverseEvent(e, pos)
        elif isinstance(e, AdverseEventResolved):
            if e.ae_id in self.adverse_events:
                self.adverse_events[e.ae_id].resolution = e
        elif isinstance(e, FollowUpVisit):
            self.follow_ups.append(e)
        elif isinstance(e, SubjectWithdrawn):
            if e.consent_withdrawn:
                self.consent_withdrawal = e
            else:
                self.treatment_withdrawal = e
        elif isinstance(e, SubjectOffStudy):
            self.off_study = e
        elif isinstance(e, SubjectDied):
            self.death, self.death_position = e, pos
        elif isinstance(e, RecordSigned):
            self.signatures.append(e)

    def _fold_regimen(self, e: RegimenChanged, pos: int | None) -> None:
        """A regimen from ``effective_date``; it supersedes periods decided earlier that had not
        started by then (a progression before a scheduled month-7 start)."""
        starts = e.effective_date
        kept = [p for p in self.periods if p.starts_on <= starts]
        regimen = Regimen(e.to_regimen)
        previous = kept[-1] if kept else None
        course_start = previous.course_start if previous and previous.regimen is regimen else starts
        kept.append(RegimenPeriod(regimen, starts, course_start, e.rule_id, pos))
        self.periods = kept

    # ------------------------------------------------------------------ queries

    @property
    def screened(self) -> bool:
        return self.screening is not None

    @property
    def enrolled(self) -> bool:
        return self.enrolment is not None

    @property
    def treatment_start(self) -> date | None:
        return self.enrolment.treatment_start if self.enrolment else None

    def params(self, amendment: str) -> ProtocolParameters:
        """The amendment the subject was enrolled under, else ``amendment`` (the trial's)."""
        return parameters_for(self.enrolment.protocol_amendment if self.enrolment else amendment)

    @property
    def positions(self) -> list[int]:
        return [r.position for r in self.records if r.position is not None]

    def record_at(self, position: int) -> Record | None:
        return self._by_position.get(position)

    @property
    def latest_period(self) -> RegimenPeriod | None:
        """The regimen decided last (it may start after today: a scheduled month-7 start)."""
        return self.periods[-1] if self.periods else None

    @property
    def current_regimen(self) -> Regimen:
        period = self.latest_period
        return period.regimen if period else Regimen.SCREENING

    def period_on(self, on: date) -> RegimenPeriod | None:
        """The regimen period in force on ``on`` (None before the first one)."""
        found = None
        for period in self.periods:
            if period.starts_on <= on:
                found = period
        return found

    def regimen_on(self, on: date) -> Regimen:
        period = self.period_on(on)
        return period.regimen if period else Regimen.SCREENING

    @property
    def off_study_from(self) -> date | None:
        for period in self.periods:
            if period.regimen is Regimen.OFF_STUDY:
                return period.starts_on
        return self.off_study.effective_date if self.off_study else None

    def baseline_measurement(self) -> Measurement | None:
        """The enrolment baseline as a response measurement (dated on the enrolment date)."""
        if self.enrolment is None:
            return None
        b = self.enrolment.baseline
        return Measurement(
            assessed_on=self.enrolment.effective_date,
            serum_m_protein_g_dl=b.serum_m_protein_g_dl,
            urine_m_protein_mg_24h=b.urine_m_protein_mg_24h,
            marrow_plasma_cells_pct=b.marrow_plasma_cells_pct,
        )

    @property
    def line_start(self) -> date | None:
        """The date of the last confirmed progression: responses after it are measured from a
        new baseline (the assessment that confirmed it)."""
        return self.progressions[-1][0].effective_date if self.progressions else None

    def line_baseline(self) -> Measurement | None:
        """Baseline of the current line: the enrolment baseline, or after a confirmed
        progression the last assessment on or before it [assumed]."""
        start = self.line_start
        if start is not None:
            before = [a for a in self.assessments if a.on <= start]
            if before:
                return before[-1].measurement
        return self.baseline_measurement()

    def line_assessments(self) -> list[Assessment]:
        """Assessments after the current line's baseline, in date order."""
        baseline = self.line_baseline()
        if baseline is None:
            return []
        return [a for a in self.assessments if a.on > baseline.assessed_on]

    def assessments_since(self, start: date) -> list[Assessment]:
        return [a for a in self.assessments if a.on >= start]

    def latest_lab(self, analyte: str, after: date, on: date) -> tuple[Decimal, int | None] | None:
        """The latest result of ``analyte`` dated in (``after``, ``on``]."""
        found: tuple[Decimal, int | None] | None = None
        latest: date | None = None
        for lab, position in self.labs:
            if (
                lab.analyte == analyte
                and after < lab.effective_date <= on
                and (latest is None or lab.effective_date >= latest)
            ):
                found, latest = (lab.value, position), lab.effective_date
        return found
