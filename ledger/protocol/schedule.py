"""Regimens, regimen transitions and the dosing calendar of NCT00635154 (protocol, Treatment).

Time. Protocol day 1 is the first day of treatment (CDISC SDTM study-day convention: the day
before is day -1, there is no day 0). A protocol month is ``params.schedule.month_unit``:
``cycle28`` (28-day cycles [assumed]: days 1-28 are month 1, day 169 starts month 7) or
``calendar`` (month m starts m-1 calendar months after the start, on the same day of the month
or the month's last day when shorter).

Transitions (rule ids in :data:`TRANSITION_RULE_IDS`) follow the protocol outline: induction
months 1-6; at month 6 responders (CR/VGPR/PR/MR) continue anakinra alone to month 12, stable
disease adds low-dose dexamethasone for months 7-12 (13-18 if still SD or better), progression
at any time moves to high-dose dexamethasone; beyond month 12 at the physician's discretion;
then follow-up every 6 months for up to 5 years.

Dosing calendar (rule ids in :data:`DOSE_RULE_IDS`):

* DOSE-ANAKINRA-DAILY: anakinra 100 mg SC every day of induction, continuation, low-dose and
  high-dose dexamethasone.
* DOSE-LOWDEX-WEEKLY: dexamethasone 20 mg PO once weekly, counted from the regimen start:
  regimen days 1, 8, 15, 22, 29, ... (with 28-day months: days 1, 8, 15, 22 of every month).
* DOSE-HIGHDEX-CALENDAR: dexamethasone 40 mg/day PO [assumed dose] on days 1-4, 9-12, 17-20 of
  the odd and days 1-4 of the even months of a 6-month course. [assumed] Months of the course
  are counted from the regimen start in ``month_unit`` (course month 1 = the first month of
  high-dose dexamethasone). For the month-6 decision the regimen starts on day 1 of protocol
  month 7, and the course months are exactly protocol months 7-12 as the protocol states; after
  progression at any other time (during induction, continuation or low-dose dexamethasone) the
  same 6-month course starts on the day the regimen starts. Anakinra continues daily while the
  regimen lasts; no dexamethasone is called for after the course (REG-HIGHDEX-COURSE-END).
* Nothing is called for in screening, off_treatment, follow_up or off_study.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ledger.errors import RuleViolation, ValidationError
from ledger.protocol.parameters import (
    Drug,
    Month6Basis,
    MonthUnit,
    ProgressionStart,
    ProtocolParameters,
    Route,
)
from ledger.protocol.response import Category


class Regimen(StrEnum):
    """What "current arm" means for one patient at one time."""

    SCREENING = "screening"
    INDUCTION = "induction"
    CONTINUATION = "continuation"
    LOW_DOSE_DEX = "low_dose_dex"
    HIGH_DOSE_DEX = "high_dose_dex"
    OFF_TREATMENT = "off_treatment"
    FOLLOW_UP = "follow_up"
    OFF_STUDY = "off_study"


ON_TREATMENT = frozenset(
    {Regimen.INDUCTION, Regimen.CONTINUATION, Regimen.LOW_DOSE_DEX, Regimen.HIGH_DOSE_DEX}
)
"""Regimens in which study drug is given (anakinra daily in all of them)."""

TRANSITION_RULE_IDS = frozenset(
    {
        "REG-SCREEN-ELIGIBLE",
        "REG-SCREEN-INELIGIBLE",
        "REG-M6-RESPONSE",
        "REG-M6-SD",
        "REG-M6-UNCONFIRMED",
        "REG-M6-NOT-ASSESSED",
        "REG-M6-BASIS",
        "REG-PD-START",
        "REG-M6-PD",
        "REG-PD-ANYTIME",
        "REG-PD-ON-HIGHDEX",
        "REG-M12-LOWDEX-EXTEND",
        "REG-M12-LOWDEX-END",
        "REG-M12-CONTINUATION-END",
        "REG-M12-DISCRETION",
        "REG-M12-HIGHDEX-COURSE",
        "REG-M18-LOWDEX-END",
        "REG-M18-DISCRETION",
        "REG-HIGHDEX-COURSE-END",
        "REG-OFF-TREATMENT",
        "REG-EOT-FOLLOW-UP",
        "REG-FU-COMPLETE",
        "REG-WITHDRAWAL",
        "REG-DEATH",
    }
)
DOSE_RULE_IDS = frozenset(
    {
        "DOSE-ANAKINRA-DAILY",
        "DOSE-LOWDEX-WEEKLY",
        "DOSE-HIGHDEX-CALENDAR",
        "DOSE-NOT-IN-REGIMEN",
    }
)
RULE_IDS = TRANSITION_RULE_IDS | DOSE_RULE_IDS


# --- protocol time ---------------------------------------------------------------------------


def _add_months(start: date, months: int) -> date:
    """``start`` moved by whole calendar months, clamped to the last day of a shorter month."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def _unit_start(anchor: date, month: int, unit: MonthUnit, cycle_length_days: int) -> date:
    if unit == "cycle28":
        return anchor + timedelta(days=cycle_length_days * (month - 1))
    return _add_months(anchor, month - 1)


