"""The views' bookkeeping: tracking rows, what a catch-up consumed, and canonical dumps.

Each projection has one row in ``tracking(projection, position, leaf_hash, version)``, written
in the same transaction as its view rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from projections.base import Projection
from projections.connection import ViewsConnection

if TYPE_CHECKING:
    from projections.engine.views_store import ViewsStore

TRACKING_TABLE = (
    "CREATE TABLE IF NOT EXISTS tracking (projection TEXT PRIMARY KEY, position INTEGER NOT NULL,"
    " leaf_hash BLOB NOT NULL, version INTEGER NOT NULL)"
)


@dataclass(frozen=True)
class Tracking:
    projection: str
    position: int
    leaf_hash: bytes
    version: int

    def to_json(self, head: int) -> dict[str, Any]:
        return {
            "projection": self.projection,
            "position": self.position,
            "leaf_hash": self.leaf_hash.hex(),
            "version": self.version,
            "behind": head - self.position,
        }


@dataclass(frozen=True)
class CatchUpReport:
    """What one catch-up or rebuild consumed."""

    mode: str  # "up-to-date" | "incremental" | "rebuild"
    from_position: int
    to_position: int
    events: int
    verified_events: int
    parallel_verification: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "from_position": self.from_position,
            "to_position": self.to_position,
            "events": self.events,
            "verified_events": self.verified_events,
            "parallel_verification": self.parallel_verification,
        }


def default_views_path(db_path: Path) -> Path:
    """``<ledger db>.views.sqlite`` beside the ledger file."""
    return db_path.with_name(db_path.name + ".views.sqlite")


def read_tracking(views: ViewsStore, names: Sequence[str]) -> list[Tracking]:
    """The tracked position of each projection in ``names`` (absent ones at position 0)."""
    found = {
        str(name): Tracking(str(name), int(position), bytes(leaf), int(version))
        for name, position, leaf, version in views.tracking_rows()
    }
    return [found.get(n, Tracking(n, 0, b"", 0)) for n in names]


def key_order(conn: ViewsConnection, columns: Sequence[str]) -> str:
    """``ORDER BY`` every column, NULL first as SQLite sorts it (PostgreSQL sorts it last;
    its views' text columns sort by code point, as SQLite's do)."""
    if isinstance(conn, sqlite3.Connection):
        return ", ".join(columns)
    return ", ".join(f"{c} NULLS FIRST" for c in columns)


def dump_views(conn: ViewsConnection, projections: Sequence[Projection]) -> str:
    """Canonical text of the tracking table and each projection's tables (ordered rows), the
    same for the same ledger whichever store keeps the views."""
    lines: list[str] = []
    tables = ["tracking", *(t for p in projections for t in p.tables)]
    for table in tables:
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        lines.append(f"## {table} ({', '.join(columns)})")
        order = key_order(conn, columns)
        lines.extend(
            repr(tuple(bytes(v).hex() if isinstance(v, bytes) else v for v in row))
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY {order}")
        )
    return "\n".join(lines) + "\n"
