"""Ledger events as ODM transactions, one at a time, in position order.

* A subject event is an ``Insert`` of its study event, form and item group; its keys are its
  ledger position (:func:`keys_of`), so every later transaction names it again exactly.
* A correction is an ``Update`` of the one item it names (same keys), with the new value; a
  correction of ``record_status`` to ``entered-in-error`` is a ``Remove`` of the item group.
* A ``RecordSigned`` is, for each position it signs, a ``Context`` transaction of that event's
  item group carrying the Signature (its meaning) and an AuditRecord naming the signing
  position and statement (ODM has no element for "signed later by someone else").

Every ItemData written carries its AuditRecord (signer's user and site, the commit's
``recorded_at``, the position as SourceID, and for a change its reason); every item group
carries the Signature of the commit that holds it. Registry events are AdminData, not here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ledger.events import ENTERED_IN_ERROR, RECORD_STATUS_FIELD, CorrectionRecorded, RecordSigned
from ledger.subject.corrections import as_text
from projections.exports.odm.admin import location_oid, signature_oid, user_oid
from projections.exports.odm.metadata import (
    KIND_INDEX,
    KINDS,
    KINDS_BY_TOPIC,
    Group,
    Kind,
    lab_unit,
)
from projections.exports.source import ExportSource, SignedEvent


@dataclass(frozen=True)
class Audit:
    user: str
    location: str
    stamp: str
    source_id: int
    reason: str | None = None


@dataclass(frozen=True)
class Sign:
    id: str
    """Unique in the file: ``SIG.<position>`` of the signed event, ``SIG.<position>.<target>``
    for a later signature of the event at ``target``."""
    user: str
    location: str
    meaning: str
    stamp: str


@dataclass(frozen=True)
class ItemValue:
    oid: str
    value: str | None
    unit: str | None = None


@dataclass
class GroupData:
    oid: str
    repeat_key: str | None
    items: list[ItemValue] = field(default_factory=list)


@dataclass
class Transaction:
    """One SubjectData: a change to one event's data (see the module docstring)."""

    subject: str
    site: str
    type: str
    kind: Kind
    position: int
    """The ledger position of the event whose data this is (its keys)."""
    audit: Audit
    signature: Sign
    groups: list[GroupData] = field(default_factory=list)
    """The event's item group first, then its repeating children (none for Remove/Context)."""

    @property
    def item_count(self) -> int:
        return sum(len(g.items) for g in self.groups)


def keys_of(kind: Kind, position: int) -> tuple[str | None, str | None]:
    """(StudyEventRepeatKey, FormRepeatKey) of the event recorded at ``position``."""
    key = str(position)
    return (key if kind.study_event_repeating else None, key if kind.form_repeating else None)


