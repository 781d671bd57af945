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

Where things are: :mod:`~ledger.bundle.export` writes a bundle, :mod:`~ledger.bundle.source`
reads one (:class:`BundleSource`), :mod:`~ledger.bundle.json_reading` reads its files within
the bounds above, :mod:`~ledger.bundle.members` checks each document's members and
:mod:`~ledger.bundle.layout` names the files and the limits.
"""

from __future__ import annotations

from ledger.bundle.export import export_bundle
from ledger.bundle.layout import (
    BUNDLE_FORMAT,
    CHECKPOINTS,
    COMMITS,
    EVENTS,
    FILES,
    MANIFEST,
    MAX_CHECKPOINTS_BYTES,
    MAX_DEPTH,
    MAX_DIGITS,
    MAX_LINE_BYTES,
    MAX_MANIFEST_BYTES,
    SIGNATURE_BYTES,
)
from ledger.bundle.members import (
    CHECKPOINT_MEMBERS,
    COMMIT_MEMBERS,
    EVENT_MEMBERS,
    MANIFEST_MEMBERS,
)
from ledger.bundle.source import BundleSource

__all__ = [
    "BUNDLE_FORMAT",
    "CHECKPOINTS",
    "CHECKPOINT_MEMBERS",
    "COMMITS",
    "COMMIT_MEMBERS",
    "EVENTS",
    "EVENT_MEMBERS",
    "FILES",
    "MANIFEST",
    "MANIFEST_MEMBERS",
    "MAX_CHECKPOINTS_BYTES",
    "MAX_DEPTH",
    "MAX_DIGITS",
    "MAX_LINE_BYTES",
    "MAX_MANIFEST_BYTES",
    "SIGNATURE_BYTES",
    "BundleSource",
    "export_bundle",
]
