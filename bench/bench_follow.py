"""Commit-to-visible latency of a live follower (``projections follow``), PostgreSQL beside
SQLite.

Usage: ``python -m bench.bench_follow [--commits 1000] [--gap-ms 0] [--poll-interval 1.0]``

For each store: a ledger with its staff and a few enrolled subjects, a follower running in a
process of its own (``ProjectionEngine.follow``: LISTEN/NOTIFY on PostgreSQL, a throwaway
cluster of :class:`tools.pg_cluster.PgCluster`; polling every ``--poll-interval`` seconds on
a ledger file), then ``--commits`` single-event commits (lab results, round-robin over the
subjects), ``--gap-ms`` apart. The latency of a commit is the time from its append's return
to the follower's commit of the catch-up whose tracked position covers it (both clocks
``time.monotonic``, one clock across processes on Linux). Prints the median, p95, p99 and
worst per store, and how many catch-ups applied the commits.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from datetime import date, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from ledger.store import LedgerReader
from ledger.store.location import StoreTarget, parse_store
from projections.engine import ProjectionEngine
from projections.engine.consume import store_text
from tests.projection_support import Trial
from tests.support import Cast, create_ledger, new_signer
from tools.pg_cluster import PgCluster

SUBJECTS = [f"MC0282-001-{n:03d}" for n in range(1, 6)]
START = date(2003, 2, 1)


def follower(store: str, interval: float, stop: Event, out: Queue[Any]) -> None:
    """Child process: follow until ``stop``; send ("ready"), then every applied catch-up as
    (time it committed, position it reached)."""
    reader = LedgerReader(parse_store(store))
    engine = ProjectionEngine(reader)
    applied: list[tuple[float, int]] = []
    engine.catch_up()
    out.put("ready")
    engine.follow(
        stop,  # type: ignore[arg-type]  # a multiprocessing Event, which has what follow uses
        interval=interval,
        on_applied=lambda r: applied.append((time.monotonic(), r.to_position)),
    )
    out.put(applied)
    engine.close()
    reader.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure(target: StoreTarget, commits: int, gap: float, interval: float) -> dict[str, Any]:
    cast = Cast(*(new_signer() for _ in range(7)))
    ledger = create_ledger(target, cast)
    t = Trial(ledger, cast)
    for subject in SUBJECTS:
        t.onboard(subject)
    context = multiprocessing.get_context("spawn")
    stop, out = context.Event(), context.Queue()
    child = context.Process(target=follower, args=(store_text(target), interval, stop, out))
    child.start()
    if out.get(timeout=60) != "ready":
        raise RuntimeError("the follower did not start")
    returned: list[tuple[float, int]] = []
    for i in range(commits):
        subject = SUBJECTS[i % len(SUBJECTS)]
        on = (START + timedelta(days=i // len(SUBJECTS))).isoformat()
        commit = t.append(t.lab(subject, on, f"{1 + i % 5}.{i % 10}"))
        returned.append((time.monotonic(), commit.header.last_position))
        if gap:
            time.sleep(gap)
    head = ledger.reader.size()
    watcher = ProjectionEngine(ledger.reader)
    deadline = time.monotonic() + 60
    while min(x.position for x in watcher.status()) < head and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    applied: list[tuple[float, int]] = out.get(timeout=60)
    child.join(30)
    watcher.close()
    ledger.close()
    latencies = [_latency(at, position, applied) for at, position in returned]
    return {
        "commits": commits,
        "catch_ups": len(applied),
        "median_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
    }


def _latency(returned_at: float, position: int, applied: list[tuple[float, int]]) -> float:
    """From the append's return to the first applied catch-up reaching ``position`` (0 if
    that catch-up committed before the append call had returned)."""
    for at, reached in applied:
        if reached >= position:
            return max(at - returned_at, 0.0)
    raise RuntimeError(f"position {position} was never applied")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commits", type=int, default=1_000)
    parser.add_argument("--gap-ms", type=float, default=0.0, help="pause between commits")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="SQLite follower")
    args = parser.parse_args()
    gap = args.gap_ms / 1000
    print(f"{args.commits} single-event commits, {args.gap_ms} ms apart; a follower process")
    with PgCluster() as cluster:
        url = parse_store(cluster.create_database("bench_follow"))
        result = measure(url, args.commits, gap, interval=1.0)
        print(f"PostgreSQL, LISTEN/NOTIFY (timeout 1.0 s): {_line(result)}")
    with tempfile.TemporaryDirectory() as folder:
        result = measure(Path(folder) / "trial.db", args.commits, gap, args.poll_interval)
        print(f"SQLite, polling every {args.poll_interval} s: {_line(result)}")


def _line(r: dict[str, Any]) -> str:
    return (
        f"median {r['median_ms']} ms, p95 {r['p95_ms']} ms, p99 {r['p99_ms']} ms, worst "
        f"{r['max_ms']} ms ({r['catch_ups']} catch-ups for {r['commits']} commits)"
    )


if __name__ == "__main__":
    main()
