"""What a leaf is, what a commit signs: the byte-level definitions every verifier recomputes.

Leaf (one per event, position ``p`` counting from 1, contiguous)::

    envelope(p) = RFC 8785 JSON of {
        "commit": <seq of the signed commit holding p>,
        "originator_id": <stream id as stored: 32 lowercase hex digits>,
        "originator_version": <int>,
        "position": p,
        "prev": <hex leaf hash of p-1; 64 zeros for p = 1>,
        "state_sha256": <hex SHA-256 of the stored state bytes>,
        "topic": <stored topic string>,
    }
    leaf_hash(p) = SHA-256(0x00 || envelope(p))            (RFC 9162 §2.1.1 leaf hash)

Each leaf names its predecessor's leaf hash, so the leaves form a hash chain; the same leaf
hashes are the leaves of the RFC 9162 Merkle tree that checkpoints sign. The stored state bytes
are themselves RFC 8785 JSON (see ``ledger.events``), but the leaf binds them by digest so a
verifier never has to re-serialise a payload.

Commit (one per signed append by one person)::

    header = RFC 8785 JSON of {
        "events_root": <hex RFC 9162 MTH over the commit's leaf hashes, in position order>,
        "first_position": <int>, "last_position": <int>,
        "ledger_id": <uuid string>, "meaning": authorship|review|approval|responsibility,
        "prev_leaf": <hex leaf hash of first_position - 1>,
        "recorded_at": <UTC RFC 3339, microseconds, Z>, "seq": <int, from 1, contiguous>,
        "signer": <key id>, "type": "trial-ledger/commit/v1",
    }
    signature = Ed25519(signer's private key, header)

The ``type`` member separates commit signatures from every other thing a key signs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from ledger.errors import LedgerError
from ledger.integrity import merkle
from ledger.integrity.signing import verify_signature

ZERO_HASH = bytes(32)
COMMIT_TYPE = "trial-ledger/commit/v1"
_json_str = json.JSONEncoder(ensure_ascii=False).encode


def envelope_bytes(
    *,
    commit: int,
    originator_id: str,
    originator_version: int,
    position: int,
    prev: bytes,
    state: bytes,
    topic: str,
) -> bytes:
    """RFC 8785 bytes of a leaf's envelope.

    Built by template on the hot path: members are already in RFC 8785 order (UTF-16 code-unit
    order of ASCII names), integers print identically, and ``json`` escapes strings exactly as
    RFC 8785 §3.2.2.2 does (short escapes for \\b \\t \\n \\f \\r, lowercase ``\\u00xx`` for
    other controls, everything else literal). ``tests/unit/test_chain.py`` checks it against
    the general canonicaliser.
    """
    return (
        f'{{"commit":{commit},"originator_id":{_json_str(originator_id)},'
        f'"originator_version":{originator_version},"position":{position},'
        f'"prev":"{prev.hex()}","state_sha256":"{hashlib.sha256(state).hexdigest()}",'
        f'"topic":{_json_str(topic)}}}'
    ).encode()


def leaf_hash_of(
    *,
    commit: int,
    originator_id: str,
    originator_version: int,
    position: int,
    prev: bytes,
    state: bytes,
    topic: str,
) -> bytes:
    """SHA-256(0x00 || envelope): the chain link and the Merkle leaf of one event."""
    return hashlib.sha256(
        b"\x00"
        + envelope_bytes(
            commit=commit,
            originator_id=originator_id,
            originator_version=originator_version,
            position=position,
            prev=prev,
            state=state,
            topic=topic,
        )
    ).digest()


@dataclass(frozen=True, slots=True)
class CommitHeader:
    """The signed statement of one commit. ``to_bytes`` is what the signature covers."""

    seq: int
    ledger_id: str
    first_position: int
    last_position: int
    prev_leaf: bytes
    events_root: bytes
    signer: str
    meaning: str
    recorded_at: str

    def to_dict(self) -> dict[str, object]:
        return {
            "events_root": self.events_root.hex(),
            "first_position": self.first_position,
            "last_position": self.last_position,
            "ledger_id": self.ledger_id,
            "meaning": self.meaning,
            "prev_leaf": self.prev_leaf.hex(),
            "recorded_at": self.recorded_at,
            "seq": self.seq,
            "signer": self.signer,
            "type": COMMIT_TYPE,
        }

    def to_bytes(self) -> bytes:
        """RFC 8785 bytes, by template (members in RFC 8785 order, strings JSON-escaped);
        ``tests/property`` checks it against the general canonicaliser."""
        return (
            f'{{"events_root":"{self.events_root.hex()}",'
            f'"first_position":{self.first_position},"last_position":{self.last_position},'
            f'"ledger_id":{_json_str(self.ledger_id)},"meaning":{_json_str(self.meaning)},'
            f'"prev_leaf":"{self.prev_leaf.hex()}","recorded_at":{_json_str(self.recorded_at)},'
            f'"seq":{self.seq},"signer":{_json_str(self.signer)},"type":"{COMMIT_TYPE}"}}'
        ).encode()


@dataclass(frozen=True, slots=True)
class CommitRecord:
    """A stored commit: its header and the signature over it."""

    header: CommitHeader
    signature: bytes


@dataclass(frozen=True, slots=True)
class EventRow:
    """One stored event as a verifier or projection reads it, in position order."""

    position: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes
    leaf_hash: bytes
    commit_seq: int


def row_leaf(row: EventRow, prev: bytes) -> bytes:
    """The leaf of a stored row recomputed from its columns (never its stored leaf column),
    given ``prev``, the leaf before it."""
    return leaf_hash_of(
        commit=row.commit_seq,
        originator_id=row.originator_id,
        originator_version=row.originator_version,
        position=row.position,
        prev=prev,
        state=row.state,
        topic=row.topic,
    )


def reprove_commit(
    commit: CommitRecord, rows: list[EventRow], prev: bytes, public_raw: bytes | None
) -> str | None:
    """Re-prove one stored commit from its stored rows; the reason it fails, or None.

    ``rows`` are the stored events at the commit's positions and ``prev`` the stored leaf just
    before them. Every leaf is recomputed from the stored columns (not read from ``leaf_hash``),
    the chain links from ``prev``, the RFC 9162 root of the leaves must be the signed
    ``events_root`` and, given the signer's registered public key, the Ed25519 signature must
    verify over the header. Used where one commit is trusted without a whole pass: the tip a
    writer extends, and the registry and screening events a segment verification builds on.
    """
    h = commit.header
    positions = [r.position for r in rows]
    if positions != list(range(h.first_position, h.last_position + 1)):
        return (
            f"commit {h.seq} claims positions {h.first_position}-{h.last_position}, "
            f"{len(rows)} of them are stored"
        )
    if h.prev_leaf != prev:
        return f"commit {h.seq} does not link to the stored leaf at position {h.first_position - 1}"
    leaves: list[bytes] = []
    link = prev
    for r in rows:
        try:
            leaf = row_leaf(r, link)
        except (TypeError, ValueError) as e:
            return f"position {r.position}: stored columns are malformed ({e})"
        if r.commit_seq != h.seq or leaf != r.leaf_hash:
            return f"position {r.position}: the stored event does not match its leaf hash"
        leaves.append(leaf)
        link = leaf
    if merkle.root(leaves) != h.events_root:
        return f"commit {h.seq}: the Merkle root of its events differs from the signed root"
    return None if public_raw is None else _signature_failure(commit, public_raw)


def _signature_failure(commit: CommitRecord, public_raw: bytes) -> str | None:
    h = commit.header
    try:
        verify_signature(public_raw, h.to_bytes(), commit.signature)
    except LedgerError:
        return f"commit {h.seq}: the signature by {h.signer} does not verify over its header"
    return None
