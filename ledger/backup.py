"""Copy a live ledger file: a consistent snapshot, verified, published only when complete.

A ledger is an SQLite database in WAL mode: commits land in ``trial.db-wal`` first and reach
``trial.db`` only when SQLite checkpoints. Copying ``trial.db`` alone therefore drops every
commit still in the WAL, and the copy verifies as a perfectly valid, shorter ledger: silent data
loss. :func:`backup_ledger` copies through SQLite's online backup API instead:

1. the source is opened read-only (``mode=ro``) and one read transaction is held for the whole
   copy, so every page comes from one snapshot: the commits made before it began, all of them,
   and nothing after. Writers (in any process) go on appending to the WAL meanwhile; because the
   snapshot never moves, the copy never restarts however busy they are;
2. pages are copied ``pages_per_step`` at a time into a temporary file beside ``out``, with
   progress reported between steps;
3. the copy is switched to the rollback journal (``journal_mode=DELETE``): one self-contained
   file that needs no ``-wal`` or ``-shm`` beside it;
4. the copy is verified with the product's verifier (every hash, link, signature, key and
   checkpoint), and must hold exactly the events the snapshot held;
5. only then is it linked into place at ``out``, which must not exist (never overwritten).

On any failure or interruption the temporary file is removed: ``out`` is either absent or a
complete, verified copy. A tampered source is refused (its copy does not verify).
"""

from __future__ import annotations

import base64
import os
import sqlite3
import stat
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.errors import UsageError, VerificationError
from ledger.store import LedgerReader
from ledger.store.location import PostgresURL, StoreTarget
from ledger.verify import verify_ledger

PAGES_PER_STEP = 1024
"""Pages copied per backup step (4 MiB at SQLite's default page size)."""

