"""Rebuild: fresh views from position 1 into ``<views>.rebuild``, swapped in once verified.

The secondary indexes are created after the bulk load; readers see the old views until the
atomic replace. Rebuild and catch-up run the same code per event
(:mod:`projections.engine.consume`), so a rebuild is byte-identical to incremental catch-up.
"""

from __future__ import annotations

from pathlib import Path

from projections.base import Projection
from projections.engine.consume import Consumer, ProgressCallback
from projections.engine.tracking import TRACKING_TABLE, CatchUpReport, Tracking, open_views


def build_into(
    consumer: Consumer,
    projections: list[Projection],
    temp: Path,
    progress: ProgressCallback | None,
) -> CatchUpReport:
    """Build every view from position 1 into ``temp`` (verified as it is consumed); ``temp``
    is removed if anything fails."""
    temp.unlink(missing_ok=True)
    head = consumer.reader.size()
    conn = open_views(temp, bulk=True)
    try:
        conn.execute(TRACKING_TABLE)
        for p in projections:
            p.create(conn)
        fresh = [Tracking(p.name, 0, b"", p.version) for p in projections]
        report = consumer.verified(
            conn, projections, fresh, head, progress, mode="rebuild", commit=True
        )
        for p in projections:
            p.create_indexes(conn)
        conn.execute("PRAGMA journal_mode=DELETE")
    except BaseException:
        conn.close()
        temp.unlink(missing_ok=True)
        raise
    conn.close()
    return report


def rebuild_locked(
    consumer: Consumer,
    projections: list[Projection],
    views_path: Path,
    progress: ProgressCallback | None,
) -> CatchUpReport:
    """Build into ``<views>.rebuild`` and replace ``views_path`` with it (the caller holds the
    views lock and a read snapshot of the ledger)."""
    temp = views_path.with_name(views_path.name + ".rebuild")
    report = build_into(consumer, projections, temp, progress)
    temp.replace(views_path)
    return report
