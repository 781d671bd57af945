"""Signed tree heads: C2SP tlog-checkpoint bodies inside C2SP signed notes (Ed25519).

Note (c2sp.org/signed-note): UTF-8 text ending in a newline, a blank line, then one or more
signature lines ``— <key name> <base64(key ID || signature)>`` (U+2014, space). The text is
everything before the last blank line, including its final newline, and is what gets signed.
No ASCII control characters other than newline; key names non-empty without Unicode spaces or
``+``. Ed25519 key ID = ``SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]``.
Signatures from unknown (name, key ID) pairs are ignored; one from the requested key that fails
to verify rejects the note; no signature from the requested key rejects it too. We accept at
most 100 signature lines (the spec asks verifiers to bound this, and to accept at least 16).

Body (c2sp.org/tlog-checkpoint): ``<origin>\\n<tree size>\\n<base64 RFC 9162 root>\\n`` then
extension lines. The origin is non-empty; the size is ASCII decimal without leading zeros (and
at most 2**64-1); the root is canonical standard base64 of 32 bytes. We emit, and strictly
require, exactly one extension line: ``time <UTC RFC 3339, seconds, Z>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.errors import CheckpointError
from ledger.integrity.signing import Signer, public_key_bytes, verify_signature

__all__ = [
    "Checkpoint",
    "NoteSignature",
    "key_hash",
    "parse_checkpoint",
    "sign_checkpoint",
    "split_note",
    "verify_checkpoint",
]

MAX_SIGNATURES = 100
_DASH = "\u2014 "
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_ANY_CONTROL = re.compile(r"[\x00-\x1f]")
_SIZE = re.compile(r"0|[1-9][0-9]*")
_TIME = re.compile(r"time ([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})Z")


def _strict_b64(text: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raw = None
    if raw is None or base64.b64encode(raw).decode() != text:
        raise CheckpointError(f"{where}: expected canonical standard base64; found {text!r}")
    return raw


def _check_key_name(name: str, where: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name):
        raise CheckpointError(
            f"{where}: expected a non-empty key name without spaces or '+'; found {name!r}"
        )


def _is_utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class NoteSignature:
    """One parsed, unverified signature line of a signed note."""

    key_name: str
    key_hash: bytes  # 4-byte key ID
    signature: bytes


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: ``origin`` log, ``tree_size`` leaves, 32-byte RFC 9162 ``root``, UTC time."""

    origin: str
    tree_size: int
    root: bytes
    time: datetime

    def __post_init__(self) -> None:
        if not self.origin or _ANY_CONTROL.search(self.origin) or not _is_utf8(self.origin):
            raise CheckpointError(
                f"origin: expected non-empty text, one line; found {self.origin!r}"
            )
        if type(self.tree_size) is not int or not 0 <= self.tree_size < 2**64:
            raise CheckpointError(f"tree size: expected 0 <= size < 2**64; found {self.tree_size}")
        if len(self.root) != 32:
            raise CheckpointError(f"root: expected 32 bytes; found {len(self.root)}")
        if self.time.utcoffset() != timedelta(0) or self.time.microsecond:
            raise CheckpointError(
                f"time: expected UTC with whole seconds; found {self.time.isoformat()}"
            )

    def body(self) -> bytes:
        """The note text that is signed: origin, size, root, time extension, each + newline."""
        stamp = self.time.replace(tzinfo=None).isoformat(timespec="seconds")
        root = base64.b64encode(self.root).decode()
        return f"{self.origin}\n{self.tree_size}\n{root}\ntime {stamp}Z\n".encode()


