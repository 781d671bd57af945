"""Every fact the ledger records, as frozen pydantic v2 models with explicit, versioned topics.

Stored form: the event's fields minus ``originator_id`` and ``originator_version`` (those are
columns of their own), serialised with pydantic's JSON mode and canonicalised per RFC 8785 by
:func:`ledger.integrity.canonical.canonical_json`. Numbers a clinician measured are
:class:`~decimal.Decimal` and serialise as JSON strings ("2.45"), so no stored payload carries a
binary float (a meta-test walks every model to keep it so).

Two streams exist:

* the trial stream (one per ledger): :class:`TrialCreated` and the registry of the trial's
  sites (:class:`SiteRegistered`) and people's keys (:class:`KeyRegistered`,
  :class:`KeyRotated`, :class:`KeyRevoked`);
* one stream per subject, keyed by ``uuid5(SUBJECT_NAMESPACE, subject_id)``.

``RECORDED_BY`` names the roles whose keys may sign each event type; ``SITE_BOUND`` roles may
only sign events of subjects at their own site. Renaming a class never changes its ``TOPIC``.

Identifiers are ASCII: every pattern below spells digits ``[0-9]``, never ``\\d`` (which, in
Python's and pydantic's regular expressions alike, also matches the digits of other scripts,
so a subject id written with Arabic-Indic digits would pass). :data:`SUBJECT_ID_PATTERN` is
the one definition of a subject id; code outside the models checks with :func:`is_subject_id`.

Free text (:data:`PrintedName`, :data:`Reason`, :data:`ShortText`, :data:`PlainText`) is any
script's letters, digits, marks, spaces, punctuation and symbols, on one line: no value holds
a control character (Unicode category Cc: C0, DEL, C1, so no line break, tab or escape
sequence), a format character (Cf: bidirectional overrides, isolates and marks, zero-width
characters, the byte order mark, the soft hyphen) or a line or paragraph separator (Zl, Zp).
Such a character would be stored in the signed ledger for good and could, when printed, forge
or hide lines of the audit display (a printed name is a signature manifestation). The check
sees the value as given, before surrounding whitespace is stripped.
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID, uuid5

from eventsourcing.utils import register_topic
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from ledger.errors import NotFoundError

Role = Literal["sponsor", "investigator", "coordinator", "monitor", "data-manager", "auditor"]
ROLES: tuple[Role, ...] = (
    "sponsor",
    "investigator",
    "coordinator",
    "monitor",
    "data-manager",
    "auditor",
)
SITE_BOUND_ROLES: frozenset[str] = frozenset({"investigator", "coordinator"})
Meaning = Literal["authorship", "review", "approval", "responsibility"]
MEANINGS: tuple[Meaning, ...] = ("authorship", "review", "approval", "responsibility")

SUBJECT_ID_PATTERN = r"^MC0282-[0-9]{3}-[0-9]{3}$"
"""A pseudonymous subject id: ``MC0282-<site>-<number>``, ASCII digits only."""
SITE_PATTERN = r"^[0-9]{3}$"
"""A trial site's code (``001``), ASCII digits only."""
ALL_SITES = "*"
"""The site of a key that may sign for every site (sponsor, monitor, data manager, auditor)."""
AE_ID_PATTERN = r"^AE-[0-9]{3,}$"
_SUBJECT_ID = re.compile(SUBJECT_ID_PATTERN)

SubjectId = Annotated[str, StringConstraints(pattern=SUBJECT_ID_PATTERN)]
Site = Annotated[str, StringConstraints(pattern=SITE_PATTERN)]
SiteCode = Annotated[str, StringConstraints(pattern=r"^([0-9]{3}|\*)$")]
"""A site code, or :data:`ALL_SITES` (the site of a key that signs for every site)."""
AeId = Annotated[str, StringConstraints(pattern=AE_ID_PATTERN)]
KeyId = Annotated[str, StringConstraints(pattern=r"^ed25519:[0-9a-f]{32}$")]

UNPRINTABLE_CATEGORIES: frozenset[str] = frozenset({"Cc", "Cf", "Zl", "Zp"})
"""Unicode categories no free-text value may hold: control, format, line and paragraph
separator characters (see the module docstring)."""
BIDI_CONTROLS: frozenset[str] = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
"""The bidirectional marks, embeddings, overrides and isolates (all of category Cf)."""
_CONTROL_NAMES = {
    "\t": "tab",
    "\n": "line feed",
    "\r": "carriage return",
    "\x1b": "escape",
    "\x00": "NUL",
    "\x7f": "delete",
    "\x85": "next line",
    "\x9b": "control sequence introducer",
}
PRINTABLE_TEXT_RULE = (
    "Text should be printable on one line: no control characters (line breaks, tabs, escape "
    "sequences), bidirectional controls or invisible format characters"
)


