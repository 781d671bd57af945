"""The log of reads of a PostgreSQL ledger: the table trial_access.reads of the same database,
the same chain, UPDATE and DELETE refused by its trigger."""

from __future__ import annotations

import psycopg
import pytest

from ledger.server.access.access_store import AccessStore, Read, chain_problems
from ledger.store.location import PostgresURL
from tests.integration.test_postgres_roles import ROLES, run_as, set_up
from tests.support import Cast

pytestmark = pytest.mark.postgres


def _read(subject: str) -> Read:
    return Read("2024-01-01T00:00:00.000000Z", "ed25519:00", "Mona Monitor", "monitor", "*",
                "signature", "GET /v1/subjects/" + subject, "", f'["{subject}"]', "subject",
                "evidence")  # fmt: skip


def test_postgres_log_of_reads_chains_and_refuses_changes(pg_url: str) -> None:
    store = AccessStore(PostgresURL.parse(pg_url))
    try:
        for subject in ("MC0282-001-017", "MC0282-002-001"):
            store.append(_read(subject))
        rows = store.rows()
    finally:
        store.close()
    assert [row.seq for row in rows] == [1, 2]
    assert chain_problems(rows) == []
    with psycopg.connect(pg_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("UPDATE trial_access.reads SET what = 'nothing'")
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("DELETE FROM trial_access.reads")
    reopened = AccessStore(PostgresURL.parse(pg_url))  # opening again keeps the rows
    try:
        assert [row.row_hash for row in reopened.rows()] == [row.row_hash for row in rows]
    finally:
        reopened.close()


def test_reader_role_of_init_roles_records_reads_in_its_own_schema(pg_url: str, cast: Cast) -> None:
    # `serve` runs as the reader role on PostgreSQL: `db init-roles` made trial_access for it
    # (that role may not create schemas in the database).
    db = set_up(pg_url, cast)
    store = AccessStore(db.reader)
    try:
        store.append(_read("MC0282-001-001"))
        rows = store.rows()
    finally:
        store.close()
    assert [row.read.subjects for row in rows] == ['["MC0282-001-001"]']
    owner = run_as(
        db.admin,
        "SELECT r.rolname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner "
        "WHERE n.nspname = 'trial_access'",
    )
    assert owner == [(ROLES.reader,)]
