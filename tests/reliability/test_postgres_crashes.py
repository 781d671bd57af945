"""The PostgreSQL store under concurrent, killed and crashed writers, at small scale: every
acknowledged commit stays stored with its positions, nothing is half written, positions have no
gaps or duplicates, ``trial-ledger verify`` passes and the ledger takes appends after every
round (``python -m bench.reliability_pg`` gives the full-scale figures).

The module runs its own throwaway cluster (crashing the session's would break other tests).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.reliability_pg import Figures, concurrent, server_crashes, writer_kills
from bench.reliability_support import (
    IMPORT_SUBJECT,
    lab,
    set_up_trial,
    signer_for,
    stored,
    verify,
)
from ledger.recording import TrialRecorder
from ledger.service import TrialLedger
from ledger.store.location import parse_store
from tests.pg_fixtures import require_postgres
from tools.pg_cluster import PgCluster

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    """A cluster of this module's own, which its tests may crash."""
    require_postgres()
    with PgCluster() as own:
        yield own


def assert_nothing_lost_or_broken(figures: Figures) -> None:
    assert figures.acked > 0, figures
    assert (figures.lost, figures.gaps, figures.duplicates, figures.half_written) == (0, 0, 0, 0)
    assert figures.verify_ok == figures.appendable == figures.rounds, figures.notes
    assert (figures.excess_in_flight, figures.other_refusals, figures.hung) == (0, 0, 0)
    assert figures.stored == figures.setup + figures.acked + figures.in_flight


def test_writers_on_their_own_subjects_lose_no_acknowledged_commit(
    cluster: PgCluster, tmp_path: Path
) -> None:
    figures = concurrent(cluster, tmp_path, "own", writers=4, seconds=3)
    assert_nothing_lost_or_broken(figures)
    assert figures.in_flight == 0  # every writer stopped on its own: nothing was in flight


def test_writers_on_one_subject_lose_no_acknowledged_commit(
    cluster: PgCluster, tmp_path: Path
) -> None:
    figures = concurrent(cluster, tmp_path, "same", writers=4, seconds=3)
    assert_nothing_lost_or_broken(figures)
    assert figures.in_flight == 0


def test_writers_killed_at_random_points_leave_no_half_written_commit(
    cluster: PgCluster, tmp_path: Path
) -> None:
    figures = writer_kills(cluster, tmp_path, rounds=5, writers=4, rng=random.Random(5))
    assert_nothing_lost_or_broken(figures)
    assert figures.rounds == 5


def test_a_server_crash_mid_import_loses_no_acknowledged_commit_and_the_ledger_appends_after(
    cluster: PgCluster, tmp_path: Path
) -> None:
    figures = server_crashes(cluster, tmp_path, rounds=2, rng=random.Random(2), lines=5000)
    assert_nothing_lost_or_broken(figures)
    assert any("hit the import holding the append lock in 2 of 2" in n for n in figures.notes)
    assert not any("traceback" in note for note in figures.notes)


def test_the_checks_see_an_event_deleted_behind_the_triggers_back(
    cluster: PgCluster, tmp_path: Path
) -> None:
    url = cluster.create_database("deleted_event")
    set_up_trial(url, tmp_path, writers=1)
    before = stored(url)
    assert (before.gaps, before.duplicates, before.half_written) == (0, 0, 0)
    cluster.execute("ALTER TABLE trial_ledger.stored_events DISABLE TRIGGER ALL", "deleted_event")
    cluster.execute("DELETE FROM trial_ledger.stored_events WHERE position = 5", "deleted_event")
    after = stored(url)
    assert (after.gaps, after.half_written) == (1, 1)
    ok, why = verify(url)
    assert not ok, why


def test_a_writer_keeping_its_ledger_open_records_again_after_a_server_restart(
    cluster: PgCluster, tmp_path: Path
) -> None:
    url = cluster.create_database("kept_open")
    set_up_trial(url, tmp_path, writers=1)
    signer = signer_for("coordinator-parent")
    with TrialLedger.open(parse_store(url)) as ledger:
        recorder = TrialRecorder(ledger)
        recorder.record(signer, lab(IMPORT_SUBJECT, 1))
        cluster.crash()
        cluster.restart()
        # the first command after the restart: the reader connects again, the write pool
        # replaces its stale connection (pre-ping), nothing is refused
        recorder.record(signer, lab(IMPORT_SUBJECT, 2))
