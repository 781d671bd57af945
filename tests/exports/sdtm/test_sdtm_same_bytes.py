"""One ledger position gives the same SDTM files, byte for byte (every time they hold is the
ledger's own), so an export can be derived again and its digests compared."""

from __future__ import annotations

import json
from pathlib import Path

from tests.exports.conftest import Demo
from tests.exports.sdtm.conftest import Exported, export


def test_a_second_export_of_the_same_position_has_the_same_digests(
    exported: Exported, demo: Demo, tmp_path: Path
) -> None:
    again = export(demo.db, tmp_path / "sdtm", "--format", "xpt")
    first = json.loads((exported.out / "manifest.json").read_text(encoding="utf-8"))
    second = json.loads((tmp_path / "sdtm" / "manifest.json").read_text(encoding="utf-8"))
    assert first == second
    assert again["manifest"]["sha256"] == exported.result["manifest"]["sha256"]
    assert [d["xpt"]["sha256"] for d in again["datasets"]] == [
        d["xpt"]["sha256"] for d in exported.result["datasets"]
    ]
