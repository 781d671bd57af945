"""The subject view: each subject's history (:mod:`ledger.subject.history`), stored as JSON.

One row per subject in ``patient_state(subject_id, site, regimen, reference_date, state)``;
``state`` is the :class:`~ledger.subject.history.SubjectHistory` as JSON (its own schema,
:data:`~ledger.subject.history.HISTORY_JSON`), ``regimen`` and ``reference_date`` the regimen
on the subject's latest clinical date, for queries. The view folds nothing itself: at each
flush it reads the new events of every subject the batch touched from the ledger snapshot
being consumed (positions after the history's last one, up to the batch's end) and extends
the history with them; a correction makes it fold the subject's whole stream again
(:meth:`SubjectHistory.fold`), since a correction can change any earlier event. Rows are
written sorted, so a rebuild and a catch-up write identical bytes.

The hot path: an administered dose only counts (:meth:`SubjectHistory.tally_dose`), so its
stored payload is parsed without building the model; every other event is rebuilt and
validated as the recording rules read it (:func:`ledger.store.decode_event`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import date
from typing import Any, ClassVar

import orjson

from ledger.chain import ZERO_HASH, EventRow, row_leaf
from ledger.errors import VerificationError
from ledger.events import (
    ALL_EVENTS,
    CorrectionRecorded,
    DoseAdministered,
    SubjectEvent,
    subject_stream_id,
)
from ledger.protocol.schedule import Regimen
from ledger.store import LedgerReader, decode_event
from ledger.subject.history import HISTORY_JSON, Entry, SubjectHistory
from projections.decoding import Payload
from projections.engine import Context, Handler, Projection

SUBJECT_TOPICS: frozenset[str] = frozenset(
    cls.TOPIC for cls in ALL_EVENTS if issubclass(cls, SubjectEvent)
)


def _entries(rows: Iterable[EventRow]) -> list[Entry]:
    found: list[Entry] = []
    for row in rows:
        event = decode_event(row.topic, row.state, row.originator_id, row.originator_version)
        assert isinstance(event, SubjectEvent)
        found.append((row.position, event))
    return found


def subject_entries(
    reader: LedgerReader, subject_id: str, upto: int, *, check_leaves: bool
) -> list[Entry]:
    """The subject's events at positions <= ``upto``, decoded (stream order).

    ``check_leaves``: recompute each row's leaf from its stored columns and the stored leaf
    before it, refusing an altered record (``trial-ledger verify`` re-proves everything).
    """
    rows = reader.subject_rows(subject_stream_id(subject_id).hex, 0, upto)
    if check_leaves:
        wanted = sorted({r.position - 1 for r in rows if r.position > 1})
        prev = {0: ZERO_HASH, **reader.leaves_at(wanted)}
        for r in rows:
            if row_leaf(r, prev.get(r.position - 1, b"")) != r.leaf_hash:
                raise VerificationError(
                    f"position {r.position}: the stored event does not match its leaf hash; "
                    "refusing to fold an altered record (run `trial-ledger verify`)"
                )
    return _entries(rows)


def dump_history(h: SubjectHistory) -> str:
    return HISTORY_JSON.dump_json(h).decode()


def load_history(state: str | bytes) -> SubjectHistory:
    return HISTORY_JSON.validate_json(state)


class SubjectProjection(Projection):
    """View ``patient_state``: see the module docstring."""

    name: ClassVar[str] = "patient"
    version: ClassVar[int] = 2
    handles: ClassVar[frozenset[str]] = SUBJECT_TOPICS
    ignores: ClassVar[frozenset[str]] = frozenset(
        cls.TOPIC for cls in ALL_EVENTS if cls.TOPIC not in SUBJECT_TOPICS
    )
    tables: ClassVar[tuple[str, ...]] = ("patient_state",)

    def __init__(self) -> None:
        self._histories: dict[str, SubjectHistory] = {}
        self._dirty: set[str] = set()
        self._refold: set[str] = set()
        self._ctx: Context | None = None

    def create(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS patient_state (subject_id TEXT PRIMARY KEY, site TEXT,"
            " regimen TEXT NOT NULL, reference_date TEXT, state TEXT NOT NULL)"
        )

    def start(self, ctx: Context) -> None:
        self._ctx = ctx
        self._histories.clear()
        self._dirty.clear()
        self._refold.clear()

    def handlers(self) -> dict[str, Handler]:
        dirty = self._dirty
        refold = self._refold

        def touched(_position: int, _seq: int, p: Payload) -> None:
            dirty.add(p["subject_id"])

        def corrected(_position: int, _seq: int, p: Payload) -> None:
            dirty.add(p["subject_id"])
            refold.add(p["subject_id"])

        table: dict[str, Handler] = dict.fromkeys(self.handles, touched)
        table[CorrectionRecorded.TOPIC] = corrected
        return table

    def _history(self, conn: sqlite3.Connection, subject_id: str) -> SubjectHistory:
        found = self._histories.get(subject_id)
        if found is None:
            row = conn.execute(
                "SELECT state FROM patient_state WHERE subject_id=?", (subject_id,)
            ).fetchone()
            found = load_history(row[0]) if row is not None else SubjectHistory(subject_id)
            self._histories[subject_id] = found
        return found

    def flush(self, conn: sqlite3.Connection, upto: int) -> None:
        if self._ctx is None:  # pragma: no cover - the engine calls start() first
            raise RuntimeError("projection patient used before start()")
        reader = self._ctx.reader
        rows: list[tuple[Any, ...]] = []
        for subject in sorted(self._dirty):
            if subject in self._refold:
                entries = subject_entries(reader, subject, upto, check_leaves=False)
                history = self._histories[subject] = SubjectHistory.fold(subject, entries)
            else:
                history = self._history(conn, subject)
                stream = subject_stream_id(subject).hex
                if not self._extend(history, reader.subject_rows(stream, history.position, upto)):
                    entries = subject_entries(reader, subject, upto, check_leaves=False)
                    history = self._histories[subject] = SubjectHistory.fold(subject, entries)
            rows.append(self.row(history))
        conn.executemany(
            "INSERT OR REPLACE INTO patient_state (subject_id, site, regimen, reference_date,"
            " state) VALUES (?,?,?,?,?)",
            rows,
        )
        self._dirty.clear()
        self._refold.clear()

    @staticmethod
    def _extend(history: SubjectHistory, rows: list[EventRow]) -> bool:
        for row in rows:
            if row.topic == DoseAdministered.TOPIC:
                p = orjson.loads(row.state)
                history.tally_dose(p["drug"], date.fromisoformat(p["effective_date"]))
                history.position = max(history.position, row.position)
                history.version = max(history.version, row.originator_version)
                continue
            event = decode_event(row.topic, row.state, row.originator_id, row.originator_version)
            assert isinstance(event, SubjectEvent)
            if not history.extend([(row.position, event)]):
                return False
        return True

    @staticmethod
    def row(h: SubjectHistory) -> tuple[Any, ...]:
        ref = h.last_date
        regimen = h.regimen_on(ref) if ref else Regimen.SCREENING
        return (
            h.subject_id,
            h.site,
            regimen.value,
            ref.isoformat() if ref else None,
            dump_history(h),
        )


def stored_history(conn: sqlite3.Connection, subject_id: str) -> SubjectHistory | None:
    row = conn.execute(
        "SELECT state FROM patient_state WHERE subject_id=?", (subject_id,)
    ).fetchone()
    return None if row is None else load_history(row[0])


def stored_histories(conn: sqlite3.Connection) -> list[SubjectHistory]:
    return [
        load_history(r[0])
        for r in conn.execute("SELECT state FROM patient_state ORDER BY subject_id")
    ]
