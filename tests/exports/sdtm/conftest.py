"""Fixtures of the SDTM export tests: the demo exported once (with XPT) by the real CLI, and
the ``summary --json`` and ``patient --json`` documents it is compared with."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.exports.conftest import Demo, cli


def cli_json(*args: str) -> dict[str, Any]:
    done = cli(*args, "--json")
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def export(db: Path, out: Path, *extra: str) -> dict[str, Any]:
    return cli_json("export", "sdtm", "--db", str(db), "--out", str(out), *extra)


@dataclass(frozen=True)
class Exported:
    out: Path
    result: dict[str, Any]

    def dataset(self, name: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(
            (self.out / f"{name.lower()}.json").read_text(encoding="utf-8")
        )
        return document

    def records(self, name: str) -> list[dict[str, Any]]:
        """The rows of a dataset as {column name: value}."""
        document = self.dataset(name)
        names = [c["name"] for c in document["columns"]]
        return [dict(zip(names, row, strict=True)) for row in document["rows"]]

    def of(self, name: str, subject_id: str) -> list[dict[str, Any]]:
        return [r for r in self.records(name) if r["USUBJID"] == f"NCT00635154-{subject_id}"]


@pytest.fixture(scope="session")
def exported(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    out = tmp_path_factory.mktemp("sdtm") / "sdtm"
    return Exported(out, export(demo.db, out, "--format", "xpt"))


@pytest.fixture(scope="session")
def summary(demo: Demo) -> dict[str, Any]:
    return cli_json("summary", "--db", str(demo.db))


def patient(db: Path, subject_id: str) -> dict[str, Any]:
    return cli_json("patient", subject_id, "--db", str(db))
