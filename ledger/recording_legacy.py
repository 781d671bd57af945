"""Positional forms of the recording commands, kept only while callers move to
``TrialRecorder.record(signer, command)``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ledger.domain import commands as c
from ledger.domain.commands.base import command_from
from ledger.events import BaselineLabs, Deviation
from ledger.protocol.eligibility import EligibilityInput
from ledger.subject.evaluation import Findings

if TYPE_CHECKING:
    from ledger.integrity.signing import Signer
    from ledger.recording import Recorded


class LegacyCommands:
    def record(self, signer: Signer, command: c.Command) -> Recorded:
        raise NotImplementedError

    def _r(
        self, signer: Signer, model: type[c.Command], subject_id: str, on: date, **f: Any
    ) -> Recorded:
        return self.record(signer, command_from(model, {"subject_id": subject_id, "date": on, **f}))

    def screen(
        self, signer: Signer, subject_id: str, site: str, age: int, sex: str, on: date
    ) -> Recorded:
        return self._r(signer, c.Screen, subject_id, on, site=site, age_years=age, sex=sex)

    def assess_eligibility(
        self, signer: Signer, subject_id: str, inputs: EligibilityInput, on: date
    ) -> Recorded:
        return self._r(signer, c.AssessEligibility, subject_id, on, inputs=inputs)

    def consent(self, signer: Signer, subject_id: str, consent_version: str, on: date) -> Recorded:
        return self._r(signer, c.Consent, subject_id, on, consent_version=consent_version)

    def enrol(
        self,
        signer: Signer,
        subject_id: str,
        treatment_start: date,
        baseline: BaselineLabs,
        on: date,
        waiver: Deviation | None = None,
    ) -> Recorded:
        return self._r(
            signer,
            c.Enrol,
            subject_id,
            on,
            treatment_start=treatment_start,
            baseline=baseline,
            waiver=waiver,
        )

    def record_dose(
        self,
        signer: Signer,
        subject_id: str,
        drug: str,
        dose: Decimal,
        route: str,
        on: date,
        deviation: Deviation | None = None,
        unit: str = "mg",
    ) -> Recorded:
        return self._r(
            signer,
            c.RecordDose,
            subject_id,
            on,
            drug=drug,
            dose=dose,
            route=route,
            deviation=deviation,
            unit=unit,
        )

    def record_missed_dose(
        self, signer: Signer, subject_id: str, drug: str, reason: str, on: date, held: bool = False
    ) -> Recorded:
        return self._r(
            signer, c.RecordMissedDose, subject_id, on, drug=drug, reason=reason, held=held
        )

    def record_lab(
        self, signer: Signer, subject_id: str, analyte: str, value: Decimal, unit: str, on: date
    ) -> Recorded:
        return self._r(signer, c.RecordLab, subject_id, on, analyte=analyte, value=value, unit=unit)

    def assess_response(
        self,
        signer: Signer,
        subject_id: str,
        investigator_category: str,
        on: date,
        findings: Findings | None = None,
        m6_deviation: Deviation | None = None,
        start_deviation: Deviation | None = None,
    ) -> Recorded:
        f = findings or Findings()
        return self._r(
            signer,
            c.AssessResponse,
            subject_id,
            on,
            investigator_category=investigator_category,
            new_bone_lesions=f.new_bone_lesions,
            plasmacytoma=f.plasmacytoma,
            hypercalcaemia=f.hypercalcaemia,
            other_month6_reading=m6_deviation,
            start_next_month=start_deviation,
        )

    def confirm_progression(
        self,
        signer: Signer,
        subject_id: str,
        basis: str,
        on: date,
        deviation: Deviation | None = None,
        progression_date: date | None = None,
        start_deviation: Deviation | None = None,
    ) -> Recorded:
        return self._r(
            signer,
            c.ConfirmProgression,
            subject_id,
            on,
            basis=basis,
            deviation=deviation,
            progression_date=progression_date,
            start_next_month=start_deviation,
        )

    def advance_regimen(
        self,
        signer: Signer,
        subject_id: str,
        on: date,
        *,
        physician_continues: bool = False,
        m6_deviation: Deviation | None = None,
    ) -> Recorded:
        return self._r(
            signer,
            c.AdvanceRegimen,
            subject_id,
            on,
            physician_continues=physician_continues,
            other_month6_reading=m6_deviation,
        )

    def stop_treatment(self, signer: Signer, subject_id: str, reason: str, on: date) -> Recorded:
        return self._r(signer, c.StopTreatment, subject_id, on, reason=reason)

    def report_adverse_event(
        self,
        signer: Signer,
        subject_id: str,
        term: str,
        grade: int,
        attribution: str,
        action_taken: str,
        on: date,
        seriousness_criteria: Sequence[str] = (),
        ae_id: str | None = None,
    ) -> Recorded:
        return self._r(
            signer,
            c.ReportAdverseEvent,
            subject_id,
            on,
            term=term,
            grade=grade,
            attribution=attribution,
            action_taken=action_taken,
            seriousness_criteria=tuple(seriousness_criteria),
            ae_id=ae_id,
        )

    def resolve_adverse_event(
        self, signer: Signer, subject_id: str, ae_id: str, outcome: str, on: date
    ) -> Recorded:
        return self._r(signer, c.ResolveAdverseEvent, subject_id, on, ae_id=ae_id, outcome=outcome)

    def follow_up(
        self, signer: Signer, subject_id: str, disease_status: str, on: date, note: str = ""
    ) -> Recorded:
        return self._r(
            signer, c.RecordFollowUp, subject_id, on, disease_status=disease_status, note=note
        )

    def withdraw(
        self, signer: Signer, subject_id: str, reason: str, on: date, consent_withdrawn: bool = True
    ) -> Recorded:
        return self._r(
            signer, c.Withdraw, subject_id, on, reason=reason, consent_withdrawn=consent_withdrawn
        )

    def off_study(self, signer: Signer, subject_id: str, reason: str, on: date) -> Recorded:
        return self._r(signer, c.TakeOffStudy, subject_id, on, reason=reason)

    def record_death(self, signer: Signer, subject_id: str, cause: str, on: date) -> Recorded:
        return self._r(signer, c.RecordDeath, subject_id, on, cause=cause)

    def correct(
        self,
        signer: Signer,
        subject_id: str,
        position: int,
        field: str,
        new_value: str,
        reason: str,
        on: date,
        old_value: str | None = None,
    ) -> Recorded:
        return self._r(
            signer,
            c.Correct,
            subject_id,
            on,
            position=position,
            field=field,
            new_value=new_value,
            reason=reason,
            old_value=old_value,
        )

    def sign(
        self,
        signer: Signer,
        subject_id: str,
        positions: Sequence[int],
        meaning: str,
        statement: str,
        on: date,
    ) -> Recorded:
        return self._r(
            signer,
            c.Sign,
            subject_id,
            on,
            positions=tuple(positions),
            signature_meaning=meaning,
            statement=statement,
        )
