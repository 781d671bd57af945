"""Exported bundles: everything an auditor needs to verify the ledger offline.

A bundle is a folder::

    manifest.json     {"format": "trial-ledger-bundle/v1", "ledger_id", "trial_id", "events",
                       "commits", "checkpoints" (counts), "files": {name: sha256 hex}}
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
checkpoint key and every signer are proved from it. The manifest's digests and counts are a
convenience for spotting a damaged copy; integrity does not rest on them.

Reading a bundle (:class:`BundleSource`) trusts none of its bytes. Each file is read in binary,
a line (or a whole one-document file) at a time with a fixed bound, and decoded strictly, so no
read is unbounded and no hostile file reaches the verifier as anything but the values above:

* a line of ``events.jsonl`` or ``commits.jsonl`` holds at most :data:`MAX_LINE_BYTES` bytes
  (4 MiB); ``manifest.json`` at most :data:`MAX_MANIFEST_BYTES`, ``checkpoints.json`` at most
  :data:`MAX_CHECKPOINTS_BYTES`;
* UTF-8 without a byte order mark; every line one JSON document (no blank lines), nested at
  most :data:`MAX_DEPTH` deep, each key once per object, no ``NaN``/``Infinity``, no number of
  more than :data:`MAX_DIGITS` digits;
* exactly the members listed above, each of its type: integers are JSON integers (not
  ``"100"``, ``100.0`` or ``true``), text is a JSON string (valid Unicode, no lone
  surrogate), hashes are 64 lowercase hex digits, a signature is base64 of 64 bytes, the
  manifest's ``files`` names exactly the three files.

Anything else is a :class:`~ledger.errors.VerificationError` (exit 1) naming the file, the
line (or the checkpoint, for ``checkpoints.json``) and what is wrong, e.g. ``bundle file
events.jsonl line 7: member 'position' is '100', not a JSON integer``. A folder without
``manifest.json``, or of another bundle format, is not a bundle (:class:`UsageError`, exit 2).

After a pass, :meth:`BundleSource.damaged_files` names the files whose SHA-256 differs from the
manifest's and, after them, ``manifest.json`` itself if its ``events``, ``commits`` or
``checkpoints`` count differs from what the files hold; :meth:`BundleSource.manifest_mismatches`
says which count, in words (``manifest.json says 60 events; events.jsonl holds 59 lines``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from ledger.chain import CommitHeader, CommitRecord, EventRow
from ledger.errors import UsageError, VerificationError, show_number_text, show_text, show_value
from ledger.store import LedgerReader

BUNDLE_FORMAT = "trial-ledger-bundle/v1"
MANIFEST = "manifest.json"
EVENTS = "events.jsonl"
COMMITS = "commits.jsonl"
CHECKPOINTS = "checkpoints.json"
FILES = (EVENTS, COMMITS, CHECKPOINTS)

MAX_LINE_BYTES = 4 * 1024 * 1024
"""Bytes in one line of ``events.jsonl`` or ``commits.jsonl``, without its line break."""
MAX_MANIFEST_BYTES = 1024 * 1024
"""Bytes in ``manifest.json``."""
MAX_CHECKPOINTS_BYTES = 64 * 1024 * 1024
"""Bytes in ``checkpoints.json`` (a kept checkpoint is a few hundred bytes)."""
MAX_DEPTH = 32
"""Arrays and objects nested in one JSON document of a bundle."""
MAX_DIGITS = 40
"""Digits in one JSON number of a bundle."""
SIGNATURE_BYTES = 64
"""An Ed25519 signature."""

_INT, _TEXT, _HASH, _SIGNATURE, _DIGESTS = "int", "text", "hash", "signature", "digests"
EVENT_MEMBERS = {
    "position": _INT,
    "originator_id": _TEXT,
    "originator_version": _INT,
    "topic": _TEXT,
    "state": _TEXT,
    "leaf_hash": _HASH,
    "commit": _INT,
}
COMMIT_MEMBERS = {
    "seq": _INT,
    "first_position": _INT,
    "last_position": _INT,
    "prev_leaf": _HASH,
    "events_root": _HASH,
    "signer": _TEXT,
    "meaning": _TEXT,
    "recorded_at": _TEXT,
    "signature": _SIGNATURE,
}
CHECKPOINT_MEMBERS = {"tree_size": _INT, "note": _TEXT}
MANIFEST_MEMBERS = {
    "format": _TEXT,
    "ledger_id": _TEXT,
    "trial_id": _TEXT,
    "events": _INT,
    "commits": _INT,
    "checkpoints": _INT,
    "files": _DIGESTS,
}
_COUNTED = (("events", EVENTS), ("commits", COMMITS), ("checkpoints", CHECKPOINTS))
_HEX64 = re.compile(r"[0-9a-f]{64}")
# A JSON string (or an unterminated one, to the end of the text, so that a scan never restarts
# inside it) or a bracket: what the nesting scan below steps through.
_STRUCTURE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)|[\[\]{}]', re.DOTALL)
_JSON_PHRASES = {
    "Expecting value": "a value is expected",
    "Extra data": "more text follows the JSON value",
    "Unterminated string starting at": "a string is not closed",
    "Invalid control character at": "a control character inside a string",
    "Expecting property name enclosed in double quotes": "a member name in double quotes is "
    "expected",
    "Expecting ':' delimiter": "':' is expected",
    "Expecting ',' delimiter": "',' is expected",
    "Invalid \\escape": "an invalid backslash escape",
    "Invalid \\uXXXX escape": "an invalid \\uXXXX escape",
}


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
    with (out / EVENTS).open("w", encoding="utf-8") as f:
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
    with (out / COMMITS).open("w", encoding="utf-8") as f:
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
    (out / CHECKPOINTS).write_text(json.dumps(checkpoints, indent=1), encoding="utf-8")
    manifest: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "ledger_id": reader.meta("ledger_id"),
        "trial_id": "NCT00635154",
        "events": events,
        "commits": commits,
        "checkpoints": len(checkpoints),
        "files": {name: _digest_and_lines(out / name)[0] for name in FILES},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


def _digest_and_lines(path: Path) -> tuple[str, int]:
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
        manifest = _read_document(self.folder / MANIFEST, MANIFEST, MAX_MANIFEST_BYTES)
        if not isinstance(manifest, dict):
            raise _failure(MANIFEST, None, f"{_kind(manifest)}, not a JSON object")
        if manifest.get("format") != BUNDLE_FORMAT:
            raise UsageError(
                f"{self.folder}: bundle format {_shown(manifest.get('format'))}, "
                f"expected {BUNDLE_FORMAT!r}"
            )
        for name in FILES:
            if not (self.folder / name).is_file():
                raise UsageError(f"{self.folder}: bundle file {name} is missing")
        problem = _members_problem(manifest, MANIFEST_MEMBERS)
        if problem is not None:
            raise _failure(MANIFEST, None, problem)
        self.manifest = manifest
        ledger_id = str(manifest["ledger_id"])
        self._commits = [
            _commit(_parse_line(text, COMMITS, number), ledger_id, number)
            for number, text in _lines(self.folder / COMMITS, COMMITS)
        ]
        self._checkpoints = _checkpoints(
            _read_document(self.folder / CHECKPOINTS, CHECKPOINTS, MAX_CHECKPOINTS_BYTES)
        )

    def _read_files(self) -> tuple[dict[str, str], int]:
        """Each file's SHA-256 and the lines of events.jsonl (read once, when first asked)."""
        if self._digests is None:
            digests: dict[str, str] = {}
            event_lines = 0
            for name in FILES:
                digests[name], lines = _digest_and_lines(self.folder / name)
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
        for number, text in _lines(self.folder / EVENTS, EVENTS):
            d = _parse_line(text, EVENTS, number)
            # Fast path: one test of every member's type; any doubt goes to _event_checked,
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
                row = _event_checked(d, number)
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


