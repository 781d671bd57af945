"""trial-ledger command line: parse, call ledger/ and projections/, print, map errors to exits.

Exit codes: 0 success; 1 integrity failure (verify, verify-bundle); 2 refused input or usage
error (nothing was written). No traceback reaches a user: every LedgerError and every pydantic
validation error is printed as one message naming the field, the value and the rule.
"""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError as PydanticValidationError
from typer._click.exceptions import ClickException

from ledger.commands import backup, demo, foundation, trial
from ledger.commands.common import err_console
from ledger.errors import LedgerError
from projections import commands as projection_commands

app = typer.Typer(
    name="trial-ledger",
    help="Signed, hash-chained, Merkle-checkpointed event ledger for trial NCT00635154.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
foundation.register(app)
projection_commands.register(app)
trial.register(app)
demo.register(app)
backup.register(app)


def describe_validation_error(error: PydanticValidationError) -> str:
    """One line per refused field: where, what value, which rule."""
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "input"
        lines.append(f"{where}={item.get('input')!r} refused: {item['msg']}")
    return "; ".join(lines)


def run(argv: list[str]) -> int:
    """Run one command line in-process and return its exit code (used by tests and ``main``)."""
    try:
        # Without standalone mode a command's typer.Exit(code) comes back as the return value.
        returned = app(args=argv, standalone_mode=False, prog_name="trial-ledger")
    except LedgerError as e:
        err_console.print(f"error: {e.diagnostics()}", markup=False)
        return e.exit_code
    except PydanticValidationError as e:
        err_console.print(f"error: {describe_validation_error(e)}", markup=False)
        return 2
    except typer.Abort:
        err_console.print("aborted", markup=False)
        return 2
    except ClickException as e:
        e.show()
        return 2
    except typer.Exit as e:
        return e.exit_code
    return returned if isinstance(returned, int) else 0


def main() -> None:
    """Console-script entry point."""
    raise SystemExit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
