"""Swimmer plot: one lane per enrolled subject, its regimens over months since the treatment
start, its response assessments and progressions, and an arrow where it is still on study.

The lanes are read from each subject's history as the verified ledger gives it
(:meth:`~projections.exports.ExportSource.histories`): the regimen periods are
:attr:`SubjectHistory.periods <ledger.subject.history.SubjectHistory.periods>` (the
``regimen_history`` of ``patient --json``), the categories those the response rules derive on
corrected values (:func:`ledger.subject.evaluation.evaluate`, ``derived`` in ``patient
--json``), the progressions those the rules or the investigator's recorded judgement support
(``response.progressions`` with ``supported``). A lane ends on the subject's latest recorded
date; "still on study" means neither off study nor dead by then.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ledger.protocol.schedule import ON_TREATMENT, Regimen
from ledger.subject.history import SubjectHistory
from projections.exports.plots.canvas import (
    FOLLOW_UP_COLOUR,
    REGIMEN_COLOURS,
    REGIMEN_LABELS,
    RESPONSE_COLOURS,
)
from projections.exports.source import ExportSource
from projections.objectives import DAYS_PER_MONTH
from projections.objectives.population import Subject


def months_between(start: date, on: date) -> float:
    """Months (of 365.25 / 12 days) from ``start`` to ``on``."""
    return (on - start).days / DAYS_PER_MONTH


@dataclass(frozen=True)
class Segment:
    """One regimen period of a lane, from its first day to the next period's first day."""

    regimen: Regimen
    start: date
    end: date

    @property
    def on_treatment(self) -> bool:
        return self.regimen in ON_TREATMENT


@dataclass(frozen=True)
class Lane:
    """One subject's lane (dates; :meth:`months` places them on the axis)."""

    subject_id: str
    treatment_start: date | None
    segments: tuple[Segment, ...]
    responses: tuple[tuple[date, str], ...]
    progressions: tuple[date, ...]
    end: date | None
    ongoing: bool
    off_study_on: date | None
    died_on: date | None

    def months(self, on: date) -> float:
        assert self.treatment_start is not None
        return months_between(self.treatment_start, on)

    @property
    def length(self) -> float:
        """Months on the axis (0 for a subject never started)."""
        if self.treatment_start is None or self.end is None:
            return 0.0
        return max(0.0, self.months(self.end))


def lane_of(s: Subject) -> Lane:
    """The lane of one enrolled subject."""
    h = s.h
    end = h.last_date
    starts = [p.starts_on for p in h.periods[1:]] + ([end] if h.periods else [])
    segments = [
        Segment(p.regimen, p.starts_on, max(until or p.starts_on, p.starts_on))
        for p, until in zip(h.periods, starts, strict=True)
        if p.regimen is not Regimen.OFF_STUDY
    ]
    off = h.off_study_from
    died = h.death.effective_date if h.death else None
    return Lane(
        subject_id=h.subject_id,
        treatment_start=h.treatment_start,
        segments=tuple(segments),
        responses=tuple((e.on, e.derived.value) for e in s.evaluations),
        progressions=tuple(p.on for p in s.progressions if p.supported),
        end=end,
        ongoing=off is None and died is None,
        off_study_on=off,
        died_on=died,
    )


def lanes_of(histories: Iterable[SubjectHistory]) -> list[Lane]:
    """Lanes of the enrolled subjects, the longest first (then by subject id)."""
    lanes = [lane_of(Subject(h)) for h in histories if h.enrolment is not None]
    return sorted(lanes, key=lambda lane: (-lane.length, lane.subject_id))


def swimmer_data(source: ExportSource) -> list[Lane]:
    """One lane per enrolled subject of the verified ledger."""
    return lanes_of(source.histories())


def draw_swimmer(figure: Figure, lanes: list[Lane]) -> None:
    ax = figure.add_axes((0.14, 0.07, 0.6, 0.85))
    marks = _Marks()
    for row, lane in enumerate(lanes):
        marks.add(row, lane)
    marks.draw(ax)
    ax.set_yticks(range(len(lanes)), [lane.subject_id for lane in lanes], fontsize=6.5)
    ax.set_ylim(len(lanes) - 0.4, -0.6)
    ax.set_xlim(left=-0.5)
    ax.set_xlabel("Months since the treatment start (a month: 365.25 / 12 days)")
    ax.grid(axis="x", color="#eeeeee")
    ax.set_axisbelow(True)
    figure.legend(
        handles=_legend(),
        loc="upper left",
        bbox_to_anchor=(0.755, 0.92),
        fontsize=8.5,
        frameon=False,
    )


