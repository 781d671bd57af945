"""Reading an ODM file written here back into values: its transactions replayed, streamed.

:func:`replay` needs nothing of the ledger: it reads the XML (either version) one SubjectData at
a time and applies each transaction in file order, as a receiving EDC system would. An
``Insert`` sets the item values of a record, an ``Update`` replaces the items it carries, a
``Remove`` takes the record out (kept in :attr:`Replay.removed`), a ``Context`` changes nothing
but carries a signature. A record is named by its study event, form and repeat keys
(:class:`RecordKey`): for the files written here the repeat key is the ledger position of the
event. What comes out is the data as it stands after every correction, and every ItemData's
audit record, so a test can set both against the ledger's own projections.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree  # type: ignore[import-untyped]  # no stubs; pyproject lists none


@dataclass(frozen=True, order=True)
class RecordKey:
    """One event's data: ``(StudyEventOID, StudyEventRepeatKey, FormOID, FormRepeatKey)``;
    for ODM 2.0 the form is the event's top item group."""

    study_event: str
    event_key: str | None
    form: str
    form_key: str | None

    @property
    def position(self) -> int | None:
        """The ledger position the keys name (``None`` for a non-repeating event)."""
        key = self.event_key or self.form_key
        return int(key) if key is not None and key.isdigit() else None


@dataclass(frozen=True)
class AuditEntry:
    """The AuditRecord of one ItemData (or of an item group that carries no items)."""

    subject: str
    record: RecordKey
    item: str | None
    value: str | None
    transaction: str
    user: str
    location: str
    stamp: str
    reason: str | None
    source_id: str | None


@dataclass
class Replay:
    """The values after every transaction; see the module docstring."""

    version: str = ""
    file_type: str = ""
    values: dict[str, dict[RecordKey, dict[str, str | None]]] = field(default_factory=dict)
    """subject -> record -> ItemOID (``IG.X[2]/IT.Y`` inside a repeating child group) -> value"""
    removed: dict[str, set[RecordKey]] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    transactions: Counter[str] = field(default_factory=Counter)
    signatures: int = 0

    def records(self, subject: str, study_event: str) -> dict[RecordKey, dict[str, str | None]]:
        """The subject's standing records of one study event kind."""
        found = self.values.get(subject, {})
        return {k: v for k, v in found.items() if k.study_event == study_event}


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _children(element: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in element if _local(c.tag) == name]


def _text(element: etree._Element, name: str) -> str | None:
    found = _children(element, name)
    return found[0].text if found else None


def _ref(element: etree._Element, name: str, attribute: str) -> str:
    found = _children(element, name)
    return found[0].get(attribute, "") if found else ""


def replay(path: Path) -> Replay:
    """Replay the ODM file at ``path``; see the module docstring."""
    result = Replay()
    for event, element in etree.iterparse(str(path), events=("start", "end"), huge_tree=True):
        name = _local(element.tag)
        if event == "start":
            if name == "ODM":
                result.version = element.get("ODMVersion", "")
                result.file_type = element.get("FileType", "")
            continue
        if name == "SubjectData":
            _subject(result, element)
            element.clear(keep_tail=False)
            while element.getprevious() is not None:
                del element.getparent()[0]
    return result


def _subject(result: Replay, subject: etree._Element) -> None:
    key = subject.get("SubjectKey", "")
    for event in _children(subject, "StudyEventData"):
        forms = _children(event, "FormData")
        if forms:  # ODM 1.3.2
            for form in forms:
                record = RecordKey(
                    event.get("StudyEventOID", ""),
                    event.get("StudyEventRepeatKey"),
                    form.get("FormOID", ""),
                    form.get("FormRepeatKey"),
                )
                _record(result, key, record, _children(form, "ItemGroupData"))
        for group in _children(event, "ItemGroupData"):  # ODM 2.0: the form is a group
            record = RecordKey(
                event.get("StudyEventOID", ""),
                event.get("StudyEventRepeatKey"),
                group.get("ItemGroupOID", ""),
                group.get("ItemGroupRepeatKey"),
            )
            nested = _children(group, "ItemGroupData")
            _record(result, key, record, [group, *nested], v2=True)


def _record(
    result: Replay,
    subject: str,
    record: RecordKey,
    groups: list[etree._Element],
    v2: bool = False,
) -> None:
    main = groups[0]
    kind = main.get("TransactionType", "")
    result.transactions[kind] += 1
    result.signatures += sum(len(_children(g, "Signature")) for g in groups)
    values = result.values.setdefault(subject, {})
    if kind == "Remove":
        values.pop(record, None)
        result.removed.setdefault(subject, set()).add(record)
    elif kind in ("Insert", "Update"):
        standing = values.setdefault(record, {})
        for index, group in enumerate(groups):
            prefix = "" if index == 0 else _child_prefix(group)
            for item in _children(group, "ItemData"):
                value = _value(item, v2)
                standing[prefix + item.get("ItemOID", "")] = value
                _audit(result, subject, record, item, prefix + item.get("ItemOID", ""), value)
    for group in groups[:1]:
        if not _children(group, "ItemData"):
            _audit(result, subject, record, group, None, None)


def _child_prefix(group: etree._Element) -> str:
    return f"{group.get('ItemGroupOID', '')}[{group.get('ItemGroupRepeatKey', '')}]/"


def _value(item: etree._Element, v2: bool) -> str | None:
    if item.get("IsNull") == "Yes":
        return None
    return _text(item, "Value") if v2 else item.get("Value")


def _audit(
    result: Replay,
    subject: str,
    record: RecordKey,
    holder: etree._Element,
    item: str | None,
    value: str | None,
) -> None:
    for audit in _children(holder, "AuditRecord"):
        result.audit.append(
            AuditEntry(
                subject,
                record,
                item,
                value,
                holder.get("TransactionType", ""),
                _ref(audit, "UserRef", "UserOID"),
                _ref(audit, "LocationRef", "LocationOID"),
                _text(audit, "DateTimeStamp") or "",
                _text(audit, "ReasonForChange"),
                _text(audit, "SourceID"),
            )
        )