def _unit_position(
    anchor: date, on: date, unit: MonthUnit, cycle_length_days: int
) -> tuple[int, int]:
    """(month, day of month), both 1-based, of ``on`` counted from ``anchor`` (on >= anchor)."""
    if unit == "cycle28":
        month, day = divmod((on - anchor).days, cycle_length_days)
        return month + 1, day + 1
    month = (on.year - anchor.year) * 12 + on.month - anchor.month + 1
    if _add_months(anchor, month - 1) > on:
        month -= 1
    return month, (on - _add_months(anchor, month - 1)).days + 1


def _not_before(field: str, on: date, start: date, what: str) -> None:
    if on < start:
        raise ValidationError(field, on, f"must not be before {what} ({start})")


def protocol_day(treatment_start: date, on: date) -> int:
    """Study day of ``on``: day 1 = treatment start, the day before is -1 (no day 0; SDTM)."""
    delta = (on - treatment_start).days
    return delta + 1 if delta >= 0 else delta


def protocol_month(treatment_start: date, on: date, params: ProtocolParameters) -> int:
    """1-based protocol month of ``on`` (28-day cycles: day 168 is month 6, day 169 month 7)."""
    _not_before("on", on, treatment_start, "the treatment start")
    s = params.schedule
    return _unit_position(treatment_start, on, s.month_unit, s.cycle_length_days)[0]


def day_of_month(treatment_start: date, on: date, params: ProtocolParameters) -> int:
    """1-based day of ``on`` within its protocol month."""
    _not_before("on", on, treatment_start, "the treatment start")
    s = params.schedule
    return _unit_position(treatment_start, on, s.month_unit, s.cycle_length_days)[1]


def month_start(treatment_start: date, month: int, params: ProtocolParameters) -> date:
    """First day of protocol month ``month`` (1-based)."""
    if month < 1:
        raise ValidationError("month", month, "protocol months are counted from 1")
    s = params.schedule
    return _unit_start(treatment_start, month, s.month_unit, s.cycle_length_days)


def month_end(treatment_start: date, month: int, params: ProtocolParameters) -> date:
    """Last day of protocol month ``month``."""
    return month_start(treatment_start, month + 1, params) - timedelta(days=1)


def month_6_decision_date(treatment_start: date, params: ProtocolParameters) -> date:
    """Last day of induction (month 6): the month-6 regimen starts the next day."""
    return month_end(treatment_start, params.schedule.induction_months, params)


def month_12_decision_date(treatment_start: date, params: ProtocolParameters) -> date:
    """Last day of month 12 (end of continuation and of the first low-dose period)."""
    return month_end(treatment_start, params.schedule.continuation_end_month, params)


def month_18_decision_date(treatment_start: date, params: ProtocolParameters) -> date:
    """Last day of month 18 (end of the low-dose extension)."""
    return month_end(treatment_start, params.schedule.low_dex_extension_end_month, params)


def high_dose_course_end(regimen_start: date, params: ProtocolParameters) -> date:
    """Last day of the 6-month high-dose course that started on ``regimen_start``."""
    s = params.schedule
    after = _unit_start(
        regimen_start, s.high_dex_course_months + 1, s.month_unit, s.cycle_length_days
    )
    return after - timedelta(days=1)


def follow_up_visits(treatment_end: date, params: ProtocolParameters) -> list[date]:
    """Follow-up visits every 6 months after treatment ends, up to 5 years (the last included).

    Counted in ``follow_up_month_unit`` [assumed calendar] from ``treatment_end``, each visit
    computed from ``treatment_end`` directly so that short months do not accumulate.
    """
    s = params.schedule
    visits = s.follow_up_duration_years * 12 // s.follow_up_interval_months
    return [
        _unit_start(
            treatment_end,
            k * s.follow_up_interval_months + 1,
            s.follow_up_month_unit,
            s.cycle_length_days,
        )
        for k in range(1, visits + 1)
    ]


