"""The audit view: one narrow row per event, per signed commit, per key and per link.

Tables ``audit_events``, ``audit_commits``, ``audit_keys`` and ``audit_links`` (see
:mod:`projections.audit`); the content columns are read from the ledger when queried.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from ledger.events import (
    CorrectionRecorded,
    KeyRegistered,
    KeyRevoked,
    KeyRotated,
    RecordSigned,
    TrialCreated,
)
from projections.base import ALL_TOPICS, Context, Handler, Projection, Row
from projections.connection import ViewsConnection
from projections.decoding import EVENT_TYPE, Payload, event_type


class AuditProjection(Projection):
    """Tables ``audit_events``, ``audit_commits``, ``audit_keys``, ``audit_links``."""

    name: ClassVar[str] = "audit"
    version: ClassVar[int] = 1
    handles: ClassVar[frozenset[str]] = ALL_TOPICS
    ignores: ClassVar[frozenset[str]] = frozenset()
    tables: ClassVar[tuple[str, ...]] = (
        "audit_events",
        "audit_commits",
        "audit_keys",
        "audit_links",
    )

    def __init__(self) -> None:
        self._events: list[tuple[int, int, str, str | None]] = []
        self._keys: list[tuple[str, str, str, str, int]] = []
        self._retired: list[tuple[int, str, str]] = []
        self._links: list[tuple[int, int, str]] = []
        self._min_seq: int | None = None
        self._max_seq = 0
        self._ctx: Context | None = None
        self._plain: Callable[[str], Handler] = lambda _name: _ignore

    def create(self, conn: ViewsConnection) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS audit_events (position INTEGER PRIMARY KEY,"
            " commit_seq INTEGER NOT NULL, event_type TEXT NOT NULL, subject_id TEXT)"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS audit_commits (seq INTEGER PRIMARY KEY,"
            " first_position INTEGER NOT NULL, last_position INTEGER NOT NULL,"
            " key_id TEXT NOT NULL, meaning TEXT NOT NULL, recorded_at TEXT NOT NULL)"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS audit_keys (key_id TEXT PRIMARY KEY,"
            " printed_name TEXT NOT NULL, role TEXT NOT NULL, site TEXT NOT NULL,"
            " registered_at INTEGER NOT NULL, retired_at INTEGER, retired_by TEXT)"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS audit_links (target INTEGER NOT NULL,"
            " source INTEGER NOT NULL, kind TEXT NOT NULL, PRIMARY KEY (target, source, kind))"
        )

    def create_indexes(self, conn: ViewsConnection) -> None:
        conn.execute("CREATE INDEX IF NOT EXISTS audit_events_subject ON audit_events (subject_id)")
        conn.execute("CREATE INDEX IF NOT EXISTS audit_events_type ON audit_events (event_type)")
        conn.execute("CREATE INDEX IF NOT EXISTS audit_commits_key ON audit_commits (key_id)")
        conn.execute("CREATE INDEX IF NOT EXISTS audit_commits_time ON audit_commits (recorded_at)")

    def start(self, ctx: Context) -> None:
        self._ctx = ctx
        self._events.clear()
        self._keys.clear()
        self._retired.clear()
        self._links.clear()
        self._min_seq, self._max_seq = None, 0

    def handlers(self) -> dict[str, Handler]:
        events = self._events
        append = events.append

        def plain(name: str) -> Handler:
            def handle(row: Row, p: Payload) -> None:
                append((row[0], row[6], name, p.get("subject_id")))

            return handle

        def special(name: str, then: Callable[[int, int, Payload], None]) -> Handler:
            def handle(row: Row, p: Payload) -> None:
                append((row[0], row[6], name, p.get("subject_id")))
                then(row[0], row[6], p)

            return handle

        self._plain = plain
        table: dict[str, Handler] = {topic: plain(event_type(topic)) for topic in self.handles}
        for topic, then in (
            (TrialCreated.TOPIC, self._trial),
            (KeyRegistered.TOPIC, self._registered),
            (KeyRotated.TOPIC, self._rotated),
            (KeyRevoked.TOPIC, self._revoked),
            (CorrectionRecorded.TOPIC, self._correction),
            (RecordSigned.TOPIC, self._signature),
        ):
            table[topic] = special(EVENT_TYPE[topic], then)
        return table

    def unknown(self, topic: str) -> Handler | None:
        """An event type this build does not know still gets its audit row."""
        return self._plain(event_type(topic))

    def _key(self, key: Payload, position: int) -> None:
        self._keys.append((key["key_id"], key["printed_name"], key["role"], key["site"], position))

    def _trial(self, position: int, _seq: int, p: Payload) -> None:
        self._key(p["sponsor"], position)

    def _registered(self, position: int, _seq: int, p: Payload) -> None:
        self._key(p["key"], position)

    def _rotated(self, position: int, _seq: int, p: Payload) -> None:
        self._retired.append((position, "rotated", p["old_key_id"]))
        self._key(p["new_key"], position)

    def _revoked(self, position: int, _seq: int, p: Payload) -> None:
        self._retired.append((position, "revoked", p["key_id"]))

    def _correction(self, position: int, _seq: int, p: Payload) -> None:
        self._links.append((p["corrects_position"], position, "correction"))

    def _signature(self, position: int, _seq: int, p: Payload) -> None:
        self._links.extend((target, position, p["meaning"]) for target in p["positions"])

    def flush(self, conn: ViewsConnection, upto: int) -> None:
        assert self._ctx is not None
        if self._events:  # appended in position order, so commit order too
            self._min_seq, self._max_seq = self._events[0][1], self._events[-1][1]
        conn.executemany(
            "INSERT INTO audit_events (position, commit_seq, event_type, subject_id)"
            " VALUES (?,?,?,?)",
            self._events,
        )
        self._events.clear()
        if self._min_seq is not None:
            commits = []
            for c in self._ctx.reader.iter_commits(self._min_seq):
                h = c.header
                if h.seq > self._max_seq:
                    break
                commits.append(
                    (h.seq, h.first_position, h.last_position, h.signer, h.meaning, h.recorded_at)
                )
            conn.executemany(
                "INSERT OR IGNORE INTO audit_commits (seq, first_position, last_position, key_id,"
                " meaning, recorded_at) VALUES (?,?,?,?,?,?)",
                commits,
            )
            self._min_seq = None
        conn.executemany(
            "INSERT OR IGNORE INTO audit_keys (key_id, printed_name, role, site, registered_at)"
            " VALUES (?,?,?,?,?)",
            self._keys,
        )
        conn.executemany(
            "UPDATE audit_keys SET retired_at=?, retired_by=? WHERE key_id=?"
            " AND retired_at IS NULL",
            self._retired,
        )
        conn.executemany(
            "INSERT OR IGNORE INTO audit_links (target, source, kind) VALUES (?,?,?)",
            self._links,
        )
        self._keys.clear()
        self._retired.clear()
        self._links.clear()


def _ignore(_row: Row, _p: Payload) -> None:
    return None
