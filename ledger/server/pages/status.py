"""What every page says about the verification of what it shows.

A page shows the ledger as of one position (:attr:`VerificationStatus.position`) and says:

* the latest checkpoint the ledger keeps (its tree size, root and time), and whether it is
  *verified* here: its C2SP signature verifies under the ledger's checkpoint key (the key
  the sponsor-signed ``TrialCreated`` names, from the re-proved registry) and its root equals
  the RFC 9162 root of the ledger's first ``tree size`` leaves as stored now (leaves the
  views' catch-up verified before consuming them). A checkpoint that fails either test is
  shown as not verified, with the reason, and never counts as covering anything;
* whether the position shown is *covered* by that verified checkpoint (position <= its
  size): the records shown are then fixed by a signed tree head a verifier can hold, and any
  later change of them fails ``verify --against`` that checkpoint;
* when the views were last proved equal to a rebuild (``views_proved`` of the reports: the
  position and time ``projections verify`` recorded, which say what was proved then, not that
  nothing changed since), and whether that proof reaches the position shown.

A verified checkpoint is remembered per process by (size, note, root): the ledger is
append-only and the leaves below it are not read again for each page.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from typing import Any

from ledger.errors import LedgerError
from ledger.integrity import merkle
from ledger.integrity.checkpoint import verify_checkpoint
from ledger.registry import KeyRegistry
from ledger.store import LedgerReader
from ledger.verify.checkpoints import checkpoint_origin


@dataclass(frozen=True)
class CheckpointStatus:
    """The latest kept checkpoint and what checking it here found."""

    tree_size: int
    root: str
    """Base64, as in the signed note."""
    time: str | None
    verified: bool
    problem: str | None = None


@dataclass(frozen=True)
class VerificationStatus:
    position: int
    """The ledger position the page shows."""
    head: int
    """The ledger's size when the page was made."""
    checkpoint: CheckpointStatus | None
    views_proved: dict[str, Any] | None

    @property
    def covered(self) -> bool:
        """Whether a verified checkpoint covers the position shown."""
        cp = self.checkpoint
        return cp is not None and cp.verified and self.position <= cp.tree_size

    @property
    def views_proved_here(self) -> bool:
        """Whether the last proof of the views reached the position shown."""
        proved = self.views_proved
        return proved is not None and int(proved.get("position") or 0) >= self.position


_verified: set[tuple[int, str, str]] = set()
_verified_lock = threading.Lock()


def checkpoint_status(reader: LedgerReader, registry: KeyRegistry) -> CheckpointStatus | None:
    """The latest checkpoint ``reader`` keeps, checked (see the module docstring); None if
    the ledger keeps none."""
    kept = reader.checkpoints()
    if not kept:
        return None
    size, note, _frontier = kept[-1]
    if registry.trial is None:
        return CheckpointStatus(size, "", None, False, "the ledger has no TrialCreated event")
    try:
        cp = verify_checkpoint(
            note, checkpoint_origin(str(registry.trial.ledger_id)), registry.ledger_public_raw
        )
    except LedgerError as e:
        return CheckpointStatus(size, "", None, False, f"its signature does not verify ({e})")
    root = base64.b64encode(cp.root).decode()
    stamp = cp.time.strftime("%Y-%m-%dT%H:%M:%SZ")
    if cp.tree_size != size:
        problem = f"kept as size {size} but signed for size {cp.tree_size}"
        return CheckpointStatus(size, root, stamp, False, problem)
    key = (size, note, root)
    with _verified_lock:
        known = key in _verified
    if not known:
        mismatch = _root_problem(reader, cp.tree_size, cp.root)
        if mismatch is not None:
            return CheckpointStatus(size, root, stamp, False, mismatch)
        with _verified_lock:
            _verified.add(key)
    return CheckpointStatus(size, root, stamp, True)


def _root_problem(reader: LedgerReader, size: int, signed_root: bytes) -> str | None:
    """Why the ledger's first ``size`` leaves do not give ``signed_root`` (None: they do)."""
    if size > reader.size():
        return f"it covers {size} events but the ledger holds {reader.size()}"
    leaves = list(reader.leaf_hashes(1, size))
    if len(leaves) != size or merkle.root(leaves) != signed_root:
        return f"the ledger's root at size {size} differs from the signed root"
    return None


def verification_status(
    reader: LedgerReader,
    registry: KeyRegistry,
    position: int,
    views_proved: dict[str, Any] | None,
) -> VerificationStatus:
    """The status of a page showing the ledger as of ``position``."""
    return VerificationStatus(
        position=position,
        head=reader.size(),
        checkpoint=checkpoint_status(reader, registry),
        views_proved=views_proved,
    )