def follow_up_end(treatment_end: date, params: ProtocolParameters) -> date:
    """The last day of follow-up: the last visit's scheduled date plus the visit window
    [assumed, ``follow_up_window_days``]; the study ends for the subject then (REG-FU-COMPLETE)."""
    last = follow_up_visits(treatment_end, params)[-1]
    return last + timedelta(days=params.schedule.follow_up_window_days)


# --- regimen transitions ---------------------------------------------------------------------


class RegimenDecision(BaseModel):
    """The regimen a rule calls for, the rule's id, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    regimen: Regimen
    rule_id: str
    reason: str


_SD_OR_BETTER = frozenset({Category.CR, Category.VGPR, Category.PR, Category.MR, Category.SD})


def _refuse(rule: str, current: Regimen, expected: str) -> RuleViolation:
    return RuleViolation(f"{rule}: expected {expected}; found regimen {current}")


def regimen_after_screening(*, eligible: bool) -> RegimenDecision:
    """Eligible patients start induction (anakinra alone, months 1-6); others leave the study."""
    if eligible:
        return RegimenDecision(
            regimen=Regimen.INDUCTION,
            rule_id="REG-SCREEN-ELIGIBLE",
            reason="eligible: induction with anakinra alone, months 1-6",
        )
    return RegimenDecision(
        regimen=Regimen.OFF_STUDY,
        rule_id="REG-SCREEN-INELIGIBLE",
        reason="not eligible (or not treated): off study without treatment",
    )


def regimen_at_month_6(
    category: Category | None, *, reading: Month6Basis = "month6_assessment"
) -> RegimenDecision:
    """The month-6 decision (protocol, Treatment) on ``category``, read as ``reading`` says
    [REG-M6-BASIS, see :class:`~ledger.protocol.parameters.Readings`]: the category derived at
    the month-6 assessment, or the best confirmed one. PD is passed only when progression is
    confirmed (CONF-PD, CONF-PD-SINGLE); an unconfirmed PD at month 6 is passed as SD.

    CR, VGPR, PR or MR: continuation, anakinra alone months 7-12 [REG-M6-RESPONSE]. SD: add
    low-dose dexamethasone [REG-M6-SD]. PD: high-dose dexamethasone [REG-M6-PD]. No category:
    treated as stable disease [assumed]: no month-6 assessment [REG-M6-NOT-ASSESSED], or
    nothing confirmed when the decision reads confirmed categories [REG-M6-UNCONFIRMED].
    """
    if category is Category.PD:
        return RegimenDecision(
            regimen=Regimen.HIGH_DOSE_DEX,
            rule_id="REG-M6-PD",
            reason="progression confirmed at month 6: anakinra + high-dose dexamethasone",
        )
    if category is None:
        if reading == "confirmed":
            return RegimenDecision(
                regimen=Regimen.LOW_DOSE_DEX,
                rule_id="REG-M6-UNCONFIRMED",
                reason="no confirmed response or progression at month 6: treated as stable "
                "disease, anakinra + low-dose dexamethasone months 7-12",
            )
        return RegimenDecision(
            regimen=Regimen.LOW_DOSE_DEX,
            rule_id="REG-M6-NOT-ASSESSED",
            reason="no response assessment in month 6: treated as stable disease, anakinra + "
            "low-dose dexamethasone months 7-12",
        )
    seen = "confirmed" if reading == "confirmed" else "at the month-6 assessment"
    if category is Category.SD:
        return RegimenDecision(
            regimen=Regimen.LOW_DOSE_DEX,
            rule_id="REG-M6-SD",
            reason=f"stable disease {seen}: anakinra + low-dose dexamethasone months 7-12",
        )
    return RegimenDecision(
        regimen=Regimen.CONTINUATION,
        rule_id="REG-M6-RESPONSE",
        reason=f"{category} {seen}: anakinra alone continues, months 7-12",
    )


def progression_start(
    treatment_start: date,
    confirmed_on: date,
    params: ProtocolParameters,
    reading: ProgressionStart | None = None,
) -> date:
    """First day of high-dose dexamethasone after progression confirmed on ``confirmed_on``
    [REG-PD-START, see :class:`~ledger.protocol.parameters.Readings`]: that day, or day 1 of
    the next protocol month."""
    chosen = reading or params.readings.progression_start
    if chosen == "on_confirmation" or confirmed_on < treatment_start:
        return confirmed_on
    return month_start(
        treatment_start, protocol_month(treatment_start, confirmed_on, params) + 1, params
    )


def regimen_after_progression(current: Regimen) -> RegimenDecision:
    """Progression at any time, induction included, moves to high-dose dexamethasone.

    [REG-PD-ANYTIME] from induction, continuation or low-dose dexamethasone. [REG-PD-ON-HIGHDEX,
    assumed] progression on high-dose dexamethasone ends study treatment: the protocol has no
    further step. Off treatment there is no regimen to change: refused (RuleViolation).
    """
    if current is Regimen.HIGH_DOSE_DEX:
        return RegimenDecision(
            regimen=Regimen.OFF_TREATMENT,
            rule_id="REG-PD-ON-HIGHDEX",
            reason="progression on high-dose dexamethasone: no further protocol step, "
            "study treatment ends",
        )
    if current not in ON_TREATMENT:
        raise _refuse("REG-PD-ANYTIME", current, "an on-treatment regimen")
    return RegimenDecision(
        regimen=Regimen.HIGH_DOSE_DEX,
        rule_id="REG-PD-ANYTIME",
        reason=f"progression during {current}: anakinra + high-dose dexamethasone",
    )


def regimen_at_month_12(
    current: Regimen, latest_category: Category | None, *, physician_continues: bool = False
) -> RegimenDecision:
    """The month-12 decision (protocol, Treatment: months 13-18; beyond 12 at discretion).

    PD: as :func:`regimen_after_progression`. Low-dose dexamethasone: continues months 13-18
    when the latest category is SD or better [REG-M12-LOWDEX-EXTEND]; with no assessment the
    extension's condition is not shown and treatment ends [REG-M12-LOWDEX-END, assumed].
    Continuation: study treatment ends [REG-M12-CONTINUATION-END] unless the treating physician
    continues anakinra [REG-M12-DISCRETION]. High-dose dexamethasone runs its own 6-month course
    and is unchanged [REG-M12-HIGHDEX-COURSE]. Any other regimen is refused.
    """
    if latest_category is Category.PD:
        return regimen_after_progression(current)
    if current is Regimen.LOW_DOSE_DEX:
        if latest_category in _SD_OR_BETTER:
            return RegimenDecision(
                regimen=Regimen.LOW_DOSE_DEX,
                rule_id="REG-M12-LOWDEX-EXTEND",
                reason=f"{latest_category} at month 12: low-dose dexamethasone months 13-18",
            )
        return RegimenDecision(
            regimen=Regimen.OFF_TREATMENT,
            rule_id="REG-M12-LOWDEX-END",
            reason="no assessment shows SD or better at month 12: study treatment ends",
        )
    if current is Regimen.CONTINUATION:
        if physician_continues:
            return RegimenDecision(
                regimen=Regimen.CONTINUATION,
                rule_id="REG-M12-DISCRETION",
                reason="treating physician continues anakinra beyond month 12",
            )
        return RegimenDecision(
            regimen=Regimen.OFF_TREATMENT,
            rule_id="REG-M12-CONTINUATION-END",
            reason="continuation complete at month 12: study treatment ends",
        )
    if current is Regimen.HIGH_DOSE_DEX:
        return RegimenDecision(
            regimen=Regimen.HIGH_DOSE_DEX,
            rule_id="REG-M12-HIGHDEX-COURSE",
            reason="high-dose dexamethasone runs its own 6-month course from its start",
        )
    raise _refuse("REG-M12", current, "continuation, low_dose_dex or high_dose_dex at month 12")


def regimen_at_month_18(
    current: Regimen, latest_category: Category | None, *, physician_continues: bool = False
) -> RegimenDecision:
    """The month-18 decision: the end of the low-dose extension (protocol, Treatment).

    PD: as :func:`regimen_after_progression`. Low-dose dexamethasone ends
    [REG-M18-LOWDEX-END] unless the physician continues it with SD or better
    [REG-M18-DISCRETION]. Only low-dose dexamethasone has a month-18 milestone; any other regimen
    is refused (treatment continued at discretion ends by :func:`end_treatment`).
    """
    if latest_category is Category.PD:
        return regimen_after_progression(current)
    if current is not Regimen.LOW_DOSE_DEX:
        raise _refuse("REG-M18", current, "low_dose_dex at month 18")
    if physician_continues and latest_category in _SD_OR_BETTER:
        return RegimenDecision(
            regimen=Regimen.LOW_DOSE_DEX,
            rule_id="REG-M18-DISCRETION",
            reason=f"{latest_category} at month 18: physician continues low-dose dexamethasone",
        )
    return RegimenDecision(
        regimen=Regimen.OFF_TREATMENT,
        rule_id="REG-M18-LOWDEX-END",
        reason="low-dose extension complete at month 18: study treatment ends",
    )


def regimen_after_high_dose_course(current: Regimen) -> RegimenDecision:
    """The 6-month high-dose course is complete: study treatment ends [REG-HIGHDEX-COURSE-END]."""
    if current is not Regimen.HIGH_DOSE_DEX:
        raise _refuse("REG-HIGHDEX-COURSE-END", current, "high_dose_dex")
    return RegimenDecision(
        regimen=Regimen.OFF_TREATMENT,
        rule_id="REG-HIGHDEX-COURSE-END",
        reason="high-dose dexamethasone course complete: study treatment ends",
    )


def end_treatment(current: Regimen, reason: str) -> RegimenDecision:
    """Study treatment stops early or at the physician's discretion (toxicity, refusal, ...)."""
    if current not in ON_TREATMENT:
        raise _refuse("REG-OFF-TREATMENT", current, "an on-treatment regimen")
    if not reason.strip():
        raise ValidationError("reason", reason, "ending treatment needs a reason")
    return RegimenDecision(
        regimen=Regimen.OFF_TREATMENT, rule_id="REG-OFF-TREATMENT", reason=reason
    )


