"""Fixtures of the export tests.

* ``demo`` (session): the demo ledger (``trial-ledger demo``'s own builder, seed 282), built
  once, with its key files; read-only: a test that alters it copies it first
  (:meth:`Demo.copy_to`).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from ledger.cli.demo.build import build_demo

PASSPHRASE = b"export-tests"


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
