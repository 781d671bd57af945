"""The checks a follower makes of a served checkpoint before it fetches what the checkpoint
covers, and of the proofs the server gives: each failure a :class:`FollowAlarm` naming the
size or position and what differed.

* the checkpoint is a C2SP signed note signed by the ledger key that the genesis names
  (TrialCreated, itself rooted in the pinned sponsor key: the mirror's verified genesis, or on
  a first sync the served one, which the verifier then proves with its commit);
* it is not smaller than the mirror's verified tree, and at the mirror's size it signs the
  mirror's root (else the log was rolled back, or forked);
* the server's consistency proof from the mirror's checkpoint to the new one verifies
  (RFC 9162, ``ledger.integrity.merkle``), and its inclusion proof of the last new event
  verifies under the new root.
"""

from __future__ import annotations

import base64
import json

from ledger.chain import EventRow
from ledger.errors import LedgerError
from ledger.events import TrialCreated, decode_event
from ledger.integrity import merkle
from ledger.integrity.checkpoint import Checkpoint, parse_checkpoint, verify_checkpoint
from ledger.integrity.signing import key_id
from ledger.remote.mirror import Held
from ledger.remote.wire import EventTuple, FollowAlarm, LogClient
from ledger.verify import checkpoint_origin


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def parsed_checkpoint(note: str, held: Held) -> Checkpoint:
    """The served checkpoint, refused if malformed, smaller than the mirror's or signing
    another root at the mirror's size (its signature is checked by :func:`check_signed`)."""
    try:
        cp = parse_checkpoint(note)[0]
    except LedgerError as e:
        raise FollowAlarm(
            held.size, f"the server's checkpoint is not a signed checkpoint ({e})"
        ) from None
    if cp.tree_size < 1:
        raise FollowAlarm(1, "the server's checkpoint covers no events")
    if cp.tree_size < held.size:
        raise FollowAlarm(
            cp.tree_size,
            f"the server's checkpoint covers {cp.tree_size:,} events, fewer than the "
            f"{held.size:,} the mirror verified: the served log was truncated or rolled back",
        )
    if cp.tree_size == held.size and cp.root != held.root:
        raise FollowAlarm(
            held.size,
            f"fork at tree size {held.size:,}: the server's checkpoint signs root {b64(cp.root)}, "
            f"the mirror verified root {b64(held.root)} at that size",
        )
    return cp


def genesis_of(row: EventTuple | None, sponsor: bytes, ledger_id: str) -> TrialCreated:
    """The TrialCreated at position 1, which must be rooted in the pinned sponsor key and name
    the ledger id served (its commit and signature are proved by the verifier)."""
    if row is None or row[0] != 1:
        raise FollowAlarm(1, "the server serves no event at position 1 (TrialCreated)")
    try:
        event = decode_event(row[3], row[4], row[1], row[2])
    except (LedgerError, ValueError) as e:
        raise FollowAlarm(1, f"the event at position 1 does not decode ({e})") from None
    if not isinstance(event, TrialCreated):
        raise FollowAlarm(1, f"position 1 is {type(event).__name__}, not TrialCreated")
    public = base64.b64decode(event.sponsor.public_key)
    if public != sponsor:
        raise FollowAlarm(
            1,
            f"the served ledger is rooted in sponsor key {key_id(public)}, not in the pinned "
            f"sponsor key {key_id(sponsor)}",
        )
    if str(event.ledger_id) != ledger_id:
        raise FollowAlarm(
            1, f"TrialCreated names ledger {event.ledger_id}, the server ledger {ledger_id}"
        )
    return event


def check_signed(note: str, cp: Checkpoint, genesis: TrialCreated) -> None:
    """The note's signature under the ledger key the genesis names."""
    origin = checkpoint_origin(str(genesis.ledger_id))
    try:
        verify_checkpoint(note, origin, base64.b64decode(genesis.ledger_public_key))
    except LedgerError as e:
        raise FollowAlarm(
            cp.tree_size,
            f"the server's checkpoint of tree size {cp.tree_size:,} is not signed by the "
            f"ledger key {genesis.ledger_key_id} (origin {origin}): {e}",
        ) from None
    if cp.origin != origin:
        raise FollowAlarm(cp.tree_size, f"the checkpoint's origin is {cp.origin!r}, not {origin!r}")


def check_consistent(client: LogClient, held: Held, cp: Checkpoint) -> None:
    """The server's tree at the new size extends the mirror's verified tree (RFC 9162)."""
    root1, root2, proof = client.consistency(held.size, cp.tree_size)
    if root1 != held.root:
        raise FollowAlarm(
            held.size,
            f"fork at tree size {held.size:,}: the server's tree there has root {b64(root1)}, "
            f"the mirror verified root {b64(held.root)}",
        )
    if root2 != cp.root:
        raise FollowAlarm(
            cp.tree_size,
            f"the server's consistency proof ends at root {b64(root2)}, its checkpoint of "
            f"tree size {cp.tree_size:,} signs {b64(cp.root)}",
        )
    try:
        merkle.verify_consistency(held.size, cp.tree_size, proof, held.root, cp.root)
    except LedgerError as e:
        raise FollowAlarm(
            held.size,
            f"the server's checkpoint of tree size {cp.tree_size:,} does not extend the "
            f"mirror's verified tree of size {held.size:,} ({e})",
        ) from None


def check_included(client: LogClient, position: int, leaf: bytes, cp: Checkpoint) -> None:
    """The server's inclusion proof of the verified leaf at ``position`` under the new root."""
    served_leaf, root, proof = client.inclusion(position, cp.tree_size)
    if served_leaf != leaf or root != cp.root:
        raise FollowAlarm(
            position,
            f"the server's inclusion proof of position {position:,} names leaf "
            f"{served_leaf.hex()} under root {b64(root)}; the verified leaf is {leaf.hex()} "
            f"under root {b64(cp.root)}",
        )
    try:
        merkle.verify_inclusion(leaf, position - 1, cp.tree_size, proof, cp.root)
    except LedgerError as e:
        raise FollowAlarm(position, f"the server's inclusion proof does not verify ({e})") from None


def as_tuple(row: EventRow) -> EventTuple:
    """A stored event as the server serves it (:data:`~ledger.remote.wire.EventTuple`)."""
    return (
        row.position,
        row.originator_id,
        row.originator_version,
        row.topic,
        row.state,
        row.leaf_hash,
        row.commit_seq,
    )


def differing_columns(served: EventTuple, held: tuple[object, ...]) -> str:
    """Which stored columns of a held event the server now serves otherwise."""
    names = (
        "position",
        "originator_id",
        "originator_version",
        "topic",
        "state",
        "leaf_hash",
        "commit",
    )
    differ = [name for name, a, b in zip(names, served, held, strict=True) if a != b]
    return ", ".join(differ)


def frontier_json(frontier: merkle.MerkleFrontier) -> str:
    return json.dumps(frontier.to_json())
