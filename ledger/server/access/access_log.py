"""The log of reads: who saw which subject's data, when, and the proof it was them.

Which reads are recorded, and why. 21 CFR Part 11 §11.10(e) asks for audit trails of the
creation, modification and deletion of records, not of reads; the ledger itself is that
trail. The EMA guideline on computerised systems and electronic data in clinical trials
(2023) expects access to subject data to be logged too, and HIPAA-style accounting of access
asks who saw which subject. So every read **by a person** (any role but ``consumer``) of
**subject-level data** is recorded: a subject's state, response history, timeline page,
audit-trail rows naming subjects, and the log of reads itself. A row holds who (key id,
printed name, role, site), which subjects (or the filter, for a listing), what (the route and
its query), when (UTC), how the caller was authenticated, and the request's signature
evidence (its ``Signature-Input`` and ``Signature``, or the token's id and the signature of
the request that obtained it), so the reader's own key proves the row.

Not recorded per request: reads by consumers (registered systems, whose keys and purpose the
registry names; what they receive is pseudonymous) and reads of the signed log, its proofs
and checkpoints (pseudonymous ids, verifiable by anyone; recording them would bury the reads
of subject data that matter). A read that must be recorded and cannot be is refused (503):
no person's read of a subject happens unrecorded.

Route engineers call :func:`record_read` before answering. ``GET /v1/access-log`` (sponsor,
monitor, auditor; filters ``subject``, ``person`` (key id or printed name), ``from``, ``to``
(ISO 8601 UTC)) answers ``{"items": [row, ...], "chain": {"rows", "last_hash", "ok",
"problems"}}``, each row ``{"seq", "at", "key_id", "printed_name", "role", "site", "via",
"route", "query", "subjects", "what", "evidence", "prev_hash", "row_hash"}``; it is itself a
recorded read. Storage: :mod:`ledger.server.access.access_store`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from ledger.errors import LedgerError
from ledger.server.access import CallerDep
from ledger.server.access.access_store import (
    AccessStore,
    Read,
    chain_problems,
    default_location,
    select,
)
from ledger.server.access.caller import Caller
from ledger.server.problems import ProblemError
from ledger.server.state import ServerState

router = APIRouter(tags=["access"])
"""Included under /v1 by :mod:`ledger.server.access.authentication`."""
STORE = "access_log"
FAILURE = "access_log_failure"


def open_for(state: ServerState) -> None:
    """Open (create) the server's log of reads; if it cannot be, reads by persons are
    refused until it can (the reason kept for the 503 problem)."""
    location = state.config.access_log or default_location(state.config.db)
    try:
        state.extensions[STORE] = AccessStore(location)
        state.extensions.pop(FAILURE, None)
    except LedgerError as e:
        state.extensions[FAILURE] = str(e)


def close_for(state: ServerState) -> None:
    store = state.extensions.pop(STORE, None)
    if isinstance(store, AccessStore):
        store.close()


def store_of(state: ServerState) -> AccessStore:
    store = state.extensions.get(STORE)
    if not isinstance(store, AccessStore):
        open_for(state)
        store = state.extensions.get(STORE)
    if not isinstance(store, AccessStore):
        why = state.extensions.get(FAILURE, "the access log is not open")
        raise ProblemError(
            503,
            "storage",
            f"read refused: it cannot be recorded in the log of reads ({why}); a person's "
            "read of subject data is never left unrecorded",
        )
    return store


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def record_read(request: Request, caller: Caller, subjects: Iterable[str], what: str) -> None:
    """Record that ``caller`` read ``subjects`` (none: a listing, its filter is the query)
    through this request; a consumer's read is not recorded. Call it before answering: if
    the row cannot be written, this raises a 503 problem and the read must not be served."""
    if not caller.is_person:
        return
    state: ServerState = request.app.state.server
    read = Read(
        at=now_utc(),
        key_id=caller.key_id,
        printed_name=caller.printed_name,
        role=caller.role,
        site=caller.site,
        via=caller.via,
        route=f"{request.method} {request.url.path}",
        query=request.url.query,
        subjects=json.dumps(sorted(set(subjects))),
        what=what,
        evidence=caller.evidence,
    )
    store = store_of(state)
    try:
        store.append(read)
    except LedgerError as e:
        raise ProblemError(
            503, "storage", f"read refused: {e}; a person's read is never left unrecorded"
        ) from None


def _instant(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ProblemError(
            400,
            "bad-request",
            f"{field}={value!r} refused: expected an ISO 8601 date or time (UTC)",
            field=field,
            value=value,
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@router.get("/access-log", summary="The log of reads of subject data by persons")
def access_log(
    request: Request,
    caller: CallerDep,
    subject: Annotated[str | None, Query(description="Rows naming this subject")] = None,
    person: Annotated[str | None, Query(description="A key id or printed name")] = None,
    since: Annotated[str | None, Query(alias="from", description="At or after (UTC)")] = None,
    until: Annotated[str | None, Query(alias="to", description="Before (UTC)")] = None,
) -> dict[str, Any]:
    if not caller.may_read_access_log:
        raise ProblemError(
            403,
            "forbidden",
            f"{caller.describe()} may not read the log of reads (sponsor, monitors and "
            "auditors only)",
        )
    store = store_of(request.app.state.server)
    rows = store.rows()
    problems = chain_problems(rows)
    chosen = select(
        rows,
        subject=subject,
        person=person,
        since=_instant(since, "from"),
        until=_instant(until, "to"),
    )
    named = {s for row in chosen for s in json.loads(row.read.subjects)}
    record_read(request, caller, named | ({subject} if subject else set()), "access log")
    return {
        "items": [row.to_json() for row in chosen],
        "chain": {
            "rows": len(rows),
            "last_hash": rows[-1].row_hash if rows else None,
            "ok": not problems,
            "problems": problems,
        },
    }


def subjects_named(document: object) -> list[str]:
    """Every subject id a document names (``subject_id`` members, ``*_subject_ids`` lists),
    once each, in order: the subjects a read of the trial summary is recorded against."""
    found: dict[str, None] = {}

    def walk(value: object, key: str = "") -> None:
        if isinstance(value, dict):
            for name, item in value.items():
                walk(item, str(name))
        elif isinstance(value, list):
            for item in value:
                walk(item, key)
        elif isinstance(value, str) and (key == "subject_id" or key.endswith("subject_ids")):
            found.setdefault(value, None)

    walk(document)
    return list(found)
