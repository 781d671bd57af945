"""Commands about where a ledger is stored: ``copy`` (between a SQLite file and PostgreSQL)
and ``db init-roles`` (a PostgreSQL database set up with roles of least privilege)."""

from __future__ import annotations

import base64
from contextlib import ExitStack
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import typer

from ledger.cli.common import DbOption, JsonFlag, console, emit_json, parse_db_option, progress_bar
from ledger.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Callable

    from ledger.store.location import StoreTarget
    from ledger.store.pg_tables import Roles

db_app = typer.Typer(help="Set up a PostgreSQL database for a ledger: roles of least privilege.")

_FROM = typer.Option(
    "--from",
    help="The ledger to copy: a SQLite file or a postgresql:// URL.",
    parser=parse_db_option,
)
_TO = typer.Option(
    "--to",
    help="The new store: a file that does not exist, or a PostgreSQL database holding no ledger.",
    parser=parse_db_option,
)
if TYPE_CHECKING:
    FromOption = Annotated[StoreTarget, _FROM]
    ToOption = Annotated[StoreTarget, _TO]
else:
    FromOption = Annotated[object, _FROM]
    ToOption = Annotated[object, _TO]


class _Stages:
    """One progress bar per stage of the copy, on stderr."""

    LABELS: ClassVar[dict[str, str]] = {"copy": "copy rows"}

    def __init__(self, stack: ExitStack, enabled: bool) -> None:
        self.stack, self.enabled, self.stage = stack, enabled, ""
        self.inner = ExitStack()
        self.update: Callable[[int], None] = lambda _done: None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.inner.close()
            self.inner = self.stack.enter_context(ExitStack())
            self.stage = stage
            self.update = self.inner.enter_context(
                progress_bar(self.LABELS.get(stage, stage), total, self.enabled)
            )
        self.update(done)


def copy(source: FromOption, target: ToOption, json_out: JsonFlag = False) -> None:
    """Move a ledger to another store (SQLite file <-> PostgreSQL), proving its root unchanged.

    Verifies the source in one snapshot, writes its stored rows byte for byte (events with
    their leaves, signed commits, checkpoints: nothing is re-signed), verifies the copy and
    requires the same tree size and Merkle root. --to must hold no ledger: a file that does not
    exist, or a PostgreSQL database that is empty or set up by `db init-roles`. Exit 0 copied,
    1 the source or the copy does not verify, 2 refused.

    Example: trial-ledger copy --from trial.db --to postgresql://trial_writer@db.example/trial
    """
    from ledger.copy import copy_ledger  # noqa: PLC0415 - heavy: only when run

    with ExitStack() as stack:
        result = copy_ledger(source, target, progress=_Stages(stack, enabled=not json_out))
    if json_out:
        emit_json(result.to_json())
        return
    console.print(
        f"OK: {source} copied to {target} and verified: {result.events:,} events in "
        f"{result.commits:,} signed commits, {result.checkpoints} checkpoint(s); tree size "
        f"{result.tree_size:,}, root {base64.b64encode(result.root).decode()} unchanged "
        f"({result.seconds:.1f} s)"
    )


_ROLE_HELP = "Name of the {} role (created if missing)."


