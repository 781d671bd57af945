"""Following live (:func:`follow_live`): a sync, then waiting on the server's feed for the
next signed checkpoint, then another sync, until stopped.

The wait reads ``GET /v1/feed`` (server-sent events) and returns at a ``checkpoint`` event
larger than the mirror (after connecting it also asks ``GET /v1/checkpoint`` once, so a
checkpoint signed between the sync and the connection is not missed); a server without the
feed is asked ``GET /v1/checkpoint`` every ``interval`` seconds instead. The server's
``alarm`` events are passed on as warnings: the follower proves everything itself either way.

A server that cannot be reached, fails or drops the connection is tried again after 1, 2, 4
... 30 seconds (each try a whole sync from the mirror's verified state). An alarm (something
served did not verify), a refused key or a usage error ends the follower.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator

import httpx

from ledger.errors import LedgerError
from ledger.integrity.checkpoint import parse_checkpoint
from ledger.remote.follow import NoCheckpoint, Progress, SyncResult, sync
from ledger.remote.mirror import Mirror
from ledger.remote.wire import LogClient, ServerUnavailable

BACKOFF_FIRST, BACKOFF_MOST = 1.0, 30.0
"""Seconds before trying an unreachable server again, doubling up to the most."""
RESYNC_AFTER = 60.0
"""Seconds of feed without a checkpoint after which the follower asks for one anyway."""


def follow_live(
    client: LogClient,
    mirror: Mirror,
    sponsor_key: bytes | None,
    stop: threading.Event,
    *,
    on_sync: Callable[[SyncResult], None],
    on_warning: Callable[[str], None],
    progress: Progress | None = None,
    interval: float = 1.0,
) -> None:
    """Sync, wait for a larger checkpoint, sync again, until ``stop`` is set. Every sync
    that added events is reported to ``on_sync`` (and the first one, whatever it did)."""
    delay, first, held = BACKOFF_FIRST, True, -1
    while not stop.is_set():
        try:
            try:
                result = sync(client, mirror, sponsor_key, progress=progress)
            except NoCheckpoint as e:
                if first:
                    on_warning(f"{e}; waiting for one")
                    first = False
            else:
                if first or result.events:
                    on_sync(result)
                first, held = False, result.tree_size
            delay = BACKOFF_FIRST
            _wait_for_checkpoint(client, held, stop, interval, on_warning)
        except ServerUnavailable as e:
            on_warning(f"{e}; trying again in {delay:.0f} s")
            stop.wait(delay)
            delay = min(delay * 2, BACKOFF_MOST)


def _wait_for_checkpoint(
    client: LogClient,
    held: int,
    stop: threading.Event,
    interval: float,
    on_warning: Callable[[str], None],
) -> None:
    """Return when the server has a checkpoint larger than ``held`` (or may have one)."""
    try:
        with client.http.stream(
            "GET",
            "/v1/feed",
            headers={"Accept": "text/event-stream"},
            timeout=httpx.Timeout(30.0, read=RESYNC_AFTER),
        ) as response:
            if response.status_code in (404, 405):
                _poll(client, held, stop, interval)
                return
            if response.status_code != httpx.codes.OK:
                raise ServerUnavailable(
                    f"{client.url} answered GET /v1/feed with {response.status_code}"
                )
            if _newer(client, held):
                return
            for event, data in _server_sent_events(response.iter_lines()):
                if stop.is_set():
                    return
                if event == "end" or (event == "checkpoint" and _size_of(data) > held):
                    return  # a stream the server ends is connected to again by the next sync
                if event == "alarm":
                    on_warning(f"the server reports an alarm: {str(_member(data, 'reason'))[:300]}")
    except httpx.ReadTimeout:
        return  # a quiet feed: ask for the checkpoint again
    except httpx.TransportError as e:
        raise ServerUnavailable(f"lost the feed of {client.url} ({type(e).__name__})") from None
    raise ServerUnavailable(f"{client.url} closed its feed")


def _poll(client: LogClient, held: int, stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        if _newer(client, held):
            return


def _newer(client: LogClient, held: int) -> bool:
    note = client.latest_checkpoint()
    if note is None:
        return False
    try:
        return parse_checkpoint(note)[0].tree_size > held
    except LedgerError:
        return True  # the sync says what is wrong with it


def _member(data: str, name: str) -> object:
    try:
        document = json.loads(data)
    except ValueError:
        return None
    return document.get(name) if isinstance(document, dict) else None


def _size_of(data: str) -> int:
    size = _member(data, "tree_size")
    return size if type(size) is int else 0


def _server_sent_events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(event name, data) of each event of a text/event-stream (comments skipped)."""
    event, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
