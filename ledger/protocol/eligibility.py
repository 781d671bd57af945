"""Eligibility of a screened patient for NCT00635154 (protocol, Eligibility; registry criteria).

:func:`assess_eligibility` checks every criterion and returns each one with the value that was
measured and the threshold it was compared with, passing or not, so that an eligibility event
shows exactly why a patient was (not) enrolled. Thresholds come from
:class:`~ledger.protocol.parameters.EligibilityThresholds`; criterion ids are stable strings that
events cite (see :data:`RULE_IDS`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ledger.protocol.parameters import (
    EligibilityThresholds,
    NonNegativeDecimal,
    NonNegativeInt,
    Percent,
    ProtocolParameters,
    SerumIsotype,
)

PregnancyTest = Literal["negative", "positive", "not_done", "not_applicable"]
"""``not_applicable``: not of child-bearing potential (no test needed)."""

RULE_IDS = frozenset(
    {
        "ELIG-AGE",
        "ELIG-DIAGNOSIS",
        "ELIG-DISEASE",
        "ELIG-DISEASE-MARROW",
        "ELIG-DISEASE-SERUM",
        "ELIG-DISEASE-URINE",
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
    }
)


class EligibilityInput(BaseModel):
    """What was measured or answered at screening, one field per protocol criterion.

    Booleans are phrased as the protocol phrases the condition (``True`` = the condition is
    present). ``other_active_malignancy_5_years`` already excludes the protocol's exceptions
    (basal cell skin carcinoma, cervical carcinoma in situ, resected malignancy needing no
    treatment). ``days_since_prohibited_agent`` is the days since the last dose of DHEA,
    clarithromycin, pamidronate, steroids or any agent that may affect M-protein; ``None`` means
    never taken.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    age_years: NonNegativeInt
    smoldering_or_indolent_myeloma: bool
    marrow_plasma_cells_pct: Percent | None
    serum_m_protein_g_dl: NonNegativeDecimal | None
    serum_m_protein_isotype: SerumIsotype | None
    urine_light_chain_g_24h: NonNegativeDecimal | None
    measurable_disease: bool
    needs_immediate_chemotherapy: bool
    active_myeloma_or_amyloidosis_needing_chemo: bool
    interacting_agents: bool
    ecog: Annotated[int, Field(ge=0, le=5)]
    wbc_per_mm3: NonNegativeDecimal
    anc_per_mm3: NonNegativeDecimal
    creatinine_x_uln: NonNegativeDecimal
    can_self_inject_or_caregiver: bool
    pregnant_or_nursing: bool
    pregnancy_test: PregnancyTest
    infection_or_iv_antibiotics_12_weeks: bool
    open_wounds: bool
    other_active_malignancy_5_years: bool
    nyha_class_3_or_4: bool
    ra_or_immunosuppression: bool
    asthma_ibd_or_debilitating_illness: bool
    days_since_prohibited_agent: NonNegativeInt | None


class CriterionResult(BaseModel):
    """One criterion: what was measured, what it was compared with, and the verdict.

    A composite ("at least one of") criterion lists its parts in ``components``; the parts do
    not count towards eligibility on their own.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    criterion_id: str
    description: str
    measured: str
    threshold: str
    passed: bool
    components: tuple[CriterionResult, ...] = ()


class EligibilityResult(BaseModel):
    """Every criterion in protocol order; eligible iff all of them passed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amendment: str
    eligible: bool
    criteria: tuple[CriterionResult, ...]

    @model_validator(mode="after")
    def _eligible_iff_all_pass(self) -> Self:
        if not self.criteria:
            raise ValueError("an eligibility result lists at least one criterion")
        if self.eligible != all(c.passed for c in self.criteria):
            raise ValueError("eligible must equal 'every criterion passed'")
        return self

    @property
    def failing(self) -> tuple[CriterionResult, ...]:
        """The criteria that did not pass, in protocol order."""
        return tuple(c for c in self.criteria if not c.passed)


def _show(value: object, unit: str = "") -> str:
    if value is None:
        return "not measured"
    return f"{value}{unit}"


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _absent(criterion_id: str, description: str, present: bool) -> CriterionResult:
    """An exclusion: passes when the condition is absent."""
    return CriterionResult(
        criterion_id=criterion_id,
        description=description,
        measured=_yes_no(present),
        threshold="no",
        passed=not present,
    )


