"""The adverse events of a treated subject's month: injection-site reactions in month 1 (some
re-graded by the investigator), infections, a neutropenia that holds doses, serious infections
with hospitalisation and hyperglycaemia on dexamethasone; each resolution recorded after it."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import TYPE_CHECKING

from ledger.cli.demo.plan import Course
from ledger.domain.commands import Correct, ReportAdverseEvent, ResolveAdverseEvent
from ledger.events import AdverseEventReported
from ledger.integrity.signing import Signer
from ledger.recording import Recorded, TrialRecorder

if TYPE_CHECKING:
    from ledger.cli.demo.build import DemoBuilder


class AdverseEvents:
    """What :class:`~ledger.cli.demo.course.SubjectCourse` records of adverse events.

    The random draws are made in one fixed order per month (the day, then one draw per kind of
    event that month), so the same seed gives the same events."""

    demo: DemoBuilder
    rng: random.Random
    rec: TrialRecorder
    subject: str
    course: Course
    inv: Signer
    coord: Signer
    held: set[date]

    def day(self, month: int, day: int) -> date:
        raise NotImplementedError

    def adverse_events(self, month: int) -> None:
        rng, on = self.rng, self.day(month, rng_day := self.rng.randint(3, 20))
        del rng_day
        if month == 1 and rng.random() < 0.6:
            self._injection_site_reaction(on)
        if rng.random() < 0.05:
            self._respiratory_infection(on)
        if month == 3 and rng.random() < 0.08:
            self._neutropenia(month, on)
        if month in (4, 9) and rng.random() < 0.04:
            self._serious_infection(on)
        if month == 8 and self.course.name.startswith("DEX") and rng.random() < 0.2:
            self.rec.record(
                self.coord,
                ReportAdverseEvent(
                    subject_id=self.subject,
                    date=on,
                    term="Hyperglycemia",
                    grade=2,
                    attribution="probable",
                    action_taken="none",
                ),
            )
            self.demo.summary.adverse_events += 1

    def _injection_site_reaction(self, on: date) -> None:
        rng, summary = self.rng, self.demo.summary
        grade = rng.choice([1, 1, 2])
        ae = self.rec.record(
            self.coord,
            ReportAdverseEvent(
                subject_id=self.subject,
                date=on,
                term="Injection site reaction",
                grade=grade,
                attribution="definite",
                action_taken="none",
            ),
        )
        summary.adverse_events += 1
        ae_id = _ae_id(ae)
        self.rec.record(
            self.coord,
            ResolveAdverseEvent(
                subject_id=self.subject,
                date=on + timedelta(days=12),
                ae_id=ae_id,
                outcome="recovered",
            ),
        )
        if grade == 2 and self.demo.corrections_left > 0 and rng.random() < 0.2:
            self.rec.record(
                self.inv,
                Correct(
                    subject_id=self.subject,
                    date=on + timedelta(days=3),
                    position=ae.positions[0],
                    field="grade",
                    new_value="1",
                    reason="grade re-assessed by the investigator: erythema < 2.5 cm, "
                    "no induration",
                ),
            )
            self.demo.corrections_left -= 1
            summary.corrections += 1

    def _respiratory_infection(self, on: date) -> None:
        ae = self.rec.record(
            self.coord,
            ReportAdverseEvent(
                subject_id=self.subject,
                date=on,
                term="Upper respiratory infection",
                grade=2,
                attribution="possible",
                action_taken="none",
            ),
        )
        self.demo.summary.adverse_events += 1
        self.rec.record(
            self.coord,
            ResolveAdverseEvent(
                subject_id=self.subject,
                date=on + timedelta(days=10),
                ae_id=_ae_id(ae),
                outcome="recovered",
            ),
        )

    def _neutropenia(self, month: int, on: date) -> None:
        """Grade 3: the first three days of next month's doses are held."""
        ae = self.rec.record(
            self.inv,
            ReportAdverseEvent(
                subject_id=self.subject,
                date=on,
                term="Neutrophil count decreased",
                grade=3,
                attribution="probable",
                action_taken="dose-held",
            ),
        )
        self.demo.summary.adverse_events += 1
        self.held.update(self.day(month + 1, d) for d in (1, 2, 3))
        self.rec.record(
            self.inv,
            ResolveAdverseEvent(
                subject_id=self.subject,
                date=self.day(month + 1, 5),
                ae_id=_ae_id(ae),
                outcome="recovered",
            ),
        )

    def _serious_infection(self, on: date) -> None:
        summary = self.demo.summary
        term = self.rng.choice(["Lung infection", "Skin infection"])
        ae = self.rec.record(
            self.inv,
            ReportAdverseEvent(
                subject_id=self.subject,
                date=on,
                term=term,
                grade=3,
                attribution="possible",
                action_taken="dose-held",
                seriousness_criteria=("hospitalisation",),
            ),
        )
        summary.adverse_events += 1
        summary.serious_adverse_events += 1
        self.rec.record(
            self.inv,
            ResolveAdverseEvent(
                subject_id=self.subject,
                date=on + timedelta(days=9),
                ae_id=_ae_id(ae),
                outcome="recovered",
            ),
        )


def _ae_id(recorded: Recorded) -> str:
    return recorded.first(AdverseEventReported)[1].ae_id