def key_hash(key_name: str, public_raw: bytes) -> bytes:
    """C2SP signed-note Ed25519 key ID: SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    return hashlib.sha256(key_name.encode() + b"\n\x01" + public_raw).digest()[:4]


def sign_checkpoint(
    checkpoint: Checkpoint, key_name: str, signer_private_key: Ed25519PrivateKey | Signer
) -> str:
    """The whole signed note: body, blank line, one signature line by ``key_name``."""
    _check_key_name(key_name, "signing key name")
    body = checkpoint.body()
    if isinstance(signer_private_key, Signer):
        public_raw = signer_private_key.public_key
    else:
        public_raw = public_key_bytes(signer_private_key)
    blob = key_hash(key_name, public_raw) + signer_private_key.sign(body)
    return f"{body.decode()}\n{_DASH}{key_name} {base64.b64encode(blob).decode()}\n"


def split_note(note: str) -> tuple[str, list[NoteSignature]]:
    """Split a C2SP signed note into its text and its parsed signature lines (not verified)."""
    if not _is_utf8(note):
        raise CheckpointError("note: expected valid UTF-8; found a lone surrogate")
    bad = _CONTROL.search(note)
    if bad:
        raise CheckpointError(f"note: expected no control characters but newline; found {bad[0]!r}")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise CheckpointError(
            "note: expected text, a blank line and signature lines ending in newline"
        )
    text, lines = note[: cut + 1], note[cut + 2 : -1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError(
            f"note: expected at most {MAX_SIGNATURES} signatures; found {len(lines)}"
        )
    signatures = []
    for number, line in enumerate(lines, start=text.count("\n") + 2):
        where = f"line {number}"
        name, _, blob = line.removeprefix(_DASH).partition(" ")
        if not line.startswith(_DASH) or not blob:
            raise CheckpointError(f"{where}: expected '— <key name> <base64>'; found {line!r}")
        _check_key_name(name, where)
        raw = _strict_b64(blob, where)
        if len(raw) < 5:
            raise CheckpointError(f"{where}: expected key ID and signature; found {len(raw)} bytes")
        signatures.append(NoteSignature(name, raw[:4], raw[4:]))
    return text, signatures


def _parse_body(text: str) -> Checkpoint:
    lines = text[:-1].split("\n")
    if len(lines) != 4:
        raise CheckpointError(
            f"checkpoint body: expected 4 lines (origin, size, root, time); found {len(lines)}"
        )
    origin, size, root, stamp = lines
    if not origin:
        raise CheckpointError("line 1: expected a non-empty origin")
    if not _SIZE.fullmatch(size) or len(size) > 20 or int(size) >= 2**64:
        raise CheckpointError(
            f"line 2: expected a tree size < 2**64 in decimal without leading zeros; found {size!r}"
        )
    root_raw = _strict_b64(root, "line 3")
    if len(root_raw) != 32:
        raise CheckpointError(f"line 3: expected a 32-byte root; found {len(root_raw)} bytes")
    match = _TIME.fullmatch(stamp)
    try:
        time = datetime.fromisoformat(match[1]).replace(tzinfo=UTC) if match else None
    except ValueError:
        time = None
    if time is None:
        raise CheckpointError(f"line 4: expected 'time YYYY-MM-DDTHH:MM:SSZ'; found {stamp!r}")
    return Checkpoint(origin, int(size), root_raw, time)


def parse_checkpoint(note: str) -> tuple[Checkpoint, list[NoteSignature]]:
    """Strictly parse a signed checkpoint note; signatures are returned unverified."""
    text, signatures = split_note(note)
    return _parse_body(text), signatures


def verify_checkpoint(note: str, key_name: str, public_raw: bytes) -> Checkpoint:
    """Return the checkpoint if every signature by (key_name, key ID) verifies; at least one."""
    text, signatures = split_note(note)
    checkpoint = _parse_body(text)
    wanted = key_hash(key_name, public_raw)
    mine = [s for s in signatures if s.key_name == key_name and s.key_hash == wanted]
    if not mine:
        found = ", ".join(f"{s.key_name}+{s.key_hash.hex()}" for s in signatures)
        raise CheckpointError(
            f"checkpoint: expected a signature by {key_name}+{wanted.hex()}; found {found}"
        )
    body = text.encode()
    for signature in mine:
        verify_signature(public_raw, body, signature.signature)
    return checkpoint
