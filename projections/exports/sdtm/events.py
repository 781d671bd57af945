"""EX, AE and DS rows of one subject (interventions and events), in date order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

from ledger.events import (
    ConsentObtained,
    DoseAdministered,
    SubjectDied,
    SubjectEnrolled,
    SubjectOffStudy,
    SubjectWithdrawn,
)
from ledger.protocol.schedule import Regimen
from projections.exports.sdtm.subject import SubjectData, iso
from projections.exports.sdtm.terms import (
    AE_ACTION,
    AE_NOT_RESOLVED,
    AE_OUTCOME,
    AE_RELATION,
    AE_SERIOUSNESS,
    DOSE_FORMS,
    DRUGS,
    PARTICIPATION_COMPLETED_RULE,
    ROUTES,
    STUDYID,
    TREATMENT_END,
    clip,
)
from projections.exports.sdtm.writer import Value

Row = list[Value]


def number(value: Decimal) -> int | float:
    """A recorded decimal as a JSON number (an integer when it is one)."""
    return int(value) if value == value.to_integral_value() else float(value)


def ex_rows(s: SubjectData) -> Iterator[Row]:
    """One row per administered dose (voided doses left out, corrections applied)."""
    doses = sorted(s.of_type(DoseAdministered), key=lambda d: (d[1].effective_date, d[0] or 0))
    for seq, (position, dose) in enumerate(doses, 1):
        on = iso(dose.effective_date)
        yield [
            STUDYID,
            "EX",
            s.usubjid,
            seq,
            None if position is None else str(position),
            DRUGS[dose.drug],
            number(dose.dose),
            dose.unit,
            DOSE_FORMS[dose.route],
            "ONCE",
            ROUTES[dose.route],
            clip(dose.deviation.reason) if dose.deviation else None,
            s.epoch_on(dose.effective_date),
            on,
            on,
        ]


def ae_rows(s: SubjectData) -> Iterator[Row]:
    """One row per adverse event id: the latest report, the worst grade, the first onset."""
    h = s.history
    events = sorted(h.adverse_events.items(), key=lambda kv: (kv[1].onset, kv[0]))
    for seq, (ae_id, ae) in enumerate(events, 1):
        r = ae.report
        serious = r.serious
        flags = [
            ("Y" if key in r.seriousness_criteria else "N") if serious else None
            for key in AE_SERIOUSNESS
        ]
        resolution = ae.resolution
        yield [
            STUDYID,
            "AE",
            s.usubjid,
            seq,
            ae_id,
            r.term,
            r.term,
            str(ae.worst_grade),
            "Y" if serious else "N",
            AE_ACTION[r.action_taken],
            AE_RELATION[r.attribution],
            AE_OUTCOME[resolution.outcome] if resolution else AE_NOT_RESOLVED,
            *flags,
            s.epoch_on(ae.onset),
            iso(ae.onset),
            iso(resolution.effective_date) if resolution else None,
        ]


MILESTONE, DISPOSITION, TREATMENT = "PROTOCOL MILESTONE", "DISPOSITION EVENT", "STUDY TREATMENT"
CONSENT, ENROLLED, WITHDRAWAL = "INFORMED CONSENT OBTAINED", "ENROLLED", "WITHDRAWAL BY SUBJECT"
DsEvent = tuple[date, int, str | None, str, str, str, str | None]
"""(date, order, spid, DSTERM, DSDECOD, DSCAT, DSSCAT)"""


def ds_rows(s: SubjectData) -> Iterator[Row]:
    """Consent and enrolment (protocol milestones), progressions, the end of study treatment
    (EPOCH TREATMENT: the epoch it ends) and the end of participation, in date order."""
    found = [*_milestones(s), *_progressions(s), *_treatment_end(s), *_participation_end(s)]
    found.sort(key=lambda x: (x[0], x[1]))
    for seq, (on, _order, spid, term, decod, cat, scat) in enumerate(found, 1):
        yield [
            STUDYID,
            "DS",
            s.usubjid,
            seq,
            spid,
            clip(term),
            decod,
            cat,
            scat,
            "TREATMENT" if scat == TREATMENT else s.epoch_on(on),
            iso(on),
        ]


def _milestones(s: SubjectData) -> Iterator[DsEvent]:
    for position, consent in s.of_type(ConsentObtained):
        term = f"INFORMED CONSENT OBTAINED ({consent.consent_version})"
        spid = None if position is None else str(position)
        yield consent.effective_date, 0, spid, term, CONSENT, MILESTONE, None
    for position, enrolment in s.of_type(SubjectEnrolled):
        spid = None if position is None else str(position)
        yield enrolment.effective_date, 1, spid, ENROLLED, ENROLLED, MILESTONE, None


def _progressions(s: SubjectData) -> Iterator[DsEvent]:
    for p in s.subject.progressions:
        if not p.supported:
            continue
        spid = None if p.position is None else str(p.position)
        term = p.basis or "PROGRESSIVE DISEASE"
        yield p.on, 2, spid, term, "PROGRESSIVE DISEASE", "OTHER EVENT", None


def _treatment_end(s: SubjectData) -> Iterator[DsEvent]:
    end = s.history.timeline.treatment_end()
    period = next((p for p in s.history.periods if p.starts_on == end), None)
    if end is None or period is None:
        return
    decod = TREATMENT_END.get(period.rule_id, "OTHER")
    spid = None if period.position is None else str(period.position)
    yield end, 3, spid, period.reason, decod, DISPOSITION, TREATMENT


def _participation_end(s: SubjectData) -> Iterator[DsEvent]:
    h = s.history
    found = False
    scat = "STUDY PARTICIPATION"
    for position, w in s.of_type(SubjectWithdrawn):
        if w.consent_withdrawn:
            found = True
            spid = None if position is None else str(position)
            yield w.effective_date, 4, spid, w.reason, WITHDRAWAL, DISPOSITION, scat
    for position, death in s.of_type(SubjectDied):
        found = True
        spid = None if position is None else str(position)
        yield death.effective_date, 5, spid, death.cause, "DEATH", DISPOSITION, scat
    for position, off in s.of_type(SubjectOffStudy):
        found = True
        spid = None if position is None else str(position)
        yield off.effective_date, 6, spid, off.reason, _off_study_term(s), DISPOSITION, scat
    off_period = next((p for p in h.periods if p.regimen is Regimen.OFF_STUDY), None)
    if not found and off_period is not None:
        decod = "COMPLETED" if off_period.rule_id == PARTICIPATION_COMPLETED_RULE else "OTHER"
        spid = None if off_period.position is None else str(off_period.position)
        yield off_period.starts_on, 6, spid, off_period.reason, decod, DISPOSITION, scat


def _off_study_term(s: SubjectData) -> str:
    h = s.history
    if h.enrolment is None and h.eligibility is not None and not h.eligibility.eligible:
        return "SCREEN FAILURE"
    off_period = next((p for p in h.periods if p.regimen is Regimen.OFF_STUDY), None)
    if off_period is not None and off_period.rule_id == PARTICIPATION_COMPLETED_RULE:
        return "COMPLETED"
    return "OTHER"
