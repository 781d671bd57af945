"""The feed's long-lived parts (:class:`Feed`: the head watcher, the hub, the checkpointer)
and what a subscriber reads from the ledger itself: where it resumes (:class:`Cursor`) and
the commits and checkpoints after that point (:meth:`Feed.read_after`), so that a client that
reconnects loses nothing whatever it missed live."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from ledger.server.checkpointer import Checkpointer
from ledger.server.hub import Hub
from ledger.server.problems import ProblemError
from ledger.server.state import ServerState
from ledger.server.watcher import (
    CheckpointNotice,
    CommitNotice,
    FeedItem,
    FeedReader,
    HeadWatcher,
    announced,
)

EXTENSION = "feed"
"""The feed's key in :attr:`ServerState.extensions`."""


@dataclass
class Cursor:
    """Where a subscriber stands: the last commit it has (``seq``, 0 for none) and the size
    above which kept checkpoints are new to it (``checkpoint_size``)."""

    seq: int
    checkpoint_size: int

    def passed(self, item: FeedItem) -> None:
        if isinstance(item, CommitNotice):
            self.seq = max(self.seq, item.seq)
        elif isinstance(item, CheckpointNotice):
            self.checkpoint_size = max(self.checkpoint_size, item.tree_size)


def _refused(field: str, value: str, rule: str) -> ProblemError:
    return ProblemError(
        400, "bad-request", f"{field}={value!r} refused: {rule}", field=field, value=value
    )


class Feed:
    """What :func:`ledger.server.api.feed.start` sets up; one reader of the ledger per worker
    thread for the subscribers' reads (the watcher has its own)."""

    def __init__(
        self, state: ServerState, watcher: HeadWatcher, hub: Hub, checkpointer: Checkpointer | None
    ) -> None:
        self.state = state
        self.watcher = watcher
        self.hub = hub
        self.checkpointer = checkpointer
        self._local = threading.local()
        self._readers: list[FeedReader] = []
        self._lock = threading.Lock()
        self._restore_signals: Callable[[], None] = lambda: None

    def reader(self) -> FeedReader:
        """This thread's reader (opened on first use)."""
        reader: FeedReader | None = getattr(self._local, "reader", None)
        if reader is None:
            reader = FeedReader(self.state.config.db)
            self._local.reader = reader
            with self._lock:
                self._readers.append(reader)
        return reader

    def live_cursor(self) -> Cursor:
        """A new subscriber's place with no resume point: what was last announced."""
        return Cursor(self.hub.seq, self.hub.checkpoint_size)

    def resume(
        self, after_seq: int | None, last_event_id: str | None
    ) -> tuple[Cursor, CheckpointNotice | None] | None:
        """Where a subscriber resumes (None: live only) and the newest kept checkpoint of what
        it holds, sent again first (it may have been signed after the client went away).

        ``Last-Event-ID`` (sent by a reconnecting EventSource) wins over ``after_seq`` (the URL
        it was first opened with): a commit seq, or ``cp-<tree size>`` after a checkpoint."""
        reader = self.reader()
        with reader.snapshot():
            if last_event_id is not None:
                return self._resume_from_id(reader, last_event_id.strip())
            if after_seq is None:
                return None
            return self._resume_after(reader, after_seq, "after_seq")

    def _resume_from_id(
        self, reader: FeedReader, value: str
    ) -> tuple[Cursor, CheckpointNotice | None]:
        if value.startswith("cp-") and value[3:].isdigit() and value[3:].isascii():
            size = int(value[3:])
            seq = reader.seq_at_size(size)
            if seq is None:
                raise _refused(
                    "Last-Event-ID", value, f"no commit of this ledger ends at tree size {size}"
                )
            return Cursor(seq, size), None
        if value.isdigit() and value.isascii():
            return self._resume_after(reader, int(value), "Last-Event-ID")
        raise _refused(
            "Last-Event-ID",
            value,
            "expected an id this feed sends: a commit seq (digits) or cp-<tree size>",
        )

    def _resume_after(
        self, reader: FeedReader, seq: int, field: str
    ) -> tuple[Cursor, CheckpointNotice | None]:
        size = reader.tree_size_of(seq)
        if size is None:
            head, _ = reader.head()
            raise _refused(
                field, str(seq), f"the ledger holds {head} commits; resume after at most {head}"
            )
        rows = reader.checkpoint_rows(0, size, newest_first=True, limit=1)
        return Cursor(seq, size), next(announced(rows), None)

    def check_after(self, seq: int, field: str = "after_seq") -> int:
        """The tree size at commit ``seq``; refused if the ledger has no such commit."""
        reader = self.reader()
        size = reader.tree_size_of(seq)
        if size is None:
            head, _ = reader.head()
            raise _refused(
                field, str(seq), f"the ledger holds {head} commits; ask after at most {head}"
            )
        return size

    def read_after(
        self, cursor: Cursor, limit: int
    ) -> tuple[list[CommitNotice], list[CheckpointNotice]]:
        """From one snapshot: up to ``limit`` commits after ``cursor.seq`` and up to ``limit``
        kept checkpoints above ``cursor.checkpoint_size`` (up to the last commit read, when
        the commits were cut at ``limit``)."""
        reader = self.reader()
        with reader.snapshot():
            commits = reader.commits_after(cursor.seq, limit)
            upto = commits[-1].tree_size if len(commits) == limit else None
            checkpoints = reader.checkpoints_between(cursor.checkpoint_size, upto, limit)
        return commits, checkpoints

    def end_streams_on_exit_signals(self) -> None:
        """End every stream when the server is told to stop (SIGINT, SIGTERM), before the
        server waits for open responses to finish (which a stream never does by itself).

        The handlers the server installed are kept and called after; only in the main thread
        (where the server's own handlers are)."""
        if threading.current_thread() is not threading.main_thread():
            return
        installed: dict[int, tuple[object, object]] = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(signum)
            if not callable(previous):
                continue

            def chained(
                number: int, frame: FrameType | None, _previous: Callable[..., object] = previous
            ) -> None:
                self.hub.close_from_thread()
                _previous(number, frame)

            signal.signal(signum, chained)
            installed[signum] = (previous, chained)

        def restore() -> None:
            for signum, (previous, chained) in installed.items():
                if signal.getsignal(signum) is chained:
                    signal.signal(signum, previous)  # type: ignore[arg-type]

        self._restore_signals = restore

    def restore_signals(self) -> None:
        """Put back the handlers found at start (in the thread that installed them)."""
        self._restore_signals()

    def close(self) -> None:
        """Stop the threads and close the readers (after :meth:`Hub.close` and
        :meth:`restore_signals`, on the loop)."""
        self.watcher.stop()
        if self.checkpointer is not None:
            self.checkpointer.stop()
        with self._lock:
            readers, self._readers = self._readers, []
        for reader in readers:
            reader.close()


def merged(
    commits: list[CommitNotice], checkpoints: list[CheckpointNotice]
) -> list[CommitNotice | CheckpointNotice]:
    """Commits and checkpoints in ledger order: a checkpoint right after the commit that
    brought the ledger to its size."""
    items: list[CommitNotice | CheckpointNotice] = [*commits, *checkpoints]
    return sorted(items, key=lambda i: (i.tree_size, isinstance(i, CheckpointNotice)))
