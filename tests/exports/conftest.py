"""Fixtures of the export tests.

* ``demo`` (session): the demo ledger (``trial-ledger demo``'s own builder, seed 282), built
  once, with its key files; read-only: a test that alters it copies it first
  (:meth:`Demo.copy_to`).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from ledger.cli.demo.build import build_demo

PASSPHRASE = b"export-tests"
BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "trial-ledger"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``trial-ledger ARGS`` as a separate process, as a user runs it."""
    env = {**os.environ, "TRIAL_LEDGER_PASSPHRASE": PASSPHRASE.decode()}
    env.pop("TRIAL_LEDGER_DB", None)
    return subprocess.run(
        [str(BIN), *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )


def alter_event(db: Path, topic: str, old: bytes, new: bytes) -> int:
    """As the holder of the file would: drop the append-only trigger and change the first
    event of ``topic`` (``old`` replaced by ``new`` in its stored state); its position."""
    with sqlite3.connect(db) as c:
        position, state = c.execute(
            "SELECT position, state FROM stored_events WHERE topic LIKE ? LIMIT 1",
            (f"%{topic}%",),
        ).fetchone()
        altered = bytes(state).replace(old, new, 1)
        assert altered != bytes(state)
        c.execute("DROP TRIGGER stored_events_no_update")
        c.execute("UPDATE stored_events SET state = ? WHERE position = ?", (altered, position))
    return int(position)


@dataclass(frozen=True)
class Demo:
    db: Path
    keys: Path

    @property
    def sponsor_pub(self) -> Path:
        return self.keys / "sponsor.key.pub"

    def copy_to(self, directory: Path) -> Demo:
        """A copy of the ledger file in ``directory`` (the key files stay shared)."""
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.db, directory / "trial.db")
        return Demo(directory / "trial.db", self.keys)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    directory = tmp_path_factory.mktemp("demo")
    build_demo(directory / "trial.db", directory / "keys", passphrase=PASSPHRASE)
    return Demo(directory / "trial.db", directory / "keys")
