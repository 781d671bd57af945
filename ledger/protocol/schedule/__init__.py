"""Regimens, regimen transitions and the dosing calendar of NCT00635154 (protocol, Treatment).

* :mod:`~ledger.protocol.schedule.protocol_time`: study days and protocol months (28-day
  cycles or calendar months), the month-6/12/18 decision dates, the high-dose course end and
  the follow-up visits;
* :mod:`~ledger.protocol.schedule.regimens`: the regimens (:class:`Regimen`) and every
  transition between them, each a :class:`RegimenDecision` citing its rule id
  (:data:`TRANSITION_RULE_IDS`);
* :mod:`~ledger.protocol.schedule.dosing`: the dosing calendar, what is called for on which
  day and the refusal of a dose it does not call for (:data:`DOSE_RULE_IDS`).

Every name is importable from here as well.
"""

from __future__ import annotations

from ledger.protocol.schedule.dosing import (
    DOSE_RULE_IDS,
    DoseRuleViolation,
    ScheduledDose,
    check_dose,
    doses_called_for,
    next_doses,
)
from ledger.protocol.schedule.protocol_time import (
    day_of_month,
    follow_up_end,
    follow_up_visits,
    high_dose_course_end,
    month_6_decision_date,
    month_12_decision_date,
    month_18_decision_date,
    month_end,
    month_start,
    protocol_day,
    protocol_month,
)
from ledger.protocol.schedule.regimens import (
    ON_TREATMENT,
    TRANSITION_RULE_IDS,
    Regimen,
    RegimenDecision,
    died,
    end_of_treatment,
    end_treatment,
    follow_up_complete,
    progression_start,
    regimen_after_high_dose_course,
    regimen_after_progression,
    regimen_after_screening,
    regimen_at_month_6,
    regimen_at_month_12,
    regimen_at_month_18,
    withdraw,
)

RULE_IDS = TRANSITION_RULE_IDS | DOSE_RULE_IDS

__all__ = [
    "DOSE_RULE_IDS",
    "ON_TREATMENT",
    "RULE_IDS",
    "TRANSITION_RULE_IDS",
    "DoseRuleViolation",
    "Regimen",
    "RegimenDecision",
    "ScheduledDose",
    "check_dose",
    "day_of_month",
    "died",
    "doses_called_for",
    "end_of_treatment",
    "end_treatment",
    "follow_up_complete",
    "follow_up_end",
    "follow_up_visits",
    "high_dose_course_end",
    "month_6_decision_date",
    "month_12_decision_date",
    "month_18_decision_date",
    "month_end",
    "month_start",
    "next_doses",
    "progression_start",
    "protocol_day",
    "protocol_month",
    "regimen_after_high_dose_course",
    "regimen_after_progression",
    "regimen_after_screening",
    "regimen_at_month_6",
    "regimen_at_month_12",
    "regimen_at_month_18",
    "withdraw",
]
