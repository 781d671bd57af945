"""``projections rebuild|verify|status|catch-up|follow``, and what every read command shares:
the views.

Every read command (``patient``, ``audit-trail``, ``summary``) first brings the views
(``--views``, default ``<db>.views.sqlite`` beside a ledger file, the schema ``trial_views``
of a PostgreSQL ledger's database) up to date with the ledger, verifying what it consumes; a
ledger that fails verification stops it with exit 1 and nothing is built on it. Exit 2:
refused input (unknown subject, bad date). ``projections follow`` keeps the views current as
commits land.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli.common import (
    DbOption,
    JsonFlag,
    console,
    emit_json,
    err_console,
    parse_instant,
    progress_bar,
)
from ledger.errors import StorageError, VerificationError
from ledger.events import created_at_utc
from ledger.store import LedgerReader
from ledger.store.location import PostgresURL, StoreTarget
from projections.engine import CatchUpReport, FileViews, ProjectionEngine

projections_app = typer.Typer(help="Keep, rebuild and inspect the read models (views).")

ViewsOption = Annotated[
    Path | None,
    typer.Option(
        "--views",
        help="Views file (default: <db>.views.sqlite beside a ledger file; a PostgreSQL "
        "ledger's views are in the schema trial_views of its database).",
        dir_okay=False,
        show_default=False,
    ),
]
QUIET_BELOW = 10_000

ProveViewsFlag = Annotated[
    bool,
    typer.Option(
        "--prove-views/--trust-views",
        help="Prove the views equal a rebuild from the verified ledger before serving them "
        "(exit 1 if not; the default). --trust-views serves them as last proved (faster on "
        "large ledgers).",
    ),
]


def caught_up(reader: LedgerReader, views: Path | None) -> ProjectionEngine:
    """The engine over ``reader``, its views brought up to date (verified) first."""
    engine = ProjectionEngine(reader, views)
    behind = reader.size() - min((t.position for t in engine.status()), default=0)
    with progress_bar("projections", behind, enabled=behind >= QUIET_BELOW) as progress:
        engine.catch_up(lambda done, _total: progress(done))
    return engine


def views_word(engine: ProjectionEngine) -> str:
    """What messages call the views: the views file, or the views of a database schema."""
    return "the views file" if isinstance(engine.views, FileViews) else "the views"


def tracked(engine: ProjectionEngine) -> int:
    return min(t.position for t in engine.status())


def utc(value: str, option: str, *, end_of_day: bool = False) -> str:
    """An ISO time (or date) as the ledger records times: RFC 3339 UTC with microseconds."""
    instant = parse_instant(value, option).astimezone(UTC)
    if end_of_day and len(value) == 10:
        instant += timedelta(days=1, microseconds=-1)
    return created_at_utc(instant)


def proved(engine: ProjectionEngine) -> None:
    check = engine.verify_views()
    if not check.ok:
        d = check.first_difference or {}
        raise VerificationError(
            f"{views_word(engine)} differs from a rebuild from the verified ledger (table "
            f"{d.get('table')}{', row ' + str(d['row']) if d.get('row') is not None else ''}): "
            "refusing to "
            "serve it; `trial-ledger projections rebuild` replaces it"
        )


def views_note(engine: ProjectionEngine, json_out: bool) -> dict[str, Any] | None:
    """When the views were last proved (also said on stderr for a person)."""
    proof = engine.last_proof()
    served = views_word(engine)
    if not json_out:
        if proof is None:
            err_console.print(
                f"note: served from {served}, never proved against the ledger "
                "(`trial-ledger projections verify` proves it)",
                markup=False,
            )
        else:
            err_console.print(
                f"note: served from {served}, last proved equal to the ledger at "
                f"position {proof['position']:,} on {proof['proved_at']}",
                markup=False,
            )
    return proof


@projections_app.command("rebuild")
def projections_rebuild(
    db: DbOption, views: ViewsOption = None, json_out: JsonFlag = False
) -> None:
    """Rebuild every view from position 1 (verified), then swap it in atomically.

    Example: trial-ledger projections rebuild --db trial.db
    """
    with LedgerReader(db) as reader:
        engine = ProjectionEngine(reader, views)
        started = time.perf_counter()
        with progress_bar("rebuild", reader.size(), enabled=not json_out) as progress:
            report = engine.rebuild(lambda done, _total: progress(done))
        seconds = time.perf_counter() - started
    result = {
        "views": engine.views.name,
        **report.to_json(),
        "seconds": round(seconds, 3),
        "events_per_s": round(report.events / seconds) if seconds > 0 else None,
    }
    if json_out:
        emit_json(result)
    else:
        console.print(
            f"Rebuilt {result['events']:,} events into {result['views']} in {result['seconds']} s"
        )


@projections_app.command("verify")
def projections_verify(db: DbOption, views: ViewsOption = None, json_out: JsonFlag = False) -> None:
    """Prove the views: rebuild them from the verified ledger and compare row by row.

    Exit 0 if every view table equals a fresh rebuild at the same ledger position, 1 if a
    table differs (the first differing table and row are named) or the ledger fails
    verification. The views file is a cache that anyone who can write it can edit: this is
    the check that proves what it serves. Reads of the views say when it last passed.

    Example: trial-ledger projections verify --db trial.db --json
    """
    with LedgerReader(db) as reader:
        engine = ProjectionEngine(reader, views)
        with progress_bar("verify views", reader.size(), enabled=True) as progress:
            check = engine.verify_views(progress)
    if json_out:
        emit_json(check.to_json())
    elif check.ok:
        console.print(
            f"OK: views {check.views} equal a rebuild from the verified ledger at position "
            f"{check.position:,} (proved {check.proved_at})"
        )
    else:
        d = check.first_difference or {}
        err_console.print(
            f"FAILED: views {check.views} differ from a rebuild from the verified ledger at "
            f"position {check.position:,}: table {d.get('table')}"
            + (f" row {d['row']}" if d.get("row") is not None else "")
            + f": stored {_clip(d.get('stored'))}, expected {_clip(d.get('expected'))}. "
            f"{views_word(engine).capitalize()} was edited or damaged; `trial-ledger "
            "projections rebuild` replaces it.",
            markup=False,
        )
    if not check.ok:
        raise typer.Exit(1)


def _clip(value: object, limit: int = 240) -> str:
    text = "no row" if value is None else repr(value)
    return text if len(text) <= limit else f"{text[:limit]}…({len(text):,} characters)"


@projections_app.command("status")
def projections_status(db: DbOption, views: ViewsOption = None, json_out: JsonFlag = False) -> None:
    """Each projection's tracked position and leaf hash, and how far behind the ledger it is.

    Example: trial-ledger projections status --db trial.db --json
    """
    with LedgerReader(db) as reader:
        engine = ProjectionEngine(reader, views)
        head = reader.size()
        tracked = engine.status()
    rows = [t.to_json(head) for t in tracked]
    proof = engine.last_proof()
    if json_out:
        emit_json(
            {
                "views": engine.views.name,
                "ledger_size": head,
                "projections": rows,
                "views_proved": proof,
            }
        )
        return
    proved = (
        f"last proved at position {proof['position']:,} on {proof['proved_at']}"
        if proof
        else "never proved (`trial-ledger projections verify`)"
    )
    console.print(f"views {engine.views.name} (ledger size {head:,}; {proved})")
    for t in rows:
        console.print(
            f"  {t['projection']:<10} position {t['position']:>9,}  behind {t['behind']:>9,}  "
            f"leaf {t['leaf_hash'][:16] or '-'}"
        )


@projections_app.command("catch-up")
def projections_catch_up(
    db: DbOption, views: ViewsOption = None, json_out: JsonFlag = False
) -> None:
    """Verify what was appended since the views' tracked position and apply it.

    Exit 1 if the ledger fails verification in that segment (nothing of it is applied). The
    read commands do the same first; this brings the views up to date alone.

    Example: trial-ledger projections catch-up --db trial.db --json
    """
    with LedgerReader(db) as reader:
        engine = ProjectionEngine(reader, views)
        behind = reader.size() - tracked(engine)
        enabled = not json_out and behind >= QUIET_BELOW
        with progress_bar("catch-up", behind, enabled=enabled) as progress:
            report = engine.catch_up(lambda done, _total: progress(done))
    if json_out:
        emit_json({"views": engine.views.name, **report.to_json()})
    else:
        console.print(_applied_line(report))


IntervalOption = Annotated[
    float,
    typer.Option(
        "--interval",
        min=0.01,
        help="Seconds between catch-ups when no commit is notified (a ledger file: between polls).",
    ),
]
OnceFlag = Annotated[bool, typer.Option("--once", help="One verified catch-up, then exit.")]
JsonLinesFlag = Annotated[
    bool, typer.Option("--json", help="One JSON line on stdout per applied catch-up.")
]


@projections_app.command("follow")
def projections_follow(
    db: DbOption,
    views: ViewsOption = None,
    interval: IntervalOption = 1.0,
    once: OnceFlag = False,
    json_out: JsonLinesFlag = False,
) -> None:
    """Keep the views current as commits land, each segment verified before it is applied.

    On PostgreSQL it listens for the ledger's commit notifications and catches up from the
    tracked position on each one, and every --interval seconds without one (a missed
    notification loses nothing); on a ledger file it polls every --interval seconds. A
    segment that fails verification stops it with exit 1, nothing of it applied. A lost
    PostgreSQL server (restarted, network) is connected to again, after 1, 2, 4 ... 30 s,
    and followed from the tracked position. Ctrl-C or SIGTERM stops it (exit 0). --json:
    one line per applied catch-up (to_position, events, verified_events, ...).

    Example: trial-ledger projections follow --db postgresql://trial_reader@db/trial --json
    """

    def applied(report: CatchUpReport) -> None:
        if json_out:
            sys.stdout.write(json.dumps(report.to_json()) + "\n")
            sys.stdout.flush()
        else:
            console.print(_applied_line(report))

    stop = threading.Event()
    with contextlib.suppress(KeyboardInterrupt), _stopped_by_sigterm(stop):
        if once:
            with _engine(db, views) as engine:
                applied(engine.catch_up())
            return
        _follow_reconnecting(db, views, interval, applied, stop)


def _follow_reconnecting(
    db: StoreTarget,
    views: Path | None,
    interval: float,
    applied: Callable[[CatchUpReport], None],
    stop: threading.Event,
) -> None:
    """Follow until stopped; once it has connected, a lost PostgreSQL server is connected to
    again (a refusal at the start, a wrong URL or role, still exits 2)."""
    delay, connected = RECONNECT_FIRST, False
    while not stop.is_set():
        try:
            with _engine(db, views) as engine:
                connected = True
                engine.follow(stop, interval=interval, on_applied=applied)
        except (StorageError, ConnectionLost) as e:
            if not (connected and isinstance(db, PostgresURL)):
                raise
            err_console.print(f"warning: {e}; connecting again in {delay:.0f} s")
        else:
            return
        stop.wait(delay)
        delay = min(delay * 2, RECONNECT_MOST)


RECONNECT_FIRST, RECONNECT_MOST = 1.0, 30.0
"""Seconds a PostgreSQL follower waits before connecting again after losing the server
(doubling each time up to the most): it resumes from its tracked position."""


class ConnectionLost(Exception):
    """The PostgreSQL server went away under a follower (restarted, network)."""


@contextlib.contextmanager
def _engine(db: StoreTarget, views: Path | None) -> Iterator[ProjectionEngine]:
    """An engine on a fresh reader (no snapshot held: each catch-up reads the latest commit);
    a lost PostgreSQL connection comes out as :class:`ConnectionLost`."""
    reader = LedgerReader(db)
    engine = ProjectionEngine(reader, views)
    try:
        yield engine
    except Exception as e:
        if isinstance(db, PostgresURL) and type(e).__module__.startswith("psycopg"):
            import psycopg  # noqa: PLC0415 - PostgreSQL only

            if isinstance(e, psycopg.OperationalError):
                raise ConnectionLost(f"lost the connection to {db} ({str(e).strip()})") from None
        raise
    finally:
        with contextlib.suppress(Exception):
            engine.close()
        with contextlib.suppress(Exception):
            reader.close()


def _applied_line(report: CatchUpReport) -> str:
    if report.mode == "up-to-date":
        return f"Views up to date at position {report.to_position:,}"
    return (
        f"Applied {report.events:,} events ({report.mode}) up to position "
        f"{report.to_position:,}; {report.verified_events:,} verified"
    )


@contextlib.contextmanager
def _stopped_by_sigterm(stop: threading.Event) -> Iterator[None]:
    """SIGTERM sets ``stop`` while the block runs (main thread only), as Ctrl-C stops it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def register(app: typer.Typer) -> None:
    app.add_typer(projections_app, name="projections")
