"""A hostile server for the follower's tests: the log API's routes and shapes
(``ledger.server.api.log``, the read API a follower uses) served from a ledger file, with
hooks that tamper with what is served, mid-stream.

:class:`HostileLog` holds the ledger file it serves (swappable: ``log.db = fork``) and the
hooks; :func:`hostile_app` is the ASGI app. Honest when no hook is set. Pages are written as
compact JSON text, one event (or commit) after another, so a hook can change any single
byte of what one event or commit is served as (``event_text``/``commit_text``).

Also here: ledgers a hostile operator could make (:func:`fork_of`, :func:`append_unauthorised`,
:func:`sign_checkpoint_over`), and :func:`edit_stored_state` (the triggers dropped and a row
changed, as tests/adversarial does).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Response
from fastapi.responses import PlainTextResponse, StreamingResponse

from ledger import proofs
from ledger.bundle.export import commit_line, event_line
from ledger.chain import EventRow, row_leaf
from ledger.events import LedgerEvent
from ledger.integrity import merkle
from ledger.integrity.checkpoint import Checkpoint, sign_checkpoint
from ledger.integrity.signing import Signer
from ledger.service import TrialLedger
from ledger.store import CommitSeal, LedgerReader
from ledger.store.tables import save_checkpoint
from ledger.verify import checkpoint_origin

EventHook = Callable[[dict[str, Any]], dict[str, Any] | None]
TextHook = Callable[[int, str], str]
PageHook = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


@dataclass
class HostileLog:
    """What the hostile server serves, and how it tampers (None: honestly)."""

    db: Path
    page_size: int = 7
    event: EventHook | None = None
    """Each served event (None: drop it)."""
    event_text: TextHook | None = None
    """(position, compact JSON text of the event) -> the text served."""
    events_page: PageHook | None = None
    """The events of a page, before they are written (reorder them)."""
    commit_text: TextHook | None = None
    """(seq, compact JSON text of the commit) -> the text served."""
    note: Callable[[str], str] | None = None
    """The latest checkpoint note -> the one served."""
    down: bool = False
    """Answer every request with 503."""
    refused: int = 0
    """Requests answered 503 so far."""
    page_delay: float = 0.0
    """Seconds each page of events takes (a slow server, for a sync cut short)."""
    served_events: int = 0
    """Events served so far (what a resumed sync fetched)."""

    def reader(self) -> LedgerReader:
        return LedgerReader(self.db)


def _text(document: object) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def _latest_note(log: HostileLog) -> str | None:
    with log.reader() as reader:
        kept = reader.checkpoints()
    if not kept:
        return None
    note = kept[-1][1]
    return log.note(note) if log.note is not None else note


def hostile_app(log: HostileLog) -> FastAPI:
    """The log API's follower routes over ``log`` (no authentication: a test server)."""
    app = FastAPI()

    @app.middleware("http")
    async def refuse_when_down(request: Any, call_next: Any) -> Any:
        if log.down:
            log.refused += 1
            return Response("down", status_code=503)
        return await call_next(request)

    @app.get("/v1/ledger")
    def ledger_head() -> Response:
        with log.reader() as reader:
            document = {
                "ledger_id": reader.meta("ledger_id"),
                "trial_id": "NCT00635154",
                "tree_size": reader.size(),
                "commits": sum(1 for _ in reader.iter_commits()),
                "latest_checkpoint": None,
            }
        return Response(_text(document), media_type="application/json")

    @app.get("/v1/checkpoint")
    def checkpoint() -> Response:
        note = _latest_note(log)
        if note is None:
            return Response('{"detail": "no checkpoint"}', status_code=404)
        return PlainTextResponse(note)

    @app.get("/v1/log/events")
    def events(after: int = 0) -> Response:
        return Response(_events_page(log, after), media_type="application/json")

    @app.get("/v1/log/commits")
    def commits(after_seq: int = 0) -> Response:
        return Response(_commits_page(log, after_seq), media_type="application/json")

    @app.get("/v1/proof/consistency")
    def consistency(size1: int = Query(alias="from"), size2: int = Query(alias="to")) -> Response:
        with log.reader() as reader:
            return Response(_text(proofs.consistency(reader, size1, size2)))

    @app.get("/v1/proof/inclusion")
    def inclusion(position: int, tree_size: int) -> Response:
        with log.reader() as reader:
            return Response(_text(proofs.inclusion(reader, position, tree_size)))

    @app.get("/v1/feed")
    def feed() -> StreamingResponse:
        return StreamingResponse(_checkpoint_feed(log), media_type="text/event-stream")

    return app


