"""Reliability of the PostgreSQL store: concurrent writers, killed writers, crashed servers.

Usage: ``python -m bench.reliability_pg [--seconds 30] [--kills 30] [--server-crashes 10]
[--writers 8] [--seed 282]``

On a throwaway PostgreSQL cluster (``tools.pg_cluster``), each phase on its own database:

* ``concurrent own`` / ``concurrent same``: ``--writers`` writer processes for ``--seconds``,
  each on its own subjects, then all on one subject (doses on different days, labs, small
  imports);
* ``writer kills``: ``--kills`` rounds of writers started, a random 0.05-1.0 s, then SIGKILL
  of one writer or of all;
* ``server crashes``: ``--server-crashes`` rounds of a large JSON Lines import (in process,
  or ``trial-ledger import`` on alternate rounds) beside two writers, the server stopped with
  ``pg_ctl stop -m immediate`` while the import holds the append lock, then restarted.

Every writer logs each commit acknowledged to it (``bench.reliability_support``). After every
round: every acknowledged commit is stored with its positions (else it is *lost*); the commits
stored but never acknowledged are only those in flight when a writer was killed or the server
crashed (*in flight*; more than could have been in flight is a failure); positions and commit
seqs have no gaps or duplicates; no commit is half written (each commit row has exactly its
events, each event its commit row, nothing past the last commit); ``trial-ledger verify --db
URL --json`` is ok; and the ledger takes one more commit. Prints one table. Figures, not a
test: tests/reliability/test_postgres_crashes.py runs the same checks at small scale.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg

from bench.reliability_support import (
    IMPORT_APP,
    IMPORT_SUBJECT,
    PASSPHRASE,
    TRIAL_LEDGER,
    Outcome,
    WriterSpec,
    join_all,
    kill,
    lab,
    lab_lines,
    set_up_trial,
    signer_for,
    start_writer,
    stored,
    verify,
)
from ledger.recording import TrialRecorder
from ledger.service import TrialLedger
from ledger.store.location import parse_store
from tools.pg_cluster import PgCluster

IMPORT_LINES = 20_000
"""Lines of the server-crash rounds' import file (about 2.6 MB; the append holds the lock
for most of a second)."""
_LOCK_HELD = (
    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE a.application_name = %s AND l.granted AND l.mode = 'ExclusiveLock' "
    "AND l.relation = 'trial_ledger.stored_events'::regclass"
)


@dataclass
class Figures:
    """One phase's figures (its row of the table)."""

    name: str
    rounds: int = 0
    acked: int = 0
    acked_events: int = 0
    stored: int = 0
    in_flight: int = 0
    excess_in_flight: int = 0
    lost: int = 0
    gaps: int = 0
    duplicates: int = 0
    half_written: int = 0
    verify_ok: int = 0
    appendable: int = 0
    busy: int = 0
    other_refusals: int = 0
    hung: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    setup: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def in_flight_shown(self) -> str:
        return f"{self.in_flight}" + (
            f" ({self.excess_in_flight} too many)" * bool(self.excess_in_flight)
        )

    @property
    def verify_shown(self) -> str:
        return f"{self.verify_ok}/{self.rounds}"

    @property
    def appendable_shown(self) -> str:
        return f"{self.appendable}/{self.rounds}"

    @property
    def seconds_shown(self) -> str:
        return f"{self.seconds:.0f}"

    @property
    def failed(self) -> bool:
        faults = self.lost + self.gaps + self.duplicates + self.half_written + self.hung
        faults += self.excess_in_flight + self.other_refusals
        return bool(faults) or min(self.verify_ok, self.appendable) < self.rounds


