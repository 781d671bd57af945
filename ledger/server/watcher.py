"""The head watcher: a thread of its own that notices each new commit and each new kept
checkpoint of the served ledger and hands them, in order, to the feed (:mod:`ledger.server.hub`).

It reads through a :class:`FeedReader` of its own (never the event loop's thread, never a
request's reader). Every ``poll_interval`` seconds it asks the store one cheap question, the
highest commit seq and the highest kept checkpoint size; only when either grew does it read
the new rows, every commit after the last one it announced (several commits between two looks
are all read, none skipped) and every checkpoint above the last size it announced (and not
above the last commit announced, so a checkpoint always follows its commit). On PostgreSQL
it also listens on the commit channel (:data:`~ledger.store.pg_tables.NOTIFY_CHANNEL`,
through the projections' own :class:`~projections.engine.follow.Listener`), so a commit is
looked at as soon as it is committed; the polling stays as the fallback and for
checkpoints, which are not notified. A notification only wakes the watcher: what it
announces is what the store holds.

A head that went back (fewer commits than already announced: rows deleted from the store) is
announced as an alarm, once; nothing the watcher reads is trusted further than that, since
the feed only says what landed (consumers verify it; the server's checkpointer verifies
before it signs).
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.errors import CheckpointError, LedgerError
from ledger.integrity.checkpoint import parse_checkpoint
from ledger.store import LedgerReader
from ledger.store.location import PostgresURL, StoreTarget

log = logging.getLogger("trial_ledger.server.feed")

PAGE = 500
"""Commits read (and handed on) at a time."""


@dataclass(frozen=True)
class CommitNotice:
    """A commit, as the feed announces it (the ``commit`` event)."""

    seq: int
    first_position: int
    last_position: int
    signer: str
    meaning: str
    recorded_at: str

    @property
    def tree_size(self) -> int:
        """The ledger's size once this commit landed."""
        return self.last_position

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "first_position": self.first_position,
            "last_position": self.last_position,
            "signer": self.signer,
            "meaning": self.meaning,
            "recorded_at": self.recorded_at,
            "tree_size": self.tree_size,
        }


@dataclass(frozen=True)
class CheckpointNotice:
    """A checkpoint kept in the ledger (the ``checkpoint`` event): its size, its base64
    RFC 9162 root as the note states it, and the C2SP signed note itself (unverified here:
    whoever relies on it verifies it with the ledger key)."""

    tree_size: int
    root: str
    note: str

    def to_json(self) -> dict[str, Any]:
        return {"tree_size": self.tree_size, "root": self.root, "note": self.note}


@dataclass(frozen=True)
class Alarm:
    """Something the server found wrong with the ledger (the ``alarm`` event)."""

    reason: str
    at: str

    def to_json(self) -> dict[str, Any]:
        return {"reason": self.reason, "at": self.at}


FeedItem = CommitNotice | CheckpointNotice | Alarm


def checkpoint_notice(tree_size: int, note: str) -> CheckpointNotice:
    """A kept checkpoint row as announced; :class:`CheckpointError` if its note is not a
    checkpoint of that size."""
    checkpoint, _ = parse_checkpoint(note)
    if checkpoint.tree_size != tree_size:
        raise CheckpointError(
            f"the note kept at tree size {tree_size} states tree size {checkpoint.tree_size}"
        )
    return CheckpointNotice(tree_size, base64.b64encode(checkpoint.root).decode(), note)


