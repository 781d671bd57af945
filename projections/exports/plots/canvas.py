"""What every picture shares: a fixed-size figure, its provenance footer and metadata, the
colours of the regimens and responses, and the write that leaves nothing on failure.

Figures are built with matplotlib's object API (:class:`~matplotlib.figure.Figure` on an Agg
canvas), never pyplot: no global state, no display needed. Every picture is ``width x height``
inches at :data:`DPI` (a PNG is exactly that many pixels; an SVG is that size in points, 72 an
inch, its text kept as text), and names its population and the ledger position and root it
shows in a footer and in the file's metadata (PNG text chunks ``Title``/``Description``, SVG
``<title>`` and Dublin Core ``dc:title``/``dc:description``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

from ledger.errors import UsageError
from ledger.protocol.schedule import Regimen
from projections.exports.files import publish_file
from projections.exports.source import ExportSource

DPI = 100
FORMATS = {".png": "png", ".svg": "svg"}

REGIMEN_COLOURS: dict[Regimen, str] = {
    Regimen.INDUCTION: "#4c72b0",
    Regimen.CONTINUATION: "#64b5cd",
    Regimen.LOW_DOSE_DEX: "#dd8452",
    Regimen.HIGH_DOSE_DEX: "#c44e52",
}
REGIMEN_LABELS: dict[Regimen, str] = {
    Regimen.INDUCTION: "induction (anakinra)",
    Regimen.CONTINUATION: "continuation (anakinra)",
    Regimen.LOW_DOSE_DEX: "anakinra + low-dose dexamethasone",
    Regimen.HIGH_DOSE_DEX: "anakinra + high-dose dexamethasone",
}
FOLLOW_UP_COLOUR = "#b0b0b0"
RESPONSE_COLOURS: dict[str, str] = {
    "CR": "#1a9850",
    "VGPR": "#66bd63",
    "PR": "#a6d96a",
    "MR": "#fee08b",
    "SD": "#9e9e9e",
    "PD": "#d73027",
    "none": "#d9d9d9",
}
RESPONSE_LABELS: dict[str, str] = {
    **{k: k for k in RESPONSE_COLOURS},
    "none": "no confirmed response",
}


@dataclass(frozen=True)
class PlotInfo:
    """What was drawn, where, from which ledger state (the ``--json`` document)."""

    kind: str
    title: str
    population: str
    n: int
    subjects: list[str]
    excluded: list[dict[str, str]]
    provenance: dict[str, Any]
    path: Path
    format: str
    bytes: int
    width_px: int
    height_px: int
    dpi: int = DPI
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def position(self) -> int:
        return int(self.provenance["position"])

    @property
    def root(self) -> str:
        return str(self.provenance["root"])

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "population": self.population,
            "n": self.n,
            "subjects": list(self.subjects),
            "excluded": list(self.excluded),
            "figures": dict(self.figures),
            "position": self.position,
            "root": self.root,
            "provenance": dict(self.provenance),
            "out": str(self.path),
            "format": self.format,
            "bytes": self.bytes,
            "width_px": self.width_px,
            "height_px": self.height_px,
            "dpi": self.dpi,
        }


def format_of(out: Path, fmt: str | None = None) -> str:
    """``png`` or ``svg``: ``fmt`` when given, else from the suffix of ``out``."""
    chosen = fmt if fmt is not None else FORMATS.get(out.suffix.lower())
    if chosen not in FORMATS.values():
        shown = fmt if fmt is not None else out.suffix or "(none)"
        raise UsageError(
            f"--out {out}: format {shown!r} is not drawn here; the file name must end in "
            ".png or .svg"
        )
    return str(chosen)


def new_figure(width_in: float, height_in: float) -> Figure:
    figure = Figure(figsize=(width_in, height_in), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def provenance_line(source: ExportSource) -> str:
    """The footer: which verified ledger state the picture shows."""
    p = source.provenance()
    checks = ["verified from position 1"]
    if p["against_checkpoint"]:
        checks.append("extends the given checkpoint")
    if p["sponsor_key"]:
        checks.append("rooted in the sponsor's key")
    return (
        f"{p['trial_id']} ledger {p['ledger_id']} at position {p['position']}, "
        f"root {p['root']} ({'; '.join(checks)})"
    )


def decorate(figure: Figure, title: str, population: str, source: ExportSource) -> None:
    """Title, the population as the subtitle, the provenance as the footer."""
    figure.suptitle(title, fontsize=14, fontweight="bold", y=0.985)
    figure.text(0.5, 0.952, population, ha="center", va="top", fontsize=10.5)
    figure.text(
        0.5, 0.008, provenance_line(source), ha="center", va="bottom", fontsize=7, color="#555555"
    )


def write_figure(
    figure: Figure, out: Path, fmt: str, title: str, description: str
) -> tuple[int, int, int]:
    """Write ``figure`` to ``out`` (which must not exist) through a temporary file beside it;
    returns (bytes, width px, height px). Nothing is left at ``out`` on failure."""
    if out.exists():
        raise UsageError(f"--out {out}: already exists; refusing to overwrite")
    temporary = out.with_name(f".{out.name}.{os.getpid()}.partial")
    metadata: dict[str, str | None] = {"Title": title, "Description": description}
    if fmt == "svg":
        metadata["Date"] = None  # the picture depends on the ledger, not on the clock
    try:
        # SVG text stays text (an inspector can search it for the root) and its ids do not
        # change from one run to the next: the same ledger state draws the same bytes.
        settings = rc_context({"svg.fonttype": "none", "svg.hashsalt": "trial-ledger"})
        with temporary.open("xb") as handle, settings:
            canvas = FigureCanvasSVG(figure) if fmt == "svg" else FigureCanvasAgg(figure)
            canvas.print_figure(handle, format=fmt, dpi=DPI, metadata=metadata)
        publish_file(temporary, out)
    finally:
        temporary.unlink(missing_ok=True)
    width, height = figure.get_size_inches()
    return out.stat().st_size, round(width * DPI), round(height * DPI)
