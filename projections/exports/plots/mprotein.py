"""Waterfall and spider plots: serum M-protein as % change from the subject's baseline.

The baseline is the one ``patient --json`` reports (:func:`projections.report.markers`: the
enrolment value, else the latest result on or before the treatment start) and every change is
:func:`projections.report.percent_change` of it (rounded half-even to 0.01 %). The results
drawn are the subject's serum M-protein labs dated after the treatment start, as corrected.

* waterfall: per subject the best (lowest) result after the treatment start; where it is below
  the baseline it is the ``nadir`` of ``patient --json``. Bars sorted from the largest increase
  to the deepest decrease, coloured by the best confirmed response (the rules' ``derived``
  category over every regimen, ``best_confirmed`` of ``patient --json``), with the -25 % (MR),
  -50 % (PR) and -90 % (VGPR) lines.
* spider: per subject the change at every result, over months since the treatment start,
  starting at 0 % at month 0.

Population: enrolled subjects with a baseline and at least one result after the treatment
start; the others are listed as excluded, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ledger.subject.history import SubjectHistory
from projections.exports.plots.canvas import RESPONSE_COLOURS, RESPONSE_LABELS
from projections.exports.plots.swimmer import months_between
from projections.exports.source import ExportSource
from projections.objectives.population import Subject
from projections.report import markers, percent_change

ANALYTE = "serum_m_protein"
THRESHOLDS = ((-25.0, "MR"), (-50.0, "PR"), (-90.0, "VGPR"))


@dataclass(frozen=True)
class Point:
    on: date
    months: float
    value: Decimal
    change_pct: float


@dataclass(frozen=True)
class Series:
    """One subject's serum M-protein after the treatment start, relative to its baseline."""

    subject_id: str
    baseline: Decimal
    baseline_on: date | None
    treatment_start: date
    points: tuple[Point, ...]
    best_response: str  # best confirmed category, or "none"

    @property
    def best(self) -> Point:
        """The lowest result (the earliest of equal ones)."""
        return min(self.points, key=lambda p: (p.value, p.on))


@dataclass(frozen=True)
class Bar:
    """One waterfall bar: the best % change from baseline of one subject."""

    subject_id: str
    baseline: Decimal
    best: Decimal
    best_on: date
    change_pct: float
    best_response: str


def series_of(s: Subject) -> Series | str:
    """The subject's series, or why it has none."""
    h = s.h
    start = h.treatment_start
    found = markers(h).get(ANALYTE)
    if start is None:
        return "not started on treatment"
    if found is None or found["baseline"] is None:
        return "no baseline serum M-protein"
    baseline = Decimal(found["baseline"])
    labs = sorted(
        (lab.effective_date, pos or 0, lab.value)
        for pos, lab in h.labs
        if lab.analyte == ANALYTE and lab.effective_date > start
    )
    if not labs:
        return "no serum M-protein after the treatment start"
    points = []
    for on, _pos, value in labs:
        change = percent_change(baseline, value)
        assert change is not None
        points.append(Point(on, months_between(start, on), value, float(change)))
    best = s.best(None)
    baseline_on = found["baseline_date"]
    return Series(
        subject_id=h.subject_id,
        baseline=baseline,
        baseline_on=date.fromisoformat(baseline_on) if baseline_on else None,
        treatment_start=start,
        points=tuple(points),
        best_response=best.category.value if best is not None else "none",
    )


def series_and_excluded(
    histories: Iterable[SubjectHistory],
) -> tuple[list[Series], list[dict[str, str]]]:
    drawn: list[Series] = []
    excluded: list[dict[str, str]] = []
    for h in histories:
        if h.enrolment is None:
            continue
        found = series_of(Subject(h))
        if isinstance(found, str):
            excluded.append({"subject_id": h.subject_id, "reason": found})
        else:
            drawn.append(found)
    return drawn, excluded


def spider_data(source: ExportSource) -> list[Series]:
    """One series per enrolled subject with a baseline and a later result (subject id order)."""
    return series_and_excluded(source.histories())[0]


def bars_of(series: Iterable[Series]) -> list[Bar]:
    """The bars, from the largest increase to the deepest decrease (then subject id)."""
    bars = [
        Bar(s.subject_id, s.baseline, s.best.value, s.best.on, s.best.change_pct, s.best_response)
        for s in series
    ]
    return sorted(bars, key=lambda b: (-b.change_pct, b.subject_id))


def waterfall_data(source: ExportSource) -> list[Bar]:
    """One bar per subject of :func:`spider_data`."""
    return bars_of(spider_data(source))


def _response_legend(present: Iterable[str]) -> list[Patch]:
    shown = set(present)
    return [
        Patch(color=RESPONSE_COLOURS[c], label=f"best confirmed: {RESPONSE_LABELS[c]}")
        for c in RESPONSE_COLOURS
        if c in shown
    ]


def draw_waterfall(figure: Figure, bars: list[Bar]) -> None:
    ax = figure.add_axes((0.08, 0.2, 0.9, 0.68))
    xs = range(len(bars))
    ax.bar(
        xs,
        [b.change_pct for b in bars],
        color=[RESPONSE_COLOURS[b.best_response] for b in bars],
        edgecolor="#444444",
        linewidth=0.4,
        width=0.8,
    )
    for level, label in THRESHOLDS:
        ax.axhline(level, color="#333333", ls="--", lw=0.8)
        ax.text(
            len(bars) - 0.4,
            level,
            f"{level:.0f} % ({label})",
            va="bottom",
            ha="right",
            fontsize=7.5,
        )
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(list(xs), [b.subject_id for b in bars], rotation=90, fontsize=6.5)
    ax.set_xlim(-0.7, len(bars) - 0.3)
    low = min([-100.0, *(b.change_pct for b in bars)])
    high = max([10.0, *(b.change_pct for b in bars)])
    ax.set_ylim(low - 5, high + 5)
    ax.set_ylabel("Best change of serum M-protein from baseline (%)")
    ax.legend(
        handles=_response_legend(b.best_response for b in bars),
        loc="upper right",
        fontsize=8,
        frameon=False,
    )


def draw_spider(figure: Figure, series: list[Series]) -> None:
    ax = figure.add_axes((0.08, 0.1, 0.8, 0.78))
    for s in series:
        xs = [0.0, *(p.months for p in s.points)]
        ys = [0.0, *(p.change_pct for p in s.points)]
        ax.plot(
            xs,
            ys,
            color=RESPONSE_COLOURS[s.best_response],
            lw=1.1,
            marker="o",
            ms=2.4,
            mec="#444444",
            mew=0.3,
        )
    for level, label in THRESHOLDS:
        ax.axhline(level, color="#333333", ls="--", lw=0.7)
        ax.text(
            1.005,
            level,
            f"{level:.0f} % ({label})",
            va="center",
            ha="left",
            fontsize=7.5,
            transform=ax.get_yaxis_transform(),
        )
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("Months since the treatment start (a month: 365.25 / 12 days)")
    ax.set_ylabel("Change of serum M-protein from baseline (%)")
    ax.set_xlim(left=0)
    ax.grid(color="#eeeeee")
    ax.set_axisbelow(True)
    ax.legend(
        handles=_response_legend(s.best_response for s in series),
        loc="lower left",
        fontsize=8,
        framealpha=0.9,
    )
