"""Writing a bundle: every event, commit and kept checkpoint of one snapshot, and the
manifest with each file's SHA-256."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledger.bundle.layout import BUNDLE_FORMAT, CHECKPOINTS, COMMITS, EVENTS, FILES, MANIFEST
from ledger.chain import CommitRecord, EventRow
from ledger.errors import UsageError
from ledger.store import LedgerReader


def export_bundle(
    reader: LedgerReader, out: Path, progress: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """Write the bundle folder (must not exist or be empty); returns the manifest.

    Everything is read in one snapshot of the ledger, so a bundle taken while others append
    is a consistent prefix. The caller verifies the written bundle (``verify-bundle``'s
    verifier) before reporting success.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"--out {out}: exists and is not an empty folder; refusing to overwrite")
    with reader.snapshot():
        out.mkdir(parents=True, exist_ok=True)
        return _write_bundle(reader, out, progress)


def _write_bundle(
    reader: LedgerReader, out: Path, progress: Callable[[int], None] | None
) -> dict[str, Any]:
    events = _write_events(reader, out, progress)
    commits = _write_commits(reader, out)
    checkpoints = [{"tree_size": size, "note": note} for size, note, _ in reader.checkpoints()]
    (out / CHECKPOINTS).write_text(json.dumps(checkpoints, indent=1), encoding="utf-8")
    manifest: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "ledger_id": reader.meta("ledger_id"),
        "trial_id": "NCT00635154",
        "events": events,
        "commits": commits,
        "checkpoints": len(checkpoints),
        "files": {name: digest_and_lines(out / name)[0] for name in FILES},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


def _write_events(reader: LedgerReader, out: Path, progress: Callable[[int], None] | None) -> int:
    """events.jsonl, one line per event in position order; returns how many."""
    events = 0
    with (out / EVENTS).open("w", encoding="utf-8") as f:
        for row in reader.iter_events():
            f.write(json.dumps(event_line(row), ensure_ascii=False, separators=(",", ":")) + "\n")
            events += 1
            if progress is not None and events % 50_000 == 0:
                progress(events)
    return events


def _write_commits(reader: LedgerReader, out: Path) -> int:
    """commits.jsonl, one line per commit; returns how many."""
    commits = 0
    with (out / COMMITS).open("w", encoding="utf-8") as f:
        for c in reader.iter_commits():
            f.write(json.dumps(commit_line(c), separators=(",", ":")) + "\n")
            commits += 1
    return commits


def event_line(row: EventRow) -> dict[str, Any]:
    """An event as a bundle's events.jsonl line has it (also what the served log answers)."""
    return {
        "position": row.position,
        "originator_id": row.originator_id,
        "originator_version": row.originator_version,
        "topic": row.topic,
        "state": row.state.decode("utf-8"),
        "leaf_hash": row.leaf_hash.hex(),
        "commit": row.commit_seq,
    }


def commit_line(c: CommitRecord) -> dict[str, Any]:
    """A commit as a bundle's commits.jsonl line has it (also what the served log answers)."""
    h = c.header
    return {
        "seq": h.seq,
        "first_position": h.first_position,
        "last_position": h.last_position,
        "prev_leaf": h.prev_leaf.hex(),
        "events_root": h.events_root.hex(),
        "signer": h.signer,
        "meaning": h.meaning,
        "recorded_at": h.recorded_at,
        "signature": base64.b64encode(c.signature).decode(),
    }


def digest_and_lines(path: Path) -> tuple[str, int]:
    """The file's SHA-256 (hex) and its number of lines (a last line without a break counts)."""
    digest = hashlib.sha256()
    lines = 0
    last = b""
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return digest.hexdigest(), lines + (1 if last not in (b"", b"\n") else 0)
