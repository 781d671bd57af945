"""The feed's fan-out (:class:`Hub`): what the head watcher found, handed to every subscriber.

Each subscriber (an open ``/v1/feed`` stream, a waiting ``/v1/feed/poll``) has a queue of its
own on the event loop. A subscriber that falls more than :data:`QUEUE_LIMIT` items behind is
dropped: it gets one final :class:`End` (``slow-subscriber``) and nothing more, so one slow
client never holds up the watcher or the others; it reconnects with ``Last-Event-ID`` and
resumes from the ledger without loss. At shutdown every subscriber gets an :class:`End`
(``shutdown``). The hub also remembers the newest alarm, which a new subscriber gets first.

Everything here runs on the event loop, except :meth:`Hub.publish_from_thread` and
:meth:`Hub.close_from_thread`, which the watcher's and the checkpointer's threads call.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from ledger.server.watcher import Alarm, CheckpointNotice, CommitNotice, FeedItem

log = logging.getLogger("trial_ledger.server.feed")

QUEUE_LIMIT = 1000
"""Items a subscriber may have waiting before it is dropped as too slow."""
HANDOFF_TIMEOUT = 10.0
"""Seconds a thread waits for the event loop to take a batch before giving up on it."""


@dataclass(frozen=True)
class End:
    """The last item a subscriber gets: why its stream ends (``slow-subscriber``,
    ``shutdown``) and what to do."""

    reason: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"reason": self.reason, "detail": self.detail}


Item = FeedItem | End


class Subscription:
    """One subscriber's queue; :attr:`ended` once it got its :class:`End`."""

    def __init__(self, limit: int) -> None:
        self.queue: asyncio.Queue[Item] = asyncio.Queue()
        self.limit = limit
        self.ended = False

    def offer(self, item: Item) -> bool:
        """Queue ``item``; False (and the subscription ended) if it was too far behind."""
        if self.ended:
            return False
        if isinstance(item, End):
            self.ended = True
            self.queue.put_nowait(item)
            return False
        if self.queue.qsize() >= self.limit:
            self.ended = True
            self.queue.put_nowait(
                End(
                    "slow-subscriber",
                    f"more than {self.limit} events were waiting for this client; reconnect "
                    "with Last-Event-ID (or ?after_seq=) to resume from the ledger",
                )
            )
            return False
        self.queue.put_nowait(item)
        return True

    async def next(self, timeout: float | None = None) -> Item | None:
        """The next item, or None after ``timeout`` seconds without one."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None


class Hub:
    """The subscribers, the last commit announced, the newest alarm (made on the loop)."""

    def __init__(self, seq: int, checkpoint_size: int, limit: int | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        self.seq = seq
        """The seq of the last commit announced (the ledger's head when the server started)."""
        self.checkpoint_size = checkpoint_size
        """The size of the largest kept checkpoint announced (or kept at the start)."""
        self.alarm: Alarm | None = None
        self.limit = limit
        self.closed = False
        self._subscribers: set[Subscription] = set()

    def __len__(self) -> int:
        return len(self._subscribers)

    def subscribe(self) -> Subscription:
        subscription = Subscription(self.limit or QUEUE_LIMIT)
        if self.closed:
            subscription.offer(End("shutdown", "the server is shutting down"))
        else:
            self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def publish(self, items: list[FeedItem]) -> None:
        """Hand ``items`` (in order) to every subscriber; drop those too far behind."""
        for item in items:
            if isinstance(item, CommitNotice):
                self.seq = max(self.seq, item.seq)
            elif isinstance(item, CheckpointNotice):
                self.checkpoint_size = max(self.checkpoint_size, item.tree_size)
            elif isinstance(item, Alarm):
                self.alarm = item
                log.error("feed alarm: %s", item.reason)
        for subscription in list(self._subscribers):
            for item in items:
                if not subscription.offer(item):
                    self._subscribers.discard(subscription)
                    break

    def close(self) -> None:
        """End every subscriber's stream (the server is stopping)."""
        self.closed = True
        for subscription in list(self._subscribers):
            subscription.offer(
                End(
                    "shutdown",
                    "the server is shutting down; reconnect with Last-Event-ID to resume",
                )
            )
        self._subscribers.clear()

    def publish_from_thread(self, items: list[FeedItem], wait: bool = False) -> None:
        """:meth:`publish` from another thread; ``wait``: until the loop has taken the batch
        (a watcher reading a long backlog hands it over page by page)."""
        if not wait:
            with contextlib.suppress(RuntimeError):  # a closed loop: nothing is listening
                self.loop.call_soon_threadsafe(self.publish, items)
            return

        async def hand_over() -> None:
            self.publish(items)

        try:
            future = asyncio.run_coroutine_threadsafe(hand_over(), self.loop)
            future.result(HANDOFF_TIMEOUT)
        except (RuntimeError, concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
            log.warning("the event loop did not take %d feed item(s)", len(items))

    def close_from_thread(self) -> None:
        """:meth:`close` from another thread (or a signal handler)."""
        with contextlib.suppress(RuntimeError):  # a closed loop: nothing is listening
            self.loop.call_soon_threadsafe(self.close)
