"""Tests written once, run on both stores (loaded by tests/conftest.py as a plugin).

* ``store_target``: where a test's ledger goes, once per store: ``sqlite`` (a file path in
  ``tmp_path``, not created) and ``postgres`` (a fresh database of the session's cluster, as
  :class:`~ledger.store.location.PostgresURL`). Only the ``postgres`` case asks for the cluster
  (``pg_url``, lazily) and it is marked ``postgres``, so ``-m "not postgres"`` keeps the file
  case. ``store_kind`` is the store's name; ``stores`` makes more empty stores of that kind.
* A fixture of another scope takes :data:`STORE_PARAMS` as its own ``params`` and makes its
  stores with :class:`Stores` (``Stores(request.param, request)``).
* :func:`sqlite_only` keeps a test on the file store (indirectly parametrising the fixture
  that is parametrised over the stores), for what only a file has (bytes, WAL, ``-shm``,
  views file, modes).
* :class:`StoreTamper`: an attacker with full access to the store, the same operations on
  both: raw SQL with ``?`` placeholders past the append-only triggers (SQLite: the triggers
  dropped and made again inside the attacker's transaction; PostgreSQL: superuser with
  ``session_replication_role = replica``, which fires no ordinary trigger), dropping the
  triggers for good, deleting the last commit's rows, inserting a forged row, a digest of every
  ledger row, and the rows taken and put back (how a PostgreSQL ledger is "copied" quickly).
"""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ledger.store.location import LEDGER_SCHEMA, VIEWS_SCHEMA, PostgresURL, StoreTarget
from ledger.store.tables import APPEND_ONLY_TABLES, append_only_triggers

if TYPE_CHECKING:
    import psycopg

    from tools.pg_cluster import PgCluster

STORES = ("sqlite", "postgres")
STORE_PARAMS = (
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
)
"""``params`` for a fixture parametrised over the stores (the PostgreSQL case marked)."""

Rows = dict[str, list[tuple[Any, ...]]]
"""Every row of each ledger table, in key order."""


def sqlite_only(fixture: str = "store_kind") -> pytest.MarkDecorator:
    """Run the test on the file store only (``fixture`` is parametrised over the stores)."""
    return pytest.mark.parametrize(fixture, ["sqlite"], indirect=True)


def store_arg(target: StoreTarget) -> str:
    """``target`` as ``--db`` takes it (the URL in full, password included if any)."""
    return target.url if isinstance(target, PostgresURL) else str(target)


class Stores:
    """New empty stores of one kind, for the scope of ``request``: a path in the folder given
    (not created), or a fresh database in the session's cluster, dropped when the scope ends."""

    def __init__(self, kind: str, request: pytest.FixtureRequest) -> None:
        if kind not in STORES:
            raise ValueError(f"unknown store {kind!r}: one of {', '.join(STORES)}")
        self.kind = kind
        self._request = request

    def new(self, folder: Path, name: str = "trial.db") -> StoreTarget:
        if self.kind == "sqlite":
            return folder / name
        cluster: PgCluster = self._request.getfixturevalue("pg_cluster")
        dbname = f"test_{uuid.uuid4().hex[:16]}"
        url = cluster.create_database(dbname)
        self._request.addfinalizer(lambda: cluster.drop_database(dbname))
        return PostgresURL.parse(url)


@pytest.fixture(params=STORE_PARAMS)
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def stores(store_kind: str, request: pytest.FixtureRequest) -> Stores:
    return Stores(store_kind, request)


@pytest.fixture
def store_target(store_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> StoreTarget:
    """This test's store: ``tmp_path / "trial.db"`` or a fresh database (superuser URL)."""
    if store_kind == "sqlite":
        return tmp_path / "trial.db"
    url: str = request.getfixturevalue("pg_url")
    return PostgresURL.parse(url)


@pytest.fixture
def store_tamper(store_target: StoreTarget) -> StoreTamper:
    return StoreTamper(store_target)


class ConstraintRefused(Exception):
    """The store refused a tampering statement (a unique or not-null constraint)."""


@dataclass(frozen=True)
class Result:
    """What a tampering statement returned, read in full (the cursor's own shape)."""

    rows: list[tuple[Any, ...]]
    rowcount: int

    def fetchone(self) -> Any:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[Any]:
        return list(self.rows)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)


