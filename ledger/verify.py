"""Whole-ledger and incremental verification: every hash, link, signature, key and checkpoint.

One streaming pass in position order, memory independent of ledger size (the Merkle frontier is
O(log n), a commit's leaves are held only until its root is checked, and the registry and the
subject-to-site map grow with people and subjects, not events). For each event it checks:

1. the position is the next one (no gap, no duplicate, no reordering);
2. the leaf recomputed from the stored columns and the previous leaf (``ledger.chain``) equals
   the stored leaf hash (content altered, or the chain link broken);
3. the event lies in the signed commit that claims it, and the commit's signer was a registered,
   unrevoked, unexpired key whose role and site allowed this event type at this position;

and for each commit: contiguous sequence numbers, the ``prev_leaf`` link, recorded times that
never run backwards, the RFC 9162 root of its leaves, and the Ed25519 signature over its header.
Every signed checkpoint (stored in the ledger, or passed with ``--against``) must be met with
the same root at its size; one beyond the end of the ledger means the tail was truncated.

Incremental mode (``against`` a checkpoint of size m whose Merkle frontier the ledger kept)
starts from that frontier: it proves positions m+1..n extend the signed root at m, in time
proportional to n - m. It trusts positions 1..m as the checkpoint's signature vouches for them;
a full pass re-proves them. The first failure stops the pass and is reported by position.
"""

from __future__ import annotations

import base64
import hashlib
import json
import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol, cast

from ledger.chain import ZERO_HASH, CommitRecord, EventRow
from ledger.errors import LedgerError, VerificationError
from ledger.events import (
    MEANINGS,
    REGISTRY_TOPICS,
    SCREENING_TOPIC,
    TrialCreated,
    event_name,
    trial_stream_id,
)
from ledger.integrity import merkle
from ledger.integrity.checkpoint import Checkpoint, parse_checkpoint, verify_checkpoint
from ledger.integrity.signing import key_id, verify_signature
from ledger.registry import KeyRegistry, RegisteredKey
from ledger.store import decode_event

TRIAL_ID = "NCT00635154"
_json_str = json.JSONEncoder(ensure_ascii=False).encode


class LedgerSource(Protocol):
    """What verification reads: a database (``LedgerReader``) or an exported bundle."""

    def iter_events(self, start: int = 1, stop: int | None = None) -> Iterator[EventRow]: ...
    def iter_event_tuples(self, start: int = 1) -> Iterator[tuple[Any, ...]]: ...
    def iter_event_batches(self, start: int = 1) -> Iterator[list[tuple[Any, ...]]]: ...
    def iter_commits(self, start_seq: int = 1) -> Iterator[CommitRecord]: ...
    def commit_at(self, position: int) -> CommitRecord | None: ...
    def checkpoints(self) -> list[tuple[int, str, str]]: ...
    def first_event_of(self, originator_id: str) -> EventRow | None: ...
    def stream_rows(self, originator_id: str) -> list[EventRow]: ...
    def event_at(self, position: int) -> EventRow | None: ...
    def meta(self, name: str) -> str | None: ...


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
        }


class _Stop(Exception):
    def __init__(self, position: int, reason: str) -> None:
        super().__init__(reason)
        self.failure = Failure(position, reason)


def checkpoint_origin(ledger_id: str) -> str:
    """The C2SP origin line (and key name) of this ledger's checkpoints."""
    return f"trial-ledger/{TRIAL_ID}/{ledger_id}"


