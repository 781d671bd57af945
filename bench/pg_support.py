"""Support for ``bench.bench_pg``: the two stores on one cluster, and writer processes.

* The ledger's own store (:class:`~ledger.service.TrialLedger` on PostgreSQL: signed,
  hash-chained commits) and the baseline, eventsourcing's stock ``PostgresApplicationRecorder``
  (:class:`StockStore`, same mapper, same events, unsigned), each in its own database of the
  same throwaway cluster.
* :class:`WriterPool`: writer processes forked once (no connection is open in the parent when
  they fork), each with its own connections to both stores and its own subjects (streams), so
  concurrent writers never race on an originator version. For a measurement the parent has
  each writer generate its events (outside the timing), then starts them together on one
  side at a common instant; the same events then go to the other side. The order of the two
  sides alternates from round to round, so machine noise hits both alike.
"""

from __future__ import annotations

import contextlib
import cProfile
import hashlib
import io
import multiprocessing
import os
import pstats
import re
import signal
import statistics
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.application import Application
from eventsourcing.persistence import Mapper

from bench.bench_log import dose_batches
from ledger.errors import ConcurrencyError
from ledger.events import DoseAdministered
from ledger.integrity.signing import Signer
from ledger.service import TrialLedger
from ledger.store import LedgerMapper
from ledger.store.location import PostgresURL, parse_store
from tests.support import Cast

OURS = "ours"
STOCK = "stock"
STOCK_SCHEMA = "es_stock"
"""The stock recorder's own schema (in its own database)."""
START_DELAY = 0.3
"""Seconds between telling the writers to start and the common instant they start at."""
REPLY_TIMEOUT = 900.0
RETRIES = 3
"""Appends of ours retried after a ConcurrencyError (none expected: each writer its own streams)."""
SUBJECTS_PER_WRITER = 2


def signer_for(label: str) -> Signer:
    """A throwaway key derived from ``label``: the same in the parent and every writer."""
    secret = hashlib.sha256(f"trial-ledger bench_pg {label}".encode()).digest()
    return Signer(Ed25519PrivateKey.from_private_bytes(secret))


def bench_cast() -> Cast:
    labels = ("sponsor", "ledger", "investigator", "coordinator", "coord2", "monitor", "auditor")
    return Cast(*(signer_for(label) for label in labels))


def writer_subjects(writer: int) -> list[str]:
    first = 100 + SUBJECTS_PER_WRITER * writer
    return [f"MC0282-001-{first + i:03d}" for i in range(SUBJECTS_PER_WRITER)]


class StockStore(Application[UUID]):
    """Baseline: eventsourcing's stock PostgreSQL recorder, same events, same mapper, unsigned."""

    name = "PlainBaseline"

    def construct_mapper(self) -> Mapper[UUID]:
        return LedgerMapper()


def stock_env(url: str, *, create: bool = False) -> dict[str, str]:
    """eventsourcing's own PostgreSQL persistence (``POSTGRES_ENABLE_DB_FUNCTIONS`` unset:
    its insert takes ``LOCK TABLE ... IN EXCLUSIVE MODE``, as ours does); the tables are
    created once, by the parent (``create``), not by writers starting together."""
    p = PostgresURL.parse(url).params
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": p["dbname"],
        "POSTGRES_HOST": p.get("host", "127.0.0.1"),
        "POSTGRES_PORT": p.get("port", "5432"),
        "POSTGRES_USER": p.get("user", "postgres"),
        "POSTGRES_PASSWORD": "",
        "POSTGRES_SCHEMA": STOCK_SCHEMA,
        "POSTGRES_POOL_SIZE": "1",  # one connection per writer, as ours
        "CREATE_TABLE": "y" if create else "n",
    }
    prefix = StockStore.name.upper() + "_"
    return {**env, **{prefix + k: v for k, v in env.items()}}


@dataclass(frozen=True)
class WriterSpec:
    index: int
    ours_url: str
    stock_url: str


@dataclass
class Run:
    """One side's run: ``writers`` processes started together at one instant."""

    side: str
    writers: int
    events: int
    commits: int
    seconds: float
    retries: int

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds

    @property
    def commits_per_s(self) -> float:
        return self.commits / self.seconds


