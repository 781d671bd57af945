"""Progressions of a subject, dated when their criteria were first met (IMWG 2006).

Recorded ones (``ProgressionConfirmed``) are dated from the corrected assessments that confirm
them, else from the investigator's progression date or the confirmation; one the rules confirm
in the current line that nobody recorded yet is listed as ``derived``; follow-up visits that
found progression are listed too. ``confirmed_on`` is when it was confirmed and acted on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from ledger.events import ProgressionConfirmed
from ledger.protocol.parameters import ProtocolParameters
from ledger.protocol.response import first_progression
from ledger.subject.evaluation.assessments import Evaluation, evaluate, in_line, runs
from ledger.subject.history import SubjectHistory


@dataclass(frozen=True)
class Progression:
    """A progression: dated when its criteria were first met, confirmed (acted on) later."""

    on: date
    confirmed_on: date
    source: str  # ProgressionConfirmed, derived or FollowUpVisit
    position: int | None
    basis: str | None
    rule_ids: tuple[str, ...]
    by_rules: bool  # the corrected assessments confirm it
    supported: bool = True  # by the rules now, or by the investigator's recorded judgement
    rules_confirmed_on: date | None = None  # when the corrected assessments confirm it

    def to_json(self) -> dict[str, Any]:
        return {
            "date": self.on.isoformat(),
            "confirmed_on": self.confirmed_on.isoformat(),
            "source": self.source,
            "position": self.position,
            "basis": self.basis,
            "rule_ids": list(self.rule_ids),
            "confirmed_by_rules": self.by_rules,
            "supported": self.supported,
        }


def _recorded(
    position: int | None,
    event: ProgressionConfirmed,
    line: list[Evaluation],
    params: ProtocolParameters,
) -> Progression:
    """A recorded progression, dated from the corrected assessments of its ``line`` that
    confirm it by its confirmation date, else as the investigator recorded it."""
    upto = [e for e in line if e.on <= event.effective_date]
    run = first_progression(runs(upto, params))
    if run is not None:
        on, by_rules, rule_ids = run.first_on, True, run.rule_ids
    else:
        on, by_rules = event.progression_date or event.effective_date, False
        rule_ids = event.rule_ids
    return Progression(
        on=on,
        confirmed_on=event.effective_date,
        source="ProgressionConfirmed",
        position=position,
        basis=event.basis,
        rule_ids=tuple(rule_ids),
        by_rules=by_rules,
        supported=by_rules or event.deviation is not None,
        rules_confirmed_on=run.confirmed_on if run is not None else None,
    )


def _at_follow_up(h: SubjectHistory) -> list[Progression]:
    """Follow-up visits that found progression."""
    return [
        Progression(
            on=visit.effective_date,
            confirmed_on=visit.effective_date,
            source="FollowUpVisit",
            position=position,
            basis=visit.note or None,
            rule_ids=(),
            by_rules=False,
        )
        for position, visit in h.follow_ups
        if visit.disease_status == "progression"
    ]


def progressions(
    h: SubjectHistory,
    params: ProtocolParameters,
    evaluations: list[Evaluation] | None = None,
) -> list[Progression]:
    """Every progression, by date: recorded ones (dated from the corrected assessments that
    confirm them, else from the investigator's progression date or the confirmation), one the
    rules confirm in the current line that nobody recorded yet, and follow-up visits that found
    progression. ``evaluations``: :func:`evaluate` of ``h``, when the caller has it already."""
    if evaluations is None:
        evaluations = evaluate(h, params)
    found = [
        _recorded(position, event, in_line(evaluations, line), params)
        for line, (position, event) in enumerate(h.progressions)
    ]
    pending = first_progression(runs(in_line(evaluations, len(h.progressions)), params))
    if pending is not None:
        found.append(
            Progression(
                on=pending.first_on,
                confirmed_on=pending.confirmed_on,
                source="derived",
                position=None,
                basis=pending.reason,
                rule_ids=pending.rule_ids,
                by_rules=True,
            )
        )
    found += _at_follow_up(h)
    found.sort(key=lambda p: (p.on, p.confirmed_on))
    return found


def first_progression_of(
    h: SubjectHistory, params: ProtocolParameters, evaluations: list[Evaluation] | None = None
) -> Progression | None:
    """The first progression the corrected record supports (the objectives' event): one the
    rules no longer confirm after a correction, and that no investigator judgement was
    recorded for, is not counted (it is listed in :func:`decision_reviews`)."""
    return next((p for p in progressions(h, params, evaluations) if p.supported), None)
