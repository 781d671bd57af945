"""A views connection to PostgreSQL that takes the projections' SQLite SQL, rewritten.

The projections write one SQL for either store; :class:`PgViewsConnection` rewrites the few
statements PostgreSQL words differently, once per statement text:

* ``?`` placeholders become ``%s`` (a literal ``%`` becomes ``%%``);
* ``CREATE TABLE``: ``BLOB`` is ``BYTEA``, ``INTEGER`` is ``BIGINT``, and ``TEXT`` is
  ``TEXT COLLATE "C"``, so text compares and sorts by code point as SQLite's ``BINARY``
  collation does (the same rows in the same order on either store);
* ``INSERT OR REPLACE`` is ``INSERT ... ON CONFLICT (primary key) DO UPDATE`` (the key read
  from the catalogue), ``INSERT OR IGNORE`` is ``INSERT ... ON CONFLICT DO NOTHING``;
* ``instr(a, b)`` is ``strpos(a, b)``; ``lower(?)`` lowers in the ``"C"`` collation (ASCII
  letters only, as SQLite's ``lower``);
* ``BEGIN IMMEDIATE`` is ``BEGIN``; ``PRAGMA table_info(t)`` reads ``information_schema``
  (rows shaped as SQLite's: index, name, type, ...); every other ``PRAGMA`` does nothing.

Each connection reads and writes one schema (``search_path``), in autocommit mode unless the
caller says ``BEGIN``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from ledger.store.location import PostgresURL
from ledger.store.pg_reader import pg_refusal
from projections.connection import ViewsCursor

_TYPES = (
    (re.compile(r"\bBLOB\b"), "BYTEA"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bTEXT\b"), 'TEXT COLLATE "C"'),
)
_TABLE_INFO = re.compile(r"PRAGMA table_info\((\w+)\)")
_INSERT_OR = re.compile(r"INSERT OR (REPLACE|IGNORE) INTO (\w+) \(([^)]*)\)")
_LOWER_C = 'lower(CAST(? AS TEXT) COLLATE "C")'
_COLUMNS = (
    "SELECT ordinal_position - 1, column_name, data_type, (is_nullable = 'NO')::int,"
    " column_default, 0 FROM information_schema.columns"
    " WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position"
)
_PRIMARY_KEY = (
    "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
    " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass(%s) AND i.indisprimary"
    " ORDER BY array_position(i.indkey::int2[], a.attnum)"
)


class NoRows:
    """The cursor of a statement PostgreSQL has no need of (a SQLite ``PRAGMA``)."""

    def fetchone(self) -> Any:
        return None

    def fetchall(self) -> list[Any]:
        return []

    def fetchmany(self, size: int = 0) -> list[Any]:
        return []

    def __iter__(self) -> Iterator[Any]:
        return iter(())


class PgViewsConnection:
    """A psycopg connection to one views schema with the surface the projections use
    (``owned``: :meth:`close` closes it; else it only ends a transaction left open, for the
    connection's keeper to use again)."""

    def __init__(self, conn: psycopg.Connection[Any], *, owned: bool = True) -> None:
        self.conn = conn
        self.owned = owned
        self._sql: dict[str, str] = {}

    def execute(self, sql: str, parameters: Any = (), /) -> ViewsCursor:
        text = sql.strip()
        if text.startswith("PRAGMA"):
            info = _TABLE_INFO.fullmatch(text)
            return self.conn.execute(_COLUMNS, (info.group(1),)) if info else NoRows()
        return self.conn.execute(self.rewrite(sql).encode(), tuple(parameters))

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Any:
        cursor = self.conn.cursor()
        cursor.executemany(self.rewrite(sql).encode(), [tuple(p) for p in parameters])
        return cursor

    def close(self) -> None:
        if self.owned or self.conn.broken:
            self.conn.close()
        elif self.conn.info.transaction_status != TransactionStatus.IDLE:
            try:
                self.conn.execute("ROLLBACK")
            except psycopg.Error:
                self.conn.close()

    def rewrite(self, sql: str) -> str:
        """``sql`` as PostgreSQL words it (see the module docstring); kept per statement."""
        found = self._sql.get(sql)
        if found is None:
            found = self._sql[sql] = self._rewritten(sql.strip())
        return found

    def _rewritten(self, text: str) -> str:
        if text == "BEGIN IMMEDIATE":
            return "BEGIN"
        text = text.replace("%", "%%")
        if text.startswith("CREATE TABLE"):
            for pattern, replacement in _TYPES:
                text = pattern.sub(replacement, text)
        insert = _INSERT_OR.match(text)
        if insert is not None:
            verb, table, columns = insert.groups()
            conflict = " ON CONFLICT DO NOTHING"
            if verb == "REPLACE":
                conflict = self._on_conflict_update(table, [c.strip() for c in columns.split(",")])
            text = f"INSERT INTO {table} ({columns}){text[insert.end() :]}{conflict}"
        text = text.replace("instr(", "strpos(").replace("lower(?)", _LOWER_C)
        return text.replace("?", "%s")

    def _on_conflict_update(self, table: str, columns: list[str]) -> str:
        keys = [str(r[0]) for r in self.conn.execute(_PRIMARY_KEY, (table,)).fetchall()]
        if not keys:
            raise psycopg.ProgrammingError(f"INSERT OR REPLACE INTO {table}: it has no primary key")
        others = [c for c in columns if c not in keys]
        if not others:
            return f" ON CONFLICT ({', '.join(keys)}) DO NOTHING"
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in others)
        return f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"


def connect_views(
    url: PostgresURL, schema: str, *, application_name: str = "trial-ledger views"
) -> PgViewsConnection:
    """A connection to the database of ``url`` reading and writing ``schema``."""
    return PgViewsConnection(connect_raw(url, schema, application_name=application_name))


def connect_raw(
    url: PostgresURL, schema: str, *, application_name: str = "trial-ledger views"
) -> psycopg.Connection[Any]:
    """A plain psycopg connection (autocommit) with ``schema`` first on its search path."""
    try:
        return psycopg.connect(
            url.conninfo(),
            autocommit=True,
            options=f"-c search_path={schema} -c client_min_messages=warning",
            application_name=application_name,
            connect_timeout=10,
        )
    except psycopg.Error as e:
        raise pg_refusal(e, url) from None
