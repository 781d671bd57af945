"""Screening and enrolment: screen, eligibility, consent, enrol."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import Field

from ledger.domain.commands.base import Cli, ClinicalDate, Command, Whole, handles
from ledger.domain.commands.rules import draft_of, transition
from ledger.domain.guards import (
    TrialContext,
    build,
    check_date,
    require_on_study,
    require_screened,
    require_status_open,
)
from ledger.domain.patient import Patient
from ledger.errors import RuleViolation, ValidationError, show_position
from ledger.events import (
    BaselineLabs,
    ConsentObtained,
    CriterionRecord,
    Deviation,
    EligibilityAssessed,
    RegimenChanged,
    ShortText,
    SiteCode,
    SubjectEnrolled,
    SubjectEvent,
    SubjectScreened,
    site_of,
)
from ledger.protocol import schedule
from ledger.protocol.eligibility import EligibilityInput
from ledger.protocol.eligibility import assess_eligibility as eligibility_rules


class Screen(Command):
    """Screen a subject at a site (the first event of every subject).

    Example: trial-ledger screen --db trial.db --key cole.key --subject MC0282-001-017
    --site 001 --age 61 --sex F --date 2003-01-06
    """

    name = "screen"
    command: Literal["screen"] = "screen"
    own_event = SubjectScreened
    site: SiteCode = Field(description="Site code, e.g. 001 (as in the subject id).")
    age_years: Annotated[Whole, Cli("--age")] = Field(
        ge=18, le=120, description="Age in years at screening."
    )
    sex: Literal["F", "M", "U"] = Field(description="F, M or U.")


class AssessEligibility(Command):
    """Assess eligibility (investigator): every criterion, its value, threshold and result.

    The inputs hold one JSON object: age_years, smoldering_or_indolent_myeloma,
    marrow_plasma_cells_pct, serum_m_protein_g_dl, serum_m_protein_isotype,
    urine_light_chain_g_24h, measurable_disease, ecog, wbc_per_mm3, anc_per_mm3,
    creatinine_x_uln, pregnancy_test, ... (see `trial-ledger schema import-line`,
    EligibilityInput).

    Example: trial-ledger eligibility --db trial.db --key ada.key --subject MC0282-001-017
    --inputs elig-017.json --date 2003-01-08
    """

    name = "eligibility"
    command: Literal["eligibility"] = "eligibility"
    own_event = EligibilityAssessed
    inputs: Annotated[EligibilityInput, Cli("--inputs", file=True)] = Field(
        description="Every eligibility criterion's measured value (fields of "
        "EligibilityInput); on the command line, a JSON file holding them."
    )


class Consent(Command):
    """Record informed consent obtained (needed before enrolment).

    Example: trial-ledger consent --db trial.db --key cole.key --subject MC0282-001-017
    --version 2002-10 --date 2003-01-07
    """

    name = "consent"
    command: Literal["consent"] = "consent"
    own_event = ConsentObtained
    consent_version: Annotated[ShortText, Cli("--version")] = Field(
        description="Consent form version signed."
    )


_BASELINE_OPTIONS = (
    ("serum_m_protein_g_dl", "--serum-m-protein", "Baseline serum M-protein, g/dL."),
    ("urine_m_protein_mg_24h", "--urine-m-protein", "Baseline urine M-protein, mg/24h."),
    ("marrow_plasma_cells_pct", "--marrow-plasma-cells", "Baseline marrow plasma cells, %."),
    ("hs_crp_mg_l", "--hs-crp", "Baseline hs-CRP, mg/L."),
)


class Enrol(Command):
    """Enrol an eligible, consented subject (investigator); induction starts on --treatment-start.

    An ineligible subject is refused with every failing criterion listed, unless a waiver
    names them all with a reason: the enrolment then records a protocol deviation.

    Example: trial-ledger enrol --db trial.db --key ada.key --subject MC0282-001-017
    --treatment-start 2003-01-13 --serum-m-protein 3.2 --urine-m-protein 250
    --marrow-plasma-cells 15 --hs-crp 4.1 --date 2003-01-10
    """

    name = "enrol"
    command: Literal["enrol"] = "enrol"
    own_event = SubjectEnrolled
    rule_events = frozenset({RegimenChanged})
    treatment_start: ClinicalDate = Field(description="First day of treatment, YYYY-MM-DD.")
    baseline: Annotated[BaselineLabs, Cli(flatten=_BASELINE_OPTIONS)] = Field(
        default_factory=BaselineLabs, description="Baseline labs (each optional)."
    )
    waiver: Annotated[Deviation | None, Cli("--waiver", pair=True)] = Field(
        default=None,
        description="Failing criteria waived (rule_id: e.g. ELIG-ANC,ELIG-WBC) and why: "
        "records a protocol deviation for an ineligible subject.",
    )


@handles(Screen)
def screen(p: Patient, ctx: TrialContext, cmd: Screen) -> list[SubjectEvent]:
    site, age_years, sex, on = cmd.site, cmd.age_years, cmd.sex, cmd.date
    if p.screening is not None:
        raise RuleViolation(
            f"[REC-DUPLICATE-SUBJECT] subject {p.subject_id} was already screened on "
            f"{p.screening.effective_date} ({show_position(p.screening_position)})"
        )
    if site != site_of(p.subject_id):
        raise ValidationError(
            "site",
            site,
            f"[REC-SITE] subject {p.subject_id} belongs to site {site_of(p.subject_id)}",
        )
    check_date(p, on, ctx)
    if on < ctx.trial_start:
        raise ValidationError(
            "date",
            on.isoformat(),
            f"[REC-DATE-BEFORE-TRIAL] before the trial's genesis date ({ctx.trial_start})",
        )
    return [
        build(SubjectScreened, p, 1, effective_date=on, site=site, age_years=age_years, sex=sex)
    ]


@handles(AssessEligibility)
def assess_eligibility(p: Patient, ctx: TrialContext, cmd: AssessEligibility) -> list[SubjectEvent]:
    inputs, on = cmd.inputs, cmd.date
    screening = require_screened(p, "eligibility assessment")
    check_date(p, on, ctx)
    require_status_open(p, "eligibility assessment")
    if p.enrolment is not None:
        raise RuleViolation(
            f"[REC-ALREADY-ENROLLED] subject {p.subject_id} was enrolled on "
            f"{p.enrolment.effective_date}: eligibility is assessed before enrolment"
        )
    if inputs.age_years != screening.age_years:
        raise ValidationError(
            "age_years",
            inputs.age_years,
            f"[REC-ELIGIBILITY-AGE] subject {p.subject_id} was screened aged "
            f"{screening.age_years} ({show_position(p.screening_position)}); correct that first",
        )
    result = eligibility_rules(inputs, p.params(ctx.amendment))
    criteria = tuple(
        CriterionRecord(
            criterion_id=c.criterion_id,
            description=c.description,
            measured=c.measured,
            threshold=c.threshold,
            passed=c.passed,
        )
        for c in result.criteria
    )
    return [
        build(
            EligibilityAssessed,
            p,
            1,
            effective_date=on,
            protocol_amendment=result.amendment,
            criteria=criteria,
            eligible=result.eligible,
            inputs=inputs.model_dump(mode="json"),
        )
    ]


@handles(Consent)
def consent(p: Patient, ctx: TrialContext, cmd: Consent) -> list[SubjectEvent]:
    consent_version, on = cmd.consent_version, cmd.date
    require_screened(p, "consent")
    check_date(p, on, ctx)
    require_on_study(p, on, "consent", "treatment")
    require_status_open(p, "consent")
    for given in p.consents:
        if given.consent_version == consent_version:
            raise RuleViolation(
                f"[REC-DUPLICATE-CONSENT] subject {p.subject_id} already consented to version "
                f"{consent_version} on {given.effective_date}"
            )
    return [build(ConsentObtained, p, 1, effective_date=on, consent_version=consent_version)]


def _waived_ids(rule_id: str) -> set[str]:
    return {part for part in re.split(r"[,\s]+", rule_id) if part}


@handles(Enrol)
def enrol(p: Patient, ctx: TrialContext, cmd: Enrol) -> list[SubjectEvent]:
    treatment_start, baseline, on, waiver = cmd.treatment_start, cmd.baseline, cmd.date, cmd.waiver
    screening = require_screened(p, "enrolment")
    check_date(p, on, ctx)
    require_status_open(p, "enrolment")
    if p.enrolment is not None:
        raise RuleViolation(
            f"[REC-ALREADY-ENROLLED] subject {p.subject_id} was already enrolled on "
            f"{p.enrolment.effective_date}"
        )
    if not any(c.effective_date <= on for c in p.consents):
        raise RuleViolation(
            f"[REC-CONSENT-FIRST] subject {p.subject_id} has no consent obtained on or before "
            f"{on}: record consent before enrolment"
        )
    _check_eligible(p, on, waiver)
    if treatment_start < on:
        raise ValidationError(
            "treatment_start",
            treatment_start.isoformat(),
            f"[REC-TREATMENT-START] treatment starts on or after the enrolment date ({on})",
        )
    enrolled = build(
        SubjectEnrolled,
        p,
        1,
        effective_date=on,
        site=screening.site,
        treatment_start=treatment_start,
        protocol_amendment=ctx.amendment,
        baseline=baseline,
        waiver=waiver,
    )
    draft = draft_of(p, [enrolled])
    decision = schedule.regimen_after_screening(eligible=True)
    if waiver is not None:
        decision = decision.model_copy(
            update={"reason": f"{decision.reason} (eligibility waived: {waiver.rule_id})"}
        )
    events: list[SubjectEvent] = [enrolled]
    transition(draft, events, decision, treatment_start, on)
    return events


def _check_eligible(p: Patient, on: date, waiver: Deviation | None) -> None:
    """[REC-ELIGIBILITY-FIRST] assessed by ``on``; [ELIGIBILITY] eligible, or [REC-WAIVER] a
    waiver naming every failing criterion (and only for an ineligible subject)."""
    eligibility = p.eligibility
    if eligibility is None or eligibility.effective_date > on:
        raise RuleViolation(
            f"[REC-ELIGIBILITY-FIRST] subject {p.subject_id} has no eligibility assessment on "
            f"or before {on}: assess eligibility before enrolment"
        )
    failing = [c for c in eligibility.criteria if not c.passed]
    if failing and waiver is None:
        listed = "; ".join(
            f"{c.criterion_id} measured {c.measured}, required {c.threshold}" for c in failing
        )
        raise RuleViolation(
            f"[ELIGIBILITY] enrolment of {p.subject_id} refused: not eligible (assessed "
            f"{eligibility.effective_date}, {show_position(p.eligibility_position)}, amendment "
            f"{eligibility.protocol_amendment}); failing: {listed}. Enrol with a waiver naming "
            "these criteria and a reason to record a protocol deviation"
        )
    if waiver is not None:
        if not failing:
            raise ValidationError(
                "waiver.rule_id",
                waiver.rule_id,
                f"[REC-WAIVER] subject {p.subject_id} is eligible: there is nothing to waive",
            )
        missing = sorted({c.criterion_id for c in failing} - _waived_ids(waiver.rule_id))
        if missing:
            raise ValidationError(
                "waiver.rule_id",
                waiver.rule_id,
                f"[REC-WAIVER] a waiver names every failing criterion; not named: "
                f"{', '.join(missing)}",
            )
