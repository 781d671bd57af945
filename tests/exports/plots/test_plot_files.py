"""The pictures as files, golden-image free: a PNG of the expected pixel size (signature, IHDR)
and an SVG document of the expected size, each naming its population and the ledger position
and root of ``verify --json`` in its metadata; refused or failed draws leave nothing."""

from __future__ import annotations

import struct
import warnings
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib import image
from matplotlib.patches import Patch, Rectangle

from ledger.errors import UsageError
from projections.exports import ExportSource
from projections.exports import plots as plots_module
from projections.exports.plots import (
    DPI,
    KINDS,
    SIZES_IN,
    KMCurve,
    PlotInfo,
    draw,
    swimmer_data,
    waterfall_data,
)
from projections.exports.plots.canvas import new_figure, provenance_line, write_figure
from projections.exports.plots.km import draw_km
from projections.exports.plots.mprotein import draw_waterfall
from projections.exports.plots.swimmer import draw_swimmer
from projections.statistics import kaplan_meier

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG = "{http://www.w3.org/2000/svg}"
DC = "{http://purl.org/dc/elements/1.1/}"


def png_chunks(path: Path) -> list[tuple[bytes, bytes]]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks.append((kind, body))
        at += 12 + length
    return chunks


def png_text(chunks: list[tuple[bytes, bytes]]) -> dict[str, str]:
    found = {}
    for kind, body in chunks:
        if kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            found[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"iTXt":
            key, _, rest = body.partition(b"\0")
            found[key.decode()] = rest[2:].split(b"\0", 2)[2].decode()
    return found


def expected_px(kind: str) -> tuple[int, int]:
    width, height = SIZES_IN[kind]
    return round(width * DPI), round(height * DPI)


def check_provenance(text: str, verify_doc: dict[str, Any]) -> None:
    assert f"position {verify_doc['tree_size']}" in text
    assert f"root {verify_doc['root']}" in text


@pytest.mark.parametrize("kind", KINDS)
def test_png_is_a_valid_png_of_the_kinds_fixed_size_naming_population_position_and_root(
    source: ExportSource, verify_doc: dict[str, Any], tmp_path: Path, kind: str
) -> None:
    out = tmp_path / f"{kind}.png"
    info = draw(kind, source, out)
    chunks = png_chunks(out)
    assert chunks[0][0] == b"IHDR"
    assert chunks[-1][0] == b"IEND"
    width, height = struct.unpack(">II", chunks[0][1][:8])
    assert (width, height) == expected_px(kind) == (info.width_px, info.height_px)
    assert image.imread(out).shape[:2] == (height, width)
    assert info.bytes == out.stat().st_size
    text = png_text(chunks)
    assert text["Title"] == info.title
    assert text["Description"].startswith(info.population)
    check_provenance(text["Description"], verify_doc)
    assert f"n={info.n}" in info.population


@pytest.mark.parametrize("kind", ["swimmer", "waterfall", "km-dor"])
def test_svg_is_an_svg_document_of_the_kinds_size_naming_population_position_and_root(
    source: ExportSource, verify_doc: dict[str, Any], tmp_path: Path, kind: str
) -> None:
    out = tmp_path / f"{kind}.svg"
    info = draw(kind, source, out)
    root = ET.parse(out).getroot()
    assert root.tag == f"{SVG}svg"
    width_in, height_in = SIZES_IN[kind]
    assert root.get("width") == f"{width_in * 72:g}pt"
    assert root.get("height") == f"{height_in * 72:g}pt"
    assert root.get("viewBox") == f"0 0 {width_in * 72:g} {height_in * 72:g}"
    assert (info.format, info.width_px, info.height_px) == ("svg", *expected_px(kind))
    title = root.find(f".//{DC}title")
    description = root.find(f".//{DC}description")
    assert title is not None
    assert title.text == info.title
    assert description is not None
    assert description.text is not None
    assert description.text.startswith(info.population)
    check_provenance(description.text, verify_doc)
    shown = [t.text or "" for t in root.iter(f"{SVG}text")]  # the text is kept as text
    assert info.population in shown
    check_provenance(next(t for t in shown if "root" in t), verify_doc)


def test_the_same_ledger_state_draws_the_same_bytes(source: ExportSource, tmp_path: Path) -> None:
    first, second = tmp_path / "a.svg", tmp_path / "b.svg"  # no date, no random ids
    draw("km-dor", source, first)
    draw("km-dor", source, second)
    assert first.read_bytes() == second.read_bytes()


def test_the_position_and_root_shown_are_those_of_verify_json(
    source: ExportSource, verify_doc: dict[str, Any], tmp_path: Path
) -> None:
    info = draw("km-dor", source, tmp_path / "km.svg")
    assert (info.position, info.root) == (verify_doc["tree_size"], verify_doc["root"])
    document = info.to_json()
    assert (document["position"], document["root"]) == (info.position, info.root)
    assert document["provenance"]["commits"] == verify_doc["commits"]
    check_provenance(provenance_line(source), verify_doc)


def test_the_json_document_lists_what_was_drawn_and_where(
    source: ExportSource, tmp_path: Path
) -> None:
    out = tmp_path / "waterfall.png"
    document = draw("waterfall", source, out).to_json()
    assert document["out"] == str(out)
    assert document["kind"] == "waterfall"
    assert document["n"] == len(document["subjects"])
    assert not set(document["subjects"]) & {e["subject_id"] for e in document["excluded"]}
    assert document["figures"] == {}


def test_draw_refuses_an_existing_out_and_leaves_it_as_it_was(
    source: ExportSource, tmp_path: Path
) -> None:
    out = tmp_path / "swimmer.png"
    out.write_bytes(b"mine")
    with pytest.raises(UsageError, match="already exists; refusing to overwrite"):
        draw("swimmer", source, out)
    assert out.read_bytes() == b"mine"
    assert [p.name for p in tmp_path.iterdir()] == ["swimmer.png"]


@pytest.mark.parametrize("name", ["spider.pdf", "spider", "spider.png.txt"])
def test_draw_refuses_a_suffix_that_is_not_png_or_svg(
    source: ExportSource, tmp_path: Path, name: str
) -> None:
    with pytest.raises(UsageError, match=r"--out .*must end in \.png or \.svg"):
        draw("spider", source, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_draw_refuses_a_kind_it_does_not_know(source: ExportSource, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kind 'pie': expected one of swimmer"):
        draw("pie", source, tmp_path / "pie.png")
    assert list(tmp_path.iterdir()) == []


def test_a_draw_that_fails_leaves_no_file_and_no_partial_one(
    source: ExportSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(figure: object, data: object) -> None:
        raise RuntimeError("drawing failed")

    monkeypatch.setitem(plots_module._DRAW, "km-ttp", broken)
    with pytest.raises(RuntimeError, match="drawing failed"):
        draw("km-ttp", source, tmp_path / "km.png")
    assert list(tmp_path.iterdir()) == []


def test_a_write_that_fails_leaves_no_file_and_no_partial_one(
    source: ExportSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("matplotlib.backends.backend_agg.FigureCanvasAgg.print_png", broken)
    with pytest.raises(OSError, match="disk full"):
        draw("km-ttp", source, tmp_path / "km.png")
    assert list(tmp_path.iterdir()) == []


def test_plot_info_is_what_the_json_reports() -> None:
    info = PlotInfo(
        kind="spider",
        title="t",
        population="p, n=0",
        n=0,
        subjects=[],
        excluded=[],
        provenance={"position": 7, "root": "cm9vdA=="},
        path=Path("x.svg"),
        format="svg",
        bytes=1,
        width_px=2,
        height_px=3,
    )
    assert (info.position, info.root) == (7, "cm9vdA==")
    assert info.to_json()["dpi"] == DPI


# --------------------------------------------------------------------------- what is drawn


def rectangle(patch: Patch) -> Rectangle:
    assert isinstance(patch, Rectangle)
    return patch


def test_the_waterfall_draws_one_bar_per_subject_of_its_data_at_its_change(
    source: ExportSource,
) -> None:
    bars = waterfall_data(source)
    figure = new_figure(*SIZES_IN["waterfall"])
    draw_waterfall(figure, bars)
    (ax,) = figure.axes
    heights = [rectangle(patch).get_height() for patch in ax.patches]
    assert heights == pytest.approx([b.change_pct for b in bars])
    assert [t.get_text() for t in ax.get_xticklabels()] == [b.subject_id for b in bars]
    levels = sorted(float(np.asarray(line.get_ydata())[0]) for line in ax.lines)
    assert levels == [-90, -50, -25, 0]


def test_the_swimmer_draws_one_bar_per_treatment_period_of_its_lanes(
    source: ExportSource,
) -> None:
    lanes = swimmer_data(source)
    figure = new_figure(*SIZES_IN["swimmer"])
    draw_swimmer(figure, lanes)
    ax = figure.axes[0]
    periods = [s for lane in lanes if lane.treatment_start for s in lane.segments if s.on_treatment]
    assert len(ax.patches) == len(periods)
    assert sum(rectangle(p).get_width() for p in ax.patches) == pytest.approx(
        sum((s.end - s.start).days for s in periods) / (365.25 / 12)
    )
    assert [t.get_text() for t in ax.get_yticklabels()] == [lane.subject_id for lane in lanes]


def test_a_km_curve_whose_median_is_reached_shows_it_and_the_numbers_at_risk() -> None:
    data = [(30, True), (61, True), (95, False), (200, True), (400, False)]
    rows = tuple({"subject_id": f"S{i}", "days": d, "event": e} for i, (d, e) in enumerate(data))
    curve = KMCurve("ttp", "t", "p", "x", "y", rows, (), kaplan_meier(data))
    assert curve.median is not None
    figure = new_figure(*SIZES_IN["km-ttp"])
    draw_km(figure, curve)
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert f" median {curve.median / (365.25 / 12):.1f} months" in texts
    at_risk = texts[texts.index("Number at risk") + 1 :]
    assert at_risk == [str(curve.at_risk(d)) for d in curve.risk_days()]


@pytest.mark.parametrize("kind", KINDS)
def test_a_trial_without_subjects_draws_an_empty_picture_without_warnings(
    kind: str, tmp_path: Path
) -> None:
    empty: object = (
        KMCurve("ttp", "t", "p", "x", "y", (), (), kaplan_meier([]))
        if kind.startswith("km")
        else []
    )
    figure = new_figure(*SIZES_IN[kind])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots_module._DRAW[kind](figure, empty)
        size = write_figure(figure, tmp_path / "empty.png", "png", "t", "d")
    assert size == (size[0], *expected_px(kind))
