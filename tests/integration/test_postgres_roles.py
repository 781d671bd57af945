"""Least privilege on PostgreSQL: what each role of ``db init-roles`` may and may not do.

``role_statements(Roles(), dbname)`` is run as superuser on a fresh database, as ``trial-ledger
db init-roles`` runs it; the ledger is then created and appended to as ``trial_writer``. The
writer may only SELECT and INSERT (and take the append lock through ``lock_for_append``), the
reader may only SELECT; the owner (NOLOGIN) and the superuser are refused any change by the
triggers. An attacker past all of that (a superuser dropping the triggers, or the writer
inserting a row of its own) is caught by ``verify`` and, at the tip, by the next append.

The refusal tests share one database per module (every refused statement changes nothing);
the attacks each get a fresh one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import PersistenceError

from ledger.errors import VerificationError
from ledger.service import TrialLedger
from ledger.store import LedgerReader
from ledger.store.location import LEDGER_SCHEMA, PostgresURL
from ledger.store.pg_tables import LEDGER_TABLES, Roles, role_statements
from ledger.verify import verify_ledger
from tests.store_params import StoreTamper
from tests.support import Cast, create_ledger, dose, screening
from tools.pg_cluster import PgCluster

pytestmark = pytest.mark.postgres

ROLES = Roles()
SUBJECT = "MC0282-001-001"
CHANGES = ("UPDATE", "DELETE", "TRUNCATE")
COLUMN = {
    "stored_events": "topic",
    "ledger_commits": "meaning",
    "ledger_checkpoints": "note",
    "ledger_meta": "value",
}


@dataclass(frozen=True)
class RolesDB:
    """A database set up by ``role_statements``, its ledger made by the writer."""

    admin: PostgresURL
    writer: PostgresURL
    reader: PostgresURL

    def tamper(self) -> StoreTamper:
        return StoreTamper(self.writer, admin=self.admin)


def set_up(url: str, cast: Cast, doses: int = 2) -> RolesDB:
    """``db init-roles`` on the database at ``url`` (superuser), then the cast's ledger made,
    a subject screened and dosed, and a checkpoint kept, all as the writer."""
    admin = PostgresURL.parse(url)
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in role_statements(ROLES, admin.dbname):
            conn.execute(statement.encode())
    db = RolesDB(admin, admin.with_user(ROLES.writer), admin.with_user(ROLES.reader))
    with create_ledger(db.writer, cast) as ledger:
        ledger.append(cast.coordinator, [screening(SUBJECT)])
        for version in range(2, 2 + doses):
            ledger.append(cast.coordinator, [dose(SUBJECT, version, version)])
        ledger.checkpoint(cast.ledger_key)
    return db


def run_as(url: PostgresURL, sql: str, role: str | None = None) -> list[tuple[Any, ...]]:
    """One statement on its own connection as the URL's user (``role``: after SET ROLE)."""
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        if role is not None:
            conn.execute(f"SET ROLE {role}".encode())
        cursor = conn.execute(sql.encode())
        return [tuple(r) for r in cursor.fetchall()] if cursor.description else []


def change(table: str, action: str) -> str:
    qualified = f"{LEDGER_SCHEMA}.{table}"
    return {
        "UPDATE": f"UPDATE {qualified} SET {COLUMN[table]} = {COLUMN[table]}",
        "DELETE": f"DELETE FROM {qualified}",
        "TRUNCATE": f"TRUNCATE {qualified}",
    }[action]


@pytest.fixture(scope="module")
def roles_db(pg_cluster: PgCluster, cast: Cast) -> Iterator[RolesDB]:
    name = f"roles_{uuid.uuid4().hex[:16]}"
    db = set_up(pg_cluster.create_database(name), cast)
    yield db
    pg_cluster.drop_database(name)


@pytest.fixture
def fresh_roles_db(pg_url: str, cast: Cast) -> RolesDB:
    return set_up(pg_url, cast, doses=4)


def test_writer_role_initialises_the_ledger_and_appends(roles_db: RolesDB) -> None:
    owners = run_as(
        roles_db.admin,
        f"SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = '{LEDGER_SCHEMA}'",
    )
    assert owners == [(ROLES.owner,)]  # made by init-roles as the owner, not by the writer
    with LedgerReader(roles_db.reader) as reader:
        report = verify_ledger(reader)
        assert report.ok, report.first_failure
        assert reader.stream_version(screening(SUBJECT).originator_id.hex) == 3
        assert all(reader.checkpoints())
    for table in LEDGER_TABLES:  # rows for the triggers below to refuse
        assert run_as(roles_db.admin, f"SELECT count(*) FROM {LEDGER_SCHEMA}.{table}")[0][0] > 0


