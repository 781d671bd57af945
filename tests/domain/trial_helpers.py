"""Helpers for domain and CLI tests: a synthetic subject taken through screening to treatment."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from ledger.domain.commands import (
    AssessEligibility,
    AssessResponse,
    Consent,
    Enrol,
    RecordDose,
    RecordLab,
    Screen,
)
from ledger.events import BaselineLabs, Deviation, ResponseCategory
from ledger.protocol.eligibility import EligibilityInput
from ledger.recording import Recorded, TrialRecorder
from tests.support import Cast

SUBJECT = "MC0282-001-017"
OTHER = "MC0282-001-018"
SCREENED_ON = date(2003, 1, 6)
ENROLLED_ON = date(2003, 1, 10)
START = date(2003, 1, 13)  # protocol day 1; 28-day months: month 7 starts on day 169
TODAY = date(2008, 1, 1)


def day(n: int) -> date:
    """Protocol day ``n`` of SUBJECT (day 1 = START)."""
    return START + timedelta(days=n - 1)


def month_start(month: int) -> date:
    return day(28 * (month - 1) + 1)


def eligible_inputs(**changes: Any) -> EligibilityInput:
    values: dict[str, Any] = {
        "age_years": 61,
        "smoldering_or_indolent_myeloma": True,
        "marrow_plasma_cells_pct": Decimal(15),
        "serum_m_protein_g_dl": Decimal("3.2"),
        "serum_m_protein_isotype": "IgG",
        "urine_light_chain_g_24h": None,
        "measurable_disease": True,
        "needs_immediate_chemotherapy": False,
        "active_myeloma_or_amyloidosis_needing_chemo": False,
        "interacting_agents": False,
        "ecog": 0,
        "wbc_per_mm3": Decimal(5200),
        "anc_per_mm3": Decimal(2900),
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
    values.update(changes)
    return EligibilityInput.model_validate(values)


def baseline(**changes: Any) -> BaselineLabs:
    """Serum M-protein is the only measurable marker (urine not measured)."""
    values: dict[str, Any] = {
        "serum_m_protein_g_dl": Decimal("3.2"),
        "marrow_plasma_cells_pct": Decimal(15),
        "hs_crp_mg_l": Decimal("4.1"),
    }
    values.update(changes)
    return BaselineLabs.model_validate(values)


def screen_command(subject: str = SUBJECT, *, site: str = "001", on: date = SCREENED_ON) -> Screen:
    """The screening of ``subject``, a woman of 61 (at site 001 unless ``site`` says)."""
    return Screen(subject_id=subject, date=on, site=site, age_years=61, sex="F")


def enrol_command(
    subject: str = SUBJECT, *, start: date = START, waiver: Deviation | None = None
) -> Enrol:
    """The enrolment of ``subject`` on ENROLLED_ON with :func:`baseline`, treatment from
    ``start``."""
    return Enrol(
        subject_id=subject,
        date=ENROLLED_ON,
        treatment_start=start,
        baseline=baseline(),
        waiver=waiver,
    )


def anakinra_command(on: date, subject: str = SUBJECT) -> RecordDose:
    """The daily anakinra dose (100 mg SC) of ``subject`` on ``on``."""
    return RecordDose(subject_id=subject, date=on, drug="anakinra", dose=Decimal(100), route="SC")


def screen_subject(
    recorder: TrialRecorder, cast: Cast, subject: str = SUBJECT, **inputs: Any
) -> None:
    """Screened, consented and assessed (eligible unless ``inputs`` say otherwise)."""
    recorder.record(cast.coordinator, screen_command(subject))
    recorder.record(
        cast.coordinator,
        Consent(subject_id=subject, date=date(2003, 1, 7), consent_version="2002-10"),
    )
    recorder.record(
        cast.investigator,
        AssessEligibility(
            subject_id=subject, date=date(2003, 1, 8), inputs=eligible_inputs(**inputs)
        ),
    )


def enrol_subject(
    recorder: TrialRecorder, cast: Cast, subject: str = SUBJECT, start: date = START
) -> Recorded:
    screen_subject(recorder, cast, subject)
    return recorder.record(cast.investigator, enrol_command(subject, start=start))


def assess_serum(
    recorder: TrialRecorder,
    cast: Cast,
    on: date,
    serum: str,
    investigator: ResponseCategory = "SD",
    subject: str = SUBJECT,
) -> Recorded:
    """A serum M-protein result on ``on`` and a response assessment the same day (no new
    bone lesions, so MR is possible)."""
    recorder.record(
        cast.coordinator,
        RecordLab(
            subject_id=subject,
            date=on,
            analyte="serum_m_protein",
            value=Decimal(serum),
            unit="g/dL",
        ),
    )
    return recorder.record(
        cast.investigator,
        AssessResponse(
            subject_id=subject, date=on, investigator_category=investigator, new_bone_lesions=False
        ),
    )


def event_names(recorded: Recorded) -> list[str]:
    return [type(e).__name__ for e in recorded.events]
