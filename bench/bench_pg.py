"""Benchmark of the ledger on PostgreSQL against plain eventsourcing, measured in the same run.

Usage: ``python -m bench.bench_pg --events N [--writers 1,8] [--scale 1,2,4,8,16]
[--parts append,scale,verify] [--out DIR]``

On one throwaway PostgreSQL 15 cluster (``tools.pg_cluster``: 127.0.0.1, fsync and
synchronous_commit on), with the synthetic DoseAdministered events of ``bench.bench_log``:

* ``append``: events/s of signed commits of ``--batch`` (500) events and of single-event
  commits, by 1 and by 8 concurrent writer processes (``--writers``) all appending to the one
  ledger, each on its own subjects; vs eventsourcing's stock ``PostgresApplicationRecorder``
  saving the same events unsigned (its own database of the same cluster). Per round both sides
  get the same events, started together at one instant, the first side alternating; the ratio
  is the median over rounds of ours/stock in that round. A run of 500-event commits appends
  ``--events`` events in all (split over the writers), a run of single commits ``--single``
  commits. Both recorders serialise appends on ``LOCK TABLE ... IN EXCLUSIVE MODE``.
* ``scale``: single-event commits/s by 1, 2, 4, 8, 16 writers (``--scale``), ours vs stock.
* ``verify``: a ledger of ``--events`` events built through the store (one writer, commits of
  ``--batch``), copied row for row to a SQLite file (``ledger.copy``: the same ledger, the same
  root); ``verify_ledger`` events/s on each, each run in a fresh process, alternating, best of
  ``--verify-runs``; a read-only pass of the reader (rows fetched, state hashed) on each; and
  a cProfile of one verify on each store: where the time goes.

Figures, not a test: it is not part of the test suite.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench.bench_log import dose_batches
from bench.pg_support import (
    OURS,
    STOCK,
    STOCK_SCHEMA,
    Comparison,
    StockStore,
    WriterPool,
    bench_cast,
    stock_env,
    top_lines,
    writer_subjects,
)
from ledger.copy import copy_ledger
from ledger.service import TrialLedger
from ledger.store import LedgerMapper, LedgerReader
from ledger.store.location import parse_store
from ledger.verify import verify_ledger
from tests.support import GENESIS_DATE, Cast, dose, register_cast, screening
from tools.pg_cluster import PgCluster

VERIFY_SUBJECTS = [f"MC0282-001-{n:03d}" for n in range(1, 51)]
READER_FILE = "ledger/store/reader.py"


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def child_verify(target: str, profiled: bool = False) -> dict[str, Any]:
    """One verify; ``profiled``: under cProfile, with the time in the reader's fetches."""
    reader = LedgerReader(parse_store(target))
    profile = cProfile.Profile()
    t0 = time.perf_counter()
    if profiled:
        profile.enable()
    report = verify_ledger(reader)
    profile.disable()
    found: dict[str, Any] = {
        "ok": report.ok,
        "events": report.events,
        "seconds": time.perf_counter() - t0,
    }
    reader.close()
    if profiled:
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
        found["fetch_seconds"] = sum(
            v[3] for k, v in raw.items() if k[0].endswith(READER_FILE) and k[2] == "_fetch"
        )
        found["top"] = top_lines(stats, out, "tottime")
    return found


def child_read(target: str) -> dict[str, Any]:
    """Baseline: the reader's own batches (what verify reads), each state SHA-256'd."""
    reader = LedgerReader(parse_store(target))
    t0 = time.perf_counter()
    rows = 0
    with reader.snapshot():
        for batch in reader.iter_event_batches():
            for r in batch:
                hashlib.sha256(r[4]).digest()
            rows += len(batch)
    seconds = time.perf_counter() - t0
    reader.close()
    return {"ok": True, "events": rows, "seconds": seconds}


CHILDREN: dict[str, Callable[[str], dict[str, Any]]] = {
    "verify": child_verify,
    "read": child_read,
    "profile": partial(child_verify, profiled=True),
}


