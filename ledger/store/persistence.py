"""eventsourcing wiring: a SQLite pool that caches prepared statements, the factory that
uses the ledger's recorder, and the mapper between pydantic events and stored events."""

from __future__ import annotations

import sqlite3
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InterfaceError, JSONTranscoder, Mapper, StoredEvent
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteFactory,
)

from ledger.events import LedgerEvent, decode_event
from ledger.integrity.canonical import canonical_json
from ledger.store.recorder import LedgerSQLiteRecorder


class _StatementCachingPool(SQLiteConnectionPool):
    """eventsourcing's SQLite pool, with a real prepared-statement cache per connection.

    The stock pool passes ``cached_statements=True`` (a cache of one statement), so every
    statement of a commit after the first is compiled again each time. A commit here runs four
    statements; compiling them each time costs more than signing the commit.
    """

    def _create_connection(self) -> SQLiteConnection:
        try:
            c = sqlite3.connect(
                database=self.db_name,
                uri=True,
                check_same_thread=False,
                isolation_level=None,
                cached_statements=64,
                timeout=self.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT,
            )
        except (sqlite3.Error, TypeError) as e:
            raise InterfaceError(e) from e
        if not self.is_sqlite_memory_mode and not self.is_journal_mode_wal:
            mode = c.execute("PRAGMA journal_mode;").fetchone()[0]
            if mode.lower() != "wal":
                c.execute("PRAGMA journal_mode=WAL;")
                self.journal_mode_was_changed_to_wal = True
            self.is_journal_mode_wal = True
        c.row_factory = sqlite3.Row
        return SQLiteConnection(sqlite_conn=c, max_age=self.max_age)


class LedgerSQLiteFactory(SQLiteFactory):
    """eventsourcing's SQLite factory, with the statement-caching pool and our recorder."""

    application_recorder_class = LedgerSQLiteRecorder

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        stock = self.datastore.pool
        self.datastore.pool = _StatementCachingPool(
            db_name=stock.db_name, lock_timeout=stock.lock_timeout
        )
        stock.close()


class LedgerMapper(Mapper[UUID]):
    """Pydantic events <-> stored events; the state is the RFC 8785 JSON of the payload."""

    def __init__(self) -> None:
        super().__init__(transcoder=JSONTranscoder())

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        event: LedgerEvent = domain_event
        return StoredEvent(
            originator_id=event.originator_id,
            originator_version=event.originator_version,
            topic=event.TOPIC,
            state=canonical_json(event.payload()),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        return decode_event(
            stored_event.topic,
            stored_event.state,
            stored_event.originator_id,
            stored_event.originator_version,
        )
