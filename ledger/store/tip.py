"""The tip a writer extends, re-proved inside the insert transaction.

The head query (:meth:`~ledger.store.recorder.LedgerSQLiteRecorder._insert_events`) brings
the last event, its commit, the newest commit's number and the stored leaf before that
commit, as one row (``head``). From it: the commit must be stored, be the newest, be well
formed and end at the head (:func:`tip_commit`); its events are read (:func:`tip_rows`) and,
unless the recorder wrote them itself, its signer's registered key is found
(:func:`tip_signer_key`) for :func:`ledger.chain.reprove_commit`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger.chain import CommitRecord, EventRow
from ledger.errors import LedgerError, VerificationError
from ledger.registry import KeyRegistry
from ledger.store.rows import Cursor, commit_from_row, event_row


class BrokenTipError(VerificationError):
    """The commit a writer would extend fails its re-proof: nothing is appended on top of it."""


def tip_commit(head: tuple[Any, ...], ledger_id: str) -> CommitRecord:
    """The commit holding the last event, refused unless it is stored, the newest, well
    formed and ends at the last event."""
    position, seq, newest = head[0], head[2], head[12]
    if head[3] is None:
        raise BrokenTipError(
            f"the last event (position {position}) claims commit {seq}, which is not "
            "stored; refusing to append on top of it (run `trial-ledger verify`)"
        )
    if newest != seq:
        raise BrokenTipError(
            f"the last event (position {position}) lies in commit {seq}, but commit "
            f"{newest} is the newest stored: signed events after it were removed; refusing "
            "to append (run `trial-ledger verify`)"
        )
    try:
        commit = commit_from_row(head[3:12], ledger_id)
    except (TypeError, ValueError) as e:
        raise BrokenTipError(
            f"commit {seq} at the head is malformed ({e}); refusing to append on top of it"
        ) from None
    first, last = commit.header.first_position, commit.header.last_position
    if last != position or not 1 <= first <= last:
        raise BrokenTipError(
            f"commit {seq} at the head covers positions {first}-{last} but the last event "
            f"is at {position}; refusing to append on top of it (run `trial-ledger verify`)"
        )
    return commit


def tip_rows(c: Cursor, table: str, head: tuple[Any, ...], commit: CommitRecord) -> list[EventRow]:
    """The stored events of the tip commit (a one-event commit's row came with the head)."""
    first, last = commit.header.first_position, commit.header.last_position
    if first == last:  # a one-event commit: the head query brought its row already
        return [event_row((head[0], *head[14:18], head[1], head[2]))]
    c.execute(
        f"SELECT position, originator_id, originator_version, topic, state, leaf_hash,"
        f" commit_seq FROM {table} WHERE position >= ? AND"
        " position <= ? ORDER BY position",
        (first, last),
    )
    return [event_row(tuple(r)) for r in c.fetchall()]


def tip_signer_key(registry: KeyRegistry, commit: CommitRecord) -> bytes:
    """The registered public key that may sign the tip commit where it stands."""
    h = commit.header
    try:
        on = datetime.fromisoformat(h.recorded_at[:10]).date()
        # The genesis commit is signed by the sponsor key its own TrialCreated names.
        genesis = registry.keys.get(h.signer) if h.first_position == 1 else None
        if genesis is not None and genesis.registered_at == 1:
            public = genesis.public_raw
        else:
            public = registry.signer(h.signer, h.first_position, on).public_raw
    except (LedgerError, ValueError) as e:
        raise BrokenTipError(
            f"commit {h.seq} at the head is signed by {h.signer}, which may not "
            f"sign there ({e}); refusing to append on top of it"
        ) from None
    return public
