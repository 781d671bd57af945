"""Regimens and regimen transitions of NCT00635154 (protocol, Treatment).

Transitions (rule ids in :data:`TRANSITION_RULE_IDS`) follow the protocol outline: induction
months 1-6; at month 6 responders (CR/VGPR/PR/MR) continue anakinra alone to month 12, stable
disease adds low-dose dexamethasone for months 7-12 (13-18 if still SD or better), progression
at any time moves to high-dose dexamethasone; beyond month 12 at the physician's discretion;
then follow-up every 6 months for up to 5 years.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from ledger.errors import RuleViolation, ValidationError
from ledger.protocol.parameters import Month6Basis, ProgressionStart, ProtocolParameters
from ledger.protocol.response import Category
from ledger.protocol.schedule.protocol_time import month_start, protocol_month


class Regimen(StrEnum):
    """What "current arm" means for one patient at one time."""

    SCREENING = "screening"
    INDUCTION = "induction"
    CONTINUATION = "continuation"
    LOW_DOSE_DEX = "low_dose_dex"
    HIGH_DOSE_DEX = "high_dose_dex"
    OFF_TREATMENT = "off_treatment"
    FOLLOW_UP = "follow_up"
    OFF_STUDY = "off_study"


ON_TREATMENT = frozenset(
    {Regimen.INDUCTION, Regimen.CONTINUATION, Regimen.LOW_DOSE_DEX, Regimen.HIGH_DOSE_DEX}
)
"""Regimens in which study drug is given (anakinra daily in all of them)."""

TRANSITION_RULE_IDS = frozenset(
    {
        "REG-SCREEN-ELIGIBLE",
        "REG-SCREEN-INELIGIBLE",
        "REG-M6-RESPONSE",
        "REG-M6-SD",
        "REG-M6-UNCONFIRMED",
        "REG-M6-NOT-ASSESSED",
        "REG-M6-BASIS",
        "REG-PD-START",
        "REG-M6-PD",
        "REG-PD-ANYTIME",
        "REG-PD-ON-HIGHDEX",
        "REG-M12-LOWDEX-EXTEND",
        "REG-M12-LOWDEX-END",
        "REG-M12-CONTINUATION-END",
        "REG-M12-DISCRETION",
        "REG-M12-HIGHDEX-COURSE",
        "REG-M18-LOWDEX-END",
        "REG-M18-DISCRETION",
        "REG-HIGHDEX-COURSE-END",
        "REG-OFF-TREATMENT",
        "REG-EOT-FOLLOW-UP",
        "REG-FU-COMPLETE",
        "REG-WITHDRAWAL",
        "REG-DEATH",
    }
)


class RegimenDecision(BaseModel):
    """The regimen a rule calls for, the rule's id, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    regimen: Regimen
    rule_id: str
    reason: str


_SD_OR_BETTER = frozenset({Category.CR, Category.VGPR, Category.PR, Category.MR, Category.SD})


def _refuse(rule: str, current: Regimen, expected: str) -> RuleViolation:
    return RuleViolation(f"{rule}: expected {expected}; found regimen {current}")


def regimen_after_screening(*, eligible: bool) -> RegimenDecision:
    """Eligible patients start induction (anakinra alone, months 1-6); others leave the study."""
    if eligible:
        return RegimenDecision(
            regimen=Regimen.INDUCTION,
            rule_id="REG-SCREEN-ELIGIBLE",
            reason="eligible: induction with anakinra alone, months 1-6",
        )
    return RegimenDecision(
        regimen=Regimen.OFF_STUDY,
        rule_id="REG-SCREEN-INELIGIBLE",
        reason="not eligible (or not treated): off study without treatment",
    )


