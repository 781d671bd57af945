"""The commit chain a recorder writes, shared by the SQLite and PostgreSQL recorders.

Inside the insert transaction (after the store's write lock is held: ``BEGIN IMMEDIATE`` on
SQLite, ``LOCK TABLE ... IN EXCLUSIVE MODE`` on PostgreSQL) :meth:`CommitChainer._chain`
reads the chain head, re-proves the tip commit it extends (:mod:`ledger.store.tip`), gives
each event the next contiguous position, computes its leaf (``ledger.chain``), computes the
commit's Merkle root, signs the commit header with the caller's key and inserts the commit.
The SQL is written with ``?`` placeholders; the PostgreSQL recorder's cursor adapter turns them
into ``%s``. Each store inserts the event rows its own fastest way (:meth:`_insert_rows`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

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
from ledger.store.rows import Cursor, blob, commit_columns
from ledger.store.seal import CommitSeal, UnsignedAppendError, check_presigned_head
from ledger.store.tip import BrokenTipError, tip_commit, tip_rows, tip_signer_key


class CommitChainer:
    """Chains, Merkle-roots and signs each commit inside the recorder's insert transaction."""

    events_table_name: str

    def _init_chain(self) -> None:
        self.default_seal: CommitSeal | None = None
        self.last_commit: CommitRecord | None = None
        self._last_written: tuple[bytes, list[EventRow]] | None = None
        """The link and rows of ``last_commit`` as this recorder hashed and signed them."""
        self._ledger_id: str | None = None

    def _insert_rows(self, c: Cursor, rows: list[EventRow]) -> None:
        raise NotImplementedError  # pragma: no cover - each store inserts its own way

    def ledger_id(self, c: Cursor) -> str:
        if self._ledger_id is None:
            c.execute("SELECT value FROM ledger_meta WHERE name='ledger_id'")
            row = c.fetchone()
            if row is None:
                raise UsageError(
                    "this database holds no initialised ledger (run `trial-ledger init`)"
                )
            self._ledger_id = str(row[0])
        return self._ledger_id

    def _begin_ledger(self, c: Cursor, ledger_id: str) -> None:
        """Write the ledger id in the genesis commit's own transaction: a ledger is created
        whole (its id and its signed genesis event) or not at all."""
        c.execute("SELECT 1 FROM ledger_meta WHERE name='ledger_id'")
        if c.fetchone() is not None:
            raise UsageError("this database already holds a trial ledger; refusing to overwrite")
        c.execute("INSERT INTO ledger_meta (name, value) VALUES ('ledger_id', ?)", (ledger_id,))
        self._ledger_id = ledger_id

    def _chain(
        self,
        c: Cursor,
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> Sequence[int] | None:
        seal: CommitSeal | None = kwargs.get("seal") or self.default_seal
        if seal is None or (seal.signer is None and seal.presigned is None):
            raise UnsignedAppendError(
                f"refusing to store {len(stored_events)} event(s) without a signature: "
                "every append needs a signer (seal=CommitSeal(...))"
            )
        if not stored_events:
            return []
        new_ledger_id: str | None = kwargs.get("new_ledger_id")
        if new_ledger_id is not None:
            self._begin_ledger(c, new_ledger_id)
        ledger_id = self.ledger_id(c)
        head = self._read_head(c, seal)
        last_position, prev, last_seq, last_recorded = 0, ZERO_HASH, None, None
        if head is not None:
            last_position, last_seq = int(head[0]), head[2]
            prev = bytes(head[1])
            if head[19] is not None and int(head[19]) > last_position:
                raise BrokenTipError(
                    f"a checkpoint kept in the ledger covers {head[19]} events but the ledger "
                    f"holds {last_position}: signed events were removed; refusing to append "
                    "(nothing was written; run `trial-ledger verify`)"
                )
            last_recorded = self._check_tip(c, tuple(head), seal)
        seq = int(last_seq or 0) + 1
        recorded_at = _recorded_at(seal, seq, last_position, prev, last_recorded)
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
            signer=seal.key_id,
            meaning=seal.signed_meaning,
            recorded_at=recorded_at,
        )
        signature = seal.sign(header)  # a pre-signed one only if byte-identical
        self._write_commit(c, header, signature)
        self.last_commit = CommitRecord(header=header, signature=signature)
        self._last_written = (prev, written)
        return notification_ids

    def _head_sql(self) -> str:
        """The head, its commit, the newest commit, the registry version (of the stream given
        as the one parameter), the stored leaf before the head commit and the largest kept
        checkpoint's size, as one row."""
        t = self.events_table_name
        return (
            f"SELECT e.position, e.leaf_hash, e.commit_seq, c.seq, c.first_position,"
            f" c.last_position, c.prev_leaf, c.events_root, c.signer, c.meaning, c.recorded_at,"
            f" c.signature, (SELECT MAX(seq) FROM ledger_commits),"
            f" (SELECT MAX(originator_version) FROM {t} WHERE originator_id=?),"
            f" e.originator_id, e.originator_version, e.topic, e.state,"
            f" (SELECT leaf_hash FROM {t} WHERE position = c.first_position - 1),"
            f" (SELECT MAX(tree_size) FROM ledger_checkpoints)"
            f" FROM {t} e LEFT JOIN ledger_commits c ON c.seq = e.commit_seq"
            " ORDER BY e.position DESC LIMIT 1"
        )

    def _fetch_head(self, c: Cursor, seal: CommitSeal) -> Any:
        c.execute(self._head_sql(), (seal.registry_stream.hex if seal.registry_stream else "",))
        return c.fetchone()

    def _read_head(self, c: Cursor, seal: CommitSeal) -> Any:
        """The head row (:meth:`_head_sql`) under the write lock (None for an empty ledger);
        refused if the key registry changed meanwhile."""
        head = self._fetch_head(c, seal)
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
        c: Cursor,
        stored_events: Sequence[StoredEvent],
        seq: int,
        last_position: int,
        prev: bytes,
    ) -> tuple[list[bytes], list[EventRow], list[int]]:
        """Insert the events after ``last_position``, chained from ``prev``: their leaves,
        rows as written and notification ids."""
        written = chained_rows(stored_events, seq, last_position, prev)
        self._insert_rows(c, written)
        return [r.leaf_hash for r in written], written, [r.position for r in written]

    def _write_commit(self, c: Cursor, header: CommitHeader, signature: bytes) -> None:
        c.execute(
            "INSERT INTO ledger_commits (seq, first_position, last_position, prev_leaf,"
            " events_root, signer, meaning, recorded_at, signature) VALUES (?,?,?,?,?,?,?,?,?)",
            commit_columns(header, signature),
        )

    def _check_tip(self, c: Cursor, head: tuple[Any, ...], seal: CommitSeal) -> str:
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


