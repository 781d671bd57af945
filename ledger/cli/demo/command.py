"""``trial-ledger demo``: a seeded, synthetic NCT00635154 ledger built by the recording commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from ledger.cli.common import (
    DbOption,
    JsonFlag,
    PassphraseFileOption,
    console,
    emit_json,
    progress_bar,
    read_passphrase,
)
from ledger.cli.demo.plan import subjects_in_plan
from ledger.errors import UsageError

if TYPE_CHECKING:
    from ledger.cli.demo.plan import DemoSummary
    from ledger.store.location import StoreTarget


def demo(
    db: DbOption,
    keys: Annotated[
        Path | None,
        typer.Option(
            "--keys", help="Folder for the demo staff's key files (default: beside --db)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same ledger content.")] = 282,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Build a synthetic NCT00635154 ledger (55 subjects, 3 sites), verify it, summarise it.

    Every subject is moved through the protocol by the same recording commands site staff use;
    daily doses come from the protocol's dosing calendar as monthly diaries. The staff's key
    files (encrypted with the passphrase) are written to --keys so you can go on recording.

    Example (passphrase from TRIAL_LEDGER_PASSPHRASE):
    trial-ledger demo --db demo-out/trial.db --keys demo-out/keys
    """
    if isinstance(db, Path):  # its folder is made with the key folder
        if db.exists():
            raise UsageError(f"--db {db}: a file already exists there; refusing to overwrite")
    else:
        from ledger.store import check_new_store  # noqa: PLC0415 - not for `demo --help`

        check_new_store(db)
    keys_dir = keys or (db.parent / "keys" if isinstance(db, Path) else Path("demo-keys"))
    if keys_dir.exists() and any(keys_dir.iterdir()):
        raise UsageError(f"--keys {keys_dir}: folder is not empty; refusing to overwrite key files")
    passphrase = read_passphrase(passphrase_file, "the demo's key files")
    # The builder imports the recorder and the whole domain: not for `demo --help`.
    from ledger.cli.demo.build import build_demo  # noqa: PLC0415 - heavy: only when run

    with progress_bar("demo subjects", subjects_in_plan(), enabled=True) as progress:
        summary = build_demo(db, keys_dir, seed=seed, passphrase=passphrase, progress=progress)
    document = summary.to_json()
    if json_out:
        emit_json(document)
        return
    _print_summary(summary, document, db, keys_dir)
    if not document["verify"]["ok"]:
        raise typer.Exit(1)


def _print_summary(
    summary: DemoSummary, document: dict[str, Any], db: StoreTarget, keys_dir: Path
) -> None:
    seed = summary.seed
    verify = document["verify"]
    table = Table("", "", title=f"NCT00635154 demo ledger (seed {seed})", show_header=False)
    table.columns[1].overflow = "fold"
    for label, value in (
        (
            "subjects screened / enrolled / treated",
            f"{summary.subjects_screened} / {summary.subjects_enrolled} / "
            f"{summary.subjects_treated}",
        ),
        ("events / signed commits", f"{summary.events:,} / {summary.commits:,}"),
        (
            "adverse events (serious)",
            f"{summary.adverse_events} ({summary.serious_adverse_events})",
        ),
        ("protocol deviations / corrections", f"{summary.deviations} / {summary.corrections}"),
        ("investigator vs rules disagreements", str(summary.disagreements)),
        ("verify", "OK" if verify["ok"] else f"FAILED at {verify['first_failure']}"),
        ("Merkle root", str(verify["root"])),
    ):
        table.add_row(label, value)
    console.print(table)
    courses = Table("course", "subjects", title="courses")
    for course, count in document["courses"].items():
        courses.add_row(course, str(count))
    console.print(courses)
    regimens = Table("current regimen", "subjects", title="where subjects are now")
    for regimen, count in document["current_regimens"].items():
        regimens.add_row(regimen, str(count))
    console.print(regimens)
    console.print(f"Ledger: {db}   keys: {keys_dir}   try: trial-ledger log --db {db} --limit 20")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
