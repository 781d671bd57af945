"""Protocol time, regimen transitions and the dosing calendar."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from ledger.errors import RuleViolation, ValidationError
from ledger.protocol import schedule
from ledger.protocol.parameters import ProtocolParameters, parameters_for
from ledger.protocol.response import Category
from ledger.protocol.schedule import (
    ON_TREATMENT,
    DoseRuleViolation,
    Regimen,
    ScheduledDose,
    check_dose,
    day_of_month,
    doses_called_for,
    end_of_treatment,
    end_treatment,
    follow_up_complete,
    follow_up_visits,
    high_dose_course_end,
    month_6_decision_date,
    month_12_decision_date,
    month_18_decision_date,
    month_end,
    month_start,
    next_doses,
    protocol_day,
    protocol_month,
    regimen_after_high_dose_course,
    regimen_after_progression,
    regimen_after_screening,
    regimen_at_month_6,
    regimen_at_month_12,
    regimen_at_month_18,
    withdraw,
)

PARAMS = parameters_for("MC0282-original")
CALENDAR = PARAMS.model_copy(
    update={"schedule": PARAMS.schedule.model_copy(update={"month_unit": "calendar"})}
)
START = date(2003, 1, 6)
CR, VGPR, PR, MR, SD, PD = Category
ODD = {1, 2, 3, 4, 9, 10, 11, 12, 17, 18, 19, 20}
EVEN = {1, 2, 3, 4}


def day(n: int) -> date:
    """The date of protocol day ``n`` (day 1 = START)."""
    return START + timedelta(days=n - 1)


def dex_days(
    regimen: Regimen, regimen_start: date, first: date, last: date, params: ProtocolParameters
) -> list[date]:
    days, on = [], first
    while on <= last:
        doses = doses_called_for(regimen, START, regimen_start, on, params)
        if any(d.drug == "dexamethasone" for d in doses):
            days.append(on)
        on += timedelta(days=1)
    return days


# --- protocol time ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        pytest.param(START, 1, id="start-is-day-1"),
        pytest.param(START + timedelta(days=1), 2, id="next-day-is-day-2"),
        pytest.param(START - timedelta(days=1), -1, id="day-before-is-minus-1-no-day-0"),
        pytest.param(START - timedelta(days=7), -7, id="a-week-before-is-minus-7"),
    ],
)
def test_protocol_day_counts_from_1_at_the_treatment_start(on: date, expected: int) -> None:
    assert protocol_day(START, on) == expected


@pytest.mark.parametrize(
    ("protocol_day_number", "month", "day_in_month"),
    [
        pytest.param(1, 1, 1, id="day-1-is-month-1"),
        pytest.param(28, 1, 28, id="day-28-is-month-1"),
        pytest.param(29, 2, 1, id="day-29-is-month-2"),
        pytest.param(168, 6, 28, id="day-168-is-month-6"),
        pytest.param(169, 7, 1, id="day-169-is-month-7"),
        pytest.param(336, 12, 28, id="day-336-is-month-12"),
        pytest.param(337, 13, 1, id="day-337-is-month-13"),
    ],
)
def test_28_day_months(protocol_day_number: int, month: int, day_in_month: int) -> None:
    on = day(protocol_day_number)
    assert protocol_month(START, on, PARAMS) == month
    assert day_of_month(START, on, PARAMS) == day_in_month
    assert month_start(START, month, PARAMS) == on - timedelta(days=day_in_month - 1)


@pytest.mark.parametrize(
    ("on", "month", "day_in_month"),
    [
        pytest.param(date(2003, 1, 31), 1, 1, id="jan-31-starts-month-1"),
        pytest.param(date(2003, 2, 27), 1, 28, id="feb-27-is-still-month-1"),
        pytest.param(date(2003, 2, 28), 2, 1, id="short-february-starts-month-2-on-the-28th"),
        pytest.param(date(2003, 3, 30), 2, 31, id="mar-30-is-month-2"),
        pytest.param(date(2003, 3, 31), 3, 1, id="mar-31-starts-month-3"),
        pytest.param(date(2004, 1, 31), 13, 1, id="a-year-later-starts-month-13"),
    ],
)
def test_calendar_months_keep_the_start_day_clamped_to_short_months(
    on: date, month: int, day_in_month: int
) -> None:
    start = date(2003, 1, 31)
    assert protocol_month(start, on, CALENDAR) == month
    assert day_of_month(start, on, CALENDAR) == day_in_month


def test_month_start_and_end_bracket_each_month() -> None:
    assert month_start(START, 7, PARAMS) == day(169)
    assert month_end(START, 6, PARAMS) == day(168)
    assert month_end(START, 1, CALENDAR) == date(2003, 2, 5)


def test_decision_dates_are_the_last_days_of_months_6_12_and_18() -> None:
    assert month_6_decision_date(START, PARAMS) == day(168)
    assert month_12_decision_date(START, PARAMS) == day(336)
    assert month_18_decision_date(START, PARAMS) == day(504)


def test_a_date_before_treatment_has_no_protocol_month() -> None:
    with pytest.raises(ValidationError, match=r"on=.*must not be before the treatment start"):
        protocol_month(START, START - timedelta(days=1), PARAMS)
    with pytest.raises(ValidationError, match=r"on=.*must not be before the treatment start"):
        day_of_month(START, START - timedelta(days=1), PARAMS)


def test_month_zero_is_refused() -> None:
    with pytest.raises(
        ValidationError, match=r"month=0 refused: protocol months are counted from 1"
    ):
        month_start(START, 0, PARAMS)


# --- regimen transitions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("eligible", "regimen", "rule"),
    [
        pytest.param(
            True, Regimen.INDUCTION, "REG-SCREEN-ELIGIBLE", id="eligible-starts-induction"
        ),
        pytest.param(False, Regimen.OFF_STUDY, "REG-SCREEN-INELIGIBLE", id="ineligible-off-study"),
    ],
)
def test_screening_outcome(eligible: bool, regimen: Regimen, rule: str) -> None:
    decision = regimen_after_screening(eligible=eligible)
    assert (decision.regimen, decision.rule_id) == (regimen, rule)


@pytest.mark.parametrize(
    ("confirmed", "regimen", "rule"),
    [
        pytest.param(CR, Regimen.CONTINUATION, "REG-M6-RESPONSE", id="cr-continues-anakinra"),
        pytest.param(VGPR, Regimen.CONTINUATION, "REG-M6-RESPONSE", id="vgpr-continues-anakinra"),
        pytest.param(PR, Regimen.CONTINUATION, "REG-M6-RESPONSE", id="pr-continues-anakinra"),
        pytest.param(MR, Regimen.CONTINUATION, "REG-M6-RESPONSE", id="mr-continues-anakinra"),
        pytest.param(SD, Regimen.LOW_DOSE_DEX, "REG-M6-SD", id="sd-moves-to-low-dose-dex"),
        pytest.param(
            None, Regimen.LOW_DOSE_DEX, "REG-M6-NOT-ASSESSED", id="not-assessed-moves-to-low-dose"
        ),
        pytest.param(PD, Regimen.HIGH_DOSE_DEX, "REG-M6-PD", id="pd-moves-to-high-dose-dex"),
    ],
)
def test_month_6_decision(confirmed: Category | None, regimen: Regimen, rule: str) -> None:
    decision = regimen_at_month_6(confirmed)
    assert (decision.regimen, decision.rule_id) == (regimen, rule)
    assert decision.reason


def test_month_6_decision_on_confirmed_categories_names_an_unconfirmed_status() -> None:
    """REG-M6-BASIS, the other reading: nothing confirmed at month 6 is REG-M6-UNCONFIRMED."""
    decision = regimen_at_month_6(None, reading="confirmed")
    assert (decision.regimen, decision.rule_id) == (Regimen.LOW_DOSE_DEX, "REG-M6-UNCONFIRMED")
    assert "confirmed" in regimen_at_month_6(MR, reading="confirmed").reason


def test_readings_name_their_rules_and_default_to_the_documented_choice() -> None:
    """REG-M6-BASIS reads the month-6 assessment; REG-PD-START starts on confirmation."""
    readings = parameters_for("MC0282-original").readings
    assert (readings.month6_basis, readings.progression_start) == (
        "month6_assessment",
        "on_confirmation",
    )


@pytest.mark.parametrize(
    ("reading", "confirmed_on", "starts"),
    [
        pytest.param("on_confirmation", date(2003, 3, 20), date(2003, 3, 20), id="same-day"),
        pytest.param(
            "next_protocol_month", date(2003, 3, 20), date(2003, 4, 7), id="next-month-day-1"
        ),
        pytest.param("next_protocol_month", date(2003, 4, 7), date(2003, 5, 5), id="from-a-day-1"),
    ],
)
def test_high_dose_start_after_progression_follows_reg_pd_start(
    reading: str, confirmed_on: date, starts: date
) -> None:
    params = parameters_for("MC0282-original")
    start = date(2003, 1, 13)  # months of 28 days: month 3 starts 2003-03-10, 4 on 04-07
    assert schedule.progression_start(start, confirmed_on, params, reading) == starts  # type: ignore[arg-type]


def test_death_takes_the_patient_off_study_under_its_own_rule() -> None:
    decision = schedule.died(Regimen.FOLLOW_UP, "stroke")
    assert (decision.regimen, decision.rule_id) == (Regimen.OFF_STUDY, "REG-DEATH")
    with pytest.raises(RuleViolation, match="REG-DEATH: expected a patient still on study"):
        schedule.died(Regimen.OFF_STUDY, "stroke")


def test_follow_up_ends_after_the_last_visit_window() -> None:
    params = parameters_for("MC0282-original")
    end = schedule.follow_up_end(date(2004, 1, 15), params)
    assert end == date(2009, 1, 15) + timedelta(days=params.schedule.follow_up_window_days)


@pytest.mark.parametrize(
    "current",
    [
        pytest.param(Regimen.INDUCTION, id="induction"),
        pytest.param(Regimen.CONTINUATION, id="continuation"),
        pytest.param(Regimen.LOW_DOSE_DEX, id="low-dose-dex"),
    ],
)
def test_progression_at_any_time_moves_to_high_dose_dex(current: Regimen) -> None:
    decision = regimen_after_progression(current)
    assert (decision.regimen, decision.rule_id) == (Regimen.HIGH_DOSE_DEX, "REG-PD-ANYTIME")


def test_progression_on_high_dose_dex_ends_study_treatment() -> None:
    decision = regimen_after_progression(Regimen.HIGH_DOSE_DEX)
    assert (decision.regimen, decision.rule_id) == (Regimen.OFF_TREATMENT, "REG-PD-ON-HIGHDEX")


@pytest.mark.parametrize(
    "current",
    [
        pytest.param(r, id=r.value)
        for r in (Regimen.SCREENING, Regimen.OFF_TREATMENT, Regimen.FOLLOW_UP, Regimen.OFF_STUDY)
    ],
)
def test_progression_off_treatment_changes_no_regimen(current: Regimen) -> None:
    with pytest.raises(RuleViolation, match=rf"REG-PD-ANYTIME: expected .*found regimen {current}"):
        regimen_after_progression(current)


@pytest.mark.parametrize(
    ("current", "latest", "continues", "regimen", "rule"),
    [
        pytest.param(
            Regimen.LOW_DOSE_DEX, SD, False, Regimen.LOW_DOSE_DEX, "REG-M12-LOWDEX-EXTEND",
            id="low-dose-sd-extends-to-month-18",
        ),
        pytest.param(
            Regimen.LOW_DOSE_DEX, PR, False, Regimen.LOW_DOSE_DEX, "REG-M12-LOWDEX-EXTEND",
            id="low-dose-responding-extends-to-month-18",
        ),
        pytest.param(
            Regimen.LOW_DOSE_DEX, None, False, Regimen.OFF_TREATMENT, "REG-M12-LOWDEX-END",
            id="low-dose-unassessed-ends",
        ),
        pytest.param(
            Regimen.LOW_DOSE_DEX, PD, False, Regimen.HIGH_DOSE_DEX, "REG-PD-ANYTIME",
            id="low-dose-pd-moves-to-high-dose",
        ),
        pytest.param(
            Regimen.CONTINUATION, PR, False, Regimen.OFF_TREATMENT, "REG-M12-CONTINUATION-END",
            id="continuation-ends-at-month-12",
        ),
        pytest.param(
            Regimen.CONTINUATION, MR, True, Regimen.CONTINUATION, "REG-M12-DISCRETION",
            id="physician-continues-anakinra",
        ),
        pytest.param(
            Regimen.CONTINUATION, PD, True, Regimen.HIGH_DOSE_DEX, "REG-PD-ANYTIME",
            id="continuation-pd-moves-to-high-dose",
        ),
        pytest.param(
            Regimen.HIGH_DOSE_DEX, SD, False, Regimen.HIGH_DOSE_DEX, "REG-M12-HIGHDEX-COURSE",
            id="high-dose-runs-its-own-course",
        ),
    ],
)  # fmt: skip
def test_month_12_decision(
    current: Regimen, latest: Category | None, continues: bool, regimen: Regimen, rule: str
) -> None:
    decision = regimen_at_month_12(current, latest, physician_continues=continues)
    assert (decision.regimen, decision.rule_id) == (regimen, rule)


@pytest.mark.parametrize(
    "current",
    [pytest.param(r, id=r.value) for r in (Regimen.INDUCTION, Regimen.FOLLOW_UP)],
)
def test_month_12_decision_is_refused_outside_the_month_7_12_regimens(current: Regimen) -> None:
    with pytest.raises(RuleViolation, match=rf"REG-M12: expected .*found regimen {current}"):
        regimen_at_month_12(current, SD)


@pytest.mark.parametrize(
    ("latest", "continues", "regimen", "rule"),
    [
        pytest.param(SD, False, Regimen.OFF_TREATMENT, "REG-M18-LOWDEX-END", id="extension-ends"),
        pytest.param(SD, True, Regimen.LOW_DOSE_DEX, "REG-M18-DISCRETION", id="physician-goes-on"),
        pytest.param(None, True, Regimen.OFF_TREATMENT, "REG-M18-LOWDEX-END", id="unassessed"),
        pytest.param(PD, False, Regimen.HIGH_DOSE_DEX, "REG-PD-ANYTIME", id="pd-to-high-dose"),
    ],
)
def test_month_18_decision(
    latest: Category | None, continues: bool, regimen: Regimen, rule: str
) -> None:
    decision = regimen_at_month_18(Regimen.LOW_DOSE_DEX, latest, physician_continues=continues)
    assert (decision.regimen, decision.rule_id) == (regimen, rule)


def test_month_18_is_a_milestone_of_the_low_dose_extension_only() -> None:
    with pytest.raises(RuleViolation, match=r"REG-M18: expected low_dose_dex"):
        regimen_at_month_18(Regimen.CONTINUATION, PR)


def test_the_end_of_the_high_dose_course_ends_study_treatment() -> None:
    decision = regimen_after_high_dose_course(Regimen.HIGH_DOSE_DEX)
    assert (decision.regimen, decision.rule_id) == (Regimen.OFF_TREATMENT, "REG-HIGHDEX-COURSE-END")
    with pytest.raises(RuleViolation, match=r"REG-HIGHDEX-COURSE-END: expected high_dose_dex"):
        regimen_after_high_dose_course(Regimen.CONTINUATION)


@pytest.mark.parametrize("current", [pytest.param(r, id=r.value) for r in sorted(ON_TREATMENT)])
def test_treatment_can_end_early_from_any_on_treatment_regimen(current: Regimen) -> None:
    decision = end_treatment(current, "grade 3 injection-site reaction")
    assert (decision.regimen, decision.rule_id) == (Regimen.OFF_TREATMENT, "REG-OFF-TREATMENT")
    assert decision.reason == "grade 3 injection-site reaction"


def test_ending_treatment_needs_a_reason_and_an_on_treatment_regimen() -> None:
    with pytest.raises(ValidationError, match=r"reason=' ' refused: ending treatment needs"):
        end_treatment(Regimen.INDUCTION, " ")
    with pytest.raises(RuleViolation, match=r"REG-OFF-TREATMENT: expected an on-treatment"):
        end_treatment(Regimen.FOLLOW_UP, "physician decision")


def test_end_of_treatment_moves_to_follow_up_then_off_study() -> None:
    decision = end_of_treatment(Regimen.OFF_TREATMENT)
    assert (decision.regimen, decision.rule_id) == (Regimen.FOLLOW_UP, "REG-EOT-FOLLOW-UP")
    done = follow_up_complete(Regimen.FOLLOW_UP)
    assert (done.regimen, done.rule_id) == (Regimen.OFF_STUDY, "REG-FU-COMPLETE")
    with pytest.raises(RuleViolation, match=r"REG-EOT-FOLLOW-UP: expected off_treatment"):
        end_of_treatment(Regimen.CONTINUATION)
    with pytest.raises(RuleViolation, match=r"REG-FU-COMPLETE: expected follow_up"):
        follow_up_complete(Regimen.OFF_TREATMENT)


def test_withdrawal_goes_off_study_from_anywhere_on_study() -> None:
    for current in Regimen:
        if current is Regimen.OFF_STUDY:
            continue
        decision = withdraw(current, "consent withdrawn")
        assert (decision.regimen, decision.rule_id) == (Regimen.OFF_STUDY, "REG-WITHDRAWAL")
    with pytest.raises(RuleViolation, match=r"REG-WITHDRAWAL: expected a patient still on study"):
        withdraw(Regimen.OFF_STUDY, "consent withdrawn")
    with pytest.raises(ValidationError, match=r"reason='' refused"):
        withdraw(Regimen.FOLLOW_UP, "")


# --- dosing calendar -------------------------------------------------------------------------

ANAKINRA = ScheduledDose(
    drug="anakinra", dose=Decimal(100), unit="mg", route="SC", rule_id="DOSE-ANAKINRA-DAILY"
)
LOW_DEX = ScheduledDose(
    drug="dexamethasone", dose=Decimal(20), unit="mg", route="PO", rule_id="DOSE-LOWDEX-WEEKLY"
)
HIGH_DEX = ScheduledDose(
    drug="dexamethasone", dose=Decimal(40), unit="mg", route="PO", rule_id="DOSE-HIGHDEX-CALENDAR"
)


@pytest.mark.parametrize("regimen", [pytest.param(r, id=r.value) for r in sorted(ON_TREATMENT)])
def test_anakinra_100mg_sc_is_called_for_every_day_on_treatment(regimen: Regimen) -> None:
    for n in range(1, 200):
        assert ANAKINRA in doses_called_for(regimen, START, START, day(n), PARAMS)


@pytest.mark.parametrize(
    "regimen",
    [
        pytest.param(r, id=r.value)
        for r in (Regimen.SCREENING, Regimen.OFF_TREATMENT, Regimen.FOLLOW_UP, Regimen.OFF_STUDY)
    ],
)
def test_nothing_is_called_for_off_treatment(regimen: Regimen) -> None:
    for n in range(1, 60):
        assert doses_called_for(regimen, START, START, day(n), PARAMS) == ()


def test_induction_and_continuation_call_for_anakinra_alone() -> None:
    assert doses_called_for(Regimen.INDUCTION, START, START, day(1), PARAMS) == (ANAKINRA,)
    m7 = month_start(START, 7, PARAMS)
    assert doses_called_for(Regimen.CONTINUATION, START, m7, m7, PARAMS) == (ANAKINRA,)


def test_full_high_dose_calendar_from_month_7() -> None:
    m7 = month_start(START, 7, PARAMS)
    dex = dex_days(Regimen.HIGH_DOSE_DEX, m7, m7, month_end(START, 13, PARAMS), PARAMS)
    per_month = Counter(protocol_month(START, d, PARAMS) for d in dex)
    assert dict(per_month) == {7: 12, 8: 4, 9: 12, 10: 4, 11: 12, 12: 4}
    assert len(dex) == 48
    for d in dex:  # exactly the protocol's days of protocol months 7-12
        pattern = ODD if protocol_month(START, d, PARAMS) % 2 else EVEN
        assert day_of_month(START, d, PARAMS) in pattern


def test_high_dose_days_call_for_40mg_po_with_anakinra() -> None:
    m7 = month_start(START, 7, PARAMS)
    assert doses_called_for(Regimen.HIGH_DOSE_DEX, START, m7, m7, PARAMS) == (ANAKINRA, HIGH_DEX)
    day_5 = m7 + timedelta(days=4)
    assert doses_called_for(Regimen.HIGH_DOSE_DEX, START, m7, day_5, PARAMS) == (ANAKINRA,)


def test_high_dose_after_progression_in_induction_counts_course_months_from_its_start() -> None:
    progression = day(50)
    dex = dex_days(
        Regimen.HIGH_DOSE_DEX, progression, progression, progression + timedelta(days=400), PARAMS
    )
    assert len(dex) == 48
    assert dex[0] == progression
    offsets = [(d - progression).days + 1 for d in dex]
    assert offsets[:12] == [1, 2, 3, 4, 9, 10, 11, 12, 17, 18, 19, 20]
    assert offsets[12:16] == [29, 30, 31, 32]  # course month 2 (even): days 1-4
    assert max(dex) <= high_dose_course_end(progression, PARAMS)


def test_the_high_dose_course_from_month_7_ends_with_month_12() -> None:
    m7 = month_start(START, 7, PARAMS)
    assert high_dose_course_end(m7, PARAMS) == month_12_decision_date(START, PARAMS)


def test_high_dose_calendar_with_calendar_months() -> None:
    m7 = month_start(START, 7, CALENDAR)
    end = month_end(START, 12, CALENDAR)
    dex = dex_days(Regimen.HIGH_DOSE_DEX, m7, m7, end + timedelta(days=40), CALENDAR)
    per_month = Counter(protocol_month(START, d, CALENDAR) for d in dex)
    assert dict(per_month) == {7: 12, 8: 4, 9: 12, 10: 4, 11: 12, 12: 4}


def test_low_dose_dex_20mg_once_weekly_on_days_1_8_15_22_of_each_month() -> None:
    m7 = month_start(START, 7, PARAMS)
    dex = dex_days(Regimen.LOW_DOSE_DEX, m7, m7, month_end(START, 12, PARAMS), PARAMS)
    assert len(dex) == 24
    assert {day_of_month(START, d, PARAMS) for d in dex} == {1, 8, 15, 22}
    assert doses_called_for(Regimen.LOW_DOSE_DEX, START, m7, m7, PARAMS) == (ANAKINRA, LOW_DEX)
    tomorrow = m7 + timedelta(days=1)
    assert doses_called_for(Regimen.LOW_DOSE_DEX, START, m7, tomorrow, PARAMS) == (ANAKINRA,)


def test_low_dose_weeks_count_from_the_regimen_start_not_the_month() -> None:
    late_start = month_start(START, 7, PARAMS) + timedelta(days=3)
    dex = dex_days(Regimen.LOW_DOSE_DEX, late_start, late_start, late_start + timedelta(27), PARAMS)
    assert [(d - late_start).days for d in dex] == [0, 7, 14, 21]


def test_dates_before_the_regimen_or_treatment_start_are_refused() -> None:
    m7 = month_start(START, 7, PARAMS)
    with pytest.raises(ValidationError, match=r"on=.*must not be before the regimen start"):
        doses_called_for(Regimen.CONTINUATION, START, m7, m7 - timedelta(days=1), PARAMS)
    with pytest.raises(ValidationError, match=r"regimen_start=.*before the treatment start"):
        doses_called_for(Regimen.INDUCTION, START, day(0), day(5), PARAMS)


def test_a_dose_called_for_passes_the_check() -> None:
    m7 = month_start(START, 7, PARAMS)
    hd = Regimen.HIGH_DOSE_DEX
    check_dose(hd, START, m7, m7, "dexamethasone", Decimal(40), "PO", PARAMS)
    check_dose(hd, START, m7, m7, "anakinra", Decimal("100.0"), "SC", PARAMS)


@pytest.mark.parametrize(
    ("regimen", "offset", "drug", "dose", "route", "message"),
    [
        pytest.param(
            Regimen.HIGH_DOSE_DEX, 4, "dexamethasone", "40", "PO",
            r"DOSE-HIGHDEX-CALENDAR: on .* expected no dexamethasone on this day of high_dose_dex;"
            r" found dexamethasone 40 mg PO",
            id="high-dose-on-day-5",
        ),
        pytest.param(
            Regimen.HIGH_DOSE_DEX, 0, "dexamethasone", "20", "PO",
            r"DOSE-HIGHDEX-CALENDAR: .* expected dexamethasone 40 mg PO; found dexamethasone 20",
            id="low-amount-on-a-high-dose-day",
        ),
        pytest.param(
            Regimen.LOW_DOSE_DEX, 1, "dexamethasone", "20", "PO",
            r"DOSE-LOWDEX-WEEKLY: .* expected no dexamethasone on this day of low_dose_dex",
            id="low-dose-on-day-2",
        ),
        pytest.param(
            Regimen.LOW_DOSE_DEX, 7, "dexamethasone", "40", "PO",
            r"DOSE-LOWDEX-WEEKLY: .* expected dexamethasone 20 mg PO; found dexamethasone 40",
            id="high-amount-on-a-low-dose-day",
        ),
        pytest.param(
            Regimen.CONTINUATION, 0, "anakinra", "100", "PO",
            r"DOSE-ANAKINRA-DAILY: .* expected anakinra 100 mg SC; found anakinra 100 mg PO",
            id="anakinra-by-mouth",
        ),
        pytest.param(
            Regimen.CONTINUATION, 0, "dexamethasone", "20", "PO",
            r"DOSE-NOT-IN-REGIMEN: .* expected no dexamethasone in regimen continuation",
            id="dex-in-continuation",
        ),
        pytest.param(
            Regimen.FOLLOW_UP, 0, "anakinra", "100", "SC",
            r"DOSE-NOT-IN-REGIMEN: .* expected no anakinra in regimen follow_up",
            id="anakinra-in-follow-up",
        ),
    ],
)  # fmt: skip
def test_a_dose_not_called_for_is_refused_with_rule_expected_and_found(
    regimen: Regimen, offset: int, drug: str, dose: str, route: str, message: str
) -> None:
    m7 = month_start(START, 7, PARAMS)
    on = m7 + timedelta(days=offset)
    with pytest.raises(DoseRuleViolation, match=message):
        check_dose(regimen, START, m7, on, drug, Decimal(dose), route, PARAMS)  # type: ignore[arg-type]


def test_a_dose_violation_carries_its_rule_expected_and_found() -> None:
    m7 = month_start(START, 7, PARAMS)
    with pytest.raises(RuleViolation, match="DOSE-LOWDEX-WEEKLY") as caught:
        check_dose(Regimen.LOW_DOSE_DEX, START, m7, m7, "dexamethasone", Decimal(40), "PO", PARAMS)
    assert isinstance(caught.value, DoseRuleViolation)
    assert (caught.value.rule_id, caught.value.on) == ("DOSE-LOWDEX-WEEKLY", m7)
    assert (caught.value.expected, caught.value.found) == (
        "dexamethasone 20 mg PO",
        "dexamethasone 40 mg PO",
    )


def test_next_doses_lists_the_coming_doses_in_order() -> None:
    m7 = month_start(START, 7, PARAMS)
    coming = next_doses(Regimen.LOW_DOSE_DEX, START, m7, m7 - timedelta(days=10), PARAMS, 3)
    assert coming == [(m7, ANAKINRA), (m7, LOW_DEX), (m7 + timedelta(days=1), ANAKINRA)]
    after_first = next_doses(Regimen.LOW_DOSE_DEX, START, m7, m7, PARAMS, 8)
    assert [d for d, dose in after_first if dose.drug == "dexamethasone"] == [
        m7 + timedelta(days=7)
    ]


def test_next_doses_is_empty_off_treatment_or_for_none_asked() -> None:
    assert next_doses(Regimen.FOLLOW_UP, START, START, START, PARAMS, 5) == []
    assert next_doses(Regimen.INDUCTION, START, START, START, PARAMS, 0) == []
    with pytest.raises(ValidationError, match=r"n=-1 refused: must be >= 0"):
        next_doses(Regimen.INDUCTION, START, START, START, PARAMS, -1)


def test_follow_up_every_6_months_for_5_years() -> None:
    visits = follow_up_visits(date(2004, 3, 15), PARAMS)
    assert len(visits) == 10
    assert visits[0] == date(2004, 9, 15)
    assert visits[1] == date(2005, 3, 15)
    assert visits[-1] == date(2009, 3, 15)


def test_follow_up_visits_clamp_to_short_months_without_drifting() -> None:
    visits = follow_up_visits(date(2003, 8, 31), PARAMS)
    assert visits[:3] == [date(2004, 2, 29), date(2004, 8, 31), date(2005, 2, 28)]


def test_every_schedule_rule_id_is_tested() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    assert [rule for rule in sorted(schedule.RULE_IDS) if rule not in source] == []
