"""The SDTM vocabulary of the export: identifiers, elements, epochs and the code lists.

Values follow CDISC SDTM controlled terminology (NCI CT) where a term exists for what the
ledger records; the few sponsor-defined values (test codes without a published term, the
element codes, the enrolment milestone) are named here and listed in the README section.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.protocol.schedule import Regimen

STUDYID = "NCT00635154"
"""The trial's id in the ledger (``TrialCreated.trial_id``); the protocol is MC0282."""
COUNTRY = "USA"
"""Not recorded per subject (sites are pseudonymous): the registry's single sponsor site
country, a study constant."""
ARMCD = "ANAKDEX"
ARM = "Anakinra with/without Dexamethasone"
"""The registry's one experimental group: every enrolled subject's planned arm."""
TEXT_LIMIT = 200
"""SDTM (and SAS V5 transport) character values hold at most 200 bytes."""


@dataclass(frozen=True)
class Element:
    code: str
    name: str
    epoch: str
    order: int
    start_rule: str
    end_rule: str
    branch: str | None = None


SCREENING_ELEMENT = Element(
    "SCRN", "Screening", "SCREENING", 1, "Informed consent", "Start of induction or off study"
)
ELEMENTS: dict[Regimen, Element] = {
    Regimen.INDUCTION: Element(
        "IND",
        "Induction: anakinra alone",
        "TREATMENT",
        2,
        "First day of anakinra (protocol day 1)",
        "Month-6 decision or progression",
        "Month 6: MR or better to CONT, SD to LDEX, PD (any time) to HDEX",
    ),
    Regimen.CONTINUATION: Element(
        "CONT",
        "Continuation: anakinra alone",
        "TREATMENT",
        3,
        "Month 7 after MR or better at month 6",
        "End of month 12 or progression",
        "Progression to HDEX",
    ),
    Regimen.LOW_DOSE_DEX: Element(
        "LDEX",
        "Anakinra + low-dose dexamethasone",
        "TREATMENT",
        4,
        "Month 7 after SD at month 6",
        "End of month 12 (18 if still stable or responding) or progression",
        "Progression to HDEX",
    ),
    Regimen.HIGH_DOSE_DEX: Element(
        "HDEX",
        "Anakinra + high-dose dexamethasone",
        "TREATMENT",
        5,
        "Progression at any time",
        "End of the high-dose course",
    ),
    Regimen.OFF_TREATMENT: Element(
        "OFFTRT", "Off study treatment", "FOLLOW-UP", 6, "Study treatment ends", "Follow-up"
    ),
    Regimen.FOLLOW_UP: Element(
        "FU",
        "Follow-up",
        "FOLLOW-UP",
        7,
        "Study treatment ends",
        "5 years after treatment ends, or off study",
    ),
}
EPOCHS: dict[Regimen, str] = {
    Regimen.SCREENING: "SCREENING",
    **{regimen: element.epoch for regimen, element in ELEMENTS.items()},
}

DRUGS = {"anakinra": "ANAKINRA", "dexamethasone": "DEXAMETHASONE"}
ROUTES = {"SC": "SUBCUTANEOUS", "PO": "ORAL"}
DOSE_FORMS = {"SC": "INJECTION", "PO": "TABLET"}


@dataclass(frozen=True)
class LabTest:
    code: str
    name: str
    specimen: str
    category: str


LAB_TESTS: dict[str, LabTest] = {
    "serum_m_protein": LabTest("MPROTEIN", "M-Protein", "SERUM", "IMMUNOLOGY"),
    "urine_m_protein": LabTest("MPROTEIN", "M-Protein", "URINE", "URINALYSIS"),
    "marrow_plasma_cells": LabTest("PLASMCE", "Plasma Cells", "BONE MARROW", "HEMATOLOGY"),
    "flc_kappa": LabTest("KAPLCFR", "Kappa Light Chain, Free", "SERUM", "IMMUNOLOGY"),
    "flc_lambda": LabTest("LAMLCFR", "Lambda Light Chain, Free", "SERUM", "IMMUNOLOGY"),
    "hs_crp": LabTest("CRPHS", "C-Reactive Protein, High Sensitivity", "SERUM", "CHEMISTRY"),
    "wbc": LabTest("WBC", "Leukocytes", "BLOOD", "HEMATOLOGY"),
    "anc": LabTest("NEUT", "Neutrophils", "BLOOD", "HEMATOLOGY"),
    "creatinine": LabTest("CREAT", "Creatinine", "SERUM", "CHEMISTRY"),
    "serum_ife": LabTest("IFE", "Immunofixation", "SERUM", "IMMUNOLOGY"),
    "urine_ife": LabTest("IFE", "Immunofixation", "URINE", "URINALYSIS"),
}
FLAG_TESTS = frozenset({"serum_ife", "urine_ife"})
"""Recorded as 1 (negative) or 0 (positive): a character result, no numeric one."""
BASELINE_ANALYTES = {
    "serum_m_protein_g_dl": "serum_m_protein",
    "urine_m_protein_mg_24h": "urine_m_protein",
    "marrow_plasma_cells_pct": "marrow_plasma_cells",
    "hs_crp_mg_l": "hs_crp",
}

RESPONSE_TEST = ("OVRLRESP", "Overall Response")
BEST_RESPONSE_TEST = ("BESTRESP", "Best Overall Response")
RESPONSE_CATEGORY = "IMWG 2006 WITH EBMT MINIMAL RESPONSE"

AE_RELATION = {
    "unrelated": "NOT RELATED",
    "unlikely": "UNLIKELY RELATED",
    "possible": "POSSIBLY RELATED",
    "probable": "PROBABLY RELATED",
    "definite": "RELATED",
}
AE_ACTION = {
    "none": "DOSE NOT CHANGED",
    "dose-held": "DRUG INTERRUPTED",
    "dose-reduced": "DOSE REDUCED",
    "drug-withdrawn": "DRUG WITHDRAWN",
    "not-applicable": "NOT APPLICABLE",
}
AE_OUTCOME = {
    "recovered": "RECOVERED/RESOLVED",
    "recovered-with-sequelae": "RECOVERED/RESOLVED WITH SEQUELAE",
    "fatal": "FATAL",
    "unknown": "UNKNOWN",
}
AE_NOT_RESOLVED = "NOT RECOVERED/NOT RESOLVED"
AE_SERIOUSNESS = {
    "congenital-anomaly": "AESCONG",
    "disability": "AESDISAB",
    "death": "AESDTH",
    "hospitalisation": "AESHOSP",
    "life-threatening": "AESLIFE",
    "important-medical-event": "AESMIE",
}

TREATMENT_END = {
    "REG-HIGHDEX-COURSE-END": "COMPLETED",
    "REG-M12-CONTINUATION-END": "COMPLETED",
    "REG-M18-LOWDEX-END": "COMPLETED",
    "REG-WITHDRAWAL": "WITHDRAWAL BY SUBJECT",
    "REG-DEATH": "DEATH",
}
"""DSDECOD (NCI CT NCOMPLT) of the end of study treatment, by the rule that ended it; any
other rule (REG-OFF-TREATMENT: the investigator's or patient's decision) is OTHER."""
PARTICIPATION_COMPLETED_RULE = "REG-FU-COMPLETE"


def clip(text: str | None, limit: int = TEXT_LIMIT) -> str | None:
    """``text`` cut to ``limit`` UTF-8 bytes on a character boundary (None stays None)."""
    if text is None:
        return None
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[:limit].decode(errors="ignore")
