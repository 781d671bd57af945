"""The read queries the command line and the server share: one function per JSON document.

Each function reads the ledger through ``reader`` and the views through ``engine`` (brought
up to date first by :func:`open_views`, or by whoever keeps the engine) and returns exactly
the document the CLI prints with ``--json``, so ``trial-ledger patient --json`` and
``GET /v1/subjects/{id}`` cannot drift apart:

* :func:`subject_report`: ``patient --json``; :func:`response_history`: its ``response``
  part with ``subject_id`` and ``as_of`` (assessments, markers, best confirmed response,
  progression, duration of response, decision reviews);
* :func:`audit_trail` (``audit-trail --json``), :func:`audit_rows` (its rows, streamed) and
  :func:`audit_csv_lines` (the CSV as ``audit-trail --csv`` writes it);
* :func:`trial_summary`: ``summary --json``;
* :func:`subjects`: one line per subject, ``{"subject_id", "site", "regimen",
  "regimen_since", "status", "enrolled_on", "last_position"}``; ``status`` is the first of
  ``died``, ``withdrawn`` (treatment or consent), ``off study``, ``follow-up`` (follow-up or
  off treatment), ``on treatment``, ``enrolled``, ``screened`` that holds on the subject's
  latest clinical date.

The views: :func:`open_views` (a command's engine, caught up, verified) or
:class:`SharedViews` (one engine for a server's threads, caught up when the ledger moved,
never while a query reads). Modules: :mod:`~projections.queries.subject`,
:mod:`~projections.queries.audit`, :mod:`~projections.queries.views`; every name is
importable from here.

Times given to these functions are already as the ledger records them (RFC 3339 UTC with
microseconds): the CLI and the server each parse what a person typed. A refused parameter
raises :class:`QueryError`, a :class:`~ledger.errors.UsageError` worded as the CLI words it
that also names the parameter, its value and the rule, so the server can answer a problem
naming its own query parameter.
"""

from __future__ import annotations

from typing import Any

from ledger.store import LedgerReader
from projections.engine import ProjectionEngine
from projections.objectives import trial_summary as summary_of
from projections.queries.audit import (
    audit_csv_lines,
    audit_document,
    audit_filter,
    audit_rows,
    audit_trail,
)
from projections.queries.subject import (
    response_history,
    subject_report,
    subject_status,
    subjects,
)
from projections.queries.views import (
    QueryError,
    SharedViews,
    open_views,
    tracked,
    views_word,
)
from projections.subject import stored_histories

__all__ = [
    "QueryError",
    "SharedViews",
    "audit_csv_lines",
    "audit_document",
    "audit_filter",
    "audit_rows",
    "audit_trail",
    "open_views",
    "response_history",
    "subject_report",
    "subject_status",
    "subjects",
    "tracked",
    "trial_summary",
    "views_word",
]


def trial_summary(reader: LedgerReader, engine: ProjectionEngine) -> dict[str, Any]:
    """``summary --json``: the objectives at the views' position, with when the views were
    last proved equal to the ledger (``views_proved``)."""
    del reader  # the views alone: the same signature as every query here
    conn = engine.connect()
    try:
        report = summary_of(stored_histories(conn), tracked(engine))
    finally:
        conn.close()
    report["views_proved"] = engine.last_proof()
    return report
