"""Section 6: the trial's objectives as ``summary --json`` states them, and the pictures.

:func:`objective_tables` turns the summary document (:meth:`ExportSource.summary`, the same
fold ``trial-ledger summary`` prints) into the report's tables; nothing is re-derived here.
:func:`draw_figures` draws the pictures with :mod:`projections.exports.plots` into
``figures/`` when that package is installed; without it the report says the pictures are
not part of it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from projections.exports.source import ExportSource

RATES = (
    ("primary_response_rate", "Primary: response to anakinra alone at month 6"),
    ("low_dose_dexamethasone_response_rate", "Secondary: response on anakinra + low-dose dex"),
    ("high_dose_dexamethasone_response_rate", "Secondary: response on anakinra + high-dose dex"),
)
TIMES = (
    ("time_to_progression", "Time to progression"),
    ("duration_of_response", "Duration of response"),
)
AE_ARMS = (("anakinra_alone", "Anakinra alone"), ("with_dexamethasone", "With dexamethasone"))
FIGURE_FORMAT = "png"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f} %"


def _interval(pair: list[float | None] | None, pct: bool = False) -> str:
    if not pair or pair[0] is None or pair[1] is None:
        return "not reached" if pair else ""
    low, high = pair
    return f"{_pct(low)} \u2013 {_pct(high)}" if pct else f"{low} \u2013 {high}"


def _rate(key: str, title: str, doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": key,
        "title": title,
        "description": doc.get("description", ""),
        "basis": doc.get("basis", ""),
        "n": doc["n"],
        "responders": doc["responders"],
        "rate": _pct(doc["rate"]),
        "ci95": _interval(doc.get("ci95"), pct=True),
        "ci_method": doc.get("ci_method", ""),
        "by_category": list(doc.get("by_category", {}).items()),
        "excluded": len(doc.get("excluded", [])),
        "disagreements": len(doc.get("investigator_disagreements", [])),
    }


def _time(key: str, title: str, doc: dict[str, Any]) -> dict[str, Any]:
    median = doc.get("median")
    return {
        "key": key,
        "title": title,
        "description": doc.get("description", ""),
        "n": doc["n"],
        "events": doc["events"],
        "censored": doc["censored"],
        "median": "not reached" if median is None else f"{median} {doc.get('unit', 'days')}",
        "median_ci95": _interval(doc.get("median_ci95")),
        "method": doc.get("method", ""),
        "curve": doc.get("curve", []),
    }


def _arm(title: str, doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": title,
        "regimens": ", ".join(doc.get("regimens", [])),
        "exposed": doc.get("exposed_subjects", 0),
        "terms": [
            {
                "term": t["term"],
                "subjects": t["subjects"],
                "events": t["events"],
                "grades": [t["by_worst_grade"].get(str(g), 0) for g in range(1, 6)],
            }
            for t in doc.get("terms", [])
        ],
    }


def objective_tables(summary: dict[str, Any]) -> dict[str, Any]:
    """The report's objective tables from the ``summary --json`` document."""
    populations = summary["populations"]
    pfs = summary["progression_free_at_6_months"]
    aes = summary["adverse_events"]
    return {
        "position": summary["position"],
        "populations": {
            "screened": populations["screened"],
            "enrolled": populations["enrolled"],
            "treated": populations["treated"],
            "not_treated": populations.get("not_treated", []),
        },
        "rates": [_rate(key, title, summary[key]) for key, title in RATES],
        "primary_excluded": summary["primary_response_rate"].get("excluded", []),
        "progression_free": {
            "description": pfs.get("description", ""),
            "n": pfs["n"],
            "progression_free": pfs["progression_free"],
            "proportion": _pct(pfs["proportion"]),
            "ci95": _interval(pfs.get("ci95"), pct=True),
            "ci_method": pfs.get("ci_method", ""),
        },
        "times": [_time(key, title, summary[key]) for key, title in TIMES],
        "ae_description": aes.get("description", ""),
        "ae_arms": [_arm(title, aes[key]) for key, title in AE_ARMS if key in aes],
    }


@dataclass
class Figures:
    """The pictures drawn for the report (``available``: the plots package is installed)."""

    available: bool
    drawn: list[dict[str, Any]] = field(default_factory=list)


def _plots() -> ModuleType | None:
    try:
        return importlib.import_module("projections.exports.plots")
    except ImportError:
        return None


def draw_figures(source: ExportSource, folder: Path) -> Figures:
    """Every picture the plots package knows, as ``folder/<kind>.png`` (PNG, not SVG:
    WeasyPrint draws the glyphs of matplotlib's SVG text wrongly)."""
    plots = _plots()
    draw = getattr(plots, "draw", None)
    kinds = getattr(plots, "KINDS", ())
    if plots is None or draw is None or not kinds:
        return Figures(available=False)
    folder.mkdir()
    figures = Figures(available=True)
    for kind in kinds:
        path = folder / f"{kind}.{FIGURE_FORMAT}"
        info = draw(kind, source, path, FIGURE_FORMAT)
        figures.drawn.append(
            {
                "kind": kind,
                "file": f"{folder.name}/{path.name}",
                "bytes": path.stat().st_size,
                "title": str(getattr(info, "title", kind)),
                "population": str(getattr(info, "population", "")),
                "n": getattr(info, "n", None),
            }
        )
    return figures
