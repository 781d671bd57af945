"""One commit re-proved from its stored rows, without a pass over the log: its leaves from
the stored columns, its root, and its signature under the key registry folded so far."""

from __future__ import annotations

import base64
from datetime import date

from ledger.chain import ZERO_HASH, reprove_commit
from ledger.errors import LedgerError
from ledger.events import TrialCreated, decode_event
from ledger.registry import KeyRegistry
from ledger.verify.report import Stop
from ledger.verify.source import LedgerSource


def prove_commit_of(
    source: LedgerSource, position: int, registry: KeyRegistry, proved: set[int]
) -> None:
    """Re-prove the commit holding ``position`` from its stored rows (leaves, root, signature
    under the registry folded so far); ``proved`` caches commits already re-proved."""
    commit = source.commit_at(position)
    if (
        commit is None
        or not commit.header.first_position <= position <= commit.header.last_position
    ):
        raise Stop(position, f"no signed commit covers position {position}")
    h = commit.header
    if h.seq in proved:
        return
    rows = list(source.iter_events(h.first_position, h.last_position))
    before = source.event_at(h.first_position - 1) if h.first_position > 1 else None
    prev = before.leaf_hash if before is not None else ZERO_HASH
    if h.first_position == 1:
        try:
            genesis = decode_event(rows[0].topic, rows[0].state, rows[0].originator_id, 1)
        except (LedgerError, ValueError, IndexError) as e:
            raise Stop(1, f"position 1 does not decode as TrialCreated: {e}") from None
        if not isinstance(genesis, TrialCreated) or genesis.sponsor.key_id != h.signer:
            raise Stop(1, "position 1 is not a TrialCreated event signed by its sponsor key")
        public = base64.b64decode(genesis.sponsor.public_key)
    else:
        try:
            on = date.fromisoformat(h.recorded_at[:10])
            public = registry.signer(h.signer, h.first_position, on).public_raw
        except (LedgerError, ValueError) as e:
            raise Stop(position, f"commit {h.seq}: {e}") from None
    reason = reprove_commit(commit, rows, prev, public)
    if reason is not None:
        raise Stop(position, reason)
    proved.add(h.seq)
