"""`trial-ledger backup` as a user runs it: output, JSON shape, progress, refusals, exit codes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from cli import run
from ledger.service import TrialLedger
from ledger.store import APPEND_ONLY_TABLES
from tests.support import Cast, append_doses, screening

SUBJECT = "MC0282-001-044"


@pytest.fixture
def db(ledger: TrialLedger, cast: Cast) -> Path:
    """A live ledger: its writer stays open while the commands run."""
    ledger.append(cast.coordinator, [screening(SUBJECT)])
    append_doses(ledger, cast.coordinator, SUBJECT, 30)
    return ledger.db_path


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "backups"
    folder.mkdir()
    return folder


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def verify_json(db: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert run(["verify", "--db", str(db), "--json"]) == 0
    document: dict[str, object] = json.loads(capsys.readouterr().out)
    return document


def test_backup_json_has_the_documented_shape_and_the_root_verify_reports(
    db: Path, out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = verify_json(db, capsys)
    out = out_dir / "copy.db"
    assert run(["backup", "--db", str(db), "--out", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert set(document) == {"db", "out", "events", "commits", "tree_size", "root", "seconds"}
    assert (document["db"], document["out"]) == (str(db), str(out))
    assert [document[k] for k in ("events", "commits", "tree_size", "root")] == [
        source[k] for k in ("events", "commits", "tree_size", "root")
    ]
    assert isinstance(document["seconds"], float | int)
    assert captured.err == ""  # one step of pages: no progress lines
    copy = verify_json(out, capsys)
    assert (copy["ok"], copy["events"], copy["root"]) == (True, source["events"], source["root"])
    assert files(out_dir) == ["copy.db"]


def test_backup_prints_what_it_copied(
    db: Path, out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = verify_json(db, capsys)
    assert run(["backup", "--db", str(db), "--out", str(out_dir / "copy.db")]) == 0
    line = capsys.readouterr().out
    assert line.startswith(f"OK: {db} copied to {out_dir / 'copy.db'} and verified: ")
    assert f"{source['events']} events in {source['commits']} signed commits" in line
    assert f"tree size {source['tree_size']}, root {source['root']}" in line


def test_backup_of_a_ledger_larger_than_one_step_shows_progress_on_stderr(
    db: Path, out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = out_dir / "copy.db"
    args = ["backup", "--db", str(db), "--out", str(out), "--pages-per-step", "1", "--json"]
    assert run(args) == 0
    captured = capsys.readouterr()
    events = json.loads(captured.out)["events"]
    lines = captured.err.splitlines()
    copying = [line for line in lines if line.startswith("backup: copy pages: ")]
    assert copying
    assert copying[-1].split(": ")[-1].split("/")[0] == copying[-1].split("/")[-1]  # all pages
    assert f"backup: verify: {events}/{events}" in lines


def test_backup_refuses_an_existing_out_naming_it_and_keeps_it(
    db: Path, out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = out_dir / "copy.db"
    out.write_bytes(b"last week's copy")
    assert run(["backup", "--db", str(db), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert f"--out {out}: a file already exists there; refusing to overwrite" in captured.err
    assert captured.out == ""
    assert out.read_bytes() == b"last week's copy"
    assert files(out_dir) == ["copy.db"]


def test_backup_refuses_a_missing_db_naming_it_and_writes_nothing(
    tmp_path: Path, out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.db"
    assert run(["backup", "--db", str(missing), "--out", str(out_dir / "copy.db")]) == 2
    assert f"--db {missing}: no such ledger file" in capsys.readouterr().err
    assert files(out_dir) == []
    assert not missing.exists()


def test_backup_refuses_a_db_that_is_not_a_ledger_and_writes_nothing(
    tmp_path: Path, out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "contacts.db"
    conn = sqlite3.connect(other)
    with conn:
        conn.execute("CREATE TABLE contacts (name TEXT)")
    conn.close()
    assert run(["backup", "--db", str(other), "--out", str(out_dir / "copy.db")]) == 2
    assert f"--db {other}: not a trial-ledger database" in capsys.readouterr().err
    assert files(out_dir) == []


def test_backup_of_a_tampered_ledger_exits_1_and_writes_nothing(
    db: Path, out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conn = sqlite3.connect(db)
    try:
        for table in APPEND_ONLY_TABLES:
            conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        with conn:
            conn.execute("UPDATE stored_events SET topic = 'trial.Edited.v1' WHERE position = 12")
    finally:
        conn.close()
    assert run(["backup", "--db", str(db), "--out", str(out_dir / "copy.db")]) == 1
    assert "the copy does not verify at position 12" in capsys.readouterr().err
    assert files(out_dir) == []


def test_backup_refuses_a_step_of_no_pages(
    db: Path, out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["backup", "--db", str(db), "--out", str(out_dir / "c.db"), "--pages-per-step", "0"]
    assert run(args) == 2
    assert "--pages-per-step" in capsys.readouterr().err
    assert files(out_dir) == []


def test_backup_help_explains_the_copy_with_an_example(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["backup", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Example: trial-ledger backup --db trial.db --out" in text
    assert "--out" in text
    assert "-wal" in text
