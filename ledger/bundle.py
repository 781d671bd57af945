"""Exported bundles: everything an auditor needs to verify the ledger offline.

A bundle is a folder::

    manifest.json     {"format": "trial-ledger-bundle/v1", "ledger_id", "trial_id", "events",
                       "commits", "tree_size", "root" (b64), "files": {name: sha256 hex}}
    events.jsonl      one line per event, in position order:
                      {"position", "originator_id", "originator_version", "topic",
                       "state" (the stored state bytes as UTF-8 text, byte-exact),
                       "leaf_hash" (hex), "commit" (seq)}
    commits.jsonl     one line per commit: {"seq", "first_position", "last_position",
                       "prev_leaf" (hex), "events_root" (hex), "signer", "meaning",
                       "recorded_at", "signature" (b64)}
    checkpoints.json  [{"tree_size", "note"}]: the signed checkpoints the ledger kept

``verify-bundle DIR --sponsor-key FILE`` runs the same verifier as ``verify`` over these files,
with the sponsor's published public key as the only trust anchor: the key registry, the ledger's
checkpoint key and every signer are proved from it. The manifest's digests are a convenience
for spotting a damaged copy; integrity does not rest on them.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.chain import CommitHeader, CommitRecord, EventRow
from ledger.errors import UsageError, VerificationError
from ledger.store import LedgerReader

BUNDLE_FORMAT = "trial-ledger-bundle/v1"
FILES = ("events.jsonl", "commits.jsonl", "checkpoints.json")


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
    events = 0
    with (out / "events.jsonl").open("w", encoding="utf-8") as f:
        for row in reader.iter_events():
            f.write(
                json.dumps(
                    {
                        "position": row.position,
                        "originator_id": row.originator_id,
                        "originator_version": row.originator_version,
                        "topic": row.topic,
                        "state": row.state.decode("utf-8"),
                        "leaf_hash": row.leaf_hash.hex(),
                        "commit": row.commit_seq,
                    },
                    ensure_ascii=False,
                    separators=(",", ":"),
                )
                + "\n"
            )
            events += 1
            if progress is not None and events % 50_000 == 0:
                progress(events)
    commits = 0
    with (out / "commits.jsonl").open("w", encoding="utf-8") as f:
        for c in reader.iter_commits():
            h = c.header
            f.write(
                json.dumps(
                    {
                        "seq": h.seq,
                        "first_position": h.first_position,
                        "last_position": h.last_position,
                        "prev_leaf": h.prev_leaf.hex(),
                        "events_root": h.events_root.hex(),
                        "signer": h.signer,
                        "meaning": h.meaning,
                        "recorded_at": h.recorded_at,
                        "signature": base64.b64encode(c.signature).decode(),
                    },
                    separators=(",", ":"),
                )
                + "\n"
            )
            commits += 1
    checkpoints = [{"tree_size": size, "note": note} for size, note, _ in reader.checkpoints()]
    (out / "checkpoints.json").write_text(json.dumps(checkpoints, indent=1), encoding="utf-8")
    manifest: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "ledger_id": reader.meta("ledger_id"),
        "trial_id": "NCT00635154",
        "events": events,
        "commits": commits,
        "checkpoints": len(checkpoints),
        "files": {name: _sha256_file(out / name) for name in FILES},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class BundleSource:
    """A bundle folder read as a ``LedgerSource`` for ``verify_ledger``."""

    folder: Path
    manifest: dict[str, Any] = field(init=False)
    _commits: list[CommitRecord] = field(init=False)
    _checkpoints: list[tuple[int, str, str]] = field(init=False)

    def __post_init__(self) -> None:
        if not (self.folder / "manifest.json").is_file():
            raise UsageError(f"{self.folder}: not a bundle (manifest.json missing)")
        try:
            self.manifest = json.loads((self.folder / "manifest.json").read_text("utf-8"))
            if self.manifest.get("format") != BUNDLE_FORMAT:
                raise UsageError(
                    f"{self.folder}: bundle format {self.manifest.get('format')!r}, "
                    f"expected {BUNDLE_FORMAT!r}"
                )
            for name in FILES:
                if not (self.folder / name).is_file():
                    raise UsageError(f"{self.folder}: bundle file {name} is missing")
            ledger_id = str(self.manifest.get("ledger_id"))
            self._commits = [
                _commit(json.loads(line), ledger_id)
                for line in (self.folder / "commits.jsonl").read_text("utf-8").splitlines()
                if line
            ]
            self._checkpoints = [
                (int(c["tree_size"]), str(c["note"]), "")
                for c in json.loads((self.folder / "checkpoints.json").read_text("utf-8"))
            ]
        except (ValueError, KeyError, TypeError) as e:
            raise VerificationError(f"{self.folder}: bundle file is malformed: {e}") from None

    def damaged_files(self) -> list[str]:
        """Files whose SHA-256 differs from the manifest's (a damaged or altered copy)."""
        files = self.manifest.get("files", {})
        return [n for n in FILES if files.get(n) != _sha256_file(self.folder / n)]

    def meta(self, name: str) -> str | None:
        value = self.manifest.get(name)
        return None if value is None else str(value)

    def iter_events(self, start: int = 1, stop: int | None = None) -> Iterator[EventRow]:
        with (self.folder / "events.jsonl").open(encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                try:
                    d = json.loads(line)
                    row = EventRow(
                        position=int(d["position"]),
                        originator_id=str(d["originator_id"]),
                        originator_version=int(d["originator_version"]),
                        topic=str(d["topic"]),
                        state=str(d["state"]).encode("utf-8"),
                        leaf_hash=bytes.fromhex(d["leaf_hash"]),
                        commit_seq=int(d["commit"]),
                    )
                except (ValueError, KeyError, TypeError) as e:
                    raise VerificationError(
                        f"events.jsonl line {number} is malformed: {e}"
                    ) from None
                if row.position < start:
                    continue
                if stop is not None and row.position > stop:
                    return
                yield row

    def iter_event_tuples(self, start: int = 1) -> Iterator[tuple[Any, ...]]:
        for row in self.iter_events(start):
            yield (
                row.position,
                row.originator_id,
                row.originator_version,
                row.topic,
                row.state,
                row.leaf_hash,
                row.commit_seq,
            )

    def iter_event_batches(self, start: int = 1) -> Iterator[list[tuple[Any, ...]]]:
        batch: list[tuple[Any, ...]] = []
        for row in self.iter_event_tuples(start):
            batch.append(row)
            if len(batch) >= 10_000:
                yield batch
                batch = []
        if batch:
            yield batch

    def iter_commits(self, start_seq: int = 1) -> Iterator[CommitRecord]:
        return (c for c in self._commits if c.header.seq >= start_seq)

    def commit_at(self, position: int) -> CommitRecord | None:
        best = None
        for c in self._commits:
            if c.header.first_position <= position:
                best = c
        return best

    def checkpoints(self) -> list[tuple[int, str, str]]:
        return list(self._checkpoints)

    def first_event_of(self, originator_id: str) -> EventRow | None:
        return next((r for r in self.iter_events() if r.originator_id == originator_id), None)

    def stream_rows(self, originator_id: str) -> list[EventRow]:
        return [r for r in self.iter_events() if r.originator_id == originator_id]

    def event_at(self, position: int) -> EventRow | None:
        return next(self.iter_events(position, position), None)

    def snapshot(self) -> AbstractContextManager[Any]:
        """Files do not change under the verifier: nothing to hold."""
        return nullcontext()


def _commit(d: dict[str, Any], ledger_id: str) -> CommitRecord:
    return CommitRecord(
        header=CommitHeader(
            seq=int(d["seq"]),
            first_position=int(d["first_position"]),
            last_position=int(d["last_position"]),
            prev_leaf=bytes.fromhex(d["prev_leaf"]),
            events_root=bytes.fromhex(d["events_root"]),
            signer=str(d["signer"]),
            meaning=str(d["meaning"]),
            recorded_at=str(d["recorded_at"]),
            ledger_id=ledger_id,
        ),
        signature=base64.b64decode(d["signature"]),
    )
