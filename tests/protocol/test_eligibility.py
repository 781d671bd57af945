"""Eligibility: every criterion reported with its measured value; each one can refuse alone."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pydantic
import pytest

from ledger.protocol import eligibility
from ledger.protocol.eligibility import (
    CriterionResult,
    EligibilityInput,
    EligibilityResult,
    assess_eligibility,
)
from ledger.protocol.parameters import parameters_for

PARAMS = parameters_for("MC0282-original")

ELIGIBLE: dict[str, Any] = {
    "age_years": 62,
    "smoldering_or_indolent_myeloma": True,
    "marrow_plasma_cells_pct": Decimal(15),
    "serum_m_protein_g_dl": Decimal("3.4"),
    "serum_m_protein_isotype": "IgG",
    "urine_light_chain_g_24h": Decimal("0.2"),
    "measurable_disease": True,
    "needs_immediate_chemotherapy": False,
    "active_myeloma_or_amyloidosis_needing_chemo": False,
    "interacting_agents": False,
    "ecog": 0,
    "wbc_per_mm3": Decimal(5000),
    "anc_per_mm3": Decimal(2500),
    "creatinine_x_uln": Decimal("0.9"),
    "can_self_inject_or_caregiver": True,
    "pregnant_or_nursing": False,
    "pregnancy_test": "not_applicable",
    "infection_or_iv_antibiotics_12_weeks": False,
    "open_wounds": False,
    "other_active_malignancy_5_years": False,
    "nyha_class_3_or_4": False,
    "ra_or_immunosuppression": False,
    "asthma_ibd_or_debilitating_illness": False,
    "days_since_prohibited_agent": None,
}

NO_DISEASE_MARKER: dict[str, Any] = {
    "marrow_plasma_cells_pct": Decimal(5),
    "serum_m_protein_g_dl": Decimal("1.0"),
    "urine_light_chain_g_24h": None,
}

CRITERIA_IN_ORDER = (
    "ELIG-AGE",
    "ELIG-DIAGNOSIS",
    "ELIG-DISEASE",
    "ELIG-MEASURABLE",
    "ELIG-NO-IMMEDIATE-CHEMO",
    "ELIG-NO-ACTIVE-MM-OR-AMYLOIDOSIS",
    "ELIG-NO-INTERACTING-AGENTS",
    "ELIG-ECOG",
    "ELIG-WBC",
    "ELIG-ANC",
    "ELIG-CREATININE",
    "ELIG-SELF-INJECT",
    "ELIG-NOT-PREGNANT-OR-NURSING",
    "ELIG-PREGNANCY-TEST",
    "ELIG-NO-INFECTION",
    "ELIG-NO-OPEN-WOUNDS",
    "ELIG-NO-OTHER-MALIGNANCY",
    "ELIG-NO-NYHA-3-4",
    "ELIG-NO-RA-OR-IMMUNOSUPPRESSION",
    "ELIG-NO-ASTHMA-IBD-DEBILITATING",
    "ELIG-WASHOUT",
)


def assess(**changes: Any) -> EligibilityResult:
    return assess_eligibility(EligibilityInput(**{**ELIGIBLE, **changes}), PARAMS)


def criterion(result: EligibilityResult, criterion_id: str) -> CriterionResult:
    (found,) = [c for c in result.criteria if c.criterion_id == criterion_id]
    return found


def test_a_patient_meeting_every_criterion_is_eligible() -> None:
    result = assess()
    assert result.eligible
    assert result.failing == ()
    assert result.amendment == "MC0282-original"


def test_every_criterion_is_listed_in_protocol_order_even_when_passing() -> None:
    result = assess()
    assert tuple(c.criterion_id for c in result.criteria) == CRITERIA_IN_ORDER
    assert all(c.passed and c.measured and c.threshold for c in result.criteria)


def test_measured_value_and_threshold_are_reported_for_a_passing_criterion() -> None:
    wbc = criterion(assess(), "ELIG-WBC")
    assert (wbc.measured, wbc.threshold, wbc.passed) == ("5000/mm3", ">= 3500/mm3", True)


@pytest.mark.parametrize(
    ("changes", "failing"),
    [
        pytest.param({"age_years": 17}, "ELIG-AGE", id="age"),
        pytest.param({"smoldering_or_indolent_myeloma": False}, "ELIG-DIAGNOSIS", id="diagnosis"),
        pytest.param(NO_DISEASE_MARKER, "ELIG-DISEASE", id="no-disease-marker"),
        pytest.param({"measurable_disease": False}, "ELIG-MEASURABLE", id="measurable"),
        pytest.param(
            {"needs_immediate_chemotherapy": True}, "ELIG-NO-IMMEDIATE-CHEMO", id="immediate-chemo"
        ),
        pytest.param(
            {"active_myeloma_or_amyloidosis_needing_chemo": True},
            "ELIG-NO-ACTIVE-MM-OR-AMYLOIDOSIS",
            id="active-myeloma",
        ),
        pytest.param(
            {"interacting_agents": True}, "ELIG-NO-INTERACTING-AGENTS", id="interacting-agents"
        ),
        pytest.param({"ecog": 1}, "ELIG-ECOG", id="ecog"),
        pytest.param({"wbc_per_mm3": Decimal(3000)}, "ELIG-WBC", id="wbc"),
        pytest.param({"anc_per_mm3": Decimal(1000)}, "ELIG-ANC", id="anc"),
        pytest.param({"creatinine_x_uln": Decimal(2)}, "ELIG-CREATININE", id="creatinine"),
        pytest.param(
            {"can_self_inject_or_caregiver": False}, "ELIG-SELF-INJECT", id="cannot-inject"
        ),
        pytest.param(
            {"pregnant_or_nursing": True}, "ELIG-NOT-PREGNANT-OR-NURSING", id="pregnant-nursing"
        ),
        pytest.param({"pregnancy_test": "positive"}, "ELIG-PREGNANCY-TEST", id="test-positive"),
        pytest.param({"pregnancy_test": "not_done"}, "ELIG-PREGNANCY-TEST", id="test-not-done"),
        pytest.param(
            {"infection_or_iv_antibiotics_12_weeks": True}, "ELIG-NO-INFECTION", id="infection"
        ),
        pytest.param({"open_wounds": True}, "ELIG-NO-OPEN-WOUNDS", id="open-wounds"),
        pytest.param(
            {"other_active_malignancy_5_years": True}, "ELIG-NO-OTHER-MALIGNANCY", id="malignancy"
        ),
        pytest.param({"nyha_class_3_or_4": True}, "ELIG-NO-NYHA-3-4", id="nyha"),
        pytest.param({"ra_or_immunosuppression": True}, "ELIG-NO-RA-OR-IMMUNOSUPPRESSION", id="ra"),
        pytest.param(
            {"asthma_ibd_or_debilitating_illness": True},
            "ELIG-NO-ASTHMA-IBD-DEBILITATING",
            id="asthma-ibd",
        ),
        pytest.param({"days_since_prohibited_agent": 10}, "ELIG-WASHOUT", id="washout"),
    ],
)
def test_each_criterion_failing_alone_makes_the_patient_ineligible(
    changes: dict[str, Any], failing: str
) -> None:
    result = assess(**changes)
    assert not result.eligible
    assert tuple(c.criterion_id for c in result.failing) == (failing,)
    assert len(result.criteria) == len(CRITERIA_IN_ORDER)


@pytest.mark.parametrize(
    ("criterion_id", "changes", "passed"),
    [
        pytest.param("ELIG-WBC", {"wbc_per_mm3": Decimal(3499)}, False, id="wbc-3499-fails"),
        pytest.param("ELIG-WBC", {"wbc_per_mm3": Decimal(3500)}, True, id="wbc-3500-passes"),
        pytest.param("ELIG-ANC", {"anc_per_mm3": Decimal(1699)}, False, id="anc-1699-fails"),
        pytest.param("ELIG-ANC", {"anc_per_mm3": Decimal(1700)}, True, id="anc-1700-passes"),
        pytest.param(
            "ELIG-CREATININE", {"creatinine_x_uln": Decimal("1.5")}, True, id="creat-1.5-passes"
        ),
        pytest.param(
            "ELIG-CREATININE", {"creatinine_x_uln": Decimal("1.51")}, False, id="creat-1.51-fails"
        ),
        pytest.param("ELIG-ECOG", {"ecog": 0}, True, id="ecog-0-passes"),
        pytest.param("ELIG-ECOG", {"ecog": 1}, False, id="ecog-1-fails"),
        pytest.param("ELIG-AGE", {"age_years": 17}, False, id="age-17-fails"),
        pytest.param("ELIG-AGE", {"age_years": 18}, True, id="age-18-passes"),
        pytest.param("ELIG-AGE", {"age_years": 120}, True, id="age-120-passes"),
        pytest.param("ELIG-AGE", {"age_years": 121}, False, id="age-121-fails"),
        pytest.param(
            "ELIG-WASHOUT", {"days_since_prohibited_agent": 30}, False, id="washout-30-fails"
        ),
        pytest.param(
            "ELIG-WASHOUT", {"days_since_prohibited_agent": 31}, True, id="washout-31-passes"
        ),
        pytest.param(
            "ELIG-WASHOUT", {"days_since_prohibited_agent": None}, True, id="never-taken-passes"
        ),
        pytest.param(
            "ELIG-PREGNANCY-TEST", {"pregnancy_test": "negative"}, True, id="test-negative-passes"
        ),
    ],
)
def test_threshold_boundaries(criterion_id: str, changes: dict[str, Any], passed: bool) -> None:
    assert criterion(assess(**changes), criterion_id).passed is passed


def disease(**changes: Any) -> CriterionResult:
    return criterion(assess(**{**NO_DISEASE_MARKER, **changes}), "ELIG-DISEASE")


@pytest.mark.parametrize(
    ("changes", "passed"),
    [
        pytest.param({"marrow_plasma_cells_pct": Decimal("9.9")}, False, id="marrow-9.9-fails"),
        pytest.param({"marrow_plasma_cells_pct": Decimal(10)}, True, id="marrow-10-passes"),
        pytest.param({"marrow_plasma_cells_pct": None}, False, id="marrow-missing-fails"),
        pytest.param({"serum_m_protein_g_dl": Decimal("2.9")}, False, id="IgG-2.9-fails"),
        pytest.param({"serum_m_protein_g_dl": Decimal("3.0")}, True, id="IgG-3.0-passes"),
        pytest.param(
            {"serum_m_protein_g_dl": Decimal("3.0"), "serum_m_protein_isotype": "IgA"},
            True,
            id="IgA-3.0-passes",
        ),
        pytest.param(
            {"serum_m_protein_g_dl": Decimal(5), "serum_m_protein_isotype": "IgM"},
            False,
            id="IgM-does-not-count",
        ),
        pytest.param(
            {"serum_m_protein_g_dl": Decimal(5), "serum_m_protein_isotype": "IgD"},
            False,
            id="IgD-does-not-count",
        ),
        pytest.param(
            {"serum_m_protein_g_dl": Decimal(5), "serum_m_protein_isotype": "light-chain-only"},
            False,
            id="light-chain-only-serum-does-not-count",
        ),
        pytest.param(
            {"serum_m_protein_g_dl": Decimal(5), "serum_m_protein_isotype": None},
            False,
            id="unknown-isotype-does-not-count",
        ),
        pytest.param({"urine_light_chain_g_24h": Decimal("0.99")}, False, id="urine-0.99-fails"),
        pytest.param({"urine_light_chain_g_24h": Decimal(1)}, True, id="urine-1-passes"),
    ],
)
def test_disease_criterion_is_at_least_one_of_three(changes: dict[str, Any], passed: bool) -> None:
    assert disease(**changes).passed is passed


def test_disease_criterion_lists_all_three_components_with_measured_values() -> None:
    result = disease(serum_m_protein_g_dl=Decimal(5), serum_m_protein_isotype="IgM")
    assert [(c.criterion_id, c.measured, c.passed) for c in result.components] == [
        ("ELIG-DISEASE-MARROW", "5%", False),
        ("ELIG-DISEASE-SERUM", "5 g/dL (IgM)", False),
        ("ELIG-DISEASE-URINE", "not measured", False),
    ]
    assert "ELIG-DISEASE-SERUM=5 g/dL (IgM)" in result.measured


def test_one_passing_component_is_enough_even_when_the_others_fail() -> None:
    result = disease(urine_light_chain_g_24h=Decimal("1.2"))
    assert result.passed
    assert [c.passed for c in result.components] == [False, False, True]


def test_ineligible_patient_lists_every_failing_criterion() -> None:
    result = assess(ecog=2, wbc_per_mm3=Decimal(2000), open_wounds=True)
    assert [c.criterion_id for c in result.failing] == [
        "ELIG-ECOG",
        "ELIG-WBC",
        "ELIG-NO-OPEN-WOUNDS",
    ]


def test_a_result_claiming_eligibility_with_a_failing_criterion_is_refused() -> None:
    failing = criterion(assess(ecog=1), "ELIG-ECOG")
    with pytest.raises(pydantic.ValidationError, match="eligible must equal"):
        EligibilityResult(amendment="MC0282-original", eligible=True, criteria=(failing,))


def test_an_empty_result_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="at least one criterion"):
        EligibilityResult(amendment="MC0282-original", eligible=True, criteria=())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        pytest.param("ecog", 6, "less than or equal to 5", id="ecog-above-5"),
        pytest.param("wbc_per_mm3", Decimal(-1), "greater than or equal to 0", id="negative-wbc"),
        pytest.param("wbc_per_mm3", 3500.0, "a float was given", id="float-wbc"),
        pytest.param(
            "marrow_plasma_cells_pct", Decimal(101), "less than or equal to 100", id="pct"
        ),
        pytest.param("serum_m_protein_isotype", "IgE", "IgG", id="unknown-isotype"),
    ],
)
def test_impossible_inputs_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        EligibilityInput(**{**ELIGIBLE, field: value})


def test_every_eligibility_rule_id_is_reported_and_tested() -> None:
    result = assess()
    reported = {c.criterion_id for c in result.criteria} | {
        part.criterion_id for c in result.criteria for part in c.components
    }
    assert reported == eligibility.RULE_IDS
    source = Path(__file__).read_text(encoding="utf-8")
    assert [rule for rule in sorted(eligibility.RULE_IDS) if f'"{rule}"' not in source] == []
