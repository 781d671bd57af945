"""What the ODM file declares: one form per subject event kind, one item per recorded fact.

The catalogue is read from the event models themselves (:mod:`ledger.events.subject`), so a
field added to an event is declared (and exported) without a change here. Each kind of subject
event is one :class:`Kind`: a study event (``SE.*``), a form (``F.*``, ODM 1.3.2 only) and an
item group (``IG.*``) whose items are the event's fields, nested models flattened with dotted
paths (``IT.DOSE.deviation.reason``: the very path a correction names). A tuple of models
(eligibility criteria) or a mapping (eligibility inputs, the values an assessment used) is a
repeating child group keyed by its index. Literal types become code lists.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal, Union

from pydantic import BaseModel

from ledger.events import (
    AdverseEventReported,
    AdverseEventResolved,
    ConsentObtained,
    DoseAdministered,
    DoseMissed,
    EligibilityAssessed,
    FollowUpVisit,
    LabResulted,
    ProgressionConfirmed,
    RegimenChanged,
    ResponseAssessed,
    SubjectDied,
    SubjectEnrolled,
    SubjectEvent,
    SubjectOffStudy,
    SubjectScreened,
    SubjectWithdrawn,
    subject,
)
from ledger.events.subject import ANALYTE_UNITS

STUDY_OID = "NCT00635154"
MDV_OID = "MDV.NCT00635154.1"
SKIPPED_FIELDS = frozenset({"originator_id", "originator_version", "subject_id"})

UNITS: dict[str, str] = {
    "g/dL": "MU.G_DL",
    "mg/24h": "MU.MG_24H",
    "%": "MU.PCT",
    "mg/L": "MU.MG_L",
    "/mm3": "MU.PER_MM3",
    "xULN": "MU.XULN",
    "mg": "MU.MG",
    "years": "MU.YEARS",
}
"""Every unit a recorded value is in, and its MeasurementUnit OID."""

FIELD_UNITS: dict[str, str] = {
    "age_years": "years",
    "dose": "mg",
    "serum_m_protein_g_dl": "g/dL",
    "urine_m_protein_mg_24h": "mg/24h",
    "marrow_plasma_cells_pct": "%",
    "hs_crp_mg_l": "mg/L",
}
"""Fields whose unit is fixed (by the last part of their path)."""


def lab_unit(analyte: str) -> str | None:
    """The MeasurementUnit OID of a lab value (none for the immunofixation flags)."""
    unit = ANALYTE_UNITS.get(analyte, "")
    return UNITS.get(unit)


@dataclass(frozen=True)
class StudyEvent:
    oid: str
    name: str
    repeating: bool
    kind: Literal["Scheduled", "Unscheduled", "Common"]


STUDY_EVENTS: tuple[StudyEvent, ...] = (
    StudyEvent("SE.SCREENING", "Screening", False, "Scheduled"),
    StudyEvent("SE.ENROLMENT", "Enrolment", False, "Scheduled"),
    StudyEvent("SE.TREATMENT", "Treatment (doses given and missed)", True, "Scheduled"),
    StudyEvent("SE.REGIMEN", "Regimen change", True, "Unscheduled"),
    StudyEvent("SE.LAB", "Laboratory result", True, "Scheduled"),
    StudyEvent("SE.RESPONSE", "Response assessment", True, "Scheduled"),
    StudyEvent("SE.PROGRESSION", "Progression confirmed", True, "Unscheduled"),
    StudyEvent("SE.AE", "Adverse event", True, "Common"),
    StudyEvent("SE.FOLLOW_UP", "Follow-up visit", True, "Scheduled"),
    StudyEvent("SE.END_OF_STUDY", "End of treatment and study", False, "Unscheduled"),
)


@dataclass(frozen=True)
class Item:
    oid: str
    path: str
    data_type: str
    """ODM 1.3.2 DataType; :attr:`data_type_2` for ODM 2.0."""
    codelist: str | None = None
    unit: str | None = None

    @property
    def data_type_2(self) -> str:
        return "decimal" if self.data_type == "float" else self.data_type


@dataclass(frozen=True)
class Group:
    oid: str
    name: str
    repeating: bool
    items: tuple[Item, ...]
    children: tuple[Group, ...] = ()


@dataclass(frozen=True)
class Kind:
    """One kind of subject event: where it sits (study event, form) and its item group."""

    code: str
    model: type[SubjectEvent]
    study_event: str
    form_repeating: bool
    group: Group

    @property
    def name(self) -> str:
        return self.model.__name__

    @property
    def form_oid(self) -> str:
        return f"F.{self.code}"

    @property
    def study_event_repeating(self) -> bool:
        return EVENTS_BY_OID[self.study_event].repeating

    def item(self, path: str) -> Item | None:
        return next((i for i in self.group.items if i.path == path), None)


CODELISTS: dict[str, tuple[str, ...]] = {}
"""Every code list (OID -> coded values), filled as the catalogue is read."""


def _unwrap(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return annotation


NAMED_VOCABULARIES: dict[tuple[str, ...], str] = {
    tuple(typing.get_args(vocabulary)): name
    for vocabulary, name in (
        (subject.Drug, "DRUG"),
        (subject.Route, "ROUTE"),
        (subject.Analyte, "ANALYTE"),
        (subject.ResponseCategory, "RESPONSE_CATEGORY"),
        (subject.RegimenName, "REGIMEN"),
        (subject.Attribution, "ATTRIBUTION"),
        (subject.Seriousness, "SERIOUSNESS"),
        (subject.ActionTaken, "ACTION_TAKEN"),
    )
}


def _codelist(values: tuple[str, ...], path: str) -> str:
    for oid, known in CODELISTS.items():
        if known == values:
            return oid
    name = NAMED_VOCABULARIES.get(values) or path.rsplit(".", maxsplit=1)[-1].upper()
    oid = f"CL.{name}"
    CODELISTS[oid] = values
    return oid


def _scalar(oid: str, path: str, annotation: Any) -> Item:
    unit = UNITS.get(FIELD_UNITS.get(path.rsplit(".", maxsplit=1)[-1], ""))
    if typing.get_origin(annotation) is Literal:
        values = tuple(str(v) for v in typing.get_args(annotation))
        return Item(oid, path, "text", codelist=_codelist(values, path), unit=unit)
    if annotation is bool:
        return Item(oid, path, "boolean")
    if annotation is int:
        return Item(oid, path, "integer", unit=unit)
    if annotation is Decimal:
        return Item(oid, path, "float", unit=unit)
    if annotation is date:
        return Item(oid, path, "date")
    return Item(oid, path, "text")


def _items(code: str, model: type[BaseModel], prefix: str = "") -> tuple[list[Item], list[Group]]:
    items: list[Item] = []
    children: list[Group] = []
    for name, info in model.model_fields.items():
        if not prefix and name in SKIPPED_FIELDS:
            continue
        path = f"{prefix}{name}"
        annotation = _unwrap(info.annotation)
        origin = typing.get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            nested, _ = _items(code, annotation, f"{path}.")
            items.extend(nested)
        elif origin is dict:
            key_item = Item(f"IT.{code}.{path}.name", f"{path}.name", "text")
            value_item = Item(f"IT.{code}.{path}.value", f"{path}.value", "text")
            children.append(Group(f"IG.{code}.{path}", path, True, (key_item, value_item)))
        elif origin is tuple and _is_model(typing.get_args(annotation)[0]):
            element: type[BaseModel] = typing.get_args(annotation)[0]
            nested, _ = _items(f"{code}.{path}", element)
            children.append(Group(f"IG.{code}.{path}", path, True, tuple(nested)))
        elif origin is tuple:
            element_type = typing.get_args(annotation)[0]
            if typing.get_origin(element_type) is Literal:
                _codelist(tuple(str(v) for v in typing.get_args(element_type)), path)
            items.append(Item(f"IT.{code}.{path}", path, "text"))
        else:
            items.append(_scalar(f"IT.{code}.{path}", path, annotation))
    return items, children


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _kind(code: str, model: type[SubjectEvent], study_event: str, repeating: bool) -> Kind:
    items, children = _items(code, model)
    group = Group(f"IG.{code}", model.__name__, False, tuple(items), tuple(children))
    return Kind(code, model, study_event, repeating, group)


KINDS: tuple[Kind, ...] = (
    _kind("SCREENING", SubjectScreened, "SE.SCREENING", False),
    _kind("CONSENT", ConsentObtained, "SE.SCREENING", True),
    _kind("ELIGIBILITY", EligibilityAssessed, "SE.SCREENING", True),
    _kind("ENROLMENT", SubjectEnrolled, "SE.ENROLMENT", False),
    _kind("DOSE", DoseAdministered, "SE.TREATMENT", False),
    _kind("DOSE_MISSED", DoseMissed, "SE.TREATMENT", False),
    _kind("REGIMEN", RegimenChanged, "SE.REGIMEN", False),
    _kind("LAB", LabResulted, "SE.LAB", False),
    _kind("RESPONSE", ResponseAssessed, "SE.RESPONSE", False),
    _kind("PROGRESSION", ProgressionConfirmed, "SE.PROGRESSION", False),
    _kind("AE", AdverseEventReported, "SE.AE", False),
    _kind("AE_RESOLVED", AdverseEventResolved, "SE.AE", False),
    _kind("FOLLOW_UP", FollowUpVisit, "SE.FOLLOW_UP", False),
    _kind("WITHDRAWAL", SubjectWithdrawn, "SE.END_OF_STUDY", True),
    _kind("OFF_STUDY", SubjectOffStudy, "SE.END_OF_STUDY", True),
    _kind("DEATH", SubjectDied, "SE.END_OF_STUDY", False),
)
EVENTS_BY_OID = {event.oid: event for event in STUDY_EVENTS}
KINDS_BY_TOPIC: dict[str, Kind] = {kind.model.TOPIC: kind for kind in KINDS}
KIND_INDEX: dict[str, int] = {kind.code: index for index, kind in enumerate(KINDS, start=1)}
"""A kind's number (1..), as the writer remembers the kind of every position in one byte."""


def forms_of(study_event: str) -> list[Kind]:
    return [kind for kind in KINDS if kind.study_event == study_event]


def all_groups() -> list[Group]:
    """Every item group: each kind's, then its repeating children."""
    groups: list[Group] = []
    for kind in KINDS:
        groups.append(kind.group)
        groups.extend(kind.group.children)
    return groups
