"""The application recorder: chains, Merkle-roots and signs each commit in its transaction.

``LedgerSQLiteRecorder`` extends eventsourcing's ``SQLiteApplicationRecorder``. Inside the
same transaction that inserts the events it reads the chain head, re-proves the tip commit it
extends (:mod:`ledger.store.tip`), gives each event the next contiguous position, computes its
leaf (``ledger.chain``), computes the commit's Merkle root, signs the commit header with the
caller's key and inserts the commit (:mod:`ledger.store.chaining`, shared with the
PostgreSQL recorder).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteTransaction,
)

from ledger.chain import EventRow
from ledger.store.chaining import CommitChainer
from ledger.store.rows import Cursor
from ledger.store.tables import SCHEMA, append_only_triggers


class _ImmediateTransaction(SQLiteTransaction):
    """``BEGIN IMMEDIATE``: take the write lock before the head is read (waiting up to the
    lock timeout), so the head a commit extends is the head it will be stored after."""

    def __enter__(self) -> SQLiteCursor:
        cursor = self.connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        return cursor


class LedgerSQLiteRecorder(CommitChainer, SQLiteApplicationRecorder):
    """Application recorder that chains, Merkle-roots and signs each commit in its transaction."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name)
        self.insert_events_statement = (
            f"INSERT INTO {self.events_table_name} (originator_id, originator_version, topic,"
            " state, position, leaf_hash, commit_seq) VALUES (?,?,?,?,?,?,?)"
        )
        self._init_chain()

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        with (
            self.datastore.get_connection(commit=True) as connection,
            _ImmediateTransaction(connection, commit=True) as c,
            c,
        ):
            return self._chain(c, stored_events, **kwargs)

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """The notification log. Notification ids are ledger positions (``position`` is the
        table's rowid), so they are contiguous, like the chain."""
        clauses: list[str] = []
        params: list[int | str] = []
        if start is not None:
            clauses.append("position >= ?" if inclusive_of_start else "position > ?")
            params.append(start)
        if stop is not None:
            clauses.append("position <= ?")
            params.append(stop)
        if topics:
            clauses.append(f"topic IN ({','.join('?' * len(topics))})")
            params.extend(topics)
        where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
        params.append(limit)
        statement = (
            "SELECT position, originator_id, originator_version, topic, state "
            f"FROM {self.events_table_name} {where}ORDER BY position LIMIT ?"
        )
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, params)
            return [
                Notification(
                    id=row["position"],
                    originator_id=self.convert_originator_id(row["originator_id"]),
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=row["state"],
                )
                for row in c.fetchall()
            ]

    def construct_create_table_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.events_table_name} ("
            "position INTEGER PRIMARY KEY, "
            "originator_id TEXT NOT NULL, "
            "originator_version INTEGER NOT NULL, "
            "topic TEXT NOT NULL, "
            "state BLOB NOT NULL, "
            "leaf_hash BLOB NOT NULL, "
            "commit_seq INTEGER NOT NULL, "
            "UNIQUE (originator_id, originator_version))",
            *SCHEMA,
            *append_only_triggers(),
        ]

    def _insert_rows(self, c: Cursor, rows: list[EventRow]) -> None:
        for r in rows:
            c.execute(
                self.insert_events_statement,
                (
                    r.originator_id,
                    r.originator_version,
                    r.topic,
                    r.state,
                    r.position,
                    r.leaf_hash,
                    r.commit_seq,
                ),
            )

    def set_ledger_id(self, ledger_id: str) -> None:
        """Write the ledger id once (at ``init``); every commit header names it."""
        with self.datastore.transaction(commit=True) as c:
            c.execute("INSERT INTO ledger_meta (name, value) VALUES ('ledger_id', ?)", (ledger_id,))
        self._ledger_id = ledger_id
