"""The key and site registry re-proved without a whole pass, each of its events with its
commit, and :class:`CommitProver`, which re-proves on demand what a command shows."""

from __future__ import annotations

from ledger.errors import LedgerError, VerificationError
from ledger.events import decode_event, trial_stream_id
from ledger.registry import KeyRegistry
from ledger.verify.commit_proof import prove_commit_of
from ledger.verify.log_pass import LogPass
from ledger.verify.report import MALFORMED, Stop
from ledger.verify.source import TRIAL_ID, LedgerSource


def prove_registry_before(passing: LogPass, start: int, proved: set[int]) -> None:
    """The key registry as of ``start``, each of its events re-proved with its commit: a
    segment verification builds on the registry, so it must not take it from the file."""
    for row in passing.source.stream_rows(trial_stream_id(TRIAL_ID).hex):
        if row.position >= start:
            break
        prove_commit_of(passing.source, row.position, passing.registry, proved)
        try:
            event = decode_event(row.topic, row.state, row.originator_id, row.originator_version)
        except (LedgerError, ValueError) as e:
            raise Stop(row.position, f"registry event does not decode: {e}") from None
        passing.registry.apply(event, row.position)


def proved_registry(source: LedgerSource) -> KeyRegistry:
    """The key and site registry as it stands, each of its events re-proved with its whole
    commit (leaves from the stored columns, root, signature under the registry before it,
    rooted in TrialCreated): what writers authorise against and what `keys list` shows."""
    passing = LogPass(source=source, sponsor_public=None, progress=None, track_tree=False)
    try:
        prove_registry_before(passing, 2**62, set())
    except Stop as stop:
        raise VerificationError(
            f"the key registry fails its re-proof at position {stop.failure.position}: "
            f"{stop.failure.reason} (run `trial-ledger verify`)"
        ) from None
    except MALFORMED as e:
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
            prove_commit_of(self.source, position, self.registry, self._proved)
        except Stop as stop:
            raise VerificationError(
                f"position {stop.failure.position}: {stop.failure.reason}; refusing to show "
                "an altered record (run `trial-ledger verify`)"
            ) from None
        except MALFORMED as e:
            raise VerificationError(
                f"position {position}: the stored record is malformed ({e}); refusing to show it"
            ) from None
