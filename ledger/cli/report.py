"""``report inspection``: the printable report an inspector reads, from the verified ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ledger.cli.common import DbOption, JsonFlag, console, emit_json, err_console, progress_bar
from ledger.cli.export_common import AgainstOption, SponsorKeyOption, fresh_out, open_verified
from ledger.cli.verification import read_checkpoint_file
from ledger.integrity.signing import read_public_key

report_app = typer.Typer(
    help="Write the inspection report (HTML and PDF) from the verified ledger."
)


def inspection(
    db: DbOption,
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="The report folder to create (must not exist).", file_okay=False
        ),
    ],
    against: AgainstOption = None,
    sponsor_key: SponsorKeyOption = None,
    no_pdf: Annotated[
        bool, typer.Option("--no-pdf", help="Write the HTML only (no WeasyPrint PDF).")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Write the inspection report of the verified ledger: DIR/inspection.html and .pdf.

    The ledger is verified first (exit 1 and nothing written if it does not verify), against
    the checkpoint given with --against and the sponsor key given with --sponsor-key; with
    neither, the report says the verification is self-consistency only. The report holds the
    cover (trial, ledger id, position, Merkle root, commits, provenance), the verification
    result, the key registry (who held which role when), the signature manifestation of every
    signed commit (printed name, date and time, meaning: 21 CFR 11.50) grouped by subject,
    every review/approval signature, every correction and void with old and new value, reason,
    signer and time (11.10(e)), and the objectives of `summary --json` with the pictures in
    DIR/figures/ (when the plotting module is installed). Every recorded text is escaped;
    nothing outside DIR is fetched. DIR must not exist (exit 2); it is built under a temporary
    name beside it and appears only when complete. Above 3,000 signed commits the PDF holds the
    manifest summarised per subject (the HTML always holds every row), and says so.

    --json prints {"out", "html": {"file", "bytes", "sha256"}, "pdf": {"file", "bytes",
    "sha256", "full_manifest"} | null, "figures": [{"kind", "file", "bytes", "title",
    "population", "n"}], "figures_available", "sections": {"keys", "sites", "signatures",
    "review_signatures", "corrections", "voids"}, "provenance": {"trial_id", "ledger_id",
    "position", "root", "commits", "checkpoints_checked", "against_checkpoint", "sponsor_key"},
    "verification": {"ok", "mode", "events", "commits", "tree_size", "root",
    "checkpoints_checked", "scope", "against": {"file", "origin", "size", "root", "time",
    "signed_by", "extended", "events_since"} | null, "sponsor_key": {"file", "key_id",
    "public_key", "genesis_sponsor", "rooted"} | null}, "timings": {"gather", "html", "pdf"},
    "seconds"}.

    Example: trial-ledger report inspection --db trial.db --out inspection-2026-12 --against
    today.checkpoint --sponsor-key sponsor.key.pub --json
    """
    from projections.exports.inspection import (  # noqa: PLC0415 - kept off --help's path
        Anchors,
        write_inspection,
    )

    fresh_out(out)
    anchors = Anchors(
        checkpoint_note=read_checkpoint_file(against) if against is not None else None,
        checkpoint_file=str(against) if against is not None else None,
        sponsor_public=read_public_key(sponsor_key) if sponsor_key is not None else None,
        sponsor_file=str(sponsor_key) if sponsor_key is not None else None,
    )
    with (
        open_verified(db, against, sponsor_key) as source,
        progress_bar("gather", source.position, enabled=True) as progress,
    ):
        result = write_inspection(
            source,
            out,
            anchors,
            pdf=not no_pdf,
            stage=lambda what: err_console.print(what, markup=False),
            progress=progress,
        )
    if json_out:
        emit_json(result)
        return
    pdf = result["pdf"]
    sections = result["sections"]
    console.print(
        f"Inspection report written to {out}: {result['html']['file']}"
        f"{' and ' + pdf['file'] if pdf else ''}; {sections['keys']} keys, "
        f"{sections['signatures']:,} signed commits, {sections['corrections']} corrections; "
        f"ledger position {result['provenance']['position']}, root "
        f"{result['provenance']['root']} ({result['verification']['scope']})",
        markup=False,
    )


report_app.command("inspection")(inspection)


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
