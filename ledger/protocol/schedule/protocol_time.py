"""Protocol time of NCT00635154: study days, protocol months, decision dates and follow-up.

Protocol day 1 is the first day of treatment (CDISC SDTM study-day convention: the day before is
day -1, there is no day 0). A protocol month is ``params.schedule.month_unit``: ``cycle28``
(28-day cycles [assumed]: days 1-28 are month 1, day 169 starts month 7) or ``calendar`` (month
m starts m-1 calendar months after the start, on the same day of the month or the month's last
day when shorter).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from ledger.errors import ValidationError
from ledger.protocol.parameters import MonthUnit, ProtocolParameters


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
