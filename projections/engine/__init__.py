"""Tracking, verified catch-up and rebuild of the read models, in a views file of their own.

The views live in a separate SQLite file (default ``<ledger db>.views.sqlite``), never in the
ledger: a projection is never a source of truth and can always be rebuilt from the signed log.
Each projection has one row in ``tracking(projection, position, leaf_hash, version)``, written
in the same transaction as its view rows.

Catch-up (:meth:`ProjectionEngine.catch_up`):

1. Under an exclusive lock on ``<views>.lock`` (two catch-ups never interleave), read every
   projection's tracked (position, leaf hash). A projection without a row, or whose schema
   ``version`` changed, makes the engine rebuild everything instead.
2. Verify before consuming: ``ledger.verify.verify_from`` proves that the ledger still holds the
   tracked leaf at the lowest tracked position and that every event after it is intact, chained,
   signed and authorised; every other tracked leaf is compared with the ledger too. A failure
   raises :class:`~ledger.errors.VerificationError` (exit 1) and nothing is consumed. Only
   positions the verifier covered are consumed (an append racing the catch-up waits for the
   next one).
3. Read ``iter_event_tuples`` in position order, decode each state once
   (:mod:`projections.decoding`), hand it to the projections that handle its topic, and every
   ``batch_size`` events flush each projection's view rows and its tracking row in one
   transaction.

Segments of at least ``parallel_threshold`` events are verified in a child process while the
parent projects (two cores: verification is hash- and signature-bound, projection decode- and
SQLite-bound); the parent then writes the segment in a single transaction that commits only
after the child reports success, so an unverified event never becomes visible.

Rebuild (:meth:`ProjectionEngine.rebuild`) builds fresh views from position 1 into
``<views>.rebuild``, creates the secondary indexes after the bulk load, and atomically replaces
the views file once verification succeeded; readers see the old views until then. Rebuild and
catch-up run the same code per event, so a rebuild is byte-identical to incremental catch-up
(``dump``; tested).

Progress: ``catch_up`` and ``rebuild`` take ``progress(done, total)``, called while events are
consumed (at most a few hundred times, the last call with ``done == total``; not called when
there is nothing to consume).

Modules: :mod:`~projections.engine.tracking` (tracking rows, reports, dumps),
:mod:`~projections.engine.consume` (segment verification and the per-event loop both modes
share), :mod:`~projections.engine.catch_up`, :mod:`~projections.engine.rebuild`,
:mod:`~projections.engine.views_check` (``projections verify``: the views proved equal to a
rebuild).
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ledger.errors import UsageError, VerificationError
from ledger.store import LedgerReader
from projections.audit import AuditProjection
from projections.base import Projection
from projections.engine.catch_up import catch_up_locked
from projections.engine.consume import Consumer, ProgressCallback
from projections.engine.rebuild import build_into, rebuild_locked
from projections.engine.tracking import (
    TRACKING_TABLE,
    CatchUpReport,
    Tracking,
    default_views_path,
    dump_views,
    read_tracking,
)
from projections.engine.views_check import (
    PROOF_TABLE,
    ViewsCheck,
    compare_views,
    last_proof,
    record_proof,
)
from projections.subject import SubjectProjection

__all__ = [
    "PROOF_TABLE",
    "TRACKING_TABLE",
    "CatchUpReport",
    "ProgressCallback",
    "ProjectionEngine",
    "Tracking",
    "ViewsCheck",
    "default_projections",
    "default_views_path",
    "dump_views",
]


def default_projections() -> list[Projection]:
    """The trial's read models: the subject view and the audit trail."""
    return [SubjectProjection(), AuditProjection()]


def _done_only(progress: Callable[[int], None] | None) -> ProgressCallback | None:
    if progress is None:
        return None
    report = progress
    return lambda done, _total: report(done)