# --------------------------------------------------------------------------- reading


class _Problem(Exception):
    """What is wrong with a document, in words (raised by the JSON hooks below)."""


def _failure(name: str, where: int | str | None, problem: str) -> VerificationError:
    """``bundle file NAME line N: PROBLEM`` (``where`` a line number, or a label such as
    ``checkpoint 3``, or None for a whole-file document)."""
    at = "" if where is None else f" line {where}" if isinstance(where, int) else f", {where}"
    return VerificationError(f"bundle file {name}{at}: {problem}")


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Problem(
                    f"member {show_text(key)} appears twice (each key appears once in an object)"
                )
            seen.add(key)
    return document


def _too_many_digits(text: str, digits: int) -> _Problem:
    return _Problem(
        f"a number with more than {MAX_DIGITS} digits ({show_number_text(text, digits)})"
    )


def _json_int(text: str) -> int:
    if len(text) > MAX_DIGITS and len(text.lstrip("-")) > MAX_DIGITS:
        raise _too_many_digits(text, len(text.lstrip("-")))
    return int(text)


def _json_float(text: str) -> float:
    if len(text) > MAX_DIGITS:
        digits = len(text) - sum(text.count(mark) for mark in "-+.eE")
        if digits > MAX_DIGITS:
            raise _too_many_digits(text, digits)
    return float(text)


def _json_constant(text: str) -> Any:
    raise _Problem(f"{text} is not a JSON number")


