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

Times given to these functions are already as the ledger records them (RFC 3339 UTC with
microseconds): the CLI and the server each parse what a person typed. A refused parameter
raises :class:`QueryError`, a :class:`~ledger.errors.UsageError` worded as the CLI words it
that also names the parameter, its value and the rule, so the server can answer a problem
naming its own query parameter.
"""

from __future__ import annotations

import io
import json
from collections.abc import Generator, Iterable, Iterator
from datetime import date
from itertools import islice
from pathlib import Path
from typing import Any

from ledger.errors import NotFoundError, UsageError, VerificationError
from ledger.events import site_of
from ledger.protocol.schedule.regimens import ON_TREATMENT, Regimen
from ledger.store import LedgerReader
from ledger.subject.history import SubjectHistory, as_on
from ledger.verify import CommitProver
from projections.audit import COLUMNS, AuditFilter, position_at, recorded_at, write_csv
from projections.audit import audit_trail as audit_query
from projections.connection import ViewsConnection
from projections.decoding import EVENT_TYPE
from projections.engine import FileViews, ProjectionEngine
from projections.objectives import trial_summary as summary_of
from projections.report import patient_report, response_report
from projections.subject import (
    dump_history,
    load_history,
    stored_histories,
    stored_history,
    subject_entries,
)


class QueryError(UsageError):
    """A refused query parameter: ``parameter`` (as the functions here name it), ``value``
    and ``rule``; the message is worded as the CLI's option refusal."""

    def __init__(self, parameter: str, value: object, rule: str, message: str) -> None:
        self.parameter, self.value, self.rule = parameter, value, rule
        super().__init__(message)


def open_views(reader: LedgerReader, views: Path | None) -> ProjectionEngine:
    """The engine over ``reader``, its views brought up to date (each segment verified)."""
    engine = ProjectionEngine(reader, views)
    engine.catch_up()
    return engine


def tracked(engine: ProjectionEngine) -> int:
    """The position every view has caught up to (the ledger position the views show)."""
    return min(t.position for t in engine.status())


def views_word(engine: ProjectionEngine) -> str:
    """What messages call the views: the views file, or the views of a database schema."""
    return "the views file" if isinstance(engine.views, FileViews) else "the views"


# --------------------------------------------------------------------------- one subject


def subject_report(
    reader: LedgerReader,
    engine: ProjectionEngine,
    subject_id: str,
    *,
    as_of: str | None = None,
    position: int | None = None,
    on: date | None = None,
) -> dict[str, Any]:
    """``patient --json``: now from the views (once they equal the ledger's fold), or from
    the ledger up to ``as_of`` (a time) or ``position``, on the clinical date ``on``."""
    conn = engine.connect()
    try:
        stamp, history = _as_of(reader, engine, conn, subject_id, (as_of, position, on))
    finally:
        conn.close()
    return {
        "as_of": stamp,
        **patient_report(history, on),
        "response": response_report(history),
    }


def response_history(
    reader: LedgerReader,
    engine: ProjectionEngine,
    subject_id: str,
    *,
    as_of: str | None = None,
    position: int | None = None,
    on: date | None = None,
) -> dict[str, Any]:
    """The ``response`` part of :func:`subject_report` with ``subject_id`` and ``as_of``."""
    conn = engine.connect()
    try:
        stamp, history = _as_of(reader, engine, conn, subject_id, (as_of, position, on))
    finally:
        conn.close()
    return {"subject_id": history.subject_id, "as_of": stamp, **response_report(history)}


