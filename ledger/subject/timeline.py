"""A subject's regimen ("arm") over clinical time: the one timeline rules and reports read.

Every regimen change is a recorded :class:`~ledger.events.RegimenChanged` (the recording
commands write one for enrolment, each protocol decision, stopping treatment, withdrawal, going
off study and death), so the timeline is folded from those alone. A change takes effect on its
``effective_date`` (inclusive). A change recorded later that starts on day S cancels every
period recorded before it that had not started by S, and a pending one (decided before its
start) that would start on S itself: a stop-treatment dated the month-6 visit, or dated the
month-7 day 1 on which it was to start, cancels the low-dose dexamethasone decided at that
visit, and a progression before (or on) a scheduled month-7 start replaces it. Cancelled
periods are kept, with the position of the change that cancelled them, for the audit view.

``course_start`` is the first day of an unbroken run of the same regimen: a confirming
decision such as REG-M12-LOWDEX-EXTEND does not restart the dosing calendar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ledger.events import Deviation, RegimenChanged
from ledger.protocol.schedule import ON_TREATMENT, Regimen

OFF_TREATMENT = frozenset({Regimen.OFF_TREATMENT, Regimen.FOLLOW_UP, Regimen.OFF_STUDY})


@dataclass(frozen=True)
class RegimenPeriod:
    """A regimen from its first day, and the recorded change that started it."""

    regimen: Regimen
    starts_on: date
    course_start: date
    rule_id: str
    reason: str
    position: int | None
    decided_on: date | None = None
    deviation: Deviation | None = None
    cancelled_by: int | None = None

    @property
    def pending(self) -> bool:
        """Decided before it starts (a month-7 start decided at the month-6 visit)."""
        return self.decided_on is not None and self.decided_on < self.starts_on

    def to_json(self) -> dict[str, Any]:
        return {
            "effective_date": self.starts_on.isoformat(),
            "regimen": self.regimen.value,
            "course_start": self.course_start.isoformat(),
            "rule_id": self.rule_id,
            "reason": self.reason,
            "position": self.position,
            "decided_on": self.decided_on.isoformat() if self.decided_on else None,
            "deviation": self.deviation.model_dump() if self.deviation else None,
        }


@dataclass
class Timeline:
    """The periods in force (by start date) and the ones later changes cancelled."""

    periods: list[RegimenPeriod] = field(default_factory=list)
    cancelled: list[RegimenPeriod] = field(default_factory=list)

    def add(self, e: RegimenChanged, position: int | None) -> None:
        starts = e.effective_date
        kept: list[RegimenPeriod] = []
        for p in self.periods:
            if p.starts_on < starts or (p.starts_on == starts and not p.pending):
                kept.append(p)
            else:
                self.cancelled.append(RegimenPeriod(**{**p.__dict__, "cancelled_by": position}))
        regimen = Regimen(e.to_regimen)
        previous = kept[-1] if kept else None
        course_start = previous.course_start if previous and previous.regimen is regimen else starts
        kept.append(
            RegimenPeriod(
                regimen=regimen,
                starts_on=starts,
                course_start=course_start,
                rule_id=e.rule_id,
                reason=e.reason,
                position=position,
                decided_on=e.decided_on,
                deviation=e.deviation,
            )
        )
        self.periods = kept

    # ------------------------------------------------------------------ queries

    @property
    def latest(self) -> RegimenPeriod | None:
        """The regimen decided last (it may start later: a scheduled month-7 start)."""
        return self.periods[-1] if self.periods else None

    @property
    def current(self) -> Regimen:
        """The regimen decided last (see :attr:`latest`), screening before any."""
        return self.periods[-1].regimen if self.periods else Regimen.SCREENING

    def period_on(self, on: date) -> RegimenPeriod | None:
        """The period in force on ``on`` (None before the first one)."""
        found = None
        for period in self.periods:
            if period.starts_on <= on:
                found = period
        return found

    def regimen_on(self, on: date) -> Regimen:
        period = self.period_on(on)
        return period.regimen if period else Regimen.SCREENING

    def entered(self, regimens: frozenset[Regimen]) -> date | None:
        """The first day any of ``regimens`` was in force, or None."""
        return next((p.starts_on for p in self.periods if p.regimen in regimens), None)

    def left(self, regimens: frozenset[Regimen]) -> date | None:
        """The first day after entering ``regimens`` on which another regimen is in force."""
        entered = False
        for period in self.periods:
            if period.regimen in regimens:
                entered = True
            elif entered:
                return period.starts_on
        return None

    def treatment_end(self) -> date | None:
        """The first day off study treatment after having been on it."""
        started = self.entered(ON_TREATMENT)
        if started is None:
            return None
        return next(
            (
                p.starts_on
                for p in self.periods
                if p.starts_on >= started and p.regimen in OFF_TREATMENT
            ),
            None,
        )

    def off_study_from(self) -> date | None:
        return self.entered(frozenset({Regimen.OFF_STUDY}))

    def history(self) -> list[dict[str, Any]]:
        return [p.to_json() for p in self.periods]

    def cancelled_history(self) -> list[dict[str, Any]]:
        return [{**p.to_json(), "cancelled_by": p.cancelled_by} for p in self.cancelled]
