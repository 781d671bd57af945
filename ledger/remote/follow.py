"""Following a served ledger into a local mirror, trusting nothing the server says
(:func:`sync`; :mod:`ledger.remote.live` keeps syncing as checkpoints are signed).

One sync:

1. ``GET /v1/checkpoint``: the server's latest signed checkpoint. It must be signed by the
   ledger key that the genesis names (the mirror's verified TrialCreated, or on a first sync
   the served one, rooted in the pinned sponsor key), be no smaller than the mirror's
   verified tree and, at the mirror's size, sign the mirror's root (:mod:`~ledger.remote.checks`).
2. ``GET /v1/proof/consistency`` from the mirror's checkpoint to the new one: the server's
   tree must extend the mirror's (a fork or a rewrite before the mirror's size fails here).
3. The events after the mirror's size up to the checkpoint's, and their commits, into a
   staging file (``DIR/.staging``). They must come contiguous and in order; the first one
   fetched is the mirror's last (it must be served byte for byte as the mirror holds it),
   and the server must serve every event its checkpoint covers.
4. The ledger's own verifier (``verify_ledger``) over the mirror's rows followed by the staging
   file, resumed from the follower's verifier state, against the new checkpoint, rooted in the
   pinned sponsor key: every leaf, chain link, commit root and signature under the key registry
   as the log itself proves it, and the root of the whole tree (the mirror's leaves and the new
   ones) equal to the checkpoint's.
5. ``GET /v1/proof/inclusion`` of the last new event under the new root.
6. Only then are the rows appended to the mirror in one transaction with the checkpoint, and
   the verifier state replaced (:mod:`~ledger.remote.mirror`).

Any failure is a :class:`~ledger.remote.wire.FollowAlarm` (exit 1): one line naming the
position or size and what differed, and the mirror stays at its last verified state.

``SyncResult.to_json()`` (the CLI's ``--json`` line per sync): ``{"tree_size", "root",
"events", "commits", "checkpoint_size", "server_tree_size", "seconds"}``: the mirror's verified
tree size and root (base64) after the sync, the events and commits it added, the size of the
checkpoint it verified, the server's head as the server claims it (not verified: the events
after its latest checkpoint are not followed yet) and the seconds the sync took.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ledger.errors import UsageError
from ledger.integrity.checkpoint import Checkpoint
from ledger.integrity.signing import key_id
from ledger.remote import checks
from ledger.remote.checks import b64
from ledger.remote.mirror import Held, Mirror, Staging
from ledger.remote.segment import MirrorWithSegment
from ledger.remote.wire import EventTuple, FollowAlarm, LogClient
from ledger.store import LedgerReader
from ledger.verify import verify_ledger

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: stages ``"fetch"`` and ``"verify"``, counting events."""


class NoCheckpoint(UsageError):
    """The server has signed no checkpoint yet: there is nothing verifiable to follow."""


@dataclass(frozen=True)
class SyncResult:
    """One sync's outcome (``to_json``: the documented ``--json`` line)."""

    tree_size: int
    root: bytes
    events: int
    commits: int
    checkpoint_size: int
    server_tree_size: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root": b64(self.root),
            "events": self.events,
            "commits": self.commits,
            "checkpoint_size": self.checkpoint_size,
            "server_tree_size": self.server_tree_size,
            "seconds": round(self.seconds, 3),
        }


def sync(
    client: LogClient,
    mirror: Mirror,
    sponsor_key: bytes | None,
    *,
    progress: Progress | None = None,
) -> SyncResult:
    """Bring ``mirror`` to the server's latest checkpoint, verified (see the module
    docstring). Raises :class:`FollowAlarm` (nothing applied), ``ServerUnavailable``,
    :class:`NoCheckpoint` or a usage error for the mirror or the sponsor key."""
    started = time.monotonic()
    with mirror.locked():
        sponsor = mirror.pinned_sponsor(sponsor_key)
        reader = mirror.reader()
        try:
            held = mirror.held(reader)
            try:
                return _sync(_Run(client, mirror, reader, held, sponsor, progress, started))
            except FollowAlarm as alarm:
                state = (
                    "holds nothing yet"
                    if held.size == 0
                    else (f"stays at tree size {held.size:,}, root {b64(held.root)}")
                )
                raise FollowAlarm(alarm.position, f"ALARM: {alarm}; the mirror {state}") from None
        finally:
            if reader is not None:
                reader.close()


@dataclass(frozen=True)
class _Run:
    """One sync's parts: the server, the mirror as it was read, the trust anchor."""

    client: LogClient
    mirror: Mirror
    reader: LedgerReader | None
    held: Held
    sponsor: bytes
    progress: Progress | None
    started: float

    def result(self, cp_size: int, server_size: int) -> SyncResult:
        """Nothing new: the mirror as it is."""
        held = self.held
        seconds = time.monotonic() - self.started
        return SyncResult(held.size, held.root, 0, 0, cp_size, server_size, seconds)


def _sync(run: _Run) -> SyncResult:
    client, held = run.client, run.held
    info = client.ledger_info()
    if held.ledger_id is not None and info.ledger_id != held.ledger_id:
        raise FollowAlarm(
            1,
            f"the server now serves ledger {info.ledger_id}, the mirror holds "
            f"ledger {held.ledger_id}",
        )
    note = client.latest_checkpoint()
    if note is None:
        if held.size:
            return run.result(held.size, info.tree_size)
        raise NoCheckpoint(
            f"{client.url} has signed no checkpoint yet: there is nothing verifiable to follow "
            "(the server signs one when started with --checkpoint-key)"
        )
    cp = checks.parsed_checkpoint(note, held)
    ledger_id = held.ledger_id or info.ledger_id
    first_page: list[EventTuple] | None = None
    if run.reader is not None:
        genesis_row = run.reader.event_at(1)
        row = None if genesis_row is None else checks.as_tuple(genesis_row)
    else:
        first_page = next(client.event_pages(0), [])
        row = first_page[0] if first_page else None
    checks.check_signed(note, cp, checks.genesis_of(row, run.sponsor, ledger_id))
    if cp.tree_size == held.size:
        return run.result(cp.tree_size, info.tree_size)
    if held.size:
        checks.check_consistent(client, held, cp)
    commits = _apply_segment(run, cp, note, ledger_id, first_page)
    seconds = time.monotonic() - run.started
    events = cp.tree_size - held.size
    return SyncResult(cp.tree_size, cp.root, events, commits, cp.tree_size, info.tree_size, seconds)


