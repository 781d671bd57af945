"""``trial-ledger export odm`` as a user runs it: what it prints, what it refuses, and that a
refused export leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.exports.conftest import BIN, Demo, alter_event, cli
from tests.exports.odm.conftest import Exported, export


def test_json_output_has_the_documented_shape(exported: Exported) -> None:
    result = exported.result
    assert set(result) == {
        "out", "version", "bytes", "sha256", "subjects", "item_data", "audit_records",
        "signatures", "provenance", "validated_against", "seconds",
    }  # fmt: skip
    assert set(result["provenance"]) == {
        "trial_id", "ledger_id", "position", "root", "commits", "checkpoints_checked",
        "against_checkpoint", "sponsor_key",
    }  # fmt: skip
    assert result["bytes"] == exported.path.stat().st_size
    assert result["item_data"] > 0
    assert result["audit_records"] >= result["item_data"]


def test_refuses_to_overwrite_an_existing_file(demo: Demo, tmp_path: Path) -> None:
    out = tmp_path / "trial.xml"
    out.write_text("kept")
    done = cli("export", "odm", "--db", str(demo.db), "--out", str(out))
    assert done.returncode == 2
    assert "already exists; refusing to overwrite" in done.stderr
    assert "Traceback" not in done.stderr
    assert out.read_text() == "kept"


def test_refuses_an_unknown_version_naming_the_option(demo: Demo, tmp_path: Path) -> None:
    out = tmp_path / "trial.xml"
    done = cli("export", "odm", "--db", str(demo.db), "--out", str(out), "--version", "1.3")
    assert done.returncode == 2
    assert "--version 1.3" in done.stderr
    assert "1.3.2 or 2.0" in done.stderr
    assert not out.exists()


def test_an_altered_ledger_is_refused_and_nothing_is_written(demo: Demo, tmp_path: Path) -> None:
    copy = demo.copy_to(tmp_path / "altered")
    alter_event(copy.db, "LabResulted", b'"value":"', b'"value":"9')
    out = tmp_path / "trial.xml"
    done = cli("export", "odm", "--db", str(copy.db), "--out", str(out))
    assert done.returncode == 1, done.stderr
    assert "does not verify" in done.stderr
    assert "nothing was exported" in done.stderr
    assert not out.exists()
    assert list(tmp_path.glob("*.partial")) == []


def test_the_provenance_states_the_checkpoint_and_sponsor_key_it_was_proved_against(
    exported: Exported,
) -> None:
    assert exported.result["provenance"]["against_checkpoint"] is True
    assert exported.result["provenance"]["sponsor_key"] is True
    assert exported.result["provenance"]["checkpoints_checked"] >= 1


def test_the_same_position_exports_the_same_bytes(
    exported: Exported, demo: Demo, tmp_path: Path
) -> None:
    again = export(demo.db, tmp_path / "x.xml", "--version", exported.result["version"])
    assert again["sha256"] == exported.result["sha256"]


def test_refuses_a_dangling_symlink_as_out(demo: Demo, tmp_path: Path) -> None:
    out = tmp_path / "trial.xml"
    out.symlink_to(tmp_path / "nowhere" / "trial.xml")
    done = cli("export", "odm", "--db", str(demo.db), "--out", str(out))
    assert done.returncode == 2
    assert "already exists; refusing to overwrite" in done.stderr
    assert not (tmp_path / "nowhere").exists()


def test_a_write_failure_names_out_not_the_ledger(demo: Demo) -> None:
    done = cli("export", "odm", "--db", str(demo.db), "--out", "/proc/trial.xml")
    assert done.returncode == 2
    assert "--out /proc/trial.xml: could not be written" in done.stderr
    assert str(demo.db) not in done.stderr
    assert "Traceback" not in done.stderr


def test_sigterm_stops_the_export_and_leaves_nothing(demo: Demo, tmp_path: Path) -> None:
    out = tmp_path / "trial.xml"
    env = {**os.environ, "TRIAL_LEDGER_PASSPHRASE": "unused"}
    process = subprocess.Popen(
        [str(BIN), "export", "odm", "--db", str(demo.db), "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".*.partial")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(tmp_path.glob(".*.partial")), "the export never started writing"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0
    assert b"Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []
