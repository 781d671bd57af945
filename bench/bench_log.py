"""Benchmark of the signed log against plain eventsourcing, measured in the same run.

Usage: ``python -m bench.bench_log --events 1000000 [--single 5000] [--out bench-out]``

Prints, for the same synthetic DoseAdministered events on the same SQLite set-up:

* append throughput, signed commits of 500 events, vs eventsourcing saving the same batches
  unsigned with its stock SQLite recorder (batches alternate between the two, so machine noise
  hits both alike);
* append throughput, single-event commits, vs eventsourcing single-event saves;
* whole-ledger verify (events/s) vs a baseline that only reads every stored row and SHA-256s
  its state; peak memory of verify, measured in a child process (ru_maxrss), at two ledger sizes;
* verify against a checkpoint taken at 90 % of the events (a full pass that must also meet
  the checkpoint's root), and incremental verify from the verifier state a full pass wrote at
  90 % (reads only the last 10 %), vs the full verify.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper

from ledger.events import DoseAdministered, subject_stream_id
from ledger.integrity.signing import Signer, generate_private_key
from ledger.service import TrialLedger
from ledger.store import LedgerMapper, LedgerReader
from tests.support import GENESIS_DATE, Cast, register_cast, screening

SUBJECTS = 50


class PlainStore(Application[UUID]):
    """Baseline: eventsourcing's stock SQLite recorder, same events, same mapper, no signing."""

    name = "PlainBaseline"

    def construct_mapper(self) -> Mapper[UUID]:
        return LedgerMapper()


def dose_batches(batch: int, total: int, start_versions: dict[str, int]) -> Iterator[list[Any]]:
    """``total`` doses spread over the subjects, ``batch`` per commit."""
    subjects = sorted(start_versions)
    made = 0
    day = date(2003, 2, 1)
    while made < total:
        events = []
        for _ in range(min(batch, total - made)):
            subject = subjects[made % len(subjects)]
            version = start_versions[subject]
            start_versions[subject] = version + 1
            events.append(
                DoseAdministered(
                    originator_id=subject_stream_id(subject),
                    originator_version=version,
                    subject_id=subject,
                    effective_date=day + timedelta(days=made // len(subjects) % 3000),
                    drug="anakinra",
                    dose=Decimal(100),
                    unit="mg",
                    route="SC",
                )
            )
            made += 1
        yield events


def new_ledger(folder: Path, cast: Cast) -> TrialLedger:
    ledger = TrialLedger.create(
        folder / "signed.db",
        sponsor=cast.sponsor,
        sponsor_name="Sponsor Office",
        ledger_public=cast.ledger_key.public_key,
        ledger_key_id=cast.ledger_key.key_id,
        protocol_amendment="MC0282-original",
        effective_date=GENESIS_DATE,
    )
    register_cast(ledger, cast)
    return ledger


def plain_store(folder: Path) -> PlainStore:
    return PlainStore(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(folder / "plain.db"),
        }
    )


def subjects_screened(ledger: TrialLedger, plain: PlainStore, cast: Cast) -> dict[str, int]:
    versions = {}
    for n in range(1, SUBJECTS + 1):
        subject = f"MC0282-001-{n:03d}"
        event = screening(subject)
        ledger.append(cast.coordinator, [event])
        plain.save(event)
        versions[subject] = 2
    return versions


def timed_appends(
    ledger: TrialLedger,
    plain: PlainStore,
    cast: Cast,
    versions: dict[str, int],
    batch: int,
    total: int,
    checkpoint_at: int | None = None,
    state_dir: Path | None = None,
) -> tuple[float, float, str | None]:
    """Alternate signed and plain saves of the same batches; return (signed s, plain s, note)."""
    signed_s = plain_s = 0.0
    note = None
    done = 0
    for events in dose_batches(batch, total, versions):
        t0 = time.perf_counter()
        plain.save(*events)
        t1 = time.perf_counter()
        ledger.append(cast.coordinator, events)
        t2 = time.perf_counter()
        plain_s += t1 - t0
        signed_s += t2 - t1
        done += len(events)
        if checkpoint_at is not None and note is None and done >= checkpoint_at:
            note = ledger.checkpoint(cast.ledger_key, state_dir)  # a full pass writes the state
        if done % 100_000 < batch:
            print(f"  appended {done:,}/{total:,}", file=sys.stderr, flush=True)
    return signed_s, plain_s, note


