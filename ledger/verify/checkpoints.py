"""Checkpoints a pass meets: their origin line, the note given with ``against`` (is it of this
ledger, and intact?), and the Merkle frontier kept beside a stored checkpoint."""

from __future__ import annotations

import base64
import json

from ledger.errors import LedgerError, UsageError
from ledger.events import TrialCreated, decode_event
from ledger.integrity import merkle
from ledger.integrity.checkpoint import NoteSignature, key_hash, parse_checkpoint, verify_checkpoint
from ledger.verify.source import TRIAL_ID, LedgerSource


def checkpoint_origin(ledger_id: str) -> str:
    """The C2SP origin line (and key name) of this ledger's checkpoints."""
    return f"trial-ledger/{TRIAL_ID}/{ledger_id}"


def frontier_differs(kept: str, frontier: merkle.MerkleFrontier) -> bool:
    try:
        return bool(json.loads(kept) != frontier.to_json())
    except ValueError:
        return True


def against_checkpoint(
    source: LedgerSource, note: str, sponsor_public: bytes | None
) -> tuple[int, str]:
    """The size of a checkpoint given to check against; usage errors for a note that is not
    a checkpoint, or one of another ledger (its signature is checked during the pass).

    "Another ledger": the note names none of the ids this file names, and neither its
    TrialCreated's checkpoint key nor a published sponsor key ties the two together. A note
    signed by this ledger's checkpoint key under another id means the history was replaced
    (the pass reports it, exit 1), as does any mismatch once the sponsor key is given."""
    try:
        cp, signatures = parse_checkpoint(note)
    except LedgerError as e:
        raise UsageError(f"--against: the file is not a signed checkpoint ({e})") from None
    _check_note_is_intact(source, note, cp.origin, signatures)
    names = ledger_ids(source)
    if (
        cp.origin not in {checkpoint_origin(name) for name in names}
        and sponsor_public is None
        and not _signed_by_this_ledger_key(source, note, cp.origin)
    ):
        here = " / ".join(sorted(names)) or "(none)"
        raise UsageError(
            f"--against: the checkpoint is of {cp.origin!r}, but this ledger is "
            f"{here}: give a checkpoint of this ledger (if it was taken of this ledger, "
            "its whole history was replaced since)"
        )
    if cp.tree_size < 1:
        raise UsageError("--against: the checkpoint covers no events; nothing to prove")
    return cp.tree_size, note


def _check_note_is_intact(
    source: LedgerSource, note: str, origin: str, signatures: list[NoteSignature]
) -> None:
    """A note that names this ledger's checkpoint key but whose signature fails under it was
    altered or damaged as a file: refused (exit 2) before the ledger is blamed for it."""
    genesis = _genesis(source)
    if genesis is None:
        return
    public = base64.b64decode(genesis.ledger_public_key)
    wanted = key_hash(origin, public)
    if not any(sig.key_name == origin and sig.key_hash == wanted for sig in signatures):
        return  # another key: a re-keyed ledger or another ledger, decided below
    try:
        verify_checkpoint(note, origin, public)
    except LedgerError:
        raise UsageError(
            "--against: the checkpoint file names this ledger's checkpoint key but its "
            "signature does not verify: the file was altered or damaged (its size, root or "
            "time lines changed); use the checkpoint file as it was written"
        ) from None


def _signed_by_this_ledger_key(source: LedgerSource, note: str, origin: str) -> bool:
    genesis = _genesis(source)
    if genesis is None:
        return False
    try:
        verify_checkpoint(note, origin, base64.b64decode(genesis.ledger_public_key))
    except (LedgerError, ValueError):
        return False
    return True


def _genesis(source: LedgerSource) -> TrialCreated | None:
    first = source.event_at(1)
    if first is None:
        return None
    try:
        genesis = decode_event(first.topic, first.state, first.originator_id, 1)
    except (LedgerError, ValueError):
        return None
    return genesis if isinstance(genesis, TrialCreated) else None


def ledger_ids(source: LedgerSource) -> set[str]:
    """The ledger ids the file names (its meta row, and its TrialCreated event if readable):
    only to tell a checkpoint or state of another ledger from one of this ledger, tampered."""
    names = {source.meta("ledger_id") or ""}
    genesis = _genesis(source)
    if genesis is not None:
        names.add(str(genesis.ledger_id))
    names.discard("")
    return names
