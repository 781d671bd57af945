"""Proof, before a person signs a served proposal, that the head it extends is the served
ledger's signed history (:class:`HeadProof`, used by
:class:`~ledger.remote.record.RemoteRecorder` given the sponsor's published key).

A proposal's header names ``prev_leaf``, the leaf at ``first_position - 1`` that the commit
chains to. :func:`~ledger.remote.record.check_proposal` proves everything else about it; this
proves that leaf from proofs alone (hashes: no event's contents, so site staff may read them
too), trusting only the sponsor key:

1. the genesis (``GET /v1/genesis``): position 1 is a TrialCreated rooted in the sponsor key
   (:func:`~ledger.remote.checks.genesis_of`), its leaf is recomputed from its columns, and
   commit 1 holds exactly it and is signed by that sponsor key, so the ledger id and the
   ledger key it names are the sponsor's word (the recorder then accepts proposals of that
   ledger only);
2. the checkpoint: ``GET /v1/checkpoint`` is signed by that ledger key, with the ledger's
   origin (:func:`~ledger.remote.checks.check_signed`);
3. the head: if ``first_position - 1`` is within the checkpoint's tree, the server's
   inclusion proof of ``prev_leaf`` at that position verifies under the checkpoint's root;
   if commits landed after the checkpoint, the server's consistency proof from the
   checkpoint's size to ``first_position - 1`` proves that the tree of that size (its root
   ``root2``) extends the signed checkpoint, and the inclusion proof of ``prev_leaf`` at that
   position in that tree verifies under ``root2``. A leaf chains every leaf before it, so a
   commit signed over ``prev_leaf`` extends the signed tree.

What stays unproved is which of two histories after the latest checkpoint is the true one:
trees the server proves beyond it are consistent with it, not signed (a server that signs
checkpoints often, ``serve --checkpoint-key``, leaves little of that).

The genesis and the checkpoint are proved once per :class:`HeadProof` and kept, so a proposal
prepared again after a moved head costs only its proofs. Failures: :class:`HeadUnproved` (an
integrity failure, exit 1, one line naming the position and what differed); no checkpoint
signed yet, or a key the server refuses the genesis or the proofs to, :class:`HeadNotProvable`
(exit 2). Nothing is signed in either case.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ledger.bundle.members import COMMIT_MEMBERS, EVENT_MEMBERS, commit_record, members_problem
from ledger.chain import ZERO_HASH, CommitHeader, CommitRecord, EventRow, row_leaf
from ledger.errors import AuthorisationError, LedgerError, UsageError, VerificationError
from ledger.events import TrialCreated, decode_event
from ledger.integrity import merkle
from ledger.integrity.checkpoint import Checkpoint
from ledger.integrity.signing import key_id, verify_signature
from ledger.remote.checks import b64, check_signed, genesis_of, parsed_checkpoint
from ledger.remote.mirror import EMPTY
from ledger.remote.wire import EventTuple, FollowAlarm, LogClient

GENESIS_PATH = "/v1/genesis"


class HeadUnproved(VerificationError):
    """The head a proposal extends is not the served ledger's signed history: nothing was
    signed (exit 1). ``position``: the position that did not prove."""

    def __init__(self, position: int, what: str) -> None:
        super().__init__(
            f"the server's proposal was not signed: the head it extends is not proved at "
            f"position {position:,}: {what}"
        )
        self.position = position


class HeadNotProvable(UsageError):
    """The head cannot be proved on this server as it stands (no checkpoint signed yet, or
    the genesis or the proofs refused to this key): nothing was signed (exit 2)."""


@dataclass(frozen=True)
class ProvedCheckpoint:
    """The latest checkpoint as proved: its note, signed by the genesis's ledger key."""

    checkpoint: Checkpoint

    @property
    def size(self) -> int:
        return self.checkpoint.tree_size