def read_and_hash(db: Path) -> tuple[int, float]:
    """Baseline for verify: read every stored row in order and SHA-256 its state."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    t0 = time.perf_counter()
    count = 0
    last = 0
    while True:
        rows = conn.execute(
            "SELECT position, originator_id, originator_version, topic, state, leaf_hash,"
            " commit_seq FROM stored_events WHERE position > ? ORDER BY position LIMIT 20000",
            (last,),
        ).fetchall()
        if not rows:
            break
        for r in rows:
            hashlib.sha256(r[4]).digest()
        count += len(rows)
        last = rows[-1][0]
    elapsed = time.perf_counter() - t0
    conn.close()
    return count, elapsed


def verify_in_child(
    db: Path, against: Path | None = None, state: Path | None = None
) -> dict[str, Any]:
    """Run verify in a fresh process so its peak RSS is its own."""
    code = (
        "import json, resource, sys, time\n"
        "from pathlib import Path\n"
        "from ledger.store import LedgerReader\n"
        "from ledger.verify import verify_ledger\n"
        "note = Path(sys.argv[2]).read_text() if sys.argv[2] else None\n"
        "state = Path(sys.argv[3]) if sys.argv[3] else None\n"
        "reader = LedgerReader(Path(sys.argv[1]))\n"
        "t0 = time.perf_counter()\n"
        "report = verify_ledger(reader, against=note, state_dir=state)\n"
        "elapsed = time.perf_counter() - t0\n"
        "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(json.dumps({'ok': report.ok, 'events': report.events, 'mode': report.mode,"
        " 'seconds': elapsed, 'peak_rss_mb': rss, 'failure': str(report.first_failure)}))\n"
    )
    args = [sys.executable, "-c", code, str(db), str(against or ""), str(state or "")]
    out = subprocess.run(args, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--single", type=int, default=3_000, help="single-event commits to time")
    parser.add_argument("--out", type=Path, default=Path("bench-out/log"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    cast = Cast(*(Signer(generate_private_key()) for _ in range(7)))

    print(f"# signed log benchmark: {args.events:,} events, commits of {args.batch}")
    ledger = new_ledger(args.out, cast)
    plain = plain_store(args.out)
    versions = subjects_screened(ledger, plain, cast)

    single_signed, single_plain, _ = timed_appends(ledger, plain, cast, versions, 1, args.single)
    state = args.out / "verifier-state"
    signed_s, plain_s, note = timed_appends(
        ledger,
        plain,
        cast,
        versions,
        args.batch,
        args.events,
        checkpoint_at=int(args.events * 0.9),
        state_dir=state,
    )
    ledger.close()
    plain.factory.close()
    db = args.out / "signed.db"
    size = LedgerReader(db).size()
    note_file = args.out / "checkpoint-90.txt"
    note_file.write_text(note or "")

    rows, read_s = read_and_hash(db)
    full = verify_in_child(db)
    against = verify_in_child(db, note_file)
    incremental = verify_in_child(db, note_file, state)
    rate_single = args.single / single_signed
    rate_single_plain = args.single / single_plain
    rate_batch = args.events / signed_s
    rate_batch_plain = args.events / plain_s
    verify_rate = full["events"] / full["seconds"]
    baseline_rate = rows / read_s
    report = {
        "events": size,
        "append_batch_events_per_s": round(rate_batch),
        "append_batch_plain_events_per_s": round(rate_batch_plain),
        "append_batch_ratio": round(rate_batch / rate_batch_plain, 3),
        "append_single_commits_per_s": round(rate_single),
        "append_single_plain_saves_per_s": round(rate_single_plain),
        "append_single_ratio": round(rate_single / rate_single_plain, 3),
        "verify_ok": full["ok"],
        "verify_events_per_s": round(verify_rate),
        "read_and_hash_rows_per_s": round(baseline_rate),
        "verify_vs_read_and_hash": round(verify_rate / baseline_rate, 3),
        "verify_peak_rss_mb": round(full["peak_rss_mb"], 1),
        "verify_seconds": round(full["seconds"], 2),
        "verify_against_90_ok": against["ok"],
        "verify_against_90_seconds": round(against["seconds"], 2),
        "incremental_ok": incremental["ok"],
        "incremental_mode": incremental["mode"],
        "incremental_events": incremental["events"],
        "incremental_seconds": round(incremental["seconds"], 2),
        "incremental_vs_full_time": round(incremental["seconds"] / full["seconds"], 3),
        "bench_process_peak_rss_mb": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
        ),
    }
    width = max(len(k) for k in report)
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")
    (args.out / "report.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
