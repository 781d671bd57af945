"""Recording rules every command shares: who the subject is, when a fact may be dated, values.

These are the ledger's own recording rules (ids ``REC-*``, ``LAB-*``, ``AE-*``); the protocol's
rules live in :mod:`ledger.protocol` and are cited by their own ids. Every refusal names the
field, the value and the rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal, TypeVar

from pydantic import ValidationError as PydanticValidationError

from ledger.domain.patient import Patient
from ledger.errors import NotFoundError, RuleViolation, ValidationError, show_position
from ledger.events import (
    ANALYTE_UNITS,
    AdverseEventReported,
    LabResulted,
    SubjectEnrolled,
    SubjectEvent,
    SubjectScreened,
    is_subject_id,
    subject_stream_id,
)

RECORDING_RULE_IDS: dict[str, str] = {
    "REC-SUBJECT-ID": "a subject id is MC0282-<site>-<number>, e.g. MC0282-001-017",
    "REC-SCREENED": "every event but screening needs a screened subject",
    "REC-ENROLLED": "treatment, lab, response, AE, follow-up and death events need enrolment",
    "REC-DUPLICATE-SUBJECT": "a subject is screened once",
    "REC-SITE": "the site is the one in the subject id",
    "REC-DATE-FUTURE": "no clinical date after today",
    "REC-DATE-BEFORE-TRIAL": "no screening before the trial's genesis date",
    "REC-DATE-BEFORE-SCREENING": "no clinical date before the subject's screening",
    "REC-DATE-BEFORE-TREATMENT": "response and progression are assessed from treatment start",
    "REC-AFTER-DEATH": "after death only corrections and signatures",
    "REC-AFTER-WITHDRAWAL": "after consent withdrawal only corrections and signatures; after "
    "withdrawal from treatment only follow-up, death, off-study, AE resolution, corrections, "
    "signatures",
    "REC-AFTER-OFF-STUDY": "after going off study only corrections and signatures",
    "REC-ELIGIBILITY-AGE": "eligibility uses the age recorded at screening",
    "REC-ALREADY-ENROLLED": "eligibility and enrolment happen once, before treatment",
    "REC-CONSENT-FIRST": "enrolment needs consent obtained on or before its date",
    "REC-DUPLICATE-CONSENT": "a consent version is obtained once",
    "REC-ELIGIBILITY-FIRST": "enrolment needs an eligibility assessment on or before its date",
    "REC-WAIVER": "a waiver names every failing criterion, and only an ineligible subject has one",
    "REC-TREATMENT-START": "treatment starts on or after the enrolment date",
    "REC-DUPLICATE-DOSE": "one dose of a drug per clinical day (unless corrected away)",
    "REC-DOSE-MISSED-CONFLICT": "a dose is either given or missed on a day, not both",
    "REC-MISSED-NOT-DUE": "only a dose the calendar calls for can be missed",
    "REC-DEVIATION": "a deviation names the rule departed from, and only a departure has one",
    "LAB-UNIT": "each analyte has one unit",
    "LAB-RANGE": "each analyte has a plausible range",
    "REC-ASSESSMENT-ORDER": "response assessments are recorded in date order, one per day",
    "REC-PROGRESSION-DUPLICATE": "a progression is confirmed once per line of treatment",
    "REC-PROGRESSION-DATE": "an investigator's progression date lies between the treatment start "
    "and the confirmation; progression the rules confirm is dated by them",
    "REC-NOTHING-DUE": "a regimen transition is applied only when the protocol makes it due",
    "REC-TRANSITION-DUE": "a dose dated on or after a due regimen transition waits for it",
    "REC-END-BEFORE-RECORDS": "the end of treatment follows the last dose; the end of "
    "participation (consent withdrawn, off study, death) follows every clinical record",
    "REC-CORRECT-RULES": "a corrected dose must satisfy the dosing rules as a new one would",
    "AE-DUPLICATE": "an AE id is reported once per subject",
    "AE-UNKNOWN": "only a reported AE can be resolved",
    "AE-RESOLVED": "an AE is resolved once",
    "AE-SERIOUSNESS": "serious iff a seriousness criterion; grade 5 iff the criterion death",
    "AE-ACTION": "an action on study drug needs study drug to be given",
    "REC-FOLLOW-UP-PHASE": "follow-up visits start when study treatment ends",
    "REC-NOT-ON-TREATMENT": "a withdrawal from study treatment needs a patient on treatment",
    "REC-CORRECT-TARGET": "a correction names an event of the same subject by its position",
    "REC-CORRECT-TOPIC": "rule-derived events, corrections and signatures are not corrected",
    "REC-CORRECT-FIELD": "a correction names a correctable field of the event",
    "REC-CORRECT-OLD": "the old value is the field's current value",
    "REC-CORRECT-SAME": "a correction changes the value",
    "REC-SIGN-TARGET": "a signature covers events of the same subject, each once",
}
"""Every recording rule the domain enforces, by id (a meta-test finds a test for each)."""

Activity = Literal["treatment", "follow-up"]
"""What an event is for, which decides whether it may follow a withdrawal."""

LAB_LIMITS: dict[str, tuple[Decimal, Decimal]] = {
    "serum_m_protein": (Decimal(0), Decimal(15)),
    "urine_m_protein": (Decimal(0), Decimal(30000)),
    "marrow_plasma_cells": (Decimal(0), Decimal(100)),
    "flc_kappa": (Decimal(0), Decimal(100000)),
    "flc_lambda": (Decimal(0), Decimal(100000)),
    "hs_crp": (Decimal(0), Decimal(500)),
    "wbc": (Decimal(0), Decimal(500000)),
    "anc": (Decimal(0), Decimal(500000)),
    "creatinine": (Decimal(0), Decimal(30)),
    "serum_ife": (Decimal(0), Decimal(1)),
    "urine_ife": (Decimal(0), Decimal(1)),
}
"""Plausibility range per analyte, in the unit of :data:`ledger.events.ANALYTE_UNITS` (not a
protocol threshold: a value outside it is a unit or typing error). IFE is 1 negative, 0 positive.
"""


@dataclass(frozen=True)
class TrialContext:
    """What every command needs to know beyond the patient: the trial and today's date."""

    amendment: str
    trial_start: date
    today: date


