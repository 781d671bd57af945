"""Tracking, verified catch-up and rebuild: incremental equals rebuild byte for byte, a failing
segment is refused and leaves the views as they were (on either store where marked so)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ledger.errors import VerificationError
from ledger.service import TrialLedger
from ledger.store import APPEND_ONLY_TABLES, LedgerReader
from ledger.store.location import StoreTarget
from projections.engine import CatchUpReport, ProjectionEngine, default_views_path
from tests.projection_support import S1, Trial, engine_for, story, trial  # noqa: F401
from tests.projections.store_support import (  # noqa: F401
    engine_at,
    store,
    store_ledger,
    store_trial,
    tamper_state,
)


@contextmanager
def attacker(db: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(db)
    for table in APPEND_ONLY_TABLES:
        for action in ("update", "delete"):
            conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def test_incremental_catch_up_in_steps_equals_a_rebuild_byte_for_byte(
    store_ledger: TrialLedger,  # noqa: F811
    store_trial: Trial,  # noqa: F811
    tmp_path: Path,
) -> None:
    incremental = engine_at(store_ledger, tmp_path, "incremental", batch_size=7)
    for i, step in enumerate(story(store_trial)):
        step()
        if i % 3 == 0:
            incremental.catch_up()
    incremental.catch_up()
    rebuilt = engine_at(store_ledger, tmp_path, "rebuilt")
    rebuilt.rebuild()
    assert incremental.dump() == rebuilt.dump()


def test_parallel_verification_gives_the_same_views_as_sequential(
    store_ledger: TrialLedger,  # noqa: F811
    store_trial: Trial,  # noqa: F811
    tmp_path: Path,
) -> None:
    steps = story(store_trial)
    for step in steps[:10]:
        step()
    parallel = engine_at(store_ledger, tmp_path, "p", parallel_threshold=1, batch_size=4)
    parallel.catch_up()
    for step in steps[10:]:
        step()
    report = parallel.catch_up()
    assert report.parallel_verification
    sequential = engine_at(store_ledger, tmp_path, "s")
    sequential.rebuild()
    assert parallel.dump() == sequential.dump()


def test_two_catch_ups_at_once_never_interleave(
    store_ledger: TrialLedger,  # noqa: F811
    store_trial: Trial,  # noqa: F811
    tmp_path: Path,
) -> None:
    for step in story(store_trial):
        step()
    engines = [engine_at(store_ledger, tmp_path, "v", batch_size=5) for _ in range(2)]
    for engine in engines:  # each its own connections to the same views, as two processes
        engine.reader = LedgerReader(store_ledger.target)
    start = threading.Barrier(2)
    reports: list[CatchUpReport] = []

    def catch_up(engine: ProjectionEngine) -> None:
        start.wait()
        reports.append(engine.catch_up())

    threads = [threading.Thread(target=catch_up, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(r.mode for r in reports) == ["rebuild", "up-to-date"]
    rebuilt = engine_at(store_ledger, tmp_path, "rebuilt")
    rebuilt.rebuild()
    assert engines[0].dump() == rebuilt.dump()
    for engine in engines:
        engine.reader.close()
        engine.close()


def test_tracking_names_the_last_consumed_position_and_leaf(
    ledger: TrialLedger,
    trial: Trial,  # noqa: F811
    tmp_path: Path,
) -> None:
    trial.onboard(S1)
    engine = engine_for(ledger, tmp_path / "v.sqlite")
    engine.catch_up()
    head = ledger.reader.size()
    leaf = ledger.reader.event_at(head)
    assert leaf is not None
    assert {(t.projection, t.position, t.leaf_hash) for t in engine.status()} == {
        (name, head, leaf.leaf_hash) for name in ("patient", "audit")
    }


def test_catch_up_after_one_append_consumes_exactly_that_event(
    ledger: TrialLedger,
    trial: Trial,  # noqa: F811
    tmp_path: Path,
) -> None:
    trial.onboard(S1)
    engine = engine_for(ledger, tmp_path / "v.sqlite")
    engine.catch_up()
    trial.append(trial.dose(S1, "2003-02-01"))
    report = engine.catch_up()
    assert (report.mode, report.events) == ("incremental", 1)
    assert engine.catch_up().mode == "up-to-date"


def test_views_live_beside_the_ledger_never_inside_it(ledger: TrialLedger, db_path: Path) -> None:
    engine = ProjectionEngine(ledger.reader)
    engine.catch_up()
    assert (
        engine.views_path
        == default_views_path(db_path)
        == db_path.with_name("trial.db.views.sqlite")
    )
    tables = {r[0] for r in sqlite3.connect(db_path).execute("SELECT name FROM sqlite_master")}
    assert not {"tracking", "patient_state", "audit_events"} & tables


def test_tampered_event_in_the_segment_is_refused_and_the_views_stay_as_they_were(
    store_ledger: TrialLedger,  # noqa: F811
    store_trial: Trial,  # noqa: F811
    tmp_path: Path,
    store: StoreTarget,  # noqa: F811
) -> None:
    store_trial.onboard(S1)
    engine = engine_at(store_ledger, tmp_path, "v")
    engine.catch_up()
    before = engine.dump()
    commit = store_trial.append(store_trial.dose(S1, "2003-02-01"))
    tamper_state(store, commit.header.first_position, '"100"', '"900"')
    with pytest.raises(
        VerificationError, match=r"refusing to project.*does not match its leaf hash"
    ):
        engine.catch_up()
    assert engine.dump() == before


def test_parallel_catch_up_of_a_tampered_segment_rolls_back(
    store_ledger: TrialLedger,  # noqa: F811
    store_trial: Trial,  # noqa: F811
    tmp_path: Path,
    store: StoreTarget,  # noqa: F811
) -> None:
    store_trial.onboard(S1)
    engine = engine_at(store_ledger, tmp_path, "v", parallel_threshold=1)
    engine.catch_up()
    before = engine.dump()
    commit = store_trial.append(*store_trial.doses(S1, "2003-02-01", 4))
    tamper_state(store, commit.header.last_position, "SC", "IV")
    with pytest.raises(VerificationError, match="does not match its leaf hash"):
        engine.catch_up()
    assert engine.dump() == before


def test_history_rewritten_under_the_tracked_position_is_refused(
    ledger: TrialLedger,
    trial: Trial,  # noqa: F811
    tmp_path: Path,
    db_path: Path,
) -> None:
    trial.onboard(S1)
    engine = engine_for(ledger, tmp_path / "v.sqlite")
    engine.catch_up()
    head = ledger.reader.size()
    trial.append(trial.dose(S1, "2003-02-01"))  # (a writer refuses to extend an edited tip)
    with attacker(db_path) as conn:
        conn.execute("UPDATE stored_events SET leaf_hash=zeroblob(32) WHERE position=?", (head,))
    with pytest.raises(VerificationError, match="no longer holds the event"):
        engine.catch_up()


def test_failed_rebuild_keeps_the_previous_views(
    ledger: TrialLedger,
    trial: Trial,  # noqa: F811
    tmp_path: Path,
    db_path: Path,
) -> None:
    trial.onboard(S1)
    engine = engine_for(ledger, tmp_path / "v.sqlite")
    engine.catch_up()
    before = engine.dump()
    with attacker(db_path) as conn:
        conn.execute(
            "UPDATE stored_events SET state = CAST(replace(state, 'F', 'M') AS BLOB)"
            " WHERE position=10"  # S1's screening (after genesis, 3 sites and 5 keys)
        )
    with pytest.raises(VerificationError, match="refusing to project"):
        engine.rebuild()
    assert engine.dump() == before
    assert not (tmp_path / "v.sqlite.rebuild").exists()


def test_a_changed_projection_version_rebuilds_the_views(
    ledger: TrialLedger,
    trial: Trial,  # noqa: F811
    tmp_path: Path,
) -> None:
    trial.onboard(S1)
    engine = engine_for(ledger, tmp_path / "v.sqlite")
    engine.catch_up()
    conn = sqlite3.connect(tmp_path / "v.sqlite")
    with conn:
        conn.execute("UPDATE tracking SET version=0 WHERE projection='patient'")
    conn.close()
    assert engine.catch_up().mode == "rebuild"
    assert {t.projection: t.version for t in engine.status()} == {"patient": 2, "audit": 1}


def test_a_projection_behind_the_others_catches_up_alone_first(
    ledger: TrialLedger,
    trial: Trial,  # noqa: F811
    tmp_path: Path,
) -> None:
    for step in story(trial)[:6]:
        step()
    engine = engine_for(ledger, tmp_path / "v.sqlite")
    engine.catch_up()
    conn = sqlite3.connect(tmp_path / "v.sqlite")
    with conn:
        conn.execute("DELETE FROM patient_state")
        leaf = ledger.reader.event_at(1)
        assert leaf is not None
        conn.execute(
            "UPDATE tracking SET position=1, leaf_hash=? WHERE projection='patient'",
            (leaf.leaf_hash,),
        )
    conn.close()
    engine.catch_up()
    rebuilt = engine_for(ledger, tmp_path / "r.sqlite")
    rebuilt.rebuild()
    assert engine.dump() == rebuilt.dump()
