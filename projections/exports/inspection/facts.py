"""What the report states about verification and the key registry.

:func:`verification_facts` says what was proved and against what: a checkpoint kept by the
reader (``--against``: its origin, size, root and time, and that the ledger extends it) and the
sponsor's published key (``--sponsor-key``: its key id, and that the ledger is rooted in it).
With neither, the verification is self-consistency only, and the report says so.

:func:`key_rows` is the key registry as an inspector reads it: every key ever registered, who
held it (printed name, role, site), from which position and date, until when and why.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from ledger.integrity.checkpoint import parse_checkpoint
from ledger.integrity.signing import key_id
from ledger.registry import RegisteredKey
from projections.exports.inspection.gather import RegistryDate, shown_time
from projections.exports.source import ExportSource

SELF_CONSISTENCY_ONLY = (
    "No checkpoint (--against) and no sponsor key (--sponsor-key) were given: this "
    "verification proves only that the ledger is consistent with itself (every hash, link, "
    "signature and kept checkpoint agrees). Whoever holds the ledger file could have rewritten "
    "all of it, keys included, and it would still verify. To prove that this is the ledger an "
    "earlier reader saw, verify it against a checkpoint they kept and the sponsor's published "
    "key."
)


@dataclass(frozen=True)
class Anchors:
    """What the reader gave to verify against (the file names only for display)."""

    checkpoint_note: str | None = None
    checkpoint_file: str | None = None
    sponsor_public: bytes | None = None
    sponsor_file: str | None = None


def verification_facts(source: ExportSource, anchors: Anchors) -> dict[str, Any]:
    """The ``verification`` member of ``--json`` and of the report's section 2."""
    report = source.report
    facts: dict[str, Any] = {
        "ok": report.ok,
        "mode": report.mode,
        "events": report.events,
        "commits": report.commits,
        "tree_size": report.tree_size,
        "root": source.root_b64,
        "checkpoints_checked": report.checkpoints_checked,
        "against": _checkpoint(source, anchors),
        "sponsor_key": _sponsor(source, anchors),
    }
    anchored = facts["against"] is not None or facts["sponsor_key"] is not None
    facts["scope"] = "anchored" if anchored else "self-consistency only"
    return facts


def _checkpoint(source: ExportSource, anchors: Anchors) -> dict[str, Any] | None:
    if anchors.checkpoint_note is None:
        return None
    checkpoint, signatures = parse_checkpoint(anchors.checkpoint_note)
    return {
        "file": anchors.checkpoint_file,
        "origin": checkpoint.origin,
        "size": checkpoint.tree_size,
        "root": base64.b64encode(checkpoint.root).decode(),
        "time": checkpoint.time.isoformat().replace("+00:00", "Z"),
        "signed_by": sorted({s.key_name for s in signatures}),
        "extended": True,
        "events_since": source.position - checkpoint.tree_size,
    }


def _sponsor(source: ExportSource, anchors: Anchors) -> dict[str, Any] | None:
    if anchors.sponsor_public is None:
        return None
    trial = source.registry.trial
    return {
        "file": anchors.sponsor_file,
        "key_id": key_id(anchors.sponsor_public),
        "public_key": base64.b64encode(anchors.sponsor_public).decode(),
        "genesis_sponsor": None if trial is None else trial.sponsor.printed_name,
        "rooted": True,
    }


@dataclass(frozen=True)
class KeyRow:
    key_id: str
    printed_name: str
    role: str
    site: str
    registered_at: int
    registered_on: str
    registered_signed: str
    expires_on: str
    status: str
    retired_at: int | None
    retired_on: str
    retired_reason: str


def _when(dates: dict[int, RegistryDate], position: int | None) -> tuple[str, str]:
    """(effective date, signed time) of the registry event at ``position``."""
    found = dates.get(position) if position is not None else None
    if found is None:
        return "", ""
    effective = found.effective_date.isoformat() if found.effective_date else ""
    return effective, shown_time(found.signed_at)


def _key_row(key: RegisteredKey, dates: dict[int, RegistryDate]) -> KeyRow:
    registered_on, registered_signed = _when(dates, key.registered_at)
    retired_on, _ = _when(dates, key.retired_at)
    person = key.key
    return KeyRow(
        key_id=person.key_id,
        printed_name=person.printed_name,
        role=person.role,
        site=person.site,
        registered_at=key.registered_at,
        registered_on=registered_on,
        registered_signed=registered_signed,
        expires_on=person.expires_on.isoformat() if person.expires_on else "",
        status="active" if key.retired_at is None else (key.retired_by or "retired"),
        retired_at=key.retired_at,
        retired_on=retired_on,
        retired_reason=key.retired_reason or "",
    )


def key_rows(source: ExportSource, dates: dict[int, RegistryDate]) -> list[KeyRow]:
    """Every registered key, by role, site and registration position."""
    rows = [_key_row(key, dates) for key in source.registry.keys.values()]
    return sorted(rows, key=lambda r: (r.role, r.site, r.registered_at))