_DECODER = json.JSONDecoder(
    object_pairs_hook=_json_object,
    parse_int=_json_int,
    parse_float=_json_float,
    parse_constant=_json_constant,
)
# The decoder's own scanner (what ``decode`` calls after skipping leading space): one object
# from an index, and where it ends. Not in the type stubs, hence the cast.
_SCAN: Callable[[str, int], tuple[Any, int]] = cast(Any, _DECODER).scan_once


def _lines(path: Path, name: str) -> Iterator[tuple[int, str]]:
    """Each line of a JSON Lines file of the bundle, numbered from 1, decoded as UTF-8; read in
    binary, never more than :data:`MAX_LINE_BYTES` (and its line break) at a time."""
    with path.open("rb") as handle:
        readline = handle.readline
        number = 0
        while True:
            raw = readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            number += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                raise _failure(
                    name,
                    number,
                    f"the line is longer than {MAX_LINE_BYTES:,} bytes (a line of a bundle "
                    "file holds at most 4 MiB)",
                )
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise _failure(name, number, _not_utf8(raw, e.start)) from None
            yield number, text


def _read_document(path: Path, name: str, limit: int) -> Any:
    """A one-document file of the bundle, at most ``limit`` bytes, read without reading more."""
    with path.open("rb") as handle:
        raw = handle.read(limit + 1)
    if len(raw) > limit:
        raise _failure(name, None, f"larger than {limit:,} bytes, the most this file holds")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line_start = raw.rfind(b"\n", 0, e.start) + 1
        line = raw.count(b"\n", 0, e.start) + 1
        raise _failure(name, line, _not_utf8(raw[line_start:], e.start - line_start)) from None
    return _parse(text, name, 1, whole=True)


def _not_utf8(raw: bytes, at: int) -> str:
    return f"not UTF-8 (byte 0x{raw[at]:02x} at column {at + 1}); bundle files are UTF-8 text"


def _parse_line(text: str, name: str, number: int) -> Any:
    """:func:`_parse` of one line, faster: the decoder's scanner, then a look at what follows
    the document (an exported line ends right after it). Anything else (an error, spaces,
    CRLF) is read again by :func:`_parse`, which tells what is wrong or accepts the line."""
    if text.count("[") + text.count("{") > MAX_DEPTH:
        _check_depth(text, name, number)
    try:
        document, end = _SCAN(text, 0)
        if end == len(text) or text[end:] == "\n":
            return document
    except (StopIteration, _Problem, ValueError, RecursionError):
        pass
    return _parse(text, name, number)


def _parse(text: str, name: str, line: int, *, whole: bool = False) -> Any:
    """One JSON document (``text`` starts at ``line``); the nesting depth is bounded before the
    decoder (which recurses per level) sees it."""
    if text.count("[") + text.count("{") > MAX_DEPTH:
        _check_depth(text, name, line)
    try:
        return _DECODER.decode(text)
    except _Problem as e:
        raise _failure(name, None if whole else line, str(e)) from None
    except json.JSONDecodeError as e:
        at = line + e.lineno - 1 if whole else line  # (a line's error may lie past its break)
        raise _failure(name, at, _not_json(text, e, whole)) from None
    except (ValueError, RecursionError):  # pragma: no cover - the hooks and depth bound these
        raise _failure(name, None if whole else line, "not JSON") from None


def _check_depth(text: str, name: str, line: int) -> None:
    depth = 0
    for token in _STRUCTURE.finditer(text):
        mark = text[token.start()]
        if mark in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                at = line + text.count("\n", 0, token.start())
                raise _failure(
                    name,
                    at,
                    f"nested deeper than {MAX_DEPTH} (arrays and objects nest at most "
                    f"{MAX_DEPTH} deep)",
                )
        elif mark in "]}":
            depth -= 1


def _not_json(text: str, e: json.JSONDecodeError, whole: bool) -> str:
    if text.startswith("\ufeff"):
        return "starts with a byte order mark; bundle files are UTF-8 without one"
    if not text.strip(" \t\r\n"):
        return "empty: not JSON" if whole else "a blank line: each line holds one JSON object"
    phrase = _JSON_PHRASES.get(e.msg, e.msg[:1].lower() + e.msg[1:])
    return f"not JSON ({phrase} at column {e.colno})"


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None or isinstance(value, bool):
        return _shown(value)
    return "a number"


def _shown(value: object) -> str:
    return "null" if value is None else show_value(value)


