"""The signed log itself, for consumers and verifying followers: the ledger's head, events
after a position with their leaves, commits, checkpoints (C2SP signed notes), RFC 9162
proofs, and the key and site registry.

Shapes (all GET, under /v1):

* ``/ledger``: ``{"ledger_id", "trial_id", "tree_size", "commits", "latest_checkpoint":
  {"tree_size", "root"} | null}`` (``root`` base64, as in the note and the proofs);
* ``/log/events?after=P&limit=N``: ``{"events": [...], "tree_size", "next_after"}``, each
  event exactly an export bundle's ``events.jsonl`` line (``position``, ``originator_id``,
  ``originator_version``, ``topic``, ``state`` (the stored JSON text), ``leaf_hash`` (hex),
  ``commit``), in position order, read in one snapshot;
* ``/log/commits?after_seq=S&limit=N``: ``{"commits": [...], "next_after_seq"}``, each a
  bundle's ``commits.jsonl`` line (``seq``, ``first_position``, ``last_position``,
  ``prev_leaf``, ``events_root`` (hex), ``signer``, ``meaning``, ``recorded_at``,
  ``signature`` (base64));
* ``/checkpoint``: the latest checkpoint's signed note as ``text/plain``, the stored bytes
  (404 problem if none); ``/checkpoints?after_size=N``: ``{"checkpoints": [{"tree_size",
  "note"}]}``, smallest first;
* ``/proof/inclusion?position=&tree_size=``, ``/proof/consistency?from=&to=``: exactly
  ``trial-ledger proof inclusion|consistency --json`` (:mod:`ledger.proofs`);
* ``/genesis``: ``{"event", "commit"}``, position 1 as a bundle's ``events.jsonl`` line and
  commit 1 as a ``commits.jsonl`` line (the trial's TrialCreated, signed by the sponsor; 404
  problem on a ledger without one);
* ``/registry``: ``{"keys": [as keys list --json], "sites": [as sites list --json]}``;
  consumers get ``printed_name`` null.

A list that can be long pages by position: ``after`` and ``limit`` (at most the server's
page size), ``next_after`` null on the last page, and a ``Link: <...>; rel="next"`` header.
The raw log (events and commits) is refused to site-bound staff: it names every site's
subjects. The proofs (hashes only), the checkpoints and the genesis (the trial's identity and
keys) name no subject: every authenticated caller may read them, so site staff can prove the
head a commit of theirs extends (``remote --sponsor-key``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from itertools import islice
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from ledger import proofs
from ledger.bundle.export import commit_line, event_line
from ledger.integrity.checkpoint import parse_checkpoint
from ledger.registry import KeyRegistry
from ledger.server.access import Caller, CallerDep, require_whole_log
from ledger.server.access.access_log import record_read, subjects_named
from ledger.server.app import server_state
from ledger.server.problems import PROBLEM_MEDIA_TYPE, PROBLEM_RESPONSES, ProblemError
from ledger.server.state import ServerState
from ledger.store import LedgerReader

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {
        **answer,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status, answer in PROBLEM_RESPONSES.items()
}
"""The problems a read route may answer, documented as ``application/problem+json``."""
router = APIRouter(prefix="/v1", tags=["log"], responses=PROBLEMS)
TRIAL_ID = "NCT00635154"


# --------------------------------------------------------------------------- shared helpers


def json_response(document: Any, *, headers: dict[str, str] | None = None) -> Response:
    """``document`` as the CLI's ``--json`` writes it (same values, ``default=str``)."""
    body = json.dumps(document, ensure_ascii=False, default=str)
    return Response(body, media_type="application/json", headers=headers)


def bad_request(parameter: str, value: object, rule: str) -> ProblemError:
    """A 400 problem naming the query parameter, its value and the rule."""
    return ProblemError(
        400,
        "bad-request",
        f"{parameter}={value!r} refused: {rule}",
        field=parameter,
        value=str(value),
    )


def page_limit(state: ServerState, limit: int | None) -> int:
    """``limit`` checked against the server's page size (which is also the default)."""
    most = state.config.page_size
    if limit is None:
        return most
    if not 1 <= limit <= most:
        raise bad_request("limit", limit, f"between 1 and the page size {most}")
    return limit


MOST = 2**62  # the largest position or sequence number a query parameter may name


def at_least(parameter: str, value: int | None, least: int) -> None:
    """``value`` (when given) between ``least`` and :data:`MOST`."""
    if value is not None and not least <= value <= MOST:
        raise bad_request(parameter, value, f"between {least} and {MOST}")


def next_link(request: Request, parameter: str, value: int | None) -> dict[str, str]:
    """The ``Link: rel="next"`` header of a page (none on the last page)."""
    if value is None:
        return {}
    url = request.url.include_query_params(**{parameter: value})
    return {"Link": f'<{url}>; rel="next"'}


