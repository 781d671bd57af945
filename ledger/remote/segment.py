"""What a follower verifies before it applies anything: the mirror's verified rows followed by
the segment fetched from the server (kept in a staging file), read as one ``LedgerSource``
(:class:`MirrorWithSegment`), so the ledger's own verifier (``verify_ledger``, resumed from
the follower's verifier state) proves the segment exactly as it proves a ledger file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from ledger.chain import CommitRecord, EventRow
from ledger.store import LedgerReader


@dataclass
class MirrorWithSegment:
    """Positions ``1..held`` from ``mirror`` (None before the first sync, when ``held`` is
    0), positions after ``held`` from ``staging``; commits likewise (the staging file holds
    only the commits after the mirror's last). Kept checkpoints are the mirror's own (each
    one the follower verified), and the ledger id is the mirror's, or the staging file's on
    a first sync (every commit signature covers it)."""

    mirror: LedgerReader | None
    staging: LedgerReader
    held: int

    def size(self) -> int:
        """How many events there are (the verifier checks signatures in a worker process on
        the second core when a segment is large)."""
        return max(self.held, self.staging.size())

    def _parts(self, start: int) -> Iterator[tuple[LedgerReader, int]]:
        if self.mirror is not None and start <= self.held:
            yield self.mirror, start
        yield self.staging, max(start, self.held + 1)

    def iter_event_batches(self, start: int = 1) -> Iterator[list[tuple[Any, ...]]]:
        for reader, first in self._parts(start):
            for batch in reader.iter_event_batches(first):
                rows = [r for r in batch if r[0] <= self.held] if reader is self.mirror else batch
                if rows:
                    yield rows

    def iter_event_tuples(self, start: int = 1) -> Iterator[tuple[Any, ...]]:
        for batch in self.iter_event_batches(start):
            yield from batch

    def iter_events(self, start: int = 1, stop: int | None = None) -> Iterator[EventRow]:
        for reader, first in self._parts(start):
            upper = stop
            if reader is self.mirror:
                upper = self.held if stop is None else min(stop, self.held)
            yield from reader.iter_events(first, upper)

    def iter_commits(self, start_seq: int = 1) -> Iterator[CommitRecord]:
        last = 0
        if self.mirror is not None:
            for commit in self.mirror.iter_commits(start_seq):
                last = commit.header.seq
                yield commit
        yield from self.staging.iter_commits(max(start_seq, last + 1))

    def _reader_of(self, position: int) -> LedgerReader:
        if self.mirror is not None and position <= self.held:
            return self.mirror
        return self.staging

    def commit_at(self, position: int) -> CommitRecord | None:
        return self._reader_of(position).commit_at(position)

    def event_at(self, position: int) -> EventRow | None:
        return self._reader_of(position).event_at(position)

    def checkpoints(self) -> list[tuple[int, str, str]]:
        return self.mirror.checkpoints() if self.mirror is not None else []

    def first_event_of(self, originator_id: str) -> EventRow | None:
        found = self.mirror.first_event_of(originator_id) if self.mirror is not None else None
        return found if found is not None else self.staging.first_event_of(originator_id)

    def stream_rows(self, originator_id: str) -> list[EventRow]:
        held = self.mirror.stream_rows(originator_id) if self.mirror is not None else []
        held = [row for row in held if row.position <= self.held]
        return held + [
            row for row in self.staging.stream_rows(originator_id) if row.position > self.held
        ]

    def meta(self, name: str) -> str | None:
        found = self.mirror.meta(name) if self.mirror is not None else None
        return found if found is not None else self.staging.meta(name)

    @contextmanager
    def snapshot(self) -> Iterator[MirrorWithSegment]:
        with ExitStack() as stack:
            if self.mirror is not None:
                stack.enter_context(self.mirror.snapshot())
            stack.enter_context(self.staging.snapshot())
            yield self
