"""What a bundle holds: its format name, its files and the bounds on reading them."""

from __future__ import annotations

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
