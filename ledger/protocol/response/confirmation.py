"""What runs of consecutive assessments confirm (IMWG 2006; EBMT 1998 maintenance).

A series of derived categories in date order (one regimen's, or one line's) is read in runs of
``consecutive_assessments`` [CONF-CONSECUTIVE, CONF-MAINTAINED, CONF-PD]; PD shown by a
criterion that needs no second assessment confirms itself [CONF-PD-SINGLE]. Every rule is a
field of :class:`~ledger.protocol.parameters.ConfirmationRules`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from itertools import pairwise

from ledger.errors import ValidationError
from ledger.protocol.parameters import ConfirmationRules, ProtocolParameters
from ledger.protocol.response.categories import (
    Category,
    ConfirmedResponse,
    DerivedResponse,
    worst,
)


def _check_assessment_order(derived: Sequence[tuple[date, Category]]) -> None:
    for (earlier, _), (later, _) in pairwise(derived):
        if later <= earlier:
            raise ValidationError(
                "derived", later, f"assessment dates must strictly increase (after {earlier})"
            )


def confirmed_alone(derived: DerivedResponse, params: ProtocolParameters) -> bool:
    """PD shown by a criterion that needs no second assessment [CONF-PD-SINGLE]: bone-marrow
    plasma cells, new bone lesions, a new plasmacytoma, hypercalcaemia (IMWG 2006; Rajkumar et
    al. 2011). M-protein progression alone still needs two consecutive assessments [CONF-PD]."""
    alone = set(params.confirmation.pd_confirmed_alone)
    return derived.category is Category.PD and any(rule in alone for rule in derived.rule_ids)


def _run_confirms(
    run: Sequence[tuple[date, Category]], rules: ConfirmationRules
) -> ConfirmedResponse | None:
    """What one run of consecutive assessments confirms; None for a run mixing PD with a
    response (see :func:`confirmation_runs`)."""
    n = rules.consecutive_assessments
    first_on, confirmed_on = run[0][0], run[-1][0]
    categories = [c for _, c in run]
    if all(c is Category.PD for c in categories):
        return ConfirmedResponse(
            category=Category.PD,
            first_on=first_on,
            confirmed_on=confirmed_on,
            rule_ids=("CONF-PD",),
            reason=f"{n} consecutive PD assessments; progression dated {first_on}",
        )
    if Category.PD in categories:
        return None
    lowest = worst(*categories)
    days = (confirmed_on - first_on).days
    if lowest.value in rules.maintained_categories:
        if days < rules.maintained_min_days:
            return ConfirmedResponse(
                category=Category.SD,
                first_on=first_on,
                confirmed_on=confirmed_on,
                rule_ids=("CONF-CONSECUTIVE", "CONF-MAINTAINED"),
                reason=f"{lowest} held {days} days, not the {rules.maintained_min_days} "
                "needed (EBMT 1998): SD or better confirmed",
            )
        rule_ids: tuple[str, ...] = ("CONF-CONSECUTIVE", "CONF-MAINTAINED")
    else:
        rule_ids = ("CONF-CONSECUTIVE",)
    return ConfirmedResponse(
        category=lowest,
        first_on=first_on,
        confirmed_on=confirmed_on,
        rule_ids=rule_ids,
        reason=f"{n} consecutive assessments at {lowest} or better over {days} days",
    )


def confirmation_runs(
    derived: Sequence[tuple[date, Category]],
    params: ProtocolParameters,
    alone: Collection[date] = (),
) -> tuple[ConfirmedResponse, ...]:
    """What each run of consecutive assessments confirms (IMWG 2006; EBMT 1998), by first date.

    A run of ``consecutive_assessments`` (2) assessments in date order confirms the lowest of
    its categories [CONF-CONSECUTIVE]. PD needs every assessment of the run at PD [CONF-PD]
    (date of progression = the first); a run mixing PD with a response confirms nothing. A PD
    assessment whose date is in ``alone`` (see :func:`confirmed_alone`) confirms progression by
    itself, dated that day [CONF-PD-SINGLE]. A lowest category in ``maintained_categories``
    (PR, MR) also needs >= ``maintained_min_days`` (42) between the first and the confirming
    assessment; when it was not maintained that long the run confirms SD [CONF-MAINTAINED].
    """
    _check_assessment_order(derived)
    rules = params.confirmation
    n = rules.consecutive_assessments
    runs: list[ConfirmedResponse] = [
        ConfirmedResponse(
            category=Category.PD,
            first_on=on,
            confirmed_on=on,
            rule_ids=("CONF-PD-SINGLE",),
            reason=f"PD by a criterion needing no second assessment; progression dated {on}",
        )
        for on, category in derived
        if category is Category.PD and on in alone
    ]
    for start in range(len(derived) - n + 1):
        confirmed = _run_confirms(derived[start : start + n], rules)
        if confirmed is not None:
            runs.append(confirmed)
    runs.sort(key=lambda run: (run.first_on, run.confirmed_on))
    return tuple(runs)


def first_progression(runs: Sequence[ConfirmedResponse]) -> ConfirmedResponse | None:
    """The progression confirmed first (by confirmation date; among equals the earliest
    dated): the one that would have been acted on. Dated when its criteria were first met."""
    found = [run for run in runs if run.category is Category.PD]
    return min(found, key=lambda run: (run.confirmed_on, run.first_on), default=None)


def _best_run(runs: Sequence[ConfirmedResponse]) -> ConfirmedResponse | None:
    """The best-category run; among equals the earliest."""
    return min(runs, key=lambda run: (run.category.rank, run.first_on), default=None)


def confirmed_category(
    derived: Sequence[tuple[date, Category]],
    params: ProtocolParameters,
    alone: Collection[date] = (),
) -> ConfirmedResponse | None:
    """The confirmed status of a series of assessments (one regimen's, in date order).

    Confirmed progression wins (:func:`first_progression`, dated at its first PD); otherwise
    the best category any run confirms (earliest among equals); None when nothing is confirmed.
    """
    runs = confirmation_runs(derived, params, alone)
    return first_progression(runs) or _best_run(runs)


def best_confirmed_response(
    derived: Sequence[tuple[date, Category]],
    params: ProtocolParameters,
    alone: Collection[date] = (),
) -> ConfirmedResponse | None:
    """The best confirmed category, even when progression was confirmed later (response rate,
    duration of response); PD only when no run confirmed anything better; else None."""
    runs = confirmation_runs(derived, params, alone)
    responses = [run for run in runs if run.category is not Category.PD]
    return _best_run(responses) or _best_run(runs)
