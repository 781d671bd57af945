"""What the inspection report lists, gathered in one pass over the verified ledger.

:func:`gather` streams :meth:`ExportSource.events` once and keeps, per signed commit, one row of
its signature manifestation (21 CFR 11.50: printed name, date and time, meaning), every
``RecordSigned`` (review, approval, responsibility over earlier positions), every
``CorrectionRecorded`` (11.10(e): old and new value, reason, who, when; a void is a correction
of ``record_status`` to ``entered-in-error``), and the dates of the registry's events, for the
key table (who held which role, from when until when).

The rows are held in memory: one per commit plus one per correction and review signature
(the demo ledger: about 2,000 rows). A ledger of millions of commits would need the manifest
written out as it streams instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from ledger.chain import CommitHeader
from ledger.events import CorrectionRecorded, RecordSigned, event_name
from ledger.events.subject import ENTERED_IN_ERROR, RECORD_STATUS_FIELD
from projections.exports.source import ExportSource, SignedEvent

TRIAL_GROUP = "trial registry"
"""The group of commits that name no subject (the registry: trial, sites, keys)."""
SEVERAL_GROUP = "several subjects"
"""The group of commits that hold events of more than one subject (an import, for example);
each row names how many subjects and the first and last of them."""


def shown_time(recorded_at: str) -> str:
    """``2026-12-03T05:44:31.981588Z`` as ``2026-12-03 05:44:31 UTC`` (to the second)."""
    return f"{recorded_at[:10]} {recorded_at[11:19]} UTC"


@dataclass(frozen=True)
class Signer:
    key_id: str
    printed_name: str
    role: str
    site: str


@dataclass(frozen=True)
class ManifestRow:
    """The signature manifestation of one signed commit."""

    seq: int
    first_position: int
    last_position: int
    events: int
    kinds: str
    signer: Signer
    signed_at: str
    meaning: str


@dataclass
class ManifestGroup:
    """The commits of one subject (or of the trial registry), in position order."""

    label: str
    site: str
    rows: list[ManifestRow] = field(default_factory=list)

    def meanings(self) -> str:
        counts = Counter(row.meaning for row in self.rows)
        return ", ".join(f"{meaning} {n}" for meaning, n in sorted(counts.items()))

    def signers(self) -> str:
        return ", ".join(sorted({row.signer.printed_name for row in self.rows}))

    @property
    def first_signed(self) -> str:
        return self.rows[0].signed_at

    @property
    def last_signed(self) -> str:
        return self.rows[-1].signed_at


@dataclass(frozen=True)
class ReviewRow:
    """A ``RecordSigned``: a review, approval or responsibility signature over positions."""

    position: int
    subject_id: str
    meaning: str
    positions: str
    statement: str
    clinical_date: str
    signer: Signer
    signed_at: str


@dataclass(frozen=True)
class CorrectionRow:
    position: int
    subject_id: str
    corrects_position: int
    corrected_kind: str
    field: str
    old_value: str
    new_value: str
    reason: str
    clinical_date: str
    signer: Signer
    signed_at: str

    @property
    def is_void(self) -> bool:
        """The corrected event was marked entered in error (it counts as not recorded)."""
        return self.field == RECORD_STATUS_FIELD and self.new_value == ENTERED_IN_ERROR


@dataclass(frozen=True)
class RegistryDate:
    """When a registry event was recorded (signed) and the date it takes effect."""

    signed_at: str
    effective_date: date | None


@dataclass
class Gathered:
    groups: list[ManifestGroup]
    reviews: list[ReviewRow]
    corrections: list[CorrectionRow]
    registry_dates: dict[int, RegistryDate]
    commits: int = 0

    @property
    def voids(self) -> list[CorrectionRow]:
        return [row for row in self.corrections if row.is_void]


@dataclass
class _Pending:
    """The commit being read: its header, the subjects and event kinds seen in it."""

    commit: CommitHeader
    subjects: list[str] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)


class _Gatherer:
    def __init__(self, source: ExportSource) -> None:
        self.source = source
        self.groups: dict[str, ManifestGroup] = {}
        self.signers: dict[str, Signer] = {}
        self.result = Gathered([], [], [], {})
        self.pending: _Pending | None = None

    def signer(self, key_id: str) -> Signer:
        if key_id not in self.signers:
            key = self.source.key(key_id).key
            self.signers[key_id] = Signer(key_id, key.printed_name, key.role, key.site)
        return self.signers[key_id]

    def add(self, item: SignedEvent) -> None:
        if self.pending is None or self.pending.commit.seq != item.commit.seq:
            self.close()
            self.pending = _Pending(item.commit)
        subject = item.subject_id
        if subject is not None and subject not in self.pending.subjects:
            self.pending.subjects.append(subject)
        self.pending.kinds[item.name] += 1
        event, commit = item.event, item.commit
        if subject is None:
            effective = getattr(event, "effective_date", None)
            self.result.registry_dates[item.position] = RegistryDate(commit.recorded_at, effective)
        elif isinstance(event, CorrectionRecorded):
            self.result.corrections.append(
                CorrectionRow(
                    item.position, subject, event.corrects_position,
                    event_name(event.corrected_topic), event.field, event.old_value,
                    event.new_value, event.reason, event.effective_date.isoformat(),
                    self.signer(commit.signer), shown_time(commit.recorded_at),
                )
            )  # fmt: skip
        elif isinstance(event, RecordSigned):
            self.result.reviews.append(
                ReviewRow(
                    item.position, subject, event.meaning,
                    ", ".join(str(p) for p in event.positions), event.statement,
                    event.effective_date.isoformat(), self.signer(commit.signer),
                    shown_time(commit.recorded_at),
                )
            )  # fmt: skip

    def close(self) -> None:
        pending = self.pending
        if pending is None:
            return
        commit = pending.commit
        subjects = pending.subjects
        label = SEVERAL_GROUP if len(subjects) > 1 else subjects[0] if subjects else TRIAL_GROUP
        group = self.groups.get(label)
        if group is None:
            site = self.source.subjects.get(subjects[0], "?") if len(subjects) == 1 else "*"
            group = self.groups[label] = ManifestGroup(label, site)
        kinds = ", ".join(
            name if n == 1 else f"{name} \u00d7{n}" for name, n in pending.kinds.items()
        )
        if len(subjects) > 1:
            kinds += f" ({len(subjects)} subjects, {min(subjects)} to {max(subjects)})"
        group.rows.append(
            ManifestRow(
                commit.seq, commit.first_position, commit.last_position,
                sum(pending.kinds.values()), kinds, self.signer(commit.signer),
                shown_time(commit.recorded_at), commit.meaning,
            )
        )  # fmt: skip
        self.result.commits += 1
        self.pending = None


def gather(source: ExportSource, progress: Callable[[int], None] | None = None) -> Gathered:
    """One pass over the verified events; ``progress`` gets the position reached."""
    gatherer = _Gatherer(source)
    step = max(source.position // 20, 1)
    for item in source.events():
        gatherer.add(item)
        if progress is not None and item.position % step == 0:
            progress(item.position)
    gatherer.close()
    if progress is not None:
        progress(source.position)
    trial = gatherer.groups.pop(TRIAL_GROUP, None)
    several = gatherer.groups.pop(SEVERAL_GROUP, None)
    ordered = [gatherer.groups[label] for label in sorted(gatherer.groups)]
    gatherer.result.groups = [g for g in (trial, *ordered, several) if g is not None]
    return gatherer.result
