"""The command line on a PostgreSQL ledger, as a user runs it: the same commands with
``--db postgresql://...`` (or ``$TRIAL_LEDGER_DB``), ``copy`` between the stores with the root
unchanged, ``db init-roles`` and the ledger recorded as the application role, and refusals
(a server that is down, a password in the URL, a store that holds a ledger) as one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli import run
from tools.pg_cluster import PgCluster

PASS = "postgres walkthrough passphrase"
BIN = Path(sys.executable).parent / "trial-ledger"
SUBJECT = "MC0282-001-017"


@pytest.fixture(autouse=True)
def passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAL_LEDGER_PASSPHRASE", PASS)
    monkeypatch.delenv("TRIAL_LEDGER_DB", raising=False)


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``trial-ledger ARGS`` as a separate process, as a user runs it."""
    environment = {**os.environ, "TRIAL_LEDGER_PASSPHRASE": PASS, **(env or {})}
    return subprocess.run(
        [str(BIN), *args],
        capture_output=True,
        text=True,
        env=environment,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def json_of(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert run(args) == 0, capsys.readouterr().err
    document: dict[str, object] = json.loads(capsys.readouterr().out)
    return document


def init_ledger(db: str, folder: Path) -> None:
    args = [
        "init", "--db", db, "--sponsor-name", "MC0282 Sponsor Office", "--date", "2002-11-01",
        "--sponsor-key-out", str(folder / "sponsor.key"),
        "--ledger-key-out", str(folder / "ledger.key"),
    ]  # fmt: skip
    assert run(args) == 0


def staff_and_subject(db: str, folder: Path) -> None:
    """Site 001, a coordinator, and one subject screened and consented."""
    sponsor = ["--db", db, "--sponsor-key", str(folder / "sponsor.key")]
    assert run(["sites", "add", *sponsor, "--site", "001", "--label", "Site 001",
                "--date", "2002-11-01"]) == 0  # fmt: skip
    assert run(["keys", "add", *sponsor, "--name", "Cole Marsh", "--role", "coordinator",
                "--site", "001", "--out", str(folder / "cole.key")]) == 0  # fmt: skip
    key = ["--db", db, "--key", str(folder / "cole.key")]
    assert run(["screen", *key, "--subject", SUBJECT, "--site", "001", "--age", "61",
                "--sex", "F", "--date", "2003-01-06"]) == 0  # fmt: skip
    assert run(["consent", *key, "--subject", SUBJECT, "--version", "2002-10",
                "--date", "2003-01-07"]) == 0  # fmt: skip


def test_the_signed_log_commands_work_on_a_postgresql_url(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init_ledger(pg_url, tmp_path)
    staff_and_subject(pg_url, tmp_path)
    report = json_of(["verify", "--db", pg_url, "--json"], capsys)
    assert report["ok"] is True
    assert report["events"] == 5
    checkpoint = tmp_path / "today.checkpoint"
    assert run(["checkpoint", "--db", pg_url, "--ledger-key", str(tmp_path / "ledger.key"),
                "--out", str(checkpoint)]) == 0  # fmt: skip
    proof = json_of(["proof", "inclusion", "--db", pg_url, "--position", "4", "--json"], capsys)
    assert proof["treeSize"] == 5
    assert proof["root"] == report["root"]
    against = json_of(["verify", "--db", pg_url, "--against", str(checkpoint), "--json"], capsys)
    assert against["ok"] is True
    assert run(["export-bundle", "--db", pg_url, "--out", str(tmp_path / "bundle")]) == 0
    bundle = json_of(["verify-bundle", str(tmp_path / "bundle"), "--sponsor-key",
                      str(tmp_path / "sponsor.key.pub"), "--json"], capsys)  # fmt: skip
    assert bundle["root"] == report["root"]
    log = json_of(["log", "--db", pg_url, "--subject", SUBJECT, "--json"], capsys)
    events = log["events"]
    assert isinstance(events, list)
    assert [e["event"] for e in events] == ["SubjectScreened", "ConsentObtained"]


def test_trial_ledger_db_names_the_store_when_no_db_is_given(pg_url: str, tmp_path: Path) -> None:
    init_ledger(pg_url, tmp_path)
    done = cli("verify", "--json", env={"TRIAL_LEDGER_DB": pg_url})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["events"] == 1


def test_copy_to_postgresql_and_back_keeps_every_row_and_the_root(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "trial.db"
    init_ledger(str(source), tmp_path)
    staff_and_subject(str(source), tmp_path)
    there = json_of(["copy", "--from", str(source), "--to", pg_url, "--json"], capsys)
    back = tmp_path / "back.db"
    again = json_of(["copy", "--from", pg_url, "--to", str(back), "--json"], capsys)
    original = json_of(["verify", "--db", str(source), "--json"], capsys)
    assert there["root"] == again["root"] == original["root"]
    assert there["events"] == again["events"] == 5
    assert there["checkpoints"] == again["checkpoints"] == 1
    rows = "SELECT * FROM stored_events ORDER BY position"
    import sqlite3  # noqa: PLC0415

    with sqlite3.connect(source) as a, sqlite3.connect(back) as b:
        assert a.execute(rows).fetchall() == b.execute(rows).fetchall()
        commits = "SELECT * FROM ledger_commits ORDER BY seq"
        assert a.execute(commits).fetchall() == b.execute(commits).fetchall()


def test_copy_refuses_a_target_that_holds_a_ledger(pg_url: str, tmp_path: Path) -> None:
    init_ledger(pg_url, tmp_path)
    source = tmp_path / "trial.db"
    init_ledger(str(source), tmp_path / "..")
    done = cli("copy", "--from", str(source), "--to", pg_url)
    assert done.returncode == 2
    assert "already holds a trial ledger; refusing to overwrite" in done.stderr
    assert "Traceback" not in done.stderr


def test_copy_refuses_a_tampered_source_and_writes_nothing(pg_url: str, tmp_path: Path) -> None:
    import sqlite3  # noqa: PLC0415

    source = tmp_path / "trial.db"
    init_ledger(str(source), tmp_path)
    staff_and_subject(str(source), tmp_path)
    with sqlite3.connect(source) as conn:
        conn.execute("DROP TRIGGER stored_events_no_update")
        conn.execute("UPDATE stored_events SET state = CAST(REPLACE(CAST(state AS TEXT), "
                     "'61', '62') AS BLOB) WHERE position = 4")  # fmt: skip
    done = cli("copy", "--from", str(source), "--to", pg_url)
    assert done.returncode == 1, done.stderr
    assert "the ledger does not verify at position 4" in done.stderr
    second = cli("init", "--db", pg_url, "--sponsor-name", "MC0282 Sponsor Office",
                 "--sponsor-key-out", str(tmp_path / "s2.key"),
                 "--ledger-key-out", str(tmp_path / "l2.key"))  # fmt: skip
    assert second.returncode == 0, second.stderr  # nothing of the refused copy was written


def test_backup_of_a_postgresql_ledger_is_a_verified_file(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init_ledger(pg_url, tmp_path)
    staff_and_subject(pg_url, tmp_path)
    copied = json_of(["backup", "--db", pg_url, "--out", str(tmp_path / "b.db"), "--json"], capsys)
    verified = json_of(["verify", "--db", str(tmp_path / "b.db"), "--json"], capsys)
    assert copied["root"] == verified["root"]
    assert verified["events"] == 5


def test_init_roles_then_the_writer_role_records_and_the_reader_verifies(
    pg_cluster: PgCluster, pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["db", "init-roles", "--db", pg_url]) == 0
    assert run(["db", "init-roles", "--db", pg_url]) == 0  # idempotent
    dbname = pg_url.rsplit("/", 1)[1]
    writer = pg_cluster.url(dbname, "trial_writer")
    init_ledger(writer, tmp_path)
    staff_and_subject(writer, tmp_path)
    report = json_of(["verify", "--db", pg_cluster.url(dbname, "trial_reader"), "--json"], capsys)
    assert report["ok"] is True
    assert report["events"] == 5


def test_the_reader_role_cannot_record(pg_cluster: PgCluster, pg_url: str, tmp_path: Path) -> None:
    assert run(["db", "init-roles", "--db", pg_url]) == 0
    dbname = pg_url.rsplit("/", 1)[1]
    init_ledger(pg_cluster.url(dbname, "trial_writer"), tmp_path)
    reader = pg_cluster.url(dbname, "trial_reader")
    done = cli("sites", "add", "--db", reader, "--sponsor-key", str(tmp_path / "sponsor.key"),
               "--site", "002", "--label", "Site 002")  # fmt: skip
    assert done.returncode == 2
    assert "PostgreSQL refused: permission denied" in done.stderr
    assert "Traceback" not in done.stderr


def test_init_roles_refuses_a_file_and_a_bad_role_name(tmp_path: Path, pg_url: str) -> None:
    done = cli("db", "init-roles", "--db", str(tmp_path / "t.db"))
    assert done.returncode == 2
    assert "sets up a PostgreSQL database, not a file" in done.stderr
    bad = cli("db", "init-roles", "--db", pg_url, "--writer", "app; DROP TABLE x")
    assert bad.returncode == 2
    assert "--writer 'app; DROP TABLE x': a role name is letters, digits and _" in bad.stderr


def test_init_roles_prints_the_sql_for_a_dba_to_run(pg_url: str) -> None:
    done = cli("db", "init-roles", "--db", pg_url, "--print-sql")
    assert done.returncode == 0
    assert (
        "GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA trial_ledger TO trial_writer" in done.stdout
    )
    assert "LOCK TABLE trial_ledger.stored_events IN EXCLUSIVE MODE" in done.stdout


def test_a_server_that_is_down_is_a_one_line_refusal_without_the_password() -> None:
    done = cli("verify", "--db", "postgresql://auditor:s3cret-pw@127.0.0.1:9/trial")
    assert done.returncode == 2
    assert "PostgreSQL refused" in done.stderr
    assert "auditor:***@127.0.0.1:9/trial" in done.stderr
    assert "s3cret-pw" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_an_unknown_store_scheme_is_refused_by_name() -> None:
    done = cli("verify", "--db", "mysql://u@127.0.0.1/trial")
    assert done.returncode == 2
    assert "unknown store scheme 'mysql'" in done.stderr


def test_a_url_without_a_database_is_refused() -> None:
    done = cli("verify", "--db", "postgresql://u@127.0.0.1:5432")
    assert done.returncode == 2
    assert "the URL names no database" in done.stderr


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://auditor@127.0.0.1:9/trial?password=s3cret-pw",
        "postgresql://auditor:s3cret-pw@[::1/trial",
    ],
)
def test_a_password_in_a_query_or_a_malformed_url_is_never_printed(url: str) -> None:
    for env in ({}, {"TRIAL_LEDGER_DB": url}):
        done = cli("verify", *(() if env else ("--db", url)), env=env)
        assert done.returncode == 2
        assert "s3cret-pw" not in done.stderr + done.stdout
        assert "***" in done.stderr


def test_backup_to_a_url_says_to_use_copy(tmp_path: Path) -> None:
    init_ledger(str(tmp_path / "t.db"), tmp_path)
    done = cli("backup", "--db", str(tmp_path / "t.db"), "--out", "postgresql://w:s3cret-pw@h/t")
    assert done.returncode == 2
    assert "backup writes a file; to move a ledger into PostgreSQL use" in done.stderr
    assert "s3cret-pw" not in done.stderr


def test_init_roles_hands_a_ledger_made_by_a_superuser_to_the_owner(
    pg_cluster: PgCluster, pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init_ledger(pg_url, tmp_path)  # as the superuser, before any roles
    assert run(["db", "init-roles", "--db", pg_url]) == 0
    dbname = pg_url.rsplit("/", 1)[1]
    writer = pg_cluster.url(dbname, "trial_writer")
    staff_and_subject(writer, tmp_path)
    owners = pg_cluster.execute(
        "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'trial_ledger'",
        dbname=dbname,
    )
    assert owners == [("trial_owner",)]
    assert json_of(["verify", "--db", writer, "--json"], capsys)["ok"] is True


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--owner", "trial_writer"], "three different roles are needed"),
        (["--writer", "trial_reader"], "three different roles are needed"),
        (["--owner", "postgres"], "a built-in role"),
        (["--reader", "pg_monitor"], "a built-in role"),
    ],
)
def test_init_roles_refuses_roles_that_would_undo_least_privilege(
    pg_url: str, options: list[str], said: str
) -> None:
    done = cli("db", "init-roles", "--db", pg_url, *options)
    assert done.returncode == 2
    assert said in done.stderr


def test_init_roles_refuses_an_existing_superuser_as_the_writer_and_changes_nothing(
    pg_cluster: PgCluster, pg_url: str
) -> None:
    dbname = pg_url.rsplit("/", 1)[1]
    pg_cluster.execute(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'site_admin') "
        "THEN CREATE ROLE site_admin LOGIN SUPERUSER; END IF; END $$"
    )
    done = cli("db", "init-roles", "--db", pg_url, "--writer", "site_admin")
    assert done.returncode == 2
    assert "role site_admin is a superuser" in done.stderr
    schemas = pg_cluster.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'trial_%'", dbname=dbname
    )
    assert schemas == []