E = TypeVar("E", bound=SubjectEvent)


def build(cls: type[E], patient: Patient, offset: int, **fields: Any) -> E:
    """The next event of ``patient``'s stream (version ``patient.version + offset``); a value
    the model refuses is reported as a :class:`ValidationError` naming field, value and rule."""
    try:
        return cls(
            originator_id=subject_stream_id(patient.subject_id),
            originator_version=patient.version + offset,
            subject_id=patient.subject_id,
            **fields,
        )
    except PydanticValidationError as e:
        error = e.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or cls.__name__
        raise ValidationError(where, error.get("input"), error["msg"]) from None


def check_subject_id(subject_id: str) -> None:
    if not is_subject_id(subject_id):
        raise ValidationError(
            "subject_id",
            subject_id,
            "[REC-SUBJECT-ID] expected MC0282-NNN-NNN, e.g. MC0282-001-017",
        )


def require_screened(p: Patient, what: str) -> SubjectScreened:
    if p.screening is None:
        raise NotFoundError(
            f"[REC-SCREENED] subject {p.subject_id} was never screened: {what} cannot be "
            "recorded (screen the subject first)"
        )
    return p.screening


def require_enrolled(p: Patient, what: str) -> SubjectEnrolled:
    require_screened(p, what)
    if p.enrolment is None:
        raise RuleViolation(
            f"[REC-ENROLLED] subject {p.subject_id} was never enrolled: {what} is refused "
            "for a subject who is not enrolled"
        )
    return p.enrolment


def check_date(p: Patient, on: date, ctx: TrialContext, field: str = "date") -> None:
    """Not after today; not before the subject's screening."""
    if on > ctx.today:
        raise ValidationError(
            field,
            on.isoformat(),
            f"[REC-DATE-FUTURE] a clinical date may not be after today ({ctx.today})",
        )
    if p.screening is not None and on < p.screening.effective_date:
        raise ValidationError(
            field,
            on.isoformat(),
            f"[REC-DATE-BEFORE-SCREENING] before subject {p.subject_id}'s screening on "
            f"{p.screening.effective_date} ({show_position(p.screening_position)})",
        )


