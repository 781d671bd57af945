"""One transaction as its SubjectData element, in either ODM version."""

from __future__ import annotations

from lxml import etree  # type: ignore[import-untyped]  # no stubs; pyproject lists none

from projections.exports.odm.clinical import Audit, GroupData, ItemValue, Sign, Transaction, keys_of
from projections.exports.odm.dialect import Dialect


def audit_element(d: Dialect, audit: Audit) -> etree._Element:
    return d.el(
        "AuditRecord",
        None,
        d.el("UserRef", {"UserOID": audit.user}),
        d.el("LocationRef", {"LocationOID": audit.location}),
        d.el("DateTimeStamp", text=audit.stamp),
        d.el("ReasonForChange", text=audit.reason) if audit.reason is not None else None,
        d.el("SourceID", text=str(audit.source_id)),
    )


def signature_element(d: Dialect, sign: Sign) -> etree._Element:
    return d.el(
        "Signature",
        {"ID": sign.id},
        d.el("UserRef", {"UserOID": sign.user}),
        d.el("LocationRef", {"LocationOID": sign.location}),
        d.el("SignatureRef", {"SignatureOID": sign.meaning}),
        d.el("DateTimeStamp", text=sign.stamp),
    )


def _item(d: Dialect, txn: Transaction, item: ItemValue) -> etree._Element:
    attrib: dict[str, str | None] = {
        "ItemOID": item.oid,
        "TransactionType": txn.type,
        "IsNull": "Yes" if item.value is None else None,
    }
    audit = audit_element(d, txn.audit)
    if d.v2:
        value = d.el("Value", text=item.value) if item.value is not None else None
        return d.el("ItemData", attrib, value, audit)
    attrib["Value"] = item.value
    unit = d.el("MeasurementUnitRef", {"MeasurementUnitOID": item.unit}) if item.unit else None
    return d.el("ItemData", attrib, audit, unit)


def _group(
    d: Dialect, txn: Transaction, group: GroupData, main: bool, nested: list[etree._Element]
) -> etree._Element:
    element = d.el(
        "ItemGroupData",
        {
            "ItemGroupOID": group.oid,
            "ItemGroupRepeatKey": group.repeat_key,
            "TransactionType": txn.type,
        },
    )
    # Audit on the group when it holds no items of its own (Remove, Context).
    audit = audit_element(d, txn.audit) if main and not group.items else None
    signature = signature_element(d, txn.signature) if main else None
    items = [_item(d, txn, item) for item in group.items]
    ordered = [*items, *nested, audit, signature] if d.v2 else [audit, signature, *items]
    for child in ordered:
        if child is not None:
            element.append(child)
    return element


def subject_element(d: Dialect, txn: Transaction) -> etree._Element:
    """The SubjectData of one transaction (keys from the event's position)."""
    kind = txn.kind
    event_key, form_key = keys_of(kind, txn.position)
    groups = txn.groups or [GroupData(kind.group.oid, form_key if d.v2 else None)]
    main, children = groups[0], groups[1:]
    if d.v2:
        main_group = _group(d, txn, main, True, [_group(d, txn, g, False, []) for g in children])
        holder = [main_group]
    else:
        main = GroupData(main.oid, None, main.items)
        form = d.el(
            "FormData",
            {"FormOID": kind.form_oid, "FormRepeatKey": form_key, "TransactionType": txn.type},
            _group(d, txn, main, True, []),
            *(_group(d, txn, g, False, []) for g in children),
        )
        holder = [form]
    event = d.el(
        "StudyEventData",
        {
            "StudyEventOID": kind.study_event,
            "StudyEventRepeatKey": event_key,
            "TransactionType": txn.type,
        },
        *holder,
    )
    return d.el(
        "SubjectData",
        {"SubjectKey": txn.subject, "TransactionType": txn.type},
        d.el("SiteRef", {"LocationOID": txn.site}),
        event,
    )