@dataclass
class _Pass:
    source: LedgerSource
    sponsor_public: bytes | None
    progress: Callable[[int], None] | None
    registry: KeyRegistry = field(default_factory=KeyRegistry)
    sites: dict[str, str] = field(default_factory=dict)
    frontier: merkle.MerkleFrontier = field(default_factory=merkle.MerkleFrontier)
    checkpoints: list[tuple[int, str]] = field(default_factory=list)
    checkpoints_checked: int = 0
    track_tree: bool = True
    signature_pool: ProcessPoolExecutor | None = None
    pending_signatures: list[SignatureCheck] = field(default_factory=list)
    signature_futures: list[Future[tuple[int, str] | None]] = field(default_factory=list)
    commits_checked: int = 0
    events_checked: int = 0

    def check_checkpoints_at(self, size: int) -> None:
        while self.checkpoints and self.checkpoints[0][0] == size:
            _, note = self.checkpoints.pop(0)
            self.check_note(note, size, self.frontier.root())

    def check_note(self, note: str, size: int, root: bytes) -> Checkpoint:
        trial = self.registry.trial
        if trial is None:
            raise _Stop(
                1, "no TrialCreated event: the ledger key that signs checkpoints is unknown"
            )
        origin = checkpoint_origin(str(trial.ledger_id))
        try:
            cp = verify_checkpoint(note, origin, self.registry.ledger_public_raw)
        except LedgerError as e:
            raise _Stop(max(size, 1), f"checkpoint at tree size {size}: {e}") from None
        if cp.tree_size != size:
            raise _Stop(size, f"checkpoint claims tree size {cp.tree_size}, checked at {size}")
        if cp.root != root:
            raise _Stop(
                size,
                f"checkpoint at tree size {size} signs root {base64.b64encode(cp.root).decode()} "
                f"but the ledger's first {size} events hash to {base64.b64encode(root).decode()}: "
                "history before this point was rewritten",
            )
        self.checkpoints_checked += 1
        return cp

    def site_of(self, row: EventRow) -> str:
        site = self.sites.get(row.originator_id)
        if site is None:
            first = self.source.first_event_of(row.originator_id)
            if first is None or first.topic != SCREENING_TOPIC or first.position > row.position:
                raise _Stop(
                    row.position,
                    f"{event_name(row.topic)} belongs to stream {row.originator_id}, which has no "
                    "SubjectScreened event before it",
                )
            site = str(json.loads(first.state)["site"])
            self.sites[row.originator_id] = site
        return site

    def run(self, start: int, prev: bytes, last_recorded: str, stop_at_size: int) -> None:
        """Check events ``start..`` with ``prev`` the leaf before ``start``."""
        commits = self.source.iter_commits(1)
        commit: CommitRecord | None = None
        expected_seq = 0
        if start > 1:
            at = self.source.commit_at(start)
            if at is None:
                raise _Stop(start, f"no signed commit covers position {start}")
            commits = self.source.iter_commits(at.header.seq)
            expected_seq = at.header.seq - 1
        signer: RegisteredKey | None = None
        leaves: list[bytes] = []
        expected = start
        # Hot loop: locals only, per-commit caches, one envelope template (see ledger.chain).
        sha256 = hashlib.sha256
        frontier_from = self.frontier.size if self.track_tree else 2**62
        stack, fsize = self.frontier.stack_for_extension()
        quoted: dict[str, str] = {}
        authorised: set[tuple[str, str]] = set()
        slow_topics = REGISTRY_TOPICS | {SCREENING_TOPIC}
        prefix = ""
        last_position = 0
        seq = -1
        quoted_get = quoted.get
        for batch in self.source.iter_event_batches(start):
            for row in batch:
                p, oid, version, topic, state, stored_leaf, cseq = row
                if p != expected:
                    self.misplaced(expected, p, cseq)
                if p > last_position:
                    if leaves:
                        raise _Stop(p, "internal: commit left open")  # pragma: no cover
                    commit = next(commits, None)
                    expected_seq += 1
                    if commit is None or commit.header.first_position != p:
                        raise _Stop(p, f"event at position {p} is not covered by any signed commit")
                    signer = self.open_commit(commit, expected_seq, prev, last_recorded, p)
                    last_recorded = commit.header.recorded_at
                    last_position = commit.header.last_position
                    seq = commit.header.seq
                    prefix = f'\x00{{"commit":{seq},"originator_id":'
                    authorised.clear()
                if cseq != seq:
                    raise _Stop(p, f"event claims commit {cseq} but lies in commit {expected_seq}")
                try:
                    q_oid = quoted_get(oid) or quoted.setdefault(oid, _json_str(oid))
                    q_topic = quoted_get(topic) or quoted.setdefault(topic, _json_str(topic))
                    # 0x00 || envelope: the RFC 9162 leaf prefix leads the template.
                    leaf = sha256(
                        f'{prefix}{q_oid},"originator_version":{version},"position":{p},'
                        f'"prev":"{prev.hex()}","state_sha256":"{sha256(state).hexdigest()}",'
                        f'"topic":{q_topic}}}'.encode()
                    ).digest()
                except (TypeError, ValueError) as e:  # UnicodeError is a ValueError
                    raise _Stop(p, f"stored columns are malformed ({e})") from None
                if leaf != stored_leaf:
                    raise _Stop(
                        p,
                        "stored event does not match its leaf hash: a stored column "
                        "(originator, version, topic, state, commit, leaf) was altered, or the "
                        f"link to position {p - 1} is broken",
                    )
                if topic in slow_topics or (topic, oid) not in authorised:
                    signer = self.authorise(EventRow(*row), cast(CommitRecord, commit), signer)
                    if topic not in slow_topics:
                        authorised.add((topic, oid))
                leaves.append(leaf)
                if p > frontier_from:  # RFC 9162 compact range, inlined: one hash per carry
                    node, carry = leaf, fsize
                    while carry & 1:
                        node = sha256(b"\x01" + stack.pop() + node).digest()
                        carry >>= 1
                    stack.append(node)
                    fsize += 1
                prev = leaf
                expected += 1
                if p == last_position:
                    self.frontier.finish_extension(stack, fsize)
                    self.close_commit(cast(CommitRecord, commit), leaves, signer)
                    self.events_checked = p - start + 1
                    leaves = []
                    commit = None
                    self.check_checkpoints_at(p)
                    if self.progress is not None:
                        self.progress(self.events_checked)
        self.events_checked = expected - start
        end = expected - 1
        if commit is not None:
            raise _Stop(
                expected,
                f"commit {commit.header.seq} covers positions {commit.header.first_position}-"
                f"{commit.header.last_position} but the ledger ends at {end}: events were removed",
            )
        extra = next(commits, None)
        if extra is not None:
            raise _Stop(
                extra.header.first_position,
                f"commit {extra.header.seq} covers positions {extra.header.first_position}-"
                f"{extra.header.last_position} but those events are missing",
            )
        if self.checkpoints:
            size, _ = self.checkpoints[0]
            raise _Stop(
                end + 1,
                f"a signed checkpoint covers {size} events but the ledger holds {end}: the tail "
                "was truncated",
            )
        if stop_at_size > end:
            raise _Stop(
                end + 1,
                f"the checkpoint checked against covers {stop_at_size} events but the ledger holds "
                f"{end}: the tail was truncated",
            )

    @staticmethod
    def misplaced(expected: int, p: object, cseq: object) -> None:
        if type(p) is not int or type(cseq) is not int:
            raise _Stop(expected, "a stored position or commit number is not an integer")
        if p > expected:
            raise _Stop(expected, f"position {expected} is missing (next stored is {p})")
        raise _Stop(p, f"position {p} is stored twice or out of order")

    def open_commit(
        self, commit: CommitRecord, expected_seq: int, prev: bytes, last_recorded: str, p: int
    ) -> RegisteredKey | None:
        h = commit.header
        if h.seq != expected_seq:
            raise _Stop(p, f"commit sequence jumps from {expected_seq - 1} to {h.seq}")
        if h.prev_leaf != prev:
            raise _Stop(p, f"commit {h.seq} does not link to the leaf at position {p - 1}")
        if h.recorded_at < last_recorded:
            raise _Stop(
                p,
                f"commit {h.seq} recorded at {h.recorded_at}, before its predecessor "
                f"({last_recorded}): recorded times run backwards",
            )
        if h.meaning not in MEANINGS:
            raise _Stop(p, f"commit {h.seq} has unknown signature meaning {h.meaning!r}")
        if p == 1:
            return None  # the genesis signer is named by TrialCreated itself
        return self.registered_signer(commit, p)

    def registered_signer(self, commit: CommitRecord, p: int) -> RegisteredKey:
        try:
            on = date.fromisoformat(commit.header.recorded_at[:10])
            return self.registry.signer(commit.header.signer, p, on)
        except LedgerError as e:
            raise _Stop(p, f"commit {commit.header.seq}: {e}") from None

    def authorise(
        self, row: EventRow, commit: CommitRecord, signer: RegisteredKey | None
    ) -> RegisteredKey | None:
        p = row.position
        if row.topic in REGISTRY_TOPICS or row.topic == SCREENING_TOPIC:
            try:
                event = decode_event(
                    row.topic, row.state, row.originator_id, row.originator_version
                )
            except (LedgerError, ValueError) as e:
                raise _Stop(p, f"payload of {event_name(row.topic)} does not decode: {e}") from None
            if p == 1:
                signer = self.genesis(event, commit)
            elif isinstance(event, TrialCreated):
                raise _Stop(p, "a second TrialCreated event: the trial is created once, at 1")
            if row.topic == SCREENING_TOPIC:
                self.sites[row.originator_id] = str(getattr(event, "site", ""))
        elif p == 1:
            raise _Stop(1, f"position 1 must be TrialCreated, found {event_name(row.topic)}")
        if signer is None:  # pragma: no cover - genesis always sets it
            raise _Stop(p, "no signer resolved for this commit")
        site = None if row.topic in REGISTRY_TOPICS else self.site_of(row)
        try:
            self.registry.check_may_record(
                signer, row.topic, site, event if row.topic in REGISTRY_TOPICS else None
            )
        except LedgerError as e:
            raise _Stop(p, f"commit {commit.header.seq}: {e}") from None
        if row.topic in REGISTRY_TOPICS:
            self.registry.apply(event, p)
            if row.originator_id != trial_stream_id(TRIAL_ID).hex:
                raise _Stop(p, "key registry event outside the trial stream")
        return signer

    def genesis(self, event: Any, commit: CommitRecord) -> RegisteredKey:
        if not isinstance(event, TrialCreated):
            raise _Stop(1, f"position 1 must be TrialCreated, found {type(event).__name__}")
        sponsor = event.sponsor
        if sponsor.role != "sponsor":
            raise _Stop(1, f"TrialCreated names a {sponsor.role} key as sponsor")
        if key_id(base64.b64decode(sponsor.public_key)) != sponsor.key_id:
            raise _Stop(1, "TrialCreated's sponsor key id does not match its public key")
        if self.sponsor_public is not None and base64.b64decode(sponsor.public_key) != (
            self.sponsor_public
        ):
            raise _Stop(
                1,
                f"the ledger is rooted in sponsor key {sponsor.key_id}, not in the published "
                f"sponsor key {key_id(self.sponsor_public)}",
            )
        if commit.header.signer != sponsor.key_id:
            raise _Stop(1, f"TrialCreated is signed by {commit.header.signer}, not by the sponsor")
        self.registry.apply(event, 1)
        return self.registry.keys[sponsor.key_id]

    def close_commit(
        self, commit: CommitRecord, leaves: list[bytes], signer: RegisteredKey | None
    ) -> None:
        h = commit.header
        if signer is None:  # pragma: no cover
            raise _Stop(h.first_position, f"commit {h.seq} has no resolved signer")
        if merkle.root(leaves) != h.events_root:
            raise _Stop(
                h.first_position,
                f"commit {h.seq} (positions {h.first_position}-{h.last_position}): the Merkle root "
                "of its events differs from the root its signature covers",
            )
        reason = (
            f"commit {h.seq} (positions {h.first_position}-{h.last_position}): signature by "
            f"{signer.describe()} does not verify over its header"
        )
        check = (signer.public_raw, h.to_bytes(), commit.signature, h.first_position, reason)
        self.commits_checked += 1
        if self.signature_pool is None:
            failure = _check_signatures([check])
            if failure is not None:
                raise _Stop(*failure)
            return
        self.pending_signatures.append(check)
        if len(self.pending_signatures) >= SIGNATURE_BATCH:
            self.submit_signatures()

    def submit_signatures(self) -> None:
        if self.signature_pool is not None and self.pending_signatures:
            batch, self.pending_signatures = self.pending_signatures, []
            self.signature_futures.append(self.signature_pool.submit(_check_signatures, batch))

    def drain_signatures(self) -> Failure | None:
        """The first commit (by position) whose signature failed in the worker, if any."""
        self.submit_signatures()
        failures = [f.result() for f in self.signature_futures]
        self.signature_futures = []
        found = [Failure(*f) for f in failures if f is not None]
        return min(found, key=lambda f: f.position) if found else None


