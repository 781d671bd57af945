"""The pass over the log: every event and commit in position order, in one streaming loop.

:class:`LogPass` holds what a pass has proved so far (key registry, subject sites, Merkle
frontier, checkpoints still to meet) and checks events ``start..`` given what precedes them.
The per-event loop (:meth:`LogPass.walk`) keeps to locals and inlines the leaf hash and the
Merkle frontier; everything done once per commit (opening it, closing it: root, signature,
checkpoints) and the slow path of registry and screening events are methods of their own.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

from ledger.chain import ZERO_HASH, CommitRecord, EventRow
from ledger.errors import LedgerError
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
from ledger.integrity.checkpoint import Checkpoint, verify_checkpoint
from ledger.integrity.signing import key_id
from ledger.registry import KeyRegistry, RegisteredKey
from ledger.verifier_state import RegistryEvent
from ledger.verify.checkpoints import checkpoint_origin, frontier_differs
from ledger.verify.report import Stop
from ledger.verify.signatures import SignatureChecks
from ledger.verify.source import TRIAL_ID, LedgerSource

_json_str = json.JSONEncoder(ensure_ascii=False).encode
_SLOW_TOPICS = REGISTRY_TOPICS | {SCREENING_TOPIC}
"""Events whose payload the pass decodes (the registry, and a subject's site)."""


@dataclass
class LogPass:
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
    signatures: SignatureChecks = field(default_factory=SignatureChecks)
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
            if kept_frontier and frontier_differs(kept_frontier, self.frontier):
                raise Stop(
                    size,
                    f"the Merkle frontier kept with the checkpoint at tree size {size} differs "
                    f"from the frontier of the ledger's first {size} events: it was altered",
                )

    def check_note(self, note: str, size: int, root: bytes) -> Checkpoint:
        trial = self.registry.trial
        if trial is None:
            raise Stop(1, "no TrialCreated event: the ledger key that signs checkpoints is unknown")
        origin = checkpoint_origin(str(trial.ledger_id))
        try:
            cp = verify_checkpoint(note, origin, self.registry.ledger_public_raw)
        except LedgerError as e:
            raise Stop(max(size, 1), f"checkpoint at tree size {size}: {e}") from None
        if cp.tree_size != size:
            raise Stop(size, f"checkpoint claims tree size {cp.tree_size}, checked at {size}")
        if cp.root != root:
            raise Stop(
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
            raise Stop(
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
        expected, unclosed, leaf, seq, recorded = self.walk(
            commits, start, prev, last_recorded, last_seq
        )
        self.events_checked = expected - start
        self.end_leaf, self.end_seq, self.end_recorded = leaf, seq, recorded
        self.check_end(expected - 1, unclosed, commits, stop_at_size)

    def walk(
        self, commits: Iterator[CommitRecord], start: int, prev: bytes, recorded: str, seq: int
    ) -> tuple[int, CommitRecord | None, bytes, int, str]:
        """The loop over the events from ``start``: the next position, open commit, leaf, seq
        and recorded time where they end."""
        commit: CommitRecord | None = None
        signer: RegisteredKey | None = None
        leaves: list[bytes] = []
        # Hot loop: locals only, per-commit caches, one envelope template (see ledger.chain).
        sha256 = hashlib.sha256
        frontier_from = self.frontier.size if self.track_tree else 2**62
        stack, fsize = self.frontier.stack_for_extension()
        quoted: dict[str, str] = {}
        authorised: set[tuple[str, str]] = set()  # (topic, stream) signed; slow ones re-checked
        prefix, last_position, expected, slow_topics = "", 0, start, _SLOW_TOPICS
        quoted_get = quoted.get
        for batch in self.source.iter_event_batches(start):
            for row in batch:
                p, oid, version, topic, state, stored_leaf, cseq = row
                if p != expected:
                    self.misplaced(expected, p, cseq)
                if p > last_position:
                    commit, signer = self.open_commit(commits, seq, prev, recorded, p, leaves)
                    h = commit.header
                    recorded, last_position, seq = h.recorded_at, h.last_position, h.seq
                    prefix = f'\x00{{"commit":{seq},"originator_id":'
                    authorised.clear()
                if cseq != seq:
                    raise Stop(p, f"event claims commit {cseq} but lies in commit {seq}")
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
                    raise Stop(p, f"stored columns are malformed ({e})") from None
                if leaf != stored_leaf:
                    raise _leaf_mismatch(p)
                if topic in slow_topics or (topic, oid) not in authorised:
                    signer = self.authorise(EventRow(*row), cast(CommitRecord, commit), signer)
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
                    self.close_commit(cast(CommitRecord, commit), leaves, signer, p - start + 1)
                    leaves, commit = [], None
        return expected, commit, prev, seq, recorded

    def check_end(
        self,
        end: int,
        unclosed: CommitRecord | None,
        commits: Iterator[CommitRecord],
        stop_at_size: int,
    ) -> None:
        """After the last event (at ``end``): no commit, checkpoint or given checkpoint may
        claim events beyond it."""
        if end == 0:
            raise Stop(1, "the ledger holds no events: position 1 (TrialCreated) is missing")
        if unclosed is not None:
            h = unclosed.header
            raise Stop(
                end + 1,
                f"commit {h.seq} covers positions {h.first_position}-"
                f"{h.last_position} but the ledger ends at {end}: events were removed",
            )
        extra = next(commits, None)
        if extra is not None:
            raise Stop(
                end + 1,
                f"commit {extra.header.seq} is signed for positions {extra.header.first_position}-"
                f"{extra.header.last_position} but the ledger's events end at position {end}: "
                "signed events were removed",
            )
        if stop_at_size > end:
            raise Stop(
                end + 1,
                f"the checkpoint checked against covers {stop_at_size} events but the ledger holds "
                f"{end}: positions {end + 1}-{stop_at_size} were removed (the tail was truncated)",
            )
        if self.checkpoints:
            size = self.checkpoints[0][0]
            if size <= end:
                raise Stop(
                    size,
                    f"a checkpoint kept in the ledger claims tree size {size}, which is not the "
                    "end of a signed commit: the checkpoints table was altered",
                )
            raise Stop(
                end + 1,
                f"a signed checkpoint kept in the ledger covers {size} events but the ledger holds "
                f"{end}: positions {end + 1}-{size} were removed (the tail was truncated)",
            )

    @staticmethod
    def misplaced(expected: int, p: object, cseq: object) -> None:
        if type(p) is not int or type(cseq) is not int:
            raise Stop(expected, "a stored position or commit number is not an integer")
        if p > expected:
            raise Stop(expected, f"position {expected} is missing (next stored is {p})")
        raise Stop(p, f"position {p} is stored twice or out of order")

    def open_commit(
        self,
        commits: Iterator[CommitRecord],
        seq: int,
        prev: bytes,
        last_recorded: str,
        p: int,
        leaves: list[bytes],
    ) -> tuple[CommitRecord, RegisteredKey | None]:
        """The next signed commit, which must begin at ``p``, follow commit ``seq``, link to
        ``prev`` and not be recorded before ``last_recorded``; with its signer (None at 1)."""
        if leaves:
            raise Stop(p, "internal: commit left open")  # pragma: no cover
        commit = next(commits, None)
        if commit is None or commit.header.first_position != p:
            raise Stop(p, f"event at position {p} is not covered by any signed commit")
        h = commit.header
        if h.seq != seq + 1:
            raise Stop(p, f"commit sequence jumps from {seq} to {h.seq}")
        if h.prev_leaf != prev:
            raise Stop(p, f"commit {h.seq} does not link to the leaf at position {p - 1}")
        if h.recorded_at < last_recorded:
            raise Stop(
                p,
                f"commit {h.seq} recorded at {h.recorded_at}, before its predecessor "
                f"({last_recorded}): recorded times run backwards",
            )
        if h.meaning not in MEANINGS:
            raise Stop(p, f"commit {h.seq} has unknown signature meaning {h.meaning!r}")
        if p == 1:
            return commit, None  # the genesis signer is named by TrialCreated itself
        return commit, self.registered_signer(commit, p)

    def registered_signer(self, commit: CommitRecord, p: int) -> RegisteredKey:
        try:
            on = date.fromisoformat(commit.header.recorded_at[:10])
        except ValueError:
            raise Stop(
                p,
                f"commit {commit.header.seq}: recorded time {commit.header.recorded_at!r} is "
                "not a time the ledger writes",
            ) from None
        try:
            return self.registry.signer(commit.header.signer, p, on)
        except LedgerError as e:
            raise Stop(p, f"commit {commit.header.seq}: {e}") from None

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
                raise Stop(p, f"payload of {event_name(row.topic)} does not decode: {e}") from None
            if p == 1:
                signer = self.genesis(event, commit)
            elif isinstance(event, TrialCreated):
                raise Stop(p, "a second TrialCreated event: the trial is created once, at 1")
            if row.topic == SCREENING_TOPIC:
                self.sites[row.originator_id] = str(getattr(event, "site", ""))
        elif p == 1:
            raise Stop(1, f"position 1 must be TrialCreated, found {event_name(row.topic)}")
        if signer is None:  # pragma: no cover - genesis always sets it
            raise Stop(p, "no signer resolved for this commit")
        site = None if row.topic in REGISTRY_TOPICS else self.site_of(row)
        try:
            self.registry.check_may_record(
                signer, row.topic, site, event if row.topic in REGISTRY_TOPICS else None
            )
        except LedgerError as e:
            raise Stop(p, f"commit {commit.header.seq}: {e}") from None
        if row.topic in REGISTRY_TOPICS:
            if row.originator_id != trial_stream_id(TRIAL_ID).hex:
                raise Stop(p, "key registry event outside the trial stream")
            self.registry.apply(event, p)
            self.registry_events.append(
                (p, row.topic, row.originator_id, row.originator_version, row.state.decode())
            )
        return signer

    def genesis(self, event: Any, commit: CommitRecord) -> RegisteredKey:
        if not isinstance(event, TrialCreated):
            raise Stop(1, f"position 1 must be TrialCreated, found {type(event).__name__}")
        sponsor = event.sponsor
        if sponsor.role != "sponsor":
            raise Stop(1, f"TrialCreated names a {sponsor.role} key as sponsor")
        if key_id(base64.b64decode(sponsor.public_key)) != sponsor.key_id:
            raise Stop(1, "TrialCreated's sponsor key id does not match its public key")
        if self.sponsor_public is not None and base64.b64decode(sponsor.public_key) != (
            self.sponsor_public
        ):
            raise Stop(
                1,
                f"the ledger is rooted in sponsor key {sponsor.key_id}, not in the published "
                f"sponsor key {key_id(self.sponsor_public)}",
            )
        if commit.header.signer != sponsor.key_id:
            raise Stop(1, f"TrialCreated is signed by {commit.header.signer}, not by the sponsor")
        self.registry.apply(event, 1)
        return self.registry.keys[sponsor.key_id]

    def close_commit(
        self, commit: CommitRecord, leaves: list[bytes], signer: RegisteredKey | None, done: int
    ) -> None:
        """The commit's last event is checked (``done`` events so far): its root, then its
        signature (here, or queued for the worker), then the checkpoints at its end."""
        h = commit.header
        if signer is None:  # pragma: no cover
            raise Stop(h.first_position, f"commit {h.seq} has no resolved signer")
        if merkle.root(leaves) != h.events_root:
            raise Stop(
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
        self.signatures.check(check)
        self.events_checked = done
        self.check_checkpoints_at(h.last_position)
        if self.progress is not None:
            self.progress(done)


def _leaf_mismatch(p: int) -> Stop:
    return Stop(
        p,
        "stored event does not match its leaf hash: a stored column "
        "(originator, version, topic, state, commit, leaf) was altered, or the "
        f"link to position {p - 1} is broken",
    )