def _present(criterion_id: str, description: str, present: bool) -> CriterionResult:
    """An inclusion answered yes/no: passes when the condition is present."""
    return CriterionResult(
        criterion_id=criterion_id,
        description=description,
        measured=_yes_no(present),
        threshold="yes",
        passed=present,
    )


def _at_least(
    criterion_id: str, description: str, value: Decimal | None, minimum: Decimal, unit: str
) -> CriterionResult:
    passed = value is not None and value >= minimum
    return CriterionResult(
        criterion_id=criterion_id,
        description=description,
        measured=_show(value, unit),
        threshold=f">= {minimum}{unit}",
        passed=passed,
    )


def _disease_burden(inp: EligibilityInput, t: EligibilityThresholds) -> CriterionResult:
    """Smoldering/indolent myeloma with at least one of three markers (protocol, Eligibility)."""
    marrow = _at_least(
        "ELIG-DISEASE-MARROW",
        "bone-marrow plasma cells",
        inp.marrow_plasma_cells_pct,
        t.marrow_plasma_cells_min_pct,
        "%",
    )
    isotypes = "/".join(t.serum_m_protein_isotypes)
    isotype_counts = inp.serum_m_protein_isotype in t.serum_m_protein_isotypes
    serum_value = inp.serum_m_protein_g_dl
    serum = CriterionResult(
        criterion_id="ELIG-DISEASE-SERUM",
        description=f"serum monoclonal {isotypes} protein",
        measured=f"{_show(serum_value, ' g/dL')} ({inp.serum_m_protein_isotype or 'no isotype'})",
        threshold=f">= {t.serum_m_protein_min_g_dl} g/dL of {isotypes}",
        passed=serum_value is not None
        and isotype_counts
        and serum_value >= t.serum_m_protein_min_g_dl,
    )
    urine = _at_least(
        "ELIG-DISEASE-URINE",
        "urine monoclonal light chain",
        inp.urine_light_chain_g_24h,
        t.urine_light_chain_min_g_24h,
        " g/24h",
    )
    parts = (marrow, serum, urine)
    return CriterionResult(
        criterion_id="ELIG-DISEASE",
        description="at least one of: marrow plasma cells, serum M-protein, urine light chain",
        measured="; ".join(f"{p.criterion_id}={p.measured}" for p in parts),
        threshold="at least one of: " + "; ".join(p.threshold for p in parts),
        passed=any(p.passed for p in parts),
        components=parts,
    )


def _disease_criteria(
    inp: EligibilityInput, t: EligibilityThresholds
) -> tuple[CriterionResult, ...]:
    """The disease: diagnosis, burden, measurable, and no need (nor bar) for chemotherapy."""
    return (
        _present(
            "ELIG-DIAGNOSIS",
            "new or existing smoldering or indolent multiple myeloma",
            inp.smoldering_or_indolent_myeloma,
        ),
        _disease_burden(inp, t),
        _present("ELIG-MEASURABLE", "measurable disease", inp.measurable_disease),
        _absent(
            "ELIG-NO-IMMEDIATE-CHEMO",
            "needs immediate chemotherapy (treating physician)",
            inp.needs_immediate_chemotherapy,
        ),
        _absent(
            "ELIG-NO-ACTIVE-MM-OR-AMYLOIDOSIS",
            "active myeloma or primary amyloidosis needing chemotherapy",
            inp.active_myeloma_or_amyloidosis_needing_chemo,
        ),
        _absent(
            "ELIG-NO-INTERACTING-AGENTS",
            "agents interacting with anakinra (etanercept, infliximab, thalidomide)",
            inp.interacting_agents,
        ),
    )


def _fitness_criteria(
    inp: EligibilityInput, t: EligibilityThresholds
) -> tuple[CriterionResult, ...]:
    """Performance status and laboratory values: ECOG, WBC, ANC, creatinine."""
    return (
        CriterionResult(
            criterion_id="ELIG-ECOG",
            description="ECOG performance status",
            measured=str(inp.ecog),
            threshold=f"<= {t.ecog_max}",
            passed=inp.ecog <= t.ecog_max,
        ),
        _at_least("ELIG-WBC", "total WBC", inp.wbc_per_mm3, t.wbc_min_per_mm3, "/mm3"),
        _at_least(
            "ELIG-ANC", "absolute neutrophil count", inp.anc_per_mm3, t.anc_min_per_mm3, "/mm3"
        ),
        CriterionResult(
            criterion_id="ELIG-CREATININE",
            description="serum creatinine, multiple of the upper limit of normal",
            measured=f"{inp.creatinine_x_uln} x ULN",
            threshold=f"<= {t.creatinine_max_x_uln} x ULN",
            passed=inp.creatinine_x_uln <= t.creatinine_max_x_uln,
        ),
    )


