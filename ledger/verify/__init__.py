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

Nothing the ledger file holds is trusted unless it is re-proved from the stored bytes or
checked against something the verifier holds itself. ``against`` (a checkpoint note the
caller kept) is checked by a full pass: every stored byte a leaf covers is rehashed from
position 1, the root at the checkpoint's size must equal the signed one, and everything after
it is proved as well. The checkpoints and Merkle frontiers kept inside the ledger file are
checked like any other stored data (each kept checkpoint must match the root at its size) and
never used as a shortcut.

Incremental mode needs state the verifier wrote itself (``ledger.verifier_state``, the
``--state DIR`` of the CLI): after a successful pass it keeps the size, last leaf, Merkle
frontier, registry events and subject sites it proved; the next pass starts there and reads
only the events appended since, in time proportional to them. It vouches for the prefix only
as this verifier proved it earlier: a rewrite of stored rows below that point is caught by
the next full pass (or by anyone comparing the ledger's roots with the ones the state holds).
"""

from __future__ import annotations

import base64
import hashlib
import json
import multiprocessing
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol, cast

from ledger.chain import ZERO_HASH, CommitRecord, EventRow, reprove_commit, row_leaf
from ledger.errors import LedgerError, UsageError, VerificationError
from ledger.events import (
    MEANINGS,
    REGISTRY_TOPICS,
    SCREENING_TOPIC,
    TrialCreated,
    decode_event,
    event_name,
    trial_stream_id,
)
from ledger.integrity import merkle
from ledger.integrity.checkpoint import (
    Checkpoint,
    NoteSignature,
    key_hash,
    parse_checkpoint,
    verify_checkpoint,
)
from ledger.integrity.signing import key_id, verify_signature
from ledger.registry import KeyRegistry, RegisteredKey
from ledger.storage_errors import is_damage
from ledger.verifier_state import RegistryEvent, VerifierState, load_state, save_state

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
    def snapshot(self) -> AbstractContextManager[Any]: ...


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
    checkpoints: list[tuple[int, str, str]] = field(default_factory=list)
    """(tree size, signed note, kept frontier JSON or "") still to meet, smallest first."""
    checkpoints_checked: int = 0
    track_tree: bool = True
    signature_pool: ProcessPoolExecutor | None = None
    pending_signatures: list[SignatureCheck] = field(default_factory=list)
    signature_futures: list[Future[tuple[int, str] | None]] = field(default_factory=list)
    commits_checked: int = 0
    events_checked: int = 0
    registry_events: list[RegistryEvent] = field(default_factory=list)
    roots: dict[int, bytes] = field(default_factory=dict)
    site_lookup: Callable[[EventRow], str | None] | None = None
    """Segment mode only: the site of a subject screened before the segment (re-proved)."""
    end_leaf: bytes = ZERO_HASH
    end_seq: int = 0
    end_recorded: str = ""

    def check_checkpoints_at(self, size: int) -> None:
        while self.checkpoints and self.checkpoints[0][0] == size:
            _, note, kept_frontier = self.checkpoints.pop(0)
            self.check_note(note, size, self.frontier.root())
            if kept_frontier and _frontier_differs(kept_frontier, self.frontier):
                raise _Stop(
                    size,
                    f"the Merkle frontier kept with the checkpoint at tree size {size} differs "
                    f"from the frontier of the ledger's first {size} events: it was altered",
                )

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
        self.roots[size] = root
        return cp

    def site_of(self, row: EventRow) -> str:
        site = self.sites.get(row.originator_id)
        if site is None and self.site_lookup is not None:
            site = self.site_lookup(row)
        if site is None:
            raise _Stop(
                row.position,
                f"{event_name(row.topic)} belongs to stream {row.originator_id}, which has no "
                "SubjectScreened event before it",
            )
        self.sites[row.originator_id] = site
        return site

    def run(
        self, start: int, prev: bytes, last_recorded: str, last_seq: int, stop_at_size: int
    ) -> None:
        """Check events ``start..`` given what precedes them: ``prev`` the leaf at
        ``start - 1``, ``last_seq`` and ``last_recorded`` the commit that ends there."""
        commits = self.source.iter_commits(last_seq + 1)
        commit: CommitRecord | None = None
        expected_seq = last_seq
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
        self.end_leaf, self.end_seq, self.end_recorded = prev, max(seq, last_seq), last_recorded
        if end == 0:
            raise _Stop(1, "the ledger holds no events: position 1 (TrialCreated) is missing")
        if commit is not None:
            raise _Stop(
                expected,
                f"commit {commit.header.seq} covers positions {commit.header.first_position}-"
                f"{commit.header.last_position} but the ledger ends at {end}: events were removed",
            )
        extra = next(commits, None)
        if extra is not None:
            raise _Stop(
                end + 1,
                f"commit {extra.header.seq} is signed for positions {extra.header.first_position}-"
                f"{extra.header.last_position} but the ledger's events end at position {end}: "
                "signed events were removed",
            )
        if stop_at_size > end:
            raise _Stop(
                end + 1,
                f"the checkpoint checked against covers {stop_at_size} events but the ledger holds "
                f"{end}: positions {end + 1}-{stop_at_size} were removed (the tail was truncated)",
            )
        if self.checkpoints:
            size = self.checkpoints[0][0]
            if size <= end:
                raise _Stop(
                    size,
                    f"a checkpoint kept in the ledger claims tree size {size}, which is not the "
                    "end of a signed commit: the checkpoints table was altered",
                )
            raise _Stop(
                end + 1,
                f"a signed checkpoint kept in the ledger covers {size} events but the ledger holds "
                f"{end}: positions {end + 1}-{size} were removed (the tail was truncated)",
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
        except ValueError:
            raise _Stop(
                p,
                f"commit {commit.header.seq}: recorded time {commit.header.recorded_at!r} is "
                "not a time the ledger writes",
            ) from None
        try:
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
            if row.originator_id != trial_stream_id(TRIAL_ID).hex:
                raise _Stop(p, "key registry event outside the trial stream")
            self.registry.apply(event, p)
            self.registry_events.append(
                (p, row.topic, row.originator_id, row.originator_version, row.state.decode())
            )
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
    state_dir: Path | None = None,
    full: bool = False,
    progress: Callable[[int], None] | None = None,
    parallel_signatures: bool | None = None,
) -> VerifyReport:
    """Verify ``source``; with ``against`` (a signed checkpoint note) prove it extends it.

    A full pass from position 1 unless ``state_dir`` holds state this verifier wrote after an
    earlier pass of the same ledger (and ``full`` is false): then only the events after it
    are read. With ``state_dir`` the state is (re)written after every successful pass.
    ``parallel_signatures``: check commit signatures in a worker process (default: for
    large ledgers); the first failure reported is still the one at the lowest position.
    Raises :class:`UsageError` for a checkpoint or state that is not of this ledger.
    """
    with source.snapshot():
        try:
            return _verify(
                source, against, sponsor_public, state_dir, full, progress, parallel_signatures
            )
        except sqlite3.DatabaseError as e:
            if not is_damage(e):
                raise  # read-only, locked, I/O: a storage fault (exit 2), not tampering
            raise VerificationError(
                f"the ledger file is damaged and cannot be read to the end ({e})"
            ) from None


def _against(source: LedgerSource, note: str, sponsor_public: bytes | None) -> tuple[int, str]:
    """The size of a checkpoint given to check against; usage errors for a note that is not
    a checkpoint, or one of another ledger (its signature is checked during the pass).

    "Another ledger": the note names none of the ids this file names, and neither its
    TrialCreated's checkpoint key nor a published sponsor key ties the two together. A note
    signed by this ledger's checkpoint key under another id means the history was replaced
    (the pass reports it, exit 1), as does any mismatch once the sponsor key is given."""
    try:
        cp, signatures = parse_checkpoint(note)
    except LedgerError as e:
        raise UsageError(f"--against: the file is not a signed checkpoint ({e})") from None
    _check_note_is_intact(source, note, cp.origin, signatures)
    names = _ledger_ids(source)
    if (
        cp.origin not in {checkpoint_origin(name) for name in names}
        and sponsor_public is None
        and not _signed_by_this_ledger_key(source, note, cp.origin)
    ):
        here = " / ".join(sorted(names)) or "(none)"
        raise UsageError(
            f"--against: the checkpoint is of {cp.origin!r}, but this ledger is "
            f"{here}: give a checkpoint of this ledger (if it was taken of this ledger, "
            "its whole history was replaced since)"
        )
    if cp.tree_size < 1:
        raise UsageError("--against: the checkpoint covers no events; nothing to prove")
    return cp.tree_size, note


def _check_note_is_intact(
    source: LedgerSource, note: str, origin: str, signatures: list[NoteSignature]
) -> None:
    """A note that names this ledger's checkpoint key but whose signature fails under it was
    altered or damaged as a file: refused (exit 2) before the ledger is blamed for it."""
    genesis = _genesis(source)
    if genesis is None:
        return
    public = base64.b64decode(genesis.ledger_public_key)
    wanted = key_hash(origin, public)
    if not any(sig.key_name == origin and sig.key_hash == wanted for sig in signatures):
        return  # another key: a re-keyed ledger or another ledger, decided below
    try:
        verify_checkpoint(note, origin, public)
    except LedgerError:
        raise UsageError(
            "--against: the checkpoint file names this ledger's checkpoint key but its "
            "signature does not verify: the file was altered or damaged (its size, root or "
            "time lines changed); use the checkpoint file as it was written"
        ) from None


def _signed_by_this_ledger_key(source: LedgerSource, note: str, origin: str) -> bool:
    genesis = _genesis(source)
    if genesis is None:
        return False
    try:
        verify_checkpoint(note, origin, base64.b64decode(genesis.ledger_public_key))
    except (LedgerError, ValueError):
        return False
    return True


def _genesis(source: LedgerSource) -> TrialCreated | None:
    first = source.event_at(1)
    if first is None:
        return None
    try:
        genesis = decode_event(first.topic, first.state, first.originator_id, 1)
    except (LedgerError, ValueError):
        return None
    return genesis if isinstance(genesis, TrialCreated) else None


def _ledger_ids(source: LedgerSource) -> set[str]:
    """The ledger ids the file names (its meta row, and its TrialCreated event if readable):
    only to tell a checkpoint or state of another ledger from one of this ledger, tampered."""
    names = {source.meta("ledger_id") or ""}
    genesis = _genesis(source)
    if genesis is not None:
        names.add(str(genesis.ledger_id))
    names.discard("")
    return names


def _verify(
    source: LedgerSource,
    against: str | None,
    sponsor_public: bytes | None,
    state_dir: Path | None,
    full: bool,
    progress: Callable[[int], None] | None,
    parallel_signatures: bool | None,
) -> VerifyReport:
    passing = _Pass(source=source, sponsor_public=sponsor_public, progress=progress)
    against_size, note = (
        _against(source, against, sponsor_public) if against is not None else (0, "")
    )
    state = _usable_state(source, state_dir, sponsor_public) if state_dir and not full else None
    start, prev, last_recorded, last_seq, mode = 1, ZERO_HASH, "", 0, "full"
    failure: Failure | None = None
    try:
        if state is not None and (
            against_size == 0 or against_size >= state.size or (against_size in state.roots)
        ):
            start, prev, last_recorded, last_seq = _resume(passing, state)
            mode = "incremental"
            if 0 < against_size <= state.size:
                passing.check_note(note, against_size, state.roots[against_size])
                against_size = 0
        if against_size:
            passing.checkpoints.append((against_size, note, ""))
        for size, kept, kept_frontier in source.checkpoints():
            if size >= start:
                passing.checkpoints.append((size, kept, kept_frontier))
            elif size in passing.roots:  # below a resumed pass: met with the root proved then
                passing.check_note(kept, size, passing.roots[size])
        passing.checkpoints.sort(key=lambda item: item[0])
        with _signature_pool(source, start, parallel_signatures) as pool:
            passing.signature_pool = pool
            try:
                passing.run(start, prev, last_recorded, last_seq, against_size)
            except _Stop as stop:
                failure = stop.failure
            except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
                # Hostile bytes no check above anticipated: still a failure, never a crash.
                at = start + passing.events_checked
                failure = Failure(at, f"stored data at or after position {at} is malformed ({e})")
            finally:
                late = passing.drain_signatures()
            if late is not None and (failure is None or late.position < failure.position):
                failure = late
    except _Stop as stop:
        failure = stop.failure
    state_info = None
    if state_dir is not None:
        saved = None
        if failure is None:
            saved = _save(passing, source, state_dir, state, sponsor_public)
        state_info = {
            "path": str(state_dir),
            "resumed_from": state.size if mode == "incremental" and state else None,
            "saved_size": saved,
        }
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
        state=state_info,
        frontier=passing.frontier,
    )


def _frontier_differs(kept: str, frontier: merkle.MerkleFrontier) -> bool:
    try:
        return bool(json.loads(kept) != frontier.to_json())
    except ValueError:
        return True


def _usable_state(
    source: LedgerSource, state_dir: Path, sponsor_public: bytes | None
) -> VerifierState | None:
    state = load_state(state_dir)
    if state is None:
        return None
    first = source.event_at(1)
    same_genesis = first is not None and first.leaf_hash == state.genesis_leaf
    if state.ledger_id not in _ledger_ids(source) and not same_genesis:
        raise UsageError(
            f"--state {state_dir}: the state is of ledger {state.ledger_id}, not of this one; "
            "give each ledger its own state folder"
        )
    if sponsor_public is not None and state.sponsor_key_id != key_id(sponsor_public):
        return None  # proved without this trust anchor: prove again from position 1
    return state


def _resume(passing: _Pass, state: VerifierState) -> tuple[int, bytes, str, int]:
    """Set up a pass after the prefix ``state`` proved: registry, sites, frontier, links."""
    source = passing.source
    for position, topic, oid, version, text in state.registry_events:
        event = decode_event(topic, text.encode(), oid, version)
        passing.registry.apply(event, position)
    passing.registry_events = list(state.registry_events)
    passing.sites = dict(state.sites)
    passing.roots = dict(state.roots)
    passing.frontier = merkle.MerkleFrontier.from_json(state.frontier.to_json())
    if (source.meta("ledger_id") or "") != state.ledger_id:
        raise _Stop(
            1,
            f"the ledger file names ledger id {source.meta('ledger_id') or '(none)'}, but this "
            "verifier "
            f"proved ledger {state.ledger_id} here: its ledger_meta was altered",
        )
    genesis = source.event_at(1)
    if genesis is None or _recomputed_leaf(genesis, ZERO_HASH) != state.genesis_leaf:
        raise _Stop(
            1, "position 1 is not the event this verifier proved there: history was replaced"
        )
    at = source.event_at(state.size)
    before = source.event_at(state.size - 1) if state.size > 1 else None
    link = before.leaf_hash if before is not None else ZERO_HASH
    if at is None or _recomputed_leaf(at, link) != state.leaf:
        raise _Stop(
            state.size,
            f"the event at position {state.size} is not the one this verifier proved there "
            "(history was rewritten or truncated)",
        )
    return state.size + 1, state.leaf, state.recorded_at, state.commit_seq


def _recomputed_leaf(row: EventRow, prev: bytes) -> bytes:
    """:func:`ledger.chain.row_leaf`, or no leaf at all for columns that do not hash."""
    try:
        return row_leaf(row, prev)
    except (TypeError, ValueError):
        return b""


def _save(
    passing: _Pass,
    source: LedgerSource,
    state_dir: Path,
    previous: VerifierState | None,
    sponsor_public: bytes | None,
) -> int:
    size = passing.frontier.size
    roots = dict(passing.roots)
    roots[size] = passing.frontier.root()
    genesis = previous.genesis_leaf if previous else None
    if genesis is None:
        first = source.event_at(1)
        genesis = first.leaf_hash if first else ZERO_HASH
    save_state(
        state_dir,
        VerifierState(
            ledger_id=source.meta("ledger_id") or "",
            genesis_leaf=genesis,
            size=size,
            leaf=passing.end_leaf,
            commit_seq=passing.end_seq,
            recorded_at=passing.end_recorded,
            frontier=passing.frontier,
            roots=roots,
            registry_events=passing.registry_events,
            sites=passing.sites,
            sponsor_key_id=key_id(sponsor_public)
            if sponsor_public
            else (previous.sponsor_key_id if previous else None),
        ),
    )
    return size


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


def _prove_commit_of(
    source: LedgerSource, position: int, registry: KeyRegistry, proved: set[int]
) -> None:
    """Re-prove the commit holding ``position`` from its stored rows (leaves, root, signature
    under the registry folded so far); ``proved`` caches commits already re-proved."""
    commit = source.commit_at(position)
    if (
        commit is None
        or not commit.header.first_position <= position <= commit.header.last_position
    ):
        raise _Stop(position, f"no signed commit covers position {position}")
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
            raise _Stop(1, f"position 1 does not decode as TrialCreated: {e}") from None
        if not isinstance(genesis, TrialCreated) or genesis.sponsor.key_id != h.signer:
            raise _Stop(1, "position 1 is not a TrialCreated event signed by its sponsor key")
        public = base64.b64decode(genesis.sponsor.public_key)
    else:
        try:
            on = date.fromisoformat(h.recorded_at[:10])
            public = registry.signer(h.signer, h.first_position, on).public_raw
        except (LedgerError, ValueError) as e:
            raise _Stop(position, f"commit {h.seq}: {e}") from None
    reason = reprove_commit(commit, rows, prev, public)
    if reason is not None:
        raise _Stop(position, reason)
    proved.add(h.seq)


def _proved_registry(passing: _Pass, start: int, proved: set[int]) -> None:
    """The key registry as of ``start``, each of its events re-proved with its commit: a
    segment verification builds on the registry, so it must not take it from the file."""
    for row in passing.source.stream_rows(trial_stream_id(TRIAL_ID).hex):
        if row.position >= start:
            break
        _prove_commit_of(passing.source, row.position, passing.registry, proved)
        try:
            event = decode_event(row.topic, row.state, row.originator_id, row.originator_version)
        except (LedgerError, ValueError) as e:
            raise _Stop(row.position, f"registry event does not decode: {e}") from None
        passing.registry.apply(event, row.position)


def proved_registry(source: LedgerSource) -> KeyRegistry:
    """The key and site registry as it stands, each of its events re-proved with its whole
    commit (leaves from the stored columns, root, signature under the registry before it,
    rooted in TrialCreated): what writers authorise against and what `keys list` shows."""
    passing = _Pass(source=source, sponsor_public=None, progress=None, track_tree=False)
    try:
        _proved_registry(passing, 2**62, set())
    except _Stop as stop:
        raise VerificationError(
            f"the key registry fails its re-proof at position {stop.failure.position}: "
            f"{stop.failure.reason} (run `trial-ledger verify`)"
        ) from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        raise VerificationError(f"the key registry's stored events are malformed ({e})") from None
    return passing.registry


class CommitProver:
    """Re-proves, on demand, the commit holding each position a command is about to show
    (leaves, root, signature under the proved registry), each commit once: a listing costs
    in proportion to what it shows, and never shows a row that was altered."""

    def __init__(self, source: LedgerSource) -> None:
        self.source = source
        self.registry = proved_registry(source)
        self._proved: set[int] = set()

    def prove(self, position: int) -> None:
        try:
            _prove_commit_of(self.source, position, self.registry, self._proved)
        except _Stop as stop:
            raise VerificationError(
                f"position {stop.failure.position}: {stop.failure.reason}; refusing to show "
                "an altered record (run `trial-ledger verify`)"
            ) from None
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
            raise VerificationError(
                f"position {position}: the stored record is malformed ({e}); refusing to show it"
            ) from None


def _segment_start(source: LedgerSource, position: int) -> tuple[int, bytes, str, int]:
    """Where a segment pass after ``position`` begins: the first position of the commit after
    the one holding ``position`` (a consumer's tracked position is a commit's last one, or
    it begins the commit it is in), the leaf before it, and that commit's time and seq."""
    commit = source.commit_at(position + 1)
    if commit is None:
        raise _Stop(position + 1, f"no signed commit covers position {position + 1}")
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
    passing = _Pass(source=source, sponsor_public=None, progress=None, track_tree=False)
    start = position + 1
    proved: set[int] = set()

    def site_lookup(row: EventRow) -> str | None:
        first = source.first_event_of(row.originator_id)
        if first is None or first.topic != SCREENING_TOPIC or first.position >= start:
            return None
        _prove_commit_of(source, first.position, passing.registry, proved)
        return str(json.loads(first.state)["site"])

    passing.site_lookup = site_lookup
    with source.snapshot():
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
                start, prev, last_recorded, last_seq = _segment_start(source, position)
                _proved_registry(passing, start, proved)
                if start > 1:
                    _prove_commit_of(source, start - 1, passing.registry, proved)
                passing.run(start, prev, last_recorded, last_seq, 0)
            failure = None
        except _Stop as stop:
            failure = stop.failure
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
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