def regimen_at_month_6(
    category: Category | None, *, reading: Month6Basis = "month6_assessment"
) -> RegimenDecision:
    """The month-6 decision (protocol, Treatment) on ``category``, read as ``reading`` says
    [REG-M6-BASIS, see :class:`~ledger.protocol.parameters.Readings`]: the category derived at
    the month-6 assessment, or the best confirmed one. PD is passed only when progression is
    confirmed (CONF-PD, CONF-PD-SINGLE); an unconfirmed PD at month 6 is passed as SD.

    CR, VGPR, PR or MR: continuation, anakinra alone months 7-12 [REG-M6-RESPONSE]. SD: add
    low-dose dexamethasone [REG-M6-SD]. PD: high-dose dexamethasone [REG-M6-PD]. No category:
    treated as stable disease [assumed]: no month-6 assessment [REG-M6-NOT-ASSESSED], or
    nothing confirmed when the decision reads confirmed categories [REG-M6-UNCONFIRMED].
    """
    if category is Category.PD:
        return RegimenDecision(
            regimen=Regimen.HIGH_DOSE_DEX,
            rule_id="REG-M6-PD",
            reason="progression confirmed at month 6: anakinra + high-dose dexamethasone",
        )
    if category is None:
        if reading == "confirmed":
            return RegimenDecision(
                regimen=Regimen.LOW_DOSE_DEX,
                rule_id="REG-M6-UNCONFIRMED",
                reason="no confirmed response or progression at month 6: treated as stable "
                "disease, anakinra + low-dose dexamethasone months 7-12",
            )
        return RegimenDecision(
            regimen=Regimen.LOW_DOSE_DEX,
            rule_id="REG-M6-NOT-ASSESSED",
            reason="no response assessment in month 6: treated as stable disease, anakinra + "
            "low-dose dexamethasone months 7-12",
        )
    seen = "confirmed" if reading == "confirmed" else "at the month-6 assessment"
    if category is Category.SD:
        return RegimenDecision(
            regimen=Regimen.LOW_DOSE_DEX,
            rule_id="REG-M6-SD",
            reason=f"stable disease {seen}: anakinra + low-dose dexamethasone months 7-12",
        )
    return RegimenDecision(
        regimen=Regimen.CONTINUATION,
        rule_id="REG-M6-RESPONSE",
        reason=f"{category} {seen}: anakinra alone continues, months 7-12",
    )


def progression_start(
    treatment_start: date,
    confirmed_on: date,
    params: ProtocolParameters,
    reading: ProgressionStart | None = None,
) -> date:
    """First day of high-dose dexamethasone after progression confirmed on ``confirmed_on``
    [REG-PD-START, see :class:`~ledger.protocol.parameters.Readings`]: that day, or day 1 of
    the next protocol month."""
    chosen = reading or params.readings.progression_start
    if chosen == "on_confirmation" or confirmed_on < treatment_start:
        return confirmed_on
    return month_start(
        treatment_start, protocol_month(treatment_start, confirmed_on, params) + 1, params
    )


def regimen_after_progression(current: Regimen) -> RegimenDecision:
    """Progression at any time, induction included, moves to high-dose dexamethasone.

    [REG-PD-ANYTIME] from induction, continuation or low-dose dexamethasone. [REG-PD-ON-HIGHDEX,
    assumed] progression on high-dose dexamethasone ends study treatment: the protocol has no
    further step. Off treatment there is no regimen to change: refused (RuleViolation).
    """
    if current is Regimen.HIGH_DOSE_DEX:
        return RegimenDecision(
            regimen=Regimen.OFF_TREATMENT,
            rule_id="REG-PD-ON-HIGHDEX",
            reason="progression on high-dose dexamethasone: no further protocol step, "
            "study treatment ends",
        )
    if current not in ON_TREATMENT:
        raise _refuse("REG-PD-ANYTIME", current, "an on-treatment regimen")
    return RegimenDecision(
        regimen=Regimen.HIGH_DOSE_DEX,
        rule_id="REG-PD-ANYTIME",
        reason=f"progression during {current}: anakinra + high-dose dexamethasone",
    )


def regimen_at_month_12(
    current: Regimen, latest_category: Category | None, *, physician_continues: bool = False
) -> RegimenDecision:
    """The month-12 decision (protocol, Treatment: months 13-18; beyond 12 at discretion).

    PD: as :func:`regimen_after_progression`. Low-dose dexamethasone: continues months 13-18
    when the latest category is SD or better [REG-M12-LOWDEX-EXTEND]; with no assessment the
    extension's condition is not shown and treatment ends [REG-M12-LOWDEX-END, assumed].
    Continuation: study treatment ends [REG-M12-CONTINUATION-END] unless the treating physician
    continues anakinra [REG-M12-DISCRETION]. High-dose dexamethasone runs its own 6-month course
    and is unchanged [REG-M12-HIGHDEX-COURSE]. Any other regimen is refused.
    """
    if latest_category is Category.PD:
        return regimen_after_progression(current)
    if current is Regimen.LOW_DOSE_DEX:
        if latest_category in _SD_OR_BETTER:
            return RegimenDecision(
                regimen=Regimen.LOW_DOSE_DEX,
                rule_id="REG-M12-LOWDEX-EXTEND",
                reason=f"{latest_category} at month 12: low-dose dexamethasone months 13-18",
            )
        return RegimenDecision(
            regimen=Regimen.OFF_TREATMENT,
            rule_id="REG-M12-LOWDEX-END",
            reason="no assessment shows SD or better at month 12: study treatment ends",
        )
    if current is Regimen.CONTINUATION:
        if physician_continues:
            return RegimenDecision(
                regimen=Regimen.CONTINUATION,
                rule_id="REG-M12-DISCRETION",
                reason="treating physician continues anakinra beyond month 12",
            )
        return RegimenDecision(
            regimen=Regimen.OFF_TREATMENT,
            rule_id="REG-M12-CONTINUATION-END",
            reason="continuation complete at month 12: study treatment ends",
        )
    if current is Regimen.HIGH_DOSE_DEX:
        return RegimenDecision(
            regimen=Regimen.HIGH_DOSE_DEX,
            rule_id="REG-M12-HIGHDEX-COURSE",
            reason="high-dose dexamethasone runs its own 6-month course from its start",
        )
    raise _refuse("REG-M12", current, "continuation, low_dose_dex or high_dose_dex at month 12")


