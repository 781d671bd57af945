"""Each document of a bundle as an object of exactly its members, each of its type, and
the events, commits and checkpoints they become."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from ledger.bundle.json_reading import failure
from ledger.bundle.layout import CHECKPOINTS, COMMITS, EVENTS, FILES, SIGNATURE_BYTES
from ledger.chain import CommitHeader, CommitRecord
from ledger.errors import show_text, show_value

INT, TEXT, HASH, SIGNATURE, DIGESTS = "int", "text", "hash", "signature", "digests"
EVENT_MEMBERS = {
    "position": INT,
    "originator_id": TEXT,
    "originator_version": INT,
    "topic": TEXT,
    "state": TEXT,
    "leaf_hash": HASH,
    "commit": INT,
}
COMMIT_MEMBERS = {
    "seq": INT,
    "first_position": INT,
    "last_position": INT,
    "prev_leaf": HASH,
    "events_root": HASH,
    "signer": TEXT,
    "meaning": TEXT,
    "recorded_at": TEXT,
    "signature": SIGNATURE,
}
CHECKPOINT_MEMBERS = {"tree_size": INT, "note": TEXT}
MANIFEST_MEMBERS = {
    "format": TEXT,
    "ledger_id": TEXT,
    "trial_id": TEXT,
    "events": INT,
    "commits": INT,
    "checkpoints": INT,
    "files": DIGESTS,
}
_HEX64 = re.compile(r"[0-9a-f]{64}")


def kind_of(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None or isinstance(value, bool):
        return shown(value)
    return "a number"


def shown(value: object) -> str:
    return "null" if value is None else show_value(value)


def _is_text(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def members_problem(document: object, members: Mapping[str, str]) -> str | None:
    """What is wrong with ``document`` as an object of exactly ``members`` (name: kind), or
    None."""
    if not isinstance(document, dict):
        return f"{kind_of(document)}, not a JSON object"
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
    if kind == INT:
        return None if type(value) is int else f"is {shown(value)}, not a JSON integer"
    if kind == DIGESTS:
        return _digests_problem(value)
    if not isinstance(value, str):
        return f"is {shown(value)}, not a JSON string"
    if not _is_text(value):
        return "is not valid Unicode text (it holds a lone surrogate)"
    if kind == HASH and not _HEX64.fullmatch(value):
        return f"is {shown(value)} ({len(value):,} characters), not 64 lowercase hex digits"
    return _signature_problem(value) if kind == SIGNATURE else None


def _signature_problem(value: str) -> str | None:
    try:
        signature = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        signature = b""
    if len(signature) != SIGNATURE_BYTES:
        return f"is {shown(value)}, not base64 of a {SIGNATURE_BYTES}-byte signature"
    return None


def _digests_problem(value: object) -> str | None:
    if not isinstance(value, dict):
        return f"is {shown(value)}, not a JSON object"
    if set(value) != set(FILES):
        named = ", ".join(show_text(str(key)) for key in list(value)[:8]) or "no file"
        return f"names {named}: it names exactly {', '.join(FILES)}"
    for name in FILES:
        digest = value[name]
        if not (isinstance(digest, str) and _HEX64.fullmatch(digest)):
            return f"gives {shown(digest)} for {name}, not 64 lowercase hex digits (SHA-256)"
    return None


def event_checked(d: object, number: int) -> tuple[Any, ...]:
    problem = members_problem(d, EVENT_MEMBERS)
    if problem is not None:
        raise failure(EVENTS, number, problem)
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


def commit_of_line(d: Any, ledger_id: str, number: int) -> CommitRecord:
    """One line of commits.jsonl: a fast test of every member, as for events; any doubt goes
    to :func:`members_problem`, which names the member at fault."""
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
                return commit_record(d, ledger_id, prev_bytes, root_bytes, signature_bytes)
    except (KeyError, TypeError, ValueError):  # binascii.Error is a ValueError
        pass
    problem = members_problem(d, COMMIT_MEMBERS)
    if problem is not None:
        raise failure(COMMITS, number, problem)
    return commit_record(
        d,
        ledger_id,
        bytes.fromhex(d["prev_leaf"]),
        bytes.fromhex(d["events_root"]),
        base64.b64decode(d["signature"], validate=True),
    )


def commit_record(
    d: dict[str, Any], ledger_id: str, prev: bytes, root: bytes, signature: bytes
) -> CommitRecord:
    """A commit line's members (already checked, each of its type) as the commit of
    ``ledger_id``: a bundle's, the served log's, the served genesis's."""
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


def kept_checkpoints(document: object) -> list[tuple[int, str, str]]:
    if not isinstance(document, list):
        raise failure(CHECKPOINTS, None, f"{kind_of(document)}, not a JSON array of checkpoints")
    kept: list[tuple[int, str, str]] = []
    for index, entry in enumerate(document, start=1):
        problem = members_problem(entry, CHECKPOINT_MEMBERS)
        if problem is not None:
            raise failure(CHECKPOINTS, f"checkpoint {index}", problem)
        kept.append((entry["tree_size"], entry["note"], ""))
    return kept
