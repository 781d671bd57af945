"""Tracking, verified catch-up and rebuild of the read models, in a views file of their own.

The views live in a separate SQLite file (default ``<ledger db>.views.sqlite``), never in the
ledger: a projection is never a source of truth and can always be rebuilt from the signed log.
Each projection has one row in ``tracking(projection, position, leaf_hash, version)``, written
in the same transaction as its view rows.

Catch-up (:meth:`ProjectionEngine.catch_up`):

1. Under an exclusive lock on ``<views>.lock`` (two catch-ups never interleave), read every
   projection's tracked (position, leaf hash). A projection without a row, or whose schema
   ``version`` changed, makes the engine rebuild everything instead.
2. Verify before consuming: ``ledger.verify.verify_from`` proves that the ledger still holds the
   tracked leaf at the lowest tracked position and that every event after it is intact, chained,
   signed and authorised; every other tracked leaf is compared with the ledger too. A failure
   raises :class:`~ledger.errors.VerificationError` (exit 1) and nothing is consumed. Only
   positions the verifier covered are consumed (an append racing the catch-up waits for the
   next one).
3. Read ``iter_event_tuples`` in position order, decode each state once
   (:mod:`projections.decoding`), hand it to the projections that handle its topic, and every
   ``batch_size`` events flush each projection's view rows and its tracking row in one
   transaction.

Segments of at least ``parallel_threshold`` events are verified in a child process while the
parent projects (two cores: verification is hash- and signature-bound, projection decode- and
SQLite-bound); the parent then writes the segment in a single transaction that commits only
after the child reports success, so an unverified event never becomes visible.

Rebuild (:meth:`ProjectionEngine.rebuild`) builds fresh views from position 1 into
``<views>.rebuild``, creates the secondary indexes after the bulk load, and atomically replaces
the views file once verification succeeded; readers see the old views until then. Rebuild and
catch-up run the same code per event, so a rebuild is byte-identical to incremental catch-up
(``dump``; tested).
"""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledger.errors import UsageError, VerificationError
from ledger.store import LedgerReader
from ledger.verify import verify_from
from projections.audit import AuditProjection
from projections.base import Context, Handler, Projection
from projections.decoding import raw_payload
from projections.subject import SubjectProjection


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


def _compare_table(
    stored: sqlite3.Connection, expected: sqlite3.Connection, table: str
) -> dict[str, Any] | None:
    """The first row (in key order) where ``table`` differs between the two files."""
    columns = [r[1] for r in expected.execute(f"PRAGMA table_info({table})")]
    found = [r[1] for r in stored.execute(f"PRAGMA table_info({table})")]
    if found != columns:
        return {
            "table": table,
            "row": None,
            "stored": f"columns {', '.join(found) or '(no such table)'}",
            "expected": f"columns {', '.join(columns)}",
        }
    order = ", ".join(columns)
    mine = stored.execute(f"SELECT * FROM {table} ORDER BY {order}")
    theirs = expected.execute(f"SELECT * FROM {table} ORDER BY {order}")
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


TRACKING_TABLE = (
    "CREATE TABLE IF NOT EXISTS tracking (projection TEXT PRIMARY KEY, position INTEGER NOT NULL,"
    " leaf_hash BLOB NOT NULL, version INTEGER NOT NULL)"
)


def default_views_path(db_path: Path) -> Path:
    """``<ledger db>.views.sqlite`` beside the ledger file."""
    return db_path.with_name(db_path.name + ".views.sqlite")


def default_projections() -> list[Projection]:
    """The trial's read models: the subject view and the audit trail."""
    return [SubjectProjection(), AuditProjection()]


def _verify_segment(db_path: str, position: int, leaf_hash: bytes | None) -> tuple[Any, ...]:
    """Child-process body: verify the segment after ``position``; a picklable outcome."""
    with LedgerReader(Path(db_path)) as reader:
        report = verify_from(reader, position, leaf_hash)
    failure = report.first_failure
    return (
        report.ok,
        report.started_at_position,
        report.events,
        failure.position if failure else None,
        failure.reason if failure else None,
    )


def _raise_failure(failure_position: int | None, reason: str | None) -> None:
    raise VerificationError(
        f"refusing to project: the ledger fails verification at position {failure_position}: "
        f"{reason}"
    )