def regimen_at_month_18(
    current: Regimen, latest_category: Category | None, *, physician_continues: bool = False
) -> RegimenDecision:
    """The month-18 decision: the end of the low-dose extension (protocol, Treatment).

    PD: as :func:`regimen_after_progression`. Low-dose dexamethasone ends
    [REG-M18-LOWDEX-END] unless the physician continues it with SD or better
    [REG-M18-DISCRETION]. Only low-dose dexamethasone has a month-18 milestone; any other regimen
    is refused (treatment continued at discretion ends by :func:`end_treatment`).
    """
    if latest_category is Category.PD:
        return regimen_after_progression(current)
    if current is not Regimen.LOW_DOSE_DEX:
        raise _refuse("REG-M18", current, "low_dose_dex at month 18")
    if physician_continues and latest_category in _SD_OR_BETTER:
        return RegimenDecision(
            regimen=Regimen.LOW_DOSE_DEX,
            rule_id="REG-M18-DISCRETION",
            reason=f"{latest_category} at month 18: physician continues low-dose dexamethasone",
        )
    return RegimenDecision(
        regimen=Regimen.OFF_TREATMENT,
        rule_id="REG-M18-LOWDEX-END",
        reason="low-dose extension complete at month 18: study treatment ends",
    )


def regimen_after_high_dose_course(current: Regimen) -> RegimenDecision:
    """The 6-month high-dose course is complete: study treatment ends [REG-HIGHDEX-COURSE-END]."""
    if current is not Regimen.HIGH_DOSE_DEX:
        raise _refuse("REG-HIGHDEX-COURSE-END", current, "high_dose_dex")
    return RegimenDecision(
        regimen=Regimen.OFF_TREATMENT,
        rule_id="REG-HIGHDEX-COURSE-END",
        reason="high-dose dexamethasone course complete: study treatment ends",
    )


def end_treatment(current: Regimen, reason: str) -> RegimenDecision:
    """Study treatment stops early or at the physician's discretion (toxicity, refusal, ...)."""
    if current not in ON_TREATMENT:
        raise _refuse("REG-OFF-TREATMENT", current, "an on-treatment regimen")
    if not reason.strip():
        raise ValidationError("reason", reason, "ending treatment needs a reason")
    return RegimenDecision(
        regimen=Regimen.OFF_TREATMENT, rule_id="REG-OFF-TREATMENT", reason=reason
    )


def end_of_treatment(current: Regimen) -> RegimenDecision:
    """After study treatment ends the patient is followed [REG-EOT-FOLLOW-UP]."""
    if current is not Regimen.OFF_TREATMENT:
        raise _refuse("REG-EOT-FOLLOW-UP", current, "off_treatment")
    return RegimenDecision(
        regimen=Regimen.FOLLOW_UP,
        rule_id="REG-EOT-FOLLOW-UP",
        reason="study treatment ended: follow-up every 6 months for up to 5 years",
    )


def follow_up_complete(current: Regimen) -> RegimenDecision:
    """The 5-year follow-up is over: off study [REG-FU-COMPLETE]."""
    if current is not Regimen.FOLLOW_UP:
        raise _refuse("REG-FU-COMPLETE", current, "follow_up")
    return RegimenDecision(
        regimen=Regimen.OFF_STUDY, rule_id="REG-FU-COMPLETE", reason="follow-up complete"
    )


def died(current: Regimen, cause: str) -> RegimenDecision:
    """Death ends participation from any regimen [REG-DEATH]."""
    if current is Regimen.OFF_STUDY:
        raise _refuse("REG-DEATH", current, "a patient still on study")
    return RegimenDecision(regimen=Regimen.OFF_STUDY, rule_id="REG-DEATH", reason=f"death: {cause}")


def withdraw(current: Regimen, reason: str) -> RegimenDecision:
    """Consent withdrawn, lost to follow-up or another end of participation: off study from
    anywhere [REG-WITHDRAWAL] (death has its own rule, REG-DEATH)."""
    if current is Regimen.OFF_STUDY:
        raise _refuse("REG-WITHDRAWAL", current, "a patient still on study")
    if not reason.strip():
        raise ValidationError("reason", reason, "going off study needs a reason")
    return RegimenDecision(regimen=Regimen.OFF_STUDY, rule_id="REG-WITHDRAWAL", reason=reason)
