"""Commands of the signed log itself: init, keys, verify, checkpoint, proofs, bundles."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ledger.bundle import BundleSource, export_bundle
from ledger.cli import sites
from ledger.cli.common import (
    DbOption,
    JsonFlag,
    PassphraseFileOption,
    console,
    emit_json,
    err_console,
    load_signer,
    parse_date,
    progress_bar,
    read_passphrase,
)
from ledger.errors import UsageError
from ledger.events import ROLES, PersonKey
from ledger.integrity.signing import (
    Signer,
    generate_private_key,
    key_id,
    public_key_bytes,
    read_public_key,
    write_private_key,
    write_public_key,
)
from ledger.proofs import consistency, inclusion
from ledger.protocol.parameters import PARAMETERS
from ledger.service import TrialLedger, check_expiry, person_key, today
from ledger.store import LedgerReader
from ledger.verify import VerifyReport, verify_ledger

keys_app = typer.Typer(help="Register, rotate, revoke and list the people's signing keys.")
proof_app = typer.Typer(help="RFC 9162 inclusion and consistency proofs (JSON as the vectors).")

ReasonOption = Annotated[str, typer.Option("--reason", help="Why (recorded in the ledger).")]
SponsorKeyOption = Annotated[
    Path, typer.Option("--sponsor-key", help="The sponsor's encrypted private key file.")
]


def _new_key_file(out: Path, passphrase_file: Path | None) -> Signer:
    """Generate a key pair: private key encrypted at ``out`` (0600), public key at ``out.pub``."""
    pub = out.with_name(out.name + ".pub")
    if out.exists() or pub.exists():
        raise UsageError(
            f"--out {out}: key file (or {pub.name}) already exists; refusing to overwrite"
        )
    passphrase = read_passphrase(passphrase_file, f"new key file {out}")
    private = generate_private_key()
    write_private_key(out, private, passphrase)
    write_public_key(pub, public_key_bytes(private))
    return Signer(private)


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
    if db.exists():
        raise UsageError(f"--db {db}: a file already exists there; refusing to overwrite")
    on = parse_date(effective, "--date") if effective else today()
    placeholder = bytes(32)  # validate the sponsor's name before any file is written
    person_key(placeholder, key_id(placeholder), sponsor_name, "sponsor", "*")
    created: list[Path] = []
    try:
        sponsor = _new_key_file(sponsor_key_out, passphrase_file)
        created += [sponsor_key_out, sponsor_key_out.with_name(sponsor_key_out.name + ".pub")]
        ledger_signer = _new_key_file(ledger_key_out, passphrase_file)
        created += [ledger_key_out, ledger_key_out.with_name(ledger_key_out.name + ".pub")]
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
        console.print(f"Created ledger {result['ledger_id']} in {db}")
        console.print(
            f"  sponsor key  {sponsor.key_id}  ({sponsor_key_out}, public {sponsor_key_out}.pub)"
        )
        console.print(f"  ledger key   {ledger_signer.key_id}  ({ledger_key_out})")


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
    signer = _new_key_file(out, passphrase_file)
    if json_out:
        emit_json(
            {"key_id": signer.key_id, "private_key_file": str(out), "public_key_file": f"{out}.pub"}
        )
    else:
        console.print(f"Key {signer.key_id}: private {out} (0600), public {out}.pub")


@contextmanager
def _public_for(
    public_key: Path | None, out: Path | None, passphrase_file: Path | None
) -> Iterator[bytes]:
    """The public key to register: read from --public-key, or a new key pair written at --out.

    A new key pair is removed again if the registration that follows is refused, so a refused
    command leaves nothing behind.
    """
    if (public_key is None) == (out is None):
        raise UsageError(
            "give exactly one of --public-key FILE (an existing key) or --out FILE (a new key)"
        )
    if public_key is not None:
        yield read_public_key(public_key)
        return
    assert out is not None
    raw = _new_key_file(out, passphrase_file).public_key
    try:
        yield raw
    except BaseException:
        out.unlink(missing_ok=True)
        out.with_name(out.name + ".pub").unlink(missing_ok=True)
        raise


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
        with _public_for(public_key, out, passphrase_file) as raw:
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
        with _public_for(public_key, out, passphrase_file) as raw:
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


def _print_report(
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
    note = _read_checkpoint_file(against) if against is not None else None
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
    _print_report(report, json_out, str(db))


def _read_checkpoint_file(path: Path) -> str:
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


@proof_app.command("inclusion")
def proof_inclusion(
    db: DbOption,
    position: Annotated[int, typer.Option("--position", help="Ledger position (from 1).")],
    tree_size: Annotated[
        int | None, typer.Option("--tree-size", help="Tree size (default: all).")
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Prove that the event at POSITION is in the tree.

    JSON: {leafIdx, treeSize, leafHash, root, proof}, hashes base64, leafIdx = position - 1.

    Example: trial-ledger proof inclusion --db trial.db --position 42 --json
    """
    with LedgerReader(db) as reader:
        doc = inclusion(reader, position, tree_size)
    if json_out:
        emit_json(doc)
    else:
        console.print(
            f"position {position} (leafIdx {doc['leafIdx']}) in tree of {doc['treeSize']}: "
            f"root {doc['root']}"
        )
        for step in doc["proof"]:
            console.print(f"  {step}")


@proof_app.command("consistency")
def proof_consistency(
    db: DbOption,
    from_: Annotated[int, typer.Option("--from", help="The earlier tree size.")],
    to: Annotated[
        int | None, typer.Option("--to", help="The later tree size (default: all).")
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Prove the tree of size --to extends the tree of size --from.

    JSON: {size1, size2, root1, root2, proof}, hashes base64.

    Example: trial-ledger proof consistency --db trial.db --from 1000 --to 2000 --json
    """
    with LedgerReader(db) as reader:
        doc = consistency(reader, from_, to)
    if json_out:
        emit_json(doc)
    else:
        console.print(f"{doc['size1']} -> {doc['size2']}: {doc['root1']} -> {doc['root2']}")
        for step in doc["proof"]:
            console.print(f"  {step}")


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
            _print_report(checked, json_out, str(db))
        with progress_bar("export", reader.size(), enabled=True) as progress:
            manifest = export_bundle(reader, out, progress)
    with progress_bar("verify bundle", int(manifest["events"]), enabled=True) as progress:
        report = verify_ledger(BundleSource(out), progress=progress)
    if not report.ok:
        _print_report(report, json_out, f"bundle {out}")
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
    _print_report(report, json_out, f"bundle {folder}", damaged)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.add_typer(keys_app, name="keys")
    sites.register(app)
    app.command("verify")(verify)
    app.command("checkpoint")(checkpoint)
    app.add_typer(proof_app, name="proof")
    app.command("export-bundle")(export_bundle_command)
    app.command("verify-bundle")(verify_bundle)
