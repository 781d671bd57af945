"""Every response assessment of a subject derived again on corrected values.

* Measurement of an assessment [RESP-VALUES]: for each marker the latest lab dated after the
  previous assessment (or the enrolment baseline) and on or before the assessment date, the
  last recorded winning a tie; the clinical findings (bone lesions, plasmacytoma,
  hypercalcaemia) the investigator recorded with it.
* Lines: a recorded progression (``ProgressionConfirmed``) ends a line; responses after it are
  measured from a new baseline, the last assessment on or before its confirmation [assumed].
* Derived category: :func:`ledger.protocol.response.derive_response` on the line's baseline,
  the line's earlier assessments and this one; confirmation of a line's series by
  :func:`ledger.protocol.response.confirmation_runs` (:func:`runs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from ledger.events import MeasuredValues, ResponseAssessed
from ledger.protocol import schedule
from ledger.protocol.parameters import ProtocolParameters
from ledger.protocol.response import (
    Category,
    ConfirmedResponse,
    Measurement,
    confirmation_runs,
    confirmed_alone,
    derive_response,
)
from ledger.protocol.schedule import Regimen
from ledger.subject.history import SubjectHistory

MARKERS: tuple[tuple[str, str], ...] = (
    ("serum_m_protein", "serum_m_protein_g_dl"),
    ("urine_m_protein", "urine_m_protein_mg_24h"),
    ("marrow_plasma_cells", "marrow_plasma_cells_pct"),
    ("serum_ife", "serum_ife_negative"),
    ("urine_ife", "urine_ife_negative"),
)
RESPONSES = frozenset({Category.CR, Category.VGPR, Category.PR, Category.MR})


@dataclass(frozen=True)
class Findings:
    """Clinical findings of a response assessment that no lab gives (IMWG 2006 PD criteria)."""

    new_bone_lesions: bool | None = None
    plasmacytoma: bool | None = None
    hypercalcaemia: bool | None = None


@dataclass(frozen=True)
class Evaluation:
    """One response assessment as the corrected history derives it."""

    position: int | None
    on: date
    protocol_month: int
    investigator: Category
    derived: Category
    recorded_derived: Category
    rule_ids: tuple[str, ...]
    values_used: dict[str, str]
    measurement: Measurement
    lab_positions: tuple[int, ...]
    line: int
    regimen: Regimen  # in force the day before: the regimen the response is attributed to
    alone: bool  # PD that needs no second assessment (CONF-PD-SINGLE)


def baseline_measurement(h: SubjectHistory) -> Measurement | None:
    """The enrolment baseline (corrected) as a response measurement, dated at enrolment."""
    if h.enrolment is None:
        return None
    b = h.enrolment.baseline
    return Measurement(
        assessed_on=h.enrolment.effective_date,
        serum_m_protein_g_dl=b.serum_m_protein_g_dl,
        urine_m_protein_mg_24h=b.urine_m_protein_mg_24h,
        marrow_plasma_cells_pct=b.marrow_plasma_cells_pct,
    )


def latest_lab(
    h: SubjectHistory, analyte: str, after: date, on: date
) -> tuple[Decimal, int | None] | None:
    """The latest ``analyte`` result dated in (``after``, ``on``]; the last recorded wins ties."""
    found: tuple[Decimal, int | None] | None = None
    latest: date | None = None
    for position, lab in h.labs:
        when = lab.effective_date
        if lab.analyte == analyte and after < when <= on and (latest is None or when >= latest):
            found, latest = (lab.value, position), when
    return found


def measure(
    h: SubjectHistory, on: date, findings: Findings, previous: date | None
) -> tuple[MeasuredValues, tuple[int, ...]]:
    """The values of an assessment on ``on`` [RESP-VALUES]; ``previous`` is the date of the
    assessment before it (None: the first, measured from the enrolment baseline)."""
    baseline = baseline_measurement(h)
    after = previous or (baseline.assessed_on if baseline else on)
    values: dict[str, Any] = {}
    positions: list[int] = []
    for analyte, name in MARKERS:
        found = latest_lab(h, analyte, after, on)
        if found is None:
            continue
        value, position = found
        values[name] = value == 1 if analyte.endswith("_ife") else value
        if position is not None:
            positions.append(position)
    measured = MeasuredValues(
        **values,
        new_bone_lesions=findings.new_bone_lesions,
        plasmacytoma=findings.plasmacytoma,
        hypercalcaemia=findings.hypercalcaemia,
    )
    return measured, tuple(sorted(positions))


def line_starts(h: SubjectHistory) -> list[date]:
    """The confirmation dates of recorded progressions: each ends a line of response."""
    return sorted(p.effective_date for _, p in h.progressions)


def _line_of(on: date, starts: list[date]) -> int:
    return sum(1 for start in starts if start < on)


def _by_date(
    h: SubjectHistory, extra: tuple[date, Findings] | None
) -> dict[date, tuple[int | None, ResponseAssessed | None, Findings]]:
    """The recorded assessments (and ``extra``) by date, the last recorded winning."""
    by_date: dict[date, tuple[int | None, ResponseAssessed | None, Findings]] = {}
    for position, a in h.assessment_records:
        m = a.measured or MeasuredValues()
        by_date[a.effective_date] = (
            position,
            a,
            Findings(m.new_bone_lesions, m.plasmacytoma, m.hypercalcaemia),
        )
    if extra is not None:
        by_date[extra[0]] = (None, None, extra[1])
    return by_date


def _protocol_month(
    recorded: ResponseAssessed | None, start: date, on: date, params: ProtocolParameters
) -> int:
    """The recorded protocol month; for an assessment not yet recorded, the month of ``on``
    (0 before the treatment start)."""
    if recorded is not None:
        return recorded.protocol_month
    return schedule.protocol_month(start, on, params) if on >= start else 0


def evaluate(
    h: SubjectHistory, params: ProtocolParameters, extra: tuple[date, Findings] | None = None
) -> list[Evaluation]:
    """Every assessment derived again on corrected values, in date order (one per date, the
    last recorded winning). ``extra``: an assessment not yet recorded (date, findings), derived
    as the recording rules would, with investigator category and month left as SD and 0."""
    baseline = baseline_measurement(h)
    start = h.treatment_start
    if baseline is None or start is None:
        return []
    by_date = _by_date(h, extra)
    starts = line_starts(h)
    found: list[Evaluation] = []
    previous: date | None = None
    line_baselines: dict[int, Measurement] = {0: baseline}
    for on in sorted(by_date):
        position, recorded, findings = by_date[on]
        measured, labs = measure(h, on, findings, previous)
        previous = on
        current = Measurement(assessed_on=on, **measured.model_dump())
        line = _line_of(on, starts)
        base = line_baselines.get(line)
        if base is None:  # the last assessment of the line before, at its confirmation
            before = [e for e in found if e.on <= starts[line - 1]]
            base = before[-1].measurement if before else baseline
            line_baselines[line] = base
        if on <= base.assessed_on:
            continue
        prior = [e.measurement for e in found if e.line == line and e.on > base.assessed_on]
        derived = derive_response(base, prior, current, params)
        found.append(
            Evaluation(
                position=position,
                on=on,
                protocol_month=_protocol_month(recorded, start, on, params),
                investigator=Category(recorded.investigator_category if recorded else "SD"),
                derived=derived.category,
                recorded_derived=Category(
                    recorded.derived_category if recorded else derived.category.value
                ),
                rule_ids=derived.rule_ids,
                values_used=derived.values_used,
                measurement=current,
                lab_positions=labs,
                line=line,
                regimen=h.regimen_on(on - timedelta(days=1)),
                alone=confirmed_alone(derived, params),
            )
        )
    return found


def series(evaluations: list[Evaluation], basis: str = "derived") -> list[tuple[date, Category]]:
    return [(e.on, e.derived if basis == "derived" else e.investigator) for e in evaluations]


def alone_dates(evaluations: list[Evaluation]) -> frozenset[date]:
    """Dates whose PD confirms itself; an investigator's PD is read the same way only where the
    rules found such a criterion."""
    return frozenset(e.on for e in evaluations if e.alone)


def runs(
    evaluations: list[Evaluation], params: ProtocolParameters, basis: str = "derived"
) -> tuple[ConfirmedResponse, ...]:
    return confirmation_runs(series(evaluations, basis), params, alone_dates(evaluations))


def in_line(evaluations: list[Evaluation], line: int) -> list[Evaluation]:
    return [e for e in evaluations if e.line == line]
