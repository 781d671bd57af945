"""Where the views are kept: a SQLite file (:class:`FileViews`) or a PostgreSQL schema
(:class:`~projections.engine.pg_views.PgViews`), behind one :class:`ViewsStore` surface.

A ledger file keeps its views in ``<db>.views.sqlite`` beside it; a PostgreSQL ledger in the
schema :data:`~ledger.store.location.VIEWS_SCHEMA` of its own database, never beside the
ledger's tables (:func:`views_store`). Either store gives the engine the same things:
connections (for queries, for writing, read-only), a lock two catch-ups never share, a private
scratch place of the same kind (a rebuild is built there, then :meth:`ViewsStore.replace_with`
swaps it in atomically), the tracking rows and the last proof of the views.
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self

from ledger.errors import UsageError
from ledger.store.location import PostgresURL, StoreTarget
from projections.connection import ViewsConnection
from projections.engine.tracking import TRACKING_TABLE, default_views_path
from projections.engine.views_check import PROOF_TABLE


class ViewsStore(Protocol):
    """Where one set of views is kept (see the module docstring)."""

    @property
    def name(self) -> str:
        """What messages and ``--json`` call the views (a file, or a database and schema)."""

    def exists(self) -> bool:
        """Whether views were built here (a tracking table exists)."""

    def connect(self) -> ViewsConnection:
        """A connection for queries; refused when there are no views yet."""

    def open(self, *, bulk: bool) -> ViewsConnection:
        """A writing connection (``bulk``: a private scratch place, no journal needed)."""

    def open_read(self) -> ViewsConnection:
        """A read-only connection, for comparing views."""

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Held while views are written here: two catch-ups never interleave."""

    def scratch(self, purpose: str) -> Self:
        """A private place of the same kind for ``purpose`` ("rebuild", "verify")."""

    def clear(self) -> None:
        """Remove every view kept here."""

    def replace_with(self, built: Self) -> None:
        """Replace these views with those ``built`` in a scratch place, atomically."""

    def tracking_rows(self) -> list[tuple[Any, ...]]:
        """(projection, position, leaf hash, version) of each tracked projection."""

    def last_proof(self) -> dict[str, Any] | None:
        """The position and time the views were last proved equal to a rebuild."""

    def write_proof(self, position: int, proved_at: str) -> None:
        """Record that the views equal a rebuild at ``position`` (``proved_at``, UTC)."""

    def close(self) -> None:
        """Close what the store keeps open between calls (nothing, for a file)."""


def views_store(target: StoreTarget, views_path: Path | None = None) -> ViewsStore:
    """The views of the ledger at ``target``: the file ``views_path`` when given, else
    ``<db>.views.sqlite`` beside a ledger file, or the views schema of a PostgreSQL ledger."""
    if views_path is not None:
        return FileViews(views_path)
    if isinstance(target, PostgresURL):
        from projections.engine.pg_views import PgViews  # noqa: PLC0415 - PostgreSQL only

        return PgViews(target)
    return FileViews(default_views_path(target))


@dataclass(frozen=True)
class FileViews:
    """Views in a SQLite file of their own."""

    path: Path

    @property
    def name(self) -> str:
        return str(self.path)

    def exists(self) -> bool:
        return self.path.is_file()

    def close(self) -> None:
        return None

    def connect(self) -> ViewsConnection:
        if not self.path.is_file():
            raise UsageError(f"--views {self.path}: no views yet (run a catch-up first)")
        return sqlite3.connect(self.path, check_same_thread=False)

    def open(self, *, bulk: bool) -> ViewsConnection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        if bulk:
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
        else:
            conn.execute("PRAGMA journal_mode=DELETE")
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-16384")
        return conn

    def open_read(self) -> ViewsConnection:
        return sqlite3.connect(f"file:{self.path.resolve()}?mode=ro", uri=True)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        with lock_path.open("a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def scratch(self, purpose: str) -> FileViews:
        return FileViews(self.path.with_name(f"{self.path.name}.{purpose}"))

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def replace_with(self, built: FileViews) -> None:
        built.path.replace(self.path)

    def tracking_rows(self) -> list[tuple[Any, ...]]:
        if not self.path.is_file():
            return []
        conn = sqlite3.connect(self.path)
        try:
            conn.execute(TRACKING_TABLE)
            return conn.execute(
                "SELECT projection, position, leaf_hash, version FROM tracking"
            ).fetchall()
        finally:
            conn.close()

    def last_proof(self) -> dict[str, Any] | None:
        if not self.path.is_file():
            return None
        conn = sqlite3.connect(f"file:{self.path.resolve()}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT position, proved_at FROM views_proof WHERE id=1").fetchone()
        except sqlite3.OperationalError:
            return None
        finally:
            conn.close()
        return None if row is None else {"position": int(row[0]), "proved_at": str(row[1])}

    def write_proof(self, position: int, proved_at: str) -> None:
        conn = sqlite3.connect(self.path)
        try:
            with conn:
                conn.execute(PROOF_TABLE)
                conn.execute(
                    "INSERT OR REPLACE INTO views_proof (id, position, proved_at) VALUES (1,?,?)",
                    (position, proved_at),
                )
        finally:
            conn.close()
