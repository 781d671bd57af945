"""``patient``: one subject's state, now from the views, or as the ledger said at a position or
time, or on a clinical date, corrections applied."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

import typer

from ledger.cli.common import DbOption, JsonFlag, console, emit_json, parse_date
from ledger.cli.projections import ViewsOption, caught_up, tracked, utc, views_word
from ledger.errors import NotFoundError, UsageError, VerificationError
from ledger.events import is_subject_id
from ledger.store import LedgerReader
from ledger.subject.history import SubjectHistory, as_on
from projections.audit import position_at, recorded_at
from projections.connection import ViewsConnection
from projections.engine import ProjectionEngine
from projections.report import patient_report, response_report
from projections.subject import dump_history, stored_history, subject_entries


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
        conn = engine.connect()
        try:
            report = _report(reader, engine, conn, subject, (as_of, position, on_date))
        finally:
            conn.close()
    if json_out:
        emit_json(report)
    else:
        _print_patient(report)


def _report(
    reader: LedgerReader,
    engine: ProjectionEngine,
    conn: ViewsConnection,
    subject: str,
    asked: tuple[str | None, int | None, date | None],
) -> dict[str, Any]:
    """The patient report for ``asked`` (--as-of, --position, --on): from the ledger up to
    that point, or, for the current state, the views row once it equals the ledger's fold."""
    as_of, position, on = asked
    head = tracked(engine)
    requested = utc(as_of, "--as-of") if as_of is not None else None
    upto = head
    if requested is not None:
        upto = position_at(conn, requested)
    elif position is not None:
        if not 1 <= position <= head:
            raise UsageError(f"--position {position}: the ledger holds 1..{head}")
        upto = position
    entries = subject_entries(reader, subject, upto, check_leaves=True)
    history = as_on(subject, entries, on)
    source = "ledger"
    if requested is None and position is None and on is None:
        _check_views_agree(conn, subject, history if entries else None, views_word(engine))
        source = "views"
    if not entries:
        raise NotFoundError(f"subject {subject}: no events in the ledger up to position {upto}")
    return {
        "as_of": {
            "position": upto,
            "recorded_at": recorded_at(conn, upto) if upto else None,
            "requested_time": requested,
            "on": on.isoformat() if on is not None else None,
            "source": source,
            "views_proved": engine.last_proof(),
        },
        **patient_report(history, on),
        "response": response_report(history),
    }


def _check_views_agree(
    conn: ViewsConnection, subject: str, history: SubjectHistory | None, views: str
) -> None:
    """The subject's view row must equal a fold of its (leaf-checked) events in the ledger.

    One subject is cheap to fold, so a current-state read never serves an edited views row:
    it refuses (exit 1) and names what differs."""
    stored = stored_history(conn, subject)
    expected = json.loads(dump_history(history)) if history else None
    found = json.loads(dump_history(stored)) if stored else None
    if found != expected:
        field = _first_field_difference(found, expected)
        raise VerificationError(
            f"{views} disagrees with the signed ledger about {subject} (patient_state"
            f"{', field ' + field if field else ''}): the views were edited or damaged; "
            "`trial-ledger projections verify` names every difference and "
            "`trial-ledger projections rebuild` replaces the views"
        )


def _first_field_difference(a: Any, b: Any) -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                inner = _first_field_difference(a.get(key), b.get(key))
                return f"{key}.{inner}" if inner else str(key)
    return ""


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
