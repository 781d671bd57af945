"""The outcome of a verification (:class:`VerifyReport`, the ``--json`` shape) and the first
failure it names; :class:`Stop` ends a pass where a failure is found."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from ledger.integrity import merkle


@dataclass(frozen=True)
class Failure:
    position: int
    reason: str


@dataclass
class VerifyReport:
    """Outcome of a verification. ``to_json`` is the documented ``--json`` shape."""

    ok: bool
    events: int
    commits: int
    tree_size: int
    root: bytes
    checkpoints_checked: int
    mode: str
    started_at_position: int
    first_failure: Failure | None = None
    state: dict[str, Any] | None = None
    """With a state folder: {"path", "resumed_from", "saved_size"} (saved_size null on failure)."""
    frontier: merkle.MerkleFrontier | None = field(default=None, repr=False, compare=False)
    """The Merkle frontier at ``tree_size`` (what a checkpoint signer signs over)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "first_failure": (
                None
                if self.first_failure is None
                else {
                    "position": self.first_failure.position,
                    "reason": self.first_failure.reason,
                }
            ),
            "commits": self.commits,
            "tree_size": self.tree_size,
            "root": base64.b64encode(self.root).decode(),
            "checkpoints_checked": self.checkpoints_checked,
            "mode": self.mode,
            "started_at_position": self.started_at_position,
            "state": self.state,
        }


class Stop(Exception):
    """Raised where a pass finds its first failure (carried as :attr:`failure`)."""

    def __init__(self, position: int, reason: str) -> None:
        super().__init__(reason)
        self.failure = Failure(position, reason)


MALFORMED = (ValueError, TypeError, KeyError, IndexError, AttributeError)
"""What hostile bytes no check anticipated raise: still a failure, never a crash."""
