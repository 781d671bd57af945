"""The subject view: each subject's history (:mod:`ledger.subject.history`), stored as JSON.

One row per subject in ``patient_state(subject_id, site, regimen, reference_date, state)``;
``state`` is the :class:`~ledger.subject.history.SubjectHistory` as JSON (its own schema,
:data:`~ledger.subject.history.HISTORY_JSON`), ``regimen`` and ``reference_date`` the regimen
on the subject's latest clinical date, for queries. The view folds nothing itself: each
event the engine streams past (verified, in position order) is rebuilt as its model and
handed to the subject's history (:meth:`SubjectHistory.extend`); a correction makes the view
fold the subject's whole stream again at the end of the batch (:meth:`SubjectHistory.fold`,
read from the snapshot being consumed), since a correction can change any earlier event. The
history of a subject met for the first time in a run is loaded from its view row. Rows are
written sorted at each flush, so a rebuild and a catch-up write identical bytes.

The hot path: an administered dose only counts (:meth:`SubjectHistory.tally_dose`), so its
stored payload is read without building the model; every other event is validated as the
recording rules read it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any, ClassVar

from ledger.chain import ZERO_HASH, EventRow, row_leaf
from ledger.errors import VerificationError
from ledger.events import (
    ALL_EVENTS,
    EVENT_BY_TOPIC,
    CorrectionRecorded,
    DoseAdministered,
    SubjectEvent,
    decode_event,
    subject_stream_id,
)
from ledger.protocol.schedule import Regimen
from ledger.store import LedgerReader
from ledger.subject.history import HISTORY_JSON, Entry, SubjectHistory
from projections.base import Context, Handler, Projection, Row
from projections.connection import ViewsConnection
from projections.decoding import Payload

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

    def create(self, conn: ViewsConnection) -> None:
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
        histories = self._histories

        days: dict[str, date] = {}  # ISO date -> date: subjects dose on the same days

        def history_of(subject: str) -> SubjectHistory:
            found = histories.get(subject)
            return found if found is not None else self._history(subject)

        def dose(row: Row, p: Payload) -> None:  # the hot path: counted, no model built
            subject = p["subject_id"]
            dirty.add(subject)
            if subject in refold:
                return
            h = history_of(subject)
            iso = p["effective_date"]
            on = days.get(iso)
            if on is None:
                on = days[iso] = date.fromisoformat(iso)
            h.tally_dose(p["drug"], on)
            h.position, h.version = row[0], row[2]

        def event(row: Row, p: Payload) -> None:
            subject = p["subject_id"]
            dirty.add(subject)
            if subject in refold:
                return
            e = EVENT_BY_TOPIC[row[3]].model_validate(
                {**p, "originator_id": row[1], "originator_version": row[2]}
            )
            assert isinstance(e, SubjectEvent)
            history_of(subject).extend([(row[0], e)])

        def corrected(_row: Row, p: Payload) -> None:
            dirty.add(p["subject_id"])
            refold.add(p["subject_id"])

        table: dict[str, Handler] = dict.fromkeys(self.handles, event)
        table[DoseAdministered.TOPIC] = dose
        table[CorrectionRecorded.TOPIC] = corrected
        return table

    def _history(self, subject_id: str) -> SubjectHistory:
        """The subject's history as the view holds it (new if the view has no row yet)."""
        row = (
            self.context()
            .conn.execute("SELECT state FROM patient_state WHERE subject_id=?", (subject_id,))
            .fetchone()
        )
        found = load_history(row[0]) if row is not None else SubjectHistory(subject_id)
        self._histories[subject_id] = found
        return found

    def context(self) -> Context:
        if self._ctx is None:  # pragma: no cover - the engine calls start() first
            raise RuntimeError("projection patient used before start()")
        return self._ctx

    def flush(self, conn: ViewsConnection, upto: int) -> None:
        reader = self.context().reader
        for subject in sorted(self._refold):  # a correction can change any earlier event
            entries = subject_entries(reader, subject, upto, check_leaves=False)
            self._histories[subject] = SubjectHistory.fold(subject, entries)
        conn.executemany(
            "INSERT OR REPLACE INTO patient_state (subject_id, site, regimen, reference_date,"
            " state) VALUES (?,?,?,?,?)",
            [self.row(self._histories[s]) for s in sorted(self._dirty)],
        )
        self._dirty.clear()
        self._refold.clear()

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


def stored_history(conn: ViewsConnection, subject_id: str) -> SubjectHistory | None:
    row = conn.execute(
        "SELECT state FROM patient_state WHERE subject_id=?", (subject_id,)
    ).fetchone()
    return None if row is None else load_history(row[0])


def stored_histories(conn: ViewsConnection) -> list[SubjectHistory]:
    return [
        load_history(r[0])
        for r in conn.execute("SELECT state FROM patient_state ORDER BY subject_id")
    ]
