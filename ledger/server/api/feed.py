"""The live feed: each commit and each kept checkpoint as it lands, by server-sent events
(``GET /v1/feed``) or long polling (``GET /v1/feed/poll``).

What is announced comes from the ledger's own rows (the head watcher,
:mod:`ledger.server.watcher`), one event per commit, in seq order, none skipped. The feed names
no subject, so every authenticated caller may use it, site staff included. It proves nothing
by itself: a consumer verifies what it then fetches (``trial-ledger follow``).

``GET /v1/feed`` (``text/event-stream``): each event is ``id:``, ``event:`` and one ``data:``
line (one JSON object), then a blank line; a ``: ping`` comment every 15 s keeps an idle
stream open; the first line is ``retry: 2000`` (milliseconds before a browser reconnects).

* ``commit`` (id: the commit's seq): ``{"seq": int, "first_position": int, "last_position":
  int, "signer": key id, "meaning": str, "recorded_at": RFC 3339 UTC, "tree_size": int}``;
* ``checkpoint`` (id: ``cp-<tree size>``): ``{"tree_size": int, "root": base64 RFC 9162 root,
  "note": the C2SP signed note}``, sent after the commit that brought the ledger to its size;
* ``alarm`` (no id): ``{"reason": str, "at": RFC 3339 UTC}``: the server found the ledger
  wrong (its checkpointer's verification failed, or the head went back); a new stream gets the
  newest alarm first;
* ``end`` (no id, the last event): ``{"reason": "slow-subscriber" | "shutdown", "detail": str,
  "last_seq": int}``: the stream ends (this client fell too far behind, or the server is
  stopping); reconnect with ``Last-Event-ID`` to resume.

Resuming: ``Last-Event-ID: N`` (what a reconnecting EventSource sends) or ``?after_seq=N`` first
sends the newest kept checkpoint at or below commit N's size (it may have been signed after
the client went away), then every commit after N and every kept checkpoint above that size,
read from the ledger, then live ones: nothing is lost. ``Last-Event-ID: cp-S`` resumes after
the commit that ends at size S. ``Last-Event-ID`` wins over ``after_seq``. Without either, the
stream starts at the head.

``GET /v1/feed/poll?after_seq=N&timeout=S[&after_checkpoint=C]``: answers as soon as there is
a commit after N or a kept checkpoint above size C (default: commit N's size), or after S
seconds (default 25, at most 30) with empty lists: ``{"commits": [commit, ...] (at most the
server's page size), "checkpoints": [checkpoint, ...], "alarm": alarm | null}``, the objects
as above. A follower passes the size of the newest checkpoint it holds as
``after_checkpoint``, so that a checkpoint signed after its last commit also wakes it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ledger.server.access import CallerDep
from ledger.server.checkpointer import Checkpointer, unlock_checkpoint_key
from ledger.server.feed_state import EXTENSION, Cursor, Feed, merged
from ledger.server.hub import End, Hub, Subscription
from ledger.server.problems import PROBLEM_MEDIA_TYPE, PROBLEM_RESPONSES, ProblemError
from ledger.server.state import ServerState
from ledger.server.watcher import (
    PAGE,
    Alarm,
    CheckpointNotice,
    CommitNotice,
    FeedItem,
    HeadWatcher,
    alarm,
)

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {
        **answer,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status, answer in {
        **PROBLEM_RESPONSES,
        503: {"description": "The feed is not running (the server is stopping)"},
    }.items()
}
"""The problems a feed route may answer, as ``application/problem+json``."""
router = APIRouter(prefix="/v1", tags=["feed"], responses=PROBLEMS)

PING_SECONDS = 15.0
"""Seconds of silence after which a stream gets a ``: ping`` comment."""
RETRY_MS = 2000
POLL_TIMEOUT_MAX = 30.0
PING = b": ping\n\n"


class CommitEvent(BaseModel):
    seq: int
    first_position: int
    last_position: int
    signer: str = Field(description="The key id that signed the commit")
    meaning: str
    recorded_at: str
    tree_size: int = Field(description="The ledger's size once the commit landed")


class CheckpointEvent(BaseModel):
    tree_size: int
    root: str = Field(description="base64 RFC 9162 root, as the note states it")
    note: str = Field(description="The C2SP signed note (verify it with the ledger key)")


class AlarmEvent(BaseModel):
    reason: str
    at: str


class FeedPoll(BaseModel):
    """What landed after the client's place (empty lists: the timeout passed)."""

    commits: list[CommitEvent]
    checkpoints: list[CheckpointEvent]
    alarm: AlarmEvent | None


STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events: commit, checkpoint, alarm, end (see the module "
        "docstring of ledger.server.api.feed, or the README)",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
}


async def start(state: ServerState) -> None:
    """Start watching the ledger's head (and, with a checkpoint key, checkpointing)."""
    config = state.config
    signer = await run_in_threadpool(unlock_checkpoint_key, config)
    watcher = await run_in_threadpool(HeadWatcher, config.db, config.poll_interval)
    hub = Hub(watcher.seq, watcher.checkpoint_size)
    watcher.publish = hub.publish_from_thread
    checkpointer = None
    if signer is not None:
        checkpointer = Checkpointer(
            config,
            signer,
            signed_size=watcher.checkpoint_size,
            on_alarm=lambda reason: hub.publish_from_thread([alarm(reason)]),
        )
        watcher.on_commits = checkpointer.wake
    feed = Feed(state, watcher, hub, checkpointer)
    state.extensions[EXTENSION] = feed
    watcher.start()
    if checkpointer is not None:
        checkpointer.start()
    feed.end_streams_on_exit_signals()


