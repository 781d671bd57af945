"""``summary``: the trial's objectives, each with the subjects it counts and why others are
excluded, read from the views (proved against the ledger first, unless --trust-views)."""

from __future__ import annotations

from typing import Any

import typer

from ledger.cli.common import DbOption, JsonFlag, console, emit_json
from ledger.cli.projections import (
    ProveViewsFlag,
    ViewsOption,
    caught_up,
    proved,
    views_note,
)
from ledger.store import LedgerReader
from projections.queries import trial_summary


def summary(
    db: DbOption,
    views: ViewsOption = None,
    prove_views: ProveViewsFlag = True,
    json_out: JsonFlag = False,
) -> None:
    """The trial's objectives, each with the subjects it counts and why others are excluded.

    Primary response rate to anakinra alone at month 6 (exact 95% CI), response rates on
    low-dose and on high-dose dexamethasone (each its own population), progression-free at
    6 months, time to progression and duration of response (Kaplan-Meier medians with 95%
    CI), adverse events by term and worst grade split by anakinra alone vs with dexamethasone.

    Example: trial-ledger summary --db trial.db --json
    """
    with LedgerReader(db) as reader:
        engine = caught_up(reader, views)
        if prove_views:
            proved(engine)
        report = trial_summary(reader, engine)
        if not prove_views:
            views_note(engine, json_out)  # says on stderr when they were last proved
    if json_out:
        emit_json(report)
    else:
        _print_summary(report)


def _print_summary(report: dict[str, Any]) -> None:
    pops = report["populations"]
    console.print(
        f"NCT00635154 at position {report['position']}: {pops['screened']} screened, "
        f"{pops['enrolled']} enrolled, {pops['treated']} treated"
    )
    for key in (
        "primary_response_rate",
        "low_dose_dexamethasone_response_rate",
        "high_dose_dexamethasone_response_rate",
    ):
        r = report[key]
        console.print(
            f"  {r['description']}: {r['responders']}/{r['n']} = {_ratio(r['rate'])} "
            f"({_ci(r['ci95'])}); {len(r['excluded'])} excluded"
        )
    pfs = report["progression_free_at_6_months"]
    console.print(
        f"  {pfs['description']}: {pfs['progression_free']}/{pfs['n']} = "
        f"{_ratio(pfs['proportion'])} ({_ci(pfs['ci95'])})"
    )
    for key in ("time_to_progression", "duration_of_response"):
        r = report[key]
        console.print(
            f"  {key.replace('_', ' ')}: n={r['n']}, {r['events']} events, median "
            f"{_days(r['median'])} (95% CI {_days(r['median_ci95'][0])} to "
            f"{_days(r['median_ci95'][1])})"
        )
    ae = report["adverse_events"]
    for arm in ("anakinra_alone", "with_dexamethasone"):
        terms = ", ".join(f"{t['term']} {t['subjects']}" for t in ae[arm]["terms"]) or "none"
        console.print(f"  AEs {arm} ({ae[arm]['exposed_subjects']} exposed): {terms}")


def _ratio(value: object) -> str:
    """A proportion; None means nobody was counted (the denominator is 0)."""
    return "undefined (denominator 0)" if value is None else str(value)


def _ci(bounds: Any) -> str:
    if bounds is None or None in bounds:
        return "no 95% CI without subjects"
    return f"95% CI {bounds[0]}-{bounds[1]}"


def _days(value: object) -> str:
    """A Kaplan-Meier median or bound in days; None means the curve never fell that far."""
    return "not reached" if value is None else f"{value} days"


def register(app: typer.Typer) -> None:
    app.command("summary")(summary)
