"""``verify_from``: the segment after a position a consumer (a projection) tracked, in time
proportional to the segment, building only on what is re-proved."""

from __future__ import annotations

import json

from ledger.chain import ZERO_HASH, EventRow
from ledger.events import SCREENING_TOPIC
from ledger.verify.commit_proof import prove_commit_of
from ledger.verify.log_pass import LogPass
from ledger.verify.registry_proof import prove_registry_before
from ledger.verify.report import MALFORMED, Failure, Stop, VerifyReport
from ledger.verify.source import LedgerSource


def _segment_start(source: LedgerSource, position: int) -> tuple[int, bytes, str, int]:
    """Where a segment pass after ``position`` begins: the first position of the commit after
    the one holding ``position`` (a consumer's tracked position is a commit's last one, or
    it begins the commit it is in), the leaf before it, and that commit's time and seq."""
    commit = source.commit_at(position + 1)
    if commit is None:
        raise Stop(position + 1, f"no signed commit covers position {position + 1}")
    start = min(commit.header.first_position, position + 1)
    before = source.event_at(start - 1) if start > 1 else None
    previous = source.commit_at(start - 1) if start > 1 else None
    return (
        start,
        before.leaf_hash if before is not None else ZERO_HASH,
        previous.header.recorded_at if previous else "",
        previous.header.seq if previous else 0,
    )


def verify_from(source: LedgerSource, position: int, leaf_hash: bytes | None) -> VerifyReport:
    """Verify the segment after ``position``, given the leaf hash a consumer saw there.

    For projections: they keep (position, leaf hash) beside their view. This proves that the
    ledger still holds that leaf at that position (else it was rewritten under them) and that
    every event after it is intact, chained, signed and authorised, in time proportional to
    the segment. What the segment builds on is re-proved, not read on trust: the commit that
    links it to the tracked leaf, every key-registry event before it and the screening event
    of each subject it touches, each with its whole commit (leaves, root, signature).
    The Merkle tree is not recomputed (``tree_size``/``root`` stay empty).
    """
    passing = LogPass(source=source, sponsor_public=None, progress=None, track_tree=False)
    start = position + 1
    proved: set[int] = set()

    def site_lookup(row: EventRow) -> str | None:
        first = source.first_event_of(row.originator_id)
        if first is None or first.topic != SCREENING_TOPIC or first.position >= start:
            return None
        prove_commit_of(source, first.position, passing.registry, proved)
        return str(json.loads(first.state)["site"])

    passing.site_lookup = site_lookup
    with source.snapshot():
        try:
            if position > 0:
                seen = source.event_at(position)
                if seen is None or seen.leaf_hash != leaf_hash:
                    raise Stop(
                        position,
                        f"the ledger no longer holds the event this consumer read at position "
                        f"{position}: history was rewritten or truncated",
                    )
            if source.event_at(start) is not None:
                start, prev, last_recorded, last_seq = _segment_start(source, position)
                prove_registry_before(passing, start, proved)
                if start > 1:
                    prove_commit_of(source, start - 1, passing.registry, proved)
                passing.run(start, prev, last_recorded, last_seq, 0)
            failure = None
        except Stop as stop:
            failure = stop.failure
        except MALFORMED as e:
            at = start + passing.events_checked
            failure = Failure(at, f"stored data at or after position {at} is malformed ({e})")
    return VerifyReport(
        ok=failure is None,
        events=passing.events_checked,
        commits=passing.commits_checked,
        tree_size=0,
        root=b"",
        checkpoints_checked=0,
        mode="segment",
        started_at_position=start,
        first_failure=failure,
    )
