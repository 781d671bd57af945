"""``patient``: one subject's state, now from the views, or as the ledger said at a position or
time, or on a clinical date, corrections applied."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ledger.cli.common import DbOption, JsonFlag, console, emit_json, parse_date
from ledger.cli.projections import ViewsOption, caught_up, utc
from ledger.errors import UsageError
from ledger.events import is_subject_id
from ledger.store import LedgerReader
from projections.queries import subject_report


def patient(
    subject: Annotated[str, typer.Argument(help="Subject id, e.g. MC0282-001-017.")],
    db: DbOption,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="The ledger as recorded up to this UTC time."),
    ] = None,
    position: Annotated[
        int | None, typer.Option("--position", help="The ledger up to this position.")
    ] = None,
    on: Annotated[
        str | None,
        typer.Option("--on", help="Clinical state on this date (YYYY-MM-DD), corrections applied."),
    ] = None,
    views: ViewsOption = None,
    json_out: JsonFlag = False,
) -> None:
    """One patient's regimen, protocol month, next doses and visits, doses, AEs and responses.

    Without options: the current state from the views. --as-of TIME or --position N: what
    the ledger said then (corrections recorded by then applied). --on DATE: the clinical
    state on that date with every correction recorded since applied; combine it with --as-of
    or --position for both time axes at once.

    Example: trial-ledger patient MC0282-001-017 --db trial.db --on 2003-08-01 --json
    """
    if not is_subject_id(subject):
        raise UsageError(f"SUBJECT {subject!r}: expected a subject id such as MC0282-001-017")
    if as_of is not None and position is not None:
        raise UsageError("give at most one of --as-of TIME and --position N")
    on_date = parse_date(on, "--on") if on is not None else None
    with LedgerReader(db) as reader:
        engine = caught_up(reader, views)
        requested = utc(as_of, "--as-of") if as_of is not None else None
        report = subject_report(
            reader, engine, subject, as_of=requested, position=position, on=on_date
        )
    if json_out:
        emit_json(report)
    else:
        _print_patient(report)


def _print_patient(r: dict[str, Any]) -> None:
    a = r["as_of"]
    console.print(
        f"[bold]{r['subject_id']}[/bold] (site {r['site']}) as of position {a['position']}"
        + (f", on {a['on']}" if a["on"] else "")
        + f"; reference date {r['reference_date']}"
    )
    console.print(
        f"  regimen {r['regimen']} since {r['regimen_since']}; treatment start "
        f"{r['treatment_start']}; protocol month {r['protocol_month']} (day {r['protocol_day']})"
    )
    for drug, d in r["doses"].items():
        console.print(
            f"  {drug}: {d['taken']} taken ({d['first']} - {d['last']}), {d['missed']} missed "
            f"({d['held']} held)"
        )
    for dose in r["next_doses"]:
        console.print(
            f"  next dose {dose['date']}: {dose['drug']} {dose['dose']} {dose['unit']} "
            f"{dose['route']} [{dose['rule_id']}]"
        )
    for visit in r["next_visits"]:
        console.print(f"  next visit {visit['date']}: {visit['visit']} [{visit['rule_id']}]")
    for ae in r["adverse_events"]["open"]:
        console.print(
            f"  open AE {ae['ae_id']} {ae['term']} grade {ae['grade']} since {ae['onset']}"
        )
    response = r["response"]
    for s in response["assessments"]:
        flag = "  [red]disagree[/red]" if s["disagree"] else ""
        console.print(
            f"  {s['date']} month {s['protocol_month']} ({s['regimen']}): investigator "
            f"{s['investigator']}, derived {s['derived']}{flag}"
        )
    best = response["best_confirmed"]
    console.print(
        "  best confirmed response: "
        + (f"{best['category']} from {best['first_on']}" if best else "none")
    )
    progression = response["progression"]
    if progression:
        console.print(
            f"  progression {progression['date']} (criteria first met; confirmed "
            f"{progression['confirmed_on']}, {progression['source']})"
        )
    for review in response["decision_reviews"]:
        console.print(
            f"  [yellow]review[/yellow] position {review['position']}: recorded "
            f"{review['recorded_rule_id']}, corrected data call for "
            f"{review['corrected_data_call_for']}"
        )
    for c in r["corrections"]:
        console.print(
            f"  correction at {c['position']} of position {c['corrects_position']}: "
            f"{c['field']} {c['old_value']!r} -> {c['new_value']!r} ({c['reason']})"
        )


def register(app: typer.Typer) -> None:
    app.command("patient")(patient)
