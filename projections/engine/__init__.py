"""Tracking, verified catch-up and rebuild of the read models, in views of their own.

The views are kept apart from the ledger, never in it (:mod:`~projections.engine.views_store`):
a ledger file's in a SQLite file of their own (default ``<ledger db>.views.sqlite``), a
PostgreSQL ledger's in the schema ``trial_views`` of its database
(:mod:`~projections.engine.pg_views`): a projection is never a source of truth and can always
be rebuilt from the signed log. Each projection has one row in ``tracking(projection,
position, leaf_hash, version)``, written in the same transaction as its view rows. The
projections write the same SQL to either store (:mod:`~projections.engine.pg_sql` words it for
PostgreSQL), and :func:`dump_views` gives the same text for the same ledger on either.

Catch-up (:meth:`ProjectionEngine.catch_up`):

1. Under the views' exclusive lock (an ``flock`` on ``<views>.lock``, or a PostgreSQL advisory
   lock: two catch-ups never interleave), read every projection's tracked (position, leaf
   hash). A projection without a row, or whose schema ``version`` changed, makes the engine
   rebuild everything instead.
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

Rebuild (:meth:`ProjectionEngine.rebuild`) builds fresh views from position 1 into a scratch
place (``<views>.rebuild``, or the schema ``trial_views_rebuild``), creates the secondary
indexes after the bulk load, and atomically replaces the views with it once verification
succeeded; readers see the old views until then. Rebuild and catch-up run the same code per
event, so a rebuild is byte-identical to incremental catch-up (``dump``; tested).

Following (:meth:`ProjectionEngine.follow`, :mod:`~projections.engine.follow`): a verified
catch-up on each commit notification of a PostgreSQL ledger (and every ``interval`` seconds),
or every ``interval`` seconds on a ledger file.

Progress: ``catch_up`` and ``rebuild`` take ``progress(done, total)``, called while events are
consumed (at most a few hundred times, the last call with ``done == total``; not called when
there is nothing to consume).

Modules: :mod:`~projections.engine.tracking` (tracking rows, reports, dumps),
:mod:`~projections.engine.consume` (segment verification and the per-event loop both modes
share), :mod:`~projections.engine.catch_up`, :mod:`~projections.engine.rebuild`,
:mod:`~projections.engine.views_check` (``projections verify``: the views proved equal to a
rebuild), :mod:`~projections.engine.views_store` (where views are kept),
:mod:`~projections.engine.follow`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ledger.errors import UsageError, VerificationError
from ledger.store import LedgerReader
from projections.audit import AuditProjection
from projections.base import Projection
from projections.connection import ViewsConnection
from projections.engine.catch_up import catch_up_locked
from projections.engine.consume import Consumer, ProgressCallback
from projections.engine.follow import AppliedCallback, follow
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
from projections.engine.views_store import FileViews, ViewsStore, views_store
from projections.subject import SubjectProjection

__all__ = [
    "PROOF_TABLE",
    "TRACKING_TABLE",
    "AppliedCallback",
    "CatchUpReport",
    "FileViews",
    "ProgressCallback",
    "ProjectionEngine",
    "Tracking",
    "ViewsCheck",
    "ViewsStore",
    "default_projections",
    "default_views_path",
    "dump_views",
    "views_store",
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
        views_path: Path | ViewsStore | None = None,
        projections: Sequence[Projection] | None = None,
        *,
        batch_size: int = 5_000,
        rebuild_batch_size: int = 100_000,
        parallel_threshold: int = 50_000,
    ) -> None:
        self.reader = reader
        self.views: ViewsStore = (
            views_store(reader.db_path, views_path)
            if views_path is None or isinstance(views_path, Path)
            else views_path
        )
        self._factory: Callable[[], list[Projection]] = (
            (lambda: list(projections)) if projections is not None else default_projections
        )
        self.batch_size = batch_size
        self.rebuild_batch_size = rebuild_batch_size
        self.parallel_threshold = parallel_threshold

    @property
    def views_path(self) -> Path:
        """The views file (refused for views kept in PostgreSQL)."""
        if not isinstance(self.views, FileViews):
            raise UsageError(f"{self.views.name}: the views are not a file")
        return self.views.path

    def close(self) -> None:
        """Close the connections the views store keeps (PostgreSQL); the engine may be used
        again afterwards (they are opened again)."""
        self.views.close()

    # ------------------------------------------------------------------ reading

    def connect(self) -> ViewsConnection:
        """A connection to the views for queries (the views exist after a catch-up)."""
        return self.views.connect()

    def status(self) -> list[Tracking]:
        """Every projection's tracked position (absent projections at position 0)."""
        return read_tracking(self.views, [p.name for p in self._factory()])

    def dump(self) -> str:
        """Every view table and the tracking rows as canonical text (rows in key order)."""
        conn = self.connect()
        try:
            return dump_views(conn, self._factory())
        finally:
            conn.close()

    def last_proof(self) -> dict[str, Any] | None:
        """When ``verify_views`` last found the views equal to a rebuild (position, time).

        Kept beside the views themselves, so it says what was proved, not that nothing changed
        since: whoever can write the views can edit views and this row alike.
        """
        return last_proof(self.views)

    # ------------------------------------------------------------------ writing

    def _consumer(self) -> Consumer:
        return Consumer(
            self.reader, self.batch_size, self.rebuild_batch_size, self.parallel_threshold
        )

    def catch_up(self, progress: ProgressCallback | None = None) -> CatchUpReport:
        """Verify and consume everything appended since each projection's tracked position.

        ``progress(done, total)``: events consumed so far of those to consume (see above).
        """
        with self.reader.snapshot(), self.views.lock():
            projections = self._factory()
            tracked = {t.projection: t for t in self.status()}
            current = [tracked[p.name] for p in projections]
            if any(t.version != p.version for t, p in zip(current, projections, strict=True)):
                return rebuild_locked(self._consumer(), self._factory(), self.views, progress)
            return catch_up_locked(self._consumer(), self.views, projections, current, progress)

    def rebuild(self, progress: ProgressCallback | None = None) -> CatchUpReport:
        """Rebuild every view from position 1 into a scratch place and swap it in when verified.

        ``progress(done, total)``: events consumed so far of the ledger's (see above).
        """
        with self.reader.snapshot(), self.views.lock():
            return rebuild_locked(self._consumer(), self._factory(), self.views, progress)

    def follow(
        self,
        stop: threading.Event | None = None,
        *,
        interval: float = 1.0,
        on_applied: AppliedCallback | None = None,
        once: bool = False,
    ) -> int:
        """Keep the views current as commits land, until ``stop`` is set or KeyboardInterrupt
        (:mod:`~projections.engine.follow`); ``on_applied(report)`` after each catch-up that
        applied events; ``once``: one catch-up. The number of catch-ups that applied events.
        """
        return follow(self, stop, interval=interval, on_applied=on_applied, once=once)

    # ------------------------------------------------------------------ proving the views

    def verify_views(self, progress: Callable[[int], None] | None = None) -> ViewsCheck:
        """Rebuild every view from the verified ledger beside the stored views and compare.

        In one read snapshot of the ledger: build fresh views from position 1 into a
        scratch place (which verifies every consumed event), bring the stored views up to
        the same position, and compare every table row by row. The first difference is
        named (table, stored row, expected row). On success the proof is recorded beside the
        views (``views_proof``) so that reads can say when the views were last proved.
        ``progress(done)``: events of the rebuild consumed so far.
        """
        with self.reader.snapshot():
            temp = self.views.scratch("verify")
            with self.views.lock():
                built = build_into(self._consumer(), self._factory(), temp, _done_only(progress))
            try:
                difference = self._stored_level_with(built.to_position)
                if difference is None:
                    tables = ["tracking", *(t for p in self._factory() for t in p.tables)]
                    difference = compare_views(self.views, temp, tables)
            finally:
                temp.clear()
            proved_at = None
            if difference is None:
                proved_at = record_proof(self.views, built.to_position)
        return ViewsCheck(
            ok=difference is None,
            views=self.views.name,
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
