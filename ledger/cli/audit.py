"""``audit-trail``: who did what, when and why, every event with its signer, meaning, position
and hash; as text, CSV or JSON, each row re-proved against the ledger before it is shown."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli.common import DbOption, JsonFlag, console
from ledger.cli.projections import (
    ProveViewsFlag,
    ViewsOption,
    caught_up,
    proved,
    tracked,
    utc,
    views_note,
)
from ledger.errors import UsageError
from ledger.store import LedgerReader
from projections.audit import AuditFilter, write_csv, write_json
from projections.queries import audit_filter, audit_rows


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
    f = _filter(subject, person, event_type, from_, to)
    with LedgerReader(db) as reader:
        engine = caught_up(reader, views)
        if prove_views:
            proved(engine)
        else:
            views_note(engine, json_out=False)
        # Proving the views verified the whole ledger already; else each row's commit is.
        rows = audit_rows(reader, engine, f, prove=not prove_views)
        handle = out.open("w", encoding="utf-8", newline="") if out else sys.stdout
        try:
            if csv_out:
                count = write_csv(rows, handle)
            elif json_out:
                count = write_json(rows, handle, f, tracked(engine))
            else:
                count = _print_trail(rows)
        finally:
            rows.close()
            if out:
                handle.close()
    if out:
        console.print(f"{count:,} events written to {out}")


def _filter(
    subject: str | None,
    person: str | None,
    event_type: str | None,
    from_: str | None,
    to: str | None,
) -> AuditFilter:
    """The filter the options ask for; an unknown --type is refused, naming the known ones."""
    checked = audit_filter(subject=subject, person=person, type_=event_type)
    return replace(
        checked,
        recorded_from=utc(from_, "--from") if from_ else None,
        recorded_to=utc(to, "--to", end_of_day=True) if to else None,
    )


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


def register(app: typer.Typer) -> None:
    app.command("audit-trail")(audit_trail_command)