SIGNATURE_BATCH = 256
PARALLEL_SIGNATURES_FROM = 100_000
"""Ledgers with at least this many events to check verify commit signatures in a worker
process on the second core (Ed25519 checks hold the GIL, so a thread would not help)."""

SignatureCheck = tuple[bytes, bytes, bytes, int, str]


def _check_signatures(batch: list[SignatureCheck]) -> tuple[int, str] | None:
    """Verify commit signatures in order; the first failure as (position, reason)."""
    for public_raw, header, signature, position, reason in batch:
        try:
            verify_signature(public_raw, header, signature)
        except LedgerError:
            return position, reason
    return None


def verify_ledger(
    source: LedgerSource,
    *,
    against: str | None = None,
    sponsor_public: bytes | None = None,
    full: bool = False,
    progress: Callable[[int], None] | None = None,
    parallel_signatures: bool | None = None,
) -> VerifyReport:
    """Verify ``source``; with ``against`` (a signed checkpoint note) prove it extends it.

    Incremental when ``against`` is given, ``full`` is false and the ledger kept the frontier
    at that checkpoint's size; otherwise a full pass from position 1. ``parallel_signatures``:
    check commit signatures in a worker process (default: for large ledgers); the first
    failure reported is still the one at the lowest position.
    """
    stored = source.checkpoints()
    passing = _Pass(source=source, sponsor_public=sponsor_public, progress=progress)
    against_size = 0
    start, prev, last_recorded, mode = 1, ZERO_HASH, "", "full"
    try:
        if against is not None:
            try:
                cp, _ = parse_checkpoint(against)
            except LedgerError as e:
                raise _Stop(0, f"the checkpoint given with --against is malformed: {e}") from None
            against_size = cp.tree_size
            frontier_json = {size: fr for size, _, fr in stored}.get(against_size)
            if not full and frontier_json is not None and against_size > 0:
                start, prev, last_recorded = _resume(passing, against, against_size, frontier_json)
                mode = "incremental"
            else:
                passing.checkpoints.append((against_size, against))
        passing.checkpoints.extend(
            (size, note) for size, note, _ in stored if size >= start and size > against_size
        )
        passing.checkpoints.sort(key=lambda item: item[0])
        with _signature_pool(source, start, parallel_signatures) as pool:
            passing.signature_pool = pool
            try:
                passing.run(start, prev, last_recorded, against_size)
                failure = None
            except _Stop as stop:
                failure = stop.failure
            finally:
                late = passing.drain_signatures()
            if late is not None and (failure is None or late.position < failure.position):
                failure = late
    except _Stop as stop:
        failure = stop.failure
    except VerificationError as e:  # pragma: no cover - every check raises _Stop
        failure = Failure(0, str(e))
    return VerifyReport(
        ok=failure is None,
        events=passing.events_checked,
        commits=passing.commits_checked,
        tree_size=passing.frontier.size,
        root=passing.frontier.root(),
        checkpoints_checked=passing.checkpoints_checked,
        mode=mode,
        started_at_position=start,
        first_failure=failure,
    )


