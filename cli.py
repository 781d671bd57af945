"""trial-ledger command line: parse, call ledger/ and projections/, print, map errors to exits.

Exit codes: 0 success; 1 integrity failure (verify, verify-bundle); 2 refused input or usage
error (nothing was written). No traceback reaches a user: every LedgerError and every pydantic
validation error is printed as one message naming the field, the value and the rule. With
``--json``, a failure also prints one JSON object on stdout: ``{"error", "rule", "field",
"value", "exit_code"}`` (``rule``, ``field`` and ``value`` null when the message has none).

The command tree is loaded lazily (:mod:`ledger.cli.command_tree`). :data:`COMMANDS` names
every command, the module that defines it (each module in ``ledger/cli`` has ``register(app)``)
and its short help: ``trial-ledger --help`` and shell completion read the table and import no
command module; ``trial-ledger <command>`` imports only the module of that command
(``tests/cli/test_command_table.py`` keeps the table equal to what the modules register).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import traceback
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, TypeGuard

import typer
from typer._click.core import Command
from typer._click.exceptions import ClickException

from ledger.cli.command_tree import LazyGroup, add_placeholders, finish
from ledger.cli.common import BROKEN_PIPE_EXIT, err_console
from ledger.errors import (
    LedgerError,
    ValidationError,
    printable,
    refusal_from_pydantic,
    rule_cited,
)

if TYPE_CHECKING:
    from pydantic import ValidationError as PydanticValidationError

_FOUNDATION = "ledger.cli.foundation"
_KEYS = "ledger.cli.keys"
_SITES = "ledger.cli.sites"
_VERIFICATION = "ledger.cli.verification"
_PROOF = "ledger.cli.proof"
_BUNDLES = "ledger.cli.bundles"
_BACKUP = "ledger.cli.backup"
_PATIENT = "ledger.cli.patient"
_AUDIT = "ledger.cli.audit"
_SUMMARY = "ledger.cli.summary"
_PROJECTIONS = "ledger.cli.projections"
_TRIAL = "ledger.cli.trial"
_DEMO = "ledger.cli.demo.command"
_STORES = "ledger.cli.stores"
_SERVE = "ledger.cli.serve"
_FOLLOW = "ledger.cli.follow_url"
_REMOTE = "ledger.cli.remote"
_ACCESS_LOG = "ledger.cli.access_log"
_EXPORTS = "ledger.cli.exports"
_PLOT = "ledger.cli.plot"
_REPORT = "ledger.cli.report"

COMMANDS: dict[str, tuple[str, str]] = {
    # command: (the module whose register(app) defines it, its short help: the first
    # paragraph of its help, on one line), in the order `trial-ledger --help` lists them
    "init": (
        _FOUNDATION,
        "Create a new ledger for NCT00635154 with the sponsor's root key and the checkpoint key.",
    ),
    "keys": (_KEYS, "Register, rotate, revoke and list the people's signing keys."),
    "sites": (_SITES, "Register and list the trial's sites (registered by the sponsor)."),
    "verify": (
        _VERIFICATION,
        "Verify every hash, link, signature, key authorisation, Merkle root and checkpoint.",
    ),
    "checkpoint": (
        _VERIFICATION,
        "Verify the ledger, then sign a checkpoint (C2SP signed note) of exactly what it proved.",
    ),
    "proof": (_PROOF, "RFC 9162 inclusion and consistency proofs (JSON as the vectors)."),
    "export-bundle": (
        _BUNDLES,
        "Export events, commits, checkpoints and the key registry for offline verification.",
    ),
    "verify-bundle": (
        _BUNDLES,
        "Verify an exported bundle offline, trusting nothing but the sponsor's public key.",
    ),
    "backup": (
        _BACKUP,
        "Copy a ledger, even while others append to it: a consistent, verified single file.",
    ),
    "copy": (
        _STORES,
        "Move a ledger to another store (SQLite file <-> PostgreSQL), proving its root unchanged.",
    ),
    "db": (_STORES, "Set up a PostgreSQL database for a ledger: roles of least privilege."),
    "screen": (_TRIAL, "Screen a subject at a site (the first event of every subject)."),
    "eligibility": (
        _TRIAL,
        "Assess eligibility (investigator): every criterion, its value, threshold and result.",
    ),
    "consent": (_TRIAL, "Record informed consent obtained (needed before enrolment)."),
    "enrol": (
        _TRIAL,
        "Enrol an eligible, consented subject (investigator); induction starts on "
        "--treatment-start.",
    ),
    "dose": (
        _TRIAL,
        "Record a dose given (refused if the regimen does not call for it, unless a deviation).",
    ),
    "missed-dose": (_TRIAL, "Record a dose the calendar called for that was missed or held."),
    "lab": (
        _TRIAL,
        "Record a lab result in its analyte's unit (wrong units and implausible values refused).",
    ),
    "assess": (
        _TRIAL,
        "Assess response (investigator): your category and the rule-derived one, side by side.",
    ),
    "progression": (
        _TRIAL,
        "Confirm progression (investigator); on treatment, moves to high-dose dexamethasone.",
    ),
    "advance": (_TRIAL, "Apply the regimen transitions the protocol makes due by --date."),
    "stop-treatment": (
        _TRIAL,
        "End study treatment early (toxicity, the physician's decision); follow-up starts.",
    ),
    "ae": (
        _TRIAL,
        "Report an adverse event (onset on --date); it is serious when a criterion is given.",
    ),
    "ae-resolve": (_TRIAL, "Record the resolution of a reported adverse event."),
    "follow-up": (_TRIAL, "Record a follow-up visit (after study treatment ended)."),
    "withdraw": (
        _TRIAL,
        "Record a withdrawal: of consent (off study), or with --treatment-only of treatment.",
    ),
    "off-study": (
        _TRIAL,
        "Take a subject off study (screen failure, follow-up complete, lost to follow-up).",
    ),
    "death": (
        _TRIAL,
        "Record a subject's death (investigator); only corrections and signatures may follow.",
    ),
    "correct": (
        _TRIAL,
        "Correct one field of an event; the original stays in the ledger and in every audit view.",
    ),
    "sign": (_TRIAL, "Sign a subject's records with a meaning (review, approval, responsibility)."),
    "import": (
        _TRIAL,
        "Append a whole JSON Lines file (a dosing diary, a lab transfer) as ONE signed commit.",
    ),
    "log": (
        _TRIAL,
        "List events with their clinical date, recorded time, signer, role and meaning.",
    ),
    "schema": (_TRIAL, "Print the JSON Schemas of the files trial-ledger reads."),
    "patient": (
        _PATIENT,
        "One patient's regimen, protocol month, next doses and visits, doses, AEs and responses.",
    ),
    "audit-trail": (
        _AUDIT,
        "Who did what, when and why: every event with signer, meaning, position and hash.",
    ),
    "summary": (
        _SUMMARY,
        "The trial's objectives, each with the subjects it counts and why others are excluded.",
    ),
    "projections": (_PROJECTIONS, "Keep, rebuild and inspect the read models (views)."),
    "serve": (
        _SERVE,
        "Serve the ledger over HTTP: the JSON API under /v1, its live feed, the monitor's pages.",
    ),
    "follow": (
        _FOLLOW,
        "Follow a served ledger into a local mirror, verifying every checkpoint and event.",
    ),
    "remote": (
        _REMOTE,
        "Record on a served ledger, signing each commit here with your own key; get a token.",
    ),
    "access-log": (
        _ACCESS_LOG,
        "List the reads of subject data by persons that the server recorded; verify the chain.",
    ),
    "export": (
        _EXPORTS,
        "Export the verified ledger as CDISC ODM (with its audit trail) or SDTM datasets.",
    ),
    "plot": (
        _PLOT,
        "Draw the trial's pictures (swimmer, waterfall, spider, Kaplan-Meier) from the ledger.",
    ),
    "report": (
        _REPORT,
        "Write the inspection report (HTML and PDF) from the verified ledger.",
    ),
    "demo": (
        _DEMO,
        "Build a synthetic NCT00635154 ledger (55 subjects, 3 sites), verify it, summarise it.",
    ),
}


class LazyCommands(LazyGroup):
    """The root group, loading :data:`COMMANDS` as they are used."""

    table = COMMANDS


app = typer.Typer(
    name="trial-ledger",
    cls=LazyCommands,
    help="Signed, hash-chained, Merkle-checkpointed event ledger for trial NCT00635154.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
add_placeholders(app, COMMANDS)


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


def describe_validation_error(error: PydanticValidationError) -> str:
    """One part per refused field (the first few): where, what value, which rule. Values are
    shown as people write them (``missing``, ``1E+308``, text cut after 80 characters)."""
    shown_errors = 10
    items = error.errors(include_url=False)
    parts = [str(refusal_from_pydantic(item)) for item in items[:shown_errors]]
    if len(items) > shown_errors:
        parts.append(f"and {len(items) - shown_errors:,} more")
    return "; ".join(parts)


def _is_pydantic_error(error: Exception) -> TypeGuard[PydanticValidationError]:
    """Whether ``error`` is pydantic's ValidationError, without importing pydantic for every
    command: a command that raised one has imported it."""
    core = sys.modules.get("pydantic_core")
    return core is not None and isinstance(error, core.ValidationError)


@cache
def command() -> Command:
    """The click command tree, built once per process (its commands are loaded on use)."""
    return finish(typer.main.get_command(app))  # not finish_tree: that would load them all


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
    except typer.Abort:
        err_console.print("aborted", markup=False)
        return 2
    except ClickException as e:
        e.show()
        if "--json" in argv:
            document = error_object(e.format_message(), 2, None)
            param = getattr(e, "param", None)  # a missing or refused option names itself
            if param is not None and getattr(param, "opts", None):
                document["field"] = param.opts[0]
            sys.stdout.write(json.dumps(document) + "\n")
        return 2
    except typer.Exit as e:
        return e.exit_code
    except KeyboardInterrupt:
        return fail("interrupted; an append in progress is rolled back whole", 2)
    except BrokenPipeError:  # whoever read the output went away (`| head`)
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE_EXIT
    except Exception as e:  # noqa: BLE001 - the last line of defence: no traceback reaches a user
        if _is_pydantic_error(e):  # pydantic is imported by the commands that raise it
            return fail(describe_validation_error(e), 2)
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


def error_object(message: str, code: int, error: Exception | None) -> dict[str, Any]:
    """The JSON a ``--json`` command prints on stdout when it fails (see the module docstring):
    the rule is the first rule id the message cites."""
    rule = rule_cited(message)
    field = error.field if isinstance(error, ValidationError) else None
    value = error.value if isinstance(error, ValidationError) else None
    return {"error": message, "rule": rule, "field": field, "value": value, "exit_code": code}


def main() -> None:
    """Console-script entry point (shell completion too: click's ``_TRIAL_LEDGER_COMPLETE``)."""
    raise SystemExit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
