"""The JSON Lines import format: one recording command per line, all appended as one commit.

Each line is a JSON object whose ``command`` names a recording command (``screen``, ``dose``,
``lab``, ...), with the subject, the clinical ``date`` and that command's fields, exactly the
arguments of the :class:`~ledger.recording.TrialRecorder` method of the same name
(:mod:`ledger.domain.imports` maps each line to its command). Numbers
are read as decimals (``2.45`` and ``"2.45"`` are the same; no binary float is ever made).
:func:`import_line_schema` is the JSON Schema (2020-12) generated from these models; the
committed copy is ``schemas/import-line.schema.json`` (``trial-ledger schema import-line``).

Example (a returned dosing diary and a lab transfer)::

    {"command": "dose", "subject_id": "MC0282-001-017", "date": "2003-02-03",
     "drug": "anakinra", "dose": "100", "route": "SC"}
    {"command": "lab", "subject_id": "MC0282-001-017", "date": "2003-02-03",
     "analyte": "serum_m_protein", "value": "3.1", "unit": "g/dL"}
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from ledger import input_limits
from ledger.errors import ValidationError, refusal_from_pydantic
from ledger.events import (
    ActionTaken,
    AeId,
    Analyte,
    Attribution,
    BaselineLabs,
    Deviation,
    Drug,
    Reason,
    ResponseCategory,
    Route,
    Seriousness,
    ShortText,
    SiteCode,
    SubjectId,
)
from ledger.protocol.eligibility import EligibilityInput

SCHEMA_ID = "urn:trial-ledger:schema:import-line:v1"


class _Line(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    subject_id: SubjectId = Field(description="Pseudonymous subject id, e.g. MC0282-001-017.")
    date: dt.date = Field(description="Clinical (effective) date of the fact, YYYY-MM-DD.")


class ScreenLine(_Line):
    """A subject is screened at a site."""

    command: Literal["screen"]
    site: SiteCode
    age_years: int = Field(ge=18, le=120)
    sex: Literal["F", "M", "U"]


class EligibilityLine(_Line):
    """Every eligibility criterion's measured value (the protocol checks them all)."""

    command: Literal["eligibility"]
    inputs: EligibilityInput


class ConsentLine(_Line):
    command: Literal["consent"]
    consent_version: ShortText


class EnrolLine(_Line):
    """Enrolment with baseline labs; a waiver (naming every failing criterion) records a
    protocol deviation for an ineligible subject."""

    command: Literal["enrol"]
    treatment_start: dt.date
    baseline: BaselineLabs
    waiver: Deviation | None = None


class DoseLine(_Line):
    """A dose given; one the calendar does not call for needs a deviation (rule, reason)."""

    command: Literal["dose"]
    drug: Drug
    dose: Decimal = Field(gt=0, le=1000)
    unit: Literal["mg"] = "mg"
    route: Route
    deviation: Deviation | None = None


class MissedDoseLine(_Line):
    command: Literal["missed-dose"]
    drug: Drug
    reason: Reason
    held: bool = Field(default=False, description="true: held by the investigator.")


class LabLine(_Line):
    """A lab result in its analyte's unit (serum_m_protein g/dL, urine_m_protein mg/24h, ...)."""

    command: Literal["lab"]
    analyte: Analyte
    value: Decimal = Field(ge=0)
    unit: str


class AssessLine(_Line):
    """A response assessment: the investigator's category; the rules derive their own."""

    command: Literal["assess"]
    investigator_category: ResponseCategory
    new_bone_lesions: bool | None = None
    plasmacytoma: bool | None = None
    hypercalcaemia: bool | None = None


class ProgressionLine(_Line):
    command: Literal["progression"]
    basis: Reason
    deviation: Deviation | None = None


class AdvanceLine(_Line):
    """Apply the scheduled regimen transitions due by the date."""

    command: Literal["advance"]
    physician_continues: bool = False


class StopTreatmentLine(_Line):
    command: Literal["stop-treatment"]
    reason: Reason


class AdverseEventLine(_Line):
    command: Literal["ae"]
    term: ShortText = Field(description="CTCAE term.")
    grade: int = Field(ge=1, le=5)
    attribution: Attribution
    action_taken: ActionTaken
    seriousness_criteria: tuple[Seriousness, ...] = ()
    ae_id: AeId | None = None


