"""`trial-ledger plot KIND` as users run it: the console script's --json document, the options
shared with the exports (--against, --sponsor-key), and refusals: an existing --out, a suffix
that is not .png or .svg, an unknown KIND (exit 2) and a tampered ledger (exit 1), each with
nothing written."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ledger.cli import plot as plot_cli
from projections.exports import plots
from tests.adversarial.ledgers import attacker
from tests.exports.conftest import PASSPHRASE, Demo
from tests.exports.plots.conftest import Result, run

TRIAL_LEDGER = Path(__file__).resolve().parents[3] / ".venv" / "bin" / "trial-ledger"
DOCUMENT_KEYS = {
    "kind", "title", "population", "n", "subjects", "excluded", "figures", "position", "root",
    "provenance", "out", "format", "bytes", "width_px", "height_px", "dpi",
}  # fmt: skip


def refused(result: Result, code: int, *fragments: str) -> None:
    """Exit ``code``, one error line naming every fragment (and the same as --json's error)."""
    assert result.code == code, result
    error = result.err.strip().splitlines()[-1]  # after any progress lines
    assert error.startswith("error: "), result.err
    assert json.loads(result.out)["error"] == error.removeprefix("error: ")
    assert json.loads(result.out)["exit_code"] == code
    for fragment in fragments:
        assert fragment in error, (fragment, result.err)


def test_the_console_script_draws_and_prints_the_documented_json(
    demo: Demo, tmp_path: Path, summary_doc: dict[str, Any], verify_doc: dict[str, Any]
) -> None:
    out = tmp_path / "ttp.png"
    done = subprocess.run(
        [str(TRIAL_LEDGER), "plot", "km-ttp", "--db", str(demo.db), "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "verify" in done.stderr  # progress on stderr, the document alone on stdout
    document = json.loads(done.stdout)
    assert set(document) == DOCUMENT_KEYS
    assert (document["position"], document["root"]) == (verify_doc["tree_size"], verify_doc["root"])
    assert document["out"] == str(out)
    assert document["bytes"] == out.stat().st_size
    expected = summary_doc["time_to_progression"]
    figures = document["figures"]
    assert (figures["n"], figures["events"], figures["censored"]) == (
        expected["n"], expected["events"], expected["censored"],
    )  # fmt: skip
    assert figures["median_days"] == expected["median"]
    assert document["subjects"] == [c["subject_id"] for c in expected["counted"]]


def test_without_json_one_line_names_the_file_population_position_and_root(
    demo: Demo, tmp_path: Path, verify_doc: dict[str, Any]
) -> None:
    out = tmp_path / "spider.svg"
    result = run("plot", "spider", "--db", demo.db, "--out", out)
    assert result.code == 0, result
    assert str(out) in result.out
    assert "n=" in result.out
    assert f"position {verify_doc['tree_size']}, root {verify_doc['root']}" in result.out
    assert out.read_bytes().lstrip().startswith(b"<?xml")


def test_against_a_checkpoint_and_the_sponsor_key_are_stated_in_the_provenance(
    demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = demo.copy_to(tmp_path / "copy")
    checkpoint = tmp_path / "checkpoint.txt"
    monkeypatch.setenv("TRIAL_LEDGER_PASSPHRASE", PASSPHRASE.decode())
    done = run(
        "checkpoint", "--db", copy.db, "--ledger-key", demo.keys / "ledger.key",
        "--out", checkpoint,
    )  # fmt: skip
    assert done.code == 0, done
    out = tmp_path / "dor.svg"
    result = run(
        "plot", "km-dor", "--db", copy.db, "--out", out, "--against", checkpoint,
        "--sponsor-key", demo.sponsor_pub, "--json",
    )  # fmt: skip
    assert result.code == 0, result
    provenance = result.json()["provenance"]
    assert (provenance["against_checkpoint"], provenance["sponsor_key"]) == (True, True)


def test_an_existing_out_is_refused_and_left_as_it_was(demo: Demo, tmp_path: Path) -> None:
    out = tmp_path / "swimmer.png"
    out.write_bytes(b"someone's picture")
    result = run("plot", "swimmer", "--db", demo.db, "--out", out, "--json")
    refused(result, 2, f"--out {out}", "already exists", "refusing to overwrite")
    assert out.read_bytes() == b"someone's picture"
    assert [p.name for p in tmp_path.iterdir()] == ["swimmer.png"]


@pytest.mark.parametrize("name", ["waterfall.pdf", "waterfall", "waterfall.jpeg"])
def test_a_suffix_other_than_png_or_svg_is_refused_naming_out_the_value_and_the_rule(
    demo: Demo, tmp_path: Path, name: str
) -> None:
    out = tmp_path / name
    result = run("plot", "waterfall", "--db", demo.db, "--out", out, "--json")
    refused(result, 2, f"--out {out}", "must end in .png or .svg")
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_kind_is_refused_naming_the_kinds_drawn(demo: Demo, tmp_path: Path) -> None:
    result = run("plot", "histogram", "--db", demo.db, "--out", tmp_path / "h.png", "--json")
    refused(result, 2, "KIND histogram", ", ".join(plots.KINDS))
    assert list(tmp_path.iterdir()) == []


def test_a_tampered_ledger_is_refused_with_exit_1_and_nothing_written(
    demo: Demo, tmp_path: Path
) -> None:
    copy = demo.copy_to(tmp_path / "copy")
    with attacker(copy.db) as conn:
        position, state = conn.execute(
            "SELECT position, state FROM stored_events WHERE topic LIKE '%DoseAdministered%'"
            " ORDER BY position LIMIT 1"
        ).fetchone()
        altered = bytes(state).replace(b'"dose":"100"', b'"dose":"900"')
        assert altered != bytes(state)
        conn.execute("UPDATE stored_events SET state=? WHERE position=?", (altered, position))
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    result = run("plot", "waterfall", "--db", copy.db, "--out", pictures / "w.png", "--json")
    refused(result, 1, "does not verify", f"position {position}")
    assert list(pictures.iterdir()) == []


def test_the_command_knows_the_kinds_the_package_draws() -> None:
    assert plot_cli.KINDS == plots.KINDS
