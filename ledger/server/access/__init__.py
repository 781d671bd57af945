"""Access to the served ledger: who is calling, what they may see, and the log of reads.

Every route takes the caller as a dependency (:data:`CallerDep`): a request signed with the
caller's registered Ed25519 key (RFC 9421 HTTP Message Signatures), or carrying a short-lived
token obtained by such a request. There are no passwords. The key registry decides the
caller's role and site as it stands at the request (a revoked or expired key is refused from
the next request on). See :mod:`ledger.server.access.caller` for what each role sees.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from ledger.server.access.caller import Caller
from ledger.server.problems import ProblemError


async def current_caller(request: Request) -> Caller:
    """The authenticated caller of ``request`` (401 problem if none, 403 if refused).

    The body is read first (kept for the route), so a signature's ``content-digest`` is
    checked against it; the check itself reads the key registry, in a worker thread."""
    request.state.body = await request.body()
    authenticate = request.app.state.authenticate
    caller: Caller = await run_in_threadpool(authenticate, request)
    request.state.caller = caller
    return caller


CallerDep = Annotated[Caller, Depends(current_caller)]


def require_whole_log(caller: Caller) -> None:
    """Refuse a site-bound caller a listing that names every site's subjects."""
    if not caller.may_read_whole_log:
        raise ProblemError(
            403,
            "forbidden",
            f"{caller.describe()} sees only the subjects of site {caller.site}; the whole "
            "log and trial-level figures are for monitors, data managers, auditors, the "
            "sponsor and consumers",
        )


def require_subject(caller: Caller, subject_id: str) -> None:
    """Refuse a site-bound caller a subject of another site (as not found: a site's staff
    does not learn which subject ids exist elsewhere)."""
    if not caller.may_read_subject(subject_id):
        raise ProblemError(
            404, "not-found", f"subject {subject_id} not found at site {caller.site}"
        )


__all__ = ["Caller", "CallerDep", "current_caller", "require_subject", "require_whole_log"]