def _apply_segment(
    run: _Run, cp: Checkpoint, note: str, ledger_id: str, first_page: list[EventTuple] | None
) -> int:
    """Fetch, verify and apply the segment the checkpoint covers; the commits it added."""
    client, reader, held = run.client, run.reader, run.held
    staging = run.mirror.staging(ledger_id, held)
    try:
        commits = _fetch(client, staging, reader, held, cp, ledger_id, first_page, run.progress)
        frontier = _verify(staging, reader, held, cp, note, run.sponsor, client, run.progress)
    finally:
        staging.close()
    record = {
        "url": client.url,
        "ledger_id": ledger_id,
        "sponsor_key_id": key_id(run.sponsor),
        "sponsor_public_key": b64(run.sponsor),
    }
    if reader is not None:
        reader.close()  # the mirror is written next
    run.mirror.apply(staging, held, note, frontier, record)
    return commits


def _fetch(
    client: LogClient,
    staging: Staging,
    reader: LedgerReader | None,
    held: Held,
    cp: Checkpoint,
    ledger_id: str,
    first_page: list[EventTuple] | None,
    progress: Progress | None,
) -> int:
    """The events after the mirror's size up to the checkpoint's, and their commits, into the
    staging file; the number of commits."""
    end, after = cp.tree_size, max(held.size - 1, 0)
    expected = after + 1
    pages = client.event_pages(after) if first_page is None else _chained(first_page, client)
    for page in pages:
        rows = []
        for row in page:
            if row[0] > end:
                break
            if row[0] != expected:
                raise FollowAlarm(
                    expected,
                    f"the server served position {row[0]} where "
                    f"position {expected} was due: an event was dropped, "
                    "repeated or reordered",
                )
            if row[0] == held.size:
                _check_held(reader, row)
            else:
                rows.append(row)
            expected += 1
        staging.add_events(rows)
        if progress is not None:
            progress("fetch", expected - 1 - held.size, end - held.size)
        if expected > end:
            break
    if expected <= end:
        raise FollowAlarm(
            expected,
            f"the server's checkpoint covers {end:,} events but it "
            f"serves only {expected - 1:,}: positions {expected:,}-{end:,} are "
            "missing",
        )
    return _fetch_commits(client, staging, held, end, ledger_id)


def _chained(first: list[EventTuple], client: LogClient) -> Any:
    yield first
    if first:
        pages = client.event_pages(first[-1][0])
        yield from pages


def _check_held(reader: LedgerReader | None, row: EventTuple) -> None:
    """The event at the mirror's size, served again: it must be the one the mirror holds."""
    held = reader.event_at(row[0]) if reader is not None else None
    if held is None:
        return
    mine = checks.as_tuple(held)
    if mine != row:
        raise FollowAlarm(
            row[0],
            f"the server now serves a different event at position {row[0]:,} than the one the "
            f"mirror verified ({checks.differing_columns(row, mine)} differ): history was "
            "rewritten",
        )


def _fetch_commits(
    client: LogClient, staging: Staging, held: Held, end: int, ledger_id: str
) -> int:
    expected, done = held.commit_seq + 1, False
    for page in client.commit_pages(held.commit_seq, ledger_id):
        keep = []
        for commit in page:
            h = commit.header
            if h.first_position > end:
                done = True
                break
            if h.seq != expected:
                raise FollowAlarm(
                    h.first_position,
                    f"the server served commit {h.seq} where commit {expected} was due",
                )
            keep.append(commit)
            expected += 1
            if h.last_position >= end:
                done = True
                break
        staging.add_commits(keep)
        if done:
            break
    return expected - held.commit_seq - 1


def _verify(
    staging: Staging,
    reader: LedgerReader | None,
    held: Held,
    cp: Checkpoint,
    note: str,
    sponsor: bytes,
    client: LogClient,
    progress: Progress | None,
) -> str:
    """The ledger's verifier over the mirror and the segment; the Merkle frontier (JSON)."""
    fetched = staging.finish()
    try:
        source = MirrorWithSegment(reader, fetched, held.size)
        total = cp.tree_size - held.size

        def step(done: int) -> None:
            if progress is not None:
                progress("verify", min(done, total), total)

        report = verify_ledger(
            source,
            against=note,
            sponsor_public=sponsor,
            state_dir=staging.state_dir,
            progress=step,
        )
        failure = report.first_failure
        if failure is not None:
            raise FollowAlarm(
                failure.position, f"at position {failure.position:,}: {failure.reason}"
            )
        if report.frontier is None or (report.tree_size, report.root) != (cp.tree_size, cp.root):
            raise FollowAlarm(
                cp.tree_size,
                f"the verified tree (size {report.tree_size:,}, root "
                f"{b64(report.root)}) is not the checkpoint's",
            )
        last = fetched.event_at(cp.tree_size)
        assert last is not None  # the pass just proved it
        checks.check_included(client, cp.tree_size, last.leaf_hash, cp)
        return checks.frontier_json(report.frontier)
    finally:
        fetched.close()
