"""Incremental catch-up: verify what was appended since each projection's tracked position and
consume it (steps 2 and 3 of :mod:`projections.engine`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ledger.store import LedgerReader
from projections.base import Projection
from projections.engine.consume import Consumer, ProgressCallback, raise_failure
from projections.engine.tracking import CatchUpReport, Tracking

if TYPE_CHECKING:
    from projections.engine.views_store import ViewsStore


def check_tracked_leaves(reader: LedgerReader, current: Sequence[Tracking]) -> None:
    """Every tracked leaf must still be the ledger's leaf at its position."""
    for t in current:
        if t.position == 0:
            continue
        row = reader.event_at(t.position)
        if row is None or row.leaf_hash != t.leaf_hash:
            raise_failure(
                t.position,
                f"the ledger no longer holds the event projection {t.projection!r} read at "
                f"position {t.position}: either history was rewritten or truncated there, "
                "or the views file's tracking row was edited (if `trial-ledger verify` "
                "passes, `trial-ledger projections rebuild` replaces the views)",
            )


def catch_up_locked(
    consumer: Consumer,
    views: ViewsStore,
    projections: list[Projection],
    current: list[Tracking],
    progress: ProgressCallback | None,
) -> CatchUpReport:
    """Verify and consume positions (lowest tracked, head] into ``views`` (the caller holds
    the views lock and a read snapshot of the ledger)."""
    reader = consumer.reader
    head = reader.size()
    lowest = min(current, key=lambda t: t.position)
    check_tracked_leaves(reader, current)
    if lowest.position >= head:
        return CatchUpReport("up-to-date", head, head, 0, 0, parallel_verification=False)
    conn = views.open(bulk=False)
    try:
        for p in projections:
            p.create(conn)
            p.create_indexes(conn)
        if head - lowest.position >= consumer.parallel_threshold:
            return consumer.verified(
                conn, projections, current, head, progress, mode="incremental", commit=False
            )
        outcome = consumer.verify(lowest.position, lowest.leaf_hash)
        ok, started, events, failure_position, reason = outcome
        if not ok:
            raise_failure(failure_position, reason)
        stop = min(head, started + events - 1)
        consumed = consumer.consume(
            conn, projections, current, stop, progress, consumer.batch_size, commit_each=True
        )
        return CatchUpReport(
            "incremental", lowest.position, stop, consumed, events, parallel_verification=False
        )
    finally:
        conn.close()