@dataclass
class Comparison:
    """Rounds of both sides alternated: the same workload, the same events."""

    writers: int
    batch: int
    runs: dict[str, list[Run]] = field(default_factory=lambda: {OURS: [], STOCK: []})

    def median(self, side: str, per: str = "events") -> float:
        runs = self.runs[side]
        rates = [r.events_per_s if per == "events" else r.commits_per_s for r in runs]
        return statistics.median(rates)

    def ratio(self) -> float:
        """Median over rounds of ours/stock measured back to back in that round."""
        pairs = zip(self.runs[OURS], self.runs[STOCK], strict=True)
        return statistics.median(o.events_per_s / s.events_per_s for o, s in pairs)

    def retries(self) -> int:
        return sum(r.retries for r in self.runs[OURS])

    def to_json(self) -> dict[str, Any]:
        return {
            "writers": self.writers,
            "batch": self.batch,
            "ours_events_per_s": [round(r.events_per_s) for r in self.runs[OURS]],
            "stock_events_per_s": [round(r.events_per_s) for r in self.runs[STOCK]],
            "ours_median": round(self.median(OURS)),
            "stock_median": round(self.median(STOCK)),
            "ratio_median": round(self.ratio(), 3),
            "ours_retries": self.retries(),
        }


def _append_ours(ledger: TrialLedger, signer: Signer, events: list[DoseAdministered]) -> int:
    for attempt in range(RETRIES + 1):
        try:
            ledger.append(signer, events)
        except ConcurrencyError:
            if attempt == RETRIES:
                raise
        else:
            return attempt
    return RETRIES  # pragma: no cover - the loop returns or raises


def _timed(
    ledger: TrialLedger,
    stock: StockStore,
    side: str,
    pending: list[list[DoseAdministered]],
    start_at: float,
) -> tuple[str, int, int, float, int]:
    signer = signer_for("coordinator")
    delay = start_at - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    events = retries = 0
    for batch in pending:
        if side == OURS:
            retries += _append_ours(ledger, signer, batch)
        else:
            stock.save(*batch)
        events += len(batch)
    return ("done", events, len(pending), time.monotonic(), retries)


SPLITS: dict[str, list[tuple[str, str, str, str]]] = {
    OURS: [
        ("whole append (TrialLedger.append)", "ledger/service.py", "append", ""),
        ("BEGIN", "psycopg/transaction.py", "__enter__", ""),
        ("wait for the table lock", "psycopg/cursor.py", "execute", "insert_events"),
        ("under the lock: _chain", "ledger/store/chaining.py", "_chain", ""),
        ("  head read", "ledger/store/chaining.py", "_read_head", ""),
        ("  tip re-proof", "ledger/store/chaining.py", "_check_tip", ""),
        ("  leaves + INSERT rows", "ledger/store/chaining.py", "_write_events", ""),
        ("  INSERT commit row", "ledger/store/chaining.py", "_write_commit", ""),
        ("statements after the lock (incl. notify)", "ledger/store/pg_recorder.py", "execute", ""),
        ("COMMIT (WAL flush)", "psycopg/transaction.py", "__exit__", ""),
    ],
    STOCK: [
        ("whole save (Application.save)", "eventsourcing/application.py", "save", ""),
        ("BEGIN..INSERT pipelined, lock wait incl.", "psycopg/_pipeline.py", "sync", ""),
        ("COMMIT (pipeline exit, WAL flush)", "psycopg/_pipeline.py", "__exit__", ""),
    ],
}
"""What a profiled run reports per commit: (label, file, function, calling function)."""
PROFILED = "ledger/|psycopg/|eventsourcing/(application|persistence|postgres)"
PROFILE_LINES = 16
_LIB_PATH = re.compile(r"/\S*/(?:site-packages|python3\.\d+)/")


def top_lines(stats: pstats.Stats, out: io.StringIO, order: str, *restrict: Any) -> list[str]:
    """The first ``PROFILE_LINES`` lines of ``stats`` by ``order``, paths shortened."""
    stats.sort_stats(order).print_stats(*restrict, PROFILE_LINES)
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if "ncalls" in ln)
    here = str(Path.cwd()) + "/"
    return [_LIB_PATH.sub("", ln).replace(here, "") for ln in lines[start:]]


def _cumtime(raw: dict[Any, Any], where: str, name: str, caller: str) -> tuple[float, int]:
    """Cumulative seconds and calls of ``where:name`` (only as called from ``caller``)."""
    seconds, calls = 0.0, 0
    for (file, _, func), (_, ncalls, _, cum, callers) in raw.items():
        if not file.endswith(where) or func != name:
            continue
        if not caller:
            seconds, calls = seconds + cum, calls + ncalls
            continue
        for (_, _, caller_func), entry in callers.items():
            if caller_func == caller:
                seconds, calls = seconds + entry[3], calls + entry[1]
    return seconds, calls


def _profile_report(profile: cProfile.Profile, side: str, commits: int) -> dict[str, Any]:
    """Per commit: milliseconds and calls of each of ``SPLITS``; and the top lines."""
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    split = []
    for label, where, name, caller in SPLITS[side]:
        seconds, calls = _cumtime(raw, where, name, caller)
        split.append((label, 1000 * seconds / commits, calls / commits))
    return {"split": split, "top": top_lines(stats, out, "cumtime", PROFILED)}


