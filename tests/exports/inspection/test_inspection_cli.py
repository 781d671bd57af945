"""``trial-ledger report inspection`` as a user runs it: what the report holds, checked against
independent readings of the same ledger (``verify``, ``keys list``, ``audit-trail``), what it
refuses, and that a refused report leaves nothing behind."""

from __future__ import annotations

import base64
import importlib
from pathlib import Path
from typing import Any

import lxml.html  # type: ignore[import-untyped]  # no stubs; pyproject lists none
import pypdfium2
import pytest

from ledger.integrity.signing import key_id, read_public_key
from tests.exports.conftest import Demo, alter_event, cli
from tests.exports.inspection.conftest import (
    CORRECTOR,
    HOSTILE_REASON,
    HOSTILE_VALUE,
    Inspected,
    cli_json,
    inspect,
)
from tests.support import Cast, create_ledger, new_signer, screening


def squeezed(text: str) -> str:
    """``text`` without white space: a value wrapped over two lines of a PDF cell reads whole."""
    return "".join(text.split())


@pytest.fixture(scope="module")
def pdf_text(inspected: Inspected) -> str:
    document = pypdfium2.PdfDocument(inspected.out / "inspection.pdf")
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


@pytest.fixture(scope="module")
def page(inspected: Inspected) -> Any:
    return lxml.html.fromstring(inspected.html)


@pytest.fixture(scope="module")
def verified(inspected: Inspected) -> dict[str, Any]:
    result: dict[str, Any] = cli_json("verify", "--db", str(inspected.ledger.db), "--json")
    return result


@pytest.fixture(scope="module")
def trail(inspected: Inspected) -> list[dict[str, Any]]:
    """Every event as ``audit-trail --json`` lists it."""
    document = cli_json("audit-trail", "--db", str(inspected.ledger.db), "--json")
    events: list[dict[str, Any]] = document["events"]
    return events


@pytest.fixture(scope="module")
def keys(inspected: Inspected) -> list[dict[str, Any]]:
    """Every key as ``keys list --json`` lists it."""
    listed: list[dict[str, Any]] = cli_json(
        "keys", "list", "--db", str(inspected.ledger.db), "--json"
    )["keys"]
    return listed


def rows(page: Any, table: str, kind: str) -> list[list[str]]:
    """The cells' text of the rows of class ``kind`` in the table with id ``table``."""
    return [
        [cell.text_content() for cell in row.findall("td")]
        for row in page.get_element_by_id(table).iterfind(f".//tr[@class='{kind}']")
    ]


def test_json_output_has_the_documented_shape(inspected: Inspected) -> None:
    result = inspected.result
    assert set(result) == {
        "out", "html", "pdf", "figures", "figures_available", "sections", "provenance",
        "verification", "timings", "seconds",
    }  # fmt: skip
    assert set(result["sections"]) == {
        "keys", "sites", "signatures", "review_signatures", "corrections", "voids",
    }  # fmt: skip
    for name in ("html", "pdf"):
        written = Path(result[name]["file"])
        assert written.parent == inspected.out
        assert result[name]["bytes"] == written.stat().st_size
    assert (inspected.out / "inspection.pdf").read_bytes().startswith(b"%PDF-")


def test_pdf_text_names_the_position_root_a_signer_and_the_correction(
    inspected: Inspected, pdf_text: str, verified: dict[str, Any], keys: list[dict[str, Any]]
) -> None:
    corrector_id = key_id(read_public_key(inspected.ledger.keys / f"{CORRECTOR}.key.pub"))
    corrector = next(k["printed_name"] for k in keys if k["key_id"] == corrector_id)
    text = squeezed(pdf_text)
    assert f"ledgerposition{verified['tree_size']}" in text
    assert squeezed(verified["root"]) in text
    assert squeezed(corrector) in text
    assert squeezed(HOSTILE_REASON) in text
    assert squeezed(HOSTILE_VALUE) in text


def test_key_table_lists_every_registered_key_with_when_it_held_its_role(
    inspected: Inspected, page: Any, keys: list[dict[str, Any]]
) -> None:
    listed = {row[3]: row for row in rows(page, "keys", "key")}
    assert sorted(listed) == sorted(k["key_id"] for k in keys)
    for key in keys:
        row = listed[key["key_id"]]
        assert (row[0], row[1], row[2]) == (key["printed_name"], key["role"], key["site"])
        assert row[4].split(",")[0] == str(key["registered_at"])
        retired = "" if key["retired_at"] is None else str(key["retired_at"])
        assert row[7].split(",")[0] == retired
    assert inspected.result["sections"]["keys"] == len(keys)


def test_manifest_has_one_signature_per_signed_commit(
    inspected: Inspected, page: Any, verified: dict[str, Any]
) -> None:
    listed = rows(page, "manifest", "signature")
    assert len(listed) == verified["commits"]
    commits = sorted(int(row[0].split(":")[0]) for row in listed)
    assert commits == list(range(1, verified["commits"] + 1))
    assert inspected.result["sections"]["signatures"] == verified["commits"]


def test_each_signature_shows_its_signer_time_and_meaning_as_the_audit_trail_does(
    page: Any, trail: list[dict[str, Any]]
) -> None:
    by_commit = {
        e["commit_seq"]: (f"{e['printed_name']}, {e['role']}", e["recorded_at"], e["meaning"])
        for e in trail
    }
    listed = rows(page, "manifest", "signature")
    assert len(listed) == len(by_commit)
    for row in listed:
        name, recorded_at, meaning = by_commit[int(row[0].split(":")[0])]
        assert row[2] == name
        assert row[3] == f"{recorded_at[:10]} {recorded_at[11:19]} UTC"
        assert row[4] == meaning


