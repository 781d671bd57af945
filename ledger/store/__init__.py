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
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import (
    IntegrityError as StoreIntegrityError,
)
from eventsourcing.persistence import (
    InterfaceError,
    JSONTranscoder,
    Mapper,
    Notification,
    StoredEvent,
)
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteFactory,
    SQLiteTransaction,
)
from eventsourcing.utils import get_topic

from ledger.chain import (
    ZERO_HASH,
    CommitHeader,
    CommitRecord,
    EventRow,
    leaf_hash_of,
    reprove_commit,
)
from ledger.errors import (
    ConcurrencyError,
    LedgerError,
    UsageError,
    VerificationError,
)
from ledger.events import LedgerEvent, created_at_utc, decode_event
from ledger.integrity import merkle
from ledger.integrity.canonical import canonical_json
from ledger.integrity.signing import Signer
from ledger.registry import KeyRegistry
from ledger.storage_errors import is_damage, sqlite_refusal


class UnsignedAppendError(LedgerError):
    """An append reached the recorder without a signer: refused, nothing stored."""


@dataclass(frozen=True)
class CommitSeal:
    """Who signs a commit and what the signature means.

    ``registry_stream``/``registry_version``: the key registry as the caller checked it; the
    recorder re-reads its version inside the insert transaction and refuses the commit if a key
    was registered, rotated or revoked in between (so authorisation is never checked against a
    stale registry).

    ``registry``: the registry itself, with which the recorder re-proves the signature of the
    tip commit it extends. Without one (the library's own recorder tests) the tip's events,
    links and root are still re-proved, but not who signed it.
    """

    signer: Signer
    meaning: str = "authorship"
    registry_stream: UUID | None = None
    registry_version: int | None = None
    registry: KeyRegistry | None = None


class BrokenTipError(VerificationError):
    """The commit a writer would extend fails its re-proof: nothing is appended on top of it."""


SCHEMA = (
    """CREATE TABLE IF NOT EXISTS ledger_commits (
        seq INTEGER PRIMARY KEY,
        first_position INTEGER NOT NULL,
        last_position INTEGER NOT NULL,
        prev_leaf BLOB NOT NULL,
        events_root BLOB NOT NULL,
        signer TEXT NOT NULL,
        meaning TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        signature BLOB NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS ledger_checkpoints (
        tree_size INTEGER PRIMARY KEY,
        note TEXT NOT NULL,
        frontier TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS ledger_meta (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL)""",
)
APPEND_ONLY_TABLES = ("stored_events", "ledger_commits", "ledger_checkpoints", "ledger_meta")


def _append_only_triggers() -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} "
        f"BEFORE {action} ON {table} BEGIN "
        f"SELECT RAISE(ABORT, 'the ledger is append-only: {action} on {table} refused'); "
        "END"
        for table in APPEND_ONLY_TABLES
        for action in ("UPDATE", "DELETE")
    ]


class _ImmediateTransaction(SQLiteTransaction):
    """``BEGIN IMMEDIATE``: take the write lock before the head is read (waiting up to the
    lock timeout), so the head a commit extends is the head it will be stored after."""

    def __enter__(self) -> SQLiteCursor:
        cursor = self.connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        return cursor


