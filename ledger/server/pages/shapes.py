"""The shapes a timeline is drawn with (:mod:`ledger.server.pages.timeline` prepares them):
a date scale, labelled rows, regimen segments, marks, chart points and bars, each keeping the
ledger position of the record it draws."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

WIDTH = 960.0
LEFT = 170.0
RIGHT = 16.0
LANE_HEIGHT = 14.0
ROW_GAP = 6.0
CHART_HEIGHT = 90.0
M_PROTEIN = "serum_m_protein"


@dataclass(frozen=True)
class DateScale:
    """Clinical dates onto x: ``start`` at ``left``, ``end`` at ``left + width``."""

    start: date
    end: date
    left: float = LEFT
    width: float = WIDTH - LEFT - RIGHT

    def x(self, on: date) -> float:
        days = max((self.end - self.start).days, 1)
        return round(self.left + self.width * (on - self.start).days / days, 2)


@dataclass(frozen=True)
class Row:
    label: str
    y: float
    height: float


@dataclass(frozen=True)
class Segment:
    """One regimen period (or the screening before the first), from ``start`` to ``end``."""

    regimen: str
    label: str
    start: date
    end: date
    x: float
    y: float
    width: float
    height: float
    position: int | None
    rule_id: str | None
    reason: str | None


@dataclass(frozen=True)
class Mark:
    """A point-like fact: a dose tick, a lab marker, an assessment, a correction."""

    x: float
    y: float
    on: date
    position: int | None
    label: str
    flagged: bool = False
    """Drawn highlighted: a corrected record, a disagreeing assessment."""


@dataclass(frozen=True)
class Point:
    """One serum M-protein result on the chart."""

    x: float
    y: float
    on: date
    value: Decimal
    unit: str
    position: int | None
    corrected: bool


@dataclass(frozen=True)
class Bar:
    """One adverse event from onset to resolution (open: to the end of the axis)."""

    ae_id: str
    label: str
    onset: date
    end: date
    open: bool
    grade: int
    serious: bool
    x: float
    y: float
    width: float
    height: float
    position: int | None


@dataclass
class Timeline:
    scale: DateScale
    width: float = WIDTH
    height: float = 0.0
    axis: list[tuple[float, str]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    doses: list[Mark] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    chart_top: float = 0.0
    chart_bottom: float = 0.0
    chart_range: tuple[Decimal, Decimal] | None = None
    labs: list[Mark] = field(default_factory=list)
    assessments: list[Mark] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    progressions: list[Mark] = field(default_factory=list)
    corrections: list[Mark] = field(default_factory=list)

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x},{p.y}" for p in self.points)