async def stop(state: ServerState) -> None:
    """Stop watching, end every subscriber's stream."""
    feed: Feed | None = state.extensions.pop(EXTENSION, None)
    if feed is None:
        return
    feed.hub.close()
    feed.restore_signals()
    await run_in_threadpool(feed.close)


def _feed(request: Request) -> Feed:
    feed: Feed | None = request.app.state.server.extensions.get(EXTENSION)
    if feed is None or feed.hub.closed:
        raise ProblemError(503, "storage", "the feed is not running (the server is stopping)")
    return feed


def frame(item: FeedItem | End, last_seq: int = 0) -> bytes:
    """One event as the stream sends it."""
    if isinstance(item, CommitNotice):
        head, data = f"id: {item.seq}\nevent: commit\n", item.to_json()
    elif isinstance(item, CheckpointNotice):
        head, data = f"id: cp-{item.tree_size}\nevent: checkpoint\n", item.to_json()
    elif isinstance(item, Alarm):
        head, data = "event: alarm\n", item.to_json()
    else:
        head, data = "event: end\n", {**item.to_json(), "last_seq": last_seq}
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"{head}data: {text}\n\n".encode()


@router.get(
    "/feed",
    response_class=StreamingResponse,
    responses=STREAM_RESPONSES,
    summary="Each commit and checkpoint as it lands (server-sent events)",
)
async def feed_stream(
    request: Request,
    caller: CallerDep,
    after_seq: Annotated[
        int | None,
        Query(ge=0, le=2**62, description="Resume after this commit seq (0: from the start)"),
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(description="The id of the last event received (wins over after_seq)"),
    ] = None,
) -> StreamingResponse:
    feed = _feed(request)
    subscription = feed.hub.subscribe()
    live = feed.live_cursor()
    try:
        resumed = await run_in_threadpool(feed.resume, after_seq, last_event_id)
    except BaseException:
        feed.hub.unsubscribe(subscription)
        raise
    cursor, resend = resumed if resumed is not None else (live, None)
    return StreamingResponse(
        _stream(feed, subscription, cursor, resend, catch_up=resumed is not None),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(
    feed: Feed,
    subscription: Subscription,
    cursor: Cursor,
    resend: CheckpointNotice | None,
    *,
    catch_up: bool,
) -> AsyncIterator[bytes]:
    try:
        yield f"retry: {RETRY_MS}\n\n".encode()
        if feed.hub.alarm is not None:
            yield frame(feed.hub.alarm)
        if resend is not None:
            yield frame(resend)
        if catch_up:
            async for chunk in _from_ledger(feed, cursor):
                yield chunk
        async for chunk in _live(feed, subscription, cursor):
            yield chunk
    finally:
        feed.hub.unsubscribe(subscription)


async def _live(feed: Feed, subscription: Subscription, cursor: Cursor) -> AsyncIterator[bytes]:
    """What the hub hands on, until the subscription ends; what ``cursor`` has is skipped,
    a gap (which the hub's order rules out, but cheaply checked) is read from the ledger."""
    while True:
        item = await subscription.next(PING_SECONDS)
        if item is None:
            yield PING
        elif isinstance(item, End):
            yield frame(item, cursor.seq)
            return
        elif isinstance(item, Alarm):
            yield frame(item)
        else:
            if isinstance(item, CommitNotice) and item.seq > cursor.seq + 1:
                async for chunk in _from_ledger(feed, cursor):
                    yield chunk
            if _is_new(item, cursor):
                cursor.passed(item)
                yield frame(item)


def _is_new(item: CommitNotice | CheckpointNotice, cursor: Cursor) -> bool:
    if isinstance(item, CommitNotice):
        return item.seq > cursor.seq
    return item.tree_size > cursor.checkpoint_size


async def _from_ledger(feed: Feed, cursor: Cursor) -> AsyncIterator[bytes]:
    """Every commit after ``cursor`` and every checkpoint above it, read from the ledger."""
    while True:
        commits, checkpoints = await run_in_threadpool(feed.read_after, cursor, PAGE)
        for item in merged(commits, checkpoints):
            cursor.passed(item)
            yield frame(item)
        if len(commits) < PAGE:
            return


@router.get(
    "/feed/poll",
    response_model=FeedPoll,
    summary="Long polling: what landed after a commit seq",
)
async def feed_poll(
    request: Request,
    caller: CallerDep,
    after_seq: Annotated[int, Query(ge=0, le=2**62, description="The last commit seq held")],
    timeout: Annotated[
        float, Query(ge=0, le=POLL_TIMEOUT_MAX, description="Seconds to wait at most")
    ] = 25.0,
    after_checkpoint: Annotated[
        int | None,
        Query(
            ge=0,
            le=2**62,
            description="The size of the newest checkpoint held (default: commit after_seq's)",
        ),
    ] = None,
) -> dict[str, Any]:
    feed = _feed(request)
    subscription = feed.hub.subscribe()
    try:
        size = await run_in_threadpool(feed.check_after, after_seq)
        cursor = Cursor(after_seq, size if after_checkpoint is None else after_checkpoint)
        return await _poll(feed, subscription, cursor, timeout)
    finally:
        feed.hub.unsubscribe(subscription)


async def _poll(
    feed: Feed, subscription: Subscription, cursor: Cursor, timeout: float
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    limit = feed.state.config.page_size
    while True:
        commits, checkpoints = await run_in_threadpool(feed.read_after, cursor, limit)
        left = deadline - loop.time()
        if commits or checkpoints or left <= 0:
            break
        item = await subscription.next(left)
        if item is None or isinstance(item, End | Alarm):
            break
    newest = feed.hub.alarm
    return {
        "commits": [c.to_json() for c in commits],
        "checkpoints": [c.to_json() for c in checkpoints],
        "alarm": None if newest is None else newest.to_json(),
    }
