"""NCT00635154 (Mayo Clinic MC0282) protocol parameters, versioned by amendment.

Every number the rules in :mod:`ledger.protocol.eligibility`, :mod:`ledger.protocol.response`
and :mod:`ledger.protocol.schedule` compare against lives here, so that a protocol amendment is a
new :class:`ProtocolParameters` value and never an edit of a rule. Values marked [assumed] in
``protocol/NCT00635154.md`` (the high dexamethasone dose, 28-day protocol months, how the
high-dose calendar is anchored, IMWG measurability) are fields like every other value.

Numbers are :class:`decimal.Decimal`; floats are refused at construction (event payloads are
canonical JSON, RFC 8785, which has no exact binary floats). Dates are :class:`datetime.date`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Annotated, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from ledger.errors import ValidationError

MonthUnit = Literal["cycle28", "calendar"]
"""How a protocol month is counted: 28-day cycles [assumed default] or calendar months."""

CategoryName = Literal["CR", "VGPR", "PR", "MR", "SD", "PD"]
"""Response category names (IMWG 2006 + EBMT 1998 minimal response), as plain strings."""

Month6Basis = Literal["month6_assessment", "confirmed"]
"""REG-M6-BASIS: what the month-6 decision reads (see :class:`Readings`)."""

ProgressionStart = Literal["on_confirmation", "next_protocol_month"]
"""REG-PD-START: when high-dose dexamethasone starts after progression (see :class:`Readings`)."""

SerumIsotype = Literal["IgG", "IgA", "IgM", "IgD", "light-chain-only"]
Drug = Literal["anakinra", "dexamethasone"]
Route = Literal["SC", "PO"]


def _refuse_float(value: object) -> object:
    """Refuse binary floats: 0.1 has no exact Decimal and no canonical JSON form."""
    if isinstance(value, float):
        raise PydanticCustomError(
            "float_refused",
            "a float was given ({value}); give a Decimal, an int or a decimal string",
            {"value": value},
        )
    return value


NonNegativeDecimal = Annotated[Decimal, BeforeValidator(_refuse_float), Field(ge=0)]
PositiveDecimal = Annotated[Decimal, BeforeValidator(_refuse_float), Field(gt=0)]
Percent = Annotated[Decimal, BeforeValidator(_refuse_float), Field(ge=0, le=100)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ScheduleParameters(_Frozen):
    """Protocol time: what a month is, which months each regimen covers (protocol, Treatment)."""

    month_unit: MonthUnit
    cycle_length_days: PositiveInt  # length of a "cycle28" month; must be 28 for that unit
    induction_months: PositiveInt  # anakinra alone, months 1..6
    continuation_end_month: PositiveInt  # responders continue to month 12
    low_dex_end_month: PositiveInt  # stable disease: anakinra + low-dose dex, months 7..12
    low_dex_extension_end_month: PositiveInt  # months 13..18 if still SD or better
    high_dex_course_months: PositiveInt  # months 7..12 when started at month 7
    follow_up_interval_months: PositiveInt  # every 6 months ...
    follow_up_duration_years: PositiveInt  # ... for up to 5 years after treatment ends
    follow_up_month_unit: MonthUnit  # [assumed] calendar: follow-up has no treatment cycles
    # [assumed] the last follow-up visit may be this many days after its scheduled date; the
    # follow-up period (and the study) ends then (REG-FU-COMPLETE).
    follow_up_window_days: NonNegativeInt = 28

    @model_validator(mode="after")
    def _months_in_order(self) -> Self:
        if self.month_unit == "cycle28" and self.cycle_length_days != 28:
            raise ValueError("month_unit 'cycle28' needs cycle_length_days == 28")
        if not (
            self.induction_months < self.low_dex_end_month < self.low_dex_extension_end_month
            and self.induction_months < self.continuation_end_month
        ):
            raise ValueError("induction < low-dose end < extension end, induction < continuation")
        return self


class DosingParameters(_Frozen):
    """Drug, dose and route per regimen (protocol, Treatment)."""

    anakinra_dose_mg: PositiveDecimal  # 100 mg SC once daily [published]
    anakinra_route: Route
    low_dex_dose_mg: PositiveDecimal  # 20 mg PO once weekly [published]
    low_dex_route: Route
    low_dex_interval_days: PositiveInt  # "once weekly": every 7 days from the regimen start
    high_dex_dose_mg: PositiveDecimal  # 40 mg/day PO [assumed dose]
    high_dex_route: Route
    # Days of each high-dose month (regimen month 1 = protocol month 7 when the regimen starts
    # on day 1 of month 7): days 1-4, 9-12, 17-20 in odd months, days 1-4 in even months.
    high_dex_days_by_course_month: tuple[tuple[PositiveInt, ...], ...]

    @model_validator(mode="after")
    def _days_fit_in_a_month(self) -> Self:
        for days in self.high_dex_days_by_course_month:
            if any(day > 28 for day in days) or len(set(days)) != len(days):
                raise ValueError("high-dose days must be distinct and <= 28 (the shortest month)")
        return self


class EligibilityThresholds(_Frozen):
    """Inclusion/exclusion thresholds (protocol, Eligibility; registry criteria)."""

    age_min_years: NonNegativeInt
    age_max_years: PositiveInt
    marrow_plasma_cells_min_pct: Percent  # >= 10%
    serum_m_protein_min_g_dl: NonNegativeDecimal  # >= 3.0 g/dL ...
    serum_m_protein_isotypes: tuple[SerumIsotype, ...]  # ... of IgG or IgA only
    urine_light_chain_min_g_24h: NonNegativeDecimal  # >= 1 g/24 h
    ecog_max: NonNegativeInt  # ECOG 0
    wbc_min_per_mm3: NonNegativeDecimal  # >= 3500/mm3
    anc_min_per_mm3: NonNegativeDecimal  # >= 1700/mm3
    creatinine_max_x_uln: NonNegativeDecimal  # <= 1.5 x ULN
    washout_more_than_days: NonNegativeInt  # strictly more than 30 days
    infection_lookback_weeks: PositiveInt  # 12 weeks
    malignancy_lookback_years: PositiveInt  # 5 years


class ResponseThresholds(_Frozen):
    """IMWG 2006 uniform response criteria with EBMT 1998 minimal response (protocol table).

    Decreases are percent of baseline; progression increases are from the nadir.
    """

    serum_measurable_min_g_dl: NonNegativeDecimal  # [assumed] IMWG 2006 measurable: >= 1 g/dL
    urine_measurable_min_mg_24h: NonNegativeDecimal  # [assumed] IMWG 2006: >= 200 mg/24 h
    cr_marrow_below_pct: Percent  # CR: < 5% plasma cells
    vgpr_serum_min_decrease_pct: Percent  # >= 90%
    vgpr_urine_below_mg_24h: NonNegativeDecimal  # < 100 mg/24 h
    pr_serum_min_decrease_pct: Percent  # >= 50%
    pr_urine_min_decrease_pct: Percent  # >= 90% ...
    pr_urine_below_mg_24h: NonNegativeDecimal  # ... or < 200 mg/24 h
    mr_serum_min_decrease_pct: Percent  # 25-49%
    mr_urine_min_decrease_pct: Percent  # 50-89%
    pd_serum_min_increase_pct: Percent  # >= 25% from nadir ...
    pd_serum_min_abs_g_dl: PositiveDecimal  # ... and >= 0.5 g/dL
    pd_serum_high_nadir_g_dl: PositiveDecimal  # when nadir >= 5 g/dL ...
    pd_serum_high_nadir_min_abs_g_dl: PositiveDecimal  # ... >= 1 g/dL suffices (IMWG 2006)
    pd_urine_min_increase_pct: Percent  # >= 25% from nadir ...
    pd_urine_min_abs_mg_24h: PositiveDecimal  # ... and >= 200 mg/24 h
    pd_marrow_min_increase_pct: Percent  # >= 25% from nadir ...
    pd_marrow_min_abs_pct: PositiveDecimal  # ... and an absolute increase >= 10 points

    @model_validator(mode="after")
    def _thresholds_nest(self) -> Self:
        if not (
            self.mr_serum_min_decrease_pct
            < self.pr_serum_min_decrease_pct
            < self.vgpr_serum_min_decrease_pct
        ):
            raise ValueError("serum thresholds must nest: MR < PR < VGPR")
        if not self.mr_urine_min_decrease_pct < self.pr_urine_min_decrease_pct:
            raise ValueError("urine thresholds must nest: MR < PR")
        if not self.vgpr_urine_below_mg_24h <= self.pr_urine_below_mg_24h:
            raise ValueError("urine VGPR limit must not exceed the PR limit")
        return self


class ConfirmationRules(_Frozen):
    """IMWG 2006: two consecutive assessments; EBMT 1998: MR/PR maintained >= 6 weeks."""

    consecutive_assessments: Annotated[int, Field(ge=2)]
    maintained_min_days: NonNegativeInt  # 42 days between first and confirming assessment
    maintained_categories: tuple[CategoryName, ...]  # categories that need it: PR, MR
    # PD criteria that need no second assessment (CONF-PD-SINGLE): IMWG 2006 asks for two
    # consecutive assessments of the M-protein; bone-marrow results, new bone lesions or
    # plasmacytomas and hypercalcaemia are not repeated to confirm progression (Durie et al.,
    # Leukemia 2006;20:1467, Table 2 notes; Rajkumar et al., Blood 2011;117:4691, Table 1 notes).
    pd_confirmed_alone: tuple[str, ...] = (
        "RESP-PD-MARROW",
        "RESP-PD-BONE",
        "RESP-PD-PLASMACYTOMA",
        "RESP-PD-CALCIUM",
    )


class Readings(_Frozen):
    """Where the protocol text allows two readings, the one the rules apply (each with a rule
    id); an investigator records the other with a deviation naming that id and a reason.

    * ``month6_basis`` [REG-M6-BASIS]: ``month6_assessment`` (default) reads "responders (CR,
      VGPR, PR or MR at month 6)" as the category derived at the month-6 assessment: continuing
      anakinra alone is no new therapy, so a response seen then is not held back for
      confirmation, and an unconfirmed response does not add dexamethasone; progression still
      needs confirmation (CONF-PD). ``confirmed`` decides on the best confirmed category only.
    * ``progression_start`` [REG-PD-START]: ``on_confirmation`` (default): "progression at any
      time" starts high-dose dexamethasone on the day progression is confirmed, at the month-6
      assessment as during induction or on low-dose dexamethasone; ``next_protocol_month``
      starts it on day 1 of the next protocol month (the protocol's "days 1-4 ... of months 7,
      9, 11" read literally).
    """

    month6_basis: Month6Basis = "month6_assessment"
    progression_start: ProgressionStart = "on_confirmation"


class ProtocolParameters(_Frozen):
    """One amendment of the protocol: everything the pure rules read, and nothing else."""

    amendment: Annotated[str, Field(min_length=1)]
    effective_from: date
    schedule: ScheduleParameters
    dosing: DosingParameters
    eligibility: EligibilityThresholds
    response: ResponseThresholds
    confirmation: ConfirmationRules
    readings: Readings = Readings()

    @model_validator(mode="after")
    def _high_dose_course_is_complete(self) -> Self:
        if len(self.dosing.high_dex_days_by_course_month) != self.schedule.high_dex_course_months:
            raise ValueError("one list of high-dose days per month of the high-dose course")
        return self


_ODD_MONTH_DAYS = (1, 2, 3, 4, 9, 10, 11, 12, 17, 18, 19, 20)
_EVEN_MONTH_DAYS = (1, 2, 3, 4)

MC0282_ORIGINAL = ProtocolParameters(
    amendment="MC0282-original",
    # [assumed] The registry gives first recruitment in November 2002; no amendment dates are
    # public, so the original protocol is taken to be in force from 2002-11-01 throughout.
    effective_from=date(2002, 11, 1),
    schedule=ScheduleParameters(
        month_unit="cycle28",
        cycle_length_days=28,
        induction_months=6,
        continuation_end_month=12,
        low_dex_end_month=12,
        low_dex_extension_end_month=18,
        high_dex_course_months=6,
        follow_up_interval_months=6,
        follow_up_duration_years=5,
        follow_up_month_unit="calendar",
    ),
    dosing=DosingParameters(
        anakinra_dose_mg=Decimal(100),
        anakinra_route="SC",
        low_dex_dose_mg=Decimal(20),
        low_dex_route="PO",
        low_dex_interval_days=7,
        high_dex_dose_mg=Decimal(40),
        high_dex_route="PO",
        high_dex_days_by_course_month=(
            _ODD_MONTH_DAYS,  # month 7
            _EVEN_MONTH_DAYS,  # month 8
            _ODD_MONTH_DAYS,  # month 9
            _EVEN_MONTH_DAYS,  # month 10
            _ODD_MONTH_DAYS,  # month 11
            _EVEN_MONTH_DAYS,  # month 12
        ),
    ),
    eligibility=EligibilityThresholds(
        age_min_years=18,
        age_max_years=120,
        marrow_plasma_cells_min_pct=Decimal(10),
        serum_m_protein_min_g_dl=Decimal("3.0"),
        serum_m_protein_isotypes=("IgG", "IgA"),
        urine_light_chain_min_g_24h=Decimal(1),
        ecog_max=0,
        wbc_min_per_mm3=Decimal(3500),
        anc_min_per_mm3=Decimal(1700),
        creatinine_max_x_uln=Decimal("1.5"),
        washout_more_than_days=30,
        infection_lookback_weeks=12,
        malignancy_lookback_years=5,
    ),
    response=ResponseThresholds(
        serum_measurable_min_g_dl=Decimal("1.0"),
        urine_measurable_min_mg_24h=Decimal(200),
        cr_marrow_below_pct=Decimal(5),
        vgpr_serum_min_decrease_pct=Decimal(90),
        vgpr_urine_below_mg_24h=Decimal(100),
        pr_serum_min_decrease_pct=Decimal(50),
        pr_urine_min_decrease_pct=Decimal(90),
        pr_urine_below_mg_24h=Decimal(200),
        mr_serum_min_decrease_pct=Decimal(25),
        mr_urine_min_decrease_pct=Decimal(50),
        pd_serum_min_increase_pct=Decimal(25),
        pd_serum_min_abs_g_dl=Decimal("0.5"),
        pd_serum_high_nadir_g_dl=Decimal(5),
        pd_serum_high_nadir_min_abs_g_dl=Decimal(1),
        pd_urine_min_increase_pct=Decimal(25),
        pd_urine_min_abs_mg_24h=Decimal(200),
        pd_marrow_min_increase_pct=Decimal(25),
        pd_marrow_min_abs_pct=Decimal(10),
    ),
    confirmation=ConfirmationRules(
        consecutive_assessments=2,
        maintained_min_days=42,
        maintained_categories=("PR", "MR"),
    ),
)

PARAMETERS: Mapping[str, ProtocolParameters] = MappingProxyType(
    {MC0282_ORIGINAL.amendment: MC0282_ORIGINAL}
)
"""Every amendment known to the ledger, by name. Read-only."""


def parameters_for(amendment: str) -> ProtocolParameters:
    """The parameters of the named amendment; an unknown name is refused, naming it."""
    try:
        return PARAMETERS[amendment]
    except KeyError:
        known = ", ".join(sorted(PARAMETERS))
        raise ValidationError(
            "amendment", amendment, f"no such protocol amendment (known: {known})"
        ) from None


def parameters_in_force(
    on: date, table: Mapping[str, ProtocolParameters] = PARAMETERS
) -> ProtocolParameters:
    """The amendment in force on ``on``: the latest ``effective_from`` not after ``on``.

    ``table`` defaults to :data:`PARAMETERS`; a date before the first amendment, or two
    amendments taking effect on the same day, is refused.
    """
    in_force = [p for p in table.values() if p.effective_from <= on]
    if not in_force:
        first = min((p.effective_from for p in table.values()), default=None)
        raise ValidationError("on", on, f"no protocol amendment in force yet (first: {first})")
    latest = max(p.effective_from for p in in_force)
    chosen = [p for p in in_force if p.effective_from == latest]
    if len(chosen) > 1:
        names = ", ".join(sorted(p.amendment for p in chosen))
        raise ValidationError("on", on, f"amendments {names} all take effect on {latest}")
    return chosen[0]
