"""Proof, before a person signs a served proposal, that the head it extends is the served
ledger's signed history (:class:`HeadProof`, used by
:class:`~ledger.remote.record.RemoteRecorder` given the sponsor's published key).

A proposal's header names ``prev_leaf``, the leaf at ``first_position - 1`` that the commit
chains to. :func:`~ledger.remote.record.check_proposal` proves everything else about it; this
proves that leaf, trusting only the sponsor key:

1. the genesis: the event at position 1 (``GET /v1/log/events``) is a TrialCreated rooted in
   the sponsor key and naming the header's ledger (:func:`~ledger.remote.checks.genesis_of`),
   its leaf is recomputed from its columns, and commit 1 (``GET /v1/log/commits``) holds
   exactly it and is signed by that sponsor key, so the ledger key it names is the sponsor's
   word;
2. the checkpoint: ``GET /v1/checkpoint`` is signed by that ledger key, with the ledger's
   origin (:func:`~ledger.remote.checks.check_signed`), and the leaf at its tree size is proved
   by the server's inclusion proof under its root;
3. the head: if ``first_position - 1`` is within the checkpoint's tree, the leaf served at that
   position is ``prev_leaf`` and the inclusion proof of it verifies under the checkpoint's
   root; if commits landed after the checkpoint, the events after it up to ``first_position -
   1`` are fetched and their leaves recomputed from their columns, each chained to the one
   before from the checkpoint's proved leaf (:func:`ledger.chain.row_leaf`), and the last one
   must be ``prev_leaf``. A leaf chains every leaf before it, so a commit signed over
   ``prev_leaf`` extends the signed tree.

What stays unproved is which of two histories after the latest checkpoint is the true one:
events the server serves beyond it are chained, not signed (a server that signs checkpoints
often, ``serve --checkpoint-key``, leaves little of that).

The genesis and the checkpoint (with its proved leaf) are proved once per :class:`HeadProof`
and kept, so a proposal prepared again after a moved head costs only the events after the
checkpoint. Failures: :class:`HeadUnproved` (an integrity failure, exit 1, one line naming
the position and what differed); no checkpoint signed yet, or a key the server refuses the
signed log to, :class:`HeadNotProvable` (exit 2). Nothing is signed in either case.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.chain import ZERO_HASH, CommitHeader, EventRow, row_leaf
from ledger.errors import AuthorisationError, LedgerError, UsageError, VerificationError
from ledger.events import TrialCreated
from ledger.integrity import merkle
from ledger.integrity.checkpoint import Checkpoint
from ledger.integrity.signing import key_id, verify_signature
from ledger.remote.checks import check_included, check_signed, genesis_of, parsed_checkpoint
from ledger.remote.mirror import EMPTY
from ledger.remote.wire import EventTuple, FollowAlarm, LogClient


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
    the signed log is refused to this key): nothing was signed (exit 2)."""


