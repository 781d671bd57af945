"""The inspection report: one printable HTML file (and its PDF) for an inspector.

:func:`write_inspection` reads a verified :class:`~projections.exports.ExportSource` once
(:mod:`.gather`) and writes ``out/inspection.html`` (print style sheet inline),
``out/inspection.pdf`` (WeasyPrint, reading nothing outside ``out``) and ``out/figures/``.
The report holds: the cover (trial, ledger id, position, root, commits, provenance), what the
verification proved and against what (:mod:`.facts`), the key registry, the signature
manifestation of every signed commit (21 CFR 11.50) and every review or approval signature,
every correction and void (11.10(e)), and the objectives with the pictures (:mod:`.objectives`).

The folder is built beside ``out`` under a temporary name and renamed to ``out`` at the end:
on any failure nothing is left at ``out``, and an existing ``out`` is never replaced.

A PDF of a long manifest is slow (WeasyPrint lays out about 200 table rows a second): above
:data:`PDF_MANIFEST_ROWS` signed commits the PDF holds a per-subject summary of the manifest
instead (with every correction and review signature still in full), and says so; the HTML
always holds every row.
"""

from __future__ import annotations

import hashlib
import shutil
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from projections.exports.files import publish_folder
from projections.exports.inspection.facts import (
    SELF_CONSISTENCY_ONLY,
    Anchors,
    key_rows,
    verification_facts,
)
from projections.exports.inspection.gather import gather
from projections.exports.inspection.objectives import Figures, draw_figures, objective_tables
from projections.exports.inspection.render import render_string, write_html, write_pdf
from projections.exports.source import ExportSource

__all__ = [
    "PDF_MANIFEST_ROWS",
    "Anchors",
    "Figures",
    "render_string",
    "report_context",
    "write_inspection",
]

HTML_NAME = "inspection.html"
PDF_NAME = "inspection.pdf"
FIGURES = "figures"
PDF_MANIFEST_ROWS = 3000
"""Up to this many signed commits the PDF lists each (about 25 s of WeasyPrint); above, a
per-subject summary."""


def _file(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"file": str(path), "bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def report_context(
    source: ExportSource,
    anchors: Anchors,
    figures: Figures,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Everything the template shows, read from ``source`` in one pass (and its summary)."""
    gathered = gather(source, progress)
    trial = source.registry.trial
    return {
        "provenance": source.provenance(),
        "title": trial.title if trial else "",
        "protocol_amendment": trial.protocol_amendment if trial else "",
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "verification": verification_facts(source, anchors),
        "self_consistency_only": SELF_CONSISTENCY_ONLY,
        "keys": key_rows(source, gathered.registry_dates),
        "sites": sorted(source.registry.sites.values(), key=lambda s: s.site),
        "gathered": gathered,
        "objectives": objective_tables(source.summary()),
        "figures": figures,
        "subjects": len(source.subjects),
        "medium": "html",
        "full_manifest": True,
    }


def write_inspection(
    source: ExportSource,
    out: Path,
    anchors: Anchors,
    *,
    pdf: bool = True,
    stage: Callable[[str], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write the report folder ``out`` (which must not exist); the ``--json`` document."""
    started = time.monotonic()
    say = stage or (lambda _what: None)
    temporary = out.with_name(f".{out.name}.{uuid.uuid4().hex[:12]}.partial")
    temporary.mkdir()  # as the umask says, like any folder the user makes
    timings: dict[str, float] = {}
    try:
        say("gather: figures, key registry, signatures, corrections, objectives")
        figures = draw_figures(source, temporary / FIGURES)
        context = report_context(source, anchors, figures, progress)
        timings["gather"] = round(time.monotonic() - started, 3)
        commits = context["gathered"].commits
        say(f"render HTML: {commits:,} signed commits")
        mark = time.monotonic()
        write_html(context, temporary / HTML_NAME)
        timings["html"] = round(time.monotonic() - mark, 3)
        if pdf:
            full = commits <= PDF_MANIFEST_ROWS
            say(f"PDF: {'every signed commit' if full else 'manifest summarised per subject'}")
            html = render_string({**context, "medium": "pdf", "full_manifest": full})
            timings["pdf"] = round(write_pdf(html, temporary, temporary / PDF_NAME), 3)
        publish_folder(temporary, out)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return _result(context, out, pdf, timings, started)


def _result(
    context: dict[str, Any], out: Path, pdf: bool, timings: dict[str, float], started: float
) -> dict[str, Any]:
    gathered = context["gathered"]
    figures = context["figures"]
    pdf_file = _file(out / PDF_NAME) if pdf else None
    if pdf_file is not None:
        pdf_file["full_manifest"] = gathered.commits <= PDF_MANIFEST_ROWS
    return {
        "out": str(out),
        "html": _file(out / HTML_NAME),
        "pdf": pdf_file,
        "figures": [{**f, "file": str(out / f["file"])} for f in figures.drawn],
        "figures_available": figures.available,
        "sections": {
            "keys": len(context["keys"]),
            "sites": len(context["sites"]),
            "signatures": gathered.commits,
            "review_signatures": len(gathered.reviews),
            "corrections": len(gathered.corrections),
            "voids": len(gathered.voids),
        },
        "provenance": context["provenance"],
        "verification": context["verification"],
        "timings": timings,
        "seconds": round(time.monotonic() - started, 3),
    }