class Transactions:
    """Folds the verified events into transactions; remembers one byte per position."""

    def __init__(self, source: ExportSource) -> None:
        self.source = source
        self.kinds = bytearray(source.position + 1)
        self.corrected: dict[int, int] = {}

    def stream(self, progress: Any = None) -> Iterator[Transaction]:
        for done, signed in enumerate(self.source.events(), start=1):
            if progress is not None and done % 1000 == 0:
                progress(done)
            yield from self.of(signed)
        if progress is not None:
            progress(self.source.position)

    def of(self, signed: SignedEvent) -> Iterator[Transaction]:
        event = signed.event
        subject = signed.subject_id
        if subject is None:
            return
        site = location_oid(self.source.subjects.get(subject, ""))
        if isinstance(event, CorrectionRecorded):
            yield from self._correction(signed, event, subject, site)
        elif isinstance(event, RecordSigned):
            yield from self._signatures(signed, event, subject, site)
        elif event.TOPIC in KINDS_BY_TOPIC:
            kind = KINDS_BY_TOPIC[event.TOPIC]
            self.kinds[signed.position] = KIND_INDEX[kind.code]
            audit = self._audit(signed)
            yield Transaction(
                subject,
                site,
                "Insert",
                kind,
                signed.position,
                audit,
                self._sign(signed),
                _groups(kind, signed.position, event.payload()),
            )

    def _audit(self, signed: SignedEvent, reason: str | None = None) -> Audit:
        key = self.source.key(signed.commit.signer).key
        stamp = signed.commit.recorded_at
        return Audit(user_oid(key.key_id), location_oid(key.site), stamp, signed.position, reason)

    def _sign(
        self, signed: SignedEvent, meaning: str | None = None, target: int | None = None
    ) -> Sign:
        key = self.source.key(signed.commit.signer).key
        suffix = "" if target is None else f".{target}"
        return Sign(
            f"SIG.{signed.position}{suffix}",
            user_oid(key.key_id),
            location_oid(key.site),
            signature_oid(meaning or signed.commit.meaning),
            signed.commit.recorded_at,
        )

    def _correction(
        self, signed: SignedEvent, c: CorrectionRecorded, subject: str, site: str
    ) -> Iterator[Transaction]:
        kind = KINDS_BY_TOPIC.get(c.corrected_topic)
        if kind is None:
            return
        self.corrected[signed.position] = c.corrects_position
        audit = self._audit(signed, c.reason)
        sign = self._sign(signed)
        if c.field == RECORD_STATUS_FIELD and c.new_value == ENTERED_IN_ERROR:
            yield Transaction(subject, site, "Remove", kind, c.corrects_position, audit, sign)
            return
        value = c.new_value if c.new_value != "" else None
        unit = kind.item(c.field)
        item = ItemValue(f"IT.{kind.code}.{c.field}", value, unit.unit if unit else None)
        group = GroupData(kind.group.oid, _main_key(kind, c.corrects_position), [item])
        yield Transaction(subject, site, "Update", kind, c.corrects_position, audit, sign, [group])

    def _signatures(
        self, signed: SignedEvent, s: RecordSigned, subject: str, site: str
    ) -> Iterator[Transaction]:
        audit = self._audit(signed, s.statement)
        for position in s.positions:
            target = self.corrected.get(position, position)
            index = self.kinds[target] if 0 < target < len(self.kinds) else 0
            if index:
                kind = KINDS[index - 1]
                sign = self._sign(signed, s.meaning, position)
                yield Transaction(subject, site, "Context", kind, target, audit, sign)


def _text(value: Any) -> str | None:
    return None if value is None else as_text(value)


def _main_key(kind: Kind, position: int) -> str | None:
    """ODM 2.0 has no FormData: the event's group takes the form's repeat key."""
    return str(position) if kind.form_repeating else None


def _leaves(payload: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, value in payload.items():
        if isinstance(value, dict) and not (prefix == "" and name in ("inputs", "values_used")):
            yield from _leaves(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value


def _groups(kind: Kind, position: int, payload: dict[str, Any]) -> list[GroupData]:
    payload = {k: v for k, v in payload.items() if k != "subject_id"}
    main = GroupData(kind.group.oid, _main_key(kind, position))
    children = {child.path_root: child for child in _child_views(kind.group)}
    rows: list[GroupData] = []
    for path, value in _leaves(payload):
        if path in children:
            rows.extend(children[path].rows(value))
        elif value is not None:
            item = kind.item(path)
            unit = item.unit if item else None
            if kind.code == "LAB" and path == "value":
                unit = lab_unit(str(payload.get("analyte", "")))
            main.items.append(ItemValue(f"IT.{kind.code}.{path}", as_text(value), unit))
    return [main, *rows]


@dataclass(frozen=True)
class _ChildView:
    group: Group
    path_root: str

    def rows(self, value: Any) -> list[GroupData]:
        prefix = self.group.oid.replace("IG.", "IT.", 1)
        if isinstance(value, dict):
            pairs = [(str(k), v) for k, v in value.items()]
            return [
                GroupData(
                    self.group.oid,
                    str(n),
                    [ItemValue(f"{prefix}.name", name), ItemValue(f"{prefix}.value", _text(v))],
                )
                for n, (name, v) in enumerate(pairs, 1)
            ]
        return [
            GroupData(
                self.group.oid,
                str(n),
                [
                    ItemValue(f"{prefix}.{k}", as_text(v))
                    for k, v in element.items()
                    if v is not None
                ],
            )
            for n, element in enumerate(value or (), 1)
        ]


def _child_views(group: Group) -> list[_ChildView]:
    return [_ChildView(child, child.name) for child in group.children]