@contextmanager
def _signature_pool(
    source: LedgerSource, start: int, wanted: bool | None
) -> Iterator[ProcessPoolExecutor | None]:
    size = getattr(source, "size", None)
    if wanted is None:
        wanted = callable(size) and int(size()) - start >= PARALLEL_SIGNATURES_FROM
    if not wanted:
        yield None
        return
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        yield pool


def _bootstrap(passing: _Pass, start: int) -> tuple[bytes, str]:
    """Registry as of ``start`` (trial-stream events before it), the leaf before ``start`` and
    the recorded time of the commit before it: what a pass starting at ``start`` needs."""
    source = passing.source
    for row in source.stream_rows(trial_stream_id(TRIAL_ID).hex):
        if row.position >= start:
            break
        event = decode_event(row.topic, row.state, row.originator_id, row.originator_version)
        passing.registry.apply(event, row.position)
    before = source.event_at(start - 1) if start > 1 else None
    prev = before.leaf_hash if before is not None else ZERO_HASH
    previous_commit = source.commit_at(start - 1) if start > 1 else None
    return prev, previous_commit.header.recorded_at if previous_commit else ""


def _commit_start(source: LedgerSource, position: int) -> int:
    """First position of the commit holding ``position`` (a pass starts on a commit)."""
    commit = source.commit_at(position)
    if commit is None:
        raise _Stop(position, f"no signed commit covers position {position}")
    return min(commit.header.first_position, position)


