"""``access-log``: list the log of reads a server kept for a ledger, and verify its chain.

Every row's hash is recomputed from its fields and the previous row's hash; a row altered or
removed from the middle is reported and the command exits 1 (an integrity failure). The rows
removed from the end are not a break in the chain: compare the count and last hash with what
an earlier ``--verify`` printed.

``--json`` prints ``{"location", "items": [row, ...], "chain": {"rows", "last_hash", "ok",
"problems"}}``, each row ``{"seq", "at", "key_id", "printed_name", "role", "site", "via",
"route", "query", "subjects", "what", "evidence", "prev_hash", "row_hash"}`` (as ``GET
/v1/access-log`` answers); with ``--verify`` ``items`` is empty.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli.common import DbOption, JsonFlag, console, emit_json, err_console
from ledger.errors import UsageError
from ledger.server.access.access_store import (
    AccessStore,
    Row,
    chain_problems,
    default_location,
    select,
)
from ledger.store.location import PostgresURL


def access_log(
    db: DbOption,
    access_log_file: Annotated[
        Path | None,
        typer.Option(
            "--access-log",
            help="The log of reads (default: <db>.access.sqlite; the schema trial_access of "
            "a PostgreSQL ledger's database).",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    subject: Annotated[
        str | None, typer.Option("--subject", help="Only the reads naming this subject.")
    ] = None,
    person: Annotated[
        str | None, typer.Option("--person", help="Only the reads by this key id or name.")
    ] = None,
    verify: Annotated[
        bool, typer.Option("--verify", help="Verify the chain only (list no rows).")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """List the reads of subject data by persons that the server recorded; verify the chain.

    Exit 0 intact, 1 if a row was altered or removed from the middle, 2 usage error.

    Example: trial-ledger access-log --db trial.db --subject MC0282-001-017
    """
    location: Path | PostgresURL = access_log_file or default_location(db)
    if isinstance(location, Path) and not location.is_file():
        raise UsageError(f"--access-log {location}: no such file (no read was recorded yet?)")
    store = AccessStore(location, create=False)
    try:
        rows = store.rows()
    finally:
        store.close()
    problems = chain_problems(rows)
    chosen = [] if verify else select(rows, subject=subject, person=person)
    chain = {
        "rows": len(rows),
        "last_hash": rows[-1].row_hash if rows else None,
        "ok": not problems,
        "problems": problems,
    }
    if json_out:
        emit_json(
            {"location": str(location), "items": [r.to_json() for r in chosen], "chain": chain}
        )
    else:
        _print(chosen, chain)
    if problems:
        raise typer.Exit(1)


def _print(rows: list[Row], chain: dict[str, Any]) -> None:
    for row in rows:
        read = row.read
        console.print(
            f"{row.seq:>6}  {read.at}  {read.printed_name} ({read.role}, site {read.site}, "
            f"{read.key_id}, via {read.via})  {read.route}"
            + (f"?{read.query}" if read.query else "")
            + f"  subjects {', '.join(row.to_json()['subjects']) or '-'}",
            highlight=False,
            markup=False,
        )
    if chain["ok"]:
        console.print(
            f"chain intact: {chain['rows']} rows, last hash {chain['last_hash'] or '-'}",
            highlight=False,
        )
        return
    for problem in chain["problems"]:
        err_console.print(f"access log chain broken: {problem}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.command("access-log")(access_log)