def _patient_criteria(
    inp: EligibilityInput, t: EligibilityThresholds
) -> tuple[CriterionResult, ...]:
    """The patient: self-injection, pregnancy, and the conditions that exclude."""
    weeks = t.infection_lookback_weeks
    years = t.malignancy_lookback_years
    pregnancy_ok = inp.pregnancy_test in ("negative", "not_applicable")
    return (
        _present(
            "ELIG-SELF-INJECT",
            "able to self-inject or has a caregiver who can",
            inp.can_self_inject_or_caregiver,
        ),
        _absent("ELIG-NOT-PREGNANT-OR-NURSING", "pregnant or nursing", inp.pregnant_or_nursing),
        CriterionResult(
            criterion_id="ELIG-PREGNANCY-TEST",
            description="pregnancy test (not applicable: not of child-bearing potential)",
            measured=inp.pregnancy_test,
            threshold="negative or not_applicable",
            passed=pregnancy_ok,
        ),
        _absent(
            "ELIG-NO-INFECTION",
            f"acute/chronic infection or IV antibiotics within {weeks} weeks",
            inp.infection_or_iv_antibiotics_12_weeks,
        ),
        _absent("ELIG-NO-OPEN-WOUNDS", "open wounds", inp.open_wounds),
        _absent(
            "ELIG-NO-OTHER-MALIGNANCY",
            f"other active malignancy within {years} years (protocol exceptions excluded)",
            inp.other_active_malignancy_5_years,
        ),
        _absent(
            "ELIG-NO-NYHA-3-4", "NYHA class III/IV congestive heart failure", inp.nyha_class_3_or_4
        ),
        _absent(
            "ELIG-NO-RA-OR-IMMUNOSUPPRESSION",
            "rheumatoid arthritis or disease needing immunosuppression",
            inp.ra_or_immunosuppression,
        ),
        _absent(
            "ELIG-NO-ASTHMA-IBD-DEBILITATING",
            "asthma, inflammatory bowel disease or debilitating illness",
            inp.asthma_ibd_or_debilitating_illness,
        ),
    )


def assess_eligibility(inp: EligibilityInput, params: ProtocolParameters) -> EligibilityResult:
    """Check every eligibility criterion of NCT00635154 (protocol, Eligibility).

    Disease: smoldering/indolent myeloma (ELIG-DIAGNOSIS) with at least one of marrow plasma
    cells >= 10%, serum IgG/IgA M-protein >= 3.0 g/dL, urine light chain >= 1 g/24 h
    (ELIG-DISEASE; an IgM, IgD or light-chain-only serum M-protein does not count); measurable
    disease; no need for immediate chemotherapy; no active myeloma or amyloidosis needing it; no
    interacting agents. Patient: age, ECOG <= 0, WBC >= 3500, ANC >= 1700, creatinine <= 1.5 x
    ULN, self-injection, pregnancy, infection/IV antibiotics (12 weeks), open wounds, other
    malignancy (5 years), NYHA III/IV, RA/immunosuppression, asthma/IBD/debilitating illness.
    Prior therapy: strictly more than 30 days since a prohibited agent (ELIG-WASHOUT).
    """
    t = params.eligibility
    washout = inp.days_since_prohibited_agent
    criteria = (
        CriterionResult(
            criterion_id="ELIG-AGE",
            description="age in years",
            measured=str(inp.age_years),
            threshold=f"{t.age_min_years}-{t.age_max_years}",
            passed=t.age_min_years <= inp.age_years <= t.age_max_years,
        ),
        *_disease_criteria(inp, t),
        *_fitness_criteria(inp, t),
        *_patient_criteria(inp, t),
        CriterionResult(
            criterion_id="ELIG-WASHOUT",
            description="days since DHEA, clarithromycin, pamidronate, steroids, M-protein agents",
            measured="never taken" if washout is None else f"{washout} days",
            threshold=f"> {t.washout_more_than_days} days",
            passed=washout is None or washout > t.washout_more_than_days,
        ),
    )
    return EligibilityResult(
        amendment=params.amendment,
        eligible=all(c.passed for c in criteria),
        criteria=criteria,
    )
