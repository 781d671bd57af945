"""The data each picture draws, against independent paths: the lanes, bars and series against
``patient --json`` of every subject, the Kaplan-Meier curves against ``summary --json``."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.exports import ExportSource
from projections.exports.plots import (
    KMCurve,
    km_data,
    spider_data,
    swimmer_data,
    waterfall_data,
)
from projections.statistics import kaplan_meier

Patients = dict[str, dict[str, Any]]


def enrolled(patients: Patients) -> set[str]:
    return {sid for sid, p in patients.items() if p["enrolled_on"] is not None}


def change(reference: str, current: str) -> float:
    """(current - reference) / reference in percent, to 0.01 (computed here, not imported)."""
    ref, cur = Decimal(reference), Decimal(current)
    return round(float((cur - ref) * 100 / ref), 2)


def serum(p: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = p["response"]["markers"]["serum_m_protein"]
    return found


def best_category(p: dict[str, Any]) -> str:
    best = p["response"]["best_confirmed"]
    return str(best["category"]) if best else "none"


# --------------------------------------------------------------------------- swimmer


def test_swimmer_has_one_lane_per_enrolled_subject_of_patient_json(
    source: ExportSource, patients: Patients, summary_doc: dict[str, Any]
) -> None:
    lanes = [lane.subject_id for lane in swimmer_data(source)]
    assert len(lanes) == len(set(lanes)) == summary_doc["populations"]["enrolled"]
    assert set(lanes) == enrolled(patients)


def test_swimmer_segments_are_the_regimen_history_of_patient_json_end_to_end(
    source: ExportSource, patients: Patients
) -> None:
    for lane in swimmer_data(source):
        p = patients[lane.subject_id]
        history = [r for r in p["regimen_history"] if r["regimen"] != "off_study"]
        assert [(s.regimen.value, s.start.isoformat()) for s in lane.segments] == [
            (r["regimen"], r["effective_date"]) for r in history
        ], lane.subject_id
        starts = [r["effective_date"] for r in p["regimen_history"][1:]]
        ends = [s.end.isoformat() for s in lane.segments]
        assert all(end in {*starts, p["reference_date"]} for end in ends), lane.subject_id
        assert lane.treatment_start == date.fromisoformat(p["treatment_start"])


def test_swimmer_markers_are_the_derived_assessments_and_supported_progressions(
    source: ExportSource, patients: Patients
) -> None:
    for lane in swimmer_data(source):
        response = patients[lane.subject_id]["response"]
        assert [(on.isoformat(), c) for on, c in lane.responses] == [
            (a["date"], a["derived"]) for a in response["assessments"]
        ]
        assert [on.isoformat() for on in lane.progressions] == [
            p["date"] for p in response["progressions"] if p["supported"]
        ]


def test_swimmer_arrows_mark_the_subjects_neither_off_study_withdrawn_nor_dead(
    source: ExportSource, patients: Patients
) -> None:
    lanes = swimmer_data(source)
    for lane in lanes:
        p = patients[lane.subject_id]
        on_study = p["regimen"] != "off_study" and p["off_study"] is None and p["died"] is None
        assert lane.ongoing == on_study, lane.subject_id
        assert lane.end is not None
        assert lane.end.isoformat() == p["reference_date"]
    assert {lane.ongoing for lane in lanes} == {True, False}


def test_swimmer_lanes_are_ordered_longest_first(source: ExportSource) -> None:
    lengths = [lane.length for lane in swimmer_data(source)]
    assert lengths == sorted(lengths, reverse=True)


# --------------------------------------------------------------------------- waterfall


def test_waterfall_bars_equal_the_change_to_the_nadir_of_patient_json(
    source: ExportSource, patients: Patients
) -> None:
    bars = waterfall_data(source)
    assert any(b.change_pct < 0 for b in bars)
    assert any(b.change_pct > 0 for b in bars)
    for bar in bars:
        marker = serum(patients[bar.subject_id])
        assert str(bar.baseline) == marker["baseline"]
        if bar.change_pct < 0:  # below baseline: the nadir patient --json reports
            assert bar.change_pct == change(marker["baseline"], marker["nadir"])
            assert bar.best_on.isoformat() == marker["nadir_date"]
        else:  # never below baseline: the nadir is the baseline; no result beats the latest
            assert marker["nadir"] == marker["baseline"]
            assert bar.change_pct <= float(marker["change_from_baseline_pct"])


def test_waterfall_bars_are_coloured_by_the_best_confirmed_response_of_patient_json(
    source: ExportSource, patients: Patients
) -> None:
    bars = waterfall_data(source)
    assert {b.best_response for b in bars} >= {"PR", "MR", "SD"}
    for bar in bars:
        assert bar.best_response == best_category(patients[bar.subject_id])


def test_waterfall_is_sorted_from_the_largest_increase_to_the_deepest_decrease(
    source: ExportSource,
) -> None:
    changes = [b.change_pct for b in waterfall_data(source)]
    assert changes == sorted(changes, reverse=True)


def test_waterfall_counts_enrolled_subjects_with_a_baseline_and_a_later_result(
    source: ExportSource, patients: Patients
) -> None:
    drawn = {b.subject_id for b in waterfall_data(source)}
    assert drawn <= enrolled(patients)
    for sid in enrolled(patients) - drawn:  # no serum M-protein after the treatment start
        p = patients[sid]
        latest = serum(p)["latest_date"]
        assert p["treatment_start"] is None or latest is None or latest <= p["treatment_start"]
    for sid in drawn:
        assert serum(patients[sid])["latest_date"] > patients[sid]["treatment_start"]


# --------------------------------------------------------------------------- spider


def test_spider_series_end_at_the_latest_change_of_patient_json(
    source: ExportSource, patients: Patients
) -> None:
    series = spider_data(source)
    assert {s.subject_id for s in series} == {b.subject_id for b in waterfall_data(source)}
    for s in series:
        marker = serum(patients[s.subject_id])
        last = s.points[-1]
        assert last.on.isoformat() == marker["latest_date"]
        assert last.change_pct == float(marker["change_from_baseline_pct"])
        assert str(last.value) == marker["latest"]
        lowest = min(p.change_pct for p in s.points)
        if lowest < 0:
            assert lowest == change(marker["baseline"], marker["nadir"])


def test_spider_points_run_forward_in_months_since_the_treatment_start(
    source: ExportSource,
) -> None:
    for s in spider_data(source):
        months = [p.months for p in s.points]
        assert months == sorted(months)
        assert months[0] > 0
        for p in s.points:
            assert p.months == pytest.approx((p.on - s.treatment_start).days / (365.25 / 12))


# --------------------------------------------------------------------------- Kaplan-Meier

ENDPOINTS = [("ttp", "time_to_progression"), ("dor", "duration_of_response")]


@pytest.mark.parametrize(("endpoint", "figure"), ENDPOINTS)
def test_km_curve_has_the_events_censored_and_median_of_summary_json(
    source: ExportSource, summary_doc: dict[str, Any], endpoint: str, figure: str
) -> None:
    curve = km_data(source, endpoint)
    expected = summary_doc[figure]
    assert (curve.n, curve.events, curve.censored) == (
        expected["n"],
        expected["events"],
        expected["censored"],
    )
    assert curve.median == expected["median"]
    assert [r["subject_id"] for r in curve.rows] == [c["subject_id"] for c in expected["counted"]]


@pytest.mark.parametrize(("endpoint", "figure"), ENDPOINTS)
def test_km_steps_and_censoring_ticks_are_the_curve_of_summary_json(
    source: ExportSource, summary_doc: dict[str, Any], endpoint: str, figure: str
) -> None:
    curve = km_data(source, endpoint)
    expected = summary_doc[figure]
    steps = {day: round(s, 4) for day, s in curve.steps()}
    assert steps == {0: 1.0, **{c["time"]: c["survival"] for c in expected["curve"]}}
    censored = sorted(c["days"] for c in expected["counted"] if not c["event"])
    assert curve.censor_times() == censored


@pytest.mark.parametrize(("endpoint", "figure"), ENDPOINTS)
def test_km_numbers_at_risk_are_those_of_the_summary_curve(
    source: ExportSource, summary_doc: dict[str, Any], endpoint: str, figure: str
) -> None:
    curve = km_data(source, endpoint)
    points = summary_doc[figure]["curve"]
    days = curve.risk_days()
    assert days[0] == 0
    assert len(days) > 1
    for day in days:
        later = [c["at_risk"] for c in points if c["time"] >= day]
        assert curve.at_risk(day) == (later[0] if later else 0), day


def test_km_data_refuses_an_endpoint_it_does_not_know(source: ExportSource) -> None:
    with pytest.raises(ValueError, match="endpoint 'os': expected one of ttp, dor"):
        km_data(source, "os")


@given(
    st.lists(st.tuples(st.integers(0, 2000), st.booleans()), min_size=1, max_size=40),
)
def test_km_curve_of_any_rows_falls_steps_at_events_and_ticks_every_censored(
    data: list[tuple[int, bool]],
) -> None:
    rows = tuple({"subject_id": f"S{i}", "days": d, "event": e} for i, (d, e) in enumerate(data))
    curve = KMCurve("ttp", "t", "p", "x", "y", rows, (), kaplan_meier(data))
    survival = [s for _, s in curve.steps()]
    assert survival == sorted(survival, reverse=True)
    assert survival[0] == 1.0
    assert sorted(curve.censor_times()) == sorted(d for d, e in data if not e)
    risk = [curve.at_risk(d) for d in curve.risk_days()]
    assert risk[0] == len(data)
    assert risk == sorted(risk, reverse=True)
    steps = curve.steps()
    dropped = {day for (day, s), (_, before) in zip(steps[1:], steps, strict=False) if s < before}
    assert dropped == {d for d, e in data if e}