def hide_names(rows: Iterable[dict[str, Any]], caller: Caller) -> list[dict[str, Any]]:
    """``rows`` with ``printed_name`` null for a caller who sees people by key id only."""
    if caller.sees_names:
        return list(rows)
    return [{**r, "printed_name": None} for r in rows]


Page = Annotated[int | None, Query(description="At most this many items (the page size).")]


# --------------------------------------------------------------------------- models


class LatestCheckpoint(BaseModel):
    tree_size: int
    root: str = Field(description="The tree's RFC 9162 root, base64 (as in the note)")


class LedgerHead(BaseModel):
    ledger_id: str | None
    trial_id: str
    tree_size: int
    commits: int
    latest_checkpoint: LatestCheckpoint | None


class LogEvent(BaseModel):
    """One line of an export bundle's events.jsonl."""

    position: int
    originator_id: str
    originator_version: int
    topic: str
    state: str = Field(description="The stored event JSON text")
    leaf_hash: str = Field(description="hex")
    commit: int


class EventsPage(BaseModel):
    events: list[LogEvent]
    tree_size: int
    next_after: int | None


class LogCommit(BaseModel):
    """One line of an export bundle's commits.jsonl."""

    seq: int
    first_position: int
    last_position: int
    prev_leaf: str
    events_root: str
    signer: str
    meaning: str
    recorded_at: str
    signature: str = Field(description="base64")


class CommitsPage(BaseModel):
    commits: list[LogCommit]
    next_after_seq: int | None


class StoredCheckpoint(BaseModel):
    tree_size: int
    note: str


class CheckpointList(BaseModel):
    checkpoints: list[StoredCheckpoint]


class InclusionProof(BaseModel):
    leafIdx: int  # noqa: N815 - the RFC 9162 vector names
    treeSize: int  # noqa: N815
    leafHash: str  # noqa: N815
    root: str
    proof: list[str]


class ConsistencyProof(BaseModel):
    size1: int
    size2: int
    root1: str
    root2: str
    proof: list[str]


class Genesis(BaseModel):
    """The trial's genesis: position 1 (TrialCreated) and commit 1, which holds exactly it."""

    event: LogEvent
    commit: LogCommit


class Registry(BaseModel):
    keys: list[dict[str, Any]]
    sites: list[dict[str, Any]]


# --------------------------------------------------------------------------- shapes


def registry_document(registry: KeyRegistry, caller: Caller) -> dict[str, Any]:
    """``keys list --json``'s keys and ``sites list --json``'s sites of ``registry``."""
    keys = [
        {
            **k.key.model_dump(mode="json"),
            "registered_at": k.registered_at,
            "status": "active" if k.retired_at is None else k.retired_by,
            "retired_at": k.retired_at,
            "retired_reason": k.retired_reason,
        }
        for k in registry.keys.values()
    ]
    sites = [
        {
            "site": s.site,
            "label": s.label,
            "registered_at": s.registered_at,
            "effective_date": s.effective_date.isoformat(),
            "reason": s.reason,
        }
        for s in sorted(registry.sites.values(), key=lambda s: s.site)
    ]
    return {"keys": hide_names(keys, caller), "sites": sites}


def _commits(reader: LedgerReader, size: int) -> int:
    last = reader.commit_at(size) if size else None
    return last.header.seq if last is not None else 0


# --------------------------------------------------------------------------- routes


@router.get("/ledger", response_model=LedgerHead, summary="The ledger's identity and head")
def ledger_head(request: Request, caller: CallerDep) -> Response:
    del caller  # any registered caller: the head names no subject
    with server_state(request).snapshot() as reader:
        size = reader.size()
        stored = reader.checkpoints()
        latest = None
        if stored:
            tree_size, note, _ = stored[-1]
            checkpoint, _ = parse_checkpoint(note)
            latest = {"tree_size": tree_size, "root": base64.b64encode(checkpoint.root).decode()}
        return json_response(
            {
                "ledger_id": reader.meta("ledger_id"),
                "trial_id": TRIAL_ID,
                "tree_size": size,
                "commits": _commits(reader, size),
                "latest_checkpoint": latest,
            }
        )


