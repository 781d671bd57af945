"""The dosing calendar of NCT00635154 (protocol, Treatment): what is called for on which day.

Rule ids in :data:`DOSE_RULE_IDS`:

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

from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ledger.errors import RuleViolation, ValidationError
from ledger.protocol.parameters import Drug, ProtocolParameters, Route
from ledger.protocol.schedule.protocol_time import _not_before, _unit_position
from ledger.protocol.schedule.regimens import ON_TREATMENT, Regimen

DOSE_RULE_IDS = frozenset(
    {
        "DOSE-ANAKINRA-DAILY",
        "DOSE-LOWDEX-WEEKLY",
        "DOSE-HIGHDEX-CALENDAR",
        "DOSE-NOT-IN-REGIMEN",
    }
)


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