@dataclass(frozen=True)
class ProvedCheckpoint:
    """The latest checkpoint as proved: its note, signed by the genesis's ledger key, and the
    leaf at its tree size, proved by inclusion under its root."""

    checkpoint: Checkpoint
    leaf: bytes

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

    def prove(self, header: CommitHeader) -> None:
        """Return None if ``header.prev_leaf`` is the leaf at ``first_position - 1`` of the
        served ledger's signed history (see the module docstring)."""
        position = header.first_position - 1
        try:
            genesis = self._genesis(header.ledger_id)
            if position < 1:
                raise FollowAlarm(1, "the proposal puts its commit at position 1, the genesis")
            proved = self._checkpoint(genesis)
            if position <= proved.size:
                self._within(header.prev_leaf, position, proved)
            else:
                self._after(header.prev_leaf, position, proved)
        except AuthorisationError as e:
            raise HeadNotProvable(
                f"--sponsor-key: the head the proposal extends cannot be proved with this key, "
                f"since the server refuses it the signed log ({e}); nothing was signed"
            ) from None
        except FollowAlarm as e:
            raise HeadUnproved(e.position or max(position, 1), str(e)) from None
        except VerificationError as e:
            raise HeadUnproved(max(position, 1), str(e)) from None

    # ----------------------------------------------------------------------- the anchors

    def _genesis(self, ledger_id: str) -> TrialCreated:
        if self.genesis is None:
            row = self._event_at(1)
            genesis = genesis_of(row, self.sponsor, ledger_id)
            assert row is not None  # genesis_of refuses a missing position 1
            self._check_genesis_commit(row, ledger_id)
            self.genesis = genesis
        if str(self.genesis.ledger_id) != ledger_id:
            raise FollowAlarm(
                1,
                f"the proposal is for ledger {ledger_id}, the genesis names ledger "
                f"{self.genesis.ledger_id}",
            )
        return self.genesis

    def _check_genesis_commit(self, row: EventTuple, ledger_id: str) -> None:
        """Commit 1 holds exactly position 1, whose leaf is its columns', signed by the
        sponsor key (so the ledger key the genesis names is the sponsor's word)."""
        leaf = row_leaf(EventRow(*row), ZERO_HASH)
        if leaf != row[5]:
            raise FollowAlarm(1, "the leaf served for position 1 is not the leaf of its columns")
        first = next(iter(self.log.commit_pages(0, ledger_id)), [])
        header = first[0].header if first else None
        if header is None or (header.seq, header.first_position, header.last_position) != (1, 1, 1):
            raise FollowAlarm(1, "the server serves no commit 1 holding exactly position 1")
        if header.prev_leaf != ZERO_HASH or header.events_root != merkle.root([leaf]):
            raise FollowAlarm(1, "commit 1's header does not root the genesis event's leaf")
        sponsor_id = key_id(self.sponsor)
        if header.signer != sponsor_id:
            raise FollowAlarm(1, f"commit 1 is signed by {header.signer}, not by {sponsor_id}")
        try:
            verify_signature(self.sponsor, header.to_bytes(), first[0].signature)
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
        size = checkpoint.tree_size
        row = self._event_at(size)
        if row is None:
            raise FollowAlarm(size, f"the server serves no event at the checkpoint's size {size:,}")
        check_included(self.log, size, row[5], checkpoint)
        self.proved = ProvedCheckpoint(checkpoint, row[5])
        return self.proved

    # ----------------------------------------------------------------------- the head

    def _within(self, prev_leaf: bytes, position: int, proved: ProvedCheckpoint) -> None:
        """``position`` is in the checkpoint's tree: its proved leaf is ``prev_leaf``."""
        if position == proved.size:
            served = proved.leaf
        else:
            row = self._event_at(position)
            if row is None:
                raise FollowAlarm(position, "the server serves no event at this position")
            served = row[5]
        if served != prev_leaf:
            raise FollowAlarm(
                position,
                f"the proposal's prev_leaf is {prev_leaf.hex()}, the leaf served there, in the "
                f"checkpointed tree of size {proved.size:,}, is {served.hex()}: the proposal "
                "extends a fork",
            )
        if position != proved.size:
            check_included(self.log, position, prev_leaf, proved.checkpoint)

    def _after(self, prev_leaf: bytes, position: int, proved: ProvedCheckpoint) -> None:
        """``position`` is after the checkpoint: the leaves served after it, recomputed and
        chained from its proved leaf, reach ``prev_leaf`` at ``position``."""
        prev, expected = proved.leaf, proved.size + 1
        for page in self.log.event_pages(proved.size):
            for row in page:
                if row[0] != expected:
                    raise FollowAlarm(
                        expected, f"the server serves position {row[0]:,} where {expected:,} is due"
                    )
                leaf = row_leaf(EventRow(*row), prev)
                if leaf != row[5]:
                    raise FollowAlarm(
                        expected,
                        "the leaf served is not the leaf of its columns chained to the one before",
                    )
                if expected == position:
                    self._same(prev_leaf, leaf, position, proved)
                    return
                prev, expected = leaf, expected + 1
        raise FollowAlarm(
            expected,
            f"the server serves events only up to position {expected - 1:,}; the proposal "
            f"extends position {position:,}",
        )

    @staticmethod
    def _same(prev_leaf: bytes, leaf: bytes, position: int, proved: ProvedCheckpoint) -> None:
        if leaf != prev_leaf:
            raise FollowAlarm(
                position,
                f"the proposal's prev_leaf is {prev_leaf.hex()}, the leaf there chained from "
                f"the checkpoint of size {proved.size:,} is {leaf.hex()}: the proposal "
                "extends a fork",
            )

    def _event_at(self, position: int) -> EventTuple | None:
        """The event served at ``position`` (the first of the page after it), or None."""
        page = next(iter(self.log.event_pages(position - 1)), [])
        return page[0] if page and page[0][0] == position else None
