"""``export-bundle`` and ``verify-bundle``: a folder an auditor verifies offline, trusting only
the sponsor's public key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ledger.bundle import BundleSource, export_bundle
from ledger.cli.common import DbOption, JsonFlag, console, emit_json, err_console, progress_bar
from ledger.cli.verification import print_report
from ledger.integrity.signing import read_public_key
from ledger.store import LedgerReader
from ledger.verify import verify_ledger


def export_bundle_command(
    db: DbOption,
    out: Annotated[Path, typer.Option("--out", help="Bundle folder to create.")],
    json_out: JsonFlag = False,
) -> None:
    """Export events, commits, checkpoints and the key registry for offline verification.

    The export is one consistent snapshot of the ledger (appends meanwhile are not in it).
    That snapshot is verified before anything is written (a ledger that fails is not
    exported: exit 1, the file itself is the evidence), and the bundle is verified as written,
    with the verifier `verify-bundle` runs.

    Example: trial-ledger export-bundle --db trial.db --out bundle/
    """
    with LedgerReader(db) as reader:
        with progress_bar("verify", reader.size(), enabled=True) as progress:
            checked = verify_ledger(reader, progress=progress)
        if not checked.ok:
            print_report(checked, json_out, str(db))
        with progress_bar("export", reader.size(), enabled=True) as progress:
            manifest = export_bundle(reader, out, progress)
    with progress_bar("verify bundle", int(manifest["events"]), enabled=True) as progress:
        report = verify_ledger(BundleSource(out), progress=progress)
    if not report.ok:
        print_report(report, json_out, f"bundle {out}")
    if json_out:
        emit_json(manifest)
    else:
        console.print(
            f"Bundle of {manifest['events']:,} events and {manifest['commits']:,} commits "
            f"written to {out}"
        )


def verify_bundle(
    folder: Annotated[Path, typer.Argument(help="Bundle folder.", file_okay=False)],
    sponsor_key: Annotated[
        Path, typer.Option("--sponsor-key", help="The sponsor's published public key file.")
    ],
    json_out: JsonFlag = False,
) -> None:
    """Verify an exported bundle offline, trusting nothing but the sponsor's public key.

    Also reports bundle files whose SHA-256 differs from the manifest (a damaged copy);
    --json adds them as "damaged_files".

    Example: trial-ledger verify-bundle bundle-2026-12 --sponsor-key sponsor.key.pub --json
    """
    sponsor = read_public_key(sponsor_key)
    source = BundleSource(folder)
    with progress_bar(
        "verify bundle", int(source.manifest.get("events", 0)), enabled=True
    ) as progress:
        report = verify_ledger(source, sponsor_public=sponsor, progress=progress)
    damaged = source.damaged_files()
    mismatches = source.manifest_mismatches()
    digests = [name for name in damaged if name != "manifest.json" or not mismatches]
    if digests and not json_out:
        err_console.print(
            f"note: {', '.join(digests)} differ from the manifest's SHA-256 (the manifest is "
            "unsigned: the verification above is what proves integrity)"
        )
    for mismatch in mismatches if not json_out else []:
        err_console.print(f"note: {mismatch} (the manifest is unsigned)")
    print_report(report, json_out, f"bundle {folder}", damaged)


def register(app: typer.Typer) -> None:
    app.command("export-bundle")(export_bundle_command)
    app.command("verify-bundle")(verify_bundle)