SIDE_FILES = ("-wal", "-shm", "-journal")
"""Files SQLite keeps beside a database; a stale one beside ``out`` would be read with it."""

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: stage ``"copy"`` counts pages, ``"verify"`` events."""


@dataclass(frozen=True)
class BackupResult:
    """What was copied. ``to_json`` is the documented ``backup --json`` shape."""

    db: StoreTarget
    out: Path
    events: int
    commits: int
    tree_size: int
    root: bytes
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "db": str(self.db),
            "out": str(self.out),
            "events": self.events,
            "commits": self.commits,
            "tree_size": self.tree_size,
            "root": base64.b64encode(self.root).decode(),
            "seconds": round(self.seconds, 3),
        }


def side_files(path: Path) -> list[Path]:
    """The ``-wal``, ``-shm`` and ``-journal`` files of database ``path`` that exist."""
    return [p for p in (path.with_name(path.name + s) for s in SIDE_FILES) if p.exists()]


def _check_out(out: Path) -> None:
    if out.exists() or out.is_symlink():
        raise UsageError(f"--out {out}: a file already exists there; refusing to overwrite")
    stale = side_files(out)
    if stale:
        raise UsageError(
            f"--out {out}: {stale[0].name} exists beside it; SQLite would read it together with "
            "the copy: remove it or choose another --out"
        )
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: folder {out.parent} does not exist")


def _check_ledger(db: Path) -> None:
    with LedgerReader(db) as reader:
        if reader.meta("ledger_id") is None:
            raise UsageError(f"--db {db}: not an initialised trial ledger")


def _backup_postgres(
    db: PostgresURL, out: Path, progress: Progress | None, started: float
) -> BackupResult:
    """A PostgreSQL ledger backed up as a verified SQLite file: :func:`ledger.copy.copy_ledger`
    (one snapshot, verified before and after, the same root)."""
    from ledger.copy import copy_ledger  # noqa: PLC0415 - the one cross-store copy

    def staged(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress("copy" if stage == "copy" else "verify", done, total)

    copied = copy_ledger(db, out, progress=staged)
    return BackupResult(
        db=db,
        out=out,
        events=copied.events,
        commits=copied.commits,
        tree_size=copied.tree_size,
        root=copied.root,
        seconds=time.monotonic() - started,
    )


def _remove(path: Path) -> None:
    for p in (path, *(path.with_name(path.name + s) for s in SIDE_FILES)):
        p.unlink(missing_ok=True)


def _copy_snapshot(
    db: Path, out: Path, target: Path, pages_per_step: int, progress: Progress | None
) -> int:
    """Copy one snapshot of ``db`` into ``target`` (a rollback-journal database); return the
    number of events (the last position) the snapshot holds."""
    source = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    try:
        destination = sqlite3.connect(target, isolation_level=None)
        try:
            # The read transaction pins the snapshot: the backup steps below all read it (the
            # backup API uses an open read transaction of its source rather than starting one
            # per step), so a commit made meanwhile neither enters the copy nor restarts it.
            source.execute("BEGIN")
            last = source.execute("SELECT MAX(position) FROM stored_events").fetchone()[0]
            events = int(last or 0)
            total = int(source.execute("PRAGMA page_count").fetchone()[0])

            def step(_status: int, remaining: int, pages: int) -> None:
                if progress is not None:
                    progress("copy", pages - remaining, pages)

            if progress is not None:
                progress("copy", 0, total)
            source.backup(destination, pages=pages_per_step, progress=step)
            source.execute("COMMIT")
            mode = destination.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
            if str(mode).lower() != "delete":  # pragma: no cover - SQLite always allows it
                raise UsageError(f"--out: the copy stayed in journal mode {mode!r}")
        finally:
            destination.close()
    except sqlite3.Error as e:
        raise UsageError(f"--db {db}: copying to --out {out} failed ({e})") from None
    finally:
        source.close()
    left = side_files(target)
    if left:  # pragma: no cover - DELETE mode removes its journal on commit
        raise UsageError(f"--out: the copy left {left[0].name} beside it")
    return events


def _publish(target: Path, out: Path, mode: int) -> None:
    """Make ``target`` durable and put it at ``out`` without ever replacing a file there."""
    target.chmod(mode)
    with target.open("rb") as f:
        os.fsync(f.fileno())
    try:
        os.link(target, out)  # atomic; fails if out appeared meanwhile
    except FileExistsError:
        raise UsageError(
            f"--out {out}: a file appeared there during the backup; refusing to overwrite"
        ) from None
    except OSError:  # a filesystem without hard links: check, then rename
        if out.exists():
            raise UsageError(
                f"--out {out}: a file appeared there during the backup; refusing to overwrite"
            ) from None
        target.rename(out)
    else:
        target.unlink()
    try:
        folder = os.open(out.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - directories cannot be opened on some platforms
        return
    try:
        os.fsync(folder)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on a directory
        pass
    finally:
        os.close(folder)


def _verify_progress(progress: Progress | None, total: int) -> Callable[[int], None] | None:
    if progress is None:
        return None
    report = progress

    def verified(done: int) -> None:
        report("verify", done, total)

    return verified


def backup_ledger(
    db: StoreTarget,
    out: Path,
    *,
    pages_per_step: int = PAGES_PER_STEP,
    progress: Progress | None = None,
) -> BackupResult:
    """Copy the ledger ``db`` (live or not) to the new file ``out``; see the module docstring.

    Raises :class:`UsageError` (exit 2, nothing written) if ``out`` or one of its SQLite side
    files exists, its folder is missing or cannot be written, or ``db`` is not a ledger;
    :class:`VerificationError` (exit 1, nothing written) if the copy does not verify.
    """
    if pages_per_step < 1:
        raise UsageError(f"--pages-per-step {pages_per_step}: expected at least 1")
    started = time.monotonic()
    _check_out(out)
    if isinstance(db, PostgresURL):
        return _backup_postgres(db, out, progress, started)
    _check_ledger(db)
    mode = stat.S_IMODE(db.stat().st_mode)
    try:
        handle, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    except OSError as e:
        raise UsageError(f"--out {out}: cannot create a file in {out.parent} ({e})") from None
    os.close(handle)
    target = Path(name)
    try:
        events = _copy_snapshot(db, out, target, pages_per_step, progress)
        with LedgerReader(target) as reader:
            report = verify_ledger(reader, progress=_verify_progress(progress, events))
        if not report.ok:
            failure = report.first_failure
            where = "" if failure is None else f" at position {failure.position}: {failure.reason}"
            raise VerificationError(
                f"--db {db}: the copy does not verify{where}; nothing written at --out {out}"
            )
        if report.events != events or report.tree_size != events:
            raise VerificationError(  # the snapshot moved: the copy is not what was read
                f"--db {db}: the snapshot held {events} events but the copy verifies "
                f"{report.events}; nothing written at --out {out}"
            )
        _publish(target, out, mode)
    except OSError as e:
        _remove(target)
        raise UsageError(f"--out {out}: writing the copy failed ({e}); nothing written") from None
    except BaseException:
        _remove(target)
        raise
    return BackupResult(
        db=db,
        out=out,
        events=report.events,
        commits=report.commits,
        tree_size=report.tree_size,
        root=report.root,
        seconds=time.monotonic() - started,
    )
