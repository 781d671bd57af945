"""What catch-up and rebuild share: verifying a segment and consuming it, event by event.

A segment (positions after the lowest tracked one, up to ``head``) is verified by
``ledger.verify.verify_from`` before anything consumed from it becomes visible: first and then
consumed when it is short, in a child process while the parent projects when it holds at least
``parallel_threshold`` events (two cores: verification is hash- and signature-bound, projection
decode- and SQLite-bound); on PostgreSQL a short segment is verified in the very read snapshot
the consumer reads, a long one in a child process of its own connection. Consuming reads
``iter_event_tuples`` in position order, decodes each state once (:mod:`projections.decoding`),
hands it to the projections that handle its topic, and every ``batch_size`` events flushes
each projection's view rows and its tracking row.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from ledger.errors import VerificationError
from ledger.store import LedgerReader
from ledger.store.location import PostgresURL, StoreTarget, parse_store
from ledger.verify import verify_from
from projections.base import Context, Handler, Projection
from projections.connection import ViewsConnection
from projections.decoding import raw_payload
from projections.engine.tracking import CatchUpReport, Tracking

ProgressCallback = Callable[[int, int], None]
"""Called with (events consumed so far, total events to consume)."""

PROGRESS_CALLS = 200
"""At most this many progress reports while consuming (and one more at the end)."""


class Progress:
    """Reports ``(done, total)`` each time another ``total / PROGRESS_CALLS`` events are done."""

    def __init__(self, callback: ProgressCallback, total: int) -> None:
        self.callback = callback
        self.total = total
        self.step = max(-(-total // PROGRESS_CALLS), 1)
        self.base = 0  # events consumed before the current run
        self.next = self.step

    def until_next(self, done_in_run: int) -> int:
        """Report if a report is due; how many events remain until the next one (>= 1)."""
        done = self.base + done_in_run
        if done >= self.next:
            self.callback(done, self.total)
            self.next = done + self.step
        return self.next - done

    def finish(self, done: int) -> None:
        self.callback(done, self.total)


def store_text(target: StoreTarget) -> str:
    """The store as :func:`verify_segment` takes it (a URL with its password, if it has one)."""
    return target.conninfo() if isinstance(target, PostgresURL) else str(target)


def verify_segment(db_path: str, position: int, leaf_hash: bytes | None) -> tuple[Any, ...]:
    """Child-process body: verify the segment after ``position``; a picklable outcome.

    ``db_path``: the store as :func:`store_text` gives it."""
    with LedgerReader(parse_store(db_path)) as reader:
        return verified_here(reader, position, leaf_hash)


def verified_here(reader: LedgerReader, position: int, leaf_hash: bytes | None) -> tuple[Any, ...]:
    """Verify the segment after ``position`` in ``reader``'s snapshot; the outcome as
    :func:`verify_segment` gives it (ok, first position, events, failure position, reason)."""
    report = verify_from(reader, position, leaf_hash)
    failure = report.first_failure
    return (
        report.ok,
        report.started_at_position,
        report.events,
        failure.position if failure else None,
        failure.reason if failure else None,
    )


def raise_failure(failure_position: int | None, reason: str | None) -> None:
    raise VerificationError(
        f"refusing to project: the ledger fails verification at position {failure_position}: "
        f"{reason}"
    )


@dataclass(frozen=True)
class Consumer:
    """Verifies and consumes segments of the ledger ``reader`` reads into a views file."""

    reader: LedgerReader
    batch_size: int
    rebuild_batch_size: int
    parallel_threshold: int

    def verify(self, position: int, leaf_hash: bytes | None) -> tuple[Any, ...]:
        """Verify the segment after ``position`` (a fresh reader of a ledger file, or the
        consumer's own snapshot of a PostgreSQL ledger: what is verified is what is read)."""
        if self.reader.is_postgres:
            return verified_here(self.reader, position, leaf_hash)
        return verify_segment(str(self.reader.db_path), position, leaf_hash)

    def verified(
        self,
        conn: ViewsConnection,
        projections: list[Projection],
        current: list[Tracking],
        head: int,
        progress: ProgressCallback | None,
        *,
        mode: str,
        commit: bool,
    ) -> CatchUpReport:
        """Verify the segment up to ``head`` and consume it; nothing is visible unverified.

        ``commit``: the views file is private (a rebuild), so batches may commit as they go;
        otherwise the whole segment is one transaction committed after verification.
        """
        lowest = min(current, key=lambda t: t.position)
        args = (store_text(self.reader.db_path), lowest.position, lowest.leaf_hash or None)
        if head - lowest.position >= self.parallel_threshold:
            consumed, events = self._while_verifying(
                conn, projections, current, head, progress, args, commit=commit
            )
            return CatchUpReport(
                mode, lowest.position, head, consumed, events, parallel_verification=True
            )
        # not worth a child process: verify first, then consume
        outcome = self.verify(lowest.position, lowest.leaf_hash or None)
        if not outcome[0]:
            raise_failure(outcome[3], outcome[4])
        batch = self.rebuild_batch_size if mode == "rebuild" else self.batch_size
        consumed = self.consume(conn, projections, current, head, progress, batch, commit_each=True)
        return CatchUpReport(
            mode, lowest.position, head, consumed, outcome[2], parallel_verification=False
        )

    def _while_verifying(
        self,
        conn: ViewsConnection,
        projections: list[Projection],
        current: list[Tracking],
        head: int,
        progress: ProgressCallback | None,
        args: tuple[str, int, bytes | None],
        *,
        commit: bool,
    ) -> tuple[int, int]:
        """Consume while a child process verifies; (events consumed, events verified)."""
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            future = pool.submit(verify_segment, *args)
            if not commit:
                conn.execute("BEGIN IMMEDIATE")
            try:
                consumed = self.consume(
                    conn,
                    projections,
                    current,
                    head,
                    progress,
                    self.rebuild_batch_size,
                    commit_each=commit,
                )
                ok, started, events, failure_position, reason = future.result()
                if not ok:
                    raise_failure(failure_position, reason)
                if started + events - 1 < head:
                    raise_failure(
                        started + events,
                        "the verifier did not reach the end of the consumed segment",
                    )
            except BaseException:
                if not commit:
                    conn.execute("ROLLBACK")
                raise
            if not commit:
                conn.execute("COMMIT")
        return consumed, events

    def consume(
        self,
        conn: ViewsConnection,
        projections: list[Projection],
        current: list[Tracking],
        stop: int,
        progress: ProgressCallback | None,
        batch_size: int,
        *,
        commit_each: bool,
    ) -> int:
        """Apply positions (tracked, stop] to each projection; returns events read.

        Projections at different positions are brought level first, the laggards alone.
        ``progress`` is told (events read, ``stop`` - lowest tracked position) as they are read
        (:class:`Progress`), and once more at the end.
        """
        ctx = Context(self.reader, conn)
        for p in projections:
            p.start(ctx)
        by_position = sorted({t.position for t in current})
        reporter = None if progress is None else Progress(progress, stop - by_position[0])
        consumed = 0
        for i, start in enumerate(by_position):
            upto = by_position[i + 1] if i + 1 < len(by_position) else stop
            group = [p for p, t in zip(projections, current, strict=True) if t.position <= start]
            if reporter is not None:
                reporter.base = consumed
            consumed += self._run(conn, group, start, upto, reporter, batch_size, commit_each)
        if reporter is not None:
            reporter.finish(consumed)
        return consumed

    def _run(
        self,
        conn: ViewsConnection,
        projections: list[Projection],
        after: int,
        stop: int,
        progress: Progress | None,
        batch_size: int,
        commit_each: bool,
    ) -> int:
        handlers: dict[str, list[Handler]] = {}
        for p in projections:
            for topic, handler in p.handlers().items():
                handlers.setdefault(topic, []).append(handler)
        table = {topic: tuple(hs) for topic, hs in handlers.items()}
        count = 0
        last: tuple[Any, ...] | None = None
        pending = 0
        # one comparison per event: the next flush, or the next progress report if sooner
        mark = batch_size if progress is None else min(batch_size, progress.until_next(0))
        decode = raw_payload
        for row in self.reader.iter_event_tuples(after + 1):
            if row[0] > stop:
                break
            chosen = table.get(row[3])
            if chosen is None:
                found = (p.unknown(row[3]) for p in projections)
                chosen = table[row[3]] = tuple(h for h in found if h is not None)
            if chosen:
                payload = decode(row[4])  # = decoding.payload_of, inlined
                for handler in chosen:
                    handler(row, payload)
            last = row
            pending += 1
            if pending >= mark:
                if pending >= batch_size:
                    flush(conn, projections, last[0], last[5], commit_each)
                    count += pending
                    pending = 0
                if progress is not None:
                    mark = min(batch_size, pending + progress.until_next(count + pending))
        if pending and last is not None:
            flush(conn, projections, last[0], last[5], commit_each)
            count += pending
        return count


def flush(
    conn: ViewsConnection,
    projections: list[Projection],
    position: int,
    leaf: bytes,
    commit_each: bool,
) -> None:
    """Write each projection's changed rows and its tracking row (one transaction if
    ``commit_each``, else inside the caller's)."""
    if commit_each:
        conn.execute("BEGIN IMMEDIATE")
    try:
        for p in projections:
            p.flush(conn, position)
            conn.execute(
                "INSERT OR REPLACE INTO tracking (projection, position, leaf_hash, version)"
                " VALUES (?,?,?,?)",
                (p.name, position, bytes(leaf), p.version),
            )
    except BaseException:
        if commit_each:
            conn.execute("ROLLBACK")
        raise
    if commit_each:
        conn.execute("COMMIT")
