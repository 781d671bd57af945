"""Move a ledger between stores (SQLite file <-> PostgreSQL) and prove its root unchanged.

:func:`copy_ledger` reads one snapshot of the source, verifies it (a tampered ledger is not
copied), writes its stored rows byte for byte into the new store (events with their leaves,
signed commits, checkpoints, the ledger id: nothing is re-signed or re-hashed), verifies the
copy with the same verifier, and requires the same tree size and the same Merkle root.

* To a file: the rows go into a temporary file beside it, which is linked into place only once
  verified (``--to`` must not exist; nothing is left there on failure).
* To PostgreSQL: the database must hold no ledger yet (tables made by ``db init-roles`` are
  fine). The rows go in with ``COPY`` in one transaction: all of them or none. The copy is
  verified after that transaction commits (a verifier reads only committed rows); if it did not
  verify, the command says so (exit 1) and the database holds that unverified copy.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.errors import LedgerError, UsageError, VerificationError
from ledger.store import LedgerReader, LedgerStore
from ledger.store.location import PostgresURL, StoreTarget
from ledger.store.rows import commit_columns
from ledger.verify import VerifyReport, verify_ledger

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: stages ``"verify source"``, ``"copy"``, ``"verify copy"``
(all counting events)."""

_EVENT_COLUMNS = "position, originator_id, originator_version, topic, state, leaf_hash, commit_seq"
_COMMIT_COLUMNS = (
    "seq, first_position, last_position, prev_leaf, events_root, signer, meaning, recorded_at,"
    " signature"
)


@dataclass(frozen=True)
class CopyResult:
    """What was copied. ``to_json`` is the documented ``copy --json`` shape."""

    source: StoreTarget
    target: StoreTarget
    events: int
    commits: int
    checkpoints: int
    tree_size: int
    root: bytes
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "from": str(self.source),
            "to": str(self.target),
            "events": self.events,
            "commits": self.commits,
            "checkpoints": self.checkpoints,
            "tree_size": self.tree_size,
            "root": base64.b64encode(self.root).decode(),
            "root_unchanged": True,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class _Snapshot:
    """The source as one read snapshot: its rows, streamed."""

    reader: LedgerReader
    ledger_id: str

    def events(self) -> Iterator[list[tuple[Any, ...]]]:
        for batch in self.reader.iter_event_batches(1):
            yield [tuple(r) for r in batch]

    def commits(self) -> Iterator[tuple[Any, ...]]:
        for c in self.reader.iter_commits(1):
            yield commit_columns(c.header, c.signature)

    def checkpoints(self) -> list[tuple[int, str, str]]:
        return self.reader.checkpoints()


def _verified(reader: LedgerReader, what: str, progress: Progress | None) -> VerifyReport:
    size = reader.size()

    def step(done: int) -> None:
        if progress is not None:
            progress(what, done, size)

    report = verify_ledger(reader, progress=step)
    if not report.ok:
        failure = report.first_failure
        where = "" if failure is None else f" at position {failure.position}: {failure.reason}"
        raise VerificationError(f"{what}: the ledger does not verify{where}; nothing copied")
    return report


def _check_target(target: StoreTarget) -> bool:
    """Refuse a target that holds a ledger; whether its tables must be created."""
    from ledger.store import check_new_store  # noqa: PLC0415 - the one rule for new stores

    try:
        return check_new_store(target)
    except LedgerError as e:
        raise type(e)(str(e).replace("--db ", "--to ", 1)) from None


