"""RFC 9457 problem details: every error the server answers is one JSON object
``{type, title, status, detail, instance}`` (``application/problem+json``), plus ``rule``,
``field`` and ``value`` where the refusal names them, as the CLI's ``--json`` errors do.

``type`` is a URI under ``https://trial-ledger.example/problems/`` naming the kind of error
(``refused``, ``not-found``, ``unauthenticated``, ``forbidden``, ``head-moved``,
``integrity``, ``storage``, ``bad-request``, ``internal``). No traceback is ever sent.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from pydantic import ValidationError as PydanticValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.errors import (
    AuthorisationError,
    ConcurrencyError,
    LedgerError,
    NotFoundError,
    StorageError,
    ValidationError,
    VerificationError,
    refusal_from_pydantic,
    rule_cited,
    show_value,
)
from ledger.storage_errors import storage_refusal

PROBLEM_BASE = "https://trial-ledger.example/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("trial_ledger.server")


class Problem(BaseModel):
    """An RFC 9457 problem details object."""

    type: str = Field(description="URI of the kind of problem")
    title: str = Field(description="Short summary of the kind of problem")
    status: int = Field(description="The HTTP status code")
    detail: str = Field(description="What went wrong, naming the field, the value and the rule")
    instance: str | None = Field(default=None, description="The request path")
    rule: str | None = Field(default=None, description="The first rule id the detail cites")
    field: str | None = Field(default=None, description="The field refused, if one")
    value: str | None = Field(default=None, description="The value refused, if one")


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "model": Problem,
        "description": title,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status, title in (
        (400, "Bad request"),
        (401, "Unauthenticated"),
        (403, "Forbidden"),
        (404, "Not found"),
        (409, "Conflict: the ledger's head moved, or the subject is busy"),
        (422, "Refused"),
        (503, "Storage unavailable"),
    )
}
"""Problem responses every route may give (for the OpenAPI document)."""

TITLES = {
    "bad-request": "Bad request",
    "refused": "Refused by the trial's rules",
    "not-found": "Not found",
    "unauthenticated": "Unauthenticated",
    "forbidden": "Forbidden",
    "head-moved": "The ledger's head moved",
    "busy": "Busy",
    "integrity": "Integrity failure",
    "storage": "Storage unavailable",
    "internal": "Internal error",
}


class ProblemError(Exception):
    """Raised by a route to answer with one problem."""

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: str | None,
    ) -> None:
        super().__init__(detail)
        self.status, self.kind, self.detail = status, kind, detail
        self.headers = headers or {}
        self.extra = extra


def problem_response(
    request: Request,
    status: int,
    kind: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: str | None,
) -> JSONResponse:
    body = Problem(
        type=PROBLEM_BASE + kind,
        title=TITLES.get(kind, kind),
        status=status,
        detail=detail,
        instance=request.url.path,
        **extra,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _ledger_error(request: Request, e: LedgerError) -> JSONResponse:
    detail = e.diagnostics()
    field, value = None, None
    if isinstance(e, ValidationError):
        field, value = e.field, (None if e.value is None else _shown(e.value))
    status, kind = _status_of(e)
    return problem_response(
        request, status, kind, detail, rule=rule_cited(detail), field=field, value=value
    )


def _status_of(e: LedgerError) -> tuple[int, str]:
    if isinstance(e, NotFoundError):
        return 404, "not-found"
    if isinstance(e, AuthorisationError):
        return 403, "forbidden"
    if isinstance(e, ConcurrencyError):
        return 409, "busy"
    if isinstance(e, VerificationError):
        return 500, "integrity"
    if isinstance(e, StorageError):
        return 503, "storage"
    return 422, "refused"


def install(app: FastAPI) -> None:
    """Answer every error as a problem: raised problems, ledger refusals, request validation,
    HTTP errors of the framework, and anything unexpected (logged, never shown)."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, e: ProblemError) -> JSONResponse:
        return problem_response(request, e.status, e.kind, e.detail, headers=e.headers, **e.extra)

    @app.exception_handler(LedgerError)
    async def _ledger(request: Request, e: LedgerError) -> JSONResponse:
        return _ledger_error(request, e)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0] if e.errors() else {}
        kind = str(first.get("type", "invalid"))
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        if kind.startswith("json") or not where or where.isdigit():
            where = "body"  # the body as a whole (not JSON, or not an object)
        shown = _shown(first.get("input"))
        detail = f"{where}={shown} refused: [{kind}] {first.get('msg', 'invalid')}"
        return problem_response(
            request, 400, "bad-request", detail, rule=kind, field=where, value=shown
        )

    @app.exception_handler(PydanticValidationError)
    async def _model(request: Request, e: PydanticValidationError) -> JSONResponse:
        errors = e.errors()
        if not errors:
            return problem_response(request, 400, "bad-request", str(e))
        return _ledger_error(request, refusal_from_pydantic(errors[0]))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not-found", 401: "unauthenticated", 403: "forbidden"}.get(
            e.status_code, "bad-request"
        )
        detail = e.detail if isinstance(e.detail, str) else str(e.detail)
        return problem_response(request, e.status_code, kind, detail, headers=dict(e.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, e: Exception) -> JSONResponse:
        # A storage fault (PostgreSQL refusing the role, a locked or read-only file) is told
        # as the CLI tells it, password hidden: 503, not an internal error.
        config = request.app.state.server.config
        store = config.record_db if request.method == "POST" and config.record_db else config.db
        refusal = storage_refusal(e, ["--db", str(store)])
        if refusal is not None:
            log.warning("storage refused %s %s: %s", request.method, request.url.path, refusal)
            return _ledger_error(request, refusal)
        log.exception("unexpected error answering %s %s", request.method, request.url.path)
        return problem_response(
            request, 500, "internal", f"unexpected internal error ({type(e).__name__})"
        )


def _shown(value: object) -> str | None:
    """A refused value as the CLI shows one: escaped, cut after 80 characters with its size."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return show_value(value)
