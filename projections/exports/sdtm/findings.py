"""LB, RS and SV rows of one subject (findings and visits), in date order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

from ledger.events import ANALYTE_UNITS
from projections.exports.sdtm.events import Row, number
from projections.exports.sdtm.subject import SubjectData, iso
from projections.exports.sdtm.terms import (
    BASELINE_ANALYTES,
    BEST_RESPONSE_TEST,
    EPOCHS,
    FLAG_TESTS,
    LAB_TESTS,
    RESPONSE_CATEGORY,
    RESPONSE_TEST,
    STUDYID,
)
from projections.report import best_confirmed, params_of

Lab = tuple[date, int, str | None, str, Decimal, str, bool]
"""(date, position or 0, spid, analyte, value, unit as recorded, from the enrolment baseline)"""


def _labs(s: SubjectData) -> list[Lab]:
    h = s.history
    found: list[Lab] = []
    if h.enrolment is not None:
        spid = s.position_of(h.enrolment)
        for name, analyte in BASELINE_ANALYTES.items():
            value = getattr(h.enrolment.baseline, name)
            if value is not None:
                on = h.enrolment.effective_date
                found.append((on, -1, spid, analyte, value, ANALYTE_UNITS[analyte], True))
    for position, lab in h.labs:
        spid = None if position is None else str(position)
        found.append(
            (lab.effective_date, position or 0, spid, lab.analyte, lab.value, lab.unit, False)
        )
    found.sort(key=lambda x: (x[0], x[1]))
    return found


def _baselines(s: SubjectData, labs: list[Lab]) -> set[int]:
    """Indexes of the LBLOBXFL rows: per analyte the enrolment value, else the latest result
    on or before the treatment start (as the ``patient`` markers take the baseline)."""
    start = s.history.treatment_start
    chosen: dict[str, int] = {}
    if start is None:
        return set()
    for i, (on, _pos, _spid, analyte, _value, _unit, enrolment) in enumerate(labs):
        previous = chosen.get(analyte)
        if previous is not None and labs[previous][6]:
            continue
        if enrolment or on <= start:
            chosen[analyte] = i
    return set(chosen.values())


def lb_rows(s: SubjectData) -> Iterator[Row]:
    labs = _labs(s)
    flagged = _baselines(s, labs)
    for seq, (on, _pos, spid, analyte, value, unit, _enrolment) in enumerate(labs, 1):
        test = LAB_TESTS[analyte]
        if analyte in FLAG_TESTS:
            result: str = "NEGATIVE" if value == 1 else "POSITIVE"
            numeric: int | float | None = None
            original_unit = standard_unit = None
        else:
            result, numeric = str(value), number(value)
            original_unit, standard_unit = unit, ANALYTE_UNITS[analyte]
        yield [
            STUDYID,
            "LB",
            s.usubjid,
            seq,
            spid,
            test.code,
            test.name,
            test.category,
            result,
            original_unit,
            result,
            numeric,
            standard_unit,
            test.specimen,
            "Y" if seq - 1 in flagged else None,
            s.epoch_on(on),
            iso(on),
        ]


def rs_rows(s: SubjectData) -> Iterator[Row]:
    """Per assessment the investigator's overall response and the one the response rules
    derive on the corrected values (RSDRVFL Y); then the best confirmed response (derived)."""
    visits = {position: (number_, name) for number_, name, _on, position in s.visits}
    seq = 0
    for e in s.subject.evaluations:
        visit = visits.get(e.position, (None, None))
        spid = None if e.position is None else str(e.position)
        epoch = EPOCHS.get(e.regimen) or s.epoch_on(e.on)
        for category, evaluator, derived in (
            (e.investigator.value, "INVESTIGATOR", None),
            (e.derived.value, None, "Y"),
        ):
            seq += 1
            yield [
                STUDYID, "RS", s.usubjid, seq, spid, *RESPONSE_TEST, RESPONSE_CATEGORY,
                category, category, evaluator, derived, *visit, epoch, iso(e.on),
            ]  # fmt: skip
    best = best_confirmed(s.subject.evaluations, params_of(s.history))
    if best is not None:
        yield [
            STUDYID, "RS", s.usubjid, seq + 1, None, *BEST_RESPONSE_TEST, RESPONSE_CATEGORY,
            best.category.value, best.category.value, None, "Y", None, None,
            s.epoch_on(best.confirmed_on), iso(best.confirmed_on),
        ]  # fmt: skip


def sv_rows(s: SubjectData) -> Iterator[Row]:
    for number_, name, on, _position in sorted(s.visits, key=lambda v: (v[2], v[0])):
        yield [STUDYID, "SV", s.usubjid, number_, name, s.epoch_on(on), iso(on), iso(on)]