def _write_sqlite(snapshot: _Snapshot, path: Path, progress: Progress | None, total: int) -> None:
    LedgerStore(path).close()  # the tables and triggers, as `init` makes them
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO ledger_meta (name, value) VALUES ('ledger_id', ?)", (snapshot.ledger_id,)
        )
        done = 0
        for batch in snapshot.events():
            conn.executemany(
                f"INSERT INTO stored_events ({_EVENT_COLUMNS}) VALUES (?,?,?,?,?,?,?)", batch
            )
            done += len(batch)
            if progress is not None:
                progress("copy", done, total)
        conn.executemany(
            f"INSERT INTO ledger_commits ({_COMMIT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
            snapshot.commits(),
        )
        conn.executemany(
            "INSERT INTO ledger_checkpoints (tree_size, note, frontier) VALUES (?,?,?)",
            snapshot.checkpoints(),
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    finally:
        conn.close()


def _write_postgres(
    snapshot: _Snapshot, url: PostgresURL, create: bool, progress: Progress | None, total: int
) -> None:
    from ledger.store.pg_reader import connect  # noqa: PLC0415 - PostgreSQL only

    if create:
        LedgerStore(url, create=True).close()
    with connect(url, autocommit=False) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO ledger_meta (name, value) VALUES ('ledger_id', %s)", (snapshot.ledger_id,)
        )
        done = 0
        with cur.copy(f"COPY stored_events ({_EVENT_COLUMNS}) FROM STDIN".encode()) as copy:
            for batch in snapshot.events():
                for row in batch:
                    copy.write_row(row)
                done += len(batch)
                if progress is not None:
                    progress("copy", done, total)
        with cur.copy(f"COPY ledger_commits ({_COMMIT_COLUMNS}) FROM STDIN".encode()) as copy:
            for commit in snapshot.commits():
                copy.write_row(commit)
        for checkpoint in snapshot.checkpoints():
            cur.execute(
                "INSERT INTO ledger_checkpoints (tree_size, note, frontier) VALUES (%s,%s,%s)",
                checkpoint,
            )
        conn.commit()


def copy_ledger(
    source: StoreTarget, target: StoreTarget, *, progress: Progress | None = None
) -> CopyResult:
    """Copy the ledger at ``source`` into the new store ``target``; see the module docstring.

    Raises :class:`UsageError` (exit 2, nothing written) if ``target`` holds a ledger or
    ``source`` is none; :class:`VerificationError` (exit 1) if the source or the copy does not
    verify, or the copy's tree size or root differs from the source's.
    """
    if str(source) == str(target):
        raise UsageError(f"--to {target}: the same store as --from")
    started = time.monotonic()
    create = _check_target(target)
    with LedgerReader(source) as reader:
        ledger_id = reader.meta("ledger_id")
        if ledger_id is None:
            raise UsageError(f"--from {source}: not an initialised trial ledger")
        before = _verified(reader, "verify source", progress)
        snapshot = _Snapshot(reader, ledger_id)
        checkpoints = len(snapshot.checkpoints())
        if isinstance(target, PostgresURL):
            _write_postgres(snapshot, target, create, progress, before.events)
            after = _check_copy(target, before, progress)
        else:
            after = _copy_to_file(snapshot, target, before, progress)
    return CopyResult(
        source=source,
        target=target,
        events=after.events,
        commits=after.commits,
        checkpoints=checkpoints,
        tree_size=after.tree_size,
        root=after.root,
        seconds=time.monotonic() - started,
    )


def _check_copy(
    target: StoreTarget, before: VerifyReport, progress: Progress | None
) -> VerifyReport:
    with LedgerReader(target) as reader:
        after = _verified(reader, "verify copy", progress)
    if (after.tree_size, after.root, after.commits) != (
        before.tree_size,
        before.root,
        before.commits,
    ):
        raise VerificationError(
            f"--to {target}: the copy holds {after.tree_size} events in {after.commits} commits "
            f"with root {base64.b64encode(after.root).decode()}, the source "
            f"{before.tree_size} in {before.commits} with root "
            f"{base64.b64encode(before.root).decode()}"
        )
    return after


def _copy_to_file(
    snapshot: _Snapshot, out: Path, before: VerifyReport, progress: Progress | None
) -> VerifyReport:
    try:
        handle, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    except OSError as e:
        raise UsageError(f"--to {out}: cannot create a file in {out.parent} ({e})") from None
    os.close(handle)
    partial = Path(name)
    partial.unlink()
    try:
        _write_sqlite(snapshot, partial, progress, before.events)
        after = _check_copy(partial, before, progress)
        os.link(partial, out)
    except FileExistsError:
        raise UsageError(
            f"--to {out}: a file appeared there meanwhile; refusing to overwrite"
        ) from None
    finally:
        for p in (
            partial,
            partial.with_name(partial.name + "-wal"),
            partial.with_name(partial.name + "-shm"),
        ):
            p.unlink(missing_ok=True)
    return after
