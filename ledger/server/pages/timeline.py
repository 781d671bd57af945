"""The geometry of a subject's timeline, prepared from the subject report and its facts.

:func:`timeline` turns a ``patient --json`` report (see the README's "JSON shapes") and the
subject's :class:`~ledger.server.pages.facts.ClinicalFacts` into plain shapes on one date
axis: a coloured segment per regimen period (the report's ``regimen_history``, plus the
screening before the first), a tick per dose per drug, the serum M-protein as a line chart
with its values, the other analytes as markers, the assessments with the investigator's and
the rules' category side by side, adverse events as bars from onset to resolution, the
progressions and the corrections. Every shape keeps the ledger position of the record it
draws, so the template only places what is prepared here, and the tests assert the geometry
itself (the segments are the periods, the points are the results). Pure: no I/O, no clock.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from ledger.server.pages.facts import ClinicalFacts
from ledger.server.pages.shapes import (
    CHART_HEIGHT,
    LANE_HEIGHT,
    M_PROTEIN,
    ROW_GAP,
    Bar,
    DateScale,
    Mark,
    Point,
    Row,
    Segment,
    Timeline,
)

LANES: tuple[tuple[str, str], ...] = (
    ("screening", "screening"),
    ("induction", "induction"),
    ("continuation", "continuation"),
    ("low_dose_dex", "low-dose dexamethasone"),
    ("high_dose_dex", "high-dose dexamethasone"),
    ("off_treatment", "off treatment"),
    ("follow_up", "follow-up"),
    ("off_study", "off study"),
)
ALWAYS_SHOWN = frozenset(
    {"screening", "induction", "continuation", "low_dose_dex", "high_dose_dex", "follow_up"}
)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def date_range(report: dict[str, Any], facts: ClinicalFacts) -> tuple[date, date]:
    """From the first clinical date shown to the report's reference date (or the last fact)."""
    found: list[date] = [
        d
        for d in (
            _day(report.get("screened_on")),
            _day(report.get("reference_date")),
            *(_day(p["effective_date"]) for p in report.get("regimen_history", [])),
            *(_day(a["date"]) for a in report["response"]["assessments"]),
            *(_day(ae["onset"]) for ae in _aes(report)),
            *(_day(ae["resolved_on"]) for ae in _aes(report)),
        )
        if d is not None
    ]
    found += [d.date for d in facts.doses] + [lab.date for lab in facts.labs]
    if not found:
        raise ValueError(f"subject {report.get('subject_id')}: nothing dated to draw")
    start, end = min(found), max(found)
    return start, max(end, start + timedelta(days=1))


def _aes(report: dict[str, Any]) -> list[dict[str, Any]]:
    ae = report.get("adverse_events", {})
    found: list[dict[str, Any]] = [*ae.get("open", []), *ae.get("resolved", [])]
    return sorted(found, key=lambda a: (a["onset"], a["ae_id"]))


def axis_ticks(scale: DateScale) -> list[tuple[float, str]]:
    """Year starts on a long axis, quarter starts on a shorter one, month starts below."""
    span = (scale.end - scale.start).days
    months = 12 if span > 3 * 365 else 3 if span > 180 else 1
    ticks: list[tuple[float, str]] = []
    year, month = scale.start.year, scale.start.month
    while True:
        month += 1
        if month > 12:
            year, month = year + 1, 1
        if (month - 1) % months:
            continue
        on = date(year, month, 1)
        if on > scale.end:
            return ticks
        ticks.append((scale.x(on), str(year) if months == 12 else f"{year}-{month:02d}"))


def regimen_segments(
    report: dict[str, Any], scale: DateScale, lane_y: dict[str, float]
) -> list[Segment]:
    """A segment per period of ``regimen_history`` (to the next period's start, the last to
    the reference date), after one for screening (screening date to the first period)."""
    periods = report.get("regimen_history", [])
    found: list[Segment] = []
    last = _day(report.get("reference_date")) or scale.end
    screened = _day(report.get("screened_on"))
    if screened is not None:
        end = _day(periods[0]["effective_date"]) if periods else last
        found.append(_segment("screening", screened, end or last, None, None, None, scale, lane_y))
    for i, p in enumerate(periods):
        start = date.fromisoformat(p["effective_date"])
        nxt = periods[i + 1]["effective_date"] if i + 1 < len(periods) else None
        end = date.fromisoformat(nxt) if nxt else last
        found.append(
            _segment(
                p["regimen"], start, end, p["position"], p["rule_id"], p["reason"], scale, lane_y
            )
        )
    return found


def _segment(
    regimen: str,
    start: date,
    end: date,
    position: int | None,
    rule_id: str | None,
    reason: str | None,
    scale: DateScale,
    lane_y: dict[str, float],
) -> Segment:
    x0, x1 = scale.x(start), scale.x(max(end, start))
    return Segment(
        regimen,
        dict(LANES).get(regimen, regimen),
        start,
        end,
        x0,
        lane_y[regimen],
        round(x1 - x0, 2),
        LANE_HEIGHT,
        position,
        rule_id,
        reason,
    )


