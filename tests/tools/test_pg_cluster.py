"""The throwaway PostgreSQL cluster: loopback only, durable, crash-safe; and its command line."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.pg_fixtures import require_postgres
from tools import pg_cluster as pg_cluster_module
from tools.pg_cluster import ClusterError, PgCluster

REPO = Path(__file__).resolve().parents[2]


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    """Run this Python in the repository (so `tools` imports), capturing its output."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _refuses_connections(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.postgres
def test_cluster_listens_on_127_0_0_1_only(pg_cluster: PgCluster) -> None:
    assert pg_cluster.host == "127.0.0.1"
    assert pg_cluster.execute("SHOW listen_addresses") == [("127.0.0.1",)]
    assert pg_cluster.url() == f"postgresql://postgres@127.0.0.1:{pg_cluster.port}/postgres"
    assert _refuses_connections("127.0.0.2", pg_cluster.port)  # another loopback address


@pytest.mark.postgres
def test_fsync_and_synchronous_commit_keep_their_durable_defaults(pg_cluster: PgCluster) -> None:
    settings = ("fsync", "synchronous_commit", "full_page_writes")
    assert [pg_cluster.execute(f"SHOW {name}")[0][0] for name in settings] == ["on"] * 3


@pytest.mark.postgres
def test_create_database_gives_a_usable_superuser_url_and_drop_removes_it(
    pg_cluster: PgCluster,
) -> None:
    url = pg_cluster.create_database("user")  # a keyword: the name is quoted as an identifier
    assert url == f"postgresql://postgres@127.0.0.1:{pg_cluster.port}/user"
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT current_database(), current_user, 1 + 1").fetchone()
    assert row == ("user", "postgres", 2)
    pg_cluster.drop_database("user")
    with pytest.raises(psycopg.OperationalError, match='database "user" does not exist'):
        psycopg.connect(url, connect_timeout=5)


@pytest.mark.parametrize("name", ["Trial", "1trial", "trial; DROP DATABASE postgres", "", "a" * 64])
def test_database_names_must_be_plain_identifiers(name: str) -> None:
    with pytest.raises(ValueError, match="is not an identifier"):
        PgCluster().create_database(name)


@pytest.mark.postgres
def test_pg_url_is_a_fresh_empty_database_for_the_test(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        name = conn.execute("SELECT current_database()").fetchone()
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert tables.fetchone() == (0,)
    assert name is not None
    assert re.fullmatch(r"test_[0-9a-f]{16}", name[0])


@pytest.mark.postgres
def test_committed_row_survives_crash_and_restart_on_the_same_port() -> None:
    require_postgres()
    with PgCluster() as cluster:
        url = cluster.create_database("crash")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (x int)")
            conn.execute("INSERT INTO t VALUES (42)")
        port = cluster.port
        cluster.crash()
        assert not cluster.running
        assert _refuses_connections("127.0.0.1", port)
        cluster.restart()
        assert cluster.port == port
        assert cluster.execute("SELECT x FROM t", "crash") == [(42,)]
        assert "not properly shut down; automatic recovery in progress" in cluster.log_text()
        directory = cluster.directory
    assert not directory.exists()
    assert _refuses_connections("127.0.0.1", port)


@pytest.mark.postgres
def test_restart_failure_names_the_command_and_shows_the_server_log() -> None:
    require_postgres()
    with PgCluster() as cluster, socket.socket() as squatter:
        cluster.stop()
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", cluster.port))
        squatter.listen()
        with pytest.raises(ClusterError, match="starting the server") as failure:
            cluster.restart()
        assert "pg_ctl start" in str(failure.value)
        assert "Address already in use" in str(failure.value)  # from the server log
        squatter.close()
        cluster.restart()
        assert cluster.execute("SELECT 1") == [(1,)]


def test_missing_server_binaries_are_named(tmp_path: Path) -> None:
    empty, partial = tmp_path / "empty", tmp_path / "partial"
    empty.mkdir()
    partial.mkdir()
    (partial / "initdb").write_text("#!/bin/sh\n")
    (partial / "initdb").chmod(0o755)
    with pytest.raises(ClusterError, match=r"empty lacks initdb, pg_ctl, postgres"):
        PgCluster(tmp_path / "base", bin_dir=empty).start()
    with pytest.raises(ClusterError, match=r"partial lacks pg_ctl, postgres \("):
        PgCluster(tmp_path / "base", bin_dir=partial).start()
    assert not (tmp_path / "base").exists()  # nothing is created before the binaries are found


def test_require_postgres_skips_without_the_binaries_but_fails_under_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_cluster_module, "DEBIAN_ROOT", tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))  # no pg_config either
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL server binaries not installed"):
        require_postgres()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must install them rather than skip"):
        require_postgres()


@pytest.mark.postgres
def test_available_command_exits_0_with_the_binaries_and_1_without(tmp_path: Path) -> None:
    require_postgres()
    assert _python("-m", "tools.pg_cluster", "available").returncode == 0
    missing = _python("-m", "tools.pg_cluster", "available", "--bin-dir", str(tmp_path))
    assert missing.returncode == 1
    assert "lacks initdb, pg_ctl, postgres" in missing.stderr


CHILD = """
import os, sys, psycopg
assert sys.argv[1] == os.environ["TRIAL_LEDGER_DB"], (sys.argv, os.environ.get("TRIAL_LEDGER_DB"))
with psycopg.connect(sys.argv[1]) as conn:
    print(conn.execute("SELECT current_database()").fetchone()[0])
    print(conn.execute("SHOW data_directory").fetchone()[0])
sys.exit(7)
"""


@pytest.mark.postgres
def test_run_gives_the_command_the_url_and_returns_its_exit_code() -> None:
    require_postgres()
    done = _python("-m", "tools.pg_cluster", "run", "--", sys.executable, "-c", CHILD, "{url}")
    assert done.returncode == 7, done.stderr
    assert re.match(r"pg_cluster: postgresql://postgres@127\.0\.0\.1:\d+/trial\n", done.stderr)
    database, data_dir = done.stdout.split()
    assert database == "trial"
    assert not Path(data_dir).exists()  # stopped and removed afterwards


@pytest.mark.postgres
def test_a_cluster_never_outlives_the_process_that_started_it() -> None:
    require_postgres()
    script = "from tools.pg_cluster import PgCluster; c = PgCluster().start()"
    done = _python("-c", f"{script}; print(c.directory, c.port)")  # and no cleanup()
    assert done.returncode == 0, done.stderr
    directory, port = done.stdout.split()
    assert not Path(directory).exists()
    assert _refuses_connections("127.0.0.1", int(port))
