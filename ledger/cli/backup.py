"""The backup command: a consistent, verified, single-file copy of a live ledger."""

from __future__ import annotations

import base64
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, ClassVar

import typer

from ledger.cli.common import DbOption, JsonFlag, console, emit_json, progress_bar
from ledger.errors import UsageError


class _StagedProgress:
    """One progress bar per stage (copy pages, then verify the copy), on stderr, shown only for
    a ledger larger than one step of pages."""

    LABELS: ClassVar[dict[str, str]] = {"copy": "backup: copy pages", "verify": "backup: verify"}

    def __init__(self, stack: ExitStack, pages_per_step: int) -> None:
        self.stack = stack
        self.pages_per_step = pages_per_step
        self.enabled = False
        self.stage = ""
        self.stage_stack = ExitStack()
        self.update: Callable[[int], None] = lambda _done: None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            if stage == "copy":
                self.enabled = total > self.pages_per_step
            self.stage_stack.close()
            self.stage_stack = self.stack.enter_context(ExitStack())
            self.stage = stage
            self.update = self.stage_stack.enter_context(
                progress_bar(self.LABELS.get(stage, stage), total, self.enabled)
            )
        self.update(done)


def backup(
    db: DbOption,
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="The copy to create (must not exist).", dir_okay=False, show_default=False
        ),
    ],
    pages_per_step: Annotated[
        int,
        typer.Option(
            "--pages-per-step",
            help="Database pages copied per step; progress is shown between steps.",
            min=1,
        ),
    ] = 1024,  # ledger.backup.PAGES_PER_STEP (a test keeps them equal; imported lazily)
    json_out: JsonFlag = False,
) -> None:
    """Copy a ledger, even while others append to it: a consistent, verified single file.

    Uses SQLite's online backup API on one read snapshot (never a plain file copy, which
    silently drops commits still in the -wal file), verifies the copy like `verify`, and only
    then creates --out (never overwritten; nothing is left there on failure). The copy is one
    self-contained file (no -wal/-shm). Prints the events, commits, tree size and root copied:
    the root `verify --db` gives for the same tree size. Exit 0 copied, 1 the copy does not
    verify, 2 refused (--out exists, --db not a ledger).

    Example: trial-ledger backup --db trial.db --out backups/trial-2026-11-23.db --json
    """
    if str(out).startswith(("postgresql:/", "postgres:/")):
        raise UsageError(
            "--out: backup writes a file; to move a ledger into PostgreSQL use "
            "`trial-ledger copy --from ... --to postgresql://...`"
        )
    with ExitStack() as stack:
        progress = _StagedProgress(stack, pages_per_step)
        from ledger.backup import backup_ledger  # noqa: PLC0415 - heavy: only when run

        result = backup_ledger(db, out, pages_per_step=pages_per_step, progress=progress)
    if json_out:
        emit_json(result.to_json())
        return
    console.print(
        f"OK: {db} copied to {out} and verified: {result.events:,} events in "
        f"{result.commits:,} signed commits; tree size {result.tree_size:,}, "
        f"root {base64.b64encode(result.root).decode()} ({result.seconds:.1f} s)"
    )


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
