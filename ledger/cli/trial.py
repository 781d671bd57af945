"""Recording commands for site staff, ``import``, ``log`` and ``schema``.

Every recording command is generated from its command model (:mod:`ledger.domain.commands`;
:mod:`ledger.cli.options`): its options are the model's fields, its help the model's
docstring. It is signed with the caller's key (``--key`` and ``--passphrase-file`` or
``$TRIAL_LEDGER_PASSPHRASE``), takes the clinical date of the fact as ``--date`` (default today,
UTC) and prints the position of every event it wrote (``--json``: one JSON document). A refused
command exits 2 with one message naming the field, the value and the rule, and writes nothing.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from ledger.chain import CommitHeader, EventRow
from ledger.cli.common import (
    DbOption,
    JsonFlag,
    KeyOption,
    PassphraseFileOption,
    console,
    emit_json,
    err_console,
    load_signer,
    progress_bar,
)
from ledger.cli.options import recording_command
from ledger.cli.receipts import describe, print_recorded, signer_of
from ledger.domain.commands import COMMANDS, Command
from ledger.domain.guards import check_subject_id
from ledger.events import event_name, subject_stream_id
from ledger.jsonl import import_line_schema_text
from ledger.recording import TrialRecorder
from ledger.service import TrialLedger
from ledger.store import LedgerReader
from ledger.verify import CommitProver

schema_app = typer.Typer(help="Print the JSON Schemas of the files trial-ledger reads.")


def record(
    db: Path, key: Path, passphrase_file: Path | None, json_out: bool, command: Command
) -> None:
    """Record one built command, signed with the caller's key, and print what it wrote."""
    with TrialLedger.open(db) as ledger:
        signer = load_signer(key, passphrase_file)
        recorded = TrialRecorder(ledger).record(signer, command)
        print_recorded(ledger, recorded, json_out)


def import_file(
    file: Annotated[Path, typer.Argument(help="JSON Lines file, one command per line.")],
    db: DbOption,
    key: KeyOption,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Append a whole JSON Lines file (a dosing diary, a lab transfer) as ONE signed commit.

    Every line is checked in order against the same rules as the single commands; if any line
    is invalid the whole file is refused, listing the invalid lines by number, and nothing is
    written. The format: `trial-ledger schema import-line`.

    Example: trial-ledger import diary-017.jsonl --db trial.db --key cole.key
    """
    with TrialLedger.open(db) as ledger:
        signer = load_signer(key, passphrase_file)
        # A bar in a terminal (a log gets the result, not lines of progress).
        shown = not json_out and err_console.is_terminal
        lines = _line_count(file) if shown else None
        with progress_bar("import", lines, enabled=shown) as progress:
            recorded = TrialRecorder(ledger).import_jsonl(signer, file, progress=progress)
        print_recorded(ledger, recorded, json_out)


def _line_count(file: Path) -> int | None:
    """Lines in ``file``, for the progress bar only (None when it cannot be read: the import
    itself then says why)."""
    try:
        with file.open("rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except OSError:
        return None


# --------------------------------------------------------------------------- reading


def _commit_index(reader: LedgerReader) -> tuple[list[int], list[CommitHeader]]:
    headers = [c.header for c in reader.iter_commits()]
    return [h.first_position for h in headers], headers


def _log_rows(reader: LedgerReader, subject: str | None, limit: int | None) -> Iterable[EventRow]:
    rows: Iterable[EventRow]
    if subject is not None:
        check_subject_id(subject)
        rows = reader.stream_rows(subject_stream_id(subject).hex)
    else:
        rows = reader.iter_events()
    return deque(rows, maxlen=limit) if limit else rows


def log(
    db: DbOption,
    subject: Annotated[
        str | None, typer.Option("--subject", help="Only this subject's events.")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Only the last N events.", min=1)
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """List events with their clinical date, recorded time, signer, role and meaning.

    Columns: position, clinical date, recorded time (UTC), event, subject, signer's printed
    name, role, signature meaning and a summary. Corrections appear as events of their own;
    the corrected event is shown as it was recorded.

    Every row shown is first re-proved with its whole commit (rehashed, rooted, signature
    under the proved key registry): an altered record is refused (exit 1), never shown.

    Example: trial-ledger log --db trial.db --subject MC0282-001-017 --limit 20
    """
    with LedgerReader(db) as reader:
        prover = CommitProver(reader)  # every row shown is re-proved with its commit first
        registry = prover.registry
        starts, headers = _commit_index(reader)
        entries = []
        for row in _log_rows(reader, subject, limit):
            prover.prove(row.position)
            payload = json.loads(row.state)
            header = headers[bisect_right(starts, row.position) - 1]
            name, role = signer_of(registry, header)
            entries.append(
                {
                    "position": row.position,
                    "effective_date": payload.get("effective_date", ""),
                    "recorded_at": header.recorded_at,
                    "event": event_name(row.topic),
                    "subject_id": payload.get("subject_id", ""),
                    "signer_name": name,
                    "role": role,
                    "meaning": header.meaning,
                    "detail": describe(row.topic, payload),
                }
            )
    if json_out:
        emit_json({"events": entries})
        return
    console.print(
        f"{'pos':>6}  {'clinical':<10}  {'recorded (UTC)':<19}  {'event':<21}  "
        f"{'subject':<14}  signed by (role, meaning): detail",
        markup=False,
    )
    for e in entries:
        recorded = e["recorded_at"][:19].replace("T", " ")
        console.print(
            f"{e['position']:>6}  {e['effective_date']:<10}  {recorded:<19}  {e['event']:<21}  "
            f"{e['subject_id'] or '-':<14}  {e['signer_name']} ({e['role']}, {e['meaning']}): "
            f"{e['detail']}",
            markup=False,
        )


@schema_app.command("import-line")
def schema_import_line() -> None:
    """Print the JSON Schema (2020-12) of one line of an `import` file.

    Example: trial-ledger schema import-line > import-line.schema.json
    """
    typer.echo(import_line_schema_text(), nl=False)


def register(app: typer.Typer) -> None:
    for model in COMMANDS:
        app.command(model.name)(recording_command(model, record))
    app.command("import")(import_file)
    app.command("log")(log)
    app.add_typer(schema_app, name="schema")
