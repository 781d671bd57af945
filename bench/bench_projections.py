"""Benchmark of the read models: rebuild, incremental update, memory, beside eventsourcing replay.

Usage: ``python -m bench.bench_projections --events 1000000 [--subjects 500] [--out DIR]``

Builds a signed ledger of about ``--events`` events (commits of 500 via ``TrialLedger.append``)
with a realistic mix per subject: daily anakinra, monthly labs and response assessments, a
month-6 switch to low-dose dexamethasone for half of them (weekly dexamethasone), adverse events,
missed doses, reviews, and one correction per 10,000 events. Then prints, measured in one run:

* rebuild of every projection from position 1, verification of the whole segment included (in
  a child process so its peak RSS is its own), at half and at the full size: memory bounded;
* eventsourcing replaying the same events into aggregates: ``LedgerStore.events.get`` of every
  stream (the library's mapper and the pydantic models), folded into a minimal aggregate;
* incremental update after appending one event (catch-up: verify + apply + commit), mean and
  worst over ``--single`` appends.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from ledger.events import (
    Analyte,
    CorrectionRecorded,
    DoseAdministered,
    DoseMissed,
    LabResulted,
    LedgerEvent,
    RecordSigned,
    RegimenChanged,
    ResponseAssessed,
    ResponseCategory,
    subject_stream_id,
    trial_stream_id,
)
from ledger.integrity.signing import Signer, generate_private_key
from ledger.service import TrialLedger
from ledger.store import LedgerStore
from projections.engine import ProjectionEngine
from tests.projection_support import Trial
from tests.support import GENESIS_DATE, Cast, register_cast

START = date(2003, 2, 1)


class Generator:
    """Day by day, subject by subject: the events a running trial records."""

    def __init__(self, trial: Trial, subjects: list[str]) -> None:
        self.t = trial
        self.subjects = subjects
        self.day = 0
        self.doses: dict[str, list[int]] = {s: [] for s in subjects}
        self.pending: list[tuple[str, LedgerEvent]] = []

    def base(self, s: str, on: date) -> dict[str, Any]:
        version = self.t.versions[s] + 1
        self.t.versions[s] = version
        return {
            "originator_id": subject_stream_id(s),
            "originator_version": version,
            "subject_id": s,
            "effective_date": on,
        }

    def events_of_day(self, made: int) -> list[LedgerEvent]:
        on = START + timedelta(days=self.day)
        cycle_day = self.day % 28
        month = self.day // 28 + 1
        out: list[LedgerEvent] = []
        for n, s in enumerate(self.subjects):
            dex = n % 2 == 1 and month >= 7
            if self.day % 97 == n % 97:
                out.append(
                    DoseMissed(**self.base(s, on), drug="anakinra", held=False, reason="travel")
                )
            else:
                out.append(
                    DoseAdministered(
                        **self.base(s, on),
                        drug="anakinra",
                        dose=Decimal(100),
                        unit="mg",
                        route="SC",
                    )
                )
            if dex and (self.day - 168) % 7 == 0:
                out.append(
                    DoseAdministered(
                        **self.base(s, on),
                        drug="dexamethasone",
                        dose=Decimal(20),
                        unit="mg",
                        route="PO",
                    )
                )
            if cycle_day == n % 28:
                value = Decimal("4.0") - Decimal(month % 10) / 10
                labs: tuple[tuple[Analyte, str], ...] = (
                    ("serum_m_protein", "g/dL"),
                    ("hs_crp", "mg/L"),
                )
                for analyte, unit in labs:
                    out.append(
                        LabResulted(**self.base(s, on), analyte=analyte, value=value, unit=unit)
                    )
                category: ResponseCategory = "MR" if n % 2 == 0 else ("SD" if month < 7 else "PR")
                investigator: ResponseCategory = "SD" if month % 5 == 0 else category
                out.append(
                    ResponseAssessed(
                        **self.base(s, on),
                        protocol_month=month,
                        investigator_category=investigator,
                        derived_category=category,
                        rule_ids=("RESP-MR-SERUM",),
                        values_used={"serum.current": str(value)},
                        agrees=month % 5 != 0,
                    )
                )
            if self.day == 168 and n % 2 == 1:
                out.append(
                    RegimenChanged(
                        **self.base(s, on),
                        from_regimen="induction",
                        to_regimen="low_dose_dex",
                        rule_id="REG-M6-SD",
                        reason="stable disease at month 6",
                    )
                )
            if self.day % 61 == n % 61:
                out.append(
                    self.t.ae(s, on.isoformat(), f"AE-{self.day:04d}", "injection-site reaction", 1)
                )
            if self.day % 90 == n % 90 and self.doses[s]:
                out.append(
                    RecordSigned(
                        **self.base(s, on),
                        meaning="review",
                        positions=(self.doses[s][-1],),
                        statement="reviewed against the diary",
                    )
                )
            if (made + len(out)) % 10_000 < 1 and self.doses[s]:
                out.append(
                    CorrectionRecorded(
                        **self.base(s, on),
                        corrects_position=self.doses[s][-1],
                        corrected_topic=DoseAdministered.TOPIC,
                        field="effective_date",
                        old_value="?",
                        new_value=(on - timedelta(days=1)).isoformat(),
                        reason="diary date transcribed wrongly",
                    )
                )
        self.day += 1
        return out


def build(db: Path, cast: Cast, subjects: int, events: int, batch: int) -> tuple[TrialLedger, Any]:
    ledger = TrialLedger.create(
        db,
        sponsor=cast.sponsor,
        sponsor_name="Sponsor Office",
        ledger_public=cast.ledger_key.public_key,
        ledger_key_id=cast.ledger_key.key_id,
        protocol_amendment="MC0282-original",
        effective_date=GENESIS_DATE,
    )
    register_cast(ledger, cast)
    trial = Trial(ledger, cast)
    names = [f"MC0282-001-{n:03d}" for n in range(1, min(subjects, 999) + 1)]
    onboarding: list[LedgerEvent] = []
    for s in names:
        onboarding += [
            trial.screened(s, "2003-01-06"),
            trial.eligibility(s, "2003-01-10"),
            trial.consent(s, "2003-01-12"),
            trial.enrolled(s, "2003-01-20", start=START.isoformat()),
        ]
    for i in range(0, len(onboarding), batch):
        ledger.append(cast.investigator, onboarding[i : i + batch])
    return ledger, Generator(trial, names)


def append_until(ledger: TrialLedger, gen: Generator, cast: Cast, total: int, batch: int) -> None:
    buffer: list[LedgerEvent] = []
    made = ledger.reader.size()
    while made < total:
        buffer += gen.events_of_day(made)
        while len(buffer) >= batch or (buffer and made + len(buffer) >= total):
            chunk, buffer = buffer[:batch], buffer[batch:]
            commit = ledger.append(cast.investigator, chunk)
            for offset, event in enumerate(chunk):
                if isinstance(event, DoseAdministered):
                    gen.doses[event.subject_id][-1:] = [commit.header.first_position + offset]
            made += len(chunk)
            if made % 100_000 < batch:
                print(f"  appended {made:,}/{total:,}", file=sys.stderr, flush=True)
    if buffer:  # a day is never split across the target: carry the rest unrecorded
        for event in buffer:
            if hasattr(event, "subject_id"):
                gen.t.versions[event.subject_id] -= 1


def rebuild_in_child(db: Path, views: Path) -> dict[str, Any]:
    code = (
        "import json, resource, sys, time\n"
        "from pathlib import Path\n"
        "from ledger.store import LedgerReader\n"
        "from projections.engine import ProjectionEngine\n"
        "reader = LedgerReader(Path(sys.argv[1]))\n"
        "engine = ProjectionEngine(reader, Path(sys.argv[2]))\n"
        "t0 = time.perf_counter()\n"
        "report = engine.rebuild()\n"
        "elapsed = time.perf_counter() - t0\n"
        "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps({'events': report.events, 'seconds': elapsed, 'peak_rss_mb': rss,"
        " 'verifier_peak_rss_mb': child, 'parallel': report.parallel_verification}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(db), str(views)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def eventsourcing_replay(db: Path, subjects: list[str]) -> tuple[int, float]:
    """The library's replay of every stream into a minimal aggregate (count and last date)."""
    store = LedgerStore(db)
    streams = [trial_stream_id("NCT00635154")] + [subject_stream_id(s) for s in subjects]
    t0 = time.perf_counter()
    count = 0
    for stream in streams:
        aggregate: dict[str, Any] = {"events": 0, "last": None}
        for event in store.events.get(stream):
            aggregate["events"] += 1
            aggregate["last"] = getattr(event, "effective_date", None)
        count += aggregate["events"]
    elapsed = time.perf_counter() - t0
    store.close()
    return count, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--subjects", type=int, default=500)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--single", type=int, default=20, help="single-event appends to time")
    parser.add_argument("--out", type=Path, default=Path("bench-out/projections"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    cast = Cast(*(Signer(generate_private_key()) for _ in range(7)))
    db, views = args.out / "trial.db", args.out / "trial.db.views.sqlite"

    print(f"# projections benchmark: {args.events:,} events, {args.subjects} subjects")
    t0 = time.perf_counter()
    ledger, gen = build(db, cast, args.subjects, args.events, args.batch)
    append_until(ledger, gen, cast, args.events // 2, args.batch)
    half = rebuild_in_child(db, views)
    append_until(ledger, gen, cast, args.events, args.batch)
    build_s = time.perf_counter() - t0
    size = ledger.reader.size()
    full = rebuild_in_child(db, views)
    replayed, replay_s = eventsourcing_replay(db, gen.subjects)

    engine = ProjectionEngine(ledger.reader, views)
    engine.catch_up()
    timings = []
    subject = gen.subjects[0]
    for i in range(args.single):
        event = gen.t.dose(subject, (START + timedelta(days=gen.day + i)).isoformat())
        ledger.append(cast.investigator, [event])
        t1 = time.perf_counter()
        engine.catch_up()
        timings.append(time.perf_counter() - t1)
    ledger.close()
    rebuild_rate = full["events"] / full["seconds"]
    replay_rate = replayed / replay_s
    report = {
        "events": size,
        "subjects": len(gen.subjects),
        "build_seconds": round(build_s, 1),
        "rebuild_events_per_s": round(rebuild_rate),
        "rebuild_seconds": round(full["seconds"], 2),
        "rebuild_parallel_verification": full["parallel"],
        "eventsourcing_replay_events_per_s": round(replay_rate),
        "rebuild_vs_eventsourcing_replay": round(rebuild_rate / replay_rate, 2),
        "rebuild_peak_rss_mb_at_half": round(half["peak_rss_mb"], 1),
        "rebuild_peak_rss_mb_at_full": round(full["peak_rss_mb"], 1),
        "verifier_peak_rss_mb_at_full": round(full["verifier_peak_rss_mb"], 1),
        "incremental_one_event_mean_ms": round(1000 * sum(timings) / len(timings), 2),
        "incremental_one_event_max_ms": round(1000 * max(timings), 2),
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