@router.get("/log/events", response_model=EventsPage, summary="Events after a position")
def log_events(
    request: Request,
    caller: CallerDep,
    after: Annotated[int, Query(description="Events after this position.")] = 0,
    limit: Page = None,
) -> Response:
    require_whole_log(caller)
    state = server_state(request)
    at_least("after", after, 0)
    most = page_limit(state, limit)
    with state.snapshot() as reader:
        size = reader.size()
        events = [event_line(r) for r in reader.iter_events(after + 1, after + most)]
    last = events[-1]["position"] if events else after
    more = last if last < size and events else None
    if caller.is_person:  # the page's subjects' clinical records, read by a person
        named = subjects_named([json.loads(e["state"]) for e in events])
        record_read(request, caller, named, f"log events {after + 1}-{last}")
    body = {"events": events, "tree_size": size, "next_after": more}
    return json_response(body, headers=next_link(request, "after", more))


@router.get("/log/commits", response_model=CommitsPage, summary="Commits after a sequence")
def log_commits(
    request: Request,
    caller: CallerDep,
    after_seq: Annotated[int, Query(description="Commits after this sequence number.")] = 0,
    limit: Page = None,
) -> Response:
    require_whole_log(caller)
    state = server_state(request)
    at_least("after_seq", after_seq, 0)
    most = page_limit(state, limit)
    with state.snapshot() as reader:
        commits = [commit_line(c) for c in islice(reader.iter_commits(after_seq + 1), most)]
        total = _commits(reader, reader.size())
    last = commits[-1]["seq"] if commits else after_seq
    more = last if commits and last < total else None
    body = {"commits": commits, "next_after_seq": more}
    return json_response(body, headers=next_link(request, "after_seq", more))


@router.get(
    "/checkpoint",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    summary="The latest checkpoint, a C2SP signed note",
)
def latest_checkpoint(request: Request, caller: CallerDep) -> Response:
    del caller  # a tree head names no subject
    with server_state(request).snapshot() as reader:
        stored = reader.checkpoints()
    if not stored:
        raise ProblemError(404, "not-found", "no checkpoint kept in the ledger yet")
    return Response(stored[-1][1].encode("utf-8"), media_type="text/plain; charset=utf-8")


@router.get("/checkpoints", response_model=CheckpointList, summary="Kept checkpoints")
def checkpoints(
    request: Request,
    caller: CallerDep,
    after_size: Annotated[int, Query(description="Checkpoints of larger trees.")] = 0,
) -> Response:
    del caller
    at_least("after_size", after_size, 0)
    with server_state(request).snapshot() as reader:
        stored = reader.checkpoints()
    notes = [{"tree_size": s, "note": n} for s, n, _ in stored if s > after_size]
    return json_response({"checkpoints": notes})


@router.get("/proof/inclusion", response_model=InclusionProof, summary="RFC 9162 inclusion")
def proof_inclusion(
    request: Request,
    caller: CallerDep,
    position: Annotated[int, Query(description="The event's position (leaf index + 1).")],
    tree_size: Annotated[int | None, Query(description="The tree (default: the head).")] = None,
) -> Response:
    del caller  # hashes only: a proof names no subject
    with server_state(request).snapshot() as reader:
        size = reader.size()
        if tree_size is not None and not 1 <= tree_size <= size:
            raise bad_request("tree_size", tree_size, f"the ledger holds positions 1..{size}")
        upto = size if tree_size is None else tree_size
        if not 1 <= position <= upto:
            raise bad_request(
                "position", position, f"the tree of size {upto} holds positions 1..{upto}"
            )
        return json_response(proofs.inclusion(reader, position, tree_size))


@router.get("/proof/consistency", response_model=ConsistencyProof, summary="RFC 9162 consistency")
def proof_consistency(
    request: Request,
    caller: CallerDep,
    from_: Annotated[int, Query(alias="from", description="The earlier tree's size.")],
    to: Annotated[int | None, Query(description="The later tree's size (the head).")] = None,
) -> Response:
    del caller  # hashes only: a proof names no subject
    with server_state(request).snapshot() as reader:
        size = reader.size()
        if to is not None and not 1 <= to <= size:
            raise bad_request("to", to, f"the ledger holds positions 1..{size}")
        second = size if to is None else to
        if not 1 <= from_ <= second:
            raise bad_request("from", from_, f"between 1 and to ({second})")
        return json_response(proofs.consistency(reader, from_, to))


@router.get("/genesis", response_model=Genesis, summary="Position 1 and commit 1")
def genesis(request: Request, caller: CallerDep) -> Response:
    del caller  # the trial's identity and keys: no subject data
    with server_state(request).snapshot() as reader:
        row = reader.event_at(1)
        first = reader.commit_at(1)
    if row is None or first is None:
        raise ProblemError(404, "not-found", "the ledger holds no genesis yet")
    return json_response({"event": event_line(row), "commit": commit_line(first)})


@router.get("/registry", response_model=Registry, summary="Registered keys and sites")
def registry(request: Request, caller: CallerDep) -> Response:
    return json_response(registry_document(server_state(request).registry(), caller))