@pytest.mark.parametrize("action", CHANGES)
@pytest.mark.parametrize("table", LEDGER_TABLES)
def test_writer_role_cannot_update_delete_or_truncate_a_ledger_table(
    roles_db: RolesDB, table: str, action: str
) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match=f"permission denied.*{table}"):
        run_as(roles_db.writer, change(table, action))


@pytest.mark.parametrize("actor", ["owner", "superuser"])
@pytest.mark.parametrize("action", CHANGES)
@pytest.mark.parametrize("table", LEDGER_TABLES)
def test_owner_and_superuser_are_refused_by_the_append_only_triggers(
    roles_db: RolesDB, table: str, action: str, actor: str
) -> None:
    role = ROLES.owner if actor == "owner" else None
    with pytest.raises(
        psycopg.errors.InsufficientPrivilege,
        match=f"the ledger is append-only: {action} on {table} refused",
    ):
        run_as(roles_db.admin, change(table, action), role)


@pytest.mark.parametrize("table", LEDGER_TABLES)
def test_reader_role_cannot_insert_into_a_ledger_table(roles_db: RolesDB, table: str) -> None:
    qualified = f"{LEDGER_SCHEMA}.{table}"
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match=f"permission denied.*{table}"):
        run_as(roles_db.reader, f"INSERT INTO {qualified} SELECT * FROM {qualified} LIMIT 1")


def test_reader_role_verifies_but_cannot_append(roles_db: RolesDB, cast: Cast) -> None:
    with LedgerReader(roles_db.reader) as reader:
        assert verify_ledger(reader).ok
        size = reader.size()
    ledger = TrialLedger.open(roles_db.reader)
    try:
        with pytest.raises(
            PersistenceError, match="permission denied for function lock_for_append"
        ):
            ledger.append(cast.coordinator, [dose(SUBJECT, 4, 4)])
    finally:
        ledger.close()
    with LedgerReader(roles_db.reader) as reader:
        assert reader.size() == size


WRITER_REFUSED = {
    "drop a table": f"DROP TABLE {LEDGER_SCHEMA}.ledger_meta",
    "add a column": f"ALTER TABLE {LEDGER_SCHEMA}.stored_events ADD COLUMN note text",
    "rename a table": f"ALTER TABLE {LEDGER_SCHEMA}.ledger_commits RENAME TO old_commits",
    "disable the triggers": f"ALTER TABLE {LEDGER_SCHEMA}.stored_events DISABLE TRIGGER ALL",
    "drop a row trigger": "DROP TRIGGER stored_events_append_only ON "
    f"{LEDGER_SCHEMA}.stored_events",
    "drop a truncate trigger": "DROP TRIGGER ledger_commits_no_truncate ON "
    f"{LEDGER_SCHEMA}.ledger_commits",
    "replace the trigger function": f"CREATE OR REPLACE FUNCTION {LEDGER_SCHEMA}.refuse_change()"
    " RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
    "drop the trigger function": f"DROP FUNCTION {LEDGER_SCHEMA}.refuse_change() CASCADE",
    "replace the lock function": f"CREATE OR REPLACE FUNCTION {LEDGER_SCHEMA}.lock_for_append()"
    " RETURNS void LANGUAGE sql AS $$ SELECT $$",
    "create a table beside the ledger": f"CREATE TABLE {LEDGER_SCHEMA}.shadow (a int)",
    "switch triggers off": "SET session_replication_role = replica",
    "become the owner": f"SET ROLE {ROLES.owner}",
}


@pytest.mark.parametrize("sql", WRITER_REFUSED.values(), ids=WRITER_REFUSED.keys())
def test_writer_role_cannot_drop_or_alter_the_tables_nor_the_triggers(
    roles_db: RolesDB, sql: str
) -> None:
    with pytest.raises(
        psycopg.errors.InsufficientPrivilege, match=r"must be owner|permission denied"
    ):
        run_as(roles_db.writer, sql)
    assert len(roles_db.tamper().triggers()) == 2 * len(LEDGER_TABLES)