def unprintable_character(text: str) -> tuple[int, str] | None:
    """The first character of ``text`` no free-text value may hold, with its index, or
    ``None`` (see :data:`UNPRINTABLE_CATEGORIES`)."""
    if text.isprintable():  # fast path: isprintable() is False for every refused category
        return None
    for index, char in enumerate(text):
        if unicodedata.category(char) in UNPRINTABLE_CATEGORIES:
            return index, char
    return None


def describe_character(char: str) -> str:
    """``U+202E (RIGHT-TO-LEFT OVERRIDE, a bidirectional control)``: a refused character as
    a person can read it (never the character itself)."""
    code = f"U+{ord(char):04X}"
    category = unicodedata.category(char)
    if category == "Cc":
        name = _CONTROL_NAMES.get(char)
        return f"{code} ({name}, a control character)" if name else f"{code} (a control character)"
    name = unicodedata.name(char, "")
    kind = (
        "a bidirectional control"
        if char in BIDI_CONTROLS
        else "a line or paragraph separator"
        if category in {"Zl", "Zp"}
        else "an invisible format character"
    )
    return f"{code} ({name}, {kind})" if name else f"{code} ({kind})"


def _refuse_unprintable(text: str) -> None:
    found = unprintable_character(text)
    if found is not None:
        index, char = found
        raise PydanticCustomError(
            "printable_text",
            PRINTABLE_TEXT_RULE + "; found {character} at character {position}",
            {"character": describe_character(char), "position": index + 1},
        )


def _printable_text(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    """Refuse unprintable characters in the value as given (before whitespace is stripped),
    and in the text the value became if it was not given as text."""
    if isinstance(value, str):
        _refuse_unprintable(value)
    result = handler(value)
    if not isinstance(value, str) and isinstance(result, str):
        _refuse_unprintable(result)
    return result


PRINTABLE = WrapValidator(_printable_text)
"""The free-text rule, as a validator to annotate a ``str`` with."""

PrintedName = Annotated[
    str, StringConstraints(min_length=2, max_length=120, strip_whitespace=True), PRINTABLE
]
"""A person's printed name (21 CFR 11.50 signature manifestation)."""
Reason = Annotated[
    str, StringConstraints(min_length=3, max_length=2000, strip_whitespace=True), PRINTABLE
]
ShortText = Annotated[
    str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True), PRINTABLE
]
PlainText = Annotated[str, PRINTABLE]
"""Free text with no length rule of its own (a note, a unit, a correction's values, the text
of an eligibility criterion): printable, one line, as it is (not stripped)."""
PublicKeyB64 = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{43}=$")]

SUBJECT_NAMESPACE = UUID("5b0c7c4e-2a51-4f55-9d59-2f3d7f1f0a28")
TRIAL_NAMESPACE = UUID("a1d4e0f2-6c1b-4f7e-8d02-3c9b8e0b7d11")


def subject_stream_id(subject_id: str) -> UUID:
    """The originator id of a subject's stream: stable, derived from the pseudonymous id."""
    return uuid5(SUBJECT_NAMESPACE, subject_id)


def trial_stream_id(trial_id: str) -> UUID:
    """The originator id of the trial stream (trial record and key registry)."""
    return uuid5(TRIAL_NAMESPACE, trial_id)


def is_subject_id(value: str) -> bool:
    """Whether ``value`` is a subject id (whole string, ASCII digits; no trailing newline)."""
    return _SUBJECT_ID.fullmatch(value) is not None


def site_of(subject_id: str) -> str:
    """The site code embedded in a subject id (``MC0282-001-017`` -> ``001``)."""
    return subject_id.split("-")[1]


class LedgerEvent(BaseModel):
    """Base of every stored event. Frozen; unknown fields are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TOPIC: ClassVar[str] = ""
    RECORDED_BY: ClassVar[frozenset[str]] = frozenset()
    META_FIELDS: ClassVar[frozenset[str]] = frozenset({"originator_id", "originator_version"})

    originator_id: UUID
    originator_version: int = Field(ge=1)

    def payload(self) -> dict[str, Any]:
        """The stored JSON object: every field but the two stream coordinates."""
        return self.model_dump(mode="json", exclude=set(self.META_FIELDS))


# --------------------------------------------------------------------------- trial stream


class PersonKey(BaseModel):
    """A registered person's public key and what it entitles them to sign."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_id: KeyId
    public_key: PublicKeyB64
    printed_name: PrintedName
    role: Role
    site: SiteCode
    expires_on: date | None = None