def chart_points(facts: ClinicalFacts, scale: DateScale, top: float, bottom: float) -> list[Point]:
    """The serum M-protein results, oldest first; y from ``bottom`` (the lowest value, or 0)
    to ``top`` (the highest)."""
    labs = [lab for lab in facts.labs if lab.analyte == M_PROTEIN]
    if not labs:
        return []
    low = min(Decimal(0), *(lab.value for lab in labs))
    high = max(lab.value for lab in labs)
    span = high - low or Decimal(1)
    return [
        Point(
            scale.x(lab.date),
            round(bottom - float((lab.value - low) / span) * (bottom - top), 2),
            lab.date,
            lab.value,
            lab.unit,
            lab.position,
            lab.corrected,
        )
        for lab in labs
    ]


class _Rows:
    """Rows stacked top to bottom, each with its label."""

    def __init__(self, top: float) -> None:
        self.y = top
        self.rows: list[Row] = []

    def add(self, label: str, height: float = LANE_HEIGHT) -> float:
        y = self.y
        self.rows.append(Row(label, y, height))
        self.y += height + ROW_GAP
        return y


def timeline(report: dict[str, Any], facts: ClinicalFacts) -> Timeline:
    """The whole timeline of one subject report (see the module docstring)."""
    start, end = date_range(report, facts)
    t = Timeline(DateScale(start, end))
    t.axis = axis_ticks(t.scale)
    rows = _Rows(22.0)
    present = {p["regimen"] for p in report.get("regimen_history", [])}
    lane_y = {
        regimen: rows.add(label)
        for regimen, label in LANES
        if regimen in ALWAYS_SHOWN or regimen in present
    }
    t.segments = regimen_segments(report, t.scale, lane_y)
    for drug in sorted({d.drug for d in facts.doses}):
        y = rows.add(f"{drug} doses")
        t.doses += [
            Mark(
                t.scale.x(d.date),
                y,
                d.date,
                d.position,
                f"{d.drug} {d.dose} {d.unit} {d.route}",
                d.corrected,
            )
            for d in facts.doses
            if d.drug == drug
        ]
    t.chart_top = rows.add("serum M-protein", CHART_HEIGHT)
    t.chart_bottom = t.chart_top + CHART_HEIGHT
    t.points = chart_points(facts, t.scale, t.chart_top + 12, t.chart_bottom - 4)
    if t.points:
        t.chart_range = (min(p.value for p in t.points), max(p.value for p in t.points))
    _labs_and_events(report, facts, t, rows)
    t.rows = rows.rows
    t.height = rows.y + 4
    return t


def _labs_and_events(
    report: dict[str, Any], facts: ClinicalFacts, t: Timeline, rows: _Rows
) -> None:
    for analyte in sorted({lab.analyte for lab in facts.labs} - {M_PROTEIN}):
        y = rows.add(analyte)
        t.labs += [
            Mark(
                t.scale.x(lab.date),
                y,
                lab.date,
                lab.position,
                f"{lab.analyte} {lab.value} {lab.unit}",
                lab.corrected,
            )
            for lab in facts.labs
            if lab.analyte == analyte
        ]
    y = rows.add("assessments (inv. / rules)", LANE_HEIGHT * 2)
    t.assessments = [
        Mark(
            t.scale.x(date.fromisoformat(a["date"])),
            y,
            date.fromisoformat(a["date"]),
            a["position"],
            f"{a['investigator']} / {a['derived']}",
            bool(a["disagree"]),
        )
        for a in report["response"]["assessments"]
    ]
    t.bars = _ae_bars(report, t.scale, rows)
    y = rows.add("corrections")
    t.corrections = [_correction(c, facts, t.scale, y) for c in report.get("corrections", [])]
    t.progressions = [
        Mark(
            t.scale.x(date.fromisoformat(p["date"])),
            0.0,
            date.fromisoformat(p["date"]),
            p["position"],
            f"progression {p['date']} ({p['source']})",
            not p.get("supported", True),
        )
        for p in report["response"].get("progressions", [])
    ]


def _correction(c: dict[str, Any], facts: ClinicalFacts, scale: DateScale, y: float) -> Mark:
    """A correction, on the clinical date of the record it corrects (the axis start if that
    record is not shown, e.g. voided)."""
    on = facts.record_dates.get(int(c["corrects_position"]), scale.start)
    return Mark(
        scale.x(on),
        y,
        on,
        c["position"],
        f"position {c['corrects_position']} {c['field']}: {c['old_value']!r} -> "
        f"{c['new_value']!r} ({c['reason']})",
        not c.get("applied", True),
    )


def _ae_bars(report: dict[str, Any], scale: DateScale, rows: _Rows) -> list[Bar]:
    """An adverse event a row: onset to resolution, or to the end of the axis while open."""
    bars: list[Bar] = []
    for ae in _aes(report):
        onset = date.fromisoformat(ae["onset"])
        resolved = _day(ae["resolved_on"])
        stop = max(resolved or scale.end, onset)
        x0 = scale.x(onset)
        bars.append(
            Bar(
                ae["ae_id"],
                f"{ae['ae_id']} {ae['term']} (grade {ae['worst_grade']})",
                onset,
                stop,
                resolved is None,
                int(ae["worst_grade"]),
                bool(ae["serious"]),
                x0,
                rows.add(f"{ae['ae_id']} grade {ae['worst_grade']}"),
                round(scale.x(stop) - x0, 2),
                LANE_HEIGHT,
                ae["position"],
            )
        )
    return bars
