"""The trial's pictures, drawn from the verified ledger only (matplotlib, Agg, no pyplot).

:data:`KINDS`: ``swimmer`` (one lane per enrolled subject: regimens, responses, progressions,
still on study), ``waterfall`` (best % change of serum M-protein from baseline, -25/-50/-90 %
lines), ``spider`` (% change of serum M-protein over time), ``km-ttp`` and ``km-dor``
(Kaplan-Meier of time to progression and duration of response, censoring ticks, numbers at
risk). Each kind has a pure data function (:func:`swimmer_data`, :func:`waterfall_data`,
:func:`spider_data`, :func:`km_data`) reading the :class:`~projections.exports.ExportSource`
and reusing the report's and the objectives' derivations, and :func:`draw` writes the picture
of the data that function gives. Every picture states its population and the ledger position
and root it shows (footer and file metadata).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from ledger.errors import UsageError
from projections.exports.plots.canvas import (
    DPI,
    FORMATS,
    PlotInfo,
    decorate,
    format_of,
    new_figure,
    provenance_line,
    write_figure,
)
from projections.exports.plots.km import ENDPOINTS, KMCurve, draw_km, km_of
from projections.exports.plots.mprotein import (
    Bar,
    Point,
    Series,
    bars_of,
    draw_spider,
    draw_waterfall,
    series_and_excluded,
    spider_data,
    waterfall_data,
)
from projections.exports.plots.swimmer import Lane, Segment, draw_swimmer, swimmer_data
from projections.exports.source import ExportSource

KINDS = ("swimmer", "waterfall", "spider", "km-ttp", "km-dor")
SIZES_IN: dict[str, tuple[float, float]] = {
    "swimmer": (13.0, 14.0),
    "waterfall": (13.0, 7.0),
    "spider": (12.0, 7.0),
    "km-ttp": (10.0, 7.0),
    "km-dor": (10.0, 7.0),
}
"""Each kind's fixed size in inches (at :data:`DPI`: 1300 x 1400 px for the swimmer plot)."""

__all__ = [
    "DPI",
    "ENDPOINTS",
    "FORMATS",
    "KINDS",
    "SIZES_IN",
    "Bar",
    "KMCurve",
    "Lane",
    "PlotInfo",
    "Point",
    "Segment",
    "Series",
    "draw",
    "format_of",
    "km_data",
    "spider_data",
    "swimmer_data",
    "waterfall_data",
]


def km_data(source: ExportSource, endpoint: str) -> KMCurve:
    """The Kaplan-Meier curve of ``endpoint`` (``ttp`` or ``dor``), as ``summary`` has it."""
    return km_of(source.histories(), endpoint)


def _prepare(kind: str, source: ExportSource) -> tuple[str, str, list[str], Any, list[Any]]:
    """(title, population, subjects drawn, data, excluded) of ``kind``."""
    if kind == "swimmer":
        lanes = swimmer_data(source)
        population = f"Enrolled subjects, n={len(lanes)}"
        return (
            "Swimmer plot: regimens and responses",
            population,
            [lane.subject_id for lane in lanes],
            lanes,
            [],
        )
    if kind in ("waterfall", "spider"):
        series, excluded = series_and_excluded(source.histories())
        population = (
            "Enrolled subjects with a baseline and a serum M-protein after the treatment "
            f"start, n={len(series)}"
        )
        if kind == "spider":
            title = "Spider plot: serum M-protein change from baseline over time"
            return title, population, [s.subject_id for s in series], series, excluded
        bars = bars_of(series)
        title = "Waterfall: best change of serum M-protein from baseline"
        return title, population, [b.subject_id for b in bars], bars, excluded
    if kind in ("km-ttp", "km-dor"):
        curve = km_data(source, kind.removeprefix("km-"))
        title = f"Kaplan-Meier: {curve.title.lower()}"
        return (
            title,
            curve.population,
            [r["subject_id"] for r in curve.rows],
            curve,
            list(curve.excluded),
        )
    raise ValueError(f"kind {kind!r}: expected one of {', '.join(KINDS)}")


_DRAW: dict[str, Callable[[Figure, Any], None]] = {
    "swimmer": draw_swimmer,
    "waterfall": draw_waterfall,
    "spider": draw_spider,
    "km-ttp": draw_km,
    "km-dor": draw_km,
}


def draw(kind: str, source: ExportSource, out: Path, fmt: str | None = None) -> PlotInfo:
    """Draw ``kind`` of ``source`` to ``out`` (which must not exist; PNG or SVG by ``fmt``,
    else by the suffix); nothing is left at ``out`` on failure."""
    chosen = format_of(out, fmt)
    if out.exists():
        raise UsageError(f"--out {out}: already exists; refusing to overwrite")
    title, population, subjects, data, excluded = _prepare(kind, source)
    figure = new_figure(*SIZES_IN[kind])
    decorate(figure, title, population, source)
    _DRAW[kind](figure, data)
    description = f"{population}. {provenance_line(source)}."
    size, width, height = write_figure(figure, out, chosen, title, description)
    figures = data.figures() if isinstance(data, KMCurve) else {}
    return PlotInfo(
        kind=kind,
        title=title,
        population=population,
        n=len(subjects),
        subjects=subjects,
        excluded=excluded,
        provenance=source.provenance(),
        path=out,
        format=chosen,
        bytes=size,
        width_px=width,
        height_px=height,
        figures=figures,
    )