class TrialCreated(LedgerEvent):
    """Genesis: the trial, its ledger id and the sponsor's root key (self-certifying)."""

    TOPIC: ClassVar[str] = "trial.TrialCreated.v1"
    RECORDED_BY: ClassVar[frozenset[str]] = frozenset({"sponsor"})

    trial_id: Literal["NCT00635154"] = "NCT00635154"
    protocol_id: Literal["MC0282"] = "MC0282"
    ledger_id: UUID
    title: ShortText
    protocol_amendment: ShortText
    sponsor: PersonKey
    ledger_key_id: KeyId
    ledger_public_key: PublicKeyB64
    effective_date: date


class KeyRegistered(LedgerEvent):
    """A person's key joins the registry; it may sign from the next position on."""

    TOPIC: ClassVar[str] = "trial.KeyRegistered.v1"
    RECORDED_BY: ClassVar[frozenset[str]] = frozenset({"sponsor"})

    key: PersonKey
    reason: Reason
    effective_date: date


class KeyRotated(LedgerEvent):
    """A person's old key is retired and a new one takes over the same name, role and site."""

    TOPIC: ClassVar[str] = "trial.KeyRotated.v1"
    RECORDED_BY: ClassVar[frozenset[str]] = frozenset({"sponsor"})

    old_key_id: KeyId
    new_key: PersonKey
    reason: Reason
    effective_date: date


class SiteRegistered(LedgerEvent):
    """A trial site joins the registry; from the next position on, keys may be registered for
    it and subjects screened at it. ``label`` is a neutral, pseudonymous name ("Site 004"):
    the ledger needs no institution's name. A site is registered once."""

    TOPIC: ClassVar[str] = "trial.SiteRegistered.v1"
    RECORDED_BY: ClassVar[frozenset[str]] = frozenset({"sponsor"})

    site: Site
    label: ShortText
    reason: Reason
    effective_date: date


class KeyRevoked(LedgerEvent):
    """A key may sign nothing after this position (e.g. compromised, person left the trial)."""

    TOPIC: ClassVar[str] = "trial.KeyRevoked.v1"
    RECORDED_BY: ClassVar[frozenset[str]] = frozenset({"sponsor"})

    key_id: KeyId
    reason: Reason
    effective_date: date


# --------------------------------------------------------------------------- subject stream

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


TRIAL_EVENTS: tuple[type[LedgerEvent], ...] = (
    TrialCreated,
    KeyRegistered,
    KeyRotated,
    KeyRevoked,
    SiteRegistered,
)
SUBJECT_EVENTS: tuple[type[SubjectEvent], ...] = (
    SubjectScreened,
    EligibilityAssessed,
    ConsentObtained,
    SubjectEnrolled,
    DoseAdministered,
    DoseMissed,
    LabResulted,
    ResponseAssessed,
    ProgressionConfirmed,
    RegimenChanged,
    AdverseEventReported,
    AdverseEventResolved,
    FollowUpVisit,
    SubjectWithdrawn,
    SubjectOffStudy,
    SubjectDied,
    CorrectionRecorded,
    RecordSigned,
)
ALL_EVENTS: tuple[type[LedgerEvent], ...] = TRIAL_EVENTS + SUBJECT_EVENTS
EVENT_BY_TOPIC: dict[str, type[LedgerEvent]] = {cls.TOPIC: cls for cls in ALL_EVENTS}
ROLES_BY_TOPIC: dict[str, frozenset[str]] = {cls.TOPIC: cls.RECORDED_BY for cls in ALL_EVENTS}
REGISTRY_TOPICS: frozenset[str] = frozenset(cls.TOPIC for cls in TRIAL_EVENTS)
SCREENING_TOPIC = SubjectScreened.TOPIC

for _cls in ALL_EVENTS:
    register_topic(_cls.TOPIC, _cls)


def event_name(topic: str) -> str:
    """``trial.DoseAdministered.v1`` -> ``DoseAdministered``."""
    parts = topic.split(".")
    return parts[1] if len(parts) == 3 else topic


def created_at_utc(value: datetime) -> str:
    """RFC 3339 UTC with microseconds and ``Z``: the form every recorded time takes."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def decode_event(
    topic: str, state: bytes, originator_id: UUID | str, originator_version: int
) -> LedgerEvent:
    """Rebuild the pydantic event from its stored columns (validates the payload again)."""
    try:
        cls = EVENT_BY_TOPIC[topic]
    except KeyError:
        raise NotFoundError(f"unknown event topic {topic!r}: no event model has it") from None
    payload = json.loads(state)
    payload["originator_id"] = originator_id
    payload["originator_version"] = originator_version
    return cls.model_validate(payload)
