"""Views in a PostgreSQL schema of the ledger's own database (default ``trial_views``).

The projections' tables and ``tracking`` live in the schema ``schema``, never in the ledger's
(``trial_ledger``); every connection has that schema alone on its search path, with the same
URL as the ledger (a follower connects as ``trial_reader``, which may read the ledger and owns
``trial_views``). Rows and their tracking row are written in one transaction.

* Connections: each thread keeps one connection to the views schema for the lock, the
  tracking rows and a catch-up's writes (a follower opens none per commit); queries and
  scratch builds take connections of their own. :meth:`PgViews.close` (or garbage
  collection) closes them.
* Lock: ``pg_advisory_lock`` on the thread's connection, held while a catch-up or a rebuild
  writes (a session lock: released at the end, or when the connection ends; two threads or
  processes never hold it at once).
* Rebuild: fresh views are built in the scratch schema ``<schema>_rebuild``, then swapped in
  one transaction: the old tables dropped and the new ones moved in (``ALTER TABLE ... SET
  SCHEMA``), with the privileges the schema's default privileges give a table created there.
  Readers see the old views until that commit. The views schema itself (its owner and grants)
  stays; the scratch schema stays, empty, for the next rebuild.
* A scratch schema that does not exist is created, which takes the CREATE privilege on the
  database; ``db init-roles`` may create it beforehand, owned by the reader.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
import zlib
from collections.abc import Iterator
from typing import Any, LiteralString

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from ledger.errors import StorageError, UsageError
from ledger.store.location import VIEWS_SCHEMA, PostgresURL
from projections.connection import ViewsConnection
from projections.engine.pg_sql import PgViewsConnection, connect_raw, connect_views
from projections.engine.views_check import PROOF_TABLE

LOCK_CLASS = 0x7472_6C76
"""The first key of the views' advisory lock (the second: a checksum of the schema name)."""
PRIVILEGES: dict[str, LiteralString] = {
    "SELECT": "SELECT",
    "INSERT": "INSERT",
    "UPDATE": "UPDATE",
    "DELETE": "DELETE",
    "TRUNCATE": "TRUNCATE",
    "REFERENCES": "REFERENCES",
    "TRIGGER": "TRIGGER",
    "MAINTAIN": "MAINTAIN",
}
_DEFAULT_GRANTS = (
    "SELECT a.privilege_type, a.grantee, pg_get_userbyid(a.grantee), a.is_grantable"
    " FROM pg_default_acl d CROSS JOIN LATERAL aclexplode(d.defaclacl) a"
    " WHERE d.defaclnamespace = to_regnamespace(%s) AND d.defaclobjtype = 'r'"
    " AND d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
    " AND a.grantee <> d.defaclrole ORDER BY 3, 1"
)


