"""Live followers: the views kept current as commits land (``projections follow``).

On PostgreSQL the follower listens on :data:`~ledger.store.pg_tables.NOTIFY_CHANNEL` (each
commit notifies ``"<seq> <last position>"`` when it is committed) and runs a verified
catch-up at start, on each notification and after ``interval`` seconds without one. A
notification only wakes it: what is consumed is whatever the tracking rows say is missing, so
a missed notification (no listener connected, a dropped connection) loses nothing; the next
wake-up, at the latest the timeout, consumes it. The listener is connected before the first
catch-up, so a commit either lands before that catch-up or is notified after it; a dropped
listener is connected again and followed by a catch-up. A ledger file has no notifications:
its follower polls every ``interval`` seconds.

Every catch-up verifies its segment before applying it, as any catch-up does; a failure raises
:class:`~ledger.errors.VerificationError` with nothing of the segment applied, and the follower
stops. It also stops when ``stop`` is set (within a tenth of a second while it waits) or on
``KeyboardInterrupt`` (a catch-up interrupted midway rolls back whole).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ledger.store.location import VIEWS_SCHEMA, PostgresURL
from ledger.store.pg_tables import NOTIFY_CHANNEL
from projections.engine.tracking import CatchUpReport

if TYPE_CHECKING:
    import psycopg

    from projections.engine import ProjectionEngine

AppliedCallback = Callable[[CatchUpReport], None]
"""Called after each catch-up that applied events, with its report."""

LISTENER_NAME = "trial-ledger follower"
"""The listening connection's ``application_name`` (as ``pg_stat_activity`` shows it)."""
WAIT_SLICE = 0.1
"""How often a waiting follower looks at its stop event, in seconds."""


def follow(
    engine: ProjectionEngine,
    stop: threading.Event | None = None,
    *,
    interval: float = 1.0,
    on_applied: AppliedCallback | None = None,
    once: bool = False,
) -> int:
    """Keep ``engine``'s views current until ``stop`` is set (see the module docstring);
    ``once``: one catch-up, then return. The number of catch-ups that applied events."""
    stop = stop or threading.Event()
    applied = 0

    def step() -> None:
        nonlocal applied
        report = engine.catch_up()
        if report.mode != "up-to-date":
            applied += 1
            if on_applied is not None:
                on_applied(report)

    target = engine.reader.db_path
    with contextlib.suppress(KeyboardInterrupt):
        if once:
            step()
        elif isinstance(target, PostgresURL):
            _listen(target, stop, interval, step)
        else:
            _poll(stop, interval, step)
    return applied


def _poll(stop: threading.Event, interval: float, step: Callable[[], None]) -> None:
    step()
    while not stop.wait(interval):
        step()


def _listen(
    url: PostgresURL, stop: threading.Event, interval: float, step: Callable[[], None]
) -> None:
    listener = Listener(url)
    try:
        listener.connect()
        step()
        while not stop.is_set():
            listener.wait(stop, interval)
            if not stop.is_set():
                step()
    finally:
        listener.close()


class Listener:
    """A connection of its own listening on the commit channel, connected again if dropped."""

    def __init__(self, url: PostgresURL) -> None:
        self.url = url
        self.conn: psycopg.Connection[Any] | None = None

    def connect(self) -> None:
        from psycopg import sql  # noqa: PLC0415 - PostgreSQL only

        from projections.engine.pg_sql import connect_raw  # noqa: PLC0415

        self.close()
        self.conn = connect_raw(self.url, VIEWS_SCHEMA, application_name=LISTENER_NAME)
        self.conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(NOTIFY_CHANNEL)))

    def wait(self, stop: threading.Event, interval: float) -> None:
        """Until a notification arrives (all pending ones are taken), ``interval`` seconds
        pass or ``stop`` is set; a dropped connection is connected again."""
        import psycopg  # noqa: PLC0415 - PostgreSQL only

        deadline = time.monotonic() + interval
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if self.conn is None:
                self.connect()
            assert self.conn is not None
            try:
                if list(self.conn.notifies(timeout=min(left, WAIT_SLICE), stop_after=1)):
                    list(self.conn.notifies(timeout=0))  # one catch-up consumes them all
                    return
            except psycopg.OperationalError:
                self.connect()  # what was committed meanwhile was not notified: catch up
                return

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
