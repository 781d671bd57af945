"""Property: for any append sequence, catching up at any points equals a rebuild from 1."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.events import LedgerEvent
from ledger.service import TrialLedger
from projections.engine import ProjectionEngine
from tests.projection_support import Trial, plus
from tests.support import Cast, create_ledger, new_signer

SUBJECTS = ("MC0282-001-001", "MC0282-001-002", "MC0282-001-003")
CATEGORIES = ("CR", "VGPR", "PR", "MR", "SD", "PD")
REGIMENS = ("induction", "continuation", "low_dose_dex", "high_dose_dex", "off_treatment")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Cast]:
    folder = tmp_path_factory.mktemp("projection-base")
    cast = Cast(*(new_signer() for _ in range(7)))
    ledger = create_ledger(folder / "base.db", cast)
    ledger.close()
    conn = sqlite3.connect(folder / "base.db")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the copy must hold every commit
    conn.close()
    return folder / "base.db", cast


operation = st.tuples(
    st.sampled_from(
        ("dose", "lab", "assess", "regimen", "ae", "resolve", "fix", "void", "withdraw", "catch")
    ),
    st.integers(0, len(SUBJECTS) - 1),
    st.integers(0, 400),
    st.integers(0, 5),
)


def event_for(t: Trial, op: tuple[str, int, int, int], recorded: dict[str, list[Any]]) -> Any:
    kind, i, offset, k = op
    s, on = SUBJECTS[i], plus("2003-02-01", offset)
    if kind == "dose":
        return t.dose(s, on, "anakinra" if k < 4 else "dexamethasone")
    if kind == "lab":
        return t.lab(s, on, f"{1 + k}.{offset % 10}")
    if kind == "assess":
        return t.assessed(s, on, 1 + offset // 28, CATEGORIES[k], CATEGORIES[(k + offset) % 6])
    if kind == "regimen":
        return t.regimen(s, on, "induction", REGIMENS[k % len(REGIMENS)])
    if kind == "ae":
        return t.ae(s, on, f"AE-{k:03d}", ("infection", "rash")[k % 2], 1 + k % 5)
    if kind == "resolve":
        return t.ae_resolved(s, on, f"AE-{k:03d}")
    if kind == "withdraw":
        return t.withdrawn(s, on)
    targets = recorded[s]
    if not targets:
        return t.dose(s, on)
    position, topic = targets[k % len(targets)]
    if kind == "void":
        return t.correction(s, on, position, topic, "record_status", "valid", "entered-in-error")
    return t.correction(s, on, position, topic, "effective_date", "?", plus(on, -k))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=st.lists(operation, min_size=1, max_size=20))
def test_incremental_catch_up_equals_rebuild_for_any_append_sequence(
    base: tuple[Path, Cast], ops: list[tuple[str, int, int, int]]
) -> None:
    source, cast = base
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "trial.db"
        shutil.copy(source, db)
        ledger = TrialLedger.open(db)
        try:
            t = Trial(ledger, cast)
            for s in SUBJECTS:
                t.onboard(s)
            incremental = ProjectionEngine(ledger.reader, Path(folder) / "i.sqlite", batch_size=3)
            recorded: dict[str, list[Any]] = {s: [] for s in SUBJECTS}
            for op in ops:
                if op[0] == "catch":
                    incremental.catch_up()
                    continue
                event: LedgerEvent = event_for(t, op, recorded)
                commit = t.append(event)
                recorded[SUBJECTS[op[1]]].append((commit.header.first_position, event.TOPIC))
            incremental.catch_up()
            rebuilt = ProjectionEngine(ledger.reader, Path(folder) / "r.sqlite")
            rebuilt.rebuild()
            assert incremental.dump() == rebuilt.dump()
        finally:
            ledger.close()
