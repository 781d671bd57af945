"""A correction and a void recorded through the CLI reach the ODM file: the value as corrected
(an Update with its reason), the voided record removed (a Remove), the first values kept in the
audit trail, and the replay equal to ``patient --json`` and the ledger's history again."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from projections.exports import verified_source
from projections.exports.odm.reader import Replay, replay
from tests.exports.conftest import Demo, cli
from tests.exports.odm.conftest import export

SUBJECT = "MC0282-001-026"
REASON = 'digits transposed <lab> & "re-read"'


@dataclass(frozen=True)
class Corrected:
    db: Path
    corrected: int
    voided: int
    replay: Replay


def last_two_labs(db: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(db) as c:
        rows = c.execute(
            "SELECT position, state FROM stored_events WHERE topic LIKE '%LabResulted%' "
            "AND CAST(state AS TEXT) LIKE ? ORDER BY position DESC LIMIT 2",
            (f'%"subject_id":"{SUBJECT}"%',),
        ).fetchall()
    return [(p, json.loads(s)["value"]) for p, s in rows]


def correct(db: Path, keys: Path, *args: str) -> None:
    done = cli(
        "correct", "--db", str(db), "--key", str(keys / "coordinator-001.key"),
        "--subject", SUBJECT, "--date", "2009-02-02", *args,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def corrected(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Corrected:
    copy = demo.copy_to(tmp_path_factory.mktemp("corrected"))
    (last, value), (earlier, _) = last_two_labs(copy.db)
    new = str(Decimal(value) + Decimal("0.37"))
    correct(copy.db, copy.keys, "--position", str(last), "--field", "value",
            "--old", value, "--new", new, "--reason", REASON)  # fmt: skip
    correct(copy.db, copy.keys, "--position", str(earlier), "--field", "record_status",
            "--new", "entered-in-error", "--reason", "sample of another subject")  # fmt: skip
    out = copy.db.parent / "trial.xml"
    export(copy.db, out)
    return Corrected(copy.db, last, earlier, replay(out))


def lab_values(r: Replay) -> dict[int, str | None]:
    return {
        key.position: values["IT.LAB.value"]
        for key, values in r.records(SUBJECT, "SE.LAB").items()
        if key.position is not None
    }


def test_the_corrected_value_stands_and_names_its_reason(corrected: Corrected) -> None:
    (_, now), _ = last_two_labs(corrected.db)
    standing = lab_values(corrected.replay)[corrected.corrected]
    assert standing is not None
    assert Decimal(standing) == Decimal(now) + Decimal("0.37")
    update = [
        a for a in corrected.replay.audit if a.transaction == "Update" and a.subject == SUBJECT
    ]
    assert [(a.record.position, a.reason) for a in update] == [(corrected.corrected, REASON)]


def test_the_first_value_stays_in_the_audit_trail(corrected: Corrected) -> None:
    (_, first), _ = last_two_labs(corrected.db)
    inserts = [
        a.value
        for a in corrected.replay.audit
        if a.transaction == "Insert" and a.record.position == corrected.corrected
        and a.item == "IT.LAB.value"
    ]  # fmt: skip
    assert inserts == [first]


def test_the_voided_record_is_removed_with_its_reason(corrected: Corrected) -> None:
    assert corrected.voided not in lab_values(corrected.replay)
    removed = corrected.replay.removed[SUBJECT]
    assert [k.position for k in removed] == [corrected.voided]
    removal = [a for a in corrected.replay.audit if a.transaction == "Remove"]
    assert [(a.record.position, a.reason) for a in removal] == [
        (corrected.voided, "sample of another subject")
    ]


def test_the_replayed_labs_equal_the_history_and_patient_json(corrected: Corrected) -> None:
    with verified_source(corrected.db) as source:
        history = source.history(SUBJECT)
    ledger = {pos: str(lab.value) for pos, lab in history.labs}
    odm = lab_values(corrected.replay)
    assert {p: Decimal(v or "nan") for p, v in odm.items()} == {
        p: Decimal(v) for p, v in ledger.items()
    }
    done = cli("patient", SUBJECT, "--db", str(corrected.db), "--json")
    assert done.returncode == 0, done.stderr
    patient = json.loads(done.stdout)
    assert [c["corrects_position"] for c in patient["corrections"]][-2:] == [
        corrected.corrected, corrected.voided,
    ]  # fmt: skip
