"""The ledger's tables on PostgreSQL, the triggers that keep them append-only, the lock an
append takes, and the roles of least privilege (``trial-ledger db init-roles``).

The tables are those of the SQLite file, in the schema :data:`LEDGER_SCHEMA`, with the same
columns and the same meaning (``BYTEA`` for ``BLOB``), so the same content gives the same leaves
and the same Merkle root on either store.

The append lock is eventsourcing's: ``LOCK TABLE stored_events IN EXCLUSIVE MODE``, which blocks
other inserts (and nothing that only reads) until the commit ends, so reading the head and
extending it is race-free. PostgreSQL lets only a role with UPDATE, DELETE or TRUNCATE on a
table take that lock; the application role has none of them, so the lock is taken by
:data:`LOCK_FUNCTION`, a ``SECURITY DEFINER`` function owned by the schema owner that does
nothing else (the lock lasts until the caller's transaction ends).
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.store.location import LEDGER_SCHEMA, VIEWS_SCHEMA

LEDGER_TABLES = ("stored_events", "ledger_commits", "ledger_checkpoints", "ledger_meta")
LOCK_FUNCTION = f"{LEDGER_SCHEMA}.lock_for_append"
ACCESS_SCHEMA = "trial_access"
"""Where a served PostgreSQL ledger records reads by persons; owned by the reader role, as the
views are (``trial-ledger serve`` runs as the reader)."""
SCRATCH_SCHEMAS = (f"{VIEWS_SCHEMA}_rebuild", f"{VIEWS_SCHEMA}_verify")
"""The reader's schemas where fresh views are built before they are swapped in or compared."""
NOTIFY_CHANNEL = "trial_ledger_commits"
"""``NOTIFY`` channel: each commit announces ``"seq last_position"`` when it is committed."""

_S = LEDGER_SCHEMA

TABLES = (
    f"""CREATE TABLE IF NOT EXISTS {_S}.stored_events (
        position BIGINT PRIMARY KEY,
        originator_id TEXT NOT NULL,
        originator_version BIGINT NOT NULL,
        topic TEXT NOT NULL,
        state BYTEA NOT NULL,
        leaf_hash BYTEA NOT NULL,
        commit_seq BIGINT NOT NULL,
        UNIQUE (originator_id, originator_version))""",
    f"""CREATE TABLE IF NOT EXISTS {_S}.ledger_commits (
        seq BIGINT PRIMARY KEY,
        first_position BIGINT NOT NULL,
        last_position BIGINT NOT NULL,
        prev_leaf BYTEA NOT NULL,
        events_root BYTEA NOT NULL,
        signer TEXT NOT NULL,
        meaning TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        signature BYTEA NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {_S}.ledger_checkpoints (
        tree_size BIGINT PRIMARY KEY,
        note TEXT NOT NULL,
        frontier TEXT NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {_S}.ledger_meta (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL)""",
)

_REFUSE = f"""CREATE OR REPLACE FUNCTION {_S}.refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END $$"""

_LOCK = f"""CREATE OR REPLACE FUNCTION {LOCK_FUNCTION}() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    BEGIN
        LOCK TABLE {_S}.stored_events IN EXCLUSIVE MODE;
    END $$"""


def schema_statements(*, with_schema: bool = True) -> list[str]:
    """Create the schema, the tables, the append-only triggers and the lock function
    (idempotent: every statement may run again on an existing ledger)."""
    triggers = []
    for table in LEDGER_TABLES:
        triggers.append(
            f"CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE "
            f"ON {_S}.{table} FOR EACH ROW EXECUTE FUNCTION {_S}.refuse_change()"
        )
        triggers.append(
            f"CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE "
            f"ON {_S}.{table} FOR EACH STATEMENT EXECUTE FUNCTION {_S}.refuse_change()"
        )
    return [
        *([f"CREATE SCHEMA IF NOT EXISTS {_S}"] if with_schema else []),
        *TABLES,
        _REFUSE,
        *triggers,
        _LOCK,
        f"REVOKE ALL ON FUNCTION {LOCK_FUNCTION}() FROM PUBLIC",
        f"REVOKE ALL ON FUNCTION {_S}.refuse_change() FROM PUBLIC",
    ]


