"""Rendering the pages: one Jinja2 environment (autoescape always on, so any printable text a
record holds is shown as text), the problem page, and the headers every page carries.

Pages are plain HTML with inline SVG and one stylesheet served by the router; no script
runs. The Content-Security-Policy says so to the browser (nothing but this origin's
stylesheet and forms), and a page is never cached or framed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ledger.errors import LedgerError, ValidationError
from ledger.server.pages.timeline import LANES
from ledger.server.problems import TITLES, ProblemError, _status_of
from projections.queries import QueryError

HERE = Path(__file__).parent
STATIC = HERE / "static"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_labels = dict(LANES)
_env.globals["regimen_label"] = lambda regimen: _labels.get(regimen, regimen or "")


def render(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The template ``name`` with ``context`` (``caller`` and ``status`` default to None)."""
    context.setdefault("caller", None)
    context.setdefault("status", None)
    html = _env.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def problem_page(
    request: Request, e: ProblemError | LedgerError, caller: Any = None, back: str | None = None
) -> HTMLResponse:
    """The problem page of ``e``: the status, title, detail, field, value and rule the JSON
    API's RFC 9457 problem would give for it."""
    field: str | None = None
    value: str | None = None
    rule: str | None = None
    if isinstance(e, ProblemError):
        status, kind, detail = e.status, e.kind, e.detail
        field, value, rule = e.extra.get("field"), e.extra.get("value"), e.extra.get("rule")
    else:
        status, kind = _status_of(e)
        detail = e.diagnostics()
        if isinstance(e, QueryError):
            status, kind = 400, "bad-request"
            field, value, rule = e.parameter, str(e.value), e.rule
        elif isinstance(e, ValidationError):
            field, value, rule = e.field, None if e.value is None else str(e.value), e.rule
        if kind == "refused":  # a page is only ever asked to read: a refusal is of its query
            status, kind = 400, "bad-request"
    problem = {
        "status": status,
        "title": TITLES.get(kind, kind),
        "detail": detail,
        "field": field,
        "value": value,
        "rule": rule,
        "instance": request.url.path,
    }
    return render("problem.html", status, problem=problem, caller=caller, back=back)
