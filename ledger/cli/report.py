"""``report inspection``: the printable report an inspector reads, from the verified ledger."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ledger.cli.common import DbOption, JsonFlag, console, emit_json, err_console, progress_bar
from ledger.cli.export_common import AgainstOption, SponsorKeyOption, fresh_out, open_verified
from ledger.cli.verification import read_checkpoint_file
from ledger.integrity.signing import read_public_key

if TYPE_CHECKING:
    from projections.exports.inspection import Anchors

OutOption = Annotated[
    Path,
    typer.Option("--out", help="The report folder to create (must not exist).", file_okay=False),
]
NoPdfFlag = Annotated[
    bool, typer.Option("--no-pdf", help="Write the HTML only (no WeasyPrint PDF).")
]

report_app = typer.Typer(
    help="Write the inspection report (HTML and PDF) from the verified ledger."
)


def inspection(
    db: DbOption,
    out: OutOption,
    against: AgainstOption = None,
    sponsor_key: SponsorKeyOption = None,
    no_pdf: NoPdfFlag = False,
    json_out: JsonFlag = False,
) -> None:
    """Write the inspection report of the verified ledger: DIR/inspection.html and .pdf.

    The ledger is verified first (exit 1, nothing written, if it does not), against --against
    and --sponsor-key; with neither, the report says it is self-consistency only. It holds the
    cover (trial, ledger id, position, Merkle root, commits, provenance), the verification, the
    key registry (who held which role when), the signature manifestation of every signed commit
    by subject (printed name, date and time, meaning: 21 CFR 11.50), every review/approval
    signature, every correction and void (old and new value, reason, signer, time: 11.10(e)),
    and the objectives of `summary --json` with the pictures in DIR/figures/. Recorded text is
    escaped; nothing outside DIR is read. DIR must not exist (exit 2); it appears only when
    complete. Above 3,000 signed commits the PDF summarises the manifest per subject (the HTML
    lists every commit), and says so.

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
    from projections.exports.inspection import write_inspection  # noqa: PLC0415 - off --help

    fresh_out(out)
    anchors = _anchors(against, sponsor_key)
    with (
        open_verified(db, against, sponsor_key, out) as source,
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
    else:
        _print_written(result)


def _anchors(against: Path | None, sponsor_key: Path | None) -> Anchors:
    """What the report states it was verified against (the files are read again by
    :func:`open_verified`, which verifies against them)."""
    from projections.exports.inspection import Anchors  # noqa: PLC0415 - off --help's path

    return Anchors(
        checkpoint_note=read_checkpoint_file(against) if against is not None else None,
        checkpoint_file=str(against) if against is not None else None,
        sponsor_public=read_public_key(sponsor_key) if sponsor_key is not None else None,
        sponsor_file=str(sponsor_key) if sponsor_key is not None else None,
    )


def _print_written(result: dict[str, Any]) -> None:
    pdf = result["pdf"]
    sections = result["sections"]
    console.print(
        f"Inspection report written to {result['out']}: {result['html']['file']}"
        f"{' and ' + pdf['file'] if pdf else ''}; {sections['keys']} keys, "
        f"{sections['signatures']:,} signed commits, {sections['corrections']} corrections; "
        f"ledger position {result['provenance']['position']}, root "
        f"{result['provenance']['root']} ({result['verification']['scope']})",
        markup=False,
    )


report_app.command("inspection")(inspection)


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
