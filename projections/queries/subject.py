"""One subject's documents (:func:`subject_report`, :func:`response_history`) and the list
of subjects (:func:`subjects`); see :mod:`projections.queries`."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from ledger.errors import NotFoundError, VerificationError
from ledger.protocol.schedule.regimens import ON_TREATMENT, Regimen
from ledger.store import LedgerReader
from ledger.subject.history import SubjectHistory, as_on
from projections.audit import position_at, recorded_at
from projections.connection import ViewsConnection
from projections.engine import ProjectionEngine
from projections.queries.views import QueryError, tracked, views_word
from projections.report import patient_report, response_report
from projections.subject import (
    dump_history,
    load_history,
    stored_histories,
    stored_history,
    subject_entries,
)


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