class ProjectionEngine:
    """Keeps the views of ``projections`` up to date with the ledger ``reader`` reads."""

    def __init__(
        self,
        reader: LedgerReader,
        views_path: Path | None = None,
        projections: Sequence[Projection] | None = None,
        *,
        batch_size: int = 5_000,
        rebuild_batch_size: int = 100_000,
        parallel_threshold: int = 50_000,
    ) -> None:
        self.reader = reader
        self.views_path = views_path or default_views_path(reader.db_path)
        self._factory: Callable[[], list[Projection]] = (
            (lambda: list(projections)) if projections is not None else default_projections
        )
        self.batch_size = batch_size
        self.rebuild_batch_size = rebuild_batch_size
        self.parallel_threshold = parallel_threshold

    # ------------------------------------------------------------------ reading

    def connect(self) -> sqlite3.Connection:
        """A connection to the views for queries (the views exist after a catch-up)."""
        if not self.views_path.is_file():
            raise UsageError(f"--views {self.views_path}: no views yet (run a catch-up first)")
        return sqlite3.connect(self.views_path, check_same_thread=False)

    def status(self) -> list[Tracking]:
        """Every projection's tracked position (absent projections at position 0)."""
        return read_tracking(self.views_path, [p.name for p in self._factory()])

    def dump(self) -> str:
        """Every view table and the tracking rows as canonical text (rows in key order)."""
        conn = self.connect()
        try:
            return dump_views(conn, self._factory())
        finally:
            conn.close()

    def last_proof(self) -> dict[str, Any] | None:
        """When ``verify_views`` last found the views equal to a rebuild (position, time).

        Kept in the views file itself, so it says what was proved, not that nothing changed
        since: whoever can write the views file can edit views and this row alike.
        """
        return last_proof(self.views_path)

    # ------------------------------------------------------------------ writing

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        lock_path = self.views_path.with_name(self.views_path.name + ".lock")
        with lock_path.open("a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _consumer(self) -> Consumer:
        return Consumer(
            self.reader, self.batch_size, self.rebuild_batch_size, self.parallel_threshold
        )

    def catch_up(self, progress: ProgressCallback | None = None) -> CatchUpReport:
        """Verify and consume everything appended since each projection's tracked position.

        ``progress(done, total)``: events consumed so far of those to consume (see above).
        """
        with self.reader.snapshot(), self._lock():
            projections = self._factory()
            tracked = {t.projection: t for t in self.status()}
            current = [tracked[p.name] for p in projections]
            if any(t.version != p.version for t, p in zip(current, projections, strict=True)):
                return rebuild_locked(self._consumer(), self._factory(), self.views_path, progress)
            return catch_up_locked(
                self._consumer(), self.views_path, projections, current, progress
            )

    def rebuild(self, progress: ProgressCallback | None = None) -> CatchUpReport:
        """Rebuild every view from position 1 into a new file and swap it in when verified.

        ``progress(done, total)``: events consumed so far of the ledger's (see above).
        """
        with self.reader.snapshot(), self._lock():
            return rebuild_locked(self._consumer(), self._factory(), self.views_path, progress)

    # ------------------------------------------------------------------ proving the views

    def verify_views(self, progress: Callable[[int], None] | None = None) -> ViewsCheck:
        """Rebuild every view from the verified ledger beside the stored views and compare.

        In one read snapshot of the ledger: build fresh views from position 1 into a
        temporary file (which verifies every consumed event), bring the stored views up to
        the same position, and compare every table row by row. The first difference is
        named (table, stored row, expected row). On success the proof is recorded in the
        views file (``views_proof``) so that reads can say when the views were last proved.
        ``progress(done)``: events of the rebuild consumed so far.
        """
        with self.reader.snapshot():
            temp = self.views_path.with_name(self.views_path.name + ".verify")
            with self._lock():
                built = build_into(self._consumer(), self._factory(), temp, _done_only(progress))
            try:
                difference = self._stored_level_with(built.to_position)
                if difference is None:
                    tables = ["tracking", *(t for p in self._factory() for t in p.tables)]
                    difference = compare_views(self.views_path, temp, tables)
            finally:
                temp.unlink(missing_ok=True)
            proved_at = None
            if difference is None:
                proved_at = record_proof(self.views_path, built.to_position)
        return ViewsCheck(
            ok=difference is None,
            views=str(self.views_path),
            position=built.to_position,
            verified_events=built.verified_events,
            first_difference=difference,
            proved_at=proved_at,
        )

    def _stored_level_with(self, head: int) -> dict[str, Any] | None:
        """Catch the stored views up to ``head`` (building them if there are none yet); a
        difference if their tracking rows do not match the ledger just proved."""
        try:
            self.catch_up()
        except VerificationError as e:  # the ledger was just proved: the tracking is wrong
            return {
                "table": "tracking",
                "row": None,
                "stored": str(e),
                "expected": f"tracking rows that match the verified ledger up to {head}",
            }
        return None