def in_child(kind: str, target: str) -> dict[str, Any]:
    args = [sys.executable, "-m", "bench.bench_pg", "--child", kind, target]
    out = subprocess.run(args, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def new_pg_ledger(url: str, cast: Cast, subjects: list[str]) -> TrialLedger:
    """A ledger on PostgreSQL: genesis, sites, the cast, then ``subjects`` screened."""
    ledger = TrialLedger.create(
        parse_store(url),
        sponsor=cast.sponsor,
        sponsor_name="Sponsor Office",
        ledger_public=cast.ledger_key.public_key,
        ledger_key_id=cast.ledger_key.key_id,
        protocol_amendment="MC0282-original",
        effective_date=GENESIS_DATE,
    )
    register_cast(ledger, cast)
    if subjects:
        ledger.append(cast.coordinator, [screening(s) for s in subjects])
    return ledger


def set_up_stores(ours_url: str, stock_url: str, writers: int) -> None:
    """Both stores with every writer's subjects screened; all connections closed after."""
    subjects = [s for w in range(writers) for s in writer_subjects(w)]
    new_pg_ledger(ours_url, bench_cast(), subjects).close()
    stock = StockStore(env=stock_env(stock_url, create=True))
    stock.save(*[screening(s) for s in subjects])
    stock.factory.close()


def append_parts(cluster: PgCluster, args: argparse.Namespace, parts: set[str]) -> dict[str, Any]:
    ours_url = cluster.create_database("ours")
    stock_url = cluster.create_database("stock")
    cluster.execute(f"CREATE SCHEMA {STOCK_SCHEMA}", dbname="stock")
    size = max([*args.writers, *(args.scale if "scale" in parts else [])])
    set_up_stores(ours_url, stock_url, size)
    pool = WriterPool(size, ours_url, stock_url)
    results: dict[str, Any] = {"append": [], "scale": [], "load": [load()]}
    try:
        pool.compare(size, 1, 2 * size, 1)  # warm-up: connections, statements, registry
        if "append" in parts:
            for writers in args.writers:
                for batch, commits in ((args.batch, args.events // args.batch), (1, args.single)):
                    c = pool.compare(writers, batch, commits, args.rounds)
                    results["append"].append(c)
                    progress(f"append w={writers} batch={batch}: {c.to_json()}")
            most = max(args.writers)
            results["profiles"] = [
                pool.profile(w, b, args.single if b == 1 else args.events // b)
                for w, b in ((1, 1), (most, 1), (most, args.batch))
            ]
            results["load"].append(load())
        if "scale" in parts:
            for writers in args.scale:
                c = pool.compare(writers, 1, args.single, args.rounds)
                results["scale"].append(c)
                progress(f"scale w={writers}: {c.to_json()}")
            results["load"].append(load())
    finally:
        pool.close()
    results["table_bytes"] = {
        side: table_bytes(cluster, db, table)
        for side, db, table in (
            (OURS, "ours", "trial_ledger.stored_events"),
            (STOCK, "stock", f"{STOCK_SCHEMA}.plainbaseline_events"),
        )
    }
    return results


def table_bytes(cluster: PgCluster, db: str, table: str) -> dict[str, float]:
    rows = cluster.execute(
        f"SELECT count(*), pg_total_relation_size('{table}'), avg(pg_column_size(t.*))"
        f" FROM {table} t",
        dbname=db,
    )
    count, total, avg_row = rows[0]
    return {"rows": count, "bytes_per_event": total / count, "avg_row_bytes": float(avg_row)}


def progress(text: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')} load {load()}] {text}", file=sys.stderr, flush=True)


def build_verify_ledger(url: str, events: int, batch: int) -> float:
    """A ledger of ``events`` doses (after genesis, sites, cast, 50 screenings); events/s."""
    cast = bench_cast()
    ledger = new_pg_ledger(url, cast, VERIFY_SUBJECTS)
    versions = dict.fromkeys(VERIFY_SUBJECTS, 2)
    spent = 0.0
    done = 0
    for chunk in dose_batches(batch, events, versions):
        t0 = time.perf_counter()
        ledger.append(cast.coordinator, chunk)
        spent += time.perf_counter() - t0
        done += len(chunk)
        if done % 100_000 < batch:
            progress(f"built {done:,}/{events:,}")
    ledger.close()
    return events / spent


def verify_part(cluster: PgCluster, args: argparse.Namespace) -> dict[str, Any]:
    url = cluster.create_database("verify")
    result: dict[str, Any] = {"load": [load()]}
    result["build_events_per_s"] = build_verify_ledger(url, args.events, args.batch)
    db = args.out / "verify.db"
    t0 = time.perf_counter()
    copied = copy_ledger(parse_store(url), db)
    result["copy_seconds"] = time.perf_counter() - t0
    result["root"] = copied.root.hex()
    result["load"].append(load())
    stores = {"postgres": url, "sqlite": str(db)}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in stores}
    for n in range(args.verify_runs):
        order = list(stores) if n % 2 == 0 else list(reversed(stores))
        for name in order:
            runs[name].append(in_child("verify", stores[name]))
            progress(f"verify {name}: {runs[name][-1]}")
    result["verify"] = runs
    result["read"] = {name: in_child("read", target) for name, target in stores.items()}
    result["profile"] = {name: in_child("profile", target) for name, target in stores.items()}
    result["load"].append(load())
    result["sqlite_bytes_per_event"] = db.stat().st_size / copied.events
    result["pg"] = table_bytes(cluster, "verify", "trial_ledger.stored_events")
    return result


def rate(run: dict[str, Any]) -> float:
    return float(run["events"]) / float(run["seconds"])


def print_appends(title: str, comparisons: list[Comparison]) -> None:
    print(f"\n## {title}")
    print(
        f"{'writers':>7} {'commit':>6} {'ours ev/s':>10} {'stock ev/s':>10} {'ratio':>6}"
        f" {'ours c/s':>9} {'stock c/s':>9}  per-round ours / stock (events/s)"
    )
    for c in comparisons:
        rounds = " ".join(
            f"{o.events_per_s:.0f}/{s.events_per_s:.0f}"
            for o, s in zip(c.runs[OURS], c.runs[STOCK], strict=True)
        )
        print(
            f"{c.writers:>7} {c.batch:>6} {c.median(OURS):>10,.0f} {c.median(STOCK):>10,.0f}"
            f" {c.ratio():>5.2f}x {c.median(OURS, 'commits'):>9,.0f}"
            f" {c.median(STOCK, 'commits'):>9,.0f}  {rounds}"
            + (f"  (ours retried {c.retries()})" if c.retries() else "")
        )


def print_verify(v: dict[str, Any], events: int) -> None:
    print(f"\n## whole-ledger verify, {events:,} doses (+ set-up events), best of runs")
    print(f"ledger built through the store (1 writer, PostgreSQL): {v['build_events_per_s']:,.0f}")
    root, seconds = v["root"][:16], v["copy_seconds"]
    print(f"copied to SQLite (both verified, same root {root}...) in {seconds:.1f} s")
    print(f"{'store':>9} {'best ev/s':>10} {'median':>10} {'read ev/s':>10} {'fetch %':>8}  runs")
    for name in ("postgres", "sqlite"):
        runs = v["verify"][name]
        rates = [rate(r) for r in runs]
        prof = v["profile"][name]
        fetch = 100 * prof["fetch_seconds"] / prof["seconds"]
        ok = all(r["ok"] for r in runs)
        print(
            f"{name:>9} {max(rates):>10,.0f} {statistics.median(rates):>10,.0f}"
            f" {rate(v['read'][name]):>10,.0f} {fetch:>7.0f}%  "
            + " ".join(f"{x:,.0f}" for x in rates)
            + ("" if ok else "  NOT OK")
        )
    best = {name: max(rate(r) for r in v["verify"][name]) for name in ("postgres", "sqlite")}
    print(f"postgres/sqlite: {best['postgres'] / best['sqlite']:.2f}x")
    for name in ("postgres", "sqlite"):
        prof = v["profile"][name]
        print(f"\n### cProfile of one verify on {name} ({prof['seconds']:.2f} s, by tottime)")
        print("\n".join(prof["top"]))


def print_profiles(profiles: list[dict[str, Any]]) -> None:
    for p in profiles:
        print(
            f"\n### writer 0 of {p['writers']} under cProfile, {p['batch']}-event commits:"
            " ms per commit (calls per commit); profiling inflates the Python parts"
        )
        for side in (OURS, STOCK):
            print(f"{side} ({p[side]['events_per_s']:,.0f} events/s in this profiled round)")
            for label, ms, calls in p[side]["split"]:
                print(f"  {label:<44} {ms:>8.2f} ms ({calls:.1f})")
        print("top of ours by cumtime:\n" + "\n".join(p[OURS]["top"]))


def print_sizes(report: dict[str, Any]) -> None:
    sample = LedgerMapper().to_stored_event(dose("MC0282-001-001", 2))
    print(
        f"\nevents: DoseAdministered, state {len(sample.state)} bytes of canonical JSON,"
        f" topic {len(sample.topic)} bytes"
    )
    for label, sizes in report.get("table_bytes", {}).items():
        print(
            f"  {label}: {sizes['rows']:,} rows, {sizes['avg_row_bytes']:.0f} B/row,"
            f" {sizes['bytes_per_event']:.0f} B/event with indexes"
        )
    if "verify" in report:
        v = report["verify"]
        print(
            f"  verify ledger: PostgreSQL {v['pg']['bytes_per_event']:.0f} B/event,"
            f" SQLite {v['sqlite_bytes_per_event']:.0f} B/event"
        )


def print_report(report: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"# PostgreSQL benchmark: --events {args.events:,}, commits of {args.batch}")
    print(f"machine: {os.cpu_count()} cores; load (1/5/15 min) by phase: {report['loads']}")
    if report.get("append"):
        print_appends("append, events/s (medians over rounds)", report["append"])
    print_profiles(report.get("profiles", []))
    if report.get("scale"):
        print_appends("scale-out: single-event commits", report["scale"])
    if "verify" in report:
        print_verify(report["verify"], args.events)
    print_sizes(report)


def to_json(report: dict[str, Any]) -> dict[str, Any]:
    out = dict(report)
    for key in ("append", "scale"):
        out[key] = [c.to_json() for c in report.get(key, [])]
    return out


def int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--single", type=int, default=1_000, help="single-event commits a run")
    parser.add_argument("--writers", type=int_list, default=[1, 8])
    parser.add_argument("--scale", type=int_list, default=[1, 2, 4, 8, 16])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--verify-runs", type=int, default=3)
    parser.add_argument("--parts", default="append,scale,verify")
    parser.add_argument("--out", type=Path, default=Path("bench-out/pg"))
    parser.add_argument("--child", nargs=2, metavar=("KIND", "TARGET"), help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child[0]](args.child[1])))
        return
    parts = set(args.parts.split(","))
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    report: dict[str, Any] = {"loads": [load()]}
    started = time.perf_counter()
    with PgCluster() as cluster:
        if parts & {"append", "scale"}:
            appends = append_parts(cluster, args, parts)
            report["loads"] += appends.pop("load")[1:]
            report.update(appends)
        if "verify" in parts:
            report["verify"] = verify_part(cluster, args)
            report["loads"] += report["verify"]["load"][1:]
    report["seconds"] = round(time.perf_counter() - started, 1)
    print_report(report, args)
    print(f"\n(whole run {report['seconds']} s; report in {args.out / 'report.json'})")
    (args.out / "report.json").write_text(json.dumps(to_json(report), indent=1))


if __name__ == "__main__":
    main()
