"""The timeline's geometry, prepared apart from rendering: the lane segments are the regimen
periods, the chart points are the serum M-protein results, the bars are the adverse events,
and the facts drawn are those the subject's history folds."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.server.pages.facts import ClinicalFacts, LabFact, clinical_facts
from ledger.server.pages.shapes import DateScale
from ledger.server.pages.timeline import LANES, chart_points, timeline
from ledger.store import LedgerReader
from ledger.subject.history import SubjectHistory, as_on
from projections.subject import subject_entries
from tests.server.support import Served

SUBJECT = "MC0282-001-017"


def test_facts_are_the_histories_labs_and_doses(served: Served) -> None:
    with LedgerReader(served.db) as reader:
        entries = subject_entries(reader, SUBJECT, reader.size(), check_leaves=True)
    history = SubjectHistory.fold(SUBJECT, entries)
    facts = clinical_facts(entries)
    assert [(lab.position, lab.analyte, lab.value) for lab in facts.labs] == [
        (pos, e.analyte, e.value) for pos, e in history.labs
    ]
    assert [lab.corrected for lab in facts.labs] == [True]
    assert len(facts.doses) == history.dose_tally["anakinra"].taken
    before = history.dose_tally["anakinra"].first
    assert before is not None
    earlier = before - timedelta(days=1)
    assert clinical_facts(entries, earlier).doses == []
    assert [p for p, _e in as_on(SUBJECT, entries, earlier).labs] == [
        lab.position for lab in clinical_facts(entries, earlier).labs
    ]


REGIMENS = [regimen for regimen, _label in LANES if regimen != "screening"]


@st.composite
def reports(draw: st.DrawFn) -> dict[str, Any]:
    """A report with a regimen history of increasing dates (some on the same day)."""
    start = draw(st.dates(date(2002, 11, 1), date(2010, 1, 1)))
    gaps = draw(st.lists(st.integers(0, 400), min_size=1, max_size=8))
    periods, on = [], start + timedelta(days=draw(st.integers(0, 30)))
    for i, gap in enumerate(gaps):
        on += timedelta(days=gap)
        periods.append(
            {"effective_date": on.isoformat(), "regimen": draw(st.sampled_from(REGIMENS)),
             "position": 10 + i, "rule_id": f"RULE-{i}", "reason": "because <b>"}
        )  # fmt: skip
    reference = on + timedelta(days=draw(st.integers(0, 200)))
    return {
        "subject_id": SUBJECT, "screened_on": start.isoformat(),
        "reference_date": reference.isoformat(), "regimen_history": periods,
        "adverse_events": {"open": [], "resolved": []}, "corrections": [],
        "response": {"assessments": [], "progressions": []},
    }  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(reports())
def test_lane_segments_are_the_regimen_periods(report: dict[str, Any]) -> None:
    t = timeline(report, ClinicalFacts())
    screening, *segments = t.segments
    periods = report["regimen_history"]
    assert (screening.regimen, screening.start.isoformat()) == ("screening", report["screened_on"])
    assert screening.end.isoformat() == periods[0]["effective_date"]
    assert [(s.regimen, s.start.isoformat(), s.position) for s in segments] == [
        (p["regimen"], p["effective_date"], p["position"]) for p in periods
    ]
    assert [s.end.isoformat() for s in segments] == [
        *(p["effective_date"] for p in periods[1:]),
        report["reference_date"],
    ]
    for s in t.segments:
        assert t.scale.left <= s.x <= s.x + s.width <= t.scale.left + t.scale.width + 0.01
    lanes = {row.label: row.y for row in t.rows}
    assert all(s.y == lanes[dict(LANES)[s.regimen]] for s in t.segments)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.dates(date(2003, 1, 1), date(2008, 1, 1)), st.decimals("0", "12", places=2)),
        min_size=1,
        max_size=20,
    )
)
def test_chart_points_are_the_m_protein_results(results: list[tuple[date, Decimal]]) -> None:
    labs = [
        LabFact(i, on, "serum_m_protein", value, "g/dL", False)
        for i, (on, value) in enumerate(sorted(results))
    ]
    facts = ClinicalFacts(
        labs=[*labs, LabFact(99, labs[0].date, "hs_crp", Decimal(5), "mg/L", False)]
    )
    scale = DateScale(min(r[0] for r in results), max(r[0] for r in results) + timedelta(days=1))
    points = chart_points(facts, scale, top=10.0, bottom=90.0)
    assert [(p.on, p.value, p.position) for p in points] == [
        (lab.date, lab.value, lab.position) for lab in labs
    ]
    for a in points:
        assert 10.0 <= a.y <= 90.0
        assert a.x == scale.x(a.on)
        for b in points:
            if a.value > b.value:
                assert a.y < b.y


@st.composite
def adverse_events(draw: st.DrawFn) -> list[dict[str, Any]]:
    found = []
    for i in range(draw(st.integers(0, 6))):
        onset = draw(st.dates(date(2003, 1, 1), date(2006, 1, 1)))
        days = draw(st.none() | st.integers(0, 300))
        found.append(
            {"ae_id": f"AE-{i + 1:03d}", "term": "Injection site reaction", "grade": 1,
             "worst_grade": draw(st.integers(1, 5)), "onset": onset.isoformat(),
             "resolved_on": None if days is None else (onset + timedelta(days)).isoformat(),
             "serious": draw(st.booleans()), "position": 100 + i}
        )  # fmt: skip
    return found


@settings(max_examples=40, deadline=None)
@given(adverse_events())
def test_bars_are_the_adverse_events_from_onset_to_resolution(aes: list[dict[str, Any]]) -> None:
    report = {
        "subject_id": SUBJECT, "screened_on": "2003-01-01", "reference_date": "2006-12-31",
        "regimen_history": [], "corrections": [],
        "adverse_events": {"open": [a for a in aes if a["resolved_on"] is None],
                           "resolved": [a for a in aes if a["resolved_on"] is not None]},
        "response": {"assessments": [], "progressions": []},
    }  # fmt: skip
    t = timeline(report, ClinicalFacts())
    by_id = {a["ae_id"]: a for a in aes}
    assert sorted(b.ae_id for b in t.bars) == sorted(by_id)
    for bar in t.bars:
        ae = by_id[bar.ae_id]
        assert (bar.onset.isoformat(), bar.grade, bar.serious) == (
            ae["onset"], ae["worst_grade"], ae["serious"]
        )  # fmt: skip
        assert bar.open == (ae["resolved_on"] is None)
        end = ae["resolved_on"] or t.scale.end.isoformat()
        assert bar.end.isoformat() == max(end, ae["onset"])
        assert bar.x == t.scale.x(bar.onset)
        assert abs(bar.x + bar.width - t.scale.x(bar.end)) < 0.02
    assert len({b.y for b in t.bars}) == len(t.bars)