def test_writer_role_cannot_grant_itself_more(roles_db: RolesDB) -> None:
    """GRANT without the grant option only warns: the privilege must still be missing."""
    run_as(roles_db.writer, f"GRANT UPDATE, DELETE ON {LEDGER_SCHEMA}.stored_events TO PUBLIC")
    rows = run_as(
        roles_db.admin,
        f"SELECT has_table_privilege('{ROLES.writer}', '{LEDGER_SCHEMA}.stored_events', 'UPDATE')"
        f", has_table_privilege('{ROLES.writer}', '{LEDGER_SCHEMA}.stored_events', 'DELETE')",
    )
    assert rows == [(False, False)]


def test_writer_role_can_call_lock_for_append_and_nothing_else(roles_db: RolesDB) -> None:
    functions = run_as(
        roles_db.admin,
        "SELECT p.proname, p.prosecdef, p.prorettype::regtype::text FROM pg_proc p"
        f" JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = '{LEDGER_SCHEMA}'"
        " ORDER BY p.proname",
    )
    assert [(name, definer) for name, definer, _ in functions if definer] == [
        ("lock_for_append", True)
    ]  # the one function that runs with the owner's rights
    with psycopg.connect(roles_db.writer.conninfo()) as conn:  # a transaction: the lock holds
        conn.execute(f"SELECT {LEDGER_SCHEMA}.lock_for_append()".encode())
        conn.rollback()
    for name, _, returns in functions:
        if name == "lock_for_append":
            continue
        assert returns == "trigger", name  # any other function is a trigger's, not PUBLIC's
        with pytest.raises(
            psycopg.errors.InsufficientPrivilege, match="permission denied for function"
        ):
            run_as(roles_db.writer, f"SELECT {LEDGER_SCHEMA}.{name}()")
    with pytest.raises(
        psycopg.errors.InsufficientPrivilege, match="permission denied for function"
    ):
        run_as(roles_db.reader, f"SELECT {LEDGER_SCHEMA}.lock_for_append()")


def first_failure(db: RolesDB) -> int:
    with LedgerReader(db.reader) as reader:
        report = verify_ledger(reader)
    assert not report.ok
    assert report.first_failure is not None
    return report.first_failure.position


def test_an_attacker_who_drops_the_triggers_and_edits_a_row_is_caught_by_verify(
    fresh_roles_db: RolesDB,
) -> None:
    tamper = fresh_roles_db.tamper()
    tamper.drop_triggers()
    assert tamper.triggers() == []
    position, state = tamper.read(
        "SELECT position, state FROM stored_events WHERE topic LIKE '%DoseAdministered%'"
        " ORDER BY position LIMIT 1"
    )[0]
    run_as(
        fresh_roles_db.admin,
        f"UPDATE {LEDGER_SCHEMA}.stored_events SET state = "
        f"'\\x{bytes(state).replace(b'100', b'900').hex()}'::bytea WHERE position = {position}",
    )  # a plain UPDATE: no trigger is left to refuse it
    assert first_failure(fresh_roles_db) == position


def test_an_edit_at_the_tip_is_refused_by_the_next_append(
    fresh_roles_db: RolesDB, cast: Cast
) -> None:
    tamper = fresh_roles_db.tamper()
    tamper.drop_triggers()
    position, state = tamper.read(
        "SELECT position, state FROM stored_events ORDER BY position DESC LIMIT 1"
    )[0]
    tamper.update_event(position, "state", bytes(state).replace(b"100", b"900"))
    with TrialLedger.open(fresh_roles_db.writer) as ledger:
        with pytest.raises(VerificationError, match="refusing to append"):
            ledger.append(cast.coordinator, [dose(SUBJECT, 6, 6)])
        assert ledger.reader.size() == position
    assert first_failure(fresh_roles_db) == position


def test_a_row_the_writer_inserts_itself_is_caught_by_verify_and_the_next_append(
    fresh_roles_db: RolesDB, cast: Cast
) -> None:
    """INSERT is the writer's right: a forged event row past the recorder is still caught."""
    last = fresh_roles_db.tamper().read(
        "SELECT * FROM stored_events ORDER BY position DESC LIMIT 1"
    )[0]
    with psycopg.connect(fresh_roles_db.writer.conninfo(), autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO {LEDGER_SCHEMA}.stored_events VALUES (%s,%s,%s,%s,%s,%s,%s)".encode(),
            (last[0] + 1, last[1], last[2] + 1, *last[3:]),
        )
    with (
        TrialLedger.open(fresh_roles_db.writer) as ledger,
        pytest.raises(VerificationError, match="refusing to append"),
    ):
        ledger.append(cast.coordinator, [dose(SUBJECT, last[2] + 2, 6)])
    assert first_failure(fresh_roles_db) == last[0] + 1
