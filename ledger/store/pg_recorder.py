"""The PostgreSQL recorder: eventsourcing's ``PostgresApplicationRecorder``, chaining and
signing each commit inside its insert transaction as the SQLite recorder does.

In one transaction: ``SET LOCAL lock_timeout``, the table lock (``LOCK TABLE stored_events IN
EXCLUSIVE MODE``, taken through :data:`~ledger.store.pg_tables.LOCK_FUNCTION` so that the
application role needs no UPDATE privilege), then :class:`~ledger.store.chaining.CommitChainer`
(head, tip re-proof, contiguous positions, leaves, root, signature, commit row), the event rows
in one ``INSERT ... SELECT FROM unnest(...)``, and a ``NOTIFY`` that PostgreSQL delivers only
when the commit is durable. Positions, not the library's notification ids (a sequence, with
gaps after a rollback), are the ledger's order; ``POSTGRES_ENABLE_DB_FUNCTIONS`` is never used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import tuple_row

from ledger.chain import CommitHeader, EventRow
from ledger.store.chaining import CommitChainer
from ledger.store.location import LEDGER_SCHEMA
from ledger.store.pg_tables import LOCK_FUNCTION, NOTIFY_CHANNEL, schema_statements
from ledger.store.rows import Cursor, commit_columns
from ledger.store.seal import CommitSeal

CONNINFO_ENV = "TRIAL_LEDGER_PG_CONNINFO"
"""The factory's environment key holding the whole libpq URL (ssl and other options kept)."""

_WRITE_COMMIT = (
    "WITH events AS (INSERT INTO stored_events (position, originator_id, originator_version,"
    " topic, state, leaf_hash, commit_seq) SELECT * FROM unnest(?::bigint[], ?::text[],"
    " ?::bigint[], ?::text[], ?::bytea[], ?::bytea[], ?::bigint[])),"
    " commit AS (INSERT INTO ledger_commits (seq, first_position, last_position, prev_leaf,"
    " events_root, signer, meaning, recorded_at, signature) VALUES (?,?,?,?,?,?,?,?,?))"
    " SELECT pg_notify(?, ?)"
)
"""The events, their commit and its announcement (delivered on COMMIT), as one statement."""


def _hex(text: str) -> str:
    """``text`` if it is lower-case hex (a stream id), for a literal in SQL; else refused."""
    if any(ch not in "0123456789abcdef" for ch in text):
        raise ValueError(f"not a hex stream id: {text!r}")
    return text


class QmarkCursor:
    """A psycopg cursor that takes the ``?`` placeholders the shared SQL is written with."""

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Any:
        return self.cursor.execute(sql.replace("?", "%s"), params or None)

    def fetchone(self) -> Any:
        return self.cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self.cursor.fetchall())


