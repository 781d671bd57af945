"""The subject streams: every clinical fact recorded of a subject, and the values they hold."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ledger.events.base import LedgerEvent
from ledger.events.identifiers import AeId, SiteCode, SubjectId
from ledger.events.text import PlainText, Reason, ShortText

SITE_STAFF = frozenset({"investigator", "coordinator"})
INVESTIGATOR = frozenset({"investigator"})

Drug = Literal["anakinra", "dexamethasone"]
Route = Literal["SC", "PO"]
Analyte = Literal[
    "serum_m_protein",
    "urine_m_protein",
    "marrow_plasma_cells",
    "flc_kappa",
    "flc_lambda",
    "hs_crp",
    "wbc",
    "anc",
    "creatinine",
    "serum_ife",
    "urine_ife",
]
ANALYTE_UNITS: dict[str, str] = {
    "serum_m_protein": "g/dL",
    "urine_m_protein": "mg/24h",
    "marrow_plasma_cells": "%",
    "flc_kappa": "mg/L",
    "flc_lambda": "mg/L",
    "hs_crp": "mg/L",
    "wbc": "/mm3",
    "anc": "/mm3",
    "creatinine": "xULN",
    "serum_ife": "negative=1",
    "urine_ife": "negative=1",
}
ResponseCategory = Literal["CR", "VGPR", "PR", "MR", "SD", "PD"]
RegimenName = Literal[
    "screening",
    "induction",
    "continuation",
    "low_dose_dex",
    "high_dose_dex",
    "off_treatment",
    "follow_up",
    "off_study",
]
Attribution = Literal["unrelated", "unlikely", "possible", "probable", "definite"]
Seriousness = Literal[
    "death",
    "life-threatening",
    "hospitalisation",
    "disability",
    "congenital-anomaly",
    "important-medical-event",
]
ActionTaken = Literal["none", "dose-held", "dose-reduced", "drug-withdrawn", "not-applicable"]


class Deviation(BaseModel):
    """A recorded protocol deviation: the rule departed from and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule_id: ShortText
    reason: Reason


