"""What each page shows, read in one snapshot of the ledger through the shared query layer.

The documents are those of :mod:`projections.queries` (the ones ``patient --json``,
``audit-trail --json`` and the /v1 API give), so a page cannot show anything the CLI and the
API would not; the timeline adds only the dose and lab facts the report counts
(:mod:`ledger.server.pages.facts`), read from the same snapshot up to the same position.
Every page also carries its :class:`~ledger.server.pages.status.VerificationStatus`.

The views are the server's one engine on them (:func:`ledger.server.api.projections.
served_views`, shared with the API): caught up (verified) when the ledger moved, never while
a page reads them; the ledger is read through the calling thread's own reader, in one
snapshot per page.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from ledger.server.access.caller import Caller
from ledger.server.api.projections import served_views
from ledger.server.pages.facts import ClinicalFacts, clinical_facts
from ledger.server.pages.shapes import Timeline
from ledger.server.pages.status import VerificationStatus, verification_status
from ledger.server.pages.timeline import timeline
from ledger.server.state import ServerState
from ledger.store import LedgerReader
from projections import queries
from projections.engine import ProjectionEngine
from projections.subject import subject_entries

AUDIT_PAGE = 100
"""Rows per page of the audit trail, unless asked otherwise (at most ``AUDIT_PAGE_MAX``)."""
AUDIT_PAGE_MAX = 1000


@contextmanager
def reading(state: ServerState) -> Iterator[tuple[LedgerReader, ProjectionEngine]]:
    """The thread's ledger reader in one snapshot, and the served views caught up with it."""
    with served_views(state).reading() as (reader, views), reader.snapshot():
        yield reader, views


@dataclass(frozen=True)
class SubjectsPage:
    sites: dict[str, list[dict[str, Any]]]
    """The subject lines of :func:`projections.queries.subjects`, by site."""
    status: VerificationStatus


def subjects_page(state: ServerState, caller: Caller) -> SubjectsPage:
    """The subjects the caller may see (site staff: their site's), grouped by site."""
    with reading(state) as (reader, views):
        site = caller.site if caller.site_bound else None
        lines = queries.subjects(reader, views, site=site)
        status = verification_status(
            reader, state.registry(), queries.tracked(views), views.last_proof()
        )
    sites: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        sites.setdefault(line["site"], []).append(line)
    return SubjectsPage(dict(sorted(sites.items())), status)


@dataclass(frozen=True)
class SubjectPage:
    report: dict[str, Any]
    """``patient --json`` for the asked point (:func:`projections.queries.subject_report`)."""
    facts: ClinicalFacts
    timeline: Timeline
    status: VerificationStatus


def subject_page(
    state: ServerState,
    subject_id: str,
    *,
    as_of: str | None = None,
    position: int | None = None,
    on: date | None = None,
) -> SubjectPage:
    """The subject's report and timeline as of ``as_of`` or ``position``, on ``on``."""
    with reading(state) as (reader, views):
        report = queries.subject_report(
            reader, views, subject_id, as_of=as_of, position=position, on=on
        )
        shown = int(report["as_of"]["position"])
        entries = subject_entries(reader, subject_id, shown, check_leaves=True)
        status = verification_status(
            reader, state.registry(), shown, report["as_of"]["views_proved"]
        )
    facts = clinical_facts(entries, on)
    return SubjectPage(report, facts, timeline(report, facts), status)


@dataclass(frozen=True)
class AuditPage:
    document: dict[str, Any]
    """``audit-trail --json`` of the rows of this page (``count``: rows on this page)."""
    after: int
    next_after: int | None
    status: VerificationStatus


def audit_page(
    state: ServerState,
    caller: Caller,
    filters: dict[str, str | None],
    after: int = 0,
    limit: int = AUDIT_PAGE,
) -> AuditPage:
    """One page of the audit trail after position ``after`` (site staff: rows about their
    site's subjects only), each row's commit re-proved before it is shown."""
    f = queries.audit_filter(
        subject=filters.get("subject"),
        person=filters.get("person"),
        type_=filters.get("type"),
        from_=filters.get("from"),
        to=filters.get("to"),
    )
    site = caller.site if caller.site_bound else None
    with reading(state) as (reader, views):
        rows = list(queries.audit_rows(reader, views, f, site=site, after=after, limit=limit + 1))
        position = queries.tracked(views)
        status = verification_status(reader, state.registry(), position, views.last_proof())
    shown = rows[:limit]
    next_after = int(shown[-1]["position"]) if len(rows) > limit else None
    return AuditPage(queries.audit_document(f, position, shown), after, next_after, status)