class LedgerSQLiteRecorder(SQLiteApplicationRecorder):
    """Application recorder that chains, Merkle-roots and signs each commit in its transaction."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name)
        self.insert_events_statement = (
            f"INSERT INTO {self.events_table_name} (originator_id, originator_version, topic,"
            " state, position, leaf_hash, commit_seq) VALUES (?,?,?,?,?,?,?)"
        )
        self.default_seal: CommitSeal | None = None
        self.last_commit: CommitRecord | None = None
        self._last_written: tuple[bytes, list[EventRow]] | None = None
        """The link and rows of ``last_commit`` as this recorder hashed and signed them."""
        self._ledger_id: str | None = None

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        with (
            self.datastore.get_connection(commit=True) as connection,
            _ImmediateTransaction(connection, commit=True) as c,
            c,
        ):
            return self._insert_events(c, stored_events, **kwargs)

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
            *_append_only_triggers(),
        ]

    def set_ledger_id(self, ledger_id: str) -> None:
        """Write the ledger id once (at ``init``); every commit header names it."""
        with self.datastore.transaction(commit=True) as c:
            c.execute("INSERT INTO ledger_meta (name, value) VALUES ('ledger_id', ?)", (ledger_id,))
        self._ledger_id = ledger_id

    def ledger_id(self, c: SQLiteCursor) -> str:
        if self._ledger_id is None:
            c.execute("SELECT value FROM ledger_meta WHERE name='ledger_id'")
            row = c.fetchone()
            if row is None:
                raise UsageError(
                    "this database holds no initialised ledger (run `trial-ledger init`)"
                )
            self._ledger_id = str(row[0])
        return self._ledger_id

    def _insert_events(
        self,
        c: SQLiteCursor,
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> Sequence[int] | None:
        seal: CommitSeal | None = kwargs.get("seal") or self.default_seal
        if seal is None:
            raise UnsignedAppendError(
                f"refusing to store {len(stored_events)} event(s) without a signature: "
                "every append needs a signer (seal=CommitSeal(...))"
            )
        if not stored_events:
            return []
        ledger_id = self.ledger_id(c)
        # The head, its commit, the newest commit and the registry version, under the write lock.
        t = self.events_table_name
        c.execute(
            f"SELECT e.position, e.leaf_hash, e.commit_seq, c.seq, c.first_position,"
            f" c.last_position, c.prev_leaf, c.events_root, c.signer, c.meaning, c.recorded_at,"
            f" c.signature, (SELECT MAX(seq) FROM ledger_commits),"
            f" (SELECT MAX(originator_version) FROM {t} WHERE originator_id=?),"
            f" e.originator_id, e.originator_version, e.topic, e.state,"
            f" (SELECT leaf_hash FROM {t} WHERE position = c.first_position - 1)"
            f" FROM {t} e LEFT JOIN ledger_commits c ON c.seq = e.commit_seq"
            " ORDER BY e.position DESC LIMIT 1",
            (seal.registry_stream.hex if seal.registry_stream else "",),
        )
        head = c.fetchone()
        if (
            head is not None
            and seal.registry_stream is not None
            and head[13] != (seal.registry_version)
        ):
            raise ConcurrencyError(
                f"the key registry changed while this commit was prepared (version "
                f"{seal.registry_version} expected, {head[13]} found); nothing was written"
            )
        last_position, prev, last_seq, last_recorded = 0, ZERO_HASH, None, None
        if head is not None:
            last_position, last_seq = int(head[0]), head[2]
            prev = bytes(head[1])
            last_recorded = self._check_tip(c, tuple(head), seal)
        seq = int(last_seq or 0) + 1
        recorded_at = created_at_utc(datetime.now(UTC))
        if last_recorded and recorded_at < last_recorded:
            recorded_at = str(last_recorded)  # recorded times never run backwards
        first_prev = prev
        leaves: list[bytes] = []
        written: list[EventRow] = []
        notification_ids: list[int] = []
        for offset, s in enumerate(stored_events, start=1):
            originator_id = (
                s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id
            )
            position = last_position + offset
            leaf = leaf_hash_of(
                commit=seq,
                originator_id=originator_id,
                originator_version=s.originator_version,
                position=position,
                prev=prev,
                state=s.state,
                topic=s.topic,
            )
            c.execute(
                self.insert_events_statement,
                (originator_id, s.originator_version, s.topic, s.state, position, leaf, seq),
            )
            notification_ids.append(c.lastrowid)
            leaves.append(leaf)
            written.append(
                EventRow(position, originator_id, s.originator_version, s.topic, s.state, leaf, seq)
            )
            prev = leaf
        header = CommitHeader(
            seq=seq,
            ledger_id=ledger_id,
            first_position=last_position + 1,
            last_position=last_position + len(leaves),
            prev_leaf=first_prev,
            events_root=merkle.root(leaves),
            signer=seal.signer.key_id,
            meaning=seal.meaning,
            recorded_at=recorded_at,
        )
        signature = seal.signer.sign(header.to_bytes())
        c.execute(
            "INSERT INTO ledger_commits (seq, first_position, last_position, prev_leaf,"
            " events_root, signer, meaning, recorded_at, signature) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                header.seq,
                header.first_position,
                header.last_position,
                header.prev_leaf,
                header.events_root,
                header.signer,
                header.meaning,
                header.recorded_at,
                signature,
            ),
        )
        self.last_commit = CommitRecord(header=header, signature=signature)
        self._last_written = (first_prev, written)
        return notification_ids

    def _check_tip(self, c: SQLiteCursor, head: tuple[Any, ...], seal: CommitSeal) -> str:
        """Re-prove the commit this append extends, inside the insert transaction; returns
        its recorded time.

        Its events are rehashed from their stored columns and chained from the stored leaf
        before them, their root must be the signed root, the commit must end at the head and
        be the newest, and its signature must verify under its signer's registered key. A
        commit this recorder wrote itself is proved by comparing the stored rows, header and
        signature with what it hashed and signed (no re-hash); the link below the tip is
        checked against the stored leaf before it. The whole chain stays ``verify``'s job;
        this stops a writer from building on a tip that was edited.
        """
        position, seq, newest = head[0], head[2], head[12]
        if head[3] is None:
            raise BrokenTipError(
                f"the last event (position {position}) claims commit {seq}, which is not "
                "stored; refusing to append on top of it (run `trial-ledger verify`)"
            )
        if newest != seq:
            raise BrokenTipError(
                f"the last event (position {position}) lies in commit {seq}, but commit "
                f"{newest} is the newest stored: signed events after it were removed; refusing "
                "to append (run `trial-ledger verify`)"
            )
        try:
            commit = commit_from_row(head[3:12], self.ledger_id(c))
        except (TypeError, ValueError) as e:
            raise BrokenTipError(
                f"commit {seq} at the head is malformed ({e}); refusing to append on top of it"
            ) from None
        first, last = commit.header.first_position, commit.header.last_position
        if last != position or not 1 <= first <= last:
            raise BrokenTipError(
                f"commit {seq} at the head covers positions {first}-{last} but the last event "
                f"is at {position}; refusing to append on top of it (run `trial-ledger verify`)"
            )
        if first == last:  # a one-event commit: the head query brought its row already
            fetched = [_event_row((position, *head[14:18], head[1], head[2]))]
        else:
            c.execute(
                f"SELECT position, originator_id, originator_version, topic, state, leaf_hash,"
                f" commit_seq FROM {self.events_table_name} WHERE position >= ? AND"
                " position <= ? ORDER BY position",
                (first, last),
            )
            fetched = [_event_row(tuple(r)) for r in c.fetchall()]
        prev = _blob(head[18]) if head[18] is not None else ZERO_HASH
        if commit == self.last_commit and (prev, fetched) == self._last_written:
            # Byte for byte what this recorder hashed and signed a moment ago: proved.
            return commit.header.recorded_at
        public: bytes | None = None
        if seal.registry is not None and commit != self.last_commit:  # field by field
            try:
                on = datetime.fromisoformat(commit.header.recorded_at[:10]).date()
                # The genesis commit is signed by the sponsor key its own TrialCreated names.
                genesis = seal.registry.keys.get(commit.header.signer) if first == 1 else None
                if genesis is not None and genesis.registered_at == 1:
                    public = genesis.public_raw
                else:
                    public = seal.registry.signer(commit.header.signer, first, on).public_raw
            except (LedgerError, ValueError) as e:
                raise BrokenTipError(
                    f"commit {seq} at the head is signed by {commit.header.signer}, which may not "
                    f"sign there ({e}); refusing to append on top of it"
                ) from None
        failure = reprove_commit(commit, fetched, prev, public)
        if failure is not None:
            raise BrokenTipError(
                f"the commit at the head fails its re-proof: {failure}; refusing to append on "
                "top of it (nothing was written; run `trial-ledger verify`)"
            )
        return commit.header.recorded_at


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


SQLITE_MAGIC = b"SQLite format 3\x00"


def _open_failure(db_path: Path, e: sqlite3.DatabaseError) -> LedgerError:
    """Why a ledger file cannot be opened: damaged (exit 1) or not a ledger at all (exit 2)."""
    try:
        with db_path.open("rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as os_error:
        return UsageError(f"--db {db_path}: cannot read the file ({os_error.strerror})")
    message = str(e)
    if not head:
        return UsageError(f"--db {db_path}: the file is empty, not a trial-ledger database")
    if head != SQLITE_MAGIC or "no such table" in message:
        return UsageError(f"--db {db_path}: not a trial-ledger database ({message})")
    if is_damage(message):
        return VerificationError(
            f"--db {db_path}: the ledger file is damaged ({message}); it cannot be read as "
            "the SQLite database it was (truncated or overwritten)"
        )
    return sqlite_refusal(e, f"--db {db_path}")  # read-only folder, I/O, locked: exit 2


@dataclass
class LedgerReader:
    """Read-only access to a ledger file for verification, proofs, listings and projections.

    Opens SQLite in ``mode=ro``: reading never creates or changes a file. Rows come back as
    plain tuples in position order, in batches, so memory stays flat on any ledger size.

    Consistent reads: inside :meth:`snapshot` (and inside ``with LedgerReader(...)``) every
    query reads one SQLite read transaction, the ledger as one commit left it, so a writer
    appending meanwhile can never make events and commits disagree. Outside a snapshot each
    query sees the latest commit (what the write side needs).
    """

    db_path: Path
    batch_size: int = 20_000
    _conn: sqlite3.Connection = field(init=False, repr=False)
    _depth: int = field(init=False, default=0, repr=False)

    def __post_init__(self) -> None:
        if not self.db_path.is_file():
            raise UsageError(f"--db {self.db_path}: no such ledger file")
        try:
            self._conn = sqlite3.connect(
                f"file:{self.db_path.resolve()}?mode=ro",
                uri=True,
                check_same_thread=False,
                isolation_level=None,
            )
            self._conn.execute("SELECT 1 FROM stored_events LIMIT 1")
            self._conn.execute("SELECT 1 FROM ledger_commits LIMIT 1")
        except sqlite3.DatabaseError as e:
            raise _open_failure(self.db_path, e) from None

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> LedgerReader:
        self._begin()
        return self

    def __exit__(self, *exc: object) -> None:
        self._end()
        self.close()

    @contextmanager
    def snapshot(self) -> Iterator[LedgerReader]:
        """Read one consistent state of the ledger for the duration (re-entrant)."""
        self._begin()
        try:
            yield self
        finally:
            self._end()

    def _begin(self) -> None:
        if self._depth == 0:
            self._conn.execute("BEGIN")
            # The read transaction (and its WAL snapshot) starts with the first read.
            self._conn.execute("SELECT 1 FROM stored_events LIMIT 1").fetchall()
        self._depth += 1

    def _end(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def meta(self, name: str) -> str | None:
        row = self._conn.execute("SELECT value FROM ledger_meta WHERE name=?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def size(self) -> int:
        row = self._conn.execute("SELECT MAX(position) FROM stored_events").fetchone()
        return int(row[0] or 0)

    def _fetch(self, sql: str, params: tuple[object, ...]) -> list[Any]:
        """Fetch rows; text damaged into invalid UTF-8 comes back as lone surrogates (which
        fail re-encoding in the verifier) instead of aborting the read."""
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as e:
            if "decode" not in str(e):
                raise
            self._conn.text_factory = _lenient_text
            try:
                return self._conn.execute(sql, params).fetchall()
            finally:
                self._conn.text_factory = str

    def iter_event_batches(self, start: int = 1) -> Iterator[list[tuple[Any, ...]]]:
        """:meth:`iter_event_tuples` a batch at a time (the verifier loops over lists)."""
        sql = (
            "SELECT position, originator_id, originator_version, topic, state, leaf_hash,"
            " commit_seq FROM stored_events WHERE position >= ? ORDER BY position LIMIT ?"
        )
        nxt = start
        while True:
            rows = self._fetch(sql, (nxt, self.batch_size))
            if rows:
                yield rows
            if len(rows) < self.batch_size:
                return
            nxt = int(rows[-1][0]) + 1

    def iter_event_tuples(self, start: int = 1) -> Iterator[tuple[Any, ...]]:
        """Raw rows (position, originator_id, version, topic, state, leaf_hash, commit_seq)
        in position order: the verifier's hot path, with no per-row object."""
        for batch in self.iter_event_batches(start):
            yield from batch

    def iter_events(self, start: int = 1, stop: int | None = None) -> Iterator[EventRow]:
        """Events with ``start <= position <= stop`` in position order (gaps are not filled)."""
        sql = (
            "SELECT position, originator_id, originator_version, topic, state, leaf_hash,"
            " commit_seq FROM stored_events WHERE position >= ? AND position <= ?"
            " ORDER BY position LIMIT ?"
        )
        upper = stop if stop is not None else 2**62
        nxt = start
        while True:
            rows = self._fetch(sql, (nxt, upper, self.batch_size))
            for r in rows:
                yield _event_row(r)
            if len(rows) < self.batch_size:
                return
            nxt = int(rows[-1][0]) + 1

    def iter_commits(self, start_seq: int = 1) -> Iterator[CommitRecord]:
        sql = (
            "SELECT seq, first_position, last_position, prev_leaf, events_root, signer, meaning,"
            " recorded_at, signature FROM ledger_commits WHERE seq >= ? ORDER BY seq LIMIT ?"
        )
        ledger_id = self.meta("ledger_id") or ""
        nxt = start_seq
        while True:
            rows = self._conn.execute(sql, (nxt, self.batch_size)).fetchall()
            for r in rows:
                yield commit_from_row(r, ledger_id)
            if len(rows) < self.batch_size:
                return
            nxt = int(rows[-1][0]) + 1

    def commit_at(self, position: int) -> CommitRecord | None:
        """The commit that holds ``position``: found through the event's commit number, or, if
        that event is gone, the last commit starting at or before it."""
        columns = (
            "seq, first_position, last_position, prev_leaf, events_root, signer, meaning,"
            " recorded_at, signature"
        )
        row = self._conn.execute(
            f"SELECT {columns} FROM ledger_commits WHERE seq ="
            " (SELECT commit_seq FROM stored_events WHERE position = ?)",
            (position,),
        ).fetchone()
        if row is None or not row[1] <= position <= row[2]:
            row = self._conn.execute(
                f"SELECT {columns} FROM ledger_commits WHERE first_position <= ?"
                " ORDER BY first_position DESC LIMIT 1",
                (position,),
            ).fetchone()
        return None if row is None else commit_from_row(row, self.meta("ledger_id") or "")

    def event_at(self, position: int) -> EventRow | None:
        return next(self.iter_events(position, position), None)

    def first_event_of(self, originator_id: str) -> EventRow | None:
        row = self._conn.execute(
            "SELECT position FROM stored_events WHERE originator_id=? AND originator_version=1",
            (originator_id,),
        ).fetchone()
        return None if row is None else self.event_at(int(row[0]))

    def stream_rows(self, originator_id: str, after_version: int = 0) -> list[EventRow]:
        """One stream's events (those after ``after_version``), in version order."""
        rows = self._fetch(
            "SELECT position, originator_id, originator_version, topic, state, leaf_hash,"
            " commit_seq FROM stored_events WHERE originator_id=? AND originator_version > ?"
            " ORDER BY originator_version",
            (originator_id, after_version),
        )
        return [_event_row(r) for r in rows]

    def subject_rows(self, originator_id: str, after: int, upto: int) -> list[EventRow]:
        """One stream's events at positions in (``after``, ``upto``], in version order."""
        rows = self._fetch(
            "SELECT position, originator_id, originator_version, topic, state, leaf_hash,"
            " commit_seq FROM stored_events WHERE originator_id=? AND position > ?"
            " AND position <= ? ORDER BY originator_version",
            (originator_id, after, upto),
        )
        return [_event_row(r) for r in rows]

    def leaves_at(self, positions: list[int]) -> dict[int, bytes]:
        """The stored leaf hash at each of ``positions`` (those that exist)."""
        found: dict[int, bytes] = {}
        for i in range(0, len(positions), 500):
            chunk = positions[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for position, leaf in self._fetch(
                f"SELECT position, leaf_hash FROM stored_events WHERE position IN ({marks})",
                tuple(chunk),
            ):
                found[int(position)] = bytes(leaf)
        return found

    def stream_version(self, originator_id: str) -> int:
        row = self._conn.execute(
            "SELECT MAX(originator_version) FROM stored_events WHERE originator_id=?",
            (originator_id,),
        ).fetchone()
        return int(row[0] or 0)

    def leaf_hashes(self, start: int = 1, stop: int | None = None) -> Iterator[bytes]:
        sql = (
            "SELECT position, leaf_hash FROM stored_events WHERE position >= ? AND position <= ?"
            " ORDER BY position LIMIT ?"
        )
        upper = stop if stop is not None else 2**62
        nxt = start
        while True:
            rows = self._conn.execute(sql, (nxt, upper, self.batch_size * 5)).fetchall()
            for r in rows:
                yield bytes(r[1])
            if len(rows) < self.batch_size * 5:
                return
            nxt = int(rows[-1][0]) + 1

    def checkpoints(self) -> list[tuple[int, str, str]]:
        """Stored checkpoints as (tree size, signed note, frontier JSON), smallest first."""
        return [
            (int(r[0]), str(r[1]), str(r[2]))
            for r in self._conn.execute(
                "SELECT tree_size, note, frontier FROM ledger_checkpoints ORDER BY tree_size"
            ).fetchall()
        ]


def _event_row(r: Sequence[Any]) -> EventRow:
    """A stored row (position, originator_id, version, topic, state, leaf_hash, commit_seq)."""
    return EventRow(
        position=r[0],
        originator_id=r[1],
        originator_version=r[2],
        topic=r[3],
        state=_blob(r[4]),
        leaf_hash=_blob(r[5]),
        commit_seq=r[6],
    )


def _blob(value: object) -> bytes:
    """A BLOB column as bytes, whatever an intruder stored there (text, number, NULL)."""
    if isinstance(value, bytes):
        return value
    if value is None:
        return b""
    return str(value).encode("utf-8", "surrogateescape")


def _lenient_text(raw: bytes) -> str:
    """Decode stored text; invalid UTF-8 survives as lone surrogates, which fail re-encoding."""
    return raw.decode("utf-8", "surrogateescape")


def commit_from_row(r: Sequence[Any], ledger_id: str) -> CommitRecord:
    return CommitRecord(
        header=CommitHeader(
            seq=int(r[0]),
            first_position=int(r[1]),
            last_position=int(r[2]),
            prev_leaf=bytes(r[3]),
            events_root=bytes(r[4]),
            signer=str(r[5]),
            meaning=str(r[6]),
            recorded_at=str(r[7]),
            ledger_id=ledger_id,
        ),
        signature=bytes(r[8]),
    )


def save_checkpoint(db_path: Path, tree_size: int, note: str, frontier_json: str) -> None:
    """Keep a signed checkpoint (and the Merkle frontier at its size) inside the ledger file."""
    conn = sqlite3.connect(db_path)
    try:
        with conn:
            conn.execute(
                "INSERT OR IGNORE INTO ledger_checkpoints (tree_size, note, frontier)"
                " VALUES (?,?,?)",
                (tree_size, note, frontier_json),
            )
    finally:
        conn.close()