def _events_page(log: HostileLog, after: int) -> str:
    time.sleep(log.page_delay)
    with log.reader() as reader:
        rows = list(reader.iter_events(after + 1, after + log.page_size))
        size = reader.size()
    documents = [event_line(row) for row in rows]
    if log.event is not None:
        documents = [d for d in (log.event(dict(d)) for d in documents) if d is not None]
    if log.events_page is not None:
        documents = log.events_page(documents)
    texts = [_text(d) for d in documents]
    if log.event_text is not None:
        texts = [log.event_text(d["position"], t) for d, t in zip(documents, texts, strict=True)]
    log.served_events += len(texts)
    last = rows[-1].position if rows else after
    following = last if rows and last < size else None
    return f'{{"events":[{",".join(texts)}],"tree_size":{size},"next_after":{_text(following)}}}'


def _commits_page(log: HostileLog, after_seq: int) -> str:
    with log.reader() as reader:
        records = list(reader.iter_commits(after_seq + 1))[: log.page_size]
        last_seq = max((c.header.seq for c in reader.iter_commits()), default=0)
    texts = [_text(commit_line(c)) for c in records]
    if log.commit_text is not None:
        texts = [log.commit_text(c.header.seq, t) for c, t in zip(records, texts, strict=True)]
    last = records[-1].header.seq if records else after_seq
    following = last if records and last < last_seq else None
    return f'{{"commits":[{",".join(texts)}],"next_after_seq":{_text(following)}}}'


async def _checkpoint_feed(log: HostileLog) -> AsyncIterator[str]:
    """``checkpoint`` events as the served ledger keeps new ones (a poll every 50 ms)."""
    seen = 0
    yield ": connected\n\n"
    while True:
        with log.reader() as reader:
            kept = reader.checkpoints()
        if kept and kept[-1][0] > seen:
            seen = kept[-1][0]
            data = _text({"tree_size": seen, "note": kept[-1][1]})
            yield f"id: cp-{seen}\nevent: checkpoint\ndata: {data}\n\n"
        await asyncio.sleep(0.05)


# --------------------------------------------------------------------------- hostile ledgers


def sign_checkpoint_over(db: Path, ledger_key: Signer) -> str:
    """A checkpoint of everything ``db`` holds, signed with ``ledger_key`` without verifying
    anything first (what the holder of the ledger key can always do), kept in ``db``."""
    with LedgerReader(db) as reader:
        leaves = list(reader.leaf_hashes())
        ledger_id = reader.meta("ledger_id") or ""
    frontier = merkle.MerkleFrontier()
    for leaf in leaves:
        frontier.append(leaf)
    origin = checkpoint_origin(ledger_id)
    cp = Checkpoint(origin, len(leaves), frontier.root(), datetime.now(UTC).replace(microsecond=0))
    note = sign_checkpoint(cp, origin, ledger_key)
    save_checkpoint(db, cp.tree_size, note, json.dumps(frontier.to_json()))
    return note


def fork_of(db: Path, out: Path) -> Path:
    """A copy of ``db`` as it stands (its history to share), to be extended otherwise."""
    shutil.copyfile(db, out)
    return out


def append_unauthorised(db: Path, signer: Signer, events: list[LedgerEvent]) -> None:
    """A commit of ``events`` chained and signed by ``signer`` without the registry's
    authorisation (the store's own append: what a forger with write access can store)."""
    ledger = TrialLedger.open(db)
    try:
        ledger.store.append(events, CommitSeal(signer=signer))
    finally:
        ledger.close()


def edit_stored_state(
    db: Path, position: int, old: bytes, new: bytes, *, rehash: bool = False
) -> None:
    """Drop the append-only triggers and replace ``old`` by ``new`` in the stored state at
    ``position``; with ``rehash`` every leaf from there on is recomputed and stored (a
    rewritten history whose tree, and so its checkpoints' roots, differ from here on)."""
    conn = sqlite3.connect(db)
    try:
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='trigger'"
        ).fetchall():
            conn.execute(f"DROP TRIGGER {name}")
        (state,) = conn.execute(
            "SELECT state FROM stored_events WHERE position=?", (position,)
        ).fetchone()
        assert old in state, (old, state)
        conn.execute(
            "UPDATE stored_events SET state=? WHERE position=?",
            (bytes(state).replace(old, new, 1), position),
        )
        if rehash:
            _rehash_from(conn, position)
        conn.commit()
    finally:
        conn.close()


def _rehash_from(conn: sqlite3.Connection, position: int) -> None:
    (prev,) = conn.execute(
        "SELECT leaf_hash FROM stored_events WHERE position=?", (position - 1,)
    ).fetchone()
    rows = conn.execute(
        "SELECT position, originator_id, originator_version, topic, state, leaf_hash,"
        " commit_seq FROM stored_events WHERE position >= ? ORDER BY position",
        (position,),
    ).fetchall()
    for row in rows:
        leaf = row_leaf(EventRow(*row), bytes(prev))
        conn.execute("UPDATE stored_events SET leaf_hash=? WHERE position=?", (leaf, row[0]))
        prev = leaf