def end_of_treatment(current: Regimen) -> RegimenDecision:
    """After study treatment ends the patient is followed [REG-EOT-FOLLOW-UP]."""
    if current is not Regimen.OFF_TREATMENT:
        raise _refuse("REG-EOT-FOLLOW-UP", current, "off_treatment")
    return RegimenDecision(
        regimen=Regimen.FOLLOW_UP,
        rule_id="REG-EOT-FOLLOW-UP",
        reason="study treatment ended: follow-up every 6 months for up to 5 years",
    )


def follow_up_complete(current: Regimen) -> RegimenDecision:
    """The 5-year follow-up is over: off study [REG-FU-COMPLETE]."""
    if current is not Regimen.FOLLOW_UP:
        raise _refuse("REG-FU-COMPLETE", current, "follow_up")
    return RegimenDecision(
        regimen=Regimen.OFF_STUDY, rule_id="REG-FU-COMPLETE", reason="follow-up complete"
    )


def died(current: Regimen, cause: str) -> RegimenDecision:
    """Death ends participation from any regimen [REG-DEATH]."""
    if current is Regimen.OFF_STUDY:
        raise _refuse("REG-DEATH", current, "a patient still on study")
    return RegimenDecision(regimen=Regimen.OFF_STUDY, rule_id="REG-DEATH", reason=f"death: {cause}")