@db_app.command("init-roles")
def init_roles(
    db: DbOption,
    owner: Annotated[
        str, typer.Option("--owner", help=_ROLE_HELP.format("schema owner's (NOLOGIN)"))
    ] = "trial_owner",
    writer: Annotated[
        str, typer.Option("--writer", help=_ROLE_HELP.format("application (SELECT, INSERT)"))
    ] = "trial_writer",
    reader: Annotated[
        str, typer.Option("--reader", help=_ROLE_HELP.format("read-only (auditors, followers)"))
    ] = "trial_reader",
    print_sql: Annotated[
        bool, typer.Option("--print-sql", help="Print the SQL instead of running it.")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Set up a PostgreSQL database for a ledger with three roles of least privilege.

    Run once, as a superuser (or the database's owner with CREATEROLE). Creates the roles if
    missing; the schema trial_ledger owned by --owner with the ledger's tables, the triggers
    that refuse UPDATE, DELETE and TRUNCATE, and the append lock function; grants --writer
    SELECT and INSERT only (site clients, imports: `init` then runs as it), --reader SELECT only,
    plus the schema trial_views for its projections (followers). CONNECT and TEMP on the
    database are revoked from PUBLIC: only these roles (and its owner, superusers) connect.
    A ledger created by another role (init as a superuser) is handed to --owner. Refused: the
    same role twice, a built-in role, a login role that is a superuser, may create roles or
    is a member of --owner. Idempotent. Passwords are not set here: give the login roles
    theirs with ALTER ROLE, or use another authentication.

    Example: trial-ledger db init-roles --db postgresql://postgres@127.0.0.1/trial
    """
    from ledger.store.location import PostgresURL  # noqa: PLC0415
    from ledger.store.pg_tables import Roles, role_statements  # noqa: PLC0415

    if not isinstance(db, PostgresURL):
        raise UsageError(f"--db {db}: init-roles sets up a PostgreSQL database, not a file")
    roles = Roles(owner=owner, writer=writer, reader=reader)
    _check_roles(roles)
    statements = role_statements(roles, _quoted_database(db.dbname))
    if print_sql:
        typer.echo(";\n".join(statements) + ";")
        return
    _run_statements(db, statements, {"owner": owner, "writer": writer, "reader": reader})
    document: dict[str, Any] = {
        "db": str(db),
        "owner": owner,
        "writer": writer,
        "reader": reader,
        "schemas": ["trial_ledger", "trial_views"],
    }
    if json_out:
        emit_json(document)
        return
    console.print(
        f"OK: {db} set up: schema trial_ledger owned by {owner}; {writer} may SELECT and "
        f"INSERT; {reader} may SELECT (and keeps its projections in trial_views); only they "
        "(and the database's owner and superusers) may connect. Next, unless it holds a "
        f"ledger: trial-ledger init (or copy --to) --db <URL as {writer}>"
    )


def _check_roles(roles: Roles) -> None:
    """Refuse names that are not plain lower-case identifiers, built-in roles, and one role
    in two parts (it would hold both parts' rights)."""
    named = (("--owner", roles.owner), ("--writer", roles.writer), ("--reader", roles.reader))
    for option, name in named:
        _check_identifier(option, name)
    if len({name for _, name in named}) < 3:
        raise UsageError(
            f"--owner {roles.owner}, --writer {roles.writer}, --reader {roles.reader}: three "
            "different roles are needed (one role in two parts would hold both parts' rights)"
        )


def _check_identifier(option: str, name: str) -> None:
    if name in ("postgres", "public") or name.startswith("pg_"):
        raise UsageError(f"{option} {name!r}: a built-in role; name a role of the ledger's own")
    if not (name.isascii() and name.replace("_", "a").isalnum() and name[:1].isalpha()):
        raise UsageError(
            f"{option} {name!r}: a role name is letters, digits and _ (starting with a letter)"
        )
    if name != name.lower() or len(name) > 63:
        raise UsageError(f"{option} {name!r}: a role name is lower case, at most 63 characters")


def _quoted_database(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _run_statements(db: StoreTarget, statements: list[str], roles: dict[str, str]) -> None:
    from ledger.store.location import PostgresURL  # noqa: PLC0415
    from ledger.store.pg_reader import connect, pg_refusal  # noqa: PLC0415
    from ledger.store.pg_tables import ROLE_CHECKS  # noqa: PLC0415

    assert isinstance(db, PostgresURL)
    import psycopg  # noqa: PLC0415 - PostgreSQL only

    with connect(db, autocommit=False) as conn:
        try:
            for statement in statements:
                conn.execute(statement.encode())
            unsafe = conn.execute(ROLE_CHECKS.encode(), roles).fetchall()
        except psycopg.Error as e:
            conn.rollback()
            raise pg_refusal(e, db) from None
        if unsafe:
            conn.rollback()
            names = ", ".join(str(r[0]) for r in unsafe)
            raise UsageError(
                f"--db {db}: role {names} is a superuser, may create roles or bypass row "
                "security, or is a member of the owner: it would undo least privilege; nothing "
                "was changed (give it NOSUPERUSER NOCREATEROLE NOBYPASSRLS, or name another)"
            )
        conn.commit()


def register(app: typer.Typer) -> None:
    app.command("copy")(copy)
    app.add_typer(db_app, name="db")
