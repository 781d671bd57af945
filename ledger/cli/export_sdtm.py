"""``export sdtm``: the verified ledger as SDTM datasets (CDISC Dataset-JSON 1.1, SAS XPT)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ledger.cli.common import DbOption, JsonFlag, console, emit_json, progress_bar
from ledger.cli.export_common import AgainstOption, SponsorKeyOption, fresh_out, open_verified
from ledger.errors import UsageError

FORMATS = ("json", "xpt")


def sdtm(
    db: DbOption,
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="The folder to write the datasets into (must not exist).", file_okay=False
        ),
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="json: Dataset-JSON 1.1 only; xpt: SAS V5 transport files as well.",
            show_default=True,
        ),
    ] = "json",
    against: AgainstOption = None,
    sponsor_key: SponsorKeyOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Write the verified ledger as SDTM datasets, one Dataset-JSON 1.1 file per domain.

    The ledger is verified first (exit 1 and nothing written if it does not verify). Every
    subject's history is folded with its corrections applied, so each value is the current,
    corrected one: DM, EX, AE, DS, LB, RS (investigator's and rule-derived IMWG categories,
    best confirmed response), SV, SE, and the trial design TA and TE. Each file names the
    ledger position and root it was derived from (fileOID, dbLastModifiedDateTime), and
    --out/manifest.json lists each file's sha256, rows and the provenance. --format xpt adds
    a SAS V5 transport file per domain (dm.xpt ...). The folder is written beside --out under a
    temporary name and renamed when complete; --out is never overwritten (exit 2).

    --json prints {"out", "format", "datasets": [{"name", "label", "file", "records",
    "bytes", "sha256", "xpt": {"file", "bytes", "sha256"} (with --format xpt)}],
    "manifest": {"file", "bytes", "sha256"}, "provenance": {"trial_id", "ledger_id",
    "position", "root", "commits", "checkpoints_checked", "against_checkpoint",
    "sponsor_key"}, "seconds"}.

    Example: trial-ledger export sdtm --db trial.db --out sdtm --format xpt --json
    """
    from projections.exports.sdtm import export_sdtm  # noqa: PLC0415 - kept off --help's path

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt}: not a format written here; use json or xpt")
    fresh_out(out)
    with (
        open_verified(db, against, sponsor_key, out) as source,
        progress_bar("export sdtm", len(source.subjects), enabled=True) as progress,
    ):
        result = export_sdtm(source, out, fmt, progress)
    if json_out:
        emit_json(result)
        return
    listed = ", ".join(f"{d['name']} {d['records']:,}" for d in result["datasets"])
    console.print(
        f"SDTM ({result['format']}) written to {out}: {listed}; ledger position "
        f"{result['provenance']['position']}, root {result['provenance']['root']}",
        markup=False,
    )
