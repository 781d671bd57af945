"""Proving the views: compare them row by row with a rebuild, and keep when that last passed.

:meth:`~projections.engine.ProjectionEngine.verify_views` builds fresh views beside the stored
ones; :func:`compare_views` names the first difference (table, stored row, expected row); on
success :func:`record_proof` writes ``views_proof`` beside the views, which
:func:`last_proof` reads back for every read that serves the views.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from projections.connection import ViewsConnection
from projections.engine.tracking import key_order

if TYPE_CHECKING:
    from projections.engine.views_store import ViewsStore

PROOF_TABLE = (
    "CREATE TABLE IF NOT EXISTS views_proof (id INTEGER PRIMARY KEY, position INTEGER NOT NULL,"
    " proved_at TEXT NOT NULL)"
)


@dataclass(frozen=True)
class ViewsCheck:
    """Outcome of :meth:`ProjectionEngine.verify_views` (``projections verify --json``)."""

    ok: bool
    views: str
    position: int
    verified_events: int
    first_difference: dict[str, Any] | None
    proved_at: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "views": self.views,
            "position": self.position,
            "verified_events": self.verified_events,
            "first_difference": self.first_difference,
            "proved_at": self.proved_at,
        }


def compare_table(
    stored: ViewsConnection, expected: ViewsConnection, table: str
) -> dict[str, Any] | None:
    """The first row (in key order) where ``table`` differs between the two views."""
    columns = [r[1] for r in expected.execute(f"PRAGMA table_info({table})")]
    found = [r[1] for r in stored.execute(f"PRAGMA table_info({table})")]
    if found != columns:
        return {
            "table": table,
            "row": None,
            "stored": f"columns {', '.join(found) or '(no such table)'}",
            "expected": f"columns {', '.join(columns)}",
        }
    mine = stored.execute(f"SELECT * FROM {table} ORDER BY {key_order(stored, columns)}")
    theirs = expected.execute(f"SELECT * FROM {table} ORDER BY {key_order(expected, columns)}")
    number = 0
    while True:
        a, b = mine.fetchone(), theirs.fetchone()
        number += 1
        if a is None and b is None:
            return None
        if a != b:
            return {
                "table": table,
                "row": number,
                "stored": None if a is None else _printable(a),
                "expected": None if b is None else _printable(b),
            }


def _printable(row: tuple[Any, ...]) -> list[Any]:
    return [bytes(v).hex() if isinstance(v, bytes) else v for v in row]


def compare_views(
    views: ViewsStore, expected_views: ViewsStore, tables: Sequence[str]
) -> dict[str, Any] | None:
    """The first difference between the two views over ``tables``, in order."""
    stored = views.open_read()
    expected = expected_views.open_read()
    try:
        for table in tables:
            difference = compare_table(stored, expected, table)
            if difference is not None:
                return difference
    finally:
        stored.close()
        expected.close()
    return None


def record_proof(views: ViewsStore, position: int) -> str:
    """Record beside the views that they equal a rebuild at ``position``; the time, UTC."""
    proved_at = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    views.write_proof(position, proved_at)
    return proved_at


def last_proof(views: ViewsStore) -> dict[str, Any] | None:
    """The position and time :func:`record_proof` last recorded (None: never, or no views)."""
    return views.last_proof()