def test_correction_table_lists_what_the_audit_trail_lists(
    page: Any, trail: list[dict[str, Any]]
) -> None:
    corrections = [e for e in trail if e["event_type"] == "CorrectionRecorded"]
    listed = rows(page, "corrections", "correction")
    assert [int(row[0]) for row in listed] == [e["position"] for e in corrections]
    assert [(row[3], row[4], row[5]) for row in listed] == [
        (e["field"], e["old_value"], e["new_value"]) for e in corrections
    ]
    voids = [e for e in corrections if e["field"] == "record_status"]
    assert len(rows(page, "voids", "void")) == len(voids)


def test_review_signatures_are_every_record_signed(
    inspected: Inspected, page: Any, trail: list[dict[str, Any]]
) -> None:
    signed = [e for e in trail if e["event_type"] == "RecordSigned"]
    listed = rows(page, "reviews", "review")
    assert [int(row[0]) for row in listed] == [e["position"] for e in signed]
    assert [(row[2], row[5]) for row in listed] == [
        (e["meaning"], e["printed_name"]) for e in signed
    ]
    assert inspected.result["sections"]["review_signatures"] == len(signed)


def test_hostile_recorded_text_appears_as_text(inspected: Inspected, page: Any) -> None:
    assert "<script>alert" not in inspected.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in inspected.html
    hostile = [
        row
        for row in rows(page, "corrections", "correction")
        if int(row[2].split()[0]) == inspected.corrected_position
    ]
    assert len(hostile) == 1
    assert len(hostile[0]) == 9  # the new value closed no cell
    assert hostile[0][5] == HOSTILE_VALUE
    assert hostile[0][6] == HOSTILE_REASON
    assert page.findall(".//script") == []


def test_against_a_checkpoint_shows_the_match(inspected: Inspected, page: Any) -> None:
    _origin, size, root = inspected.checkpoint.read_text(encoding="utf-8").splitlines()[:3]
    against = inspected.result["verification"]["against"]
    assert against["size"] == int(size)
    assert against["root"] == root
    assert against["extended"] is True
    assert against["events_since"] == inspected.result["provenance"]["position"] - int(size)
    assert against["events_since"] == 1  # the correction recorded after the checkpoint
    shown = page.get_element_by_id("against").text_content()
    assert root in shown
    assert "match: the ledger" in shown


def test_sponsor_key_is_named_by_its_key_id(inspected: Inspected, page: Any) -> None:
    public = read_public_key(inspected.ledger.sponsor_pub)
    sponsor = inspected.result["verification"]["sponsor_key"]
    assert sponsor["key_id"] == key_id(public)
    assert sponsor["public_key"] == base64.b64encode(public).decode()
    assert key_id(public) in page.get_element_by_id("sponsor").text_content()
    assert inspected.result["verification"]["scope"] == "anchored"
    assert page.get_element_by_id("self-consistency", None) is None


def test_report_reads_nothing_outside_its_folder(inspected: Inspected, page: Any) -> None:
    assert page.findall(".//link") == []
    sources = [element.get("src") for element in page.iterfind(".//img")]
    assert all(src.startswith("figures/") and ":" not in src for src in sources)
    assert sorted(sources) == sorted(
        str(Path(f["file"]).relative_to(inspected.out)) for f in inspected.result["figures"]
    )


def test_every_picture_the_plots_module_draws_is_a_png_in_figures(inspected: Inspected) -> None:
    plots = importlib.import_module("projections.exports.plots")
    kinds = list(getattr(plots, "KINDS", ())) if hasattr(plots, "draw") else []
    assert [figure["kind"] for figure in inspected.result["figures"]] == kinds
    assert inspected.result["figures_available"] is bool(kinds)
    for figure in inspected.result["figures"]:
        path = Path(figure["file"])
        assert path.parent == inspected.out / "figures"
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        assert figure["bytes"] == path.stat().st_size


def test_without_checkpoint_or_sponsor_key_it_says_self_consistency_only(
    tmp_path: Path,
) -> None:
    db = tmp_path / "small.db"
    cast = Cast(*(new_signer() for _ in range(7)))
    with create_ledger(db, cast) as ledger:
        ledger.append(cast.coordinator, [screening("MC0282-001-001")])
    out = tmp_path / "report"
    result = inspect(db, out, "--no-pdf")
    assert result["verification"]["scope"] == "self-consistency only"
    assert result["pdf"] is None
    assert not (out / "inspection.pdf").exists()
    page = lxml.html.fromstring((out / "inspection.html").read_text(encoding="utf-8"))
    warning = page.get_element_by_id("self-consistency").text_content()
    assert "could have rewritten" in warning
    assert len(rows(page, "manifest", "signature")) == result["provenance"]["commits"]


def test_existing_folder_is_refused_and_left_alone(demo: Demo, tmp_path: Path) -> None:
    out = tmp_path / "report"
    out.mkdir()
    done = cli("report", "inspection", "--db", str(demo.db), "--out", str(out))
    assert done.returncode == 2, done.stderr
    assert "already exists; refusing to overwrite" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(out.iterdir()) == []


def test_an_altered_ledger_is_refused_and_nothing_is_written(demo: Demo, tmp_path: Path) -> None:
    copy = demo.copy_to(tmp_path / "altered")
    alter_event(copy.db, "LabResulted", b'"value":"', b'"value":"9')
    out = tmp_path / "report"
    done = cli("report", "inspection", "--db", str(copy.db), "--out", str(out))
    assert done.returncode == 1, done.stderr
    assert "does not verify" in done.stderr
    assert not out.exists()
    assert list(tmp_path.glob(".report.*")) == []
