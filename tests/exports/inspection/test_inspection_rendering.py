"""The report's template and PDF printer, on the demo ledger's context: any recorded text is
shown as text, the printed variant of a long manifest says what it left out, and WeasyPrint
reads nothing outside the report's folder."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import lxml.html  # type: ignore[import-untyped]  # no stubs; pyproject lists none
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.exports import verified_source
from projections.exports.inspection import Anchors, Figures, render_string, report_context
from projections.exports.inspection.render import folder_only_fetcher
from tests.exports.conftest import Demo

RECORDED_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp")),
    min_size=1,
    max_size=40,
)
"""What a free-text field may hold (printable, one line), hostile markup included."""


@pytest.fixture(scope="module")
def context(demo: Demo) -> dict[str, Any]:
    with verified_source(demo.db) as source:
        return report_context(source, Anchors(), Figures(available=False))


def correction_cells(html: str) -> list[list[str]]:
    table = lxml.html.fromstring(html).get_element_by_id("corrections")
    return [
        [cell.text_content() for cell in row.findall("td")]
        for row in table.iterfind(".//tr[@class='correction']")
    ]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(reason=RECORDED_TEXT, new_value=RECORDED_TEXT)
def test_any_recorded_reason_and_value_read_back_as_the_same_text(
    context: dict[str, Any], reason: str, new_value: str
) -> None:
    gathered = context["gathered"]
    first = dataclasses.replace(gathered.corrections[0], reason=reason, new_value=new_value)
    altered = dataclasses.replace(gathered, corrections=[first, *gathered.corrections[1:]])
    cells = correction_cells(render_string({**context, "gathered": altered}))
    assert len(cells) == len(gathered.corrections)
    assert all(len(row) == 9 for row in cells)
    assert (cells[0][5], cells[0][6]) == (new_value, reason)


def test_pdf_variant_without_the_full_manifest_says_so_and_keeps_the_rest(
    context: dict[str, Any],
) -> None:
    page = lxml.html.fromstring(render_string({**context, "medium": "pdf", "full_manifest": False}))
    assert page.get_element_by_id("manifest", None) is None
    assert "summarised per subject" in page.get_element_by_id("cover").text_content()
    summary = page.get_element_by_id("manifest-summary").iterfind(".//tbody/tr")
    counted = sum(int(row.findall("td")[2].text_content()) for row in summary)
    assert counted == context["provenance"]["commits"]
    assert len(correction_cells(lxml.html.tostring(page, encoding="unicode"))) == len(
        context["gathered"].corrections
    )


def test_the_pdf_reader_refuses_every_url_outside_the_report_folder(tmp_path: Path) -> None:
    folder = tmp_path / "report"
    folder.mkdir()
    (folder / "figure.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "secret.txt").write_text("outside")
    fetcher = folder_only_fetcher(folder)
    with pytest.raises(ValueError, match="reads only its own folder"):
        fetcher.fetch("https://example.org/figure.png")
    with pytest.raises(ValueError, match="outside the report's folder"):
        fetcher.fetch((tmp_path / "secret.txt").as_uri())
    with pytest.raises(ValueError, match="outside the report's folder"):
        fetcher.fetch(folder.as_uri() + "/../secret.txt")
    inside = fetcher.fetch((folder / "figure.png").as_uri())
    try:
        assert inside.read().startswith(b"\x89PNG")
    finally:
        inside.close()
