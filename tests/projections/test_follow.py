"""Live followers: views kept current while writers append, on either store; a missed
notification loses nothing; a tampered event is refused with nothing applied; the
``projections follow`` command (JSON lines, Ctrl-C, SIGTERM, exit 1 on a failing segment)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from cli import run
from ledger.errors import VerificationError
from ledger.service import TrialLedger
from ledger.store import LedgerReader
from ledger.store.location import PostgresURL, StoreTarget, parse_store
from projections.engine import CatchUpReport, ProjectionEngine
from projections.engine.follow import LISTENER_NAME
from tests.pg_fixtures import require_postgres
from tests.projection_support import S1, S2, Trial, story
from tests.projections.store_support import (  # noqa: F401
    engine_at,
    store,
    store_ledger,
    store_trial,
    tamper_state,
    views_at,
)
from tests.support import Cast, create_ledger
from tools.pg_cluster import PgCluster

BIN = Path(sys.executable).parent / "trial-ledger"


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@contextmanager
def following(
    engine: ProjectionEngine, interval: float, applied: Callable[[CatchUpReport], None]
) -> Iterator[threading.Event]:
    """``engine`` following in a thread of its own until the block ends (its failure, if
    any, raised here)."""
    stop = threading.Event()
    failures: list[BaseException] = []

    def body() -> None:
        try:
            engine.follow(stop, interval=interval, on_applied=applied)
        except BaseException as e:  # noqa: BLE001 - handed to the test's thread
            failures.append(e)

    thread = threading.Thread(target=body, name="follower")
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    if failures:
        raise failures[0]


def tracked(engine: ProjectionEngine) -> int:
    return min(t.position for t in engine.status())


def test_follower_running_during_the_writers_ends_byte_identical_to_a_rebuild(
    store: StoreTarget,  # noqa: F811
    store_ledger: TrialLedger,  # noqa: F811
    store_trial: Trial,  # noqa: F811
    tmp_path: Path,
) -> None:
    reader = LedgerReader(store)  # the follower's own, as another process would have
    follower = ProjectionEngine(reader, views_at(store_ledger, tmp_path, "followed"))
    reports: list[CatchUpReport] = []
    interval = 60.0 if isinstance(store, PostgresURL) else 0.02  # PostgreSQL: notified only
    with following(follower, interval, reports.append):
        writer = threading.Thread(target=lambda: [step() for step in story(store_trial)])
        writer.start()
        writer.join(60)
        head = store_ledger.reader.size()
        wait_for(lambda: tracked(follower) == head)
    reader.close()
    assert len(reports) > 1
    assert [r.to_position for r in reports] == sorted({r.to_position for r in reports})
    rebuilt = engine_at(store_ledger, tmp_path, "rebuilt")
    rebuilt.rebuild()
    assert follower.dump() == rebuilt.dump()


@pytest.fixture
def pg_ledger(pg_url: str, cast: Cast) -> Iterator[TrialLedger]:
    ledger = create_ledger(parse_store(pg_url), cast)
    yield ledger
    ledger.close()


def test_follower_catches_up_after_missed_notification(
    pg_ledger: TrialLedger, cast: Cast, pg_url: str
) -> None:
    t = Trial(pg_ledger, cast)
    t.onboard(S1)  # before the follower listens: applied by its first catch-up
    reader = LedgerReader(pg_ledger.target)
    follower = ProjectionEngine(reader)
    reports: list[CatchUpReport] = []
    held, release = threading.Event(), threading.Event()

    def applied(report: CatchUpReport) -> None:
        reports.append(report)
        if len(reports) == 1:
            held.set()
            release.wait(10)

    with following(follower, 60.0, applied):
        assert held.wait(10)
        assert reports[0].to_position == pg_ledger.reader.size()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            ended = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s",
                (LISTENER_NAME,),
            ).fetchall()
        assert ended == [(True,)]
        commit = t.append(t.dose(S1, "2003-02-01"))  # notified to no one
        release.set()
        wait_for(lambda: tracked(follower) == commit.header.last_position)
    reader.close()
    assert [r.to_position for r in reports] == [reports[0].to_position, pg_ledger.reader.size()]


def test_follower_refuses_a_tampered_event_and_applies_nothing(
    pg_ledger: TrialLedger, cast: Cast, capsys: pytest.CaptureFixture[str]
) -> None:
    t = Trial(pg_ledger, cast)
    t.onboard(S1)
    follower = ProjectionEngine(pg_ledger.reader)
    assert follower.follow(once=True) == 1
    before = follower.dump()
    commit = t.append(*t.doses(S1, "2003-02-01", 2))
    tamper_state(pg_ledger.target, commit.header.last_position, '"100"', '"900"')
    with pytest.raises(
        VerificationError, match=r"refusing to project.*does not match its leaf hash"
    ):
        follower.follow(threading.Event(), interval=60.0)
    assert follower.dump() == before
    assert isinstance(pg_ledger.target, PostgresURL)
    url = pg_ledger.target.conninfo()
    assert run(["projections", "follow", "--db", url, "--json"]) == 1
    assert "refusing to project" in capsys.readouterr().err
    assert follower.dump() == before


def test_follow_once_prints_the_catch_up_as_one_json_line(
    ledger: TrialLedger, cast: Cast, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Trial(ledger, cast).onboard(S2)
    capsys.readouterr()
    assert run(["projections", "follow", "--db", str(db_path), "--once", "--json"]) == 0
    first = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    head = ledger.reader.size()
    assert [(r["to_position"], r["events"], r["verified_events"]) for r in first] == [
        (head, head, head)
    ]
    assert run(["projections", "follow", "--db", str(db_path), "--once", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["mode"], again["events"]) == ("up-to-date", 0)


def test_follow_exits_0_on_ctrl_c(
    ledger: TrialLedger, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*_args: object, **_kwargs: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(ProjectionEngine, "catch_up", interrupted)
    assert run(["projections", "follow", "--db", str(db_path), "--interval", "0.01"]) == 0


def test_follow_command_applies_each_commit_as_it_lands_and_stops_on_sigterm(
    pg_ledger: TrialLedger, cast: Cast
) -> None:
    assert isinstance(pg_ledger.target, PostgresURL)
    argv = [str(BIN), "projections", "follow", "--db", pg_ledger.target.conninfo(), "--json"]
    environment = {k: v for k, v in os.environ.items() if k != "TRIAL_LEDGER_DB"}
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=environment
    ) as follower:
        watchdog = threading.Timer(60, follower.kill)  # a line that never comes fails the test
        watchdog.start()
        try:
            assert follower.stdout is not None
            first = json.loads(follower.stdout.readline())
            assert (first["mode"], first["to_position"]) == ("rebuild", pg_ledger.reader.size())
            t = Trial(pg_ledger, cast)
            commit = t.append(t.screened(S2))
            landed = json.loads(follower.stdout.readline())
            assert (landed["mode"], landed["to_position"], landed["events"]) == (
                "incremental",
                commit.header.last_position,
                1,
            )
            follower.send_signal(signal.SIGTERM)
            assert follower.wait(10) == 0
        finally:
            watchdog.cancel()
            if follower.poll() is None:
                follower.kill()


@pytest.fixture(scope="module")
def crashable_cluster() -> Iterator[PgCluster]:
    """A cluster of this module's own, which a test may crash (not the session's)."""
    require_postgres()
    with PgCluster() as cluster:
        yield cluster


def test_follow_command_connects_again_after_the_server_restarts_and_misses_nothing(
    crashable_cluster: PgCluster, cast: Cast
) -> None:
    url = crashable_cluster.create_database("follow_restart")
    ledger = create_ledger(parse_store(url), cast)
    argv = [str(BIN), "projections", "follow", "--db", url, "--json", "--interval", "0.5"]
    environment = {k: v for k, v in os.environ.items() if k != "TRIAL_LEDGER_DB"}
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
    ) as follower:
        watchdog = threading.Timer(60, follower.kill)
        watchdog.start()
        try:
            assert follower.stdout is not None
            assert json.loads(follower.stdout.readline())["mode"] == "rebuild"
            ledger.close()
            crashable_cluster.crash()  # pg_ctl stop -m immediate
            time.sleep(1.5)
            crashable_cluster.restart()
            with TrialLedger.open(parse_store(url)) as again:
                t = Trial(again, cast)
                commit = t.append(t.screened(S2))
            landed = json.loads(follower.stdout.readline())
            assert (landed["to_position"], landed["events"]) == (commit.header.last_position, 1)
            follower.send_signal(signal.SIGTERM)
            assert follower.wait(10) == 0
            assert follower.stderr is not None
            assert "connecting again in 1 s" in follower.stderr.read()
        finally:
            watchdog.cancel()
            if follower.poll() is None:
                follower.kill()