class Run:
    """One phase's ledger, on its own database, checked after each of its rounds."""

    def __init__(self, cluster: PgCluster, name: str, folder: Path, writers: int) -> None:
        self.url = cluster.create_database(name.replace(" ", "_"))
        self.folder = folder / name.replace(" ", "_")
        self.figures = Figures(name)
        self.writers = writers
        self.key_file = set_up_trial(self.url, self.folder, writers)
        self.baseline = set(stored(self.url).commits)
        self.figures.setup = len(self.baseline)
        self.outcome = Outcome()
        self.unacked: set[int] = set()
        self.recovered: Counter[str] = Counter()
        self.started = time.monotonic()

    def spec(self, index: int, mode: str, deadline: float, **options: Any) -> WriterSpec:
        log = self.folder / f"round{self.figures.rounds + 1}-writer{index}.log"
        return WriterSpec(self.url, log, index, self.writers, mode, deadline, **options)

    def close_round(self, specs: list[WriterSpec], may_be_in_flight: int, hung: int = 0) -> None:
        """Read the writers' logs, then check the store, verify, and append once."""
        f, outcome = self.figures, self.outcome
        f.rounds += 1
        f.hung += hung
        before = Counter(outcome.refusals)
        for spec in specs:
            outcome.read(spec.log)
        new = outcome.refusals - before
        busy = sum(n for kind, n in new.items() if kind.startswith("busy"))
        f.busy += busy
        f.other_refusals += sum(new.values()) - busy
        now = stored(self.url)
        lost = [s for s, span in outcome.acks.items() if now.commits.get(s) != span]
        in_flight = set(now.commits) - set(outcome.acks) - self.baseline - self.unacked
        self.unacked |= in_flight
        f.in_flight += len(in_flight)
        f.excess_in_flight += max(0, len(in_flight) - may_be_in_flight)
        f.lost = max(f.lost, len(lost))
        f.gaps = max(f.gaps, now.gaps)
        f.duplicates = max(f.duplicates, now.duplicates + outcome.duplicate_acks)
        f.half_written = max(f.half_written, now.half_written)
        ok, why = verify(self.url)
        f.verify_ok += ok
        if not ok:
            f.notes.append(f"round {f.rounds}: verify failed: {why}")
        f.appendable += self.append_one()
        final = stored(self.url)
        f.acked, f.acked_events, f.stored = len(outcome.acks), outcome.events, len(final.commits)
        f.errors, f.refusals = outcome.errors, outcome.refusals
        f.seconds = time.monotonic() - self.started

    def append_one(self) -> bool:
        """One more commit from this process: the ledger still takes appends."""
        try:
            with TrialLedger.open(parse_store(self.url)) as ledger:
                recorded = TrialRecorder(ledger).record(
                    signer_for("coordinator-parent"), lab(IMPORT_SUBJECT, self.figures.rounds)
                )
        except Exception as error:  # noqa: BLE001 - a failure to append is a figure
            self.figures.notes.append(f"round {self.figures.rounds}: append failed: {error!r}")
            return False
        h = recorded.commit.header
        self.outcome.add_ack(h.seq, h.first_position, h.last_position)
        return True


def concurrent(
    cluster: PgCluster, folder: Path, mode: str, writers: int, seconds: float
) -> Figures:
    """``writers`` writers for ``seconds``, on their own subjects (``own``) or one (``same``)."""
    run = Run(cluster, f"concurrent {mode}", folder, writers)
    deadline = time.time() + seconds
    specs = [run.spec(w, mode, deadline, import_every=20, import_lines=25) for w in range(writers)]
    hung = join_all([start_writer(s) for s in specs], seconds + 120)
    run.close_round(specs, 0, hung)
    return run.figures


def writer_kills(
    cluster: PgCluster, folder: Path, rounds: int, writers: int, rng: random.Random
) -> Figures:
    """Rounds of writers SIGKILLed (one, or all) after a random 0.05-1.0 s."""
    run = Run(cluster, "writer kills", folder, writers)
    killed_all = 0
    for r in range(rounds):
        mode = ("own", "same")[r % 2]
        deadline = time.time() + 1.2
        specs = [
            run.spec(w, mode, deadline, import_every=10, import_lines=50) for w in range(writers)
        ]
        processes = [start_writer(s) for s in specs]
        time.sleep(rng.uniform(0.05, 1.0))
        victims = processes if rng.random() < 0.5 else [rng.choice(processes)]
        killed_all += len(victims) == len(processes)
        for process in victims:
            kill(process)
        hung = join_all(processes, 60)
        run.close_round(specs, len(victims), hung)
    run.figures.notes.append(f"all {writers} writers killed in {killed_all} of {rounds} rounds")
    return run.figures


def _crash_during_import(run: Run, r: int, cluster: PgCluster, hold: float) -> bool:
    """Start the import and two writers (one goes on with its ``TrialLedger`` after an error,
    one opens the ledger again), crash the server while the import holds the append lock,
    restart it; whether the crash hit the lock held."""
    stop = run.folder / f"stop{r}"
    specs = [run.spec(w, "own", time.time() + 300, stop_file=stop, reopen=bool(w)) for w in (0, 1)]
    importer = run.spec(2, "import", time.time() + 300, import_file=run.folder / "import.jsonl")
    url = f"{run.url}?application_name={IMPORT_APP}"
    processes = [start_writer(s) for s in specs]
    cli = None
    if r % 2 == 0:
        processes.append(start_writer(replace(importer, url=url)))
    else:
        cli = _cli_import(url, run.key_file, importer.import_file)
    hit = _wait_for_lock(run.url, 60.0)
    time.sleep(hold)
    cluster.crash()
    cluster.restart()
    restarted = time.time()
    imported = _cli_outcome(run, cli) if cli is not None else False
    time.sleep(2.0)  # time for the writers to record again
    stop.touch()
    run.close_round([*specs, importer], 3, join_all(processes, 120))
    for spec in specs:
        run.recovered["reopened" if spec.reopen else "kept"] += _acked_after(spec.log, restarted)
    run.recovered["imported"] += imported or _acked_after(importer.log, 0.0)
    return hit


def _acked_after(log: Path, since: float) -> bool:
    """Whether the writer logged an acknowledged commit after ``since``."""
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return any(line.startswith("ack ") and float(line.split()[4]) > since for line in lines)


