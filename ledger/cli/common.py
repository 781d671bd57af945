"""Shared pieces of the command line: output, passphrases, key files, progress.

Passphrases are never options (they would land in shell history). A key file's passphrase comes
from ``--passphrase-file`` when given, else from the environment variable
``TRIAL_LEDGER_PASSPHRASE``, else from a hidden prompt when a terminal is attached; without any
of these the command stops with exit 2 before anything is written.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from ledger.errors import UsageError

if TYPE_CHECKING:
    from ledger.integrity.signing import Signer
    from ledger.store.location import StoreTarget

BROKEN_PIPE_EXIT = 141
"""Exit status when whoever reads the output went away (``| head``): 128 + SIGPIPE, as a shell
reports a process that signal ended; not 1, which means an integrity failure here."""


def quiet_broken_pipe() -> None:
    """Stop writing to a closed pipe: the rest of the output goes nowhere, no traceback."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    raise SystemExit(BROKEN_PIPE_EXIT)


class _Console(Console):
    def on_broken_pipe(self) -> None:
        quiet_broken_pipe()


console = _Console(highlight=False, soft_wrap=True)
err_console = _Console(stderr=True, highlight=False, soft_wrap=True)

PASSPHRASE_ENV = "TRIAL_LEDGER_PASSPHRASE"  # noqa: S105 - the variable name, not a secret


def parse_db_option(text: str) -> StoreTarget:
    from ledger.store.location import parse_store  # noqa: PLC0415 - kept off --help's path

    try:
        target = parse_store(text)
    except UsageError as e:
        raise typer.BadParameter(str(e).split(": ", 1)[-1]) from None
    if isinstance(target, Path) and target.is_dir():
        raise typer.BadParameter(f"{text} is a folder (directory), not a ledger file")
    return target


_DB_OPTION = typer.Option(
    "--db",
    help="The ledger: a SQLite file, or postgresql://user@host:port/dbname "
    "(default: $TRIAL_LEDGER_DB).",
    parser=parse_db_option,
    envvar="TRIAL_LEDGER_DB",
    metavar="FILE|URL",
    show_default=False,
    show_envvar=False,
)
if TYPE_CHECKING:
    DbOption = Annotated[StoreTarget, _DB_OPTION]
else:  # Typer refuses a union annotation; the parser gives the file or the URL
    DbOption = Annotated[object, _DB_OPTION]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
KeyOption = Annotated[
    Path,
    typer.Option("--key", help="Your encrypted private key file (mode 0600).", dir_okay=False),
]
PassphraseFileOption = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help=f"File holding the key's passphrase (default: ${PASSPHRASE_ENV}, else a prompt).",
        dir_okay=False,
    ),
]


def read_passphrase(passphrase_file: Path | None, what: str = "key file") -> bytes:
    """The passphrase for ``what``. A passphrase file is held to the key files' mode rule
    (:func:`~ledger.integrity.signing.check_owner_only`): group or other access refuses it."""
    if passphrase_file is not None:
        from ledger.integrity.signing import check_owner_only  # noqa: PLC0415 - as load_signer

        try:
            fd = os.open(passphrase_file, os.O_RDONLY)
        except OSError as e:
            raise UsageError(f"--passphrase-file {passphrase_file}: {e.strerror}") from None
        with os.fdopen(fd, "rb") as handle:
            # The mode of the file as opened, so it cannot be swapped after the check.
            check_owner_only(
                passphrase_file,
                stat.S_IMODE(os.fstat(handle.fileno()).st_mode),
                "--passphrase-file",
                "a passphrase file is held to the key files' rule (no group or other access)",
            )
            try:
                text = handle.read().decode("utf-8").rstrip("\r\n")
            except OSError as e:
                raise UsageError(f"--passphrase-file {passphrase_file}: {e.strerror}") from None
            except UnicodeDecodeError:
                raise UsageError(
                    f"--passphrase-file {passphrase_file}: expected UTF-8 text"
                ) from None
        if not text:
            raise UsageError(f"--passphrase-file {passphrase_file}: the file is empty")
        return text.encode()
    env = os.environ.get(PASSPHRASE_ENV)
    if env:
        return env.encode()
    if sys.stdin is not None and sys.stdin.isatty():
        return str(typer.prompt(f"Passphrase for {what}", hide_input=True)).encode()
    raise UsageError(
        f"no passphrase for {what}: give --passphrase-file FILE or set ${PASSPHRASE_ENV}"
    )


def load_signer(key_file: Path, passphrase_file: Path | None) -> Signer:
    """The signer of an encrypted key file. The signing module (cryptography) is imported here,
    by the commands that sign, not by every command that imports this module."""
    from ledger.integrity.signing import Signer  # noqa: PLC0415 - only for the commands that sign

    passphrase = read_passphrase(passphrase_file, str(key_file))
    return Signer.from_key_file(key_file, passphrase)


def emit_json(document: Any) -> None:
    """One JSON document on stdout (stable key order, UTF-8)."""
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
EARLIEST_DATE, LATEST_DATE = date(1900, 1, 1), date(2199, 12, 31)


def parse_date(value: str, option: str) -> date:
    """A calendar date written YYYY-MM-DD (the extended form only), 1900-01-01..2199-12-31."""
    if not _ISO_DATE.fullmatch(value):
        raise UsageError(f"{option} {value!r}: expected a date as YYYY-MM-DD")
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} {value!r}: no such calendar day (YYYY-MM-DD)") from None
    if not EARLIEST_DATE <= parsed <= LATEST_DATE:
        raise UsageError(
            f"{option} {value!r}: a date between {EARLIEST_DATE} and {LATEST_DATE} is expected"
        )
    return parsed


def parse_instant(value: str, option: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{option} {value!r}: expected an ISO 8601 time such as 2026-11-23T10:00:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@contextmanager
def progress_bar(
    description: str, total: int | None, enabled: bool
) -> Iterator[Callable[[int], None]]:
    """Progress on stderr: a Rich bar on a terminal, else a plain line per tenth of the work."""
    if not enabled:
        yield lambda _done: None
        return
    if not err_console.is_terminal:
        step = max((total or 0) // 10, 1)
        marks: set[int] = set()

        def report(done: int) -> None:
            mark = done // step
            if total and mark not in marks:
                marks.add(mark)
                sys.stderr.write(f"{description}: {done:,}/{total:,}\n")

        yield report
        return
    from rich.progress import (  # noqa: PLC0415 - a bar only on a terminal, imported only there
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda done: progress.update(task, completed=done)


@contextmanager
def sigterm_interrupts(stop: threading.Event | None = None) -> Iterator[None]:
    """SIGTERM (what ``timeout``, CI and service managers send) stops the work inside as Ctrl-C
    does: ``stop`` is set, then KeyboardInterrupt is raised, so every ``finally`` runs. Only
    the main thread can take signals; elsewhere this changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: object) -> None:
        if stop is not None:
            stop.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
