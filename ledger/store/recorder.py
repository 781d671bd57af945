"""The application recorder: chains, Merkle-roots and signs each commit in its transaction.

``LedgerSQLiteRecorder`` extends eventsourcing's ``SQLiteApplicationRecorder``. Inside the
same transaction that inserts the events it reads the chain head, re-proves the tip commit it
extends (:mod:`ledger.store.tip`), gives each event the next contiguous position, computes its
leaf (``ledger.chain``), computes the commit's Merkle root, signs the commit header with the
caller's key and inserts the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteTransaction,
)

from ledger.chain import (
    ZERO_HASH,
    CommitHeader,
    CommitRecord,
    EventRow,
    leaf_hash_of,
    reprove_commit,
)
from ledger.errors import ConcurrencyError, UsageError
from ledger.events import created_at_utc
from ledger.integrity import merkle
from ledger.store.rows import blob
from ledger.store.seal import CommitSeal, UnsignedAppendError
from ledger.store.tables import SCHEMA, append_only_triggers
from ledger.store.tip import BrokenTipError, tip_commit, tip_rows, tip_signer_key


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
            *append_only_triggers(),
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
        head = self._read_head(c, seal)
        last_position, prev, last_seq, last_recorded = 0, ZERO_HASH, None, None
        if head is not None:
            last_position, last_seq = int(head[0]), head[2]
            prev = bytes(head[1])
            last_recorded = self._check_tip(c, tuple(head), seal)
        seq = int(last_seq or 0) + 1
        recorded_at = created_at_utc(datetime.now(UTC))
        if last_recorded and recorded_at < last_recorded:
            recorded_at = str(last_recorded)  # recorded times never run backwards
        leaves, written, notification_ids = self._write_events(
            c, stored_events, seq, last_position, prev
        )
        header = CommitHeader(
            seq=seq,
            ledger_id=ledger_id,
            first_position=last_position + 1,
            last_position=last_position + len(leaves),
            prev_leaf=prev,
            events_root=merkle.root(leaves),
            signer=seal.signer.key_id,
            meaning=seal.meaning,
            recorded_at=recorded_at,
        )
        signature = seal.signer.sign(header.to_bytes())
        self._write_commit(c, header, signature)
        self.last_commit = CommitRecord(header=header, signature=signature)
        self._last_written = (prev, written)
        return notification_ids

    def _read_head(self, c: SQLiteCursor, seal: CommitSeal) -> Any:
        """The head, its commit, the newest commit and the registry version, under the write
        lock (None for an empty ledger); refused if the key registry changed meanwhile."""
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
        return head

    def _write_events(
        self,
        c: SQLiteCursor,
        stored_events: Sequence[StoredEvent],
        seq: int,
        last_position: int,
        prev: bytes,
    ) -> tuple[list[bytes], list[EventRow], list[int]]:
        """Insert the events after ``last_position``, chained from ``prev``: their leaves,
        rows as written and notification ids."""
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
        return leaves, written, notification_ids

    @staticmethod
    def _write_commit(c: SQLiteCursor, header: CommitHeader, signature: bytes) -> None:
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
        commit = tip_commit(head, self.ledger_id(c))
        fetched = tip_rows(c, self.events_table_name, head, commit)
        prev = blob(head[18]) if head[18] is not None else ZERO_HASH
        if commit == self.last_commit and (prev, fetched) == self._last_written:
            # Byte for byte what this recorder hashed and signed a moment ago: proved.
            return commit.header.recorded_at
        public: bytes | None = None
        if seal.registry is not None and commit != self.last_commit:  # field by field
            public = tip_signer_key(seal.registry, commit)
        failure = reprove_commit(commit, fetched, prev, public)
        if failure is not None:
            raise BrokenTipError(
                f"the commit at the head fails its re-proof: {failure}; refusing to append on "
                "top of it (nothing was written; run `trial-ledger verify`)"
            )
        return commit.header.recorded_at
