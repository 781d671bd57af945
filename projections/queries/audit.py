"""The audit trail's documents: its rows (:func:`audit_rows`), the ``audit-trail --json``
document (:func:`audit_trail`) and its CSV (:func:`audit_csv_lines`)."""

from __future__ import annotations

import io
from collections.abc import Generator, Iterable, Iterator
from itertools import islice
from typing import Any

from ledger.events import site_of
from ledger.store import LedgerReader
from ledger.verify import CommitProver
from projections.audit import COLUMNS, AuditFilter, write_csv
from projections.audit import audit_trail as audit_query
from projections.decoding import EVENT_TYPE
from projections.engine import ProjectionEngine
from projections.queries.views import QueryError, tracked


def audit_filter(
    *,
    subject: str | None = None,
    person: str | None = None,
    type_: str | None = None,
    from_: str | None = None,
    to: str | None = None,
) -> AuditFilter:
    """The filter asked for; an unknown ``type_`` is refused, naming the known ones."""
    known = sorted(set(EVENT_TYPE.values()))
    if type_ is not None and type_ not in known:
        raise QueryError(
            "type", type_, f"not an event type (one of {', '.join(known)})",
            f"--type {type_!r}: not an event type (one of {', '.join(known)})",
        )  # fmt: skip
    return AuditFilter(
        subject_id=subject, person=person, event_type=type_, recorded_from=from_, recorded_to=to
    )


def audit_rows(
    reader: LedgerReader,
    engine: ProjectionEngine,
    f: AuditFilter,
    *,
    prove: bool = True,
    site: str | None = None,
    after: int = 0,
    limit: int | None = None,
) -> Generator[dict[str, Any], None, None]:
    """The trail's rows (:data:`~projections.audit.COLUMNS`) in position order, after
    position ``after``, at most ``limit``; ``site``: only rows about that site's subjects.

    ``prove``: each row is shown only after its commit was re-proved (leaves, root,
    signature under the proved registry); leave it off only when the whole ledger was just
    verified (``audit-trail --prove-views``)."""
    conn = engine.connect()
    try:
        rows: Iterator[dict[str, Any]] = audit_query(conn, reader, f)
        if after or site is not None:
            rows = (r for r in rows if _wanted(r, site, after))
        if limit is not None:
            rows = islice(rows, limit)
        prover = CommitProver(reader) if prove else None
        for row in rows:
            if prover is not None:
                prover.prove(int(row["position"]))
            yield row
    finally:
        conn.close()


def _wanted(row: dict[str, Any], site: str | None, after: int) -> bool:
    if row["position"] <= after:
        return False
    return site is None or (row["subject_id"] is not None and site_of(row["subject_id"]) == site)


def audit_trail(
    reader: LedgerReader,
    engine: ProjectionEngine,
    *,
    subject: str | None = None,
    person: str | None = None,
    type_: str | None = None,
    from_: str | None = None,
    to: str | None = None,
    prove: bool = True,
) -> dict[str, Any]:
    """``audit-trail --json``: ``{"filters", "position", "columns", "events", "count"}``."""
    f = audit_filter(subject=subject, person=person, type_=type_, from_=from_, to=to)
    return audit_document(f, tracked(engine), audit_rows(reader, engine, f, prove=prove))


def audit_document(f: AuditFilter, position: int, rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The audit-trail JSON document of ``rows`` (as :func:`~projections.audit.write_json`)."""
    events = list(rows)
    return {
        "filters": f.to_json(),
        "position": position,
        "columns": list(COLUMNS),
        "events": events,
        "count": len(events),
    }


def audit_csv_lines(rows: Iterable[dict[str, Any]], chunk: int = 500) -> Iterator[str]:
    """The CSV ``audit-trail --csv`` writes, for ``rows``: the header, then the rows, in
    pieces of whole lines (written by :func:`~projections.audit.write_csv` itself)."""
    header = io.StringIO()
    write_csv(iter(()), header)
    yield header.getvalue()
    it = iter(rows)
    while batch := list(islice(it, chunk)):
        out = io.StringIO()
        write_csv(iter(batch), out)
        yield out.getvalue().split("\n", 1)[1]  # the header has no line break inside