def _recorded_at(
    seal: CommitSeal, seq: int, last_position: int, prev: bytes, last_recorded: str | None
) -> str:
    """The commit's recorded time: now (never before the head's), or, for a pre-signed
    commit, the time it was prepared with, once it is proved to extend exactly this head
    (refused before any row is written otherwise)."""
    if seal.presigned is not None:
        return check_presigned_head(
            seal.presigned,
            seq=seq,
            last_position=last_position,
            prev=prev,
            last_recorded=last_recorded,
        )
    recorded_at = created_at_utc(datetime.now(UTC))
    if last_recorded and recorded_at < last_recorded:
        recorded_at = str(last_recorded)  # recorded times never run backwards
    return recorded_at


def chained_rows(
    stored_events: Sequence[StoredEvent], seq: int, last_position: int, prev: bytes
) -> list[EventRow]:
    """The rows ``stored_events`` become as commit ``seq`` after ``last_position``, chained
    from ``prev`` (the leaf at ``last_position``): positions, leaves, as the recorder inserts
    them; also what a pre-signed commit is prepared from (:mod:`ledger.proposals`)."""
    rows: list[EventRow] = []
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
        rows.append(
            EventRow(position, originator_id, s.originator_version, s.topic, s.state, leaf, seq)
        )
        prev = leaf
    return rows
