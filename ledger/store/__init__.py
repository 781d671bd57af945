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

import getpass
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError as StoreIntegrityError
from eventsourcing.persistence import Mapper
from eventsourcing.utils import get_topic

from ledger.chain import CommitRecord
from ledger.errors import ConcurrencyError, UsageError
from ledger.events import LedgerEvent
from ledger.store.chaining import CommitChainer
from ledger.store.location import LEDGER_SCHEMA, PostgresURL, StoreTarget
from ledger.store.persistence import LedgerMapper, LedgerSQLiteFactory
from ledger.store.reader import SQLITE_MAGIC, LedgerReader
from ledger.store.recorder import LedgerSQLiteRecorder
from ledger.store.rows import commit_from_row
from ledger.store.seal import CommitSeal, UnsignedAppendError
from ledger.store.tables import APPEND_ONLY_TABLES, SCHEMA, save_checkpoint
from ledger.store.tip import BrokenTipError

if TYPE_CHECKING:
    from ledger.store.pg_recorder import LedgerPostgresRecorder

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
    "check_new_store",
    "commit_from_row",
    "save_checkpoint",
    "sqlite_env",
]


LOCK_TIMEOUT_SECONDS = 30
"""How long an append waits for the store's write lock before it is refused as busy."""


def sqlite_env(db_path: Path) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": get_topic(LedgerSQLiteFactory),
        "SQLITE_DBNAME": str(db_path),
        "CREATE_TABLE": "y",
        "SQLITE_LOCK_TIMEOUT": str(LOCK_TIMEOUT_SECONDS),
    }


def postgres_env(url: PostgresURL, *, create: bool = False) -> dict[str, str]:
    """eventsourcing's PostgreSQL settings for ``url``: the ledger's schema, text originator
    ids (the hex the leaves hash), one pooled connection, the lock timeout; tables are created
    only by ``init`` (``create``), never by a writer (which has no right to)."""
    from ledger.store.pg_recorder import CONNINFO_ENV, LedgerPostgresFactory  # noqa: PLC0415

    p = url.params
    return {
        "PERSISTENCE_MODULE": get_topic(LedgerPostgresFactory),
        "POSTGRES_DBNAME": p["dbname"],
        "POSTGRES_HOST": p.get("host", "localhost"),
        "POSTGRES_PORT": p.get("port", "5432"),
        "POSTGRES_USER": p.get("user", "") or getpass.getuser(),
        "POSTGRES_PASSWORD": p.get("password", ""),
        CONNINFO_ENV: url.conninfo(),
        "POSTGRES_SCHEMA": LEDGER_SCHEMA,
        "ORIGINATOR_ID_TYPE": "text",
        "POSTGRES_LOCK_TIMEOUT": str(LOCK_TIMEOUT_SECONDS),
        "POSTGRES_POOL_SIZE": "1",
        "POSTGRES_PRE_PING": "y",  # a pooled connection lost to a restart is replaced
        "CREATE_TABLE": "y" if create else "n",
    }


def store_env(target: StoreTarget, *, create: bool = False) -> dict[str, str]:
    """The store's settings, each also under the application's prefixed name
    (``TRIALLEDGER_...``), which eventsourcing reads first: a variable of that name left in the
    user's environment cannot redirect the store."""
    if isinstance(target, PostgresURL):
        env = postgres_env(target, create=create)
    else:
        env = sqlite_env(target)
    prefix = LedgerStore.name.upper() + "_"
    return {**env, **{prefix + key: value for key, value in env.items()}}


class LedgerStore(Application[UUID]):
    """The write side: appends signed commits of pydantic events."""

    name = "TrialLedger"

    def __init__(self, db_path: StoreTarget, *, create: bool = False) -> None:
        super().__init__(env=store_env(db_path, create=create))
        self.db_path = db_path

    def construct_mapper(self) -> Mapper[UUID]:
        return LedgerMapper()

    @property
    def ledger_recorder(self) -> LedgerSQLiteRecorder | LedgerPostgresRecorder:
        recorder = self.recorder
        if not isinstance(recorder, CommitChainer):  # pragma: no cover - wiring error
            raise UsageError(f"unexpected recorder {type(recorder).__name__}")
        return recorder  # type: ignore[return-value]

    def append(
        self, events: Sequence[LedgerEvent], seal: CommitSeal, *, new_ledger_id: str | None = None
    ) -> CommitRecord:
        """Store ``events`` as one signed commit; returns the commit (positions, signature).

        ``new_ledger_id``: the genesis commit, which writes the ledger id in its transaction.
        """
        if not events:
            raise UsageError("nothing to append: a commit needs at least one event")
        try:
            # Straight to the event store: these are events, not aggregates, so the
            # Application.save path (protocol isinstance checks, snapshots, notifications)
            # has nothing to add.
            if new_ledger_id is None:
                self.events.put(events, seal=seal)
            else:
                self.events.put(events, seal=seal, new_ledger_id=new_ledger_id)
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
        if not isinstance(self.db_path, Path):
            return  # PostgreSQL: nothing beside the database to fold back
        try:
            conn = sqlite3.connect(self.db_path, timeout=1.0)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
        except sqlite3.Error:
            pass  # busy or read-only: the WAL stays beside the file, which SQLite reads too


def check_new_store(target: StoreTarget) -> bool:
    """Refuse to create a ledger over an existing one; whether the tables must be created."""
    if isinstance(target, PostgresURL):
        from ledger.store.pg_reader import ledger_state  # noqa: PLC0415 - PostgreSQL only

        state = ledger_state(target)
        if state == "initialised":
            raise UsageError(
                f"--db {target}: this database already holds a trial ledger; refusing to overwrite"
            )
        return state == "absent"
    if target.exists():
        raise UsageError(f"--db {target}: a file already exists there; refusing to overwrite")
    if not target.parent.is_dir():
        raise UsageError(f"--db {target}: folder {target.parent} does not exist")
    return True
