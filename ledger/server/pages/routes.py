"""The monitor's pages (all GET but the log-in and log-out forms).

* ``/login``: a form taking a token (``trial-ledger remote token --server URL --key FILE``
  obtains one with a signed request); ``POST /login`` checks it against the key registry as
  it stands now and keeps it in the pages' HttpOnly, SameSite=Strict cookie; ``/logout``
  ends the token and the cookie.
* ``/``: the subjects by site with their regimen (since when), status and enrolment date.
* ``/subjects/{subject_id}?as_of=&position=&on=``: the subject's timeline (inline SVG) and
  tables of the same facts, as the ledger said at a time or position, on a clinical date.
* ``/audit?subject=&person=&type=&from=&to=&after=&limit=``: the audit trail, a page of
  rows after a position (100 by default, at most 1,000), and a link to the same rows as CSV
  (``GET /v1/audit-trail?format=csv``).

A page is shown only to an authenticated person: without a valid token (or signature) every
page redirects to /login; a consumer (a system) is refused the pages (403), and site staff
see only their own site's subjects (another site's subject is not found, as in the API).
Every read of a subject's data, and every audit page, is recorded in the log of reads before
it is shown (:func:`ledger.server.access.access_log.record_read`); a read that cannot be
recorded is refused. Bad input is a problem page naming the field, the value and the rule.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from ledger.cli.common import parse_date
from ledger.cli.projections import utc
from ledger.errors import LedgerError
from ledger.events import is_subject_id
from ledger.server.access import current_caller, require_subject
from ledger.server.access.access_log import record_read
from ledger.server.access.authentication import (
    caller_from_token,
    carried_token,
    token_cookie,
    tokens_of,
)
from ledger.server.access.caller import Caller
from ledger.server.access.tokens import TOKEN_COOKIE
from ledger.server.pages import data
from ledger.server.pages.render import STATIC, problem_page, render
from ledger.server.problems import ProblemError
from ledger.server.state import ServerState
from projections.decoding import EVENT_TYPE

router = APIRouter(include_in_schema=False)
LOGIN = "/login"
TOKEN_MAX = 200
"""Characters a pasted token may have (a token is 43)."""


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.server
    return state


async def _person(request: Request) -> Caller | Response:
    """The caller of a page, or the response instead of the page: a redirect to /login
    without a valid token, the problem page for a refusal or for a consumer."""
    try:
        caller = await current_caller(request)
    except ProblemError as e:
        if e.status == 401:
            return RedirectResponse(LOGIN, status_code=303)
        return problem_page(request, e)
    if not caller.is_person:
        return problem_page(request, _consumer_refused(caller))
    return caller


def _consumer_refused(caller: Caller) -> ProblemError:
    return ProblemError(
        403,
        "forbidden",
        f"{caller.describe()}: the pages are for persons (monitors, auditors, data managers, "
        "the sponsor, site staff); a consumer reads the JSON API under /v1",
    )


@router.get("/pages/static/pages.css")
def stylesheet() -> FileResponse:
    return FileResponse(STATIC / "pages.css", media_type="text/css")


@router.get(LOGIN, response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return render("login.html", server=str(request.base_url).rstrip("/"), error=None)


def cross_site(request: Request) -> str | None:
    """Why a form post comes from another site (its ``Origin``, ``Referer`` or
    ``Sec-Fetch-Site`` says so), or None: a page may log a browser in or out only from this
    server's own pages (no login or logout forged by another site's form)."""
    own = str(request.base_url).rstrip("/")
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return f"Sec-Fetch-Site: {fetch_site[:40]}"
    origin = request.headers.get("origin")
    if origin == "null" and fetch_site is None:
        # The pages send no referrer, so a browser's own form posts say "null" and
        # Sec-Fetch-Site: same-origin; "null" alone proves nothing.
        return "Origin 'null' without Sec-Fetch-Site"
    if origin not in (None, "null") and origin.rstrip("/") != own:
        return f"Origin {origin[:80]!r} is not this server ({own})"
    referer = request.headers.get("referer")
    if origin is None and referer is not None and not referer.startswith(own + "/"):
        return f"Referer {referer[:80]!r} is not a page of this server ({own})"
    return None


@router.post(LOGIN, response_class=HTMLResponse)
async def login(request: Request, token: Annotated[str, Form()] = "") -> Response:
    """Check the pasted token now (its key in the registry as it stands) and keep it in the
    cookie; the form again, saying why, if it is refused (or posted from another site)."""
    token = token.strip()
    state = _state(request)
    server = str(request.base_url).rstrip("/")
    foreign = cross_site(request)
    if foreign is not None:
        return render("login.html", 403, server=server, error=f"login refused: {foreign}")
    if not 1 <= len(token) <= TOKEN_MAX:
        why = f"token refused: {len(token)} characters, a token has 1 to {TOKEN_MAX}"
        return render("login.html", 401, server=server, error=why)
    try:
        caller = await run_in_threadpool(caller_from_token, state, token)
    except ProblemError as e:
        return render("login.html", 401, server=server, error=e.detail)
    if not caller.is_person:
        return render("login.html", 403, server=server, error=_consumer_refused(caller).detail)
    response = RedirectResponse("/", status_code=303)
    token_cookie(response, token)
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    """End the token the cookie carries (on the server too) and the cookie; only from this
    server's own pages (a POST, never a link another site could make a browser follow)."""
    foreign = cross_site(request)
    if foreign is not None:
        server = str(request.base_url).rstrip("/")
        return render("login.html", 403, server=server, error=f"logout refused: {foreign}")
    try:
        token = carried_token(request)
    except ProblemError:
        token = None
    if token is not None:
        tokens_of(_state(request)).end(token)
    response = RedirectResponse(LOGIN, status_code=303)
    response.delete_cookie(TOKEN_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/", response_class=HTMLResponse)
async def subjects(request: Request) -> Response:
    caller = await _person(request)
    if isinstance(caller, Response):
        return caller

    def work() -> data.SubjectsPage:
        page = data.subjects_page(_state(request), caller)
        listed = [s["subject_id"] for lines in page.sites.values() for s in lines]
        record_read(request, caller, listed, "pages: subject list")
        return page

    try:
        page = await run_in_threadpool(work)
    except (ProblemError, LedgerError) as e:
        return problem_page(request, e, caller)
    return render("subjects.html", page=page, caller=caller, status=page.status)


def _given(value: str | None) -> str | None:
    """A form field as asked: None when left empty."""
    return value.strip() if value is not None and value.strip() else None


def _whole(value: str | None, field: str, low: int, high: int | None = None) -> int | None:
    """A whole-number query parameter within ``low``..``high`` (None when not given)."""
    if value is None:
        return None
    if value.isascii() and value.isdigit() and low <= int(value) <= (high or int(value)):
        return int(value)
    upto = f" to {high}" if high is not None else ""
    raise ProblemError(
        400,
        "bad-request",
        f"{field}={value[:80]!r} refused: expected a whole number from {low}{upto}",
        field=field,
        value=value[:80],
        rule=f"{field} in {low}..{high if high is not None else ''}",
    )


@router.get("/subjects/{subject_id}", response_class=HTMLResponse)
async def subject(
    request: Request,
    subject_id: str,
    as_of: str | None = None,
    position: str | None = None,
    on: str | None = None,
) -> Response:
    caller = await _person(request)
    if isinstance(caller, Response):
        return caller
    asked = {"as_of": _given(as_of), "position": _given(position), "on": _given(on)}

    def work() -> data.SubjectPage:
        if not is_subject_id(subject_id):
            raise ProblemError(
                400,
                "bad-request",
                f"subject_id={subject_id[:80]!r} refused: expected a subject id such as "
                "MC0282-001-017",
                field="subject_id",
                value=subject_id[:80],
                rule="MC0282-NNN-NNN",
            )
        require_subject(caller, subject_id)
        page = data.subject_page(
            _state(request),
            subject_id,
            as_of=utc(asked["as_of"], "as_of") if asked["as_of"] else None,
            position=_whole(asked["position"], "position", 1),
            on=parse_date(asked["on"], "on") if asked["on"] else None,
        )
        record_read(request, caller, [subject_id], "pages: subject timeline")
        return page

    try:
        page = await run_in_threadpool(work)
    except (ProblemError, LedgerError) as e:
        return problem_page(request, e, caller, back=f"/subjects/{subject_id}")
    return render("subject.html", page=page, caller=caller, status=page.status, asked=asked)


@router.get("/audit", response_class=HTMLResponse)
async def audit(request: Request) -> Response:
    """Query parameters ``subject``, ``person``, ``type``, ``from``, ``to`` (the audit-trail
    filters), ``after`` (a position) and ``limit`` (rows on the page)."""
    caller = await _person(request)
    if isinstance(caller, Response):
        return caller
    query = request.query_params
    asked = {name: _given(query.get(name)) for name in ("subject", "person", "type", "from", "to")}

    def work() -> data.AuditPage:
        filters = {
            **asked,
            "from": utc(asked["from"], "from") if asked["from"] else None,
            "to": utc(asked["to"], "to", end_of_day=True) if asked["to"] else None,
        }
        start = _whole(_given(query.get("after")), "after", 0) or 0
        limit = _whole(_given(query.get("limit")), "limit", 1, data.AUDIT_PAGE_MAX)
        page = data.audit_page(
            _state(request), caller, filters, after=start, limit=limit or data.AUDIT_PAGE
        )
        shown = {e["subject_id"] for e in page.document["events"] if e["subject_id"]}
        record_read(request, caller, shown, "pages: audit trail")
        return page

    try:
        page = await run_in_threadpool(work)
    except (ProblemError, LedgerError) as e:
        return problem_page(request, e, caller, back="/audit")
    given = {k: v for k, v in asked.items() if v is not None}
    csv_url = "/v1/audit-trail?" + urlencode({**given, "format": "csv"})
    paging = {"limit": query["limit"]} if "limit" in query else {}
    next_url = "/audit?" + urlencode({**given, **paging, "after": page.next_after})
    return render(
        "audit.html",
        page=page,
        caller=caller,
        status=page.status,
        asked=asked,
        csv_url=csv_url,
        next_url=next_url,
        event_types=sorted(set(EVENT_TYPE.values())),
    )
