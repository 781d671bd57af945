"""Fixtures of the inspection report tests.

* ``inspected`` (module): a copy of the demo ledger, a signed checkpoint taken of it, then one
  correction recorded after the checkpoint with hostile text (a ``<script>`` reason, a new
  value that closes a table cell), and the report of that copy (with its PDF), written once
  by the CLI with ``--against`` the checkpoint and ``--sponsor-key``.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.exports.conftest import Demo, cli

HOSTILE_REASON = "<script>alert(1)</script>"
HOSTILE_VALUE = '</td><td>injected & "quoted"'
CORRECTOR = "coordinator-001"
"""The key file (of a site 001 coordinator) the hostile correction is signed with."""


def cli_json(*args: str) -> Any:
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def inspect(db: Path, out: Path, *extra: str) -> dict[str, Any]:
    """``report inspection --json`` of ``db`` into ``out``."""
    result: dict[str, Any] = cli_json(
        "report", "inspection", "--db", str(db), "--out", str(out), "--json", *extra
    )
    return result


def site_001_follow_up(db: Path) -> tuple[int, str]:
    """A follow-up visit of a site 001 subject with an empty note: (position, subject)."""
    with sqlite3.connect(db) as conn:
        position, state = conn.execute(
            "SELECT position, state FROM stored_events WHERE topic = 'trial.FollowUpVisit.v1' "
            'AND CAST(state AS TEXT) LIKE \'%"note":""%\' '
            "AND CAST(state AS TEXT) LIKE '%MC0282-001-%' "
            "ORDER BY position LIMIT 1"
        ).fetchone()
    return int(position), str(json.loads(state)["subject_id"])


@dataclass(frozen=True)
class Inspected:
    ledger: Demo
    checkpoint: Path
    corrected_position: int
    out: Path
    result: dict[str, Any]

    @property
    def html(self) -> str:
        return (self.out / "inspection.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def inspected(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Inspected:
    folder = tmp_path_factory.mktemp("inspection")
    ledger = demo.copy_to(folder / "ledger")
    checkpoint = folder / "before-correction.checkpoint"
    done = cli(
        "checkpoint", "--db", str(ledger.db), "--ledger-key", str(ledger.keys / "ledger.key"),
        "--out", str(checkpoint),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    position, subject = site_001_follow_up(ledger.db)
    done = cli(
        "correct", "--db", str(ledger.db), "--key", str(ledger.keys / f"{CORRECTOR}.key"),
        "--subject", subject, "--position", str(position), "--field", "note", "--old", "",
        "--new", HOSTILE_VALUE, "--reason", HOSTILE_REASON, "--date", "2005-02-01",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = folder / "report"
    result = inspect(
        ledger.db, out, "--against", str(checkpoint), "--sponsor-key", str(ledger.sponsor_pub)
    )
    return Inspected(ledger, checkpoint, position, out, result)