class FeedReader(LedgerReader):
    """A ledger reader with the feed's few questions (highest commit, kept checkpoints above
    a size), each one indexed query, on either store."""

    def head(self) -> tuple[int, int]:
        """(highest commit seq, highest kept checkpoint size), 0 for none."""
        row = self._conn.execute(
            "SELECT (SELECT MAX(seq) FROM ledger_commits),"
            " (SELECT MAX(tree_size) FROM ledger_checkpoints)"
        ).fetchone()
        return int(row[0] or 0), int(row[1] or 0)

    def commits_after(self, seq: int, limit: int = PAGE) -> list[CommitNotice]:
        """Up to ``limit`` commits after ``seq``, in seq order (one statement: consistent by
        itself; only the columns announced)."""
        rows = self._conn.execute(
            "SELECT seq, first_position, last_position, signer, meaning, recorded_at"
            " FROM ledger_commits WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        ).fetchall()
        return [
            CommitNotice(int(r[0]), int(r[1]), int(r[2]), str(r[3]), str(r[4]), str(r[5]))
            for r in rows
        ]

    def tree_size_of(self, seq: int) -> int | None:
        """The ledger's size once commit ``seq`` landed (0 before the first); None if the
        ledger holds no such commit."""
        if seq == 0:
            return 0
        row = self._conn.execute(
            "SELECT last_position FROM ledger_commits WHERE seq = ?", (seq,)
        ).fetchone()
        return None if row is None else int(row[0])

    def seq_at_size(self, tree_size: int) -> int | None:
        """The commit whose last position is ``tree_size`` (0 for size 0); None if none."""
        if tree_size == 0:
            return 0
        row = self._conn.execute(
            "SELECT seq FROM ledger_commits WHERE last_position = ?", (tree_size,)
        ).fetchone()
        return None if row is None else int(row[0])

    def checkpoint_rows(
        self, above: int, upto: int | None = None, *, newest_first: bool = False, limit: int = 0
    ) -> list[tuple[int, str]]:
        """Kept checkpoints (size, note) with ``above < size <= upto``, by size (the first
        ``limit`` of them, if given)."""
        order = "DESC" if newest_first else "ASC"
        rows = self._conn.execute(
            "SELECT tree_size, note FROM ledger_checkpoints WHERE tree_size > ?"
            f" AND tree_size <= ? ORDER BY tree_size {order} LIMIT ?",
            (above, 2**62 if upto is None else upto, limit or 2**62),
        ).fetchall()
        return [(int(r[0]), str(r[1])) for r in rows]

    def checkpoints_between(
        self, above: int, upto: int | None = None, limit: int = 0
    ) -> list[CheckpointNotice]:
        """Kept checkpoints with ``above < size <= upto`` as announced (the first ``limit``);
        a note that is no checkpoint of its size is left out (and logged)."""
        return list(announced(self.checkpoint_rows(above, upto, limit=limit)))


def announced(rows: Sequence[tuple[int, str]]) -> Iterator[CheckpointNotice]:
    """Kept checkpoint rows as announced, leaving out (and logging) any that is not valid."""
    for size, note in rows:
        try:
            yield checkpoint_notice(size, note)
        except CheckpointError as e:
            log.warning("kept checkpoint at tree size %d left out of the feed: %s", size, e)


Publish = Callable[[list[FeedItem], bool], None]
"""Hands a batch of items to the feed (and, if the flag says so, waits until the event loop
took them)."""


def _nowhere(items: list[FeedItem], wait: bool) -> None:
    log.debug("%d feed item(s) found before the feed was wired", len(items))


class HeadWatcher:
    """The watching thread (see the module docstring). :meth:`start` reads the head once, so
    what is already in the ledger is known before the first request; :meth:`stop` ends the
    thread and closes its reader."""

    def __init__(self, target: StoreTarget, interval: float) -> None:
        self.target = target
        self.interval = interval
        self.publish: Publish = _nowhere
        """Where new items go (set before :meth:`start`)."""
        self.reader = FeedReader(target)
        self.seq, self.checkpoint_size = self.reader.head()
        self.tree_size = self.reader.tree_size_of(self.seq) or 0
        """The ledger's size at the last commit announced."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trial-ledger head watcher")
        self._went_back = False
        self.on_commits: Callable[[], None] | None = None
        """Called (in this thread) after new commits were handed on: the checkpointer."""

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.reader.close()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            if isinstance(self.target, PostgresURL):
                self._listen(self.target)
            else:
                while not self._stop.wait(self.interval):
                    self._look_safely()
        except Exception:  # the watcher must never die silently
            log.exception("the head watcher stopped")

    def _listen(self, url: PostgresURL) -> None:
        from projections.engine.follow import Listener  # noqa: PLC0415 - PostgreSQL only

        listener = Listener(url)
        try:
            listener.connect()
            self._look_safely()
            while not self._stop.is_set():
                try:
                    listener.wait(self._stop, self.interval)
                except LedgerError as e:  # cannot connect again yet: poll meanwhile
                    log.warning("commit notifications unavailable (%s); polling", e)
                    self._stop.wait(self.interval)
                if not self._stop.is_set():
                    self._look_safely()
        finally:
            listener.close()

    def _look_safely(self) -> None:
        try:
            self.look()
        except LedgerError as e:  # a storage fault: look again next time
            log.warning("could not read the ledger's head: %s", e)

    def look(self) -> None:
        """One look at the head; hands on whatever is new. Few statements, no snapshot: every
        thread of a busy server waits for the interpreter between two, so each one saved is
        latency saved. A checkpoint is announced only once the commit that brought the ledger
        to its size has been."""
        seq, checkpoint_size = self.reader.head()
        if seq < self.seq:
            if not self._went_back:
                self._went_back = True
                self.publish([_head_went_back(self.seq, seq)], False)
            return
        before = self.seq
        while seq > self.seq:
            commits = self.reader.commits_after(self.seq)
            if not commits:
                break
            self.seq, self.tree_size = commits[-1].seq, commits[-1].tree_size
            self.publish(list(commits), len(commits) == PAGE)  # a long backlog: page by page
        if checkpoint_size > self.checkpoint_size:
            self._announce_checkpoints()
        if self.seq > before and self.on_commits is not None:
            self.on_commits()

    def _announce_checkpoints(self) -> None:
        rows = self.reader.checkpoint_rows(self.checkpoint_size, self.tree_size)
        items: list[FeedItem] = []
        for size, note in rows:
            try:
                items.append(checkpoint_notice(size, note))
            except CheckpointError as e:
                items.append(alarm(f"the checkpoint kept at tree size {size} is not valid: {e}"))
        if rows:
            self.checkpoint_size = rows[-1][0]
            self.publish(items, False)


def alarm(reason: str) -> Alarm:
    from datetime import UTC, datetime  # noqa: PLC0415 - only when something is wrong

    return Alarm(reason, datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"))


def _head_went_back(announced: int, now: int) -> Alarm:
    return alarm(
        f"the ledger's head went back from commit {announced} to commit {now}: commits "
        "announced earlier are no longer in the store"
    )
