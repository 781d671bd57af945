"""``export odm``: the verified ledger as CDISC ODM, with its full transactional audit trail."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ledger.cli.common import DbOption, JsonFlag, console, emit_json, progress_bar
from ledger.cli.export_common import AgainstOption, SponsorKeyOption, fresh_out, open_verified
from ledger.errors import UsageError

VERSIONS = ("1.3.2", "2.0")


def odm(
    db: DbOption,
    out: Annotated[
        Path,
        typer.Option("--out", help="The ODM XML file to write (must not exist)."),
    ],
    version: Annotated[
        str, typer.Option("--version", help="ODM version: 1.3.2 or 2.0.", show_default=True)
    ] = "1.3.2",
    against: AgainstOption = None,
    sponsor_key: SponsorKeyOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Write the verified ledger as a CDISC ODM file with its full audit trail.

    The ledger is verified first (exit 1 and nothing written if it does not verify). The file
    is transactional (FileType Transactional, Granularity All): Study metadata (every event
    kind as a study event, form and item group, every recorded fact an item, code lists,
    units), AdminData (one User per registered key, the sites and the sponsor as Locations,
    SignatureDefs for authorship, review, approval and responsibility), then ClinicalData in
    ledger position order: each subject event an Insert, each correction an Update of the
    item it names (a void a Remove), each review/approval signature a Context transaction
    carrying the Signature; every ItemData has its AuditRecord (signer, site, recorded_at,
    reason, SourceID = ledger position). The file is validated against the vendored schema
    before it appears at --out; --out is never overwritten.

    --json prints {"out", "version", "bytes", "sha256", "subjects", "item_data",
    "audit_records", "signatures", "provenance": {"trial_id", "ledger_id", "position",
    "root", "commits", "checkpoints_checked", "against_checkpoint", "sponsor_key"},
    "validated_against", "seconds"}.

    Example: trial-ledger export odm --db trial.db --out trial.xml --version 2.0 --json
    """
    from projections.exports.odm import export_odm  # noqa: PLC0415 - kept off --help's path

    if version not in VERSIONS:
        raise UsageError(f"--version {version}: not an ODM version written here; use 1.3.2 or 2.0")
    fresh_out(out)
    with (
        open_verified(db, against, sponsor_key, out) as source,
        progress_bar("export odm", source.position, enabled=True) as progress,
    ):
        result = export_odm(source, out, version, progress)
    if json_out:
        emit_json(result)
        return
    console.print(
        f"ODM {result['version']} written to {out}: {result['subjects']} subjects, "
        f"{result['item_data']:,} ItemData, {result['audit_records']:,} AuditRecords, "
        f"{result['signatures']:,} Signatures; {result['bytes']:,} bytes, sha256 "
        f"{result['sha256']}; ledger position {result['provenance']['position']}, root "
        f"{result['provenance']['root']}; valid against {result['validated_against']}",
        markup=False,
    )
