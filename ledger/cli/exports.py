"""``export odm`` and ``export sdtm``: the verified ledger in CDISC formats."""

from __future__ import annotations

import typer

from ledger.cli.export_odm import odm
from ledger.cli.export_sdtm import sdtm

export_app = typer.Typer(
    help="Export the verified ledger as CDISC ODM (with its audit trail) or SDTM datasets."
)
export_app.command("odm")(odm)
export_app.command("sdtm")(sdtm)


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")
