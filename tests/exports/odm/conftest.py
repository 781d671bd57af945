"""Fixtures of the ODM export tests: the demo exported once per version, by the CLI."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from projections.exports.odm.reader import Replay, replay
from tests.exports.conftest import Demo, cli


def export(db: Path, out: Path, *extra: str) -> dict[str, Any]:
    done = cli("export", "odm", "--db", str(db), "--out", str(out), "--json", *extra)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@dataclass(frozen=True)
class Exported:
    path: Path
    result: dict[str, Any]
    replay: Replay


@pytest.fixture(scope="session", params=["1.3.2", "2.0"])
def exported(
    request: pytest.FixtureRequest, demo: Demo, tmp_path_factory: pytest.TempPathFactory
) -> Exported:
    """The demo exported by the CLI, proved against a checkpoint and the sponsor's key."""
    version: str = request.param
    folder = tmp_path_factory.mktemp(f"odm-{version}")
    checkpoint = folder / "checkpoint.txt"
    done = cli(
        "checkpoint", "--db", str(demo.db), "--ledger-key", str(demo.keys / "ledger.key"),
        "--out", str(checkpoint),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = folder / "trial.xml"
    result = export(
        demo.db, out, "--version", version, "--against", str(checkpoint),
        "--sponsor-key", str(demo.sponsor_pub),
    )  # fmt: skip
    return Exported(out, result, replay(out))