def _run(
    ledger: TrialLedger,
    stock: StockStore,
    message: tuple[Any, ...],
    pending: list[list[DoseAdministered]],
) -> tuple[Any, ...]:
    _, side, start_at, profiled = message
    if not profiled:
        return (*_timed(ledger, stock, side, pending, start_at), None)
    profile = cProfile.Profile()
    profile.enable()
    reply = _timed(ledger, stock, side, pending, start_at)
    profile.disable()
    return (*reply, _profile_report(profile, side, len(pending)))


def _serve(conn: Connection, spec: WriterSpec) -> None:
    ledger = TrialLedger.open(parse_store(spec.ours_url))
    stock = StockStore(env=stock_env(spec.stock_url))
    versions = dict.fromkeys(writer_subjects(spec.index), 2)
    pending: list[list[DoseAdministered]] = []
    try:
        ledger.registry()  # proved once, as any writer does before its first append
        conn.send(("ready",))
        while True:
            message = conn.recv()
            if message[0] == "stop":
                return
            if message[0] == "prepare":
                _, batch, commits = message
                pending = list(dose_batches(batch, batch * commits, versions))
                conn.send(("ready",))
            elif message[0] == "run":
                conn.send(_run(ledger, stock, message, pending))
    finally:
        ledger.close()
        stock.factory.close()


def _writer_main(conn: Connection, spec: WriterSpec) -> None:
    """The body of a writer process: answers the parent's messages until told to stop."""
    try:
        _serve(conn, spec)
    except BaseException as error:
        conn.send(("error", f"writer {spec.index}: {type(error).__name__}: {error}"))
        raise


class WriterPool:
    """Writer processes forked once; see the module docstring."""

    def __init__(self, size: int, ours_url: str, stock_url: str) -> None:
        context = multiprocessing.get_context("fork")
        self.processes: list[BaseProcess] = []
        self.conns: list[Connection] = []
        for index in range(size):
            parent_end, child_end = context.Pipe()
            spec = WriterSpec(index, ours_url, stock_url)
            process = context.Process(target=_writer_main, args=(child_end, spec), daemon=True)
            process.start()
            child_end.close()
            self.processes.append(process)
            self.conns.append(parent_end)
        self._replies(size)

    def _replies(self, writers: int) -> list[tuple[Any, ...]]:
        replies = []
        for conn in self.conns[:writers]:
            if not conn.poll(REPLY_TIMEOUT):
                raise RuntimeError("a writer did not answer in time")
            reply = conn.recv()
            if reply[0] == "error":
                raise RuntimeError(reply[1])
            replies.append(reply)
        return replies

    def run(self, side: str, writers: int, *, profile: bool = False) -> tuple[Any, ...]:
        """The prepared events of the first ``writers`` writers, all started at one instant:
        (events, commits, seconds from that instant to the last writer's end, retries, and
        with ``profile`` the profile of writer 0)."""
        start_at = time.monotonic() + START_DELAY
        for n, conn in enumerate(self.conns[:writers]):
            conn.send(("run", side, start_at, profile and n == 0))
        replies = self._replies(writers)
        end = max(r[3] for r in replies)
        return (
            sum(r[1] for r in replies),
            sum(r[2] for r in replies),
            end - start_at,
            sum(r[4] for r in replies),
            replies[0][5],
        )

    def compare(self, writers: int, batch: int, commits: int, rounds: int) -> Comparison:
        """``rounds`` rounds; in each, ``commits`` commits of ``batch`` events in all (split
        over the writers) on one side, then the same events on the other, first side
        alternating."""
        result = Comparison(writers, batch)
        per_writer = max(1, commits // writers)
        for n in range(rounds):
            for conn in self.conns[:writers]:
                conn.send(("prepare", batch, per_writer))
            self._replies(writers)
            order = (OURS, STOCK) if n % 2 == 0 else (STOCK, OURS)
            for side in order:
                events, done, seconds, retries, _ = self.run(side, writers)
                result.runs[side].append(Run(side, writers, events, done, seconds, retries))
        return result

    def profile(self, writers: int, batch: int, commits: int) -> dict[str, Any]:
        """One more round, writer 0 under cProfile: per side, its split and top lines."""
        for conn in self.conns[:writers]:
            conn.send(("prepare", batch, max(1, commits // writers)))
        self._replies(writers)
        found: dict[str, Any] = {"writers": writers, "batch": batch}
        for side in (OURS, STOCK):
            events, _, seconds, _, profiled = self.run(side, writers, profile=True)
            found[side] = {"events_per_s": events / seconds, **profiled}
        return found

    def close(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send(("stop",))
        for process in self.processes:
            process.join(30)
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGKILL)