@dataclass(frozen=True)
class Roles:
    """The three roles of a ledger database.

    * ``owner`` (NOLOGIN) owns the schemas, the tables, the triggers and the lock function;
    * ``writer`` (site staff's clients, the import): SELECT and INSERT on the ledger's tables,
      EXECUTE on the lock function; UPDATE, DELETE and TRUNCATE revoked (and refused by the
      triggers for anyone else);
    * ``reader`` (auditors, verifiers, followers): SELECT on the ledger's tables, and its own
      projections in :data:`VIEWS_SCHEMA` (never the ledger's).
    """

    owner: str = "trial_owner"
    writer: str = "trial_writer"
    reader: str = "trial_reader"


def _take_ownership(owner: str) -> list[str]:
    """A ledger made by another role (``init`` as a superuser) handed to ``owner``: the schema,
    its tables and its functions (triggers keep working; their function changes owner)."""
    return [
        f"ALTER SCHEMA {_S} OWNER TO {owner}",
        "DO $$ DECLARE r record; BEGIN "
        f"FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = '{_S}' LOOP "
        f"EXECUTE format('ALTER TABLE {_S}.%I OWNER TO {owner}', r.tablename); END LOOP; "
        "FOR r IN SELECT p.oid::regprocedure AS f FROM pg_proc p JOIN pg_namespace n "
        f"ON n.oid = p.pronamespace WHERE n.nspname = '{_S}' LOOP "
        f"EXECUTE format('ALTER FUNCTION %s OWNER TO {owner}', r.f); END LOOP; END $$",
    ]


ROLE_CHECKS = (
    "SELECT r.rolname FROM pg_roles r WHERE r.rolname IN (%(writer)s, %(reader)s) AND "
    "(r.rolsuper OR r.rolbypassrls OR r.rolcreaterole OR pg_has_role(r.oid, %(owner)s, 'MEMBER'))"
)
"""Login roles that would undo least privilege: superusers, roles that bypass row security or
create roles, and members of the owner (who could ``SET ROLE`` to it and disable triggers)."""


def role_statements(roles: Roles, database: str) -> list[str]:
    """What ``db init-roles`` runs as a superuser (or the database's owner with CREATEROLE):
    roles (created if missing), schemas owned by ``owner``, the tables created as ``owner``,
    and the grants. Idempotent."""
    o, w, r = roles.owner, roles.writer, roles.reader
    create_roles = [
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{name}') "
        f"THEN CREATE ROLE {name} {login}; END IF; END $$"
        for name, login in ((o, "NOLOGIN"), (w, "LOGIN"), (r, "LOGIN"))
    ]
    grants_ledger = [
        f"REVOKE ALL ON DATABASE {database} FROM PUBLIC",
        f"GRANT CONNECT ON DATABASE {database} TO {w}, {r}",
        f"REVOKE ALL ON SCHEMA {_S} FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA {_S} TO {w}, {r}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {_S} FROM {w}, {r}, PUBLIC",
        f"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA {_S} TO {w}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {_S} TO {r}",
        f"GRANT EXECUTE ON FUNCTION {LOCK_FUNCTION}() TO {w}",
    ]
    views = [
        f"CREATE SCHEMA IF NOT EXISTS {VIEWS_SCHEMA} AUTHORIZATION {r}",
        f"REVOKE ALL ON SCHEMA {VIEWS_SCHEMA} FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA {VIEWS_SCHEMA} TO {w}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {r} IN SCHEMA {VIEWS_SCHEMA} GRANT SELECT ON TABLES "
        f"TO {w}",
    ]
    views += [  # the served ledger's log of reads by persons (ledger/server/access)
        f"CREATE SCHEMA IF NOT EXISTS {ACCESS_SCHEMA} AUTHORIZATION {r}",
        f"REVOKE ALL ON SCHEMA {ACCESS_SCHEMA} FROM PUBLIC",
    ]
    for scratch in SCRATCH_SCHEMAS:  # where a rebuild (or `projections verify`) is built
        views += [
            f"CREATE SCHEMA IF NOT EXISTS {scratch} AUTHORIZATION {r}",
            f"REVOKE ALL ON SCHEMA {scratch} FROM PUBLIC",
        ]
    return [
        *create_roles,
        f"CREATE SCHEMA IF NOT EXISTS {_S} AUTHORIZATION {o}",
        *_take_ownership(o),
        f"SET ROLE {o}",
        *schema_statements(with_schema=False),
        "RESET ROLE",
        *grants_ledger,
        *views,
    ]