class ProjectionEngine:
    """Keeps the views of ``projections`` up to date with the ledger ``reader`` reads."""

    def __init__(
        self,
        reader: LedgerReader,
        views_path: Path | None = None,
        projections: Sequence[Projection] | None = None,
        *,
        batch_size: int = 5_000,
        rebuild_batch_size: int = 100_000,
        parallel_threshold: int = 50_000,
    ) -> None:
        self.reader = reader
        self.views_path = views_path or default_views_path(reader.db_path)
        self._factory: Callable[[], list[Projection]] = (
            (lambda: list(projections)) if projections is not None else default_projections
        )
        self.batch_size = batch_size
        self.rebuild_batch_size = rebuild_batch_size
        self.parallel_threshold = parallel_threshold

    # ------------------------------------------------------------------ reading

    def connect(self) -> sqlite3.Connection:
        """A connection to the views for queries (the views exist after a catch-up)."""
        if not self.views_path.is_file():
            raise UsageError(f"--views {self.views_path}: no views yet (run a catch-up first)")
        return sqlite3.connect(self.views_path, check_same_thread=False)

    def status(self) -> list[Tracking]:
        """Every projection's tracked position (absent projections at position 0)."""
        names = [p.name for p in self._factory()]
        found: dict[str, Tracking] = {}
        if self.views_path.is_file():
            conn = sqlite3.connect(self.views_path)
            try:
                conn.execute(TRACKING_TABLE)
                for name, position, leaf, version in conn.execute(
                    "SELECT projection, position, leaf_hash, version FROM tracking"
                ):
                    found[name] = Tracking(name, int(position), bytes(leaf), int(version))
            finally:
                conn.close()
        return [found.get(n, Tracking(n, 0, b"", 0)) for n in names]

    def dump(self) -> str:
        """Every view table and the tracking rows as canonical text (rows in key order)."""
        conn = self.connect()
        try:
            return dump_views(conn, self._factory())
        finally:
            conn.close()

    # ------------------------------------------------------------------ writing

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        lock_path = self.views_path.with_name(self.views_path.name + ".lock")
        with lock_path.open("a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def catch_up(self, progress: Callable[[int], None] | None = None) -> CatchUpReport:
        """Verify and consume everything appended since each projection's tracked position."""
        with self.reader.snapshot(), self._lock():
            projections = self._factory()
            tracked = {t.projection: t for t in self.status()}
            current = [tracked[p.name] for p in projections]
            if any(t.version != p.version for t, p in zip(current, projections, strict=True)):
                return self._rebuild_locked(progress)
            return self._catch_up_locked(projections, current, progress)

    def rebuild(self, progress: Callable[[int], None] | None = None) -> CatchUpReport:
        """Rebuild every view from position 1 into a new file and swap it in when verified."""
        with self.reader.snapshot(), self._lock():
            return self._rebuild_locked(progress)

    def _open_views(self, path: Path, *, bulk: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        if bulk:
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
        else:
            conn.execute("PRAGMA journal_mode=DELETE")
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-16384")
        return conn

    def _check_tracked_leaves(self, current: Sequence[Tracking]) -> None:
        for t in current:
            if t.position == 0:
                continue
            row = self.reader.event_at(t.position)
            if row is None or row.leaf_hash != t.leaf_hash:
                _raise_failure(
                    t.position,
                    f"the ledger no longer holds the event projection {t.projection!r} read at "
                    f"position {t.position}: either history was rewritten or truncated there, "
                    "or the views file's tracking row was edited (if `trial-ledger verify` "
                    "passes, `trial-ledger projections rebuild` replaces the views)",
                )

    def _catch_up_locked(
        self,
        projections: list[Projection],
        current: list[Tracking],
        progress: Callable[[int], None] | None,
    ) -> CatchUpReport:
        head = self.reader.size()
        lowest = min(current, key=lambda t: t.position)
        self._check_tracked_leaves(current)
        if lowest.position >= head:
            return CatchUpReport("up-to-date", head, head, 0, 0, parallel_verification=False)
        conn = self._open_views(self.views_path, bulk=False)
        try:
            for p in projections:
                p.create(conn)
                p.create_indexes(conn)
            if head - lowest.position >= self.parallel_threshold:
                return self._consume_parallel(
                    conn, projections, current, head, progress, mode="incremental", commit=False
                )
            outcome = _verify_segment(str(self.reader.db_path), lowest.position, lowest.leaf_hash)
            ok, started, events, failure_position, reason = outcome
            if not ok:
                _raise_failure(failure_position, reason)
            stop = min(head, started + events - 1)
            consumed = self._consume(
                conn, projections, current, stop, progress, self.batch_size, commit_each=True
            )
            return CatchUpReport(
                "incremental", lowest.position, stop, consumed, events, parallel_verification=False
            )
        finally:
            conn.close()

    def _rebuild_locked(self, progress: Callable[[int], None] | None) -> CatchUpReport:
        temp = self.views_path.with_name(self.views_path.name + ".rebuild")
        report = self._build_into(temp, progress)
        temp.replace(self.views_path)
        return report

    def _build_into(self, temp: Path, progress: Callable[[int], None] | None) -> CatchUpReport:
        """Build every view from position 1 into ``temp`` (verified as it is consumed)."""
        temp.unlink(missing_ok=True)
        projections = self._factory()
        head = self.reader.size()
        conn = self._open_views(temp, bulk=True)
        try:
            conn.execute(TRACKING_TABLE)
            for p in projections:
                p.create(conn)
            fresh = [Tracking(p.name, 0, b"", p.version) for p in projections]
            report = self._consume_parallel(
                conn, projections, fresh, head, progress, mode="rebuild", commit=True
            )
            for p in projections:
                p.create_indexes(conn)
            conn.execute("PRAGMA journal_mode=DELETE")
        except BaseException:
            conn.close()
            temp.unlink(missing_ok=True)
            raise
        conn.close()
        return report

    # ------------------------------------------------------------------ proving the views

    def verify_views(self, progress: Callable[[int], None] | None = None) -> ViewsCheck:
        """Rebuild every view from the verified ledger beside the stored views and compare.

        In one read snapshot of the ledger: build fresh views from position 1 into a
        temporary file (which verifies every consumed event), bring the stored views up to
        the same position, and compare every table row by row. The first difference is
        named (table, stored row, expected row). On success the proof is recorded in the
        views file (``views_proof``) so that reads can say when the views were last proved.
        """
        with self.reader.snapshot():
            temp = self.views_path.with_name(self.views_path.name + ".verify")
            with self._lock():
                built = self._build_into(temp, progress)
            try:
                difference = self._stored_level_with(built.to_position)
                if difference is None:
                    difference = self._compare_with(temp)
            finally:
                temp.unlink(missing_ok=True)
            proved_at = None
            if difference is None:
                proved_at = self._record_proof(built.to_position)
        return ViewsCheck(
            ok=difference is None,
            views=str(self.views_path),
            position=built.to_position,
            verified_events=built.verified_events,
            first_difference=difference,
            proved_at=proved_at,
        )

    def _stored_level_with(self, head: int) -> dict[str, Any] | None:
        """Catch the stored views up to ``head`` (building them if there are none yet); a
        difference if their tracking rows do not match the ledger just proved."""
        try:
            self.catch_up()
        except VerificationError as e:  # the ledger was just proved: the tracking is wrong
            return {
                "table": "tracking",
                "row": None,
                "stored": str(e),
                "expected": f"tracking rows that match the verified ledger up to {head}",
            }
        return None

    def _compare_with(self, expected_path: Path) -> dict[str, Any] | None:
        stored = sqlite3.connect(f"file:{self.views_path.resolve()}?mode=ro", uri=True)
        expected = sqlite3.connect(f"file:{expected_path.resolve()}?mode=ro", uri=True)
        try:
            for table in ["tracking", *(t for p in self._factory() for t in p.tables)]:
                difference = _compare_table(stored, expected, table)
                if difference is not None:
                    return difference
        finally:
            stored.close()
            expected.close()
        return None

    def _record_proof(self, position: int) -> str:
        proved_at = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        conn = sqlite3.connect(self.views_path)
        try:
            with conn:
                conn.execute(PROOF_TABLE)
                conn.execute(
                    "INSERT OR REPLACE INTO views_proof (id, position, proved_at) VALUES (1,?,?)",
                    (position, proved_at),
                )
        finally:
            conn.close()
        return proved_at

    def last_proof(self) -> dict[str, Any] | None:
        """When ``verify_views`` last found the views equal to a rebuild (position, time).

        Kept in the views file itself, so it says what was proved, not that nothing changed
        since: whoever can write the views file can edit views and this row alike.
        """
        if not self.views_path.is_file():
            return None
        conn = sqlite3.connect(f"file:{self.views_path.resolve()}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT position, proved_at FROM views_proof WHERE id=1").fetchone()
        except sqlite3.OperationalError:
            return None
        finally:
            conn.close()
        return None if row is None else {"position": int(row[0]), "proved_at": str(row[1])}

    def _consume_parallel(
        self,
        conn: sqlite3.Connection,
        projections: list[Projection],
        current: list[Tracking],
        head: int,
        progress: Callable[[int], None] | None,
        *,
        mode: str,
        commit: bool,
    ) -> CatchUpReport:
        """Verify in a child process while projecting; nothing is visible before it succeeds.

        ``commit``: the views file is private (a rebuild), so batches may commit as they go;
        otherwise the whole segment is one transaction committed after verification.
        """
        lowest = min(current, key=lambda t: t.position)
        args = (str(self.reader.db_path), lowest.position, lowest.leaf_hash or None)
        parallel = head - lowest.position >= self.parallel_threshold
        if not parallel:  # not worth a child process: verify first, then consume
            outcome = _verify_segment(*args)
            if not outcome[0]:
                _raise_failure(outcome[3], outcome[4])
            batch = self.rebuild_batch_size if mode == "rebuild" else self.batch_size
            consumed = self._consume(
                conn, projections, current, head, progress, batch, commit_each=True
            )
            return CatchUpReport(
                mode, lowest.position, head, consumed, outcome[2], parallel_verification=False
            )
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            future = pool.submit(_verify_segment, *args)
            if not commit:
                conn.execute("BEGIN IMMEDIATE")
            try:
                consumed = self._consume(
                    conn,
                    projections,
                    current,
                    head,
                    progress,
                    self.rebuild_batch_size,
                    commit_each=commit,
                )
                ok, started, events, failure_position, reason = future.result()
                if not ok:
                    _raise_failure(failure_position, reason)
                if started + events - 1 < head:
                    _raise_failure(
                        started + events,
                        "the verifier did not reach the end of the consumed segment",
                    )
            except BaseException:
                if not commit:
                    conn.execute("ROLLBACK")
                raise
            if not commit:
                conn.execute("COMMIT")
        return CatchUpReport(
            mode, lowest.position, head, consumed, events, parallel_verification=True
        )

    def _consume(
        self,
        conn: sqlite3.Connection,
        projections: list[Projection],
        current: list[Tracking],
        stop: int,
        progress: Callable[[int], None] | None,
        batch_size: int,
        *,
        commit_each: bool,
    ) -> int:
        """Apply positions (tracked, stop] to each projection; returns events read.

        Projections at different positions are brought level first, the laggards alone.
        """
        ctx = Context(self.reader, conn)
        for p in projections:
            p.start(ctx)
        by_position = sorted({t.position for t in current})
        consumed = 0
        for i, start in enumerate(by_position):
            upto = by_position[i + 1] if i + 1 < len(by_position) else stop
            group = [p for p, t in zip(projections, current, strict=True) if t.position <= start]
            consumed += self._run(
                conn, group, start, upto, progress, consumed, batch_size, commit_each
            )
        return consumed

    def _run(
        self,
        conn: sqlite3.Connection,
        projections: list[Projection],
        after: int,
        stop: int,
        progress: Callable[[int], None] | None,
        done_before: int,
        batch_size: int,
        commit_each: bool,
    ) -> int:
        handlers: dict[str, list[Handler]] = {}
        for p in projections:
            for topic, handler in p.handlers().items():
                handlers.setdefault(topic, []).append(handler)
        table = {topic: tuple(hs) for topic, hs in handlers.items()}
        count = 0
        last: tuple[Any, ...] | None = None
        pending = 0
        decode = raw_payload
        for row in self.reader.iter_event_tuples(after + 1):
            if row[0] > stop:
                break
            chosen = table.get(row[3])
            if chosen is None:
                found = (p.unknown(row[3]) for p in projections)
                chosen = table[row[3]] = tuple(h for h in found if h is not None)
            if chosen:
                payload = decode(row[4])  # = decoding.payload_of, inlined
                for handler in chosen:
                    handler(row, payload)
            last = row
            pending += 1
            if pending >= batch_size:
                self._flush(conn, projections, last[0], last[5], commit_each)
                count += pending
                pending = 0
                if progress is not None:
                    progress(done_before + count)
        if pending and last is not None:
            self._flush(conn, projections, last[0], last[5], commit_each)
            count += pending
        if progress is not None:
            progress(done_before + count)
        return count

    def _flush(
        self,
        conn: sqlite3.Connection,
        projections: list[Projection],
        position: int,
        leaf: bytes,
        commit_each: bool,
    ) -> None:
        if commit_each:
            conn.execute("BEGIN IMMEDIATE")
        try:
            for p in projections:
                p.flush(conn, position)
                conn.execute(
                    "INSERT OR REPLACE INTO tracking (projection, position, leaf_hash, version)"
                    " VALUES (?,?,?,?)",
                    (p.name, position, bytes(leaf), p.version),
                )
        except BaseException:
            if commit_each:
                conn.execute("ROLLBACK")
            raise
        if commit_each:
            conn.execute("COMMIT")


def dump_views(conn: sqlite3.Connection, projections: Sequence[Projection]) -> str:
    """Canonical text of the tracking table and each projection's tables (ordered rows)."""
    lines: list[str] = []
    tables = ["tracking", *(t for p in projections for t in p.tables)]
    for table in tables:
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        lines.append(f"## {table} ({', '.join(columns)})")
        order = ", ".join(columns)
        lines.extend(
            repr(tuple(bytes(v).hex() if isinstance(v, bytes) else v for v in row))
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY {order}")
        )
    return "\n".join(lines) + "\n"
