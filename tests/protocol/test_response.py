"""Response derivation (IMWG 2006 + EBMT 1998 MR) and confirmation, by table and by property."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import ValidationError
from ledger.protocol import response
from ledger.protocol.parameters import ConfirmationRules, parameters_for
from ledger.protocol.response import (
    Category,
    DerivedResponse,
    Measurement,
    best,
    best_confirmed_response,
    confirmation_runs,
    confirmed_category,
    derive_response,
    worst,
)

PARAMS = parameters_for("MC0282-original")
D = Decimal
DAY0 = date(2003, 1, 6)
CR, VGPR, PR, MR, SD, PD = Category


def m(day: int, **fields: Any) -> Measurement:
    return Measurement(assessed_on=DAY0 + timedelta(days=day), **fields)


def derive(
    baseline: Measurement, current: Measurement, prior: Sequence[Measurement] = ()
) -> DerivedResponse:
    return derive_response(baseline, prior, current, PARAMS)


def serum_only(baseline: str, current: str, **now: Any) -> DerivedResponse:
    return derive(
        m(0, serum_m_protein_g_dl=D(baseline)),
        m(90, serum_m_protein_g_dl=D(current), **{"new_bone_lesions": False, **now}),
    )


def urine_only(baseline: str, current: str, **now: Any) -> DerivedResponse:
    return derive(
        m(0, urine_m_protein_mg_24h=D(baseline)),
        m(90, urine_m_protein_mg_24h=D(current), **{"new_bone_lesions": False, **now}),
    )


# --- the order of categories ---------------------------------------------------------------


def test_categories_are_ordered_from_cr_best_to_pd_worst() -> None:
    assert [c.rank for c in Category] == [0, 1, 2, 3, 4, 5]
    assert CR.is_better_than(VGPR)
    assert not PD.is_better_than(SD)
    assert worst(PR, SD, VGPR) is SD
    assert best(PR, SD, VGPR) is VGPR


# --- each category from one marker, and every boundary ---------------------------------------


@pytest.mark.parametrize(
    ("current", "expected", "rule"),
    [
        pytest.param("0", VGPR, "RESP-VGPR-SERUM", id="electrophoresis-negative-is-vgpr"),
        pytest.param("1.00", VGPR, "RESP-VGPR-SERUM", id="exactly-90pct-is-vgpr"),
        pytest.param("1.01", PR, "RESP-PR-SERUM", id="89.9pct-is-pr"),
        pytest.param("5.00", PR, "RESP-PR-SERUM", id="exactly-50pct-is-pr"),
        pytest.param("5.01", MR, "RESP-MR-SERUM", id="49.9pct-is-mr"),
        pytest.param("7.50", MR, "RESP-MR-SERUM", id="exactly-25pct-is-mr"),
        pytest.param("7.51", SD, "RESP-SD", id="24.9pct-is-sd"),
        pytest.param("10.00", SD, "RESP-SD", id="unchanged-is-sd"),
    ],
)
def test_serum_alone_gives_each_category_at_its_boundary(
    current: str, expected: Category, rule: str
) -> None:
    result = serum_only("10.00", current)
    assert result.category is expected
    assert rule in result.rule_ids
    assert "RESP-NOT-MEASURABLE" in result.rule_ids  # urine not measured at baseline


@pytest.mark.parametrize(
    ("baseline", "current", "expected", "rule"),
    [
        pytest.param("1000", "99", VGPR, "RESP-VGPR-URINE", id="99mg-is-vgpr"),
        pytest.param("1000", "100", PR, "RESP-PR-URINE", id="100mg-is-not-vgpr"),
        pytest.param("1000", "199", PR, "RESP-PR-URINE", id="199mg-is-pr"),
        pytest.param("1000", "200", MR, "RESP-MR-URINE", id="200mg-at-80pct-is-mr"),
        pytest.param("3000", "300", PR, "RESP-PR-URINE", id="exactly-90pct-is-pr"),
        pytest.param("3000", "303", MR, "RESP-MR-URINE", id="89.9pct-is-mr"),
        pytest.param("3000", "1500", MR, "RESP-MR-URINE", id="exactly-50pct-is-mr"),
        pytest.param("3000", "1503", SD, "RESP-SD", id="49.9pct-is-sd"),
        pytest.param("1000", "1000", SD, "RESP-SD", id="unchanged-is-sd"),
    ],
)
def test_urine_alone_gives_each_category_at_its_boundary(
    baseline: str, current: str, expected: Category, rule: str
) -> None:
    result = urine_only(baseline, current)
    assert result.category is expected
    assert rule in result.rule_ids


@pytest.mark.parametrize(
    ("serum", "urine", "expected"),
    [
        pytest.param("0.3", "1000", SD, id="serum-vgpr-urine-sd-gives-sd"),
        pytest.param("1.5", "50", PR, id="serum-pr-urine-vgpr-gives-pr"),
        pytest.param("2.5", "150", MR, id="serum-mr-urine-pr-gives-mr"),
        pytest.param("0.3", "400", MR, id="serum-vgpr-urine-mr-gives-mr"),
        pytest.param("3.9", "50", SD, id="serum-sd-urine-vgpr-gives-sd"),
    ],
)
def test_when_serum_and_urine_disagree_the_lowest_category_wins(
    serum: str, urine: str, expected: Category
) -> None:
    result = derive(
        m(0, serum_m_protein_g_dl=D(4), urine_m_protein_mg_24h=D(1000)),
        m(
            90,
            serum_m_protein_g_dl=D(serum),
            urine_m_protein_mg_24h=D(urine),
            new_bone_lesions=False,
        ),
    )
    assert result.category is expected
    assert "RESP-LOWEST-WINS" in result.rule_ids


def test_serum_and_urine_agreeing_need_no_tie_break() -> None:
    result = derive(
        m(0, serum_m_protein_g_dl=D(4), urine_m_protein_mg_24h=D(1000)),
        m(90, serum_m_protein_g_dl=D(2), urine_m_protein_mg_24h=D(150)),
    )
    assert result.category is PR
    assert "RESP-LOWEST-WINS" not in result.rule_ids
    assert {"RESP-PR-SERUM", "RESP-PR-URINE"} <= set(result.rule_ids)


# --- CR, and missing measurements dropping a category ----------------------------------------

CR_NOW: dict[str, Any] = {
    "serum_m_protein_g_dl": D(0),
    "urine_m_protein_mg_24h": D(0),
    "serum_ife_negative": True,
    "urine_ife_negative": True,
    "marrow_plasma_cells_pct": D("4.9"),
    "plasmacytoma": False,
    "new_bone_lesions": False,
}
CR_BASELINE = m(0, serum_m_protein_g_dl=D(4), urine_m_protein_mg_24h=D(800), plasmacytoma=False)


@pytest.mark.parametrize(
    ("changes", "expected", "rule"),
    [
        pytest.param({}, CR, "RESP-CR", id="all-cr-conditions-give-cr"),
        pytest.param({"marrow_plasma_cells_pct": D(5)}, VGPR, "RESP-VGPR-SERUM", id="marrow-5pct"),
        pytest.param({"serum_ife_negative": False}, VGPR, "RESP-VGPR-SERUM", id="ife-positive"),
        pytest.param(
            {"marrow_plasma_cells_pct": None}, VGPR, "RESP-MISSING-DROP", id="marrow-missing"
        ),
        pytest.param(
            {"urine_ife_negative": None}, VGPR, "RESP-MISSING-DROP", id="urine-ife-missing"
        ),
        pytest.param({"plasmacytoma": None}, VGPR, "RESP-MISSING-DROP", id="plasmacytoma-missing"),
        pytest.param(
            {"serum_m_protein_g_dl": D("1.0")}, PR, "RESP-PR-SERUM", id="ife-neg-but-m-spike-is-pr"
        ),
        pytest.param(
            {"serum_m_protein_g_dl": None}, SD, "RESP-MISSING-DROP", id="measurable-serum-missing"
        ),
    ],
)
def test_cr_needs_every_condition_and_a_missing_one_drops_the_category(
    changes: dict[str, Any], expected: Category, rule: str
) -> None:
    result = derive(CR_BASELINE, m(120, **{**CR_NOW, **changes}))
    assert result.category is expected
    assert rule in result.rule_ids


def test_a_persisting_plasmacytoma_prevents_cr_but_is_not_progression() -> None:
    baseline = CR_BASELINE.model_copy(update={"plasmacytoma": True})
    result = derive(baseline, m(120, **{**CR_NOW, "plasmacytoma": True}))
    assert result.category is VGPR


def test_cr_without_any_measurable_m_protein_rests_on_ife_marrow_and_plasmacytoma() -> None:
    baseline = m(0, serum_m_protein_g_dl=D("0.8"), plasmacytoma=False)
    result = derive(baseline, m(120, **{**CR_NOW, "urine_m_protein_mg_24h": None}))
    assert result.category is CR
    assert "RESP-NOT-MEASURABLE" in result.rule_ids


def test_a_marker_not_measurable_at_baseline_is_not_used() -> None:
    # serum 0.8 g/dL < 1 g/dL is not measurable (IMWG 2006); urine alone decides.
    result = derive(
        m(0, serum_m_protein_g_dl=D("0.8"), urine_m_protein_mg_24h=D(1000)),
        m(90, serum_m_protein_g_dl=D("0.8"), urine_m_protein_mg_24h=D(150)),
    )
    assert result.category is PR
    assert "RESP-NOT-MEASURABLE" in result.rule_ids


@pytest.mark.parametrize(
    "urine_baseline",
    [
        pytest.param(None, id="urine-none"),
        pytest.param("0", id="urine-zero"),
        pytest.param("199", id="urine-199"),
    ],
)
def test_urine_that_is_absent_or_below_200mg_at_baseline_never_lowers_the_serum_category(
    urine_baseline: str | None,
) -> None:
    urine = None if urine_baseline is None else D(urine_baseline)
    result = derive(
        m(0, serum_m_protein_g_dl=D(4), urine_m_protein_mg_24h=urine),
        m(90, serum_m_protein_g_dl=D("1.5"), urine_m_protein_mg_24h=urine),
    )
    assert result.category is PR


def test_mr_needs_no_new_lytic_lesions_recorded_and_drops_to_sd_when_missing() -> None:
    assert serum_only("4", "2.8").category is MR
    assert "RESP-MR-BONE" in serum_only("4", "2.8").rule_ids
    missing = serum_only("4", "2.8", new_bone_lesions=None)
    assert missing.category is SD
    assert "RESP-MISSING-DROP" in missing.rule_ids


def test_pr_does_not_need_a_skeletal_survey() -> None:
    assert serum_only("4", "2", new_bone_lesions=None).category is PR


# --- progression, measured from the nadir ----------------------------------------------------


@pytest.mark.parametrize(
    ("nadir", "current", "expected"),
    [
        pytest.param("2.0", "2.5", PD, id="25pct-and-0.5-from-nadir-2-is-pd"),
        pytest.param("2.0", "2.49", PR, id="0.49-above-nadir-2-is-not-pd"),
        pytest.param("1.0", "1.5", PD, id="50pct-and-0.5-from-nadir-1-is-pd"),
        pytest.param("1.0", "1.49", PR, id="0.49-is-not-pd-however-large-the-pct"),
        pytest.param("3.0", "3.75", PD, id="exactly-25pct-from-nadir-3-is-pd"),
        pytest.param("3.0", "3.74", PR, id="24.7pct-from-nadir-3-is-not-pd"),
    ],
)
def test_serum_progression_needs_25pct_and_half_a_gram_above_the_nadir(
    nadir: str, current: str, expected: Category
) -> None:
    result = derive(
        m(0, serum_m_protein_g_dl=D(10)),
        m(90, serum_m_protein_g_dl=D(current), new_bone_lesions=False),
        prior=[m(30, serum_m_protein_g_dl=D(nadir))],
    )
    assert result.category is expected
    assert ("RESP-PD-SERUM" in result.rule_ids) is (expected is PD)


@pytest.mark.parametrize(
    ("nadir", "current", "is_pd"),
    [
        pytest.param("5.0", "6.0", True, id="nadir-5-rise-1.0-is-pd-at-20pct"),
        pytest.param("5.0", "5.99", False, id="nadir-5-rise-0.99-is-not-pd"),
        pytest.param("6.0", "7.0", True, id="nadir-6-rise-1.0-is-pd-at-16.7pct"),
        pytest.param("4.99", "5.99", False, id="nadir-4.99-rise-1.0-needs-25pct"),
        pytest.param("4.99", "6.24", True, id="nadir-4.99-rise-25pct-is-pd"),
    ],
)
def test_from_a_nadir_of_5_g_dl_a_rise_of_1_g_dl_suffices(
    nadir: str, current: str, is_pd: bool
) -> None:
    result = derive(
        m(0, serum_m_protein_g_dl=D(10)),
        m(90, serum_m_protein_g_dl=D(current)),
        prior=[m(30, serum_m_protein_g_dl=D(nadir))],
    )
    assert (result.category is PD) is is_pd
    assert ("RESP-PD-SERUM" in result.rule_ids) is is_pd


def test_the_nadir_includes_the_baseline() -> None:
    result = derive(m(0, serum_m_protein_g_dl=D(2)), m(90, serum_m_protein_g_dl=D("2.5")))
    assert result.category is PD
    assert result.values_used["serum.nadir"] == "2"


def test_progression_from_the_nadir_overrides_a_response_from_baseline() -> None:
    result = derive(
        m(0, serum_m_protein_g_dl=D(6)),
        m(120, serum_m_protein_g_dl=D(3)),  # 50% below baseline, 50% above the nadir
        prior=[m(60, serum_m_protein_g_dl=D(2))],
    )
    assert result.category is PD
    assert result.values_used["serum.change_from_baseline_pct"] == "-50.00"
    assert result.values_used["serum.change_from_nadir_pct"] == "50.00"


def test_the_current_value_is_not_part_of_the_nadir() -> None:
    result = derive(m(0, serum_m_protein_g_dl=D(4)), m(90, serum_m_protein_g_dl=D(1)))
    assert result.values_used["serum.nadir"] == "4"


@pytest.mark.parametrize(
    ("baseline", "nadir", "current", "is_pd"),
    [
        pytest.param("1000", "400", "600", True, id="urine-50pct-200mg-is-pd"),
        pytest.param("1000", "400", "599", False, id="urine-199mg-rise-is-not-pd"),
        pytest.param("1000", "1000", "1250", True, id="urine-exactly-25pct-is-pd"),
        pytest.param("1000", "1000", "1249", False, id="urine-24.9pct-is-not-pd"),
        pytest.param("0", "0", "200", True, id="new-urine-m-protein-200mg-is-pd"),
        pytest.param("0", "0", "199", False, id="new-urine-m-protein-199mg-is-not-pd"),
    ],
)
def test_urine_progression_needs_25pct_and_200mg_above_the_nadir(
    baseline: str, nadir: str, current: str, is_pd: bool
) -> None:
    result = derive(
        m(0, urine_m_protein_mg_24h=D(baseline)),
        m(90, urine_m_protein_mg_24h=D(current)),
        prior=[m(30, urine_m_protein_mg_24h=D(nadir))],
    )
    assert (result.category is PD) is is_pd
    assert ("RESP-PD-URINE" in result.rule_ids) is is_pd


@pytest.mark.parametrize(
    ("nadir", "current", "is_pd"),
    [
        pytest.param("20", "30", True, id="marrow-50pct-10-points-is-pd"),
        pytest.param("20", "29.9", False, id="marrow-9.9-points-is-not-pd"),
        pytest.param("50", "62.5", True, id="marrow-exactly-25pct-is-pd"),
        pytest.param("50", "62", False, id="marrow-24pct-is-not-pd"),
    ],
)
def test_marrow_progression_needs_25pct_and_10_points_above_the_nadir(
    nadir: str, current: str, is_pd: bool
) -> None:
    result = derive(
        m(0, marrow_plasma_cells_pct=D(nadir)), m(90, marrow_plasma_cells_pct=D(current))
    )
    assert (result.category is PD) is is_pd
    assert ("RESP-PD-MARROW" in result.rule_ids) is is_pd


@pytest.mark.parametrize(
    ("baseline", "current", "rule"),
    [
        pytest.param({}, {"new_bone_lesions": True}, "RESP-PD-BONE", id="new-bone-lesions"),
        pytest.param({}, {"hypercalcaemia": True}, "RESP-PD-CALCIUM", id="hypercalcaemia"),
        pytest.param(
            {"plasmacytoma": False},
            {"plasmacytoma": True},
            "RESP-PD-PLASMACYTOMA",
            id="new-plasmacytoma",
        ),
    ],
)
def test_any_single_clinical_criterion_is_progression_despite_a_serum_response(
    baseline: dict[str, Any], current: dict[str, Any], rule: str
) -> None:
    result = derive(
        m(0, serum_m_protein_g_dl=D(4), **baseline),
        m(90, serum_m_protein_g_dl=D("0.1"), **current),
    )
    assert result.category is PD
    assert result.rule_ids == (rule,)


def test_a_plasmacytoma_with_no_baseline_record_is_not_called_new() -> None:
    result = derive(
        m(0, serum_m_protein_g_dl=D(4)), m(90, serum_m_protein_g_dl=D(4), plasmacytoma=True)
    )
    assert result.category is SD


def test_every_progression_criterion_that_holds_is_cited() -> None:
    result = derive(
        m(0, serum_m_protein_g_dl=D(2), urine_m_protein_mg_24h=D(400)),
        m(90, serum_m_protein_g_dl=D(3), urine_m_protein_mg_24h=D(700), hypercalcaemia=True),
    )
    assert result.rule_ids == ("RESP-PD-SERUM", "RESP-PD-URINE", "RESP-PD-CALCIUM")
    assert len(result.reasons) == 3


# --- what the result records -----------------------------------------------------------------


def test_values_used_record_baseline_nadir_current_and_percent_changes_as_strings() -> None:
    result = derive(
        m(0, serum_m_protein_g_dl=D("3.00")),
        m(90, serum_m_protein_g_dl=D("1.00")),
        prior=[m(30, serum_m_protein_g_dl=D("0.90"))],
    )
    assert {k: v for k, v in result.values_used.items() if k.startswith("serum.")} == {
        "serum.baseline": "3.00",
        "serum.nadir": "0.90",
        "serum.current": "1.00",
        "serum.change_from_baseline_pct": "-66.67",
        "serum.change_from_nadir_pct": "11.11",
    }
    assert result.values_used["urine.baseline"] == "missing"
    assert result.values_used["urine.change_from_baseline_pct"] == "n/a"
    assert result.amendment == "MC0282-original"
    assert result.assessed_on == DAY0 + timedelta(days=90)


def test_a_current_assessment_not_after_baseline_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"current.assessed_on=.*must be after the baseline"):
        derive(m(10), m(10))


def test_a_prior_assessment_outside_baseline_to_current_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"prior.assessed_on=.*between baseline"):
        derive(m(0), m(90), prior=[m(90)])


def test_floats_are_refused_in_measurements() -> None:
    with pytest.raises(ValueError, match="a float was given"):
        m(0, serum_m_protein_g_dl=1.5)


# --- properties ------------------------------------------------------------------------------

serum_values = st.decimals(min_value=0, max_value=12, places=2)
urine_values = st.decimals(min_value=0, max_value=3000, places=0)
marrow_values = st.decimals(min_value=0, max_value=100, places=1)
flags = st.none() | st.booleans()


@st.composite
def measurements(draw: st.DrawFn, day: int) -> Measurement:
    return m(
        day,
        serum_m_protein_g_dl=draw(st.none() | serum_values),
        urine_m_protein_mg_24h=draw(st.none() | urine_values),
        serum_ife_negative=draw(flags),
        urine_ife_negative=draw(flags),
        marrow_plasma_cells_pct=draw(st.none() | marrow_values),
        plasmacytoma=draw(flags),
        new_bone_lesions=draw(flags),
        hypercalcaemia=draw(flags),
    )


@st.composite
def histories(draw: st.DrawFn) -> tuple[Measurement, list[Measurement], Measurement]:
    baseline = draw(measurements(0))
    count = draw(st.integers(min_value=0, max_value=3))
    prior = [draw(measurements(30 * (i + 1))) for i in range(count)]
    return baseline, prior, draw(measurements(200))


CURRENT_FIELDS = (
    "serum_m_protein_g_dl",
    "urine_m_protein_mg_24h",
    "serum_ife_negative",
    "urine_ife_negative",
    "marrow_plasma_cells_pct",
    "plasmacytoma",
    "new_bone_lesions",
    "hypercalcaemia",
)
PD_RULE_FIELDS = {
    "RESP-PD-SERUM": "serum_m_protein_g_dl",
    "RESP-PD-URINE": "urine_m_protein_mg_24h",
    "RESP-PD-MARROW": "marrow_plasma_cells_pct",
    "RESP-PD-BONE": "new_bone_lesions",
    "RESP-PD-PLASMACYTOMA": "plasmacytoma",
    "RESP-PD-CALCIUM": "hypercalcaemia",
}


@pytest.mark.parametrize(
    ("field", "values"),
    [
        pytest.param("serum_m_protein_g_dl", serum_values, id="serum"),
        pytest.param("urine_m_protein_mg_24h", urine_values, id="urine"),
    ],
)
@settings(max_examples=300)
@given(data=st.data())
def test_lowering_an_m_protein_never_gives_a_worse_category(
    field: str, values: st.SearchStrategy[Decimal], data: st.DataObject
) -> None:
    baseline, prior, current = data.draw(histories())
    higher = data.draw(values)
    lower = data.draw(st.decimals(min_value=0, max_value=higher, places=2))
    high = derive_response(baseline, prior, current.model_copy(update={field: higher}), PARAMS)
    low = derive_response(baseline, prior, current.model_copy(update={field: lower}), PARAMS)
    assert low.category.rank <= high.category.rank


@settings(max_examples=300)
@given(history=histories(), field=st.sampled_from(CURRENT_FIELDS))
def test_missing_data_never_raises_the_category(
    history: tuple[Measurement, list[Measurement], Measurement], field: str
) -> None:
    baseline, prior, current = history
    full = derive_response(baseline, prior, current, PARAMS)
    blanked = derive_response(baseline, prior, current.model_copy(update={field: None}), PARAMS)
    if full.category is PD:
        # progression needs positive evidence: it stays unless its own evidence was removed
        if field not in {PD_RULE_FIELDS[r] for r in full.rule_ids}:
            assert blanked.category is PD
    else:
        assert blanked.category.rank >= full.category.rank


@settings(max_examples=300)
@given(history=histories(), extra=measurements(100))
def test_another_prior_assessment_never_raises_the_category_below_a_5_g_dl_nadir(
    history: tuple[Measurement, list[Measurement], Measurement], extra: Measurement
) -> None:
    """A lower nadir can only make progression easier, except across the 5 g/dL serum rule."""
    baseline, prior, current = history
    without = derive_response(baseline, prior, current, PARAMS)
    with_extra = derive_response(baseline, [*prior, extra], current, PARAMS)
    nadirs = (without.values_used["serum.nadir"], with_extra.values_used["serum.nadir"])
    if all(n == "missing" or D(n) < 5 for n in nadirs) or nadirs[0] == nadirs[1]:
        assert with_extra.category.rank >= without.category.rank


def test_the_5_g_dl_rule_makes_a_lower_nadir_able_to_remove_progression() -> None:
    """IMWG 2006: >= 1 g/dL suffices from a nadir >= 5; from 4.99 the 25% is needed again."""
    baseline, current = m(0, serum_m_protein_g_dl=D(5)), m(90, serum_m_protein_g_dl=D(6))
    assert derive(baseline, current).category is PD
    assert derive(baseline, current, prior=[m(30, serum_m_protein_g_dl=D("4.99"))]).category is SD


@settings(max_examples=300)
@given(history=histories())
def test_progression_is_derived_exactly_when_a_progression_rule_is_cited(
    history: tuple[Measurement, list[Measurement], Measurement],
) -> None:
    result = derive_response(*history[:2], history[2], PARAMS)
    cites_pd = any(rule.startswith("RESP-PD-") for rule in result.rule_ids)
    assert (result.category is PD) is cites_pd
    assert set(result.rule_ids) <= response.RESPONSE_RULE_IDS


@settings(max_examples=200)
@given(
    nadir=st.decimals(min_value=0, max_value=D("4.99"), places=2),
    rise=st.decimals(min_value=D("0.5"), max_value=5, places=2),
    baseline_above=st.decimals(min_value=0, max_value=5, places=2),
)
def test_a_rise_of_25pct_and_half_a_gram_from_any_nadir_below_5_is_progression(
    nadir: Decimal, rise: Decimal, baseline_above: Decimal
) -> None:
    current = max(nadir + rise, nadir * D("1.25"))
    result = derive(
        m(0, serum_m_protein_g_dl=nadir + baseline_above),
        m(90, serum_m_protein_g_dl=current),
        prior=[m(30, serum_m_protein_g_dl=nadir)],
    )
    assert result.category is PD


# --- confirmation ----------------------------------------------------------------------------


def series(*points: tuple[int, Category]) -> list[tuple[date, Category]]:
    return [(DAY0 + timedelta(days=day), category) for day, category in points]


def on(day: int) -> date:
    return DAY0 + timedelta(days=day)


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        pytest.param([], None, id="no-assessments"),
        pytest.param([(0, PR)], None, id="one-assessment-confirms-nothing"),
        pytest.param([(0, CR), (1, CR)], CR, id="cr-needs-no-interval"),
        pytest.param([(0, VGPR), (7, VGPR)], VGPR, id="vgpr-needs-no-interval"),
        pytest.param([(0, PR), (42, PR)], PR, id="pr-maintained-42-days"),
        pytest.param([(0, PR), (41, PR)], SD, id="pr-held-41-days-confirms-sd"),
        pytest.param([(0, MR), (42, MR)], MR, id="mr-maintained-42-days"),
        pytest.param([(0, MR), (41, MR)], SD, id="mr-held-41-days-confirms-sd"),
        pytest.param([(0, CR), (42, PR)], PR, id="the-lower-of-the-pair"),
        pytest.param([(0, CR), (41, PR)], SD, id="lower-of-pair-needs-42-days"),
        pytest.param([(0, VGPR), (10, SD)], SD, id="vgpr-then-sd-confirms-sd"),
        pytest.param([(0, SD), (5, SD)], SD, id="sd-needs-no-interval"),
        pytest.param([(0, SD), (50, PR), (100, PR)], PR, id="best-over-consecutive-pairs"),
        pytest.param([(0, PR), (50, SD), (100, PR)], SD, id="non-consecutive-prs-confirm-sd"),
        pytest.param([(0, PR), (50, PD)], None, id="pr-then-pd-confirms-nothing"),
        pytest.param([(0, PR), (50, PR), (100, PD)], PR, id="single-pd-is-unconfirmed"),
        pytest.param([(0, PD), (30, PD)], PD, id="two-consecutive-pd"),
        pytest.param([(0, PR), (50, PR), (100, PD), (130, PD)], PD, id="confirmed-pd-wins"),
    ],
)
def test_confirmation_by_consecutive_assessments(
    points: list[tuple[int, Category]], expected: Category | None
) -> None:
    confirmed = confirmed_category(series(*points), PARAMS)
    assert (confirmed and confirmed.category) == expected


def test_progression_is_dated_at_the_first_of_the_two_pd_assessments() -> None:
    confirmed = confirmed_category(series((0, SD), (60, PD), (90, PD)), PARAMS)
    assert confirmed is not None
    assert (confirmed.category, confirmed.first_on, confirmed.confirmed_on) == (PD, on(60), on(90))
    assert confirmed.rule_ids == ("CONF-PD",)


def test_marrow_progression_is_confirmed_by_a_single_assessment() -> None:
    """CONF-PD-SINGLE (IMWG 2006; Rajkumar et al. 2011): marrow, bone, plasmacytoma and
    calcium progression are not repeated to confirm it; M-protein progression is."""
    marrow = derive(
        m(0, marrow_plasma_cells_pct=D(20), serum_m_protein_g_dl=D("3.2")),
        m(60, marrow_plasma_cells_pct=D(32), serum_m_protein_g_dl=D("3.2"), new_bone_lesions=False),
    )
    assert marrow.category is PD
    assert "RESP-PD-MARROW" in marrow.rule_ids
    assert response.confirmed_alone(marrow, PARAMS)
    serum = serum_only("3.0", "4.0")
    assert serum.category is PD
    assert not response.confirmed_alone(serum, PARAMS)
    confirmed = confirmed_category(series((0, SD), (60, PD)), PARAMS, alone={on(60)})
    assert confirmed is not None
    assert (confirmed.category, confirmed.first_on, confirmed.confirmed_on) == (PD, on(60), on(60))
    assert confirmed.rule_ids == ("CONF-PD-SINGLE",)
    assert confirmed_category(series((0, SD), (60, PD)), PARAMS) is None  # serum PD: needs two


def test_the_progression_acted_on_is_the_first_confirmed_one() -> None:
    """A single-assessment PD confirmed on day 90 is acted on before a serum PD pair that
    started on day 60 but is confirmed on day 120: runs come in date order."""
    runs = confirmation_runs(series((0, SD), (60, PD), (90, PD), (120, PD)), PARAMS, alone={on(90)})
    assert [r.first_on for r in runs] == sorted(r.first_on for r in runs)
    first = response.first_progression(runs)
    assert first is not None
    assert (first.first_on, first.confirmed_on) == (on(60), on(90))


def test_maintenance_failure_is_cited() -> None:
    confirmed = confirmed_category(series((0, PR), (30, PR)), PARAMS)
    assert confirmed is not None
    assert confirmed.rule_ids == ("CONF-CONSECUTIVE", "CONF-MAINTAINED")
    assert "held 30 days, not the 42" in confirmed.reason


def test_the_earliest_run_is_reported_among_equally_good_ones() -> None:
    confirmed = confirmed_category(series((0, MR), (50, MR), (100, MR)), PARAMS)
    assert confirmed is not None
    assert (confirmed.first_on, confirmed.confirmed_on) == (on(0), on(50))
    assert confirmed.rule_ids == ("CONF-CONSECUTIVE", "CONF-MAINTAINED")


def test_best_confirmed_response_keeps_the_response_achieved_before_progression() -> None:
    points = series((0, PR), (50, PR), (100, PD), (130, PD))
    best_response = best_confirmed_response(points, PARAMS)
    assert best_response is not None
    assert (best_response.category, best_response.first_on) == (PR, on(0))


def test_best_confirmed_response_is_pd_only_when_nothing_better_was_confirmed() -> None:
    best_response = best_confirmed_response(series((0, SD), (30, PD), (60, PD)), PARAMS)
    assert best_response is not None
    assert best_response.category is PD
    assert best_confirmed_response(series((0, PR)), PARAMS) is None


def test_three_consecutive_assessments_when_the_amendment_asks_for_three() -> None:
    rules = ConfirmationRules(
        consecutive_assessments=3, maintained_min_days=42, maintained_categories=("PR", "MR")
    )
    params = PARAMS.model_copy(update={"confirmation": rules})
    assert confirmed_category(series((0, PD), (30, PD)), params) is None
    three = confirmed_category(series((0, VGPR), (30, CR), (60, VGPR)), params)
    assert three is not None
    assert three.category is VGPR


def test_assessments_out_of_date_order_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"assessment dates must strictly increase"):
        confirmation_runs(series((10, PR), (10, PR)), PARAMS)


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(st.integers(min_value=1, max_value=60), st.sampled_from(list(Category))),
        max_size=8,
    )
)
def test_a_confirmed_category_was_reached_by_consecutive_assessments(
    steps: list[tuple[int, Category]],
) -> None:
    day, points = 0, []
    for gap, category in steps:
        day += gap
        points.append((on(day), category))
    confirmed = confirmed_category(points, PARAMS)
    best_response = best_confirmed_response(points, PARAMS)
    if len(points) < 2:
        assert confirmed is None
        return
    categories = [c for _, c in points]
    if confirmed is None:
        return
    index = [d for d, _ in points].index(confirmed.first_on)
    pair = categories[index : index + 2]
    if confirmed.category is PD:
        assert pair == [PD, PD]
    else:
        # never better than either assessment of the confirming pair
        assert confirmed.category.rank >= worst(*pair).rank
        assert best_response is not None
        assert best_response.category.rank <= confirmed.category.rank


def test_every_response_rule_id_is_tested() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    untested = [rule for rule in sorted(response.RULE_IDS) if f'"{rule}"' not in source]
    assert untested == []