def require_on_study(p: Patient, on: date, what: str, activity: Activity) -> None:
    """Refuse ``what`` dated after death, consent withdrawal or going off study; treatment
    events also after withdrawal from treatment. Corrections and signatures never come here."""
    if p.death is not None and on > p.death.effective_date:
        raise RuleViolation(
            f"[REC-AFTER-DEATH] subject {p.subject_id} died on {p.death.effective_date} "
            f"({show_position(p.death_position)}): no {what} dated {on} can follow; only "
            "corrections and signatures"
        )
    cw = p.consent_withdrawal
    if cw is not None and on > cw.effective_date:
        raise RuleViolation(
            f"[REC-AFTER-WITHDRAWAL] subject {p.subject_id} withdrew consent on "
            f"{cw.effective_date}: no {what} dated {on} can follow; only corrections and "
            "signatures"
        )
    off = p.off_study_from
    if off is not None and on > off:
        raise RuleViolation(
            f"[REC-AFTER-OFF-STUDY] subject {p.subject_id} went off study on {off}: no {what} "
            f"dated {on} can follow; only corrections and signatures"
        )
    tw = p.treatment_withdrawal
    if activity == "treatment" and tw is not None and on > tw.effective_date:
        raise RuleViolation(
            f"[REC-AFTER-WITHDRAWAL] subject {p.subject_id} was withdrawn from study treatment "
            f"on {tw.effective_date}: no {what} dated {on} can follow; only follow-up visits, "
            "labs and response assessments, death, off-study, AE resolution, corrections and "
            "signatures"
        )


def require_status_open(p: Patient, what: str) -> None:
    """Withdrawal (of consent), going off study and death each end the record once."""
    if p.death is not None:
        raise RuleViolation(
            f"[REC-AFTER-DEATH] subject {p.subject_id} died on {p.death.effective_date}: "
            f"no {what} can follow"
        )
    if p.consent_withdrawal is not None:
        raise RuleViolation(
            f"[REC-AFTER-WITHDRAWAL] subject {p.subject_id} withdrew consent on "
            f"{p.consent_withdrawal.effective_date}: no {what} can follow"
        )
    if p.off_study_from is not None:
        raise RuleViolation(
            f"[REC-AFTER-OFF-STUDY] subject {p.subject_id} went off study on "
            f"{p.off_study_from}: no {what} can follow"
        )


def check_values(event: SubjectEvent) -> None:
    """Value rules of a recorded event (also applied to an event as a correction leaves it)."""
    if isinstance(event, LabResulted):
        expected = ANALYTE_UNITS[event.analyte]
        if event.unit != expected:
            raise ValidationError(
                "unit",
                event.unit,
                f"[LAB-UNIT] {event.analyte} is recorded in {expected}, not {event.unit}",
            )
        low, high = LAB_LIMITS[event.analyte]
        if not low <= event.value <= high:
            raise ValidationError(
                "value",
                str(event.value),
                f"[LAB-RANGE] {event.analyte} must lie in {low}..{high} {expected}",
            )
        if event.analyte.endswith("_ife") and event.value not in (0, 1):
            raise ValidationError(
                "value",
                str(event.value),
                f"[LAB-RANGE] {event.analyte} is 1 (negative) or 0 (positive)",
            )
    if isinstance(event, AdverseEventReported):
        criteria = event.seriousness_criteria
        if len(set(criteria)) != len(criteria):
            raise ValidationError(
                "seriousness_criteria",
                ",".join(criteria),
                "[AE-SERIOUSNESS] each seriousness criterion is listed once",
            )
        if event.serious != bool(criteria):
            raise ValidationError(
                "serious",
                event.serious,
                "[AE-SERIOUSNESS] an AE is serious exactly when it meets a seriousness criterion",
            )
        if (event.grade == 5) != ("death" in criteria):
            raise ValidationError(
                "grade",
                event.grade,
                "[AE-SERIOUSNESS] grade 5 (death related to the AE) goes with the seriousness "
                f"criterion 'death', and 'death' with grade 5 (criteria: {','.join(criteria)})",
            )