def withdraw(current: Regimen, reason: str) -> RegimenDecision:
    """Consent withdrawn, lost to follow-up or another end of participation: off study from
    anywhere [REG-WITHDRAWAL] (death has its own rule, REG-DEATH)."""
    if current is Regimen.OFF_STUDY:
        raise _refuse("REG-WITHDRAWAL", current, "a patient still on study")
    if not reason.strip():
        raise ValidationError("reason", reason, "going off study needs a reason")
    return RegimenDecision(regimen=Regimen.OFF_STUDY, rule_id="REG-WITHDRAWAL", reason=reason)


# --- dosing calendar -------------------------------------------------------------------------


class ScheduledDose(BaseModel):
    """One dose the protocol calls for, and the rule that calls for it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    drug: Drug
    dose: Decimal
    unit: Literal["mg"]
    route: Route
    rule_id: str


class DoseRuleViolation(RuleViolation):
    """A recorded dose that the dosing calendar does not call for (day, amount or route)."""

    def __init__(self, rule_id: str, on: date, expected: str, found: str) -> None:
        self.rule_id = rule_id
        self.on = on
        self.expected = expected
        self.found = found
        super().__init__(f"{rule_id}: on {on} expected {expected}; found {found}")


def _check_regimen_dates(treatment_start: date, regimen_start: date, on: date) -> None:
    _not_before("regimen_start", regimen_start, treatment_start, "the treatment start")
    _not_before("on", on, regimen_start, "the regimen start")


def _dex_rule(regimen: Regimen) -> str | None:
    if regimen is Regimen.LOW_DOSE_DEX:
        return "DOSE-LOWDEX-WEEKLY"
    if regimen is Regimen.HIGH_DOSE_DEX:
        return "DOSE-HIGHDEX-CALENDAR"
    return None


def doses_called_for(
    regimen: Regimen,
    treatment_start: date,
    regimen_start: date,
    on: date,
    params: ProtocolParameters,
) -> tuple[ScheduledDose, ...]:
    """Every dose the protocol calls for on ``on`` (see the module docstring for the calendar).

    ``regimen_start`` is the first day of the current regimen; for on-treatment regimens it
    may not precede ``treatment_start`` and ``on`` may not precede it.
    """
    if regimen not in ON_TREATMENT:
        return ()
    _check_regimen_dates(treatment_start, regimen_start, on)
    d, s = params.dosing, params.schedule
    doses = [
        ScheduledDose(
            drug="anakinra",
            dose=d.anakinra_dose_mg,
            unit="mg",
            route=d.anakinra_route,
            rule_id="DOSE-ANAKINRA-DAILY",
        )
    ]
    if regimen is Regimen.LOW_DOSE_DEX and (on - regimen_start).days % d.low_dex_interval_days == 0:
        doses.append(
            ScheduledDose(
                drug="dexamethasone",
                dose=d.low_dex_dose_mg,
                unit="mg",
                route=d.low_dex_route,
                rule_id="DOSE-LOWDEX-WEEKLY",
            )
        )
    if regimen is Regimen.HIGH_DOSE_DEX:
        month, day = _unit_position(regimen_start, on, s.month_unit, s.cycle_length_days)
        course = d.high_dex_days_by_course_month
        if month <= len(course) and day in course[month - 1]:
            doses.append(
                ScheduledDose(
                    drug="dexamethasone",
                    dose=d.high_dex_dose_mg,
                    unit="mg",
                    route=d.high_dex_route,
                    rule_id="DOSE-HIGHDEX-CALENDAR",
                )
            )
    return tuple(doses)


def check_dose(
    regimen: Regimen,
    treatment_start: date,
    regimen_start: date,
    on: date,
    drug: Drug,
    dose: Decimal,
    route: Route,
    params: ProtocolParameters,
) -> None:
    """Refuse a dose the calendar does not call for, naming the rule, expected and found.

    Raises :class:`DoseRuleViolation` (a :class:`RuleViolation`) when ``drug`` is not given in
    ``regimen`` at all [DOSE-NOT-IN-REGIMEN], not on that day [the drug's calendar rule], or in
    another amount or route [the rule that calls for it].
    """
    found = f"{drug} {dose} mg {route}"
    scheduled = [
        s
        for s in doses_called_for(regimen, treatment_start, regimen_start, on, params)
        if s.drug == drug
    ]
    if not scheduled:
        rule = "DOSE-ANAKINRA-DAILY" if drug == "anakinra" else _dex_rule(regimen)
        if regimen not in ON_TREATMENT or rule is None:
            raise DoseRuleViolation(
                "DOSE-NOT-IN-REGIMEN", on, f"no {drug} in regimen {regimen}", found
            )
        raise DoseRuleViolation(rule, on, f"no {drug} on this day of {regimen}", found)
    expected = scheduled[0]
    if expected.dose != dose or expected.route != route:
        raise DoseRuleViolation(
            expected.rule_id,
            on,
            f"{expected.drug} {expected.dose} mg {expected.route}",
            found,
        )


def next_doses(
    regimen: Regimen,
    treatment_start: date,
    regimen_start: date,
    after: date,
    params: ProtocolParameters,
    n: int,
) -> list[tuple[date, ScheduledDose]]:
    """The next ``n`` doses strictly after ``after`` if the regimen continues unchanged.

    Empty for a regimen without study drug. Doses on one day come anakinra first.
    """
    if n < 0:
        raise ValidationError("n", n, "must be >= 0")
    if regimen not in ON_TREATMENT:
        return []
    _not_before("regimen_start", regimen_start, treatment_start, "the treatment start")
    day = max(after + timedelta(days=1), regimen_start)
    found: list[tuple[date, ScheduledDose]] = []
    while len(found) < n:  # anakinra is daily: at least one dose per day, so this ends
        found.extend(
            (day, dose)
            for dose in doses_called_for(regimen, treatment_start, regimen_start, day, params)
        )
        day += timedelta(days=1)
    return found[:n]