class PgViews:
    """Views in schema ``schema`` of the database at ``url`` (``keep``: each thread keeps its
    connection between calls; a scratch place keeps none)."""

    def __init__(self, url: PostgresURL, schema: str = VIEWS_SCHEMA, *, keep: bool = True) -> None:
        self.url = url
        self.schema = schema
        self._keep = keep
        self._local = threading.local()
        self._kept: list[PgViewsConnection] = []
        self._finalizer = weakref.finalize(self, _close_all, self._kept)

    @property
    def name(self) -> str:
        return f"{self.url} (schema {self.schema})"

    def __repr__(self) -> str:
        return f"PgViews({self.name})"

    def close(self) -> None:
        """Close the connections the threads kept (opened again when next needed)."""
        _close_all(self._kept)

    @contextlib.contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        if self._keep:
            yield self._kept_connection().conn
            return
        with contextlib.closing(connect_raw(self.url, self.schema)) as conn:
            yield conn

    def _kept_connection(self) -> PgViewsConnection:
        kept: PgViewsConnection | None = getattr(self._local, "conn", None)
        if kept is None or kept.conn.closed or kept.conn.broken:
            kept = PgViewsConnection(connect_raw(self.url, self.schema), owned=False)
            self._local.conn = kept
            self._kept.append(kept)
        return kept

    def exists(self) -> bool:
        with self._conn() as conn:
            return _has_table(conn, self.schema, "tracking")

    def connect(self) -> ViewsConnection:
        if not self.exists():
            raise UsageError(f"{self.name}: no views yet (run a catch-up first)")
        return connect_views(self.url, self.schema)

    def open(self, *, bulk: bool) -> ViewsConnection:
        if self._keep and not bulk:
            kept = self._kept_connection()
            _ensure_schema(kept.conn, self.schema)
            return kept
        conn = connect_views(self.url, self.schema)
        try:
            _ensure_schema(conn.conn, self.schema)
        except BaseException:
            conn.close()
            raise
        return conn

    def open_read(self) -> ViewsConnection:
        return connect_views(self.url, self.schema)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        key = (LOCK_CLASS, zlib.crc32(self.schema.encode()) - 2**31)
        with self._conn() as conn:
            conn.execute("SELECT pg_advisory_lock(%s::int4, %s::int4)", key)
            try:
                yield
            finally:
                if not conn.broken:
                    if conn.info.transaction_status != TransactionStatus.IDLE:
                        conn.rollback()  # a failure's transaction, already refused
                    conn.execute("SELECT pg_advisory_unlock(%s::int4, %s::int4)", key)

    def scratch(self, purpose: str) -> PgViews:
        return PgViews(self.url, f"{self.schema}_{purpose}", keep=False)

    def clear(self) -> None:
        with self._conn() as conn, conn.transaction():
            _drop_tables(conn, self.schema)

    def replace_with(self, built: PgViews) -> None:
        with self._conn() as conn, conn.transaction():
            _ensure_schema(conn, self.schema)
            _drop_tables(conn, self.schema)
            grants = conn.execute(_DEFAULT_GRANTS, (self.schema,)).fetchall()
            for table in _tables(conn, built.schema):
                conn.execute(
                    sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
                        _qualified(built.schema, table), sql.Identifier(self.schema)
                    )
                )
                _grant(conn, _qualified(self.schema, table), grants)

    def tracking_rows(self) -> list[tuple[Any, ...]]:
        with self._conn() as conn:
            if not _has_table(conn, self.schema, "tracking"):
                return []
            return conn.execute(
                "SELECT projection, position, leaf_hash, version FROM tracking"
            ).fetchall()

    def last_proof(self) -> dict[str, Any] | None:
        with self._conn() as conn:
            if not _has_table(conn, self.schema, "views_proof"):
                return None
            row = conn.execute("SELECT position, proved_at FROM views_proof WHERE id=1").fetchone()
        return None if row is None else {"position": int(row[0]), "proved_at": str(row[1])}

    def write_proof(self, position: int, proved_at: str) -> None:
        conn = connect_views(self.url, self.schema)
        try:
            with conn.conn.transaction():
                conn.execute(PROOF_TABLE)
                conn.execute(
                    "INSERT OR REPLACE INTO views_proof (id, position, proved_at) VALUES (1,?,?)",
                    (position, proved_at),
                )
        finally:
            conn.close()


def _close_all(kept: list[PgViewsConnection]) -> None:
    for conn in kept:
        conn.conn.close()
    kept.clear()


def _qualified(schema: str, table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


def _has_table(conn: psycopg.Connection[Any], schema: str, table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s)", (f'"{schema}"."{table}"',)).fetchone()
    return row is not None and row[0] is not None


def _tables(conn: psycopg.Connection[Any], schema: str) -> list[str]:
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", (schema,)
    ).fetchall()
    return [str(r[0]) for r in rows]


def _drop_tables(conn: psycopg.Connection[Any], schema: str) -> None:
    for table in _tables(conn, schema):
        conn.execute(sql.SQL("DROP TABLE {} CASCADE").format(_qualified(schema, table)))


def _ensure_schema(conn: psycopg.Connection[Any], schema: str) -> None:
    """Create ``schema`` unless it exists (creating takes CREATE on the database; finding it
    does not)."""
    row = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    if row is not None:
        return
    try:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    except psycopg.errors.InsufficientPrivilege:
        user = conn.info.user
        raise StorageError(
            f"the views need the schema {schema}, which role {user} may not create in database "
            f"{conn.info.dbname}; create it once as the database's owner: CREATE SCHEMA "
            f"{schema} AUTHORIZATION {user}"
        ) from None


def _grant(conn: psycopg.Connection[Any], table: sql.Composed, grants: list[Any]) -> None:
    """What the views schema's default privileges give a table created there."""
    for privilege, grantee, grantee_name, grantable in grants:
        keyword = PRIVILEGES.get(str(privilege))
        if keyword is None:
            continue
        who = sql.SQL("PUBLIC") if grantee == 0 else sql.Identifier(str(grantee_name))
        option = sql.SQL(" WITH GRANT OPTION" if grantable else "")
        conn.execute(sql.SQL("GRANT {} ON {} TO {}{}").format(sql.SQL(keyword), table, who, option))