class ResolveAdverseEventLine(_Line):
    command: Literal["ae-resolve"]
    ae_id: AeId
    outcome: Literal["recovered", "recovered-with-sequelae", "fatal", "unknown"]


class FollowUpLine(_Line):
    command: Literal["follow-up"]
    disease_status: Literal["no-progression", "progression", "unknown"]
    note: str = ""


class WithdrawLine(_Line):
    command: Literal["withdraw"]
    reason: Reason
    consent_withdrawn: bool = True


class OffStudyLine(_Line):
    command: Literal["off-study"]
    reason: Reason


class DeathLine(_Line):
    command: Literal["death"]
    cause: Reason


class CorrectLine(_Line):
    """A correction of the event at ``position`` (of the same subject, already in the ledger)."""

    command: Literal["correct"]
    position: int = Field(ge=1)
    field: ShortText
    new_value: str
    old_value: str | None = None
    reason: Reason


ImportLine = Annotated[
    ScreenLine
    | EligibilityLine
    | ConsentLine
    | EnrolLine
    | DoseLine
    | MissedDoseLine
    | LabLine
    | AssessLine
    | ProgressionLine
    | AdvanceLine
    | StopTreatmentLine
    | AdverseEventLine
    | ResolveAdverseEventLine
    | FollowUpLine
    | WithdrawLine
    | OffStudyLine
    | DeathLine
    | CorrectLine,
    Field(discriminator="command"),
]
IMPORT_LINE: TypeAdapter[ImportLine] = TypeAdapter(ImportLine)


def parse_line(text: str) -> ImportLine:
    """One line as its model; a refusal names the field, the (truncated) value and the rule.

    The line is parsed within the limits of :mod:`ledger.input_limits` (nesting depth, number
    of values, digits of a number), so no line can exhaust the stack or memory."""
    document = input_limits.loads(text)
    if not isinstance(document, dict):
        raise ValidationError("line", text, "each line is one JSON object")
    try:
        line = IMPORT_LINE.validate_python(document)
    except PydanticValidationError as e:
        error = e.errors(include_url=False)[0]
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            raise ValidationError("command", document.get("command"), error["msg"]) from None
        raise refusal_from_pydantic(error, skip=1, default_field="line") from None
    _check_decimals(line)
    return line


def _check_decimals(value: object, path: str = "") -> None:
    """Every decimal of a line within the number limits (a decimal may be written as a JSON
    string, which the JSON hooks do not see)."""
    if isinstance(value, Decimal):
        input_limits.check_number(path, value)
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _check_decimals(getattr(value, name), f"{path}.{name}" if path else name)
    elif isinstance(value, tuple | list):
        for index, item in enumerate(value):
            _check_decimals(item, f"{path}.{index}")


def import_line_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of one import line, generated from the models above."""
    schema = IMPORT_LINE.json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "trial-ledger import line",
        "description": (
            "One line of a JSON Lines file for `trial-ledger import`: a recording command "
            "(`command`), the subject, the clinical `date` and the command's fields. The whole "
            "file is appended as one signed commit, or refused with the numbers of the invalid "
            "lines. Decimal values may be JSON numbers or strings. "
            f"Limits: UTF-8 without a byte order mark; at most "
            f"{input_limits.MAX_LINE_BYTES:,} bytes (1 MiB) a line, "
            f"{input_limits.MAX_LINES:,} lines and {input_limits.MAX_FILE_BYTES:,} bytes "
            f"(64 MiB) a file; objects and arrays nested at most {input_limits.MAX_DEPTH} deep, "
            f"at most {input_limits.MAX_VALUES:,} values a line, each key once; numbers of at "
            f"most {input_limits.MAX_DIGITS} digits and {input_limits.MAX_DECIMAL_PLACES} decimal "
            f"places, below 1E+{input_limits.MAX_MAGNITUDE + 1} in magnitude."
        ),
        **schema,
    }


def import_line_schema_text() -> str:
    """The schema as committed in ``schemas/import-line.schema.json`` (stable, one newline)."""
    return json.dumps(import_line_schema(), indent=2, ensure_ascii=False) + "\n"
