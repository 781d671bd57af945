"""Commands of the read models: patient, audit-trail, summary, projections rebuild|status.

Every command first brings the views (``--views``, default ``<db>.views.sqlite``) up to date
with the ledger, verifying what it consumes; a ledger that fails verification stops it with
exit 1 and nothing is built on it. Exit 2: refused input (unknown subject, bad date).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli.common import (
    DbOption,
    JsonFlag,
    console,
    emit_json,
    err_console,
    parse_date,
    parse_instant,
    progress_bar,
)
from ledger.errors import NotFoundError, UsageError, VerificationError
from ledger.events import created_at_utc, is_subject_id
from ledger.store import LedgerReader
from ledger.subject.history import SubjectHistory, as_on
from ledger.verify import CommitProver
from projections.audit import (
    AuditFilter,
    audit_trail,
    position_at,
    recorded_at,
    write_csv,
    write_json,
)
from projections.decoding import EVENT_TYPE
from projections.engine import ProjectionEngine
from projections.objectives import trial_summary
from projections.report import patient_report, response_report
from projections.subject import (
    dump_history,
    stored_histories,
    stored_history,
    subject_entries,
)

projections_app = typer.Typer(help="Keep, rebuild and inspect the read models (views).")

ViewsOption = Annotated[
    Path | None,
    typer.Option(
        "--views",
        help="Views file (default: <db>.views.sqlite beside the ledger).",
        dir_okay=False,
        show_default=False,
    ),
]
QUIET_BELOW = 10_000

ProveViewsFlag = Annotated[
    bool,
    typer.Option(
        "--prove-views/--trust-views",
        help="Prove the views equal a rebuild from the verified ledger before serving them "
        "(exit 1 if not; the default). --trust-views serves them as last proved (faster on "
        "large ledgers).",
    ),
]


def _caught_up(reader: LedgerReader, views: Path | None) -> ProjectionEngine:
    """The engine over ``reader``, its views brought up to date (verified) first."""
    engine = ProjectionEngine(reader, views)
    behind = reader.size() - min((t.position for t in engine.status()), default=0)
    with progress_bar("projections", behind, enabled=behind >= QUIET_BELOW) as progress:
        engine.catch_up(lambda done, _total: progress(done))
    return engine


def _tracked(engine: ProjectionEngine) -> int:
    return min(t.position for t in engine.status())


def _utc(value: str, option: str, *, end_of_day: bool = False) -> str:
    """An ISO time (or date) as the ledger records times: RFC 3339 UTC with microseconds."""
    instant = parse_instant(value, option).astimezone(UTC)
    if end_of_day and len(value) == 10:
        instant += timedelta(days=1, microseconds=-1)
    return created_at_utc(instant)


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
    on_date = parse_date(on, "--on").isoformat() if on is not None else None
    with LedgerReader(db) as reader:
        engine = _caught_up(reader, views)
        conn = engine.connect()
        try:
            head = _tracked(engine)
            requested = _utc(as_of, "--as-of") if as_of is not None else None
            upto = head
            if requested is not None:
                upto = position_at(conn, requested)
            elif position is not None:
                if not 1 <= position <= head:
                    raise UsageError(f"--position {position}: the ledger holds 1..{head}")
                upto = position
            entries = subject_entries(reader, subject, upto, check_leaves=True)
            history = as_on(subject, entries, parse_date(on, "--on") if on is not None else None)
            source = "ledger"
            if requested is None and position is None and on_date is None:
                _check_views_agree(conn, subject, history if entries else None)
                source = "views"
            if not entries:
                raise NotFoundError(
                    f"subject {subject}: no events in the ledger up to position {upto}"
                )
            report: dict[str, Any] = {
                "as_of": {
                    "position": upto,
                    "recorded_at": recorded_at(conn, upto) if upto else None,
                    "requested_time": requested,
                    "on": on_date,
                    "source": source,
                    "views_proved": engine.last_proof(),
                },
                **patient_report(history, parse_date(on, "--on") if on is not None else None),
                "response": response_report(history),
            }
        finally:
            conn.close()
    if json_out:
        emit_json(report)
    else:
        _print_patient(report)


def _check_views_agree(conn: Any, subject: str, history: SubjectHistory | None) -> None:
    """The subject's view row must equal a fold of its (leaf-checked) events in the ledger.

    One subject is cheap to fold, so a current-state read never serves an edited views row:
    it refuses (exit 1) and names what differs."""
    stored = stored_history(conn, subject)
    expected = json.loads(dump_history(history)) if history else None
    found = json.loads(dump_history(stored)) if stored else None
    if found != expected:
        field = _first_field_difference(found, expected)
        raise VerificationError(
            f"the views file disagrees with the signed ledger about {subject} (patient_state"
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


def audit_trail_command(
    db: DbOption,
    subject: Annotated[str | None, typer.Option("--subject", help="Only this subject.")] = None,
    person: Annotated[
        str | None, typer.Option("--person", help="A key id, or part of a printed name.")
    ] = None,
    event_type: Annotated[
        str | None, typer.Option("--type", help="Event type, e.g. CorrectionRecorded.")
    ] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="Recorded at or after this UTC time/date.")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Recorded at or before this UTC time/date.")
    ] = None,
    csv_out: Annotated[bool, typer.Option("--csv", help="CSV with a header row.")] = False,
    json_out: JsonFlag = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the export to this file.", dir_okay=False)
    ] = None,
    views: ViewsOption = None,
    prove_views: ProveViewsFlag = True,
) -> None:
    """Who did what, when and why: every event with signer, meaning, position and hash.

    A corrected event keeps its original values and lists its corrections (corrected_by);
    each correction shows the field with its old and new value and the reason. Times are the
    recorded (UTC) times; a date alone in --to means the end of that day.

    Example: trial-ledger audit-trail --db trial.db --subject MC0282-001-017 --csv --out t.csv
    """
    if csv_out and json_out:
        raise UsageError("give at most one of --csv and --json")
    known = sorted(set(EVENT_TYPE.values()))
    if event_type is not None and event_type not in known:
        raise UsageError(f"--type {event_type!r}: not an event type (one of {', '.join(known)})")
    f = AuditFilter(
        subject_id=subject,
        person=person,
        event_type=event_type,
        recorded_from=_utc(from_, "--from") if from_ else None,
        recorded_to=_utc(to, "--to", end_of_day=True) if to else None,
    )
    with LedgerReader(db) as reader:
        engine = _caught_up(reader, views)
        if prove_views:
            _proved(engine)
        else:
            _views_note(engine, json_out=False)
        conn = engine.connect()
        try:
            rows = audit_trail(conn, reader, f)
            if not prove_views:  # proving the views verified the whole ledger already
                rows = _proved_rows(rows, CommitProver(reader))
            handle = out.open("w", encoding="utf-8", newline="") if out else sys.stdout
            try:
                if csv_out:
                    count = write_csv(rows, handle)
                elif json_out:
                    count = write_json(rows, handle, f, _tracked(engine))
                else:
                    count = _print_trail(rows)
            finally:
                if out:
                    handle.close()
        finally:
            conn.close()
    if out:
        console.print(f"{count:,} events written to {out}")


def _print_trail(rows: Any) -> int:
    count = 0
    for r in rows:
        change = f" [{r['field']}: {r['old_value']!r} -> {r['new_value']!r}]" if r["field"] else ""
        why = f" because {r['why']}" if r["why"] else ""
        corrected = f" (corrected by {', '.join(map(str, r['corrected_by']))})" * bool(
            r["corrected_by"]
        )
        console.print(
            f"{r['position']:>7} {r['recorded_at']} {r['event_type']} {r['subject_id'] or '-'} "
            f"on {r['clinical_date']}: {r['what']}{change}{why}{corrected}; {r['meaning']} by "
            f"{r['printed_name']} ({r['role']}, site {r['site']}, {r['key_id']}) "
            f"#{r['hash'][:16]}",
            markup=False,
        )
        count += 1
    return count


def _proved_rows(rows: Iterator[dict[str, Any]], prover: CommitProver) -> Iterator[dict[str, Any]]:
    """Audit rows, each shown only after its ledger record was re-proved with its commit."""
    for row in rows:
        prover.prove(int(row["position"]))
        yield row


def _proved(engine: ProjectionEngine) -> None:
    check = engine.verify_views()
    if not check.ok:
        d = check.first_difference or {}
        raise VerificationError(
            f"the views file differs from a rebuild from the verified ledger (table "
            f"{d.get('table')}{', row ' + str(d['row']) if d.get('row') is not None else ''}): "
            "refusing to "
            "serve it; `trial-ledger projections rebuild` replaces it"
        )


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
        engine = _caught_up(reader, views)
        if prove_views:
            _proved(engine)
        conn = engine.connect()
        try:
            report = trial_summary(stored_histories(conn), _tracked(engine))
        finally:
            conn.close()
        report["views_proved"] = (
            engine.last_proof() if prove_views else _views_note(engine, json_out)
        )
    if json_out:
        emit_json(report)
        return
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


@projections_app.command("rebuild")
def projections_rebuild(
    db: DbOption, views: ViewsOption = None, json_out: JsonFlag = False
) -> None:
    """Rebuild every view from position 1 (verified), then swap it in atomically.

    Example: trial-ledger projections rebuild --db trial.db
    """
    with LedgerReader(db) as reader:
        engine = ProjectionEngine(reader, views)
        started = time.perf_counter()
        with progress_bar("rebuild", reader.size(), enabled=not json_out) as progress:
            report = engine.rebuild(lambda done, _total: progress(done))
        seconds = time.perf_counter() - started
    result = {
        "views": str(engine.views_path),
        **report.to_json(),
        "seconds": round(seconds, 3),
        "events_per_s": round(report.events / seconds) if seconds > 0 else None,
    }
    if json_out:
        emit_json(result)
    else:
        console.print(
            f"Rebuilt {result['events']:,} events into {result['views']} in {result['seconds']} s"
        )


@projections_app.command("verify")
def projections_verify(db: DbOption, views: ViewsOption = None, json_out: JsonFlag = False) -> None:
    """Prove the views: rebuild them from the verified ledger and compare row by row.

    Exit 0 if every view table equals a fresh rebuild at the same ledger position, 1 if a
    table differs (the first differing table and row are named) or the ledger fails
    verification. The views file is a cache that anyone who can write it can edit: this is
    the check that proves what it serves. Reads of the views say when it last passed.

    Example: trial-ledger projections verify --db trial.db --json
    """
    with LedgerReader(db) as reader:
        engine = ProjectionEngine(reader, views)
        with progress_bar("verify views", reader.size(), enabled=True) as progress:
            check = engine.verify_views(progress)
    if json_out:
        emit_json(check.to_json())
    elif check.ok:
        console.print(
            f"OK: views {check.views} equal a rebuild from the verified ledger at position "
            f"{check.position:,} (proved {check.proved_at})"
        )
    else:
        d = check.first_difference or {}
        err_console.print(
            f"FAILED: views {check.views} differ from a rebuild from the verified ledger at "
            f"position {check.position:,}: table {d.get('table')}"
            + (f" row {d['row']}" if d.get("row") is not None else "")
            + f": stored {_clip(d.get('stored'))}, expected {_clip(d.get('expected'))}. "
            "The views file was edited or damaged; `trial-ledger projections rebuild` "
            "replaces it.",
            markup=False,
        )
    if not check.ok:
        raise typer.Exit(1)


def _clip(value: object, limit: int = 240) -> str:
    text = "no row" if value is None else repr(value)
    return text if len(text) <= limit else f"{text[:limit]}…({len(text):,} characters)"


def _views_note(engine: ProjectionEngine, json_out: bool) -> dict[str, Any] | None:
    """When the views were last proved (also said on stderr for a person)."""
    proof = engine.last_proof()
    if not json_out:
        if proof is None:
            err_console.print(
                "note: served from the views file, never proved against the ledger "
                "(`trial-ledger projections verify` proves it)",
                markup=False,
            )
        else:
            err_console.print(
                f"note: served from the views file, last proved equal to the ledger at "
                f"position {proof['position']:,} on {proof['proved_at']}",
                markup=False,
            )
    return proof


@projections_app.command("status")
def projections_status(db: DbOption, views: ViewsOption = None, json_out: JsonFlag = False) -> None:
    """Each projection's tracked position and leaf hash, and how far behind the ledger it is.

    Example: trial-ledger projections status --db trial.db --json
    """
    with LedgerReader(db) as reader:
        engine = ProjectionEngine(reader, views)
        head = reader.size()
        tracked = engine.status()
    rows = [t.to_json(head) for t in tracked]
    proof = engine.last_proof()
    if json_out:
        emit_json(
            {
                "views": str(engine.views_path),
                "ledger_size": head,
                "projections": rows,
                "views_proved": proof,
            }
        )
        return
    proved = (
        f"last proved at position {proof['position']:,} on {proof['proved_at']}"
        if proof
        else "never proved (`trial-ledger projections verify`)"
    )
    console.print(f"views {engine.views_path} (ledger size {head:,}; {proved})")
    for t in rows:
        console.print(
            f"  {t['projection']:<10} position {t['position']:>9,}  behind {t['behind']:>9,}  "
            f"leaf {t['leaf_hash'][:16] or '-'}"
        )


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
    app.command("patient")(patient)
    app.command("audit-trail")(audit_trail_command)
    app.command("summary")(summary)
    app.add_typer(projections_app, name="projections")
