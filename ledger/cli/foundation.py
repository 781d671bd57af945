"""``init``: a new ledger with the sponsor's root key and the ledger's checkpoint key."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli.common import (
    DbOption,
    JsonFlag,
    PassphraseFileOption,
    console,
    emit_json,
    parse_date,
)
from ledger.cli.key_files import new_key_file, public_path
from ledger.errors import UsageError
from ledger.integrity.signing import Signer, key_id
from ledger.protocol.parameters import PARAMETERS
from ledger.service import TrialLedger, person_key, today
from ledger.store import check_new_store
from ledger.store.location import StoreTarget


def init(
    db: DbOption,
    sponsor_name: Annotated[
        str, typer.Option("--sponsor-name", help="Printed name of the sponsor's signatory.")
    ],
    sponsor_key_out: Annotated[
        Path, typer.Option("--sponsor-key-out", help="Where to write the sponsor's new key file.")
    ],
    ledger_key_out: Annotated[
        Path,
        typer.Option("--ledger-key-out", help="Where to write the ledger's checkpoint key file."),
    ],
    protocol_amendment: Annotated[
        str, typer.Option("--protocol-amendment", help="Protocol version in force.")
    ] = "",
    effective: Annotated[
        str | None, typer.Option("--date", help="Clinical date of creation (default today).")
    ] = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Create a new ledger for NCT00635154 with the sponsor's root key and the checkpoint key.

    Both key files are encrypted with the passphrase and written with mode 0600; their public
    halves go to FILE.pub (publish the sponsor's: auditors verify bundles with it).

    Example: trial-ledger init --db trial.db --sponsor-name "Mayo Sponsor Office"
    --sponsor-key-out sponsor.key --ledger-key-out ledger.key
    """
    amendment = protocol_amendment or next(iter(PARAMETERS))
    if amendment not in PARAMETERS:
        raise UsageError(
            f"--protocol-amendment {amendment!r}: unknown; known: {', '.join(PARAMETERS)}"
        )
    check_new_store(db)
    on = parse_date(effective, "--date") if effective else today()
    placeholder = bytes(32)  # validate the sponsor's name before any file is written
    person_key(placeholder, key_id(placeholder), sponsor_name, "sponsor", "*")
    ledger, sponsor, ledger_signer = _create(
        db, sponsor_name, amendment, on, (sponsor_key_out, ledger_key_out), passphrase_file
    )
    with ledger:
        note = ledger.checkpoint(ledger_signer)
        result = {
            "db": str(db),
            "ledger_id": ledger.ledger_id,
            "sponsor_key_id": sponsor.key_id,
            "ledger_key_id": ledger_signer.key_id,
            "protocol_amendment": amendment,
            "checkpoint": note,
        }
    if json_out:
        emit_json(result)
    else:
        _print_created(result, db, sponsor_key_out, ledger_key_out)


def _create(
    db: StoreTarget,
    sponsor_name: str,
    amendment: str,
    on: date,
    key_outs: tuple[Path, Path],
    passphrase_file: Path | None,
) -> tuple[TrialLedger, Signer, Signer]:
    """The new ledger with its sponsor and checkpoint signers, the two key files written first;
    every file written is removed again if creating the ledger fails."""
    sponsor_out, ledger_out = key_outs
    created: list[Path] = []
    try:
        sponsor = new_key_file(sponsor_out, passphrase_file)
        created += [sponsor_out, public_path(sponsor_out)]
        ledger_signer = new_key_file(ledger_out, passphrase_file)
        created += [ledger_out, public_path(ledger_out)]
        if isinstance(db, Path):
            created += [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
        ledger = TrialLedger.create(
            db,
            sponsor=sponsor,
            sponsor_name=sponsor_name,
            ledger_public=ledger_signer.public_key,
            ledger_key_id=ledger_signer.key_id,
            protocol_amendment=amendment,
            effective_date=on,
        )
    except BaseException:
        for path in created:
            path.unlink(missing_ok=True)
        raise
    return ledger, sponsor, ledger_signer


def _print_created(
    result: dict[str, Any], db: StoreTarget, sponsor_key_out: Path, ledger_key_out: Path
) -> None:
    console.print(f"Created ledger {result['ledger_id']} in {db}")
    console.print(
        f"  sponsor key  {result['sponsor_key_id']}  ({sponsor_key_out}, public "
        f"{sponsor_key_out}.pub)"
    )
    console.print(f"  ledger key   {result['ledger_key_id']}  ({ledger_key_out})")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
