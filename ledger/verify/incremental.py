"""Incremental verification: resuming a pass from the state this verifier wrote itself
(``ledger.verifier_state``) after an earlier successful pass, and saving that state."""

from __future__ import annotations

from pathlib import Path

from ledger.chain import ZERO_HASH, EventRow, row_leaf
from ledger.errors import UsageError
from ledger.events import decode_event
from ledger.integrity import merkle
from ledger.integrity.signing import key_id
from ledger.verifier_state import VerifierState, load_state, save_state
from ledger.verify.checkpoints import ledger_ids
from ledger.verify.log_pass import LogPass
from ledger.verify.report import Stop
from ledger.verify.source import LedgerSource


def usable_state(
    source: LedgerSource, state_dir: Path, sponsor_public: bytes | None
) -> VerifierState | None:
    state = load_state(state_dir)
    if state is None:
        return None
    first = source.event_at(1)
    same_genesis = first is not None and first.leaf_hash == state.genesis_leaf
    if state.ledger_id not in ledger_ids(source) and not same_genesis:
        raise UsageError(
            f"--state {state_dir}: the state is of ledger {state.ledger_id}, not of this one; "
            "give each ledger its own state folder"
        )
    if sponsor_public is not None and state.sponsor_key_id != key_id(sponsor_public):
        return None  # proved without this trust anchor: prove again from position 1
    return state


def resume(passing: LogPass, state: VerifierState) -> tuple[int, bytes, str, int]:
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
        raise Stop(
            1,
            f"the ledger file names ledger id {source.meta('ledger_id') or '(none)'}, but this "
            "verifier "
            f"proved ledger {state.ledger_id} here: its ledger_meta was altered",
        )
    genesis = source.event_at(1)
    if genesis is None or _recomputed_leaf(genesis, ZERO_HASH) != state.genesis_leaf:
        raise Stop(
            1, "position 1 is not the event this verifier proved there: history was replaced"
        )
    at = source.event_at(state.size)
    before = source.event_at(state.size - 1) if state.size > 1 else None
    link = before.leaf_hash if before is not None else ZERO_HASH
    if at is None or _recomputed_leaf(at, link) != state.leaf:
        raise Stop(
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


def save(
    passing: LogPass,
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
