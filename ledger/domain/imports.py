"""Each import line (:mod:`ledger.jsonl`) run as the recording command it names."""

from __future__ import annotations

from ledger.domain import commands
from ledger.domain.guards import TrialContext
from ledger.domain.patient import Patient
from ledger.events import SubjectEvent
from ledger.jsonl import (
    AdvanceLine,
    AdverseEventLine,
    AssessLine,
    ConsentLine,
    CorrectLine,
    DeathLine,
    DoseLine,
    EligibilityLine,
    EnrolLine,
    FollowUpLine,
    ImportLine,
    LabLine,
    MissedDoseLine,
    OffStudyLine,
    ProgressionLine,
    ResolveAdverseEventLine,
    ScreenLine,
    StopTreatmentLine,
    WithdrawLine,
)
from ledger.subject.evaluation import Findings


def events_for(line: ImportLine, p: Patient, ctx: TrialContext) -> list[SubjectEvent]:
    """The events the line's command records for ``p`` (the command's rules all apply)."""
    on = line.date
    match line:
        case ScreenLine():
            return commands.screen(p, ctx, line.site, line.age_years, line.sex, on)
        case EligibilityLine():
            return commands.assess_eligibility(p, ctx, line.inputs, on)
        case ConsentLine():
            return commands.consent(p, ctx, line.consent_version, on)
        case EnrolLine():
            return commands.enrol(p, ctx, line.treatment_start, line.baseline, on, line.waiver)
        case DoseLine():
            return commands.record_dose(
                p, ctx, line.drug, line.dose, line.route, on, line.deviation, line.unit
            )
        case MissedDoseLine():
            return commands.record_missed_dose(p, ctx, line.drug, line.reason, on, line.held)
        case LabLine():
            return commands.record_lab(p, ctx, line.analyte, line.value, line.unit, on)
        case AssessLine():
            findings = Findings(
                new_bone_lesions=line.new_bone_lesions,
                plasmacytoma=line.plasmacytoma,
                hypercalcaemia=line.hypercalcaemia,
            )
            return commands.assess_response(p, ctx, line.investigator_category, on, findings)
        case ProgressionLine():
            return commands.confirm_progression(p, ctx, line.basis, on, line.deviation)
        case AdvanceLine():
            return commands.advance_regimen(
                p, ctx, on, physician_continues=line.physician_continues
            )
        case StopTreatmentLine():
            return commands.stop_treatment(p, ctx, line.reason, on)
        case AdverseEventLine():
            return commands.report_adverse_event(
                p,
                ctx,
                line.term,
                line.grade,
                line.attribution,
                line.action_taken,
                on,
                line.seriousness_criteria,
                line.ae_id,
            )
        case ResolveAdverseEventLine():
            return commands.resolve_adverse_event(p, ctx, line.ae_id, line.outcome, on)
        case FollowUpLine():
            return commands.follow_up(p, ctx, line.disease_status, on, line.note)
        case WithdrawLine():
            return commands.withdraw(p, ctx, line.reason, on, line.consent_withdrawn)
        case OffStudyLine():
            return commands.off_study(p, ctx, line.reason, on)
        case DeathLine():
            return commands.record_death(p, ctx, line.cause, on)
        case CorrectLine():
            return commands.correct(
                p, ctx, line.position, line.field, line.new_value, line.reason, on, line.old_value
            )
