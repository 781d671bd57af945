"""Property: for any append sequence, catching up at any points equals a rebuild from 1, on
either store."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import sql

from ledger.events import LedgerEvent
from ledger.service import TrialLedger
from ledger.store.location import StoreTarget, parse_store
from projections.engine import ProjectionEngine
from tests.projection_support import Trial, plus
from tests.projections.store_support import STORES, views_at
from tests.support import Cast, create_ledger, new_signer
from tools.pg_cluster import PgCluster

SUBJECTS = ("MC0282-001-001", "MC0282-001-002", "MC0282-001-003")
CATEGORIES = ("CR", "VGPR", "PR", "MR", "SD", "PD")
REGIMENS = ("induction", "continuation", "low_dose_dex", "high_dose_dex", "off_treatment")


@dataclass(frozen=True)
class Base:
    """A ledger with its cast registered, copied afresh for each example: a file, or a
    PostgreSQL template database."""

    cast: Cast
    db: Path
    cluster: PgCluster | None = None

    @property
    def kind(self) -> str:
        return "sqlite" if self.cluster is None else "postgres"

    @contextmanager
    def fresh(self, folder: Path) -> Iterator[StoreTarget]:
        if self.cluster is None:
            shutil.copy(self.db, Path(folder) / "trial.db")
            yield Path(folder) / "trial.db"
            return
        name = f"example_{uuid.uuid4().hex[:12]}"
        self.cluster.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(self.db.name)
            )
        )
        try:
            yield parse_store(self.cluster.url(name))
        finally:
            self.cluster.drop_database(name)


@pytest.fixture(scope="module", params=STORES)
def base(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Base:
    cast = Cast(*(new_signer() for _ in range(7)))
    if request.param == "postgres":
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        name = f"projection_base_{uuid.uuid4().hex[:12]}"
        create_ledger(parse_store(cluster.create_database(name)), cast).close()
        return Base(cast, Path(name), cluster)
    folder = tmp_path_factory.mktemp("projection-base")
    ledger = create_ledger(folder / "base.db", cast)
    ledger.close()
    conn = sqlite3.connect(folder / "base.db")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the copy must hold every commit
    conn.close()
    return Base(cast, folder / "base.db")


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


EXAMPLES = {"sqlite": 40, "postgres": 10}
"""Examples per store (a PostgreSQL example creates and drops a database)."""


def test_incremental_catch_up_equals_rebuild_for_any_append_sequence(base: Base) -> None:
    @settings(max_examples=EXAMPLES[base.kind], deadline=None)
    @given(ops=st.lists(operation, min_size=1, max_size=20))
    def check(ops: list[tuple[str, int, int, int]]) -> None:
        catch_up_equals_rebuild(base, ops)

    check()


def catch_up_equals_rebuild(base: Base, ops: list[tuple[str, int, int, int]]) -> None:
    with tempfile.TemporaryDirectory() as folder, base.fresh(Path(folder)) as db:
        ledger = TrialLedger.open(db)
        try:
            t = Trial(ledger, base.cast)
            for s in SUBJECTS:
                t.onboard(s)
            incremental = ProjectionEngine(
                ledger.reader, views_at(ledger, Path(folder), "i"), batch_size=3
            )
            recorded: dict[str, list[Any]] = {s: [] for s in SUBJECTS}
            for op in ops:
                if op[0] == "catch":
                    incremental.catch_up()
                    continue
                event: LedgerEvent = event_for(t, op, recorded)
                commit = t.append(event)
                recorded[SUBJECTS[op[1]]].append((commit.header.first_position, event.TOPIC))
            incremental.catch_up()
            rebuilt = ProjectionEngine(ledger.reader, views_at(ledger, Path(folder), "r"))
            rebuilt.rebuild()
            assert incremental.dump() == rebuilt.dump()
        finally:
            ledger.close()
