"""Corrections recorded through the CLI on a copy of the demo reach the SDTM rows: the
corrected lab value and AE grade stand (the first values stay only in the ledger's audit
trail), and the rows still agree with ``patient --json`` read after the corrections."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.exports.conftest import Demo, cli
from tests.exports.sdtm.conftest import Exported, export, patient

SUBJECT = "MC0282-001-002"  # a site-001 subject with labs and adverse events in the demo


@dataclass(frozen=True)
class Corrected:
    before: dict[str, Any]
    after: dict[str, Any]
    exported: Exported
    lab: int
    lab_value: str
    new_value: str
    ae: int
    ae_id: str
    new_grade: int


def recorded_state(db: Path, position: int) -> dict[str, Any]:
    with sqlite3.connect(db) as c:
        (state,) = c.execute(
            "SELECT state FROM stored_events WHERE position = ?", (position,)
        ).fetchone()
    document: dict[str, Any] = json.loads(state)
    return document


def correct(demo: Demo, *args: str) -> None:
    done = cli(
        "correct", "--db", str(demo.db), "--key", str(demo.keys / "coordinator-001.key"),
        "--subject", SUBJECT, "--date", "2009-02-02", *args,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def corrected(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Corrected:
    copy = demo.copy_to(tmp_path_factory.mktemp("sdtm-corrected"))
    before = patient(copy.db, SUBJECT)
    already = {c["corrects_position"] for c in before["corrections"]}
    lab = next(
        p
        for a in reversed(before["response"]["assessments"])
        for p in a["lab_positions"]
        if p not in already
    )
    value = str(recorded_state(copy.db, lab)["value"])
    new_value = str(Decimal(value) + Decimal("0.37"))
    correct(copy, "--position", str(lab), "--field", "value", "--old", value,
            "--new", new_value, "--reason", "value read from the wrong line")  # fmt: skip
    events = before["adverse_events"]["resolved"] + before["adverse_events"]["open"]
    ae = next(a for a in events if a["grade"] < 5 and a["grade"] == a["worst_grade"])
    new_grade = ae["grade"] + 1
    correct(copy, "--position", str(ae["position"]), "--field", "grade",
            "--old", str(ae["grade"]), "--new", str(new_grade),
            "--reason", "grade re-assessed from the source notes")  # fmt: skip
    out = copy.db.parent / "sdtm"
    result = export(copy.db, out)
    after = patient(copy.db, SUBJECT)
    return Corrected(
        before, after, Exported(out, result), lab, value, new_value, ae["position"],
        ae["ae_id"], new_grade,
    )  # fmt: skip


def lb_row(exported: Exported, position: int) -> dict[str, Any]:
    (row,) = [r for r in exported.of("LB", SUBJECT) if r["LBSPID"] == str(position)]
    return row


def test_the_corrected_lab_value_stands_in_lb(corrected: Corrected, exported: Exported) -> None:
    row = lb_row(corrected.exported, corrected.lab)
    assert row["LBORRES"] == row["LBSTRESC"] == corrected.new_value
    assert row["LBSTRESN"] == float(corrected.new_value)
    assert lb_row(exported, corrected.lab)["LBORRES"] == corrected.lab_value


def test_the_corrected_ae_grade_stands_in_ae_as_patient_json_shows_it(
    corrected: Corrected, exported: Exported
) -> None:
    (row,) = [r for r in corrected.exported.of("AE", SUBJECT) if r["AESPID"] == corrected.ae_id]
    events = (
        corrected.after["adverse_events"]["resolved"] + corrected.after["adverse_events"]["open"]
    )
    (shown,) = [a for a in events if a["ae_id"] == corrected.ae_id]
    assert row["AETOXGR"] == str(shown["worst_grade"]) == str(corrected.new_grade)
    (old,) = [r for r in exported.of("AE", SUBJECT) if r["AESPID"] == corrected.ae_id]
    assert old["AETOXGR"] == str(corrected.new_grade - 1)


def test_rs_after_the_correction_agrees_with_patient_json_derived_again(
    corrected: Corrected,
) -> None:
    rows = corrected.exported.of("RS", SUBJECT)
    derived = [r["RSSTRESC"] for r in rows if r["RSDRVFL"] == "Y" and r["RSTESTCD"] == "OVRLRESP"]
    assert derived == [a["derived"] for a in corrected.after["response"]["assessments"]]


def test_the_export_names_the_position_after_the_corrections(
    corrected: Corrected, exported: Exported
) -> None:
    position = corrected.exported.result["provenance"]["position"]
    assert position == exported.result["provenance"]["position"] + 2
    assert f":position={position}:" in corrected.exported.dataset("LB")["fileOID"]
