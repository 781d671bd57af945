"""Who the objectives count: one subject's facts, its population, and counting helpers.

A :class:`Subject` derives a history's evaluations and progressions once; :meth:`exclusion`
says why it is not in the treated population (see :mod:`projections.objectives`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ledger.protocol.parameters import ProtocolParameters
from ledger.protocol.response import Category
from ledger.protocol.schedule import Regimen, month_6_decision_date, month_start
from ledger.subject import evaluation
from ledger.subject.evaluation import Evaluation, Progression
from ledger.subject.history import SubjectHistory
from projections.report import best_confirmed, last_evaluation, params_of
from projections.statistics import clopper_pearson


def rate(k: int, n: int) -> dict[str, Any]:
    lower, upper = clopper_pearson(k, n)
    return {
        "n": n,
        "responders": k,
        "rate": round(k / n, 4) if n else None,
        "ci95": [round(lower, 4), round(upper, 4)],
        "ci_method": "Clopper-Pearson exact binomial, two-sided 95%",
    }


@dataclass
class Subject:
    h: SubjectHistory
    params: ProtocolParameters = field(init=False)
    evaluations: list[Evaluation] = field(init=False)
    progressions: list[Progression] = field(init=False)
    progression: Progression | None = field(init=False)

    def __post_init__(self) -> None:
        self.params = params_of(self.h)
        self.evaluations = evaluation.evaluate(self.h, self.params)
        self.progressions = evaluation.progressions(self.h, self.params, self.evaluations)
        self.progression = next((p for p in self.progressions if p.supported), None)

    @property
    def subject_id(self) -> str:
        return self.h.subject_id

    @property
    def progressed_on(self) -> date | None:
        return self.progression.on if self.progression else None

    def exclusion(self) -> str | None:
        """Why the subject is not in the treated population (None: treated)."""
        h = self.h
        start = h.treatment_start
        if h.enrolment is None or start is None:
            return (
                "not eligible" if h.eligibility and not h.eligibility.eligible else "not enrolled"
            )
        left = self.left_study_on()
        if left is not None and left < start:
            why = h.off_study.reason if h.off_study else "withdrawn"
            return f"off study before treatment ({left}: {why})"
        if self.progressed_on is not None and self.progressed_on < start:
            return f"progressed before treatment ({self.progressed_on})"
        if h.first_dose("anakinra") is None:
            return "no anakinra dose recorded"
        return None

    @property
    def month_6_end(self) -> date:
        assert self.h.treatment_start is not None
        return month_6_decision_date(self.h.treatment_start, self.params)

    @property
    def month_6_start(self) -> date:
        assert self.h.treatment_start is not None
        months = self.params.schedule.induction_months
        return month_start(self.h.treatment_start, months, self.params)

    def left_study_on(self) -> date | None:
        h = self.h
        dates = [e.effective_date for e in (h.consent_withdrawal, h.off_study) if e]
        return min(dates) if dates else None

    def died_on(self) -> date | None:
        return self.h.death.effective_date if self.h.death else None

    def last_evaluation(self) -> date | None:
        return last_evaluation(self.h)

    def best(self, regimens: frozenset[Regimen] | None, basis: str = "derived") -> Any:
        return best_confirmed(self.evaluations, self.params, regimens, basis)


def by_category(counted: Sequence[dict[str, Any]]) -> dict[str, int]:
    found = {c.value: 0 for c in Category}
    found["none"] = 0
    for c in counted:
        found[c["best_confirmed"] or "none"] += 1
    return found