def _as_of(
    reader: LedgerReader,
    engine: ProjectionEngine,
    conn: ViewsConnection,
    subject: str,
    asked: tuple[str | None, int | None, date | None],
) -> tuple[dict[str, Any], SubjectHistory]:
    """The ``as_of`` member and the subject's history for ``asked`` (as_of, position, on)."""
    as_of, position, on = asked
    if as_of is not None and position is not None:
        raise QueryError(
            "position", position, "give at most one of as_of and position",
            "give at most one of --as-of TIME and --position N",
        )  # fmt: skip
    head = tracked(engine)
    upto = head
    if as_of is not None:
        upto = position_at(conn, as_of)
    elif position is not None:
        if not 1 <= position <= head:
            raise QueryError(
                "position", position, f"the ledger holds 1..{head}",
                f"--position {position}: the ledger holds 1..{head}",
            )  # fmt: skip
        upto = position
    entries = subject_entries(reader, subject, upto, check_leaves=True)
    history = as_on(subject, entries, on)
    source = "ledger"
    if as_of is None and position is None and on is None:
        _check_views_agree(conn, subject, history if entries else None, views_word(engine))
        source = "views"
    if not entries:
        raise NotFoundError(f"subject {subject}: no events in the ledger up to position {upto}")
    stamp = {
        "position": upto,
        "recorded_at": recorded_at(conn, upto) if upto else None,
        "requested_time": as_of,
        "on": on.isoformat() if on is not None else None,
        "source": source,
        "views_proved": engine.last_proof(),
    }
    return stamp, history


def _check_views_agree(
    conn: ViewsConnection, subject: str, history: SubjectHistory | None, views: str
) -> None:
    """The subject's view row must equal a fold of its (leaf-checked) events in the ledger.

    One subject is cheap to fold, so a current-state read never serves an edited views row:
    it refuses (exit 1) and names what differs."""
    stored = stored_history(conn, subject)
    expected = json.loads(dump_history(history)) if history else None
    found = json.loads(dump_history(stored)) if stored else None
    if found != expected:
        field = _first_field_difference(found, expected)
        raise VerificationError(
            f"{views} disagrees with the signed ledger about {subject} (patient_state"
            f"{', field ' + field if field else ''}): the views were edited or damaged; "
            "`trial-ledger projections verify` names every difference and "
            "`trial-ledger projections rebuild` replaces the views"
        )


def _first_field_difference(a: Any, b: Any) -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                inner = _first_field_difference(a.get(key), b.get(key))
                return f"{key}.{inner}" if inner else str(key)
    return ""


# --------------------------------------------------------------------------- the subjects


def subjects(
    reader: LedgerReader, engine: ProjectionEngine, *, site: str | None = None
) -> list[dict[str, Any]]:
    """Every subject the views hold (of ``site`` only, when given), by subject id."""
    del reader  # the views alone: the same signature as every query here
    conn = engine.connect()
    try:
        if site is None:
            histories = stored_histories(conn)
        else:
            histories = [
                load_history(r[0])
                for r in conn.execute(
                    "SELECT state FROM patient_state WHERE site = ? ORDER BY subject_id", (site,)
                )
            ]
    finally:
        conn.close()
    return [_subject_line(h) for h in histories]


def _subject_line(h: SubjectHistory) -> dict[str, Any]:
    ref = h.last_date
    period = h.period_on(ref) if ref else None
    regimen = period.regimen if period else Regimen.SCREENING
    return {
        "subject_id": h.subject_id,
        "site": h.site,
        "regimen": regimen.value,
        "regimen_since": period.course_start.isoformat() if period else None,
        "status": subject_status(h, regimen),
        "enrolled_on": h.enrolment.effective_date.isoformat() if h.enrolment else None,
        "last_position": h.position,
    }


def subject_status(h: SubjectHistory, regimen: Regimen) -> str:
    """Where the subject stands on its latest clinical date (see the module docstring)."""
    if h.death is not None:
        return "died"
    if h.consent_withdrawal is not None or h.treatment_withdrawal is not None:
        return "withdrawn"
    if h.off_study is not None or regimen == Regimen.OFF_STUDY:
        return "off study"
    if regimen in (Regimen.FOLLOW_UP, Regimen.OFF_TREATMENT):
        return "follow-up"
    if regimen in ON_TREATMENT:
        return "on treatment"
    return "enrolled" if h.enrolment is not None else "screened"


# --------------------------------------------------------------------------- audit trail


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


# --------------------------------------------------------------------------- the summary


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
