"""``serve``: the ledger over HTTP (the /v1 API, its live feed and the monitor's pages)."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from ledger.cli.common import (
    DbOption,
    PassphraseFileOption,
    err_console,
    parse_db_option,
    read_passphrase,
)
from ledger.cli.projections import ViewsOption

if TYPE_CHECKING:
    from ledger.server.config import ServerConfig
    from ledger.store.location import StoreTarget

HostOption = Annotated[
    str, typer.Option("--host", help="Address to listen on (default: loopback only).")
]
PortOption = Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")]
RecordDbOption = Annotated[
    str | None,
    typer.Option(
        "--record-db",
        help="Where recording commands over HTTP append, when not through --db: on "
        "PostgreSQL the writer role's URL of the same database (--db the reader's).",
        metavar="URL",
        show_default=False,
    ),
]
AccessLogOption = Annotated[
    Path | None,
    typer.Option(
        "--access-log",
        help="Where reads of subjects by persons are recorded (default: "
        "<db>.access.sqlite beside a ledger file; the schema trial_access of a "
        "PostgreSQL ledger's database).",
        dir_okay=False,
        show_default=False,
    ),
]
CheckpointKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--checkpoint-key",
        help="The ledger key file: the server then signs a checkpoint of what it verified "
        "after new commits (at most every --checkpoint-every seconds).",
        dir_okay=False,
        show_default=False,
    ),
]
CheckpointEveryOption = Annotated[
    float, typer.Option("--checkpoint-every", min=0.1, help="Seconds between checkpoints.")
]
LogLevelOption = Annotated[
    str, typer.Option("--log-level", help="uvicorn's log level (warning, info, debug).")
]


def serve(
    db: DbOption,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8080,
    record_db: RecordDbOption = None,
    views: ViewsOption = None,
    access_log: AccessLogOption = None,
    checkpoint_key: CheckpointKeyOption = None,
    checkpoint_every: CheckpointEveryOption = 5.0,
    passphrase_file: PassphraseFileOption = None,
    log_level: LogLevelOption = "warning",
) -> None:
    """Serve the ledger over HTTP: the JSON API under /v1, its live feed, the monitor's pages.

    The OpenAPI document is at /v1/openapi.json, the pages at /. Every request is signed
    with a registered key (RFC 9421) or carries a token obtained by one; see the README's
    "Serving the ledger". On PostgreSQL, --db is the reader role's URL and --record-db the
    writer's.

    Example: trial-ledger serve --db trial.db --port 8080 --checkpoint-key ledger.key
    """
    import uvicorn  # noqa: PLC0415 - only this command needs the server

    from ledger.server.app import create_app  # noqa: PLC0415
    from ledger.server.checkpointer import unlock_checkpoint_key  # noqa: PLC0415

    config = _config(
        db,
        record_db,
        views,
        access_log,
        (checkpoint_key, checkpoint_every, passphrase_file),
    )
    _check_ledger(config.db)
    if config.record_db is not None:
        _check_ledger(config.record_db)
    unlock_checkpoint_key(config)  # a wrong key or passphrase: refused before listening
    app = create_app(config)
    err_console.print(
        f"Serving {db} on http://{host}:{port}/ (API /v1, OpenAPI /v1/openapi.json); Ctrl-C stops"
    )
    # uvicorn stops gracefully on SIGINT/SIGTERM, then raises the signal again: a stop that
    # was asked for ends the command with exit 0 (as `projections follow` does).
    asked = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=log_level,
            access_log=False,
            timeout_graceful_shutdown=5,
        )
    finally:
        for sig, handler in asked.items():
            signal.signal(sig, handler)


def _stopped(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def _check_ledger(target: StoreTarget) -> None:
    """Refuse to serve what is not an initialised ledger (rather than answer 5xx later)."""
    from ledger.errors import UsageError  # noqa: PLC0415
    from ledger.store import LedgerReader  # noqa: PLC0415

    with LedgerReader(target) as reader:
        if reader.meta("ledger_id") is None:
            raise UsageError(f"--db {target}: not an initialised trial ledger")


def _config(
    db: StoreTarget,
    record_db: str | None,
    views: Path | None,
    access_log: Path | None,
    checkpoints: tuple[Path | None, float, Path | None],
) -> ServerConfig:
    from ledger.server.config import ServerConfig  # noqa: PLC0415

    checkpoint_key, every, passphrase_file = checkpoints
    passphrase = None
    if checkpoint_key is not None:
        passphrase = read_passphrase(passphrase_file, "ledger key file")
    return ServerConfig(
        db=db,
        record_db=parse_db_option(record_db) if record_db is not None else None,
        views=views,
        access_log=access_log,
        checkpoint_key=checkpoint_key,
        checkpoint_passphrase=passphrase,
        checkpoint_every=every,
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