class HeadProof:
    """Proves proposals' ``prev_leaf`` against the served ledger ``log``, rooted in
    ``sponsor`` (the sponsor's published raw public key); keeps the genesis and the
    checkpoint it proved."""

    def __init__(self, log: LogClient, sponsor: bytes) -> None:
        self.log = log
        self.sponsor = sponsor
        self.genesis: TrialCreated | None = None
        self.proved: ProvedCheckpoint | None = None

    def ledger_id(self) -> str:
        """The ledger the proved genesis names (proved on first use)."""
        with _failures(1):
            return str(self._genesis().ledger_id)

    def prove(self, header: CommitHeader) -> None:
        """Return None if ``header.prev_leaf`` is the leaf at ``first_position - 1`` of the
        served ledger's signed history (see the module docstring)."""
        position = header.first_position - 1
        with _failures(max(position, 1)):
            genesis = self._genesis()
            if str(genesis.ledger_id) != header.ledger_id:
                raise FollowAlarm(
                    1,
                    f"the proposal is for ledger {header.ledger_id}, the genesis names ledger "
                    f"{genesis.ledger_id}",
                )
            if position < 1:
                raise FollowAlarm(1, "the proposal puts its commit at position 1, the genesis")
            proved = self._checkpoint(genesis)
            if position < proved.size:
                # An honest head is never below a signed checkpoint: a commit placed inside
                # the checkpointed tree would cut off every event after it (a rewind fork).
                raise FollowAlarm(
                    1,
                    f"the proposal puts its commit after position {position:,}, inside the "
                    f"signed checkpoint of {proved.size:,} events: it would cut off the "
                    f"{proved.size - position:,} after it (a rewind fork)",
                )
            if position == proved.size:
                size, root = proved.size, proved.checkpoint.root
                what = f"the checkpointed tree of size {size:,}"
            else:
                size, root = position, self._extended(position, proved)
                what = f"the tree of size {size:,} that extends the checkpoint"
            self._included(header.prev_leaf, position, size, root, what)

    # ----------------------------------------------------------------------- the anchors

    def _genesis(self) -> TrialCreated:
        if self.genesis is None:
            document = self.log._document(GENESIS_PATH)
            row = _event_of(document.get("event"))
            try:
                named = decode_event(row[3], row[4], row[1], row[2])
            except (LedgerError, ValueError) as e:
                raise FollowAlarm(1, f"the event at position 1 does not decode ({e})") from None
            ledger_id = str(getattr(named, "ledger_id", ""))
            genesis = genesis_of(row, self.sponsor, ledger_id)
            self._check_genesis_commit(row, _commit_of(document.get("commit"), ledger_id))
            self.genesis = genesis
        return self.genesis

    def _check_genesis_commit(self, row: EventTuple, first: CommitRecord) -> None:
        """Commit 1 holds exactly position 1, whose leaf is its columns', signed by the
        sponsor key (so the ledger key the genesis names is the sponsor's word)."""
        leaf = row_leaf(EventRow(*row), ZERO_HASH)
        if leaf != row[5]:
            raise FollowAlarm(1, "the leaf served for position 1 is not the leaf of its columns")
        header = first.header
        if (header.seq, header.first_position, header.last_position) != (1, 1, 1):
            raise FollowAlarm(1, "the server serves no commit 1 holding exactly position 1")
        if header.prev_leaf != ZERO_HASH or header.events_root != merkle.root([leaf]):
            raise FollowAlarm(1, "commit 1's header does not root the genesis event's leaf")
        sponsor_id = key_id(self.sponsor)
        if header.signer != sponsor_id:
            raise FollowAlarm(1, f"commit 1 is signed by {header.signer}, not by {sponsor_id}")
        try:
            verify_signature(self.sponsor, header.to_bytes(), first.signature)
        except LedgerError as e:
            raise FollowAlarm(1, f"commit 1's signature does not verify ({e})") from None

    def _checkpoint(self, genesis: TrialCreated) -> ProvedCheckpoint:
        if self.proved is not None:
            return self.proved
        note = self.log.latest_checkpoint()
        if note is None:
            raise HeadNotProvable(
                f"--sponsor-key: {self.log.url} has signed no checkpoint yet, so the head a "
                "proposal extends cannot be proved; run the server with --checkpoint-key, or "
                "sign one with `trial-ledger checkpoint`; nothing was signed"
            )
        checkpoint = parsed_checkpoint(note, EMPTY)
        check_signed(note, checkpoint, genesis)
        self.proved = ProvedCheckpoint(checkpoint)
        return self.proved

    # ----------------------------------------------------------------------- the head

    def _extended(self, size: int, proved: ProvedCheckpoint) -> bytes:
        """The root of the served tree of ``size`` (beyond the checkpoint), proved by the
        server's consistency proof to extend the signed checkpoint."""
        root1, root2, proof = self.log.consistency(proved.size, size)
        signed = proved.checkpoint.root
        if root1 != signed:
            raise FollowAlarm(
                proved.size,
                f"the server's consistency proof starts at root {b64(root1)}, the checkpoint "
                f"of tree size {proved.size:,} signs {b64(signed)}: the served tree is a fork",
            )
        try:
            merkle.verify_consistency(proved.size, size, proof, signed, root2)
        except LedgerError as e:
            raise FollowAlarm(
                size,
                f"the server's tree of size {size:,} is not proved to extend the checkpoint of "
                f"tree size {proved.size:,} (its consistency proof does not verify: {e})",
            ) from None
        return root2

    def _included(self, leaf: bytes, position: int, size: int, root: bytes, what: str) -> None:
        """The server's inclusion proof of ``leaf`` at ``position`` in the tree of ``size``
        verifies under ``root``."""
        served_leaf, served_root, proof = self.log.inclusion(position, size)
        if served_leaf != leaf:
            raise FollowAlarm(
                position,
                f"the proposal's prev_leaf is {leaf.hex()}, the leaf the server proves there, "
                f"in {what}, is {served_leaf.hex()}: the proposal extends a fork",
            )
        if served_root != root:
            raise FollowAlarm(
                position,
                f"the server's inclusion proof of position {position:,} is under root "
                f"{b64(served_root)}, {what} has root {b64(root)}",
            )
        try:
            merkle.verify_inclusion(leaf, position - 1, size, proof, root)
        except LedgerError as e:
            raise FollowAlarm(
                position,
                f"the server's inclusion proof of position {position:,} in {what} does not "
                f"verify ({e})",
            ) from None


