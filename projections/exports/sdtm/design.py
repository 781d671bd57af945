"""DM and SE rows of one subject, and the trial design datasets TA and TE."""

from __future__ import annotations

from collections.abc import Iterator

from ledger.protocol.schedule import ON_TREATMENT
from projections.exports.sdtm.events import Row
from projections.exports.sdtm.subject import SubjectData, iso
from projections.exports.sdtm.terms import (
    ARM,
    ARMCD,
    COUNTRY,
    ELEMENTS,
    SCREENING_ELEMENT,
    STUDYID,
    Element,
)


def actual_arm(s: SubjectData) -> tuple[str, str] | None:
    """ACTARMCD and ACTARM: the treatment elements the subject went through, in order."""
    if not s.treated:
        return None
    elements = [ELEMENTS[p.regimen] for p, _end in s.runs() if p.regimen in ON_TREATMENT]
    if not elements:
        return None
    return "+".join(e.code for e in elements), ", then ".join(e.name for e in elements)


def dm_rows(s: SubjectData) -> Iterator[Row]:
    h = s.history
    firsts = [t.first for t in h.dose_tally.values() if t.first is not None]
    lasts = [t.last for t in h.dose_tally.values() if t.last is not None]
    treated = s.treated
    first_dose = min(firsts) if firsts and treated else None
    last_dose = max(lasts) if lasts and treated else None
    actual = actual_arm(s)
    arm: tuple[str, str] | None = None
    reason: str | None = "SCREEN FAILURE"
    if h.enrolment is not None:
        arm, reason = (ARMCD, ARM), None if actual else "ASSIGNED, NOT TREATED"
    screening = h.screening
    yield [
        STUDYID,
        "DM",
        s.usubjid,
        h.subject_id,
        iso(h.treatment_start) if treated else None,
        iso(last_dose),
        iso(first_dose),
        iso(last_dose),
        iso(s.first_consent()),
        iso(s.participation_end()),
        iso(h.death.effective_date) if h.death else None,
        "Y" if h.death else None,
        h.site,
        screening.age_years if screening else None,
        "YEARS" if screening else None,
        screening.sex if screening else None,
        None,
        None,
        *(arm or (None, None)),
        *(actual or (None, None)),
        reason,
        COUNTRY,
    ]


def se_rows(s: SubjectData) -> Iterator[Row]:
    """Screening from the screening date, then one element per run of a regimen; each ends
    where the next starts, the last at the end of participation."""
    h = s.history
    runs = s.runs()
    end = s.participation_end()
    elements: list[tuple[Element, str | None, str | None]] = []
    if h.screening is not None:
        screening_end = runs[0][0].starts_on if runs else end
        elements.append((SCREENING_ELEMENT, iso(h.screening.effective_date), iso(screening_end)))
    for period, next_start in runs:
        element = ELEMENTS.get(period.regimen)
        if element is not None:
            elements.append((element, iso(period.starts_on), iso(next_start or end)))
    for seq, (element, start, stop) in enumerate(elements, 1):
        yield [
            STUDYID, "SE", s.usubjid, seq, element.code, element.name, element.order,
            element.epoch, start, stop,
        ]  # fmt: skip


def _design() -> list[Element]:
    return [SCREENING_ELEMENT, *ELEMENTS.values()]


def ta_rows() -> Iterator[Row]:
    for e in _design():
        yield [STUDYID, "TA", ARMCD, ARM, e.order, e.code, e.name, e.branch, e.epoch]


def te_rows() -> Iterator[Row]:
    for e in _design():
        yield [STUDYID, "TE", e.code, e.name, e.start_rule, e.end_rule]
