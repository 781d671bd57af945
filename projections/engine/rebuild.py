"""Rebuild: fresh views from position 1 into a scratch place (``<views>.rebuild``, or the
schema ``<views schema>_rebuild``), swapped in once verified.

The secondary indexes are created after the bulk load; readers see the old views until the
atomic replace (a file renamed over the views file; tables moved into the views schema in one
transaction). Rebuild and catch-up run the same code per event
(:mod:`projections.engine.consume`), so a rebuild is byte-identical to incremental catch-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from projections.base import Projection
from projections.engine.consume import Consumer, ProgressCallback
from projections.engine.tracking import TRACKING_TABLE, CatchUpReport, Tracking

if TYPE_CHECKING:
    from projections.engine.views_store import ViewsStore


def build_into(
    consumer: Consumer,
    projections: list[Projection],
    temp: ViewsStore,
    progress: ProgressCallback | None,
) -> CatchUpReport:
    """Build every view from position 1 into ``temp`` (verified as it is consumed); ``temp``
    is cleared if anything fails."""
    temp.clear()
    head = consumer.reader.size()
    conn = temp.open(bulk=True)
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
        temp.clear()
        raise
    conn.close()
    return report


def rebuild_locked(
    consumer: Consumer,
    projections: list[Projection],
    views: ViewsStore,
    progress: ProgressCallback | None,
) -> CatchUpReport:
    """Build into the scratch place ``rebuild`` and replace ``views`` with it (the caller
    holds the views lock and a read snapshot of the ledger)."""
    temp = views.scratch("rebuild")
    report = build_into(consumer, projections, temp, progress)
    views.replace_with(temp)
    return report