class MeasuredValues(BaseModel):
    """The values one response assessment used (``None``: not measured for that assessment)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    serum_m_protein_g_dl: Decimal | None = Field(default=None, ge=0)
    urine_m_protein_mg_24h: Decimal | None = Field(default=None, ge=0)
    marrow_plasma_cells_pct: Decimal | None = Field(default=None, ge=0, le=100)
    serum_ife_negative: bool | None = None
    urine_ife_negative: bool | None = None
    plasmacytoma: bool | None = None
    new_bone_lesions: bool | None = None
    hypercalcaemia: bool | None = None


class SubjectEvent(LedgerEvent):
    """Every subject event names its subject and the clinical (effective) date of the fact."""

    RECORDED_BY: ClassVar[frozenset[str]] = SITE_STAFF

    subject_id: SubjectId
    effective_date: date


class SubjectScreened(SubjectEvent):
    TOPIC: ClassVar[str] = "trial.SubjectScreened.v1"

    site: SiteCode
    age_years: int = Field(ge=18, le=120)
    sex: Literal["F", "M", "U"]


class CriterionRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    criterion_id: ShortText
    description: PlainText
    measured: PlainText
    threshold: PlainText
    passed: bool


class EligibilityAssessed(SubjectEvent):
    TOPIC: ClassVar[str] = "trial.EligibilityAssessed.v1"
    RECORDED_BY: ClassVar[frozenset[str]] = INVESTIGATOR

    protocol_amendment: ShortText
    criteria: tuple[CriterionRecord, ...]
    eligible: bool
    inputs: dict[PlainText, PlainText | int | bool | None]


class ConsentObtained(SubjectEvent):
    TOPIC: ClassVar[str] = "trial.ConsentObtained.v1"

    consent_version: ShortText


class BaselineLabs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    serum_m_protein_g_dl: Decimal | None = Field(default=None, ge=0, le=15)
    urine_m_protein_mg_24h: Decimal | None = Field(default=None, ge=0, le=30000)
    marrow_plasma_cells_pct: Decimal | None = Field(default=None, ge=0, le=100)
    hs_crp_mg_l: Decimal | None = Field(default=None, ge=0, le=500)


class SubjectEnrolled(SubjectEvent):
    TOPIC: ClassVar[str] = "trial.SubjectEnrolled.v1"
    RECORDED_BY: ClassVar[frozenset[str]] = INVESTIGATOR

    site: SiteCode
    treatment_start: date
    protocol_amendment: ShortText
    baseline: BaselineLabs
    waiver: Deviation | None = None


class DoseAdministered(SubjectEvent):
    TOPIC: ClassVar[str] = "trial.DoseAdministered.v1"

    drug: Drug
    dose: Decimal = Field(gt=0, le=1000)
    unit: Literal["mg"]
    route: Route
    deviation: Deviation | None = None


class DoseMissed(SubjectEvent):
    TOPIC: ClassVar[str] = "trial.DoseMissed.v1"

    drug: Drug
    held: bool
    reason: Reason


class LabResulted(SubjectEvent):
    TOPIC: ClassVar[str] = "trial.LabResulted.v1"

    analyte: Analyte
    value: Decimal = Field(ge=0)
    unit: PlainText


class ResponseAssessed(SubjectEvent):
    TOPIC: ClassVar[str] = "trial.ResponseAssessed.v1"
    RECORDED_BY: ClassVar[frozenset[str]] = INVESTIGATOR

    protocol_month: int = Field(ge=0)
    investigator_category: ResponseCategory
    derived_category: ResponseCategory
    rule_ids: tuple[PlainText, ...]
    values_used: dict[PlainText, PlainText]
    agrees: bool
    # Added with the recording commands (optional, so earlier payloads still validate):
    measured: MeasuredValues | None = None  # the assessment's own values, as derivation used them
    lab_positions: tuple[int, ...] = ()  # the LabResulted events those values came from
    regimen: RegimenName | None = None  # the regimen in force on the assessment date


class ProgressionConfirmed(SubjectEvent):
    TOPIC: ClassVar[str] = "trial.ProgressionConfirmed.v1"
    RECORDED_BY: ClassVar[frozenset[str]] = INVESTIGATOR

    basis: Reason
    rule_ids: tuple[PlainText, ...]
    # Set when the investigator confirms progression the rules do not (yet) confirm (CONF-PD),
    # or starts high-dose dexamethasone by the other reading of REG-PD-START.
    deviation: Deviation | None = None
    # Added with the single subject history (optional, so earlier payloads still validate): the
    # date the progression criteria were first met (IMWG 2006), when the investigator gives it;
    # progression the rules confirm is dated from the corrected assessments instead.
    progression_date: date | None = None


class RegimenChanged(SubjectEvent):
    """``effective_date`` is the first day of the new regimen. ``decided_on`` is the clinical date
    of the decision when it differs: a month-6 decision made during month 6 takes effect on day 1
    of month 7 (so this one event may carry a date after the day it was recorded); a decision
    recorded late takes effect on the day the protocol made it due. ``from_regimen`` may equal
    ``to_regimen`` when a rule confirms the regimen (REG-M12-LOWDEX-EXTEND, REG-M12-DISCRETION)."""

    TOPIC: ClassVar[str] = "trial.RegimenChanged.v1"

    from_regimen: RegimenName
    to_regimen: RegimenName
    rule_id: ShortText
    reason: Reason
    decided_on: date | None = None
    # Added with the protocol readings (optional): the investigator took the other reading of a
    # rule (REG-M6-BASIS, REG-PD-START), naming it and why.
    deviation: Deviation | None = None


class AdverseEventReported(SubjectEvent):
    TOPIC: ClassVar[str] = "trial.AdverseEventReported.v1"

    ae_id: AeId
    term: ShortText
    grade: int = Field(ge=1, le=5)
    attribution: Attribution
    serious: bool
    seriousness_criteria: tuple[Seriousness, ...] = ()
    action_taken: ActionTaken


class AdverseEventResolved(SubjectEvent):
    TOPIC: ClassVar[str] = "trial.AdverseEventResolved.v1"

    ae_id: AeId
    outcome: Literal["recovered", "recovered-with-sequelae", "fatal", "unknown"]


class FollowUpVisit(SubjectEvent):
    TOPIC: ClassVar[str] = "trial.FollowUpVisit.v1"

    disease_status: Literal["no-progression", "progression", "unknown"]
    note: PlainText = ""


class SubjectWithdrawn(SubjectEvent):
    TOPIC: ClassVar[str] = "trial.SubjectWithdrawn.v1"

    reason: Reason
    consent_withdrawn: bool


class SubjectOffStudy(SubjectEvent):
    TOPIC: ClassVar[str] = "trial.SubjectOffStudy.v1"

    reason: Reason


class SubjectDied(SubjectEvent):
    TOPIC: ClassVar[str] = "trial.SubjectDied.v1"
    RECORDED_BY: ClassVar[frozenset[str]] = INVESTIGATOR

    cause: Reason


RECORD_STATUS_FIELD = "record_status"
"""Pseudo-field of a correction that voids a whole event: ``old_value`` :data:`RECORD_VALID`,
``new_value`` :data:`ENTERED_IN_ERROR` (e.g. a dose entered for the wrong subject)."""
RECORD_VALID = "valid"
ENTERED_IN_ERROR = "entered-in-error"


class CorrectionRecorded(SubjectEvent):
    """Names the corrected event by position; the original stays visible everywhere.

    ``field`` is a payload field (``dose``, ``effective_date``) or a dotted path into a nested
    one (``baseline.hs_crp_mg_l``, ``deviation.reason``); values are the text of the JSON value
    (``""`` for none, ``true``/``false``, list items joined by ``,``). ``field`` equal to
    :data:`RECORD_STATUS_FIELD` marks the corrected event entered in error: every view then
    treats it as not recorded, while it stays in the log.
    """

    TOPIC: ClassVar[str] = "trial.CorrectionRecorded.v1"
    RECORDED_BY: ClassVar[frozenset[str]] = frozenset(
        {"investigator", "coordinator", "data-manager"}
    )

    corrects_position: int = Field(ge=1)
    corrected_topic: ShortText
    field: ShortText
    old_value: PlainText
    new_value: PlainText
    reason: Reason


class RecordSigned(SubjectEvent):
    """A review, approval or statement of responsibility over events already in the ledger."""

    TOPIC: ClassVar[str] = "trial.RecordSigned.v1"
    RECORDED_BY: ClassVar[frozenset[str]] = frozenset({"investigator", "monitor", "data-manager"})

    meaning: Literal["review", "approval", "responsibility"]
    positions: tuple[int, ...] = Field(min_length=1)
    statement: Reason
