"""Reading a bundle as a ``LedgerSource``: :class:`BundleSource` (nothing of it trusted)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.bundle.export import digest_and_lines
from ledger.bundle.json_reading import failure, parse_line, read_document, read_lines
from ledger.bundle.layout import (
    BUNDLE_FORMAT,
    CHECKPOINTS,
    COMMITS,
    EVENTS,
    FILES,
    MANIFEST,
    MAX_CHECKPOINTS_BYTES,
    MAX_MANIFEST_BYTES,
)
from ledger.bundle.members import (
    MANIFEST_MEMBERS,
    commit_of_line,
    event_checked,
    kept_checkpoints,
    kind_of,
    members_problem,
    shown,
)
from ledger.chain import CommitRecord, EventRow
from ledger.errors import UsageError

_COUNTED = (("events", EVENTS), ("commits", COMMITS), ("checkpoints", CHECKPOINTS))


@dataclass
class BundleSource:
    """A bundle folder read as a ``LedgerSource`` for ``verify_ledger`` (see the module
    docstring for what is refused)."""

    folder: Path
    manifest: dict[str, Any] = field(init=False)
    _commits: list[CommitRecord] = field(init=False)
    _checkpoints: list[tuple[int, str, str]] = field(init=False)
    _digests: tuple[dict[str, str], int] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if not (self.folder / MANIFEST).is_file():
            raise UsageError(f"{self.folder}: not a bundle (manifest.json missing)")
        manifest = read_document(self.folder / MANIFEST, MANIFEST, MAX_MANIFEST_BYTES)
        if not isinstance(manifest, dict):
            raise failure(MANIFEST, None, f"{kind_of(manifest)}, not a JSON object")
        if manifest.get("format") != BUNDLE_FORMAT:
            raise UsageError(
                f"{self.folder}: bundle format {shown(manifest.get('format'))}, "
                f"expected {BUNDLE_FORMAT!r}"
            )
        for name in FILES:
            if not (self.folder / name).is_file():
                raise UsageError(f"{self.folder}: bundle file {name} is missing")
        problem = members_problem(manifest, MANIFEST_MEMBERS)
        if problem is not None:
            raise failure(MANIFEST, None, problem)
        self.manifest = manifest
        ledger_id = str(manifest["ledger_id"])
        self._commits = [
            commit_of_line(parse_line(text, COMMITS, number), ledger_id, number)
            for number, text in read_lines(self.folder / COMMITS, COMMITS)
        ]
        self._checkpoints = kept_checkpoints(
            read_document(self.folder / CHECKPOINTS, CHECKPOINTS, MAX_CHECKPOINTS_BYTES)
        )

    def _read_files(self) -> tuple[dict[str, str], int]:
        """Each file's SHA-256 and the lines of events.jsonl (read once, when first asked)."""
        if self._digests is None:
            digests: dict[str, str] = {}
            event_lines = 0
            for name in FILES:
                digests[name], lines = digest_and_lines(self.folder / name)
                if name == EVENTS:
                    event_lines = lines
            self._digests = (digests, event_lines)
        return self._digests

    def damaged_files(self) -> list[str]:
        """Files whose SHA-256 differs from the manifest's (a damaged or altered copy), then
        ``manifest.json`` if one of its counts differs from the files
        (:meth:`manifest_mismatches`)."""
        digests, _ = self._read_files()
        files = self.manifest["files"]
        damaged = [name for name in FILES if files[name] != digests[name]]
        if self.manifest_mismatches():
            damaged.append(MANIFEST)
        return damaged

    def manifest_mismatches(self) -> list[str]:
        """Each count of the manifest (events, commits, checkpoints) that differs from what the
        files hold, in words: ``manifest.json says 60 events; events.jsonl holds 59 lines``."""
        _, event_lines = self._read_files()
        held = {
            "events": (event_lines, "lines"),
            "commits": (len(self._commits), "lines"),
            "checkpoints": (len(self._checkpoints), "checkpoints"),
        }
        mismatches = []
        for key, name in _COUNTED:
            said = self.manifest[key]
            count, unit = held[key]
            if said != count:
                mismatches.append(f"{MANIFEST} says {said:,} {key}; {name} holds {count:,} {unit}")
        return mismatches

    def meta(self, name: str) -> str | None:
        value = self.manifest.get(name)
        return None if value is None else str(value)

    def _event_tuples(self, start: int = 1, stop: int | None = None) -> Iterator[tuple[Any, ...]]:
        """Each line of events.jsonl as (position, originator_id, originator_version, topic,
        state bytes, leaf hash bytes, commit seq), checked as the module docstring says."""
        fromhex = bytes.fromhex
        for number, text in read_lines(self.folder / EVENTS, EVENTS):
            d = parse_line(text, EVENTS, number)
            # Fast path: one test of every member's type; any doubt goes to event_checked,
            # which finds the member at fault (or accepts what is only unusual, such as
            # non-ASCII text).
            row: tuple[Any, ...] | None = None
            try:
                position = d["position"]
                oid = d["originator_id"]
                version = d["originator_version"]
                topic = d["topic"]
                state = d["state"]
                leaf = d["leaf_hash"]
                seq = d["commit"]
                if (
                    len(d) == 7
                    and type(position) is int
                    and type(version) is int
                    and type(seq) is int
                    and type(oid) is str
                    and type(topic) is str
                    and type(state) is str
                    and type(leaf) is str
                    and len(leaf) == 64
                    and oid.isascii()
                    and topic.isascii()
                ):
                    leaf_bytes = fromhex(leaf)
                    if leaf_bytes.hex() == leaf:
                        row = (position, oid, version, topic, state.encode(), leaf_bytes, seq)
            except (KeyError, TypeError, ValueError):  # UnicodeError is a ValueError
                row = None
            if row is None:
                row = event_checked(d, number)
            if row[0] < start:
                continue
            if stop is not None and row[0] > stop:
                return
            yield row

    def iter_events(self, start: int = 1, stop: int | None = None) -> Iterator[EventRow]:
        for row in self._event_tuples(start, stop):
            yield EventRow(*row)

    def iter_event_tuples(self, start: int = 1) -> Iterator[tuple[Any, ...]]:
        return self._event_tuples(start)

    def iter_event_batches(self, start: int = 1) -> Iterator[list[tuple[Any, ...]]]:
        batch: list[tuple[Any, ...]] = []
        for row in self._event_tuples(start):
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