def _is_text(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _members_problem(document: object, members: Mapping[str, str]) -> str | None:
    """What is wrong with ``document`` as an object of exactly ``members`` (name: kind), or
    None."""
    if not isinstance(document, dict):
        return f"{_kind(document)}, not a JSON object"
    for name in members:
        if name not in document:
            return f"member {name!r} is missing"
    for key in document:
        if key not in members:
            return f"unknown member {show_text(key)}"
    for name, kind in members.items():
        problem = _value_problem(document[name], kind)
        if problem is not None:
            return f"member {name!r} {problem}"
    return None


def _value_problem(value: object, kind: str) -> str | None:
    if kind == _INT:
        return None if type(value) is int else f"is {_shown(value)}, not a JSON integer"
    if kind == _DIGESTS:
        return _digests_problem(value)
    if not isinstance(value, str):
        return f"is {_shown(value)}, not a JSON string"
    if not _is_text(value):
        return "is not valid Unicode text (it holds a lone surrogate)"
    if kind == _HASH and not _HEX64.fullmatch(value):
        return f"is {_shown(value)} ({len(value):,} characters), not 64 lowercase hex digits"
    if kind == _SIGNATURE:
        try:
            signature = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            signature = b""
        if len(signature) != SIGNATURE_BYTES:
            return f"is {_shown(value)}, not base64 of a {SIGNATURE_BYTES}-byte signature"
    return None


def _digests_problem(value: object) -> str | None:
    if not isinstance(value, dict):
        return f"is {_shown(value)}, not a JSON object"
    if set(value) != set(FILES):
        named = ", ".join(show_text(str(key)) for key in list(value)[:8]) or "no file"
        return f"names {named}: it names exactly {', '.join(FILES)}"
    for name in FILES:
        digest = value[name]
        if not (isinstance(digest, str) and _HEX64.fullmatch(digest)):
            return f"gives {_shown(digest)} for {name}, not 64 lowercase hex digits (SHA-256)"
    return None


def _event_checked(d: object, number: int) -> tuple[Any, ...]:
    problem = _members_problem(d, EVENT_MEMBERS)
    if problem is not None:
        raise _failure(EVENTS, number, problem)
    assert isinstance(d, dict)
    return (
        d["position"],
        d["originator_id"],
        d["originator_version"],
        d["topic"],
        d["state"].encode("utf-8"),
        bytes.fromhex(d["leaf_hash"]),
        d["commit"],
    )


def _commit(d: Any, ledger_id: str, number: int) -> CommitRecord:
    """One line of commits.jsonl: a fast test of every member, as for events; any doubt goes
    to :func:`_members_problem`, which names the member at fault."""
    try:
        seq, first, last = d["seq"], d["first_position"], d["last_position"]
        prev, root, signature = d["prev_leaf"], d["events_root"], d["signature"]
        signer, meaning, recorded_at = d["signer"], d["meaning"], d["recorded_at"]
        if (
            len(d) == 9
            and type(seq) is int
            and type(first) is int
            and type(last) is int
            and type(prev) is str
            and type(root) is str
            and type(signature) is str
            and type(signer) is str
            and type(meaning) is str
            and type(recorded_at) is str
            and len(prev) == len(root) == 64
            and signer.isascii()
            and meaning.isascii()
            and recorded_at.isascii()
        ):
            prev_bytes, root_bytes = bytes.fromhex(prev), bytes.fromhex(root)
            signature_bytes = base64.b64decode(signature, validate=True)
            if (
                prev_bytes.hex() == prev
                and root_bytes.hex() == root
                and len(signature_bytes) == SIGNATURE_BYTES
            ):
                return _commit_record(d, ledger_id, prev_bytes, root_bytes, signature_bytes)
    except (KeyError, TypeError, ValueError):  # binascii.Error is a ValueError
        pass
    problem = _members_problem(d, COMMIT_MEMBERS)
    if problem is not None:
        raise _failure(COMMITS, number, problem)
    return _commit_record(
        d,
        ledger_id,
        bytes.fromhex(d["prev_leaf"]),
        bytes.fromhex(d["events_root"]),
        base64.b64decode(d["signature"], validate=True),
    )


def _commit_record(
    d: dict[str, Any], ledger_id: str, prev: bytes, root: bytes, signature: bytes
) -> CommitRecord:
    return CommitRecord(
        header=CommitHeader(
            seq=d["seq"],
            first_position=d["first_position"],
            last_position=d["last_position"],
            prev_leaf=prev,
            events_root=root,
            signer=d["signer"],
            meaning=d["meaning"],
            recorded_at=d["recorded_at"],
            ledger_id=ledger_id,
        ),
        signature=signature,
    )


def _checkpoints(document: object) -> list[tuple[int, str, str]]:
    if not isinstance(document, list):
        raise _failure(CHECKPOINTS, None, f"{_kind(document)}, not a JSON array of checkpoints")
    kept: list[tuple[int, str, str]] = []
    for index, entry in enumerate(document, start=1):
        problem = _members_problem(entry, CHECKPOINT_MEMBERS)
        if problem is not None:
            raise _failure(CHECKPOINTS, f"checkpoint {index}", problem)
        kept.append((entry["tree_size"], entry["note"], ""))
    return kept
