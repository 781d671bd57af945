"""``verify`` and ``checkpoint``: re-prove the whole ledger, and sign what was proved.

Exit codes of both: 0 intact, 1 integrity failure (the first failing position and why), 2 usage.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Annotated

import typer

from ledger.cli.common import (
    DbOption,
    JsonFlag,
    PassphraseFileOption,
    console,
    emit_json,
    err_console,
    load_signer,
    progress_bar,
)
from ledger.errors import UsageError
from ledger.integrity.signing import read_public_key
from ledger.service import TrialLedger
from ledger.store import LedgerReader
from ledger.verify import VerifyReport, verify_ledger


def print_report(
    report: VerifyReport, json_out: bool, what: str, damaged: list[str] | None = None
) -> None:
    if json_out:
        document = report.to_json()
        if damaged is not None:
            document["damaged_files"] = damaged
        emit_json(document)
    elif report.ok:
        console.print(
            f"OK: {what} verified: {report.events:,} events in {report.commits:,} signed commits "
            f"({report.mode} from position {report.started_at_position}), "
            f"{report.checkpoints_checked} checkpoint(s) matched; tree size {report.tree_size:,}, "
            f"root {base64.b64encode(report.root).decode()}"
        )
    else:
        failure = report.first_failure
        assert failure is not None
        err_console.print(f"FAILED at position {failure.position}: {failure.reason}")
    if not report.ok:
        raise typer.Exit(1)


StateOption = Annotated[
    Path | None,
    typer.Option(
        "--state",
        help="Folder where this verifier keeps what it proved (outside the ledger file); "
        "the next run reads only the events appended since.",
        file_okay=False,
    ),
]


def verify(
    db: DbOption,
    against: Annotated[
        Path | None, typer.Option("--against", help="A checkpoint file saved earlier.")
    ] = None,
    state: StateOption = None,
    full: Annotated[
        bool, typer.Option("--full", help="With --state, re-prove from position 1 anyway.")
    ] = False,
    sponsor_key: Annotated[
        Path | None,
        typer.Option(
            "--sponsor-key",
            help="Sponsor's published public key: require the ledger to be rooted in it.",
        ),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Verify every hash, link, signature, key authorisation, Merkle root and checkpoint.

    Exit 0 intact, 1 integrity failure (the first failing position and why), 2 usage error.
    Every stored byte is re-proved from position 1; nothing kept in the ledger file is taken
    on trust. With --against CHECKPOINT, the ledger must also extend that checkpoint (the
    root at its size equals the signed one: truncation and rewrites are caught). With
    --state DIR, the verifier keeps what it proved in DIR and later runs read only the events
    appended since (DIR must be as safe as the checkpoint files you keep).

    Example: trial-ledger verify --db trial.db --against yesterday.checkpoint --json
    """
    note = read_checkpoint_file(against) if against is not None else None
    sponsor = read_public_key(sponsor_key) if sponsor_key else None
    with LedgerReader(db) as reader:
        total = reader.size()
        with progress_bar("verify", total, enabled=True) as progress:
            report = verify_ledger(
                reader,
                against=note,
                sponsor_public=sponsor,
                state_dir=state,
                full=full,
                progress=progress,
            )
    print_report(report, json_out, str(db))


def read_checkpoint_file(path: Path) -> str:
    try:
        if path.stat().st_size > 64 * 1024:
            raise UsageError(f"--against {path}: {path.stat().st_size:,} bytes is no checkpoint")
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"--against {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--against {path}: not a text file, so not a checkpoint") from None


def checkpoint(
    db: DbOption,
    out: Annotated[Path, typer.Option("--out", help="File to write the signed checkpoint to.")],
    ledger_key: Annotated[
        Path, typer.Option("--ledger-key", help="The ledger's checkpoint key file.")
    ],
    state: StateOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Verify the ledger, then sign a checkpoint (C2SP signed note) of exactly what it proved.

    Keep the file: `verify --against FILE` later proves nothing before it was changed. With
    --state DIR only the events since the signer's last pass are read.

    Example: trial-ledger checkpoint --db trial.db --ledger-key ledger.key --out today.checkpoint
    """
    if out.exists():
        raise UsageError(f"--out {out}: file exists; refusing to overwrite")
    with TrialLedger.open(db) as ledger:
        signer = load_signer(ledger_key, passphrase_file)
        note = ledger.checkpoint(signer, state)
    out.write_text(note, encoding="utf-8")
    lines = note.splitlines()
    if json_out:
        emit_json(
            {
                "file": str(out),
                "origin": lines[0],
                "tree_size": int(lines[1]),
                "root": lines[2],
                "note": note,
            }
        )
    else:
        console.print(f"Checkpoint of {int(lines[1]):,} events written to {out} (root {lines[2]})")


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)
    app.command("checkpoint")(checkpoint)
