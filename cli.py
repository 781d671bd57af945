"""trial-ledger command line: parse, call ledger/ and projections/, print, map errors to exits.

Exit codes: 0 success; 1 integrity failure (verify, verify-bundle); 2 refused input or usage
error (nothing was written). No traceback reaches a user: every LedgerError and every pydantic
validation error is printed as one message naming the field, the value and the rule. With
``--json``, a failure also prints one JSON object on stdout: ``{"error", "rule", "field",
"value", "exit_code"}`` (``rule``, ``field`` and ``value`` null when the message has none).
"""

from __future__ import annotations

import json
import os
import re
import sys
import traceback
from functools import cache
from typing import Annotated, Any

import typer
from pydantic import ValidationError as PydanticValidationError
from typer._click.core import Command
from typer._click.exceptions import ClickException

from ledger.cli import (
    audit,
    backup,
    bundles,
    foundation,
    keys,
    patient,
    proof,
    sites,
    summary,
    trial,
    verification,
)
from ledger.cli import projections as projection_commands
from ledger.cli.common import err_console
from ledger.cli.demo import command as demo
from ledger.errors import LedgerError, ValidationError, printable, refusal_from_pydantic

app = typer.Typer(
    name="trial-ledger",
    help="Signed, hash-chained, Merkle-checkpointed event ledger for trial NCT00635154.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415 - rare path

        try:
            found = version("trial-ledger")
        except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
            found = "unknown"
        typer.echo(f"trial-ledger {found}")
        raise typer.Exit(0)


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Signed, hash-chained, Merkle-checkpointed event ledger for trial NCT00635154."""


foundation.register(app)
keys.register(app)
sites.register(app)
verification.register(app)
proof.register(app)
bundles.register(app)
patient.register(app)
audit.register(app)
summary.register(app)
projection_commands.register(app)
trial.register(app)
demo.register(app)
backup.register(app)


def describe_validation_error(error: PydanticValidationError) -> str:
    """One part per refused field (the first few): where, what value, which rule. Values are
    shown as people write them (``missing``, ``1E+308``, text cut after 80 characters)."""
    shown_errors = 10
    items = error.errors(include_url=False)
    parts = [str(refusal_from_pydantic(item)) for item in items[:shown_errors]]
    if len(items) > shown_errors:
        parts.append(f"and {len(items) - shown_errors:,} more")
    return "; ".join(parts)


@cache
def command() -> Command:
    """The click command tree, built once per process (building it costs more than most
    commands' own work)."""
    return typer.main.get_command(app)


def run(argv: list[str]) -> int:
    """Run one command line in-process and return its exit code (used by tests and ``main``).

    Every failure ends here as one message on stderr and an exit code, never a traceback:
    2 for refused input, usage and storage faults (nothing written), 1 for integrity failures
    (including a ledger file SQLite reports damaged). ``TRIAL_LEDGER_TRACEBACK=1`` also prints
    the traceback of an unexpected error, for whoever debugs it."""

    def fail(message: str, code: int, error: Exception | None = None) -> int:
        err_console.print(f"error: {printable(message)}", markup=False, emoji=False)
        if "--json" in argv:
            sys.stdout.write(json.dumps(error_object(message, code, error), default=str) + "\n")
        return code

    try:
        # Without standalone mode a command's typer.Exit(code) comes back as the return value.
        returned = command().main(args=argv, standalone_mode=False, prog_name="trial-ledger")
    except LedgerError as e:
        return fail(e.diagnostics(), e.exit_code, e)
    except PydanticValidationError as e:
        return fail(describe_validation_error(e), 2)
    except typer.Abort:
        err_console.print("aborted", markup=False)
        return 2
    except ClickException as e:
        e.show()
        if "--json" in argv:
            sys.stdout.write(json.dumps(error_object(e.format_message(), 2, None)) + "\n")
        return 2
    except typer.Exit as e:
        return e.exit_code
    except KeyboardInterrupt:
        return fail("interrupted; an append in progress is rolled back whole", 2)
    except Exception as e:  # noqa: BLE001 - the last line of defence: no traceback reaches a user
        from ledger.storage_errors import storage_refusal  # noqa: PLC0415 - only on failure

        refusal = storage_refusal(e, argv)
        if refusal is not None:
            return fail(refusal.diagnostics(), refusal.exit_code)
        if os.environ.get("TRIAL_LEDGER_TRACEBACK") == "1":
            traceback.print_exc()
        return fail(
            f"internal error ({type(e).__name__}: {str(e)[:200]}); nothing is recorded unless "
            "the command said so (appends are all or nothing). Please report it; "
            "TRIAL_LEDGER_TRACEBACK=1 shows the traceback.",
            2,
        )
    return returned if isinstance(returned, int) else 0


_RULE = re.compile(r"\[([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+|ELIGIBILITY)\]|^([A-Z]+(?:-[A-Z0-9]+)+):")


def error_object(message: str, code: int, error: Exception | None) -> dict[str, Any]:
    """The JSON a ``--json`` command prints on stdout when it fails (see the module docstring):
    the rule is the first rule id the message cites."""
    found = _RULE.search(message)
    rule = (found.group(1) or found.group(2)) if found else None
    field = error.field if isinstance(error, ValidationError) else None
    value = error.value if isinstance(error, ValidationError) else None
    return {"error": message, "rule": rule, "field": field, "value": value, "exit_code": code}


def main() -> None:
    """Console-script entry point."""
    raise SystemExit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
