"""The Study element: global variables, measurement units and the metadata version."""

from __future__ import annotations

from lxml import etree  # type: ignore[import-untyped]  # no stubs; pyproject lists none

from ledger.events.subject import ANALYTE_UNITS
from projections.exports.odm.dialect import Dialect
from projections.exports.odm.metadata import (
    CODELISTS,
    KINDS,
    MDV_OID,
    STUDY_EVENTS,
    STUDY_OID,
    UNITS,
    Group,
    Item,
    Kind,
    StudyEvent,
    all_groups,
    forms_of,
)

PROTOCOL_NAME = "MC0282"
LAB_UNITS = tuple(UNITS[u] for u in dict.fromkeys(ANALYTE_UNITS.values()) if u in UNITS)
UNIT_SYMBOLS = {oid: symbol for symbol, oid in UNITS.items()}


def study_element(d: Dialect, title: str) -> etree._Element:
    mdv = _metadata_version(d)
    if d.v2:
        return d.el(
            "Study",
            {"OID": STUDY_OID, "StudyName": STUDY_OID, "ProtocolName": PROTOCOL_NAME},
            d.translated("Description", title),
            mdv,
        )
    units = [
        d.el("MeasurementUnit", {"OID": oid, "Name": symbol}, d.translated("Symbol", symbol))
        for symbol, oid in UNITS.items()
    ]
    return d.el(
        "Study",
        {"OID": STUDY_OID},
        d.el(
            "GlobalVariables",
            None,
            d.el("StudyName", text=STUDY_OID),
            d.el("StudyDescription", text=title),
            d.el("ProtocolName", text=PROTOCOL_NAME),
        ),
        d.el("BasicDefinitions", None, *units),
        mdv,
    )


def _metadata_version(d: Dialect) -> etree._Element:
    mdv = d.el(
        "MetaDataVersion",
        {"OID": MDV_OID, "Name": "NCT00635154 ledger events, version 1"},
    )
    mdv.append(_protocol(d))
    if d.v2:
        refs = [_ref(d, "StudyEventRef", "StudyEventOID", e.oid, n) for n, e in _numbered()]
        mdv.append(d.el("StudyEventGroupDef", {"OID": "SEG.ALL", "Name": "All events"}, *refs))
    for event in STUDY_EVENTS:
        forms = forms_of(event.oid)
        tag, attr = ("ItemGroupRef", "ItemGroupOID") if d.v2 else ("FormRef", "FormOID")
        refs = [
            _ref(d, tag, attr, k.group.oid if d.v2 else k.form_oid, n, "No")
            for n, k in enumerate(forms, 1)
        ]
        attrib = {
            "OID": event.oid,
            "Name": event.name,
            "Repeating": _yes(event.repeating),
            "Type": event.kind,
        }
        mdv.append(d.el("StudyEventDef", attrib, *refs))
    if not d.v2:
        mdv.extend(_form_def(d, kind) for kind in KINDS)
    mdv.extend(_group_def(d, group, _form_kind(group)) for group in all_groups())
    mdv.extend(_item_def(d, item) for group in all_groups() for item in group.items)
    mdv.extend(_codelist(d, oid, values) for oid, values in CODELISTS.items())
    return mdv


def _numbered() -> list[tuple[int, StudyEvent]]:
    return list(enumerate(STUDY_EVENTS, 1))


def _protocol(d: Dialect) -> etree._Element:
    description = d.translated(
        "Description", "Events of the signed ledger, by kind, in the order they were recorded."
    )
    if d.v2:
        ref = d.el("StudyEventGroupRef", {"StudyEventGroupOID": "SEG.ALL", "Mandatory": "Yes"})
        return d.el("Protocol", None, description, ref)
    refs = [
        _ref(d, "StudyEventRef", "StudyEventOID", event.oid, n, "Yes" if n == 1 else "No")
        for n, event in enumerate(STUDY_EVENTS, 1)
    ]
    return d.el("Protocol", None, description, *refs)


def _ref(
    d: Dialect, tag: str, attr: str, oid: str, order: int, mandatory: str = "No"
) -> etree._Element:
    return d.el(tag, {attr: oid, "OrderNumber": str(order), "Mandatory": mandatory})


def _yes(flag: bool) -> str:
    return "Yes" if flag else "No"


def _form_kind(group: Group) -> Kind | None:
    return next((kind for kind in KINDS if kind.group is group), None)


def _form_def(d: Dialect, kind: Kind) -> etree._Element:
    refs = [_ref(d, "ItemGroupRef", "ItemGroupOID", kind.group.oid, 1, "Yes")]
    refs += [
        _ref(d, "ItemGroupRef", "ItemGroupOID", child.oid, n, "No")
        for n, child in enumerate(kind.group.children, 2)
    ]
    attrib = {"OID": kind.form_oid, "Name": kind.name, "Repeating": _yes(kind.form_repeating)}
    return d.el("FormDef", attrib, d.translated("Description", _describe(kind)), *refs)


def _describe(kind: Kind) -> str:
    doc = (kind.model.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(doc.split()) or f"{kind.name} ({kind.model.TOPIC})"


def _group_def(d: Dialect, group: Group, kind: Kind | None) -> etree._Element:
    refs = [
        _ref(d, "ItemRef", "ItemOID", item.oid, n, "Yes" if item.path == "effective_date" else "No")
        for n, item in enumerate(group.items, 1)
    ]
    if d.v2 and kind is not None:
        refs += [
            _ref(d, "ItemGroupRef", "ItemGroupOID", child.oid, n, "No")
            for n, child in enumerate(group.children, len(refs) + 1)
        ]
    repeating = kind.form_repeating if kind is not None else group.repeating
    attrib: dict[str, str | None] = {"OID": group.oid, "Name": group.name}
    if d.v2:
        attrib["Repeating"] = "Simple" if repeating else "No"
        attrib["Type"] = "Form" if kind is not None else "Section"
    else:
        attrib["Repeating"] = _yes(group.repeating)
    description = d.translated("Description", _describe(kind)) if kind is not None else None
    return d.el("ItemGroupDef", attrib, description, *refs)


def _item_def(d: Dialect, item: Item) -> etree._Element:
    data_type = item.data_type_2 if d.v2 else item.data_type
    units = LAB_UNITS if item.oid == "IT.LAB.value" else ((item.unit,) if item.unit else ())
    children: list[etree._Element | None] = [
        d.translated("Description", item.path),
        d.translated("Question", item.path.replace("_", " ").replace(".", ": ")),
    ]
    codelist = d.el("CodeListRef", {"CodeListOID": item.codelist}) if item.codelist else None
    if d.v2:
        children.append(codelist)
        if units:
            symbols = " | ".join(UNIT_SYMBOLS[u] for u in units)
            children.append(d.el("Alias", {"Context": "MeasurementUnit", "Name": symbols}))
    else:
        children.extend(d.el("MeasurementUnitRef", {"MeasurementUnitOID": u}) for u in units)
        children.append(codelist)
    return d.el("ItemDef", {"OID": item.oid, "Name": item.path, "DataType": data_type}, *children)


def _codelist(d: Dialect, oid: str, values: tuple[str, ...]) -> etree._Element:
    items = [
        d.el("CodeListItem", {"CodedValue": value}, d.translated("Decode", value))
        for value in values
    ]
    return d.el("CodeList", {"OID": oid, "Name": oid[3:].lower(), "DataType": "text"}, *items)
