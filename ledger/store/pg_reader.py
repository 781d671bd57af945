"""Read-only access to a ledger on PostgreSQL, for :class:`~ledger.store.reader.LedgerReader`.

:func:`open_postgres` gives a connection that takes the reader's ``?`` SQL; a snapshot is one
``REPEATABLE READ READ ONLY`` transaction (the ledger as one commit left it, whatever writers
append meanwhile), outside it each statement sees the latest commit (autocommit).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from ledger.errors import LedgerError, StorageError, UsageError
from ledger.storage_errors import redact_text
from ledger.store.location import LEDGER_SCHEMA, PostgresURL

BEGIN_SNAPSHOT = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"


class PgConnection:
    """A psycopg connection with the sqlite3 surface the reader uses (``?`` placeholders).

    A connection lost outside a snapshot (the server restarted) is opened again for the next
    statement, so a long-lived reader (a writer's, a follower's) outlives a restart; inside a
    snapshot it is a :class:`~ledger.errors.StorageError`, since another connection could not
    go on reading the same snapshot."""

    def __init__(self, conn: psycopg.Connection[Any], url: PostgresURL | None = None) -> None:
        self.conn = conn
        self.url = url

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        query = (BEGIN_SNAPSHOT if sql == "BEGIN" else sql.replace("?", "%s")).encode()
        if self.conn.closed and self.url is not None and sql != "ROLLBACK":
            self.conn = connect(self.url)
        idle = self.conn.info.transaction_status == TransactionStatus.IDLE
        try:
            return self.conn.execute(query, params or None)
        except psycopg.OperationalError as e:
            if self.url is None or not idle or not self.conn.closed:
                raise _lost(e, self.url) from None
            url = self.url
        self.conn = connect(url)  # lost between statements: once more, anew
        try:
            return self.conn.execute(query, params or None)
        except psycopg.OperationalError as e:
            raise _lost(e, self.url) from None

    @property
    def in_transaction(self) -> bool:
        """Whether a snapshot is open (a lost connection has none left to end)."""
        if self.conn.closed:
            return False
        return self.conn.info.transaction_status != TransactionStatus.IDLE

    def close(self) -> None:
        self.conn.close()


def _lost(error: psycopg.Error, url: PostgresURL | None) -> LedgerError:
    if url is None:
        return StorageError(f"PostgreSQL refused: {' '.join(str(error).split())}")
    return pg_refusal(error, url)


def connect(url: PostgresURL, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    """A connection to ``url`` reading the ledger's schema; a refusal names the URL."""
    try:
        return psycopg.connect(
            url.conninfo(),
            autocommit=autocommit,
            options=f"-c search_path={LEDGER_SCHEMA}",
            connect_timeout=10,
        )
    except psycopg.Error as e:
        raise pg_refusal(e, url) from None


def pg_refusal(error: BaseException, url: PostgresURL) -> LedgerError:
    """A PostgreSQL error as the one-line refusal the command line reports (exit 2)."""
    said = redact_text(" ".join(str(error).split()).rstrip(".")) or type(error).__name__
    return StorageError(f"--db {url}: PostgreSQL refused: {said}")


def open_postgres(url: PostgresURL) -> PgConnection:
    conn = connect(url)
    try:
        row = conn.execute(
            "SELECT to_regclass(%s), to_regclass(%s)",
            (f"{LEDGER_SCHEMA}.stored_events", f"{LEDGER_SCHEMA}.ledger_commits"),
        ).fetchone()
    except psycopg.Error as e:
        conn.close()
        raise pg_refusal(e, url) from None
    if row is None or row[0] is None or row[1] is None:
        conn.close()
        raise UsageError(
            f"--db {url}: not a trial-ledger database (no ledger tables in schema "
            f"{LEDGER_SCHEMA}; run `trial-ledger init` or `trial-ledger db init-roles`)"
        )
    return PgConnection(conn, url)


def ledger_state(url: PostgresURL) -> str:
    """``"absent"`` (no ledger tables), ``"empty"`` (tables, no ledger id: made by
    ``db init-roles``) or ``"initialised"``."""
    conn = connect(url)
    try:
        row = conn.execute("SELECT to_regclass(%s)", (f"{LEDGER_SCHEMA}.ledger_meta",)).fetchone()
        if row is None or row[0] is None:
            return "absent"
        found = conn.execute("SELECT 1 FROM ledger_meta WHERE name = 'ledger_id'").fetchone()
    except psycopg.Error as e:
        raise pg_refusal(e, url) from None
    finally:
        conn.close()
    return "initialised" if found else "empty"