def _resume(passing: _Pass, note: str, size: int, frontier_json: str) -> tuple[int, bytes, str]:
    """Set up an incremental pass from the kept frontier at ``size``."""
    try:
        passing.frontier = merkle.MerkleFrontier.from_json(json.loads(frontier_json))
    except (LedgerError, ValueError, KeyError, TypeError) as e:
        raise _Stop(
            size, f"the ledger's kept Merkle frontier at {size} is unreadable: {e}"
        ) from None
    if passing.frontier.size != size:
        raise _Stop(size, f"kept frontier has size {passing.frontier.size}, expected {size}")
    start = (
        _commit_start(passing.source, size + 1) if passing.source.event_at(size + 1) else size + 1
    )
    prev, last_recorded = _bootstrap(passing, start)
    passing.check_note(note, size, passing.frontier.root())
    return start, prev, last_recorded


def verify_from(source: LedgerSource, position: int, leaf_hash: bytes | None) -> VerifyReport:
    """Verify the segment after ``position``, given the leaf hash a consumer saw there.

    For projections: they keep (position, leaf hash) beside their view. This proves that the
    ledger still holds that leaf at that position (else it was rewritten under them) and that
    every event after it is intact, chained, signed and authorised, in time proportional to
    the segment. The Merkle tree is not recomputed (``tree_size``/``root`` stay empty).
    """
    passing = _Pass(source=source, sponsor_public=None, progress=None, track_tree=False)
    start = position + 1
    try:
        if position > 0:
            seen = source.event_at(position)
            if seen is None or seen.leaf_hash != leaf_hash:
                raise _Stop(
                    position,
                    f"the ledger no longer holds the event this consumer read at position "
                    f"{position}: history was rewritten or truncated",
                )
        if source.event_at(start) is not None:
            start = _commit_start(source, start)
            prev, last_recorded = _bootstrap(passing, start)
            passing.run(start, prev, last_recorded, 0)
        failure = None
    except _Stop as stop:
        failure = stop.failure
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
