"""``verify_ledger``: the whole ledger, in a full pass from position 1 or resumed from the
verifier's own state, meeting every checkpoint (kept in the file, or given with ``against``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledger.chain import ZERO_HASH
from ledger.errors import VerificationError
from ledger.storage_errors import is_damage
from ledger.verify.checkpoints import against_checkpoint
from ledger.verify.incremental import resume, save, usable_state
from ledger.verify.log_pass import LogPass
from ledger.verify.report import MALFORMED, Failure, Stop, VerifyReport
from ledger.verify.signatures import signature_pool
from ledger.verify.source import LedgerSource


def verify_ledger(
    source: LedgerSource,
    *,
    against: str | None = None,
    sponsor_public: bytes | None = None,
    state_dir: Path | None = None,
    full: bool = False,
    progress: Callable[[int], None] | None = None,
    parallel_signatures: bool | None = None,
) -> VerifyReport:
    """Verify ``source``; with ``against`` (a signed checkpoint note) prove it extends it.

    A full pass from position 1 unless ``state_dir`` holds state this verifier wrote after an
    earlier pass of the same ledger (and ``full`` is false): then only the events after it
    are read. With ``state_dir`` the state is (re)written after every successful pass.
    ``parallel_signatures``: check commit signatures in a worker process (default: for
    large ledgers); the first failure reported is still the one at the lowest position.
    Raises :class:`UsageError` for a checkpoint or state that is not of this ledger.
    """
    with source.snapshot():
        try:
            return _verify(
                source, against, sponsor_public, state_dir, full, progress, parallel_signatures
            )
        except sqlite3.DatabaseError as e:
            if not is_damage(e):
                raise  # read-only, locked, I/O: a storage fault (exit 2), not tampering
            raise VerificationError(
                f"the ledger file is damaged and cannot be read to the end ({e})"
            ) from None


def _verify(
    source: LedgerSource,
    against: str | None,
    sponsor_public: bytes | None,
    state_dir: Path | None,
    full: bool,
    progress: Callable[[int], None] | None,
    parallel_signatures: bool | None,
) -> VerifyReport:
    passing = LogPass(source=source, sponsor_public=sponsor_public, progress=progress)
    against_size, note = (
        against_checkpoint(source, against, sponsor_public) if against is not None else (0, "")
    )
    state = usable_state(source, state_dir, sponsor_public) if state_dir and not full else None
    start, prev, last_recorded, last_seq, mode = 1, ZERO_HASH, "", 0, "full"
    failure: Failure | None = None
    try:
        if state is not None and (
            against_size == 0 or against_size >= state.size or (against_size in state.roots)
        ):
            start, prev, last_recorded, last_seq = resume(passing, state)
            mode = "incremental"
            if 0 < against_size <= state.size:
                passing.check_note(note, against_size, state.roots[against_size])
                against_size = 0
        _queue_checkpoints(passing, start, against_size, note)
        failure = _run(
            passing, start, prev, last_recorded, last_seq, against_size, parallel_signatures
        )
    except Stop as stop:
        failure = stop.failure
    state_info = None
    if state_dir is not None:
        saved = None
        if failure is None:
            saved = save(passing, source, state_dir, state, sponsor_public)
        state_info = {
            "path": str(state_dir),
            "resumed_from": state.size if mode == "incremental" and state else None,
            "saved_size": saved,
        }
    return _report(passing, mode, start, failure, state_info)


def _queue_checkpoints(passing: LogPass, start: int, against_size: int, note: str) -> None:
    """The checkpoints the pass from ``start`` must meet, smallest first: the one given (of
    ``against_size`` events), and those kept in the file; a kept one below ``start`` is met
    here with the root proved by the pass that wrote the state."""
    if against_size:
        passing.checkpoints.append((against_size, note, ""))
    for size, kept, kept_frontier in passing.source.checkpoints():
        if size >= start:
            passing.checkpoints.append((size, kept, kept_frontier))
        elif size in passing.roots:  # below a resumed pass: met with the root proved then
            passing.check_note(kept, size, passing.roots[size])
    passing.checkpoints.sort(key=lambda item: item[0])


def _run(
    passing: LogPass,
    start: int,
    prev: bytes,
    last_recorded: str,
    last_seq: int,
    against_size: int,
    parallel_signatures: bool | None,
) -> Failure | None:
    """The pass from ``start``, with its signatures checked here or in a worker; the first
    failure by position (one the pass found, or a signature the worker refused)."""
    failure: Failure | None = None
    with signature_pool(passing.source, start, parallel_signatures) as pool:
        passing.signatures.pool = pool
        try:
            passing.run(start, prev, last_recorded, last_seq, against_size)
        except Stop as stop:
            failure = stop.failure
        except MALFORMED as e:
            # Hostile bytes no check above anticipated: still a failure, never a crash.
            at = start + passing.events_checked
            failure = Failure(at, f"stored data at or after position {at} is malformed ({e})")
        finally:
            late = passing.signatures.drain()
        if late is not None and (failure is None or late.position < failure.position):
            failure = late
    return failure


def _report(
    passing: LogPass,
    mode: str,
    start: int,
    failure: Failure | None,
    state_info: dict[str, Any] | None,
) -> VerifyReport:
    return VerifyReport(
        ok=failure is None,
        events=passing.events_checked,
        commits=passing.commits_checked,
        tree_size=passing.frontier.size,
        root=passing.frontier.root(),
        checkpoints_checked=passing.checkpoints_checked,
        mode=mode,
        started_at_position=start,
        first_failure=failure,
        state=state_info,
        frontier=passing.frontier,
    )
