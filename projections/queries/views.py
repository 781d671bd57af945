"""The views a query reads: opened and caught up (:func:`open_views`), or kept current for
many threads at once (:class:`SharedViews`); and :class:`QueryError`, a refused parameter."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ledger.errors import UsageError
from ledger.store import LedgerReader
from ledger.store.location import StoreTarget
from projections.engine import FileViews, ProjectionEngine


class QueryError(UsageError):
    """A refused query parameter: ``parameter`` (as the functions here name it), ``value``
    and ``rule``; the message is worded as the CLI's option refusal."""

    def __init__(self, parameter: str, value: object, rule: str, message: str) -> None:
        self.parameter, self.value, self.rule = parameter, value, rule
        super().__init__(message)


def open_views(reader: LedgerReader, views: Path | None) -> ProjectionEngine:
    """The engine over ``reader``, its views brought up to date (each segment verified)."""
    engine = ProjectionEngine(reader, views)
    engine.catch_up()
    return engine


def tracked(engine: ProjectionEngine) -> int:
    """The position every view has caught up to (the ledger position the views show)."""
    return min(t.position for t in engine.status())


def views_word(engine: ProjectionEngine) -> str:
    """What messages call the views: the views file, or the views of a database schema."""
    return "the views file" if isinstance(engine.views, FileViews) else "the views"


class _ReadersWriter:
    """Many readers at once, or one writer alone."""

    def __init__(self) -> None:
        self._turn = threading.Condition()
        self._readers = 0
        self._writing = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._turn:
            self._turn.wait_for(lambda: not self._writing)
            self._readers += 1
        try:
            yield
        finally:
            with self._turn:
                self._readers -= 1
                self._turn.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._turn:
            self._turn.wait_for(lambda: not self._writing and self._readers == 0)
            self._writing = True
        try:
            yield
        finally:
            with self._turn:
                self._writing = False
                self._turn.notify_all()


class SharedViews:
    """One engine on the views for many threads (a server), caught up when the ledger moved.

    The engine reads the ledger through a reader of its own, used only by a catch-up (one at
    a time, and never while a query reads the views: a readers-writer lock); queries read
    the views through connections of their own and the ledger through ``reader_of()``, the
    calling thread's reader. A catch-up verifies what it consumes, as :func:`open_views`."""

    def __init__(
        self, db: StoreTarget, views: Path | None, reader_of: Callable[[], LedgerReader]
    ) -> None:
        self._reader = LedgerReader(db)
        self.engine = ProjectionEngine(self._reader, views)
        self._reader_of = reader_of
        self._catching_up = threading.Lock()
        self._lock = _ReadersWriter()
        self._position = -1

    def _fresh(self) -> None:
        head = self._reader_of().size()
        if self._position >= head:
            return
        with self._catching_up:
            if self._position >= head:
                return
            with self._lock.writing():
                self._position = self.engine.catch_up().to_position

    @contextmanager
    def reading(self) -> Iterator[tuple[LedgerReader, ProjectionEngine]]:
        """The thread's ledger reader and the engine, the views caught up with the ledger
        as it stood on entry; no catch-up runs until the block ends."""
        self._fresh()
        with self._lock.reading():
            yield self._reader_of(), self.engine

    def close(self) -> None:
        with self._lock.writing():
            self.engine.close()
            self._reader.close()
