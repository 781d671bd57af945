"""``keys``: register, rotate, revoke and list the people's signing keys (the sponsor signs)."""

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
from ledger.cli.key_files import new_key_file, public_for
from ledger.errors import UsageError
from ledger.events import ROLES, PersonKey
from ledger.integrity.signing import key_id
from ledger.service import TrialLedger, check_expiry, person_key, today

keys_app = typer.Typer(help="Register, rotate, revoke and list the people's signing keys.")

ReasonOption = Annotated[str, typer.Option("--reason", help="Why (recorded in the ledger).")]
SponsorKeyOption = Annotated[
    Path, typer.Option("--sponsor-key", help="The sponsor's encrypted private key file.")
]


@keys_app.command("generate")
def keys_generate(
    out: Annotated[
        Path, typer.Option("--out", help="Private key file to create (public at FILE.pub).")
    ],
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Generate your own key pair locally; give FILE.pub to the sponsor to register.

    Example: trial-ledger keys generate --out ~/.trial-ledger/dr-lee.key
    """
    signer = new_key_file(out, passphrase_file)
    if json_out:
        emit_json(
            {"key_id": signer.key_id, "private_key_file": str(out), "public_key_file": f"{out}.pub"}
        )
    else:
        console.print(f"Key {signer.key_id}: private {out} (0600), public {out}.pub")


@keys_app.command("add")
def keys_add(
    db: DbOption,
    sponsor_key: SponsorKeyOption,
    name: Annotated[str, typer.Option("--name", help="The person's printed name.")],
    role: Annotated[str, typer.Option("--role", help=f"One of: {', '.join(ROLES)}.")],
    site: Annotated[str, typer.Option("--site", help="Site code (e.g. 001), or * for all sites.")],
    reason: ReasonOption = "new trial staff",
    public_key: Annotated[
        Path | None, typer.Option("--public-key", help="The person's public key file.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Generate the person's key file here instead.")
    ] = None,
    expires: Annotated[
        str | None, typer.Option("--expires", help="Last day the key may sign (YYYY-MM-DD).")
    ] = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Register a person's key (signed by the sponsor): name, role and site it may sign for.

    Example: trial-ledger keys add --db trial.db --sponsor-key sponsor.key --name "Dr. A. Lee"
    --role investigator --site 001 --public-key dr-lee.key.pub
    """
    if role not in ROLES:
        raise UsageError(f"--role {role!r}: not a role; roles are {', '.join(ROLES)}")
    expires_on = parse_date(expires, "--expires") if expires else None
    check_expiry(expires_on, today(), "--expires")  # the rule register_key applies, named here
    placeholder = bytes(32)  # validate name, role and site before any key file is written
    person_key(placeholder, key_id(placeholder), name, role, site, expires_on)
    with TrialLedger.open(db) as ledger:
        sponsor = load_signer(sponsor_key, passphrase_file)
        with public_for(public_key, out, passphrase_file) as raw:
            key = person_key(raw, key_id(raw), name, role, site, expires_on)
            commit = ledger.register_key(sponsor, key, reason, today())
    _report_key("registered", key, commit.header.first_position, json_out)


def _report_key(action: str, key: PersonKey, position: int, json_out: bool) -> None:
    if json_out:
        emit_json({"action": action, "position": position, **key.model_dump(mode="json")})
    else:
        console.print(
            f"Key {key.key_id} of {key.printed_name} ({key.role}, site {key.site}) {action} "
            f"at position {position}"
        )


@keys_app.command("rotate")
def keys_rotate(
    db: DbOption,
    sponsor_key: SponsorKeyOption,
    key_id_: Annotated[str, typer.Option("--key-id", help="The key being replaced.")],
    reason: ReasonOption = "scheduled key rotation",
    public_key: Annotated[
        Path | None, typer.Option("--public-key", help="The new public key file.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Generate the new key file here instead.")
    ] = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Replace a person's key with a new one; the old one signs nothing after this position.

    Example: trial-ledger keys rotate --db trial.db --sponsor-key sponsor.key
    --key-id ed25519:0716597540ee... --out cole-2027.key --reason "annual rotation"
    """
    with TrialLedger.open(db) as ledger:
        sponsor = load_signer(sponsor_key, passphrase_file)
        old = ledger.registry().keys.get(key_id_)
        if old is None:
            raise UsageError(f"--key-id {key_id_}: no such key in the registry")
        with public_for(public_key, out, passphrase_file) as raw:
            new = person_key(
                raw,
                key_id(raw),
                old.key.printed_name,
                old.key.role,
                old.key.site,
                old.key.expires_on,
            )
            commit = ledger.rotate_key(sponsor, key_id_, new, reason, today())
    _report_key("rotated in", new, commit.header.first_position, json_out)


@keys_app.command("revoke")
def keys_revoke(
    db: DbOption,
    sponsor_key: SponsorKeyOption,
    key_id_: Annotated[str, typer.Option("--key-id", help="The key to revoke.")],
    reason: ReasonOption,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Revoke a key (lost, compromised, person left): it signs nothing after this position.

    Example: trial-ledger keys revoke --db trial.db --sponsor-key sponsor.key
    --key-id ed25519:2477827fafc8... --reason "left the institution"
    """
    with TrialLedger.open(db) as ledger:
        sponsor = load_signer(sponsor_key, passphrase_file)
        commit = ledger.revoke_key(sponsor, key_id_, reason, today())
    if json_out:
        emit_json(
            {"action": "revoked", "key_id": key_id_, "position": commit.header.first_position}
        )
    else:
        console.print(f"Key {key_id_} revoked at position {commit.header.first_position}")


@keys_app.command("list")
def keys_list(db: DbOption, json_out: JsonFlag = False) -> None:
    """List every key ever registered, with its person, role, site and status.

    Example: trial-ledger keys list --db trial.db --json
    """
    with TrialLedger.open(db) as ledger:
        registry = ledger.registry()
    rows = [
        {
            **k.key.model_dump(mode="json"),
            "registered_at": k.registered_at,
            "status": "active" if k.retired_at is None else k.retired_by,
            "retired_at": k.retired_at,
            "retired_reason": k.retired_reason,
        }
        for k in registry.keys.values()
    ]
    if json_out:
        emit_json({"keys": rows})
        return
    table = Table("key id", "printed name", "role", "site", "status", "registered", "expires")
    table.columns[0].overflow = "fold"
    for r in rows:
        status = r["status"] if r["retired_at"] is None else f"{r['status']} at {r['retired_at']}"
        table.add_row(
            r["key_id"],
            r["printed_name"],
            r["role"],
            r["site"],
            str(status),
            str(r["registered_at"]),
            str(r["expires_on"] or ""),
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
