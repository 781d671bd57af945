"""The read models over HTTP: subjects, a subject's state and response history, the audit
trail (JSON and CSV) and the trial summary, each the document the CLI prints with ``--json``
(:mod:`projections.queries` makes both).

Shapes (all GET, under /v1):

* ``/subjects?site=``: ``{"subjects": [{"subject_id", "site", "regimen", "regimen_since",
  "status", "enrolled_on", "last_position"}], "position"}`` (site staff: their site only;
  another site is 403);
* ``/subjects/{subject_id}?as_of=&position=&on=``: ``patient --json``;
  ``/subjects/{subject_id}/responses`` (same parameters): the ``response`` part with
  ``subject_id`` and ``as_of``; ``as_of.position`` is the ledger position shown;
* ``/audit-trail?subject=&person=&type=&from=&to=&after=&limit=``: ``audit-trail --json``
  of one page plus ``next_after``; with ``Accept: text/csv`` or ``format=csv`` the CSV
  ``audit-trail --csv`` writes (header = the CLI's columns). Site staff see only rows about
  their site's subjects; consumers see ``printed_name`` null and filter ``person`` by key id;
* ``/subjects/{subject_id}/events``: ``{"subject_id", "events"}``, the subject's stream as an
  export bundle's ``events.jsonl`` lines, in version order (what a remote recorder runs the
  rules on again before it signs);
* ``/summary``: ``summary --json`` (not for site staff).

The server keeps one :class:`~projections.engine.ProjectionEngine` on the views
(:func:`served_views`, a :class:`~projections.queries.SharedViews`) and catches it up,
verified, before answering when the ledger moved; a catch-up excludes every read of the views
(a readers-writer lock), and each request reads the ledger through its thread's reader. Every
read by a person is recorded in the access log before it is answered.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict

from ledger.bundle.export import event_line
from ledger.cli.common import parse_date
from ledger.cli.projections import utc
from ledger.errors import UsageError
from ledger.events import is_subject_id, subject_stream_id
from ledger.server.access import Caller, CallerDep, require_subject, require_whole_log
from ledger.server.access.access_log import record_read, subjects_named
from ledger.server.api.log import (
    PROBLEMS,
    LogEvent,
    Page,
    at_least,
    bad_request,
    hide_names,
    json_response,
    next_link,
    page_limit,
)
from ledger.server.app import server_state
from ledger.server.problems import ProblemError
from ledger.server.state import ServerState
from ledger.store import LedgerReader
from projections import queries
from projections.engine import ProjectionEngine
from projections.queries import SharedViews

router = APIRouter(prefix="/v1", tags=["projections"], responses=PROBLEMS)
T = TypeVar("T")


_MAKING = threading.Lock()


def served_views(state: ServerState) -> SharedViews:
    """The server's one engine on the views (:class:`~projections.queries.SharedViews`),
    made on first use."""
    with _MAKING:
        found = state.extensions.get("views")
        if not isinstance(found, SharedViews):
            found = SharedViews(state.config.db, state.config.views, state.reader)
            state.extensions["views"] = found
            weakref.finalize(state, _close, found.engine)  # no reference to the state
    return found


def _close(engine: ProjectionEngine) -> None:
    engine.close()
    engine.reader.close()


def query(request: Request, ask: Callable[[LedgerReader, ProjectionEngine], T]) -> T:
    """``ask(reader, engine)`` on current views; a refused parameter is a 400 problem."""
    with served_views(server_state(request)).reading() as (reader, engine):
        try:
            return ask(reader, engine)
        except queries.QueryError as e:
            raise bad_request(e.parameter, e.value, e.rule) from None


def parsed(parameter: str, value: str | None, parse: Callable[[str], T]) -> T | None:
    """``parse(value)`` (None stays None); a refusal is a 400 problem naming ``parameter``."""
    if value is None:
        return None
    try:
        return parse(value)
    except UsageError as e:
        raise ProblemError(400, "bad-request", str(e), field=parameter, value=value[:80]) from None


def checked_subject(caller: Caller, subject_id: str) -> None:
    if not is_subject_id(subject_id):
        raise bad_request("subject_id", subject_id, "expected a subject id such as MC0282-001-017")
    require_subject(caller, subject_id)


# --------------------------------------------------------------------------- models


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class AsOf(BaseModel):
    position: int
    recorded_at: str | None
    requested_time: str | None
    on: str | None
    source: str
    views_proved: dict[str, Any] | None


class SubjectReport(_Open):
    as_of: AsOf
    subject_id: str
    site: str | None
    regimen: str
    response: dict[str, Any]


class ResponseHistory(_Open):
    subject_id: str
    as_of: AsOf


class SubjectEvents(BaseModel):
    subject_id: str
    events: list[LogEvent]


class SubjectLine(BaseModel):
    subject_id: str
    site: str | None
    regimen: str
    regimen_since: str | None
    status: str
    enrolled_on: str | None
    last_position: int


class SubjectList(BaseModel):
    subjects: list[SubjectLine]
    position: int


class AuditRow(BaseModel):
    position: int
    hash: str
    event_type: str
    subject_id: str | None
    key_id: str | None
    printed_name: str | None
    role: str | None
    site: str | None
    clinical_date: str | None
    recorded_at: str | None
    meaning: str | None
    what: str | None
    field: str | None
    old_value: Any
    new_value: Any
    corrects_position: int | None
    corrected_by: list[int]
    signed_by: list[str]
    why: str | None
    commit_seq: int


class AuditTrail(BaseModel):
    filters: dict[str, str | None]
    position: int
    columns: list[str]
    events: list[AuditRow]
    count: int
    next_after: int | None


class TrialSummary(_Open):
    position: int
    views_proved: dict[str, Any] | None


# --------------------------------------------------------------------------- routes

AsOfParam = Annotated[str | None, Query(description="The ledger as recorded up to this time.")]
PositionParam = Annotated[int | None, Query(description="The ledger up to this position.")]
OnParam = Annotated[str | None, Query(description="Clinical state on this date (YYYY-MM-DD).")]


@router.get("/subjects", response_model=SubjectList, summary="The subjects")
def subjects(
    request: Request,
    caller: CallerDep,
    site: Annotated[str | None, Query(description="Only this site's subjects.")] = None,
) -> Response:
    if site is not None and not caller.may_read_site(site):
        raise ProblemError(
            403, "forbidden", f"{caller.describe()} sees only the subjects of site {caller.site}"
        )
    wanted = caller.site if site is None and caller.site_bound else site

    def ask(reader: LedgerReader, engine: ProjectionEngine) -> dict[str, Any]:
        found = queries.subjects(reader, engine, site=wanted)
        return {"subjects": found, "position": queries.tracked(engine)}

    body = query(request, ask)
    record_read(request, caller, [s["subject_id"] for s in body["subjects"]], "subjects")
    return json_response(body)


def _subject_read(
    request: Request,
    caller: Caller,
    subject_id: str,
    asked: tuple[str | None, int | None, str | None],
    report: Callable[..., dict[str, Any]],
) -> dict[str, Any]:
    checked_subject(caller, subject_id)
    as_of, position, on = asked
    if as_of is not None and position is not None:
        raise bad_request("position", position, "give at most one of as_of and position")
    at_least("position", position, 1)
    requested = parsed("as_of", as_of, lambda v: utc(v, "as_of"))
    on_date = parsed("on", on, lambda v: parse_date(v, "on"))
    return query(
        request,
        lambda reader, engine: report(
            reader, engine, subject_id, as_of=requested, position=position, on=on_date
        ),
    )


@router.get("/subjects/{subject_id}", response_model=SubjectReport, summary="One subject")
def subject(
    request: Request,
    caller: CallerDep,
    subject_id: str,
    as_of: AsOfParam = None,
    position: PositionParam = None,
    on: OnParam = None,
) -> Response:
    asked = (as_of, position, on)
    body = _subject_read(request, caller, subject_id, asked, queries.subject_report)
    record_read(request, caller, [subject_id], "subject")
    return json_response(body)


@router.get(
    "/subjects/{subject_id}/responses",
    response_model=ResponseHistory,
    summary="One subject's response history",
)
def responses(
    request: Request,
    caller: CallerDep,
    subject_id: str,
    as_of: AsOfParam = None,
    position: PositionParam = None,
    on: OnParam = None,
) -> Response:
    asked = (as_of, position, on)
    body = _subject_read(request, caller, subject_id, asked, queries.response_history)
    record_read(request, caller, [subject_id], "responses")
    return json_response(body)


@router.get(
    "/subjects/{subject_id}/events",
    response_model=SubjectEvents,
    summary="One subject's stored events",
)
def subject_events(request: Request, caller: CallerDep, subject_id: str) -> Response:
    checked_subject(caller, subject_id)
    with server_state(request).snapshot() as reader:
        rows = reader.stream_rows(subject_stream_id(subject_id).hex)
    record_read(request, caller, [subject_id], "subject events")
    return json_response({"subject_id": subject_id, "events": [event_line(r) for r in rows]})


@router.get(
    "/audit-trail",
    response_model=AuditTrail,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    summary="Who did what, when and why",
)
def audit_trail(
    request: Request,
    caller: CallerDep,
    subject: Annotated[str | None, Query(description="Only this subject.")] = None,
    person: Annotated[str | None, Query(description="A key id, or part of a name.")] = None,
    type_: Annotated[str | None, Query(alias="type", description="An event type.")] = None,
    from_: Annotated[str | None, Query(alias="from", description="Recorded at or after.")] = None,
    to: Annotated[str | None, Query(description="Recorded at or before.")] = None,
    after: Annotated[int, Query(description="Rows after this position.")] = 0,
    limit: Page = None,
    format_: Annotated[str | None, Query(alias="format", description="json or csv.")] = None,
) -> Response:
    csv_out = _wants_csv(request, format_)
    if subject is not None:
        checked_subject(caller, subject)
    if person is not None and not caller.sees_names and person not in _key_ids(request):
        raise bad_request("person", person, "a consumer filters people by registered key id")
    at_least("after", after, 0)
    most = page_limit(server_state(request), limit)
    try:
        f = queries.audit_filter(
            subject=subject,
            person=person,
            type_=type_,
            from_=parsed("from", from_, lambda v: utc(v, "from")),
            to=parsed("to", to, lambda v: utc(v, "to", end_of_day=True)),
        )
    except queries.QueryError as e:
        raise bad_request(e.parameter, e.value, e.rule) from None
    site = caller.site if caller.site_bound else None

    def ask(reader: LedgerReader, engine: ProjectionEngine) -> tuple[int, list[dict[str, Any]]]:
        rows = queries.audit_rows(reader, engine, f, site=site, after=after, limit=most + 1)
        return queries.tracked(engine), list(rows)

    position, rows = query(request, ask)
    more = rows[most - 1]["position"] if len(rows) > most else None
    shown = hide_names(rows[:most], caller)
    record_read(
        request, caller, sorted({r["subject_id"] for r in shown if r["subject_id"]}), "audit"
    )
    headers = next_link(request, "after", more)
    if csv_out:
        text = "".join(queries.audit_csv_lines(shown))
        return Response(text, media_type="text/csv; charset=utf-8", headers=headers)
    body = {**queries.audit_document(f, position, shown), "next_after": more}
    return json_response(body, headers=headers)


def _wants_csv(request: Request, format_: str | None) -> bool:
    if format_ is not None:
        if format_ not in ("json", "csv"):
            raise bad_request("format", format_, "json or csv")
        return format_ == "csv"
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept


def _key_ids(request: Request) -> set[str]:
    return set(server_state(request).registry().keys)


@router.get("/summary", response_model=TrialSummary, summary="The trial's objectives")
def summary(request: Request, caller: CallerDep) -> Response:
    require_whole_log(caller)
    body = query(request, queries.trial_summary)
    record_read(request, caller, subjects_named(body), "summary")
    return json_response(body)