class TamperSQL:
    """Raw SQL on a ledger's tables inside the attacker's transaction, written with ``?``
    placeholders for both stores; a statement the store refuses (a constraint) raises
    :class:`ConstraintRefused` and is undone alone, the rest of the transaction stays."""

    def execute(self, sql: str, params: Sequence[object] = ()) -> Result:
        raise NotImplementedError

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """One statement for each of ``rows`` (all of them refused if one is)."""
        raise NotImplementedError


class _SQLiteSQL(TamperSQL):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[object] = ()) -> Result:
        try:
            cursor = self.conn.execute(sql, tuple(params))
        except sqlite3.IntegrityError as e:
            raise ConstraintRefused(str(e)) from None
        return Result([tuple(r) for r in cursor.fetchall()], cursor.rowcount)

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        self.conn.execute("SAVEPOINT many")
        try:
            self.conn.executemany(sql, [tuple(r) for r in rows])
        except sqlite3.IntegrityError as e:
            self.conn.execute("ROLLBACK TO many")
            raise ConstraintRefused(str(e)) from None
        finally:
            self.conn.execute("RELEASE many")


class _PostgresSQL(TamperSQL):
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[object] = ()) -> Result:
        import psycopg  # noqa: PLC0415 - PostgreSQL only

        query = sql.replace("%", "%%").replace("?", "%s").encode()
        try:
            with self.conn.transaction():  # a savepoint: a refused statement is undone alone
                cursor = self.conn.execute(query, tuple(params))
                rows = [tuple(r) for r in cursor.fetchall()] if cursor.description else []
        except psycopg.IntegrityError as e:
            raise ConstraintRefused(str(e).strip()) from None
        return Result(rows, cursor.rowcount)

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        import psycopg  # noqa: PLC0415 - PostgreSQL only

        query = sql.replace("%", "%%").replace("?", "%s").encode()
        try:
            with self.conn.transaction(), self.conn.cursor() as cursor:
                cursor.executemany(query, [tuple(r) for r in rows])
        except psycopg.IntegrityError as e:
            raise ConstraintRefused(str(e).strip()) from None


