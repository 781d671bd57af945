"""What every export reads: the ledger as one verified snapshot, never the views.

:func:`verified_source` opens the ledger in one read transaction, re-proves it from position 1
(optionally against a signed checkpoint and the sponsor's published key) and only then hands
out an :class:`ExportSource` over exactly the positions it proved. Appends made meanwhile are
not seen, and nothing is read from the projections' views: an export is derived from the signed
record alone, and names the position and root it was derived from (:meth:`provenance`).

Memory stays flat on any ledger size: :meth:`ExportSource.events` streams the events with their
commits in position order, and :meth:`ExportSource.histories` folds one subject at a time. The
one pass made on opening keeps only the registry (keys, sites) and the subjects' ids and sites.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ledger.chain import CommitHeader
from ledger.errors import VerificationError
from ledger.events import (
    SCREENING_TOPIC,
    SubjectEvent,
    decode_event,
    event_name,
    subject_stream_id,
    trial_stream_id,
)
from ledger.events.base import LedgerEvent
from ledger.registry import KeyRegistry, RegisteredKey
from ledger.store import LedgerReader
from ledger.store.location import StoreTarget
from ledger.subject.history import SubjectHistory
from ledger.verify import VerifyReport, verify_ledger
from ledger.verify.source import TRIAL_ID
from projections.objectives import trial_summary
from projections.subject import subject_entries


@dataclass(frozen=True)
class SignedEvent:
    """One event of the ledger with the signed commit that holds it."""

    position: int
    topic: str
    event: LedgerEvent
    commit: CommitHeader

    @property
    def name(self) -> str:
        """``DoseAdministered`` for ``trial.DoseAdministered.v1``."""
        return event_name(self.topic)

    @property
    def subject_id(self) -> str | None:
        return self.event.subject_id if isinstance(self.event, SubjectEvent) else None


@dataclass
class ExportSource:
    """A verified ledger up to :attr:`position`; see the module docstring."""

    reader: LedgerReader
    report: VerifyReport
    registry: KeyRegistry
    subjects: dict[str, str] = field(default_factory=dict)
    """Every screened subject id -> its site, in screening order."""
    checkpoint_matched: bool = False
    sponsor_key_checked: bool = False

    @property
    def position(self) -> int:
        """The last position proved (the tree size): every export shows the ledger up to it."""
        return self.report.tree_size

    @property
    def root_b64(self) -> str:
        """The RFC 9162 Merkle root at :attr:`position`, base64 as checkpoints print it."""
        return base64.b64encode(self.report.root).decode()

    @property
    def ledger_id(self) -> str:
        return self.reader.meta("ledger_id") or ""

    @cached_property
    def as_of(self) -> str:
        """When the ledger reached :attr:`position`: the recorded time (UTC) of the commit that
        holds it. Every time an export writes is this one, so one position gives one file."""
        commit = self.reader.commit_at(self.position) if self.position else None
        return commit.header.recorded_at if commit else "1970-01-01T00:00:00Z"

    def provenance(self) -> dict[str, Any]:
        """What an export names as its source: ``{"trial_id", "ledger_id", "position",
        "root", "commits", "checkpoints_checked", "against_checkpoint", "sponsor_key"}``."""
        return {
            "trial_id": TRIAL_ID,
            "ledger_id": self.ledger_id,
            "position": self.position,
            "root": self.root_b64,
            "commits": self.report.commits,
            "checkpoints_checked": self.report.checkpoints_checked,
            "against_checkpoint": self.checkpoint_matched,
            "sponsor_key": self.sponsor_key_checked,
        }

    def key(self, key_id: str) -> RegisteredKey:
        """The registered key (printed name, role, site, when it held them) of a signer."""
        return self.registry.keys[key_id]

    def events(self, start: int = 1) -> Iterator[SignedEvent]:
        """Every event from ``start`` to :attr:`position`, decoded, with its commit."""
        commits = self.reader.iter_commits()
        commit: CommitHeader | None = None
        for row in self.reader.iter_events(start, self.position):
            while commit is None or commit.last_position < row.position:
                commit = next(commits).header
            event = decode_event(row.topic, row.state, row.originator_id, row.originator_version)
            yield SignedEvent(row.position, row.topic, event, commit)

    def history(self, subject_id: str) -> SubjectHistory:
        """The subject's history as recorded up to :attr:`position` (corrections applied)."""
        entries = subject_entries(self.reader, subject_id, self.position, check_leaves=False)
        return SubjectHistory.fold(subject_id, entries)

    def histories(self) -> Iterator[SubjectHistory]:
        """Every subject's history, one at a time, in subject id order."""
        for subject_id in sorted(self.subjects):
            yield self.history(subject_id)

    def summary(self) -> dict[str, Any]:
        """``summary --json`` as of :attr:`position`, folded from the ledger."""
        return trial_summary(list(self.histories()), self.position)


@contextmanager
def verified_source(
    db: StoreTarget,
    *,
    against: str | None = None,
    sponsor_public: bytes | None = None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[ExportSource]:
    """Verify the ledger at ``db`` (see :func:`ledger.verify.verify_ledger`), then read it.

    Raises :class:`VerificationError` (exit 1) when it does not verify: nothing is exported
    from a ledger that was altered.
    """
    with LedgerReader(db) as reader:
        report = verify_ledger(
            reader, against=against, sponsor_public=sponsor_public, progress=progress
        )
        if not report.ok:
            failure = report.first_failure
            where = f" at position {failure.position}: {failure.reason}" if failure else ""
            raise VerificationError(f"the ledger does not verify{where}; nothing was exported")
        registry, subjects = _scan(reader, report.tree_size)
        yield ExportSource(
            reader,
            report,
            registry,
            subjects,
            checkpoint_matched=against is not None,
            sponsor_key_checked=sponsor_public is not None,
        )


def _scan(reader: LedgerReader, upto: int) -> tuple[KeyRegistry, dict[str, str]]:
    """One pass: the registry at ``upto`` and every screened subject's id and site."""
    trial_stream = trial_stream_id(TRIAL_ID).hex
    registry = KeyRegistry()
    subjects: dict[str, str] = {}
    for row in reader.iter_events(1, upto):
        if row.originator_id == trial_stream:
            event = decode_event(row.topic, row.state, row.originator_id, row.originator_version)
            registry.apply(event, row.position)
        elif row.topic == SCREENING_TOPIC:
            event = decode_event(row.topic, row.state, row.originator_id, row.originator_version)
            assert isinstance(event, SubjectEvent)
            if row.originator_id == subject_stream_id(event.subject_id).hex:
                subjects.setdefault(event.subject_id, getattr(event, "site", ""))
    return registry, subjects
