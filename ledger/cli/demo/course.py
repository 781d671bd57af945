"""A treated subject's months on study, as site staff record them: the monthly dosing diary
(imported as one signed commit), labs, response assessments, the transitions the protocol makes
due, and the end of treatment and of participation."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from ledger.cli.demo.adverse import AdverseEvents
from ledger.cli.demo.plan import MAX_MONTHS, MONTH, TRAJECTORIES, TREATING, Course, money
from ledger.domain.commands import (
    AdvanceRegimen,
    AssessResponse,
    Correct,
    RecordDeath,
    RecordFollowUp,
    RecordLab,
    Sign,
    StopTreatment,
    Withdraw,
)
from ledger.domain.patient import Patient
from ledger.events import RegimenChanged, ResponseCategory
from ledger.protocol.schedule import doses_called_for
from ledger.subject.evaluation import due_on, due_transition

if TYPE_CHECKING:
    from ledger.cli.demo.build import DemoBuilder


class SubjectCourse(AdverseEvents):
    """One treated subject's months on study: diaries, labs, assessments, events."""

    def __init__(
        self,
        demo: DemoBuilder,
        subject: str,
        site: str,
        course: Course,
        start: date,
        serum: Decimal,
    ) -> None:
        self.demo, self.subject, self.site, self.course = demo, subject, site, course
        self.start, self.serum = start, float(serum)
        self.rng = demo.rng
        self.rec = demo.rec
        self.inv, self.coord = demo.team.investigator(site), demo.team.coordinator(site)
        self.held: set[date] = set()
        self.last_month = {
            Course.EARLY_WITHDRAWAL: self.rng.randint(2, 5),
            Course.MR_ALONE: 12,
            Course.PD_INDUCTION: 10,
            Course.PD_MONTH6: 12,
            Course.SD_STOPPED: 6,
            Course.DEX_PR: 18,
            Course.DEX_MR: 18,
            Course.DEX_SD: 18,
            Course.DEX_PD: 15,
        }[course]

    def day(self, month: int, day: int) -> date:
        return self.start + timedelta(days=(month - 1) * MONTH + day - 1)

    def run(self) -> None:
        month = 0
        while month < MAX_MONTHS:
            month += 1
            self.diary(month)
            self.adverse_events(month)
            if self.course is Course.EARLY_WITHDRAWAL and month == self.last_month:
                self.withdraw(month)
                return
            if month % 2 == 0:
                self.assess(month)
            if not self.transitions(month):
                break
        self.end_of_treatment(month)

    # -------------------------------------------------------------- recording

    def diary(self, month: int) -> None:
        """The month's dosing diary, returned and imported as one signed commit; a transition
        the protocol makes due within the month (the end of a high-dose course) is applied on
        its date, between the diary's days before and from it."""
        days = [self.day(month, d) for d in range(1, MONTH + 1)]
        while days:
            patient = self.rec.patient(self.subject)
            due = due_on(patient, self.demo.params)
            if patient.current_regimen not in TREATING:
                due = None
            before = [on for on in days if due is None or on < due[0]]
            self.demo.import_lines(self.coord, self._diary_lines(patient, before))
            days = days[len(before) :]
            if days and due is not None:
                self.rec.record(self.inv, AdvanceRegimen(subject_id=self.subject, date=due[0]))

    def _diary_lines(self, patient: Patient, days: list[date]) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        for on in days:
            period = patient.period_on(on)
            if period is None or period.regimen not in TREATING:
                continue
            for dose in doses_called_for(
                period.regimen, self.start, period.course_start, on, self.demo.params
            ):
                base = {"subject_id": self.subject, "date": on.isoformat(), "drug": dose.drug}
                if on in self.held:
                    lines.append(
                        {
                            **base,
                            "command": "missed-dose",
                            "held": True,
                            "reason": "held for grade 3 neutropenia",
                        }
                    )
                elif dose.drug == "anakinra" and self.rng.random() < 0.004:
                    lines.append(
                        {
                            **base,
                            "command": "missed-dose",
                            "reason": "forgot the injection (patient diary)",
                        }
                    )
                else:
                    lines.append(
                        {**base, "command": "dose", "dose": str(dose.dose), "route": dose.route}
                    )
        return lines

    def labs(self, month: int, on: date) -> None:
        trajectory = TRAJECTORIES.get(self.course)
        index = month // 2 - 1
        if trajectory is not None and index < len(trajectory):
            factor = trajectory[index] * self.rng.uniform(0.99, 1.01)
        elif trajectory is not None:  # the disease stays where its course left it
            factor = trajectory[-1] * self.rng.uniform(0.96, 1.04)
        else:
            factor = self.rng.uniform(0.92, 1.08)
        value = money(self.serum * factor)
        if self.demo.corrections_left > 0 and month == 2 and self.rng.random() < 0.25:
            typo = value + Decimal("1.00")
            recorded = self.rec.record(
                self.coord,
                RecordLab(
                    subject_id=self.subject,
                    date=on,
                    analyte="serum_m_protein",
                    value=typo,
                    unit="g/dL",
                ),
            )
            self.rec.record(
                self.coord,
                Correct(
                    subject_id=self.subject,
                    date=on,
                    position=recorded.positions[0],
                    field="value",
                    new_value=str(value),
                    reason="transcription error: value copied from the wrong row of the lab report",
                ),
            )
            self.demo.corrections_left -= 1
            self.demo.summary.corrections += 1
        else:
            self.rec.record(
                self.coord,
                RecordLab(
                    subject_id=self.subject,
                    date=on,
                    analyte="serum_m_protein",
                    value=value,
                    unit="g/dL",
                ),
            )
        if month == 6:
            crp = money(self.rng.uniform(0.3, 8.0), "0.1")
            self.rec.record(
                self.coord,
                RecordLab(
                    subject_id=self.subject, date=on, analyte="hs_crp", value=crp, unit="mg/L"
                ),
            )

    def assess(self, month: int) -> None:
        on = self.day(month, MONTH)
        self.labs(month, on)
        patient = self.rec.patient(self.subject)
        if patient.off_study_from is not None or patient.current_regimen not in TREATING:
            return
        category = self.expected_category(month)
        if self.demo.disagreements_left > 0 and category == "SD" and self.rng.random() < 0.05:
            category = "MR"
            self.demo.disagreements_left -= 1
            self.demo.summary.disagreements += 1
        recorded = self.rec.record(
            self.inv,
            AssessResponse(
                subject_id=self.subject,
                date=on,
                investigator_category=category,
                new_bone_lesions=False,
            ),
        )
        if month == 6:
            self.rec.record(
                self.demo.team.staff["monitor"].signer,
                Sign(
                    subject_id=self.subject,
                    date=on + timedelta(days=9),
                    positions=tuple(recorded.positions[:1]),
                    signature_meaning="review",
                    statement="month-6 response assessment source-verified against the lab reports",
                ),
            )
        # Progression the rules confirm (two consecutive PD: month 4 of PD_INDUCTION, month 12
        # of DEX_PD) is recorded by the assessment itself, with the move to high-dose.

    def expected_category(self, month: int) -> ResponseCategory:
        trajectory = TRAJECTORIES.get(self.course)
        index = month // 2 - 1
        if trajectory is None or index >= len(trajectory):
            return "SD"
        factor = trajectory[index]
        nadir = min([1.0, *trajectory[:index]])
        if factor >= nadir * 1.25:
            return "PD"
        if factor <= 0.5:
            return "PR"
        if factor <= 0.75:
            return "MR"
        return "SD"

    def transitions(self, month: int) -> bool:
        """Apply what the protocol makes due by the end of ``month``; False once treatment
        has ended."""
        patient = self.rec.patient(self.subject)
        if patient.off_study_from is not None:
            return False
        on = self.day(month, MONTH)
        if self.course is Course.SD_STOPPED and month == 6:
            # Treatment ends after the last induction dose, on the day low-dose dexamethasone
            # was to start: the stop cancels that pending start.
            self.rec.record(
                self.inv,
                StopTreatment(
                    subject_id=self.subject,
                    date=on + timedelta(days=1),
                    reason="stable disease at month 6; patient declined dexamethasone",
                ),
            )
            return False
        due = due_transition(patient, self.demo.params)
        next_month = on + timedelta(days=1)
        if due is not None and due[0] <= next_month and patient.current_regimen in TREATING:
            # Decided on its due date, before next month's diary is recorded.
            self.rec.record(self.inv, AdvanceRegimen(subject_id=self.subject, date=max(due[0], on)))
            patient = self.rec.patient(self.subject)
        return patient.current_regimen in TREATING

    def withdraw(self, month: int) -> None:
        reason = self.rng.choice(
            [
                "withdrew consent: unwilling to continue daily injections",
                "moved out of the area",
                "withdrew consent after injection-site reactions",
            ]
        )
        # After the month's diary (the day after its last dose) and after every record already
        # made (an adverse event's resolution may be dated later).
        patient = self.rec.patient(self.subject)
        recorded = [
            r.current.effective_date
            for r in patient.records
            if not isinstance(r.current, RegimenChanged)
        ]
        on = max([self.day(month, MONTH + 1), *recorded])
        self.rec.record(self.coord, Withdraw(subject_id=self.subject, date=on, reason=reason))

    def end_of_treatment(self, month: int) -> None:
        patient = self.rec.patient(self.subject)
        if patient.off_study_from is not None:
            return
        end = self.day(month, MONTH)
        if patient.current_regimen in TREATING:
            self.rec.record(
                self.inv,
                StopTreatment(
                    subject_id=self.subject,
                    date=end + timedelta(days=1),
                    reason="end of protocol treatment",
                ),
            )
        visits = 2 if self.course is not Course.MR_ALONE else 4
        for n in range(1, visits + 1):
            on = end + timedelta(days=182 * n)
            status: Literal["no-progression", "progression"] = (
                "progression"
                if self.course.name.startswith("PD") and n == visits
                else "no-progression"
            )
            self.rec.record(
                self.coord,
                RecordFollowUp(subject_id=self.subject, date=on, disease_status=status),
            )
        if self.course is Course.PD_MONTH6 and self.rng.random() < 0.25:
            self.rec.record(
                self.inv,
                RecordDeath(
                    subject_id=self.subject,
                    date=end + timedelta(days=182 * visits + 40),
                    cause="myeloma-related renal failure after leaving the study treatment",
                ),
            )