class StoreTamper:
    """An attacker with full access to a ledger's store (the file, or the database's
    superuser: ``admin``, by default the target's own URL)."""

    def __init__(self, target: StoreTarget, admin: PostgresURL | None = None) -> None:
        self.target = target
        self.admin = admin or (target if isinstance(target, PostgresURL) else None)

    @contextmanager
    def attacker(self) -> Iterator[TamperSQL]:
        """One transaction past the append-only triggers, committed at the end of the block
        (rolled back if it raises); the triggers are in place again afterwards."""
        if self.admin is not None:
            with self._pg_connection() as pg, pg.transaction():
                pg.execute("SET LOCAL session_replication_role = replica")
                yield _PostgresSQL(pg)
            return
        file = sqlite3.connect(self._file, isolation_level=None)
        try:
            file.execute("BEGIN")
            self._drop_sqlite_triggers(file)
            yield _SQLiteSQL(file)
            for statement in append_only_triggers():
                file.execute(statement)
            file.execute("COMMIT")
        finally:
            file.close()  # without COMMIT: rolled back

    def execute(self, sql: str, params: Sequence[object] = ()) -> Result:
        """One statement in an attacker's transaction of its own."""
        with self.attacker() as conn:
            return conn.execute(sql, params)

    def rows(self, table: str) -> list[tuple[Any, ...]]:
        """Every row of ``table``, in key order (read only: nothing is bypassed)."""
        return self.read(f"SELECT * FROM {table} ORDER BY 1")

    def read(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """The rows of a query, on a plain connection (the file untouched, no trigger dropped)."""
        with self._reader() as conn:
            return conn.execute(sql, params).rows

    @contextmanager
    def _reader(self) -> Iterator[TamperSQL]:
        if self.admin is not None:
            with self._pg_connection() as pg:
                yield _PostgresSQL(pg)
            return
        file = sqlite3.connect(f"file:{self._file.resolve()}?mode=ro", uri=True)
        try:
            yield _SQLiteSQL(file)
        finally:
            file.close()

    def update_event(self, position: int, column: str, value: object) -> None:
        done = self.execute(
            f"UPDATE stored_events SET {column}=? WHERE position=?", (value, position)
        )
        assert done.rowcount == 1, f"no event at position {position}"

    def update_commit(self, seq: int, column: str, value: object) -> None:
        done = self.execute(f"UPDATE ledger_commits SET {column}=? WHERE seq=?", (value, seq))
        assert done.rowcount == 1, f"no commit {seq}"

    def delete_last_commit(self) -> int:
        """The newest commit and its events deleted (a clean cut); its seq."""
        with self.attacker() as conn:
            seq, first = conn.execute(
                "SELECT seq, first_position FROM ledger_commits ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            conn.execute("DELETE FROM stored_events WHERE position >= ?", (first,))
            conn.execute("DELETE FROM ledger_commits WHERE seq = ?", (seq,))
        return int(seq)

    def insert_row(self, table: str, row: Sequence[object]) -> None:
        """A forged row, all columns in table order."""
        marks = ",".join("?" * len(row))
        self.execute(f"INSERT INTO {table} VALUES ({marks})", row)

    def digest(self) -> str:
        """SHA-256 over every row of the ledger tables (whether anything changed)."""
        digest = hashlib.sha256()
        for table, rows in self.snapshot().items():
            digest.update(table.encode())
            for row in rows:
                digest.update(repr(row).encode())
        return digest.hexdigest()

    def snapshot(self) -> Rows:
        """Every row of every ledger table, read on one connection."""
        with self._reader() as conn:
            return {
                table: conn.execute(f"SELECT * FROM {table} ORDER BY 1").rows
                for table in APPEND_ONLY_TABLES
            }

    def restore(self, rows: Rows) -> None:
        """The ledger tables made to hold exactly ``rows`` (a :meth:`snapshot`); on an empty
        PostgreSQL database the ledger's tables and triggers are made first, and the views
        schema is dropped (a copy of a ledger has no views yet, as a copied file has none)."""
        if self.admin is not None and self.read("SELECT to_regnamespace(?)", (LEDGER_SCHEMA,)) == [
            (None,)
        ]:
            from ledger.store.pg_tables import schema_statements  # noqa: PLC0415

            with self._pg_connection() as pg:
                for statement in schema_statements():
                    pg.execute(statement.encode())
        with self.attacker() as conn:
            if self.admin is not None:  # views are made from the ledger, not part of it
                conn.execute(f"DROP SCHEMA IF EXISTS {VIEWS_SCHEMA} CASCADE")
            for table in APPEND_ONLY_TABLES:
                conn.execute(f"DELETE FROM {table}")
                if rows[table]:
                    marks = ",".join("?" * len(rows[table][0]))
                    conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows[table])

    def views_exist(self) -> bool:
        """Whether the ledger's views were made (the views file, or the views schema)."""
        if self.admin is not None:
            return self.read("SELECT to_regnamespace(?)", (VIEWS_SCHEMA,)) != [(None,)]
        return self._file.with_name(self._file.name + ".views.sqlite").exists()

    def triggers(self) -> list[str]:
        """The names of the triggers on the ledger tables, sorted."""
        return sorted(name for name, _ in self._triggers())

    def drop_triggers(self) -> None:
        """Drop the append-only triggers for good (what an owner or superuser may do)."""
        if self.admin is None:
            conn = sqlite3.connect(self._file, isolation_level=None)
            try:
                self._drop_sqlite_triggers(conn)
            finally:
                conn.close()
            return
        with self._pg_connection() as pg, pg.transaction():
            for name, table in self._triggers():
                pg.execute(f"DROP TRIGGER {name} ON {LEDGER_SCHEMA}.{table}".encode())

    def _triggers(self) -> list[tuple[str, str]]:
        if self.admin is None:
            found = self.read("SELECT name, tbl_name FROM sqlite_master WHERE type='trigger'")
        else:
            found = self.read(
                "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid ="
                " t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = ? AND NOT t.tgisinternal",
                (LEDGER_SCHEMA,),
            )
        return [(str(name), str(table)) for name, table in found]

    @property
    def _file(self) -> Path:
        assert isinstance(self.target, Path), "a file store"
        return self.target

    @staticmethod
    def _drop_sqlite_triggers(conn: sqlite3.Connection) -> None:
        for table in APPEND_ONLY_TABLES:
            for action in ("update", "delete"):
                conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")

    @contextmanager
    def _pg_connection(self) -> Iterator[psycopg.Connection[Any]]:
        import psycopg  # noqa: PLC0415 - PostgreSQL only

        assert self.admin is not None
        with psycopg.connect(
            self.admin.conninfo(), options=f"-c search_path={LEDGER_SCHEMA}", connect_timeout=10
        ) as conn:
            yield conn
