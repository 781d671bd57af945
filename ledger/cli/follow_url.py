"""``follow URL --mirror DIR``: a served ledger followed into a local mirror, every checkpoint
and event verified here before it enters the mirror (:mod:`ledger.remote.follow`).

Exit codes: 0 synced (``--once``) or stopped (Ctrl-C, SIGTERM); 1 an alarm: something the
server served does not verify (one line naming the position or size and what differed; the
mirror stays at its last verified state); 2 refused (a bad option, a sponsor key other than
the mirror's, a refused key, a server that cannot be reached with ``--once``).

``--json``: one line per sync, ``{"tree_size", "root", "events", "commits",
"checkpoint_size", "server_tree_size", "seconds"}`` (see :class:`ledger.remote.follow.SyncResult`).
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer

from ledger.cli.common import (
    KeyOption,
    PassphraseFileOption,
    console,
    err_console,
    load_signer,
    progress_bar,
    sigterm_interrupts,
)
from ledger.errors import UsageError

if TYPE_CHECKING:
    from ledger.integrity.signing import Signer
    from ledger.remote.follow import SyncResult

_LABELS = {"fetch": "follow: fetch events", "verify": "follow: verify"}
_PROGRESS_FROM = 5_000
"""Events a sync must bring before a terminal shows its progress."""


class _TerminalProgress:
    """A progress bar per stage of a long sync, on a terminal only."""

    def __init__(self) -> None:
        self.stage = ""
        self.stack = ExitStack()
        self.update: Callable[[int], None] = lambda _done: None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.stack.close()
            self.stage = stage
            enabled = total >= _PROGRESS_FROM
            self.update = self.stack.enter_context(
                progress_bar(_LABELS.get(stage, stage), total, enabled)
            )
        self.update(done)
        if stage == "verify" and done >= total:
            self.close()

    def close(self) -> None:
        self.stack.close()
        self.stage = ""


def _checked_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"URL {url!r} refused: expected the served ledger's base URL, "
            "http://HOST:PORT or https://HOST (as `trial-ledger serve` prints it)"
        )
    if parts.query or parts.fragment:
        raise UsageError(f"URL {url!r} refused: a base URL has no query or fragment")
    return url.rstrip("/")


UrlArgument = Annotated[
    str, typer.Argument(help="The served ledger's base URL (http://127.0.0.1:8080).")
]
MirrorOption = Annotated[
    Path,
    typer.Option(
        "--mirror",
        help="Folder of the mirror: DIR/trial.db is a normal ledger file "
        "(created on the first sync; its parent must exist).",
        file_okay=False,
        show_default=False,
    ),
]
SponsorKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--sponsor-key",
        help="The sponsor's published public key: required on the first sync, remembered "
        "by the mirror (a different one is refused later).",
        dir_okay=False,
        show_default=False,
    ),
]
OnceFlag = Annotated[bool, typer.Option("--once", help="Sync to the latest checkpoint, then exit.")]
IntervalOption = Annotated[
    float,
    typer.Option("--interval", min=0.1, help="Seconds between looks when the server has no feed."),
]
JsonLinesFlag = Annotated[bool, typer.Option("--json", help="One JSON line on stdout per sync.")]


def follow(
    url: UrlArgument,
    mirror: MirrorOption,
    key: KeyOption,
    sponsor_key: SponsorKeyOption = None,
    passphrase_file: PassphraseFileOption = None,
    once: OnceFlag = False,
    interval: IntervalOption = 1.0,
    json_out: JsonLinesFlag = False,
) -> None:
    """Follow a served ledger into a local mirror, verifying every checkpoint and event.

    Each sync fetches the server's latest signed checkpoint and checks it (signed by the
    ledger key that the genesis rooted in --sponsor-key names, not smaller than the mirror,
    consistent with it), fetches the events and commits after the mirror up to it, and
    proves them with the ledger's own verifier (leaves, links, commit roots, signatures under
    the key registry, the whole tree's root equal to the checkpoint's) before appending them
    to DIR/trial.db in one transaction. Requests are signed with --key (your registered key;
    it never leaves this machine). Without --once it keeps following the server's feed,
    reconnecting after 1 ... 30 s when the server is away. An alarm (exit 1) names the
    position or size and what differed; the mirror stays as last verified. `trial-ledger
    verify --db DIR/trial.db --sponsor-key PUB` accepts the mirror.

    Example: trial-ledger follow http://127.0.0.1:8080 --mirror mirror --key stats.key
    --sponsor-key sponsor.key.pub --once
    """
    from ledger.integrity.signing import read_public_key  # noqa: PLC0415

    base = _checked_url(url)
    sponsor = read_public_key(sponsor_key) if sponsor_key is not None else None
    signer = load_signer(key, passphrase_file)
    progress = _TerminalProgress() if err_console.is_terminal else None

    def report(result: SyncResult) -> None:
        if progress is not None:
            progress.close()
        if json_out:
            sys.stdout.write(json.dumps(result.to_json()) + "\n")
            sys.stdout.flush()
        else:
            console.print(_line(mirror, result))

    _run(base, mirror, signer, sponsor, once, interval, report, progress)


def _run(
    base: str,
    mirror: Path,
    signer: Signer,
    sponsor: bytes | None,
    once: bool,
    interval: float,
    report: Callable[[SyncResult], None],
    progress: _TerminalProgress | None,
) -> None:
    import httpx  # noqa: PLC0415 - only this command talks HTTP

    from ledger.remote.auth import SignedRequests  # noqa: PLC0415
    from ledger.remote.mirror import Mirror  # noqa: PLC0415
    from ledger.remote.wire import LogClient  # noqa: PLC0415

    with httpx.Client(base_url=base, auth=SignedRequests(signer), timeout=30.0) as http:
        client, target = LogClient(http), Mirror(mirror)
        if once:
            from ledger.remote.follow import sync  # noqa: PLC0415

            report(sync(client, target, sponsor, progress=progress))
            return
        from ledger.remote.live import follow_live  # noqa: PLC0415

        stop = threading.Event()
        with contextlib.suppress(KeyboardInterrupt), sigterm_interrupts(stop):
            follow_live(
                client,
                target,
                sponsor,
                stop,
                on_sync=report,
                on_warning=lambda text: err_console.print(f"warning: {text}", markup=False),
                progress=progress,
                interval=interval,
            )


def _line(mirror: Path, result: SyncResult) -> str:
    import base64  # noqa: PLC0415

    root = base64.b64encode(result.root).decode()
    where = mirror / "trial.db"
    if result.events == 0:
        return f"Mirror {where} up to date at tree size {result.tree_size:,}, root {root}"
    return (
        f"Mirror {where}: {result.events:,} new events in {result.commits:,} commits verified "
        f"against the checkpoint of tree size {result.checkpoint_size:,}; root {root} "
        f"({result.seconds:.2f} s)"
    )


def register(app: typer.Typer) -> None:
    app.command("follow")(follow)
