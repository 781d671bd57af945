"""The shape both per-subject read models share: one folded state per subject, one view row.

A :class:`SubjectStateProjection` keeps the folds it touched in memory during a batch, loads
a subject's fold from its view row the first time the batch meets that subject, applies each
handled event to it, and on ``flush`` writes one row per changed subject (sorted, so rebuild
and catch-up write identical bytes). A correction makes the subject's fold be rebuilt from its
stream at flush time, so corrections recorded later reach every field they change.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

from ledger.events import CorrectionRecorded
from projections.decoding import Payload
from projections.engine import Context, Handler, Projection
from projections.folding import SubjectRow


class SubjectFold(Protocol):
    subject_id: str

    def apply(self, position: int, topic: str, p: Payload) -> None: ...
    def to_json(self) -> dict[str, Any]: ...
    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self: ...


F = TypeVar("F", bound=SubjectFold)


class SubjectStateProjection(Projection, Generic[F]):
    """Base of the patient and response projections (see the module docstring)."""

    table: ClassVar[str]
    insert_sql: ClassVar[str]

    def __init__(
        self,
        new_fold: Callable[[str], F],
        load_fold: Callable[[dict[str, Any]], F],
        refold: Callable[[str, list[SubjectRow]], F],
    ) -> None:
        self._new_fold = new_fold
        self._load_fold = load_fold
        self._refold_stream = refold
        self._folds: dict[str, F] = {}
        self._dirty: set[str] = set()
        self._refold: set[str] = set()
        self._ctx: Context | None = None

    def start(self, ctx: Context) -> None:
        self._ctx = ctx
        self._folds.clear()
        self._dirty.clear()
        self._refold.clear()

    def context(self) -> Context:
        if self._ctx is None:  # pragma: no cover - the engine calls start() first
            raise RuntimeError(f"projection {self.name} used before start()")
        return self._ctx

    def fold_of(self, subject_id: str) -> F:
        fold = self._folds.get(subject_id)
        if fold is None:
            row = (
                self.context()
                .conn.execute(f"SELECT state FROM {self.table} WHERE subject_id=?", (subject_id,))
                .fetchone()
            )
            fold = (
                self._load_fold(json.loads(row[0]))
                if row is not None
                else self._new_fold(subject_id)
            )
            self._folds[subject_id] = fold
        return fold

    def handlers(self) -> dict[str, Handler]:
        def general(topic: str) -> Handler:
            def handle(position: int, _seq: int, p: Payload) -> None:
                subject = p["subject_id"]
                self.fold_of(subject).apply(position, topic, p)
                self._dirty.add(subject)

            return handle

        def correction(_position: int, _seq: int, p: Payload) -> None:
            self._refold.add(p["subject_id"])
            self._dirty.add(p["subject_id"])

        table: dict[str, Handler] = {topic: general(topic) for topic in self.handles}
        table[CorrectionRecorded.TOPIC] = correction
        return table

    def flush(self, conn: sqlite3.Connection, upto: int) -> None:
        streams = self.context().streams
        for subject in sorted(self._refold):
            rows = streams.rows(subject, upto, check_leaves=False)
            self._folds[subject] = self._refold_stream(subject, rows)
        self._refold.clear()
        conn.executemany(self.insert_sql, [self.row(self._folds[s]) for s in sorted(self._dirty)])
        self._dirty.clear()

    def row(self, fold: F) -> tuple[Any, ...]:
        """The view row of one subject (default: subject id and the fold's JSON)."""
        return (
            fold.subject_id,
            json.dumps(fold.to_json(), sort_keys=True, separators=(",", ":")),
        )