def server_crashes(
    cluster: PgCluster, folder: Path, rounds: int, rng: random.Random, lines: int = IMPORT_LINES
) -> Figures:
    """Rounds of ``pg_ctl stop -m immediate`` mid-import (of ``lines`` labs), then restart."""
    run = Run(cluster, "server crashes", folder, 3)
    (run.folder / "import.jsonl").write_text(
        "\n".join(lab_lines(IMPORT_SUBJECT, lines)) + "\n", encoding="utf-8"
    )
    # The append holds the lock about 0.8 s per 20,000 lines: crash at a random point of it.
    holds = [rng.uniform(0.0, 0.8 * lines / 20_000) for _ in range(rounds)]
    hits = sum(_crash_during_import(run, r, cluster, holds[r]) for r in range(rounds))
    kept, reopened = run.recovered["kept"], run.recovered["reopened"]
    run.figures.notes += [
        f"the crash hit the import holding the append lock in {hits} of {rounds} rounds "
        f"({lines} lines; in process and with trial-ledger import on alternate rounds)",
        f"after the restart, a writer going on with its TrialLedger recorded again in {kept} "
        f"of {rounds} rounds; one opening the ledger again after an error in {reopened}",
        f"the import was acknowledged (committed before the crash) in {run.recovered['imported']}"
        f" of {rounds} rounds; otherwise it failed, and a commit of it is stored only if "
        "counted in flight",
    ]
    return run.figures


def _wait_for_lock(url: str, timeout: float) -> bool:
    """Until the import's connection holds the append lock (True) or ``timeout`` s pass."""
    end = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        while time.monotonic() < end:
            row = conn.execute(_LOCK_HELD, (IMPORT_APP,)).fetchone()
            if row and row[0]:
                return True
            time.sleep(0.002)
    return False


def _cli_import(url: str, key: Path, file: Path | None) -> subprocess.Popen[str]:
    command = [str(TRIAL_LEDGER), "import", str(file), "--db", url, "--key", str(key), "--json"]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TRIAL_LEDGER_PASSPHRASE": PASSPHRASE},
    )


def _cli_outcome(run: Run, cli: subprocess.Popen[str]) -> bool:
    """An import the command line acknowledged (exit 0, its commit in its JSON) is logged as
    acknowledged; what it said otherwise is kept (a traceback is a failure)."""
    out, err = cli.communicate(timeout=300)
    if cli.returncode == 0:
        shown = json.loads(out)
        positions = shown["positions"]
        run.outcome.add_ack(shown["commit"], positions[0], positions[-1])
        return True
    said = " ".join(err.split())
    if "Traceback" in err:
        run.figures.notes.append(f"trial-ledger import printed a traceback: {err[-2000:]}")
    run.outcome.errors[f"trial-ledger import exit {cli.returncode}: {said[:300]}"] += 1
    return False


COLUMNS = (
    ("rounds", "rounds"),
    ("setup", "setup"),
    ("acked", "acked"),
    ("acked events", "acked_events"),
    ("stored", "stored"),
    ("in flight", "in_flight_shown"),
    ("lost", "lost"),
    ("gaps", "gaps"),
    ("dups", "duplicates"),
    ("half-written", "half_written"),
    ("verify ok", "verify_shown"),
    ("appendable", "appendable_shown"),
    ("busy", "busy"),
    ("refused", "other_refusals"),
    ("s", "seconds_shown"),
)
"""The table's columns after the phase: heading, and the attribute of :class:`Figures`."""


def table(rows: list[Figures]) -> str:
    cells = [["phase", *(heading for heading, _ in COLUMNS)]]
    cells += [[f.name, *(str(getattr(f, name)) for _, name in COLUMNS)] for f in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = []
    for row in cells:
        shown = [c.rjust(w) for c, w in zip(row, widths, strict=True)]
        lines.append("  ".join([row[0].ljust(widths[0]), *shown[1:]]))
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def notes(rows: list[Figures]) -> list[str]:
    said = []
    for f in rows:
        said += [f"{f.name}: {note}" for note in f.notes]
        said += [f"{f.name}: {n} x {error}" for error, n in f.errors.most_common(8)]
        said += [f"{f.name}: {n} x refused {kind}" for kind, n in f.refusals.most_common(8)]
        if f.hung:
            said.append(f"{f.name}: {f.hung} writer(s) still running at the end, killed")
    return said


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reliability_pg", description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--server-crashes", type=int, default=10)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--seed", type=int, default=282)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp, PgCluster() as cluster:
        folder = Path(tmp)
        rows = [
            concurrent(cluster, folder, "own", args.writers, args.seconds),
            concurrent(cluster, folder, "same", args.writers, args.seconds),
            writer_kills(cluster, folder, args.kills, args.writers, rng),
            server_crashes(cluster, folder, args.server_crashes, rng),
        ]
    print(table(rows))
    for line in notes(rows):
        print(line)
    return 1 if any(f.failed for f in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