@contextmanager
def _failures(position: int) -> Iterator[None]:
    """A proof's failures as the recorder reports them (nothing signed in any case)."""
    try:
        yield
    except AuthorisationError as e:
        raise HeadNotProvable(
            f"--sponsor-key: the head the proposal extends cannot be proved with this key, "
            f"since the server refuses it the genesis or the proofs ({e}); nothing was signed"
        ) from None
    except FollowAlarm as e:
        raise HeadUnproved(e.position or position, str(e)) from None
    except VerificationError as e:
        raise HeadUnproved(position, str(e)) from None


def _event_of(item: object) -> EventTuple:
    """The genesis answer's event line, each member of its type, at position 1."""
    problem = members_problem(item, EVENT_MEMBERS)
    if problem is not None:
        raise FollowAlarm(1, f"the genesis the server serves is malformed: {problem}")
    assert isinstance(item, dict)
    if item["position"] != 1:
        raise FollowAlarm(1, f"the genesis the server serves is at position {item['position']}")
    return (
        item["position"],
        item["originator_id"],
        item["originator_version"],
        item["topic"],
        item["state"].encode("utf-8"),
        bytes.fromhex(item["leaf_hash"]),
        item["commit"],
    )


def _commit_of(item: object, ledger_id: str) -> CommitRecord:
    """The genesis answer's commit line, each member of its type, as a commit of
    ``ledger_id`` (the id its signed header bytes must name)."""
    problem = members_problem(item, COMMIT_MEMBERS)
    signature = b""
    if problem is None:
        assert isinstance(item, dict)
        try:
            signature = base64.b64decode(item["signature"], validate=True)
        except (binascii.Error, ValueError):
            problem = "member 'signature' is not base64"
    if problem is not None:
        raise FollowAlarm(1, f"the genesis commit the server serves is malformed: {problem}")
    assert isinstance(item, dict)
    document: dict[str, Any] = item
    return commit_record(
        document,
        ledger_id,
        bytes.fromhex(document["prev_leaf"]),
        bytes.fromhex(document["events_root"]),
        signature,
    )
