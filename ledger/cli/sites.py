"""The trial's site registry: ``sites add`` (signed by the sponsor) and ``sites list``.

Sites come from the trial's own registry, never from what a command line says: a key is
registered for a registered site (or ``*``, all sites, for a role that is not site-bound) and a
subject is screened only at a registered site; both are refused at write time and flagged by
``verify``. A site's label is neutral and pseudonymous ("Site 004"): no institution's name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ledger.cli.common import (
    DbOption,
    JsonFlag,
    PassphraseFileOption,
    console,
    emit_json,
    load_signer,
    parse_date,
)
from ledger.registry import RegisteredSite
from ledger.service import TrialLedger, site_registered, today

sites_app = typer.Typer(help="Register and list the trial's sites (registered by the sponsor).")


@sites_app.command("add")
def sites_add(
    db: DbOption,
    sponsor_key: Annotated[
        Path, typer.Option("--sponsor-key", help="The sponsor's encrypted private key file.")
    ],
    site: Annotated[str, typer.Option("--site", help="Three-digit site code, e.g. 004.")],
    label: Annotated[
        str, typer.Option("--label", help='Neutral, pseudonymous label, e.g. "Site 004".')
    ],
    reason: Annotated[
        str, typer.Option("--reason", help="Why (recorded in the ledger).")
    ] = "site activated for the trial",
    effective: Annotated[
        str | None,
        typer.Option("--date", help="Date the site joins the trial (YYYY-MM-DD, default today)."),
    ] = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Register a trial site (signed by the sponsor); a site is registered once.

    From the next position on, keys may be registered for the site and subjects screened at
    it. Refused (exit 2, nothing written): a code that is not three ASCII digits, a site
    already registered, a date after today or before the trial's creation.

    Example: trial-ledger sites add --db trial.db --sponsor-key sponsor.key --site 004
    --label "Site 004" --reason "fourth site activated"
    """
    on = parse_date(effective, "--date") if effective else today()
    site_registered(site, label, reason, on)  # refuse a malformed site before any key is read
    with TrialLedger.open(db) as ledger:
        sponsor = load_signer(sponsor_key, passphrase_file)
        ledger.register_site(sponsor, site, label, reason, on)
        stored = ledger.registry().sites[site]
    if json_out:
        emit_json({"action": "registered", **_row(stored)})
    else:
        console.print(
            f"Site {stored.site} ({stored.label}) registered at position {stored.registered_at}"
        )


def _row(s: RegisteredSite) -> dict[str, object]:
    return {
        "site": s.site,
        "label": s.label,
        "registered_at": s.registered_at,
        "effective_date": s.effective_date.isoformat(),
        "reason": s.reason,
    }


@sites_app.command("list")
def sites_list(db: DbOption, json_out: JsonFlag = False) -> None:
    """List the trial's registered sites, in site-code order.

    Example: trial-ledger sites list --db trial.db --json
    """
    with TrialLedger.open(db) as ledger:
        registry = ledger.registry()
    rows = [_row(s) for s in sorted(registry.sites.values(), key=lambda s: s.site)]
    if json_out:
        emit_json({"sites": rows})
        return
    table = Table("site", "label", "registered", "effective", "reason")
    for r in rows:
        table.add_row(
            str(r["site"]),
            str(r["label"]),
            str(r["registered_at"]),
            str(r["effective_date"]),
            str(r["reason"]),
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(sites_app, name="sites")