Points = list[tuple[float, int]]
ARROW_MONTHS = 2.0


@dataclass
class _Marks:
    """Everything the lanes draw, gathered by kind: one artist per kind, not per mark."""

    bars: dict[Regimen, list[tuple[int, float, float]]] = field(default_factory=dict)
    follow_up: list[tuple[int, float, float]] = field(default_factory=list)
    responses: dict[str, Points] = field(default_factory=dict)
    progressions: Points = field(default_factory=list)
    arrows: Points = field(default_factory=list)
    died: Points = field(default_factory=list)
    off_study: Points = field(default_factory=list)

    def add(self, row: int, lane: Lane) -> None:
        if lane.treatment_start is None:
            return
        for seg in lane.segments:
            left, right = lane.months(seg.start), lane.months(seg.end)
            if seg.on_treatment:
                self.bars.setdefault(seg.regimen, []).append((row, left, right - left))
            elif right > left:
                self.follow_up.append((row, left, right))
        for on, category in lane.responses:
            self.responses.setdefault(category, []).append((lane.months(on), row))
        self.progressions += [(lane.months(on), row) for on in lane.progressions]
        if lane.ongoing:
            self.arrows.append((lane.length, row))
        elif lane.died_on is not None:
            self.died.append((lane.months(lane.died_on), row))
        elif lane.off_study_on is not None:
            self.off_study.append((lane.months(lane.off_study_on), row))

    def draw(self, ax: Axes) -> None:
        for regimen, bars in self.bars.items():
            rows, lefts, widths = zip(*bars, strict=True)
            ax.barh(rows, widths, left=lefts, height=0.62, color=REGIMEN_COLOURS[regimen])
        if self.follow_up:
            rows, lefts, rights = zip(*self.follow_up, strict=True)
            ax.hlines(rows, lefts, rights, color=FOLLOW_UP_COLOUR, lw=1.4)
        for category, points in self.responses.items():
            _points(
                ax,
                points,
                marker="o",
                ms=3.6,
                mec="black",
                mew=0.4,
                color=RESPONSE_COLOURS[category],
            )
        _points(ax, self.progressions, marker="v", ms=6, color="black")
        if self.arrows:
            ends, rows = zip(*self.arrows, strict=True)
            ax.hlines(rows, ends, [e + ARROW_MONTHS for e in ends], color="black", lw=0.9)
            _points(
                ax,
                [(e + ARROW_MONTHS, r) for e, r in self.arrows],
                marker=">",
                ms=4.5,
                color="black",
            )
        _points(ax, self.died, marker="X", ms=6, color="#7f0000")
        _points(ax, self.off_study, marker="|", ms=8, color="black")


def _points(ax: Axes, points: Points, **style: Any) -> None:
    if points:
        ax.plot([x for x, _ in points], [y for _, y in points], ls="none", **style)


def _legend() -> list[Patch | Line2D]:
    handles: list[Patch | Line2D] = [
        Patch(color=REGIMEN_COLOURS[r], label=REGIMEN_LABELS[r]) for r in REGIMEN_COLOURS
    ]
    handles.append(Line2D([], [], color=FOLLOW_UP_COLOUR, lw=1.4, label="off treatment, follow-up"))
    handles += [
        Line2D(
            [],
            [],
            marker="o",
            ms=5,
            mec="black",
            mew=0.4,
            ls="none",
            color=RESPONSE_COLOURS[c],
            label=f"assessment: {c}",
        )
        for c in ("CR", "VGPR", "PR", "MR", "SD", "PD")
    ]
    handles += [
        Line2D([], [], marker="v", ms=6, color="black", ls="none", label="progression"),
        Line2D(
            [], [], marker=r"$\rightarrow$", ms=10, color="black", ls="none", label="still on study"
        ),
        Line2D([], [], marker="|", ms=8, color="black", ls="none", label="off study"),
        Line2D([], [], marker="X", ms=6, color="#7f0000", ls="none", label="died"),
    ]
    return handles
