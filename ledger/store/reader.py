"""Read-only access to a ledger file: :class:`LedgerReader`, for verification, proofs,
listings and projections (``mode=ro``, batched rows, consistent snapshots)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from ledger.chain import CommitRecord, EventRow
from ledger.errors import LedgerError, UsageError, VerificationError
from ledger.storage_errors import is_damage, sqlite_refusal
from ledger.store.location import PostgresURL, StoreTarget
from ledger.store.rows import commit_from_row, event_row

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

    db_path: StoreTarget
    batch_size: int = 20_000
    _conn: Any = field(init=False, repr=False)
    """A ``sqlite3.Connection``, or :class:`~ledger.store.pg_reader.PgConnection`."""
    _depth: int = field(init=False, default=0, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.db_path, PostgresURL):
            from ledger.store.pg_reader import open_postgres  # noqa: PLC0415 - PostgreSQL only

            self._conn = open_postgres(self.db_path)
            return
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

    @property
    def is_postgres(self) -> bool:
        return isinstance(self.db_path, PostgresURL)

    @property
    def file_path(self) -> Path:
        """The ledger file (refused for a PostgreSQL store, which has none)."""
        if isinstance(self.db_path, PostgresURL):
            raise UsageError(f"--db {self.db_path}: a PostgreSQL ledger is not a file")
        return self.db_path

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
            return cast("list[Any]", self._conn.execute(sql, params).fetchall())
        except sqlite3.OperationalError as e:
            if "decode" not in str(e) or self.is_postgres:
                raise
            self._conn.text_factory = _lenient_text
            try:
                return cast("list[Any]", self._conn.execute(sql, params).fetchall())
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
                yield event_row(r)
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
        return [event_row(r) for r in rows]

    def subject_rows(self, originator_id: str, after: int, upto: int) -> list[EventRow]:
        """One stream's events at positions in (``after``, ``upto``], in version order."""
        rows = self._fetch(
            "SELECT position, originator_id, originator_version, topic, state, leaf_hash,"
            " commit_seq FROM stored_events WHERE originator_id=? AND position > ?"
            " AND position <= ? ORDER BY originator_version",
            (originator_id, after, upto),
        )
        return [event_row(r) for r in rows]

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


def _lenient_text(raw: bytes) -> str:
    """Decode stored text; invalid UTF-8 survives as lone surrogates, which fail re-encoding."""
    return raw.decode("utf-8", "surrogateescape")
