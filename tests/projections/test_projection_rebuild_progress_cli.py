"""`projections rebuild` shows its progress on stderr, the way `verify` does, unless --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli import run
from ledger.service import TrialLedger
from tests.projection_support import RecordedTrial, recorded_trial, story  # noqa: F401


@pytest.fixture
def db(ledger: TrialLedger, recorded_trial: RecordedTrial, db_path: Path) -> Path:  # noqa: F811
    for step in story(recorded_trial):
        step()
    return db_path


def test_rebuild_reports_its_progress_on_stderr_up_to_every_event(
    db: Path, ledger: TrialLedger, capsys: pytest.CaptureFixture[str]
) -> None:
    size = ledger.reader.size()
    assert run(["projections", "rebuild", "--db", str(db)]) == 0
    captured = capsys.readouterr()
    assert f"rebuild: {size:,}/{size:,}" in captured.err.splitlines()
    assert f"Rebuilt {size:,} events" in captured.out


def test_rebuild_with_json_prints_no_progress(
    db: Path, ledger: TrialLedger, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["projections", "rebuild", "--db", str(db), "--json"]) == 0
    captured = capsys.readouterr()
    assert "rebuild:" not in captured.err
    assert json.loads(captured.out)["events"] == ledger.reader.size()