class LedgerPostgresRecorder(CommitChainer, PostgresApplicationRecorder):
    """Application recorder on PostgreSQL that chains, Merkle-roots and signs each commit."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self._init_chain()
        self.lock_timeout = datastore.lock_timeout
        self._pending: list[EventRow] = []
        self._head: Any = None

    def create_table(self) -> None:
        with self.datastore.transaction(commit=True) as curs:
            for statement in schema_statements():
                curs.execute(statement.encode())

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """One transaction in three round trips while the lock is held: the lock (sent with
        BEGIN), the head read, and the rows, the commit and the notification as one statement;
        then COMMIT."""
        with (
            self.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row) as curs,
        ):
            # READ COMMITTED whatever the role's default: the head is then read by a statement
            # that starts after the lock is held, so it sees every commit before this one.
            seal: CommitSeal | None = kwargs.get("seal") or self.default_seal
            stream = seal.registry_stream.hex if seal and seal.registry_stream else ""
            curs.execute(
                "BEGIN ISOLATION LEVEL READ COMMITTED; "
                f"SET LOCAL lock_timeout = '{int(self.lock_timeout)}s'; "
                f"SELECT {LOCK_FUNCTION}(); " + self._head_sql().replace("?", f"'{_hex(stream)}'")
            )  # one round trip: the head is read by the statement after the lock is taken
            while curs.nextset():
                pass  # to the last result: the head row
            self._head = curs.fetchone()
            try:
                ids = self._chain(QmarkCursor(curs), stored_events, **kwargs)
                curs.execute(b"COMMIT")
            except BaseException:
                self._pending = []
                if not conn.closed:
                    conn.rollback()
                raise
            return ids

    def _fetch_head(self, c: Cursor, seal: CommitSeal) -> Any:
        head, self._head = self._head, None  # read with the lock, in insert_events
        return head

    def _insert_rows(self, c: Cursor, rows: list[EventRow]) -> None:
        self._pending = rows  # written with the commit row, in one statement

    def _write_commit(self, c: Cursor, header: CommitHeader, signature: bytes) -> None:
        rows, self._pending = self._pending, []
        c.execute(
            _WRITE_COMMIT,
            (
                [r.position for r in rows],
                [r.originator_id for r in rows],
                [r.originator_version for r in rows],
                [r.topic for r in rows],
                [r.state for r in rows],
                [r.leaf_hash for r in rows],
                [r.commit_seq for r in rows],
                *commit_columns(header, signature),
                NOTIFY_CHANNEL,
                f"{header.seq} {header.last_position}",
            ),
        )

    def set_ledger_id(self, ledger_id: str) -> None:
        """Write the ledger id once (at ``init``); every commit header names it."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                "INSERT INTO ledger_meta (name, value) VALUES ('ledger_id', %s)", (ledger_id,)
            )
        self._ledger_id = ledger_id

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        key = originator_id.hex if isinstance(originator_id, UUID) else originator_id
        sql = "SELECT originator_id, originator_version, topic, state FROM stored_events"
        sql += " WHERE originator_id = %s AND originator_version > %s"
        sql += " AND originator_version <= %s ORDER BY originator_version"
        sql += " DESC" if desc else ""
        params: list[Any] = [key, gt if gt is not None else 0, lte if lte is not None else 2**62]
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(sql.encode(), params)
            return [
                StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in curs.fetchall()
            ]

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """The notification log: notification ids are ledger positions (contiguous)."""
        clauses = ["position >= %s" if inclusive_of_start else "position > %s"]
        params: list[Any] = [start if start is not None else 0]
        if stop is not None:
            clauses.append("position <= %s")
            params.append(stop)
        if topics:
            clauses.append("topic = ANY(%s)")
            params.append(list(topics))
        params.append(limit)
        sql = (
            "SELECT position, originator_id, originator_version, topic, state FROM stored_events"
            f" WHERE {' AND '.join(clauses)} ORDER BY position LIMIT %s"
        )
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(sql.encode(), params)
            return [
                Notification(
                    id=row["position"],
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in curs.fetchall()
            ]

    def max_notification_id(self) -> int | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(b"SELECT MAX(position) AS max FROM stored_events")
            row = curs.fetchone()
            return None if row is None else row["max"]


class LedgerPostgresFactory(PostgresFactory):
    """eventsourcing's PostgreSQL factory with the ledger's recorder; every connection reads
    and writes the ledger's schema (``search_path``), with the URL's own options kept."""

    application_recorder_class = LedgerPostgresRecorder

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        conninfo = self.env.get(CONNINFO_ENV)
        kwargs = self.datastore.pool.kwargs
        if not isinstance(kwargs, dict):  # pragma: no cover - eventsourcing passes a dict
            raise TypeError("unexpected connection settings in eventsourcing's pool")
        if conninfo:
            for name, value in conninfo_to_dict(conninfo).items():
                if value is not None:
                    kwargs[name] = value
        if not kwargs.get("password"):
            kwargs.pop("password", None)  # libpq then reads PGPASSWORD or ~/.pgpass
        kwargs["options"] = f"-c search_path={LEDGER_SCHEMA}"

    def application_recorder(self) -> LedgerPostgresRecorder:
        """The ledger's recorder on ``stored_events`` (the SQLite file's table name; the
        library would name it after the application)."""
        recorder = LedgerPostgresRecorder(self.datastore, events_table_name="stored_events")
        if self.env_create_table():
            recorder.create_table()
        return recorder
