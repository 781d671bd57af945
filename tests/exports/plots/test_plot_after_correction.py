"""A correction recorded through the CLI reaches the pictures: after the nadir serum M-protein
of one subject is corrected, its waterfall bar and spider series show the corrected value, as
``patient --json`` of the corrected ledger does, and the lowered value is no longer drawn."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from projections.exports import ExportSource, verified_source
from projections.exports.plots import Bar, Series, spider_data, waterfall_data
from tests.exports.conftest import PASSPHRASE, Demo
from tests.exports.plots.conftest import cli_json, run

SUBJECT = "MC0282-001-026"


@dataclass(frozen=True)
class Corrected:
    db: Path
    position: int
    old: str
    new: str
    bar: Bar
    series: Series
    patient: dict[str, Any]


def nadir_lab(db: Path, nadir: str) -> int:
    """The position of the subject's serum M-protein result of value ``nadir``."""
    with sqlite3.connect(db) as c:
        rows = c.execute(
            "SELECT position, state FROM stored_events WHERE topic LIKE '%LabResulted%' "
            "AND CAST(state AS TEXT) LIKE ? ORDER BY position",
            (f'%"subject_id":"{SUBJECT}"%',),
        ).fetchall()
    found = [
        p for p, s in rows if json.loads(s)["analyte"] == "serum_m_protein"
        and json.loads(s)["value"] == nadir
    ]  # fmt: skip
    assert len(found) == 1, found
    return int(found[0])


@pytest.fixture(scope="module")
def corrected(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Corrected:
    copy = demo.copy_to(tmp_path_factory.mktemp("corrected"))
    before = cli_json("patient", SUBJECT, "--db", copy.db)
    old = before["response"]["markers"]["serum_m_protein"]["nadir"]
    new = str((Decimal(old) / 2).quantize(Decimal("0.01")))
    position = nadir_lab(copy.db, old)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TRIAL_LEDGER_PASSPHRASE", PASSPHRASE.decode())
        done = run(
            "correct", "--db", copy.db, "--key", demo.keys / "coordinator-001.key",
            "--subject", SUBJECT, "--date", "2009-02-02", "--position", position,
            "--field", "value", "--old", old, "--new", new, "--reason", "dilution not applied",
        )  # fmt: skip
    assert done.code == 0, done
    with verified_source(copy.db) as source:
        bar = next(b for b in waterfall_data(source) if b.subject_id == SUBJECT)
        series = next(s for s in spider_data(source) if s.subject_id == SUBJECT)
    patient = cli_json("patient", SUBJECT, "--db", copy.db)
    return Corrected(copy.db, position, old, new, bar, series, patient)


def test_the_waterfall_bar_is_the_corrected_nadir_of_patient_json(corrected: Corrected) -> None:
    marker = corrected.patient["response"]["markers"]["serum_m_protein"]
    assert marker["nadir"] == corrected.new
    assert str(corrected.bar.best) == corrected.new
    base = Decimal(marker["baseline"])
    expected = round(float((Decimal(corrected.new) - base) * 100 / base), 2)
    assert corrected.bar.change_pct == expected


def test_the_bar_and_series_differ_from_the_uncorrected_ledgers(
    corrected: Corrected, source: ExportSource
) -> None:
    before = next(b for b in waterfall_data(source) if b.subject_id == SUBJECT)
    assert str(before.best) == corrected.old
    assert corrected.bar.change_pct < before.change_pct
    values = [str(p.value) for p in corrected.series.points]
    assert corrected.new in values
    assert corrected.old not in values
    best = corrected.patient["response"]["best_confirmed"]
    assert corrected.bar.best_response == (best["category"] if best else "none")
