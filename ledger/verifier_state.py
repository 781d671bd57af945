"""What a verifier keeps of its own after a pass, outside the ledger file (``--state DIR``).

An incremental verification may read only the events appended since an earlier pass, but only
from state the verifier wrote itself after proving that prefix; never from anything stored in
the ledger file, which whoever holds the file can rewrite (including its kept checkpoints and
Merkle frontiers). The state is one JSON file, ``DIR/verifier-state.json``:

``{"format": "trial-ledger-verifier-state/v1", "ledger_id", "genesis_leaf", "size", "leaf",
"commit_seq", "recorded_at", "frontier": {"size", "hashes"}, "roots": {"<size>": b64},
"registry_events": [[position, topic, originator_id, originator_version, state]],
"sites": {"<stream id>": "<site>"}, "sponsor_key_id", "proved_at"}``

``size``/``leaf``/``commit_seq``/``recorded_at``: where the proved prefix ends (always at a
commit boundary); ``frontier``: its Merkle frontier; ``roots``: the root at every checkpoint
size the verifier matched and at ``size``; ``registry_events``: the key registry's events (the
verifier re-folds them, so who may sign is decided from what it proved, not from the file);
``sites``: each subject stream's site, from its proved screening event. Its size grows with
people, sites, subjects and checkpoints, not with events.

Protect ``DIR`` like the sponsor's public key: whoever can write it can make the verifier
skip what it holds. It is written atomically (a new file renamed over the old one), 0600.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledger.errors import LedgerError, UsageError
from ledger.integrity import merkle

STATE_FORMAT = "trial-ledger-verifier-state/v1"
STATE_FILE = "verifier-state.json"

RegistryEvent = tuple[int, str, str, int, str]
"""(position, topic, originator id, originator version, stored state as text)."""


@dataclass
class VerifierState:
    ledger_id: str
    genesis_leaf: bytes
    size: int
    leaf: bytes
    commit_seq: int
    recorded_at: str
    frontier: merkle.MerkleFrontier
    roots: dict[int, bytes] = field(default_factory=dict)
    registry_events: list[RegistryEvent] = field(default_factory=list)
    sites: dict[str, str] = field(default_factory=dict)
    sponsor_key_id: str | None = None
    proved_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "ledger_id": self.ledger_id,
            "genesis_leaf": self.genesis_leaf.hex(),
            "size": self.size,
            "leaf": self.leaf.hex(),
            "commit_seq": self.commit_seq,
            "recorded_at": self.recorded_at,
            "frontier": self.frontier.to_json(),
            "roots": {str(k): base64.b64encode(v).decode() for k, v in sorted(self.roots.items())},
            "registry_events": [list(e) for e in self.registry_events],
            "sites": dict(sorted(self.sites.items())),
            "sponsor_key_id": self.sponsor_key_id,
            "proved_at": self.proved_at,
        }

    @classmethod
    def from_json(cls, data: Any, where: Path) -> VerifierState:
        try:
            if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
                raise ValueError(f"its format is not {STATE_FORMAT}")
            state = cls(
                ledger_id=str(data["ledger_id"]),
                genesis_leaf=bytes.fromhex(data["genesis_leaf"]),
                size=int(data["size"]),
                leaf=bytes.fromhex(data["leaf"]),
                commit_seq=int(data["commit_seq"]),
                recorded_at=str(data["recorded_at"]),
                frontier=merkle.MerkleFrontier.from_json(data["frontier"]),
                roots={int(k): base64.b64decode(v) for k, v in data["roots"].items()},
                registry_events=[
                    (int(p), str(t), str(o), int(v), str(s))
                    for p, t, o, v, s in data["registry_events"]
                ],
                sites={str(k): str(v) for k, v in data["sites"].items()},
                sponsor_key_id=data.get("sponsor_key_id"),
                proved_at=str(data.get("proved_at", "")),
            )
        except KeyError as e:
            raise UsageError(
                f"--state {where}: the verifier state lacks member {e.args[0]!s}; move it away "
                "to start again with a full pass"
            ) from None
        except (AttributeError, TypeError, ValueError, LedgerError) as e:
            raise UsageError(
                f"--state {where}: the verifier state is not one this verifier writes ({e}); "
                "move it away to start again with a full pass"
            ) from None
        if state.frontier.size != state.size or state.size < 1:
            raise UsageError(
                f"--state {where}: frontier size {state.frontier.size} does not match proved "
                f"size {state.size}; move it away to start again with a full pass"
            )
        return state


def load_state(folder: Path) -> VerifierState | None:
    """The state kept in ``folder``, or None when there is none yet."""
    path = folder / STATE_FILE
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--state {folder}: not a folder")
    if not path.is_file():
        return None
    for checked in (folder, path):
        mode = checked.stat().st_mode
        if mode & 0o022:
            raise UsageError(
                f"--state {folder}: {checked} may be written by group or others (mode "
                f"{mode & 0o777:o}); whoever writes the state decides what the verifier skips. "
                "Keep it owner-only (chmod 700 the folder, 600 the file)"
            )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"--state {folder}: cannot read {STATE_FILE} ({e.strerror})") from None
    except UnicodeDecodeError:
        raise UsageError(f"--state {folder}: {STATE_FILE} is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise UsageError(f"--state {folder}: {STATE_FILE} is not JSON") from None
    return VerifierState.from_json(data, folder)


def save_state(folder: Path, state: VerifierState) -> Path:
    """Write the state atomically (0600 file in a 0700 folder); returns its path."""
    try:
        folder.mkdir(mode=0o700, exist_ok=True)  # its parent must exist: no stray folders
        state.proved_at = (
            datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        )
        path = folder / STATE_FILE
        temp = folder / f".{STATE_FILE}.{os.getpid()}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(state.to_json(), f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        temp.replace(path)
    except OSError as e:
        raise UsageError(
            f"--state {folder}: cannot write the verifier state ({e.strerror})"
        ) from None
    return path
