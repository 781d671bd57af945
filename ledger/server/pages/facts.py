"""The subject facts a timeline draws that the subject report only counts: every dose given and
every lab result, each in its current (corrected) form, with the clinical date of every record.

The subject report (``patient --json``) tallies doses and summarises each marker (baseline,
nadir, latest); the timeline shows each dose and each result. They come from the same
corrected records the subject's history is folded from
(:func:`ledger.subject.corrections.corrected_records`), so a corrected value is shown as
corrected and a voided record not at all, exactly as the history counts them. Pure: the
caller reads the entries (:func:`projections.subject.subject_entries`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from ledger.events import CorrectionRecorded, DoseAdministered, LabResulted, SubjectEvent
from ledger.subject.corrections import corrected_records


@dataclass(frozen=True)
class DoseFact:
    """One administered dose as it stands."""

    position: int | None
    date: date
    drug: str
    dose: Decimal
    unit: str
    route: str
    corrected: bool


@dataclass(frozen=True)
class LabFact:
    """One lab result as it stands."""

    position: int | None
    date: date
    analyte: str
    value: Decimal
    unit: str
    corrected: bool


@dataclass
class ClinicalFacts:
    """Doses and labs in clinical-date order, and the clinical date of every record shown
    (to place a correction on the date of the record it corrects)."""

    doses: list[DoseFact] = field(default_factory=list)
    labs: list[LabFact] = field(default_factory=list)
    record_dates: dict[int, date] = field(default_factory=dict)


def clinical_facts(
    entries: Iterable[tuple[int | None, SubjectEvent]], on: date | None = None
) -> ClinicalFacts:
    """The doses and labs of one subject's ``entries`` (stream order), corrections and voids
    applied; only those whose corrected clinical date is on or before ``on`` when given (the
    history as true on that date, as :func:`ledger.subject.history.as_on` folds it)."""
    records, _notes = corrected_records(entries)
    facts = ClinicalFacts()
    for record in records:
        event = record.current
        if record.entered_in_error or isinstance(event, CorrectionRecorded):
            continue
        if on is not None and event.effective_date > on:
            continue
        corrected = bool(record.corrected_by)
        if record.position is not None:
            facts.record_dates[record.position] = event.effective_date
        if isinstance(event, DoseAdministered):
            facts.doses.append(
                DoseFact(
                    record.position,
                    event.effective_date,
                    event.drug,
                    event.dose,
                    event.unit,
                    event.route,
                    corrected,
                )
            )
        elif isinstance(event, LabResulted):
            facts.labs.append(
                LabFact(
                    record.position,
                    event.effective_date,
                    event.analyte,
                    event.value,
                    event.unit,
                    corrected,
                )
            )
    facts.doses.sort(key=lambda d: (d.date, d.position or 0))
    facts.labs.sort(key=lambda lab: (lab.date, lab.position or 0))
    return facts
