"""Storage: an eventsourcing Application whose recorder chains and signs inside the insert.

``LedgerSQLiteRecorder`` extends eventsourcing's ``SQLiteApplicationRecorder``. Inside the
same transaction that inserts the events it reads the chain head, gives each event the next
contiguous position, computes its leaf (``ledger.chain``), computes the commit's Merkle root,
signs the commit header with the caller's key and inserts the commit. Either all of that
commits or none of it does, so no event is ever stored unchained or unsigned, and a crash
mid-append leaves the last committed state intact (SQLite WAL, one transaction).

Positions, not notification ids, are the ledger's order: the ``position`` column is
``UNIQUE NOT NULL`` and assigned from the head read in the same transaction, so two writers can
never both extend the same head (the second fails the unique constraint and nothing of it is
stored). The same shape carries over to PostgreSQL: eventsourcing's PostgreSQL recorder takes
``LOCK TABLE ... IN EXCLUSIVE MODE`` before inserting, after which reading the head and
extending it is race-free; the subclass overrides the same ``_insert_events`` hook.

Triggers refuse UPDATE and DELETE on the ledger tables: append-only through the product.

Where things are:

* :mod:`~ledger.store.recorder`: the recorder's insert (head, positions, leaves, root,
  signature, commit row), with :mod:`~ledger.store.tip`, the re-proof of the tip it extends;
* :mod:`~ledger.store.seal`: :class:`CommitSeal`, what an append is signed with;
* :mod:`~ledger.store.tables`: the ledger's tables, the append-only triggers, checkpoints kept;
* :mod:`~ledger.store.reader`: :class:`LedgerReader`, read-only access for everything else;
* :mod:`~ledger.store.rows`: stored rows as event and commit records;
* :mod:`~ledger.store.persistence`: the eventsourcing factory, connection pool and mapper;
* here: :class:`LedgerStore`, the write side, and its eventsourcing environment.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError as StoreIntegrityError
from eventsourcing.persistence import Mapper
from eventsourcing.utils import get_topic

from ledger.chain import CommitRecord
from ledger.errors import ConcurrencyError, UsageError
from ledger.events import LedgerEvent
from ledger.store.persistence import LedgerMapper, LedgerSQLiteFactory
from ledger.store.reader import SQLITE_MAGIC, LedgerReader
from ledger.store.recorder import LedgerSQLiteRecorder
from ledger.store.rows import commit_from_row
from ledger.store.seal import CommitSeal, UnsignedAppendError
from ledger.store.tables import APPEND_ONLY_TABLES, SCHEMA, save_checkpoint
from ledger.store.tip import BrokenTipError

__all__ = [
    "APPEND_ONLY_TABLES",
    "SCHEMA",
    "SQLITE_MAGIC",
    "BrokenTipError",
    "CommitSeal",
    "LedgerMapper",
    "LedgerReader",
    "LedgerSQLiteFactory",
    "LedgerSQLiteRecorder",
    "LedgerStore",
    "UnsignedAppendError",
    "commit_from_row",
    "save_checkpoint",
    "sqlite_env",
]


def sqlite_env(db_path: Path) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": get_topic(LedgerSQLiteFactory),
        "SQLITE_DBNAME": str(db_path),
        "CREATE_TABLE": "y",
        "SQLITE_LOCK_TIMEOUT": "30",
    }


class LedgerStore(Application[UUID]):
    """The write side: appends signed commits of pydantic events."""

    name = "TrialLedger"

    def __init__(self, db_path: Path) -> None:
        super().__init__(env=sqlite_env(db_path))
        self.db_path = db_path

    def construct_mapper(self) -> Mapper[UUID]:
        return LedgerMapper()

    @property
    def ledger_recorder(self) -> LedgerSQLiteRecorder:
        recorder = self.recorder
        if not isinstance(recorder, LedgerSQLiteRecorder):  # pragma: no cover - wiring error
            raise UsageError(f"unexpected recorder {type(recorder).__name__}")
        return recorder

    def append(self, events: Sequence[LedgerEvent], seal: CommitSeal) -> CommitRecord:
        """Store ``events`` as one signed commit; returns the commit (positions, signature)."""
        if not events:
            raise UsageError("nothing to append: a commit needs at least one event")
        try:
            # Straight to the event store: these are events, not aggregates, so the
            # Application.save path (protocol isinstance checks, snapshots, notifications)
            # has nothing to add.
            self.events.put(events, seal=seal)
        except StoreIntegrityError as e:
            raise ConcurrencyError(
                f"another commit extended the same record first ({e}); nothing was written, "
                "reload and try again"
            ) from None
        commit = self.ledger_recorder.last_commit
        if commit is None:  # pragma: no cover - recorder always sets it
            raise UsageError("the recorder did not report the commit")
        return commit

    def stream(self, originator_id: UUID) -> list[LedgerEvent]:
        """All events of one stream, in version order (decoded by the library's event store)."""
        return [e for e in self.events.get(originator_id) if isinstance(e, LedgerEvent)]

    def close(self) -> None:
        """Close, then fold the WAL back into the main file so that the file alone is whole.

        Best effort: a reader holding an older snapshot keeps later frames in the WAL, which
        SQLite folds in at the next checkpoint. Copy a live ledger with ``trial-ledger backup``.
        """
        self.factory.close()
        try:
            conn = sqlite3.connect(self.db_path, timeout=1.0)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
        except sqlite3.Error:
            pass  # busy or read-only: the WAL stays beside the file, which SQLite reads too
