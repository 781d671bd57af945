"""Protocol parameters: versioned by amendment, frozen, exact, and internally consistent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pydantic
import pytest

from ledger.errors import ValidationError
from ledger.protocol.parameters import (
    MC0282_ORIGINAL,
    PARAMETERS,
    ConfirmationRules,
    ProtocolParameters,
    ResponseThresholds,
    ScheduleParameters,
    parameters_for,
    parameters_in_force,
)

ORIGINAL = parameters_for("MC0282-original")


def _walk(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _walk(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _walk(v)]
    return [value]


def test_the_original_protocol_is_known_by_its_amendment_name() -> None:
    assert ORIGINAL is MC0282_ORIGINAL
    assert ORIGINAL.amendment == "MC0282-original"
    assert set(PARAMETERS) == {"MC0282-original"}


def test_an_unknown_amendment_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match=r"amendment='MC0282-amendment-9'.*MC0282-original"):
        parameters_for("MC0282-amendment-9")


def test_the_amendment_table_is_read_only() -> None:
    with pytest.raises(TypeError, match="does not support item assignment"):
        PARAMETERS["x"] = ORIGINAL  # type: ignore[index]


def test_parameters_are_frozen() -> None:
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        ORIGINAL.amendment = "changed"  # type: ignore[misc]


def test_unknown_fields_are_refused() -> None:
    data = ORIGINAL.model_dump()
    data["surprise"] = 1
    with pytest.raises(pydantic.ValidationError, match="surprise"):
        ProtocolParameters.model_validate(data)


def test_floats_are_refused_for_decimal_values() -> None:
    data = ORIGINAL.dosing.model_dump()
    data["anakinra_dose_mg"] = 100.0
    with pytest.raises(pydantic.ValidationError, match="a float was given"):
        type(ORIGINAL.dosing).model_validate(data)


def test_parameters_serialise_to_json_without_floats_and_round_trip() -> None:
    dumped = ORIGINAL.model_dump(mode="json")
    assert not any(isinstance(leaf, float) for leaf in _walk(dumped))
    assert ProtocolParameters.model_validate_json(ORIGINAL.model_dump_json()) == ORIGINAL


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param(("dosing", "anakinra_dose_mg"), Decimal(100), id="anakinra-100mg"),
        pytest.param(("dosing", "anakinra_route"), "SC", id="anakinra-SC"),
        pytest.param(("dosing", "low_dex_dose_mg"), Decimal(20), id="low-dex-20mg"),
        pytest.param(("dosing", "low_dex_route"), "PO", id="low-dex-PO"),
        pytest.param(("dosing", "low_dex_interval_days"), 7, id="low-dex-weekly"),
        pytest.param(("dosing", "high_dex_dose_mg"), Decimal(40), id="high-dex-40mg-assumed"),
        pytest.param(("schedule", "month_unit"), "cycle28", id="28-day-months-assumed"),
        pytest.param(("schedule", "induction_months"), 6, id="induction-6-months"),
        pytest.param(("schedule", "continuation_end_month"), 12, id="continuation-to-12"),
        pytest.param(("schedule", "low_dex_extension_end_month"), 18, id="low-dex-to-18"),
        pytest.param(("schedule", "follow_up_interval_months"), 6, id="follow-up-6-monthly"),
        pytest.param(("schedule", "follow_up_duration_years"), 5, id="follow-up-5-years"),
        pytest.param(("eligibility", "wbc_min_per_mm3"), Decimal(3500), id="wbc-3500"),
        pytest.param(("eligibility", "anc_min_per_mm3"), Decimal(1700), id="anc-1700"),
        pytest.param(("eligibility", "creatinine_max_x_uln"), Decimal("1.5"), id="creat-1.5"),
        pytest.param(("eligibility", "serum_m_protein_isotypes"), ("IgG", "IgA"), id="IgG-IgA"),
        pytest.param(("eligibility", "washout_more_than_days"), 30, id="washout-30"),
        pytest.param(("response", "vgpr_serum_min_decrease_pct"), Decimal(90), id="vgpr-90"),
        pytest.param(("response", "pd_serum_min_abs_g_dl"), Decimal("0.5"), id="pd-0.5"),
        pytest.param(("confirmation", "maintained_min_days"), 42, id="ebmt-42-days"),
        pytest.param(("confirmation", "consecutive_assessments"), 2, id="two-consecutive"),
    ],
)
def test_original_protocol_values(path: tuple[str, str], expected: object) -> None:
    group, field = path
    assert getattr(getattr(ORIGINAL, group), field) == expected


def test_high_dose_calendar_is_days_1_4_9_12_17_20_in_odd_and_1_4_in_even_months() -> None:
    odd = (1, 2, 3, 4, 9, 10, 11, 12, 17, 18, 19, 20)
    even = (1, 2, 3, 4)
    assert ORIGINAL.dosing.high_dex_days_by_course_month == (odd, even, odd, even, odd, even)


def test_in_force_on_the_effective_date_and_after() -> None:
    assert parameters_in_force(ORIGINAL.effective_from) is ORIGINAL
    assert parameters_in_force(date(2030, 1, 1)) is ORIGINAL


def test_nothing_is_in_force_before_the_first_amendment() -> None:
    with pytest.raises(ValidationError, match=r"no protocol amendment in force yet"):
        parameters_in_force(date(2002, 10, 31))


def test_the_latest_amendment_in_force_wins() -> None:
    later = ORIGINAL.model_copy(update={"amendment": "A1", "effective_from": date(2005, 1, 1)})
    table = {p.amendment: p for p in (ORIGINAL, later)}
    assert parameters_in_force(date(2004, 12, 31), table) is ORIGINAL
    assert parameters_in_force(date(2005, 1, 1), table) is later


def test_two_amendments_on_the_same_day_are_refused() -> None:
    twin = ORIGINAL.model_copy(update={"amendment": "twin"})
    table = {p.amendment: p for p in (ORIGINAL, twin)}
    with pytest.raises(ValidationError, match=r"MC0282-original, twin all take effect"):
        parameters_in_force(date(2003, 1, 1), table)


def _with(model: pydantic.BaseModel, **changes: Any) -> dict[str, Any]:
    data = model.model_dump()
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("model", "changes", "message"),
    [
        pytest.param(
            ScheduleParameters,
            {"cycle_length_days": 27},
            "cycle28' needs cycle_length_days == 28",
            id="cycle28-must-be-28-days",
        ),
        pytest.param(
            ScheduleParameters,
            {"low_dex_extension_end_month": 12},
            "induction < low-dose end < extension end",
            id="months-out-of-order",
        ),
        pytest.param(
            ResponseThresholds,
            {"pr_serum_min_decrease_pct": Decimal(95)},
            "MR < PR < VGPR",
            id="serum-thresholds-do-not-nest",
        ),
        pytest.param(
            ResponseThresholds,
            {"mr_urine_min_decrease_pct": Decimal(95)},
            "urine thresholds must nest",
            id="urine-thresholds-do-not-nest",
        ),
        pytest.param(
            ResponseThresholds,
            {"vgpr_urine_below_mg_24h": Decimal(300)},
            "VGPR limit must not exceed",
            id="urine-vgpr-above-pr",
        ),
        pytest.param(
            ConfirmationRules,
            {"consecutive_assessments": 1},
            "greater than or equal to 2",
            id="one-assessment-confirms-nothing",
        ),
    ],
)
def test_inconsistent_parameter_groups_are_refused(
    model: type[pydantic.BaseModel], changes: dict[str, Any], message: str
) -> None:
    source = {
        ScheduleParameters: ORIGINAL.schedule,
        ResponseThresholds: ORIGINAL.response,
        ConfirmationRules: ORIGINAL.confirmation,
    }[model]
    with pytest.raises(pydantic.ValidationError, match=message):
        model.model_validate(_with(source, **changes))


def test_high_dose_days_beyond_day_28_are_refused() -> None:
    data = ORIGINAL.dosing.model_dump()
    data["high_dex_days_by_course_month"] = [[1, 29]] * 6
    with pytest.raises(pydantic.ValidationError, match="distinct and <= 28"):
        type(ORIGINAL.dosing).model_validate(data)


def test_the_high_dose_calendar_must_cover_every_course_month() -> None:
    data = ORIGINAL.model_dump()
    data["dosing"]["high_dex_days_by_course_month"] = [[1, 2, 3, 4]] * 5
    with pytest.raises(pydantic.ValidationError, match="one list of high-dose days per month"):
        ProtocolParameters.model_validate(data)
