"""Benchmark of the exports: time, size and peak memory at two ledger sizes, beside verify.

Usage: ``python -m bench.bench_exports --events 1000000 [--subjects 500] [--out DIR]``
(or ``--demo`` for the demo ledger alone, or ``--db LEDGER`` for a ledger built earlier;
``--only TEXT`` measures only the exports whose label holds TEXT, beside the verify baseline).

Builds a signed ledger as :mod:`bench.bench_projections` does (the same realistic mix per
subject), first to half of ``--events``, then to the full size, and at each size runs every
export as its user would, ``trial-ledger ...`` in a child process: ``export odm`` (1.3.2 and
2.0), ``export sdtm`` (Dataset-JSON, and with SAS transport), ``plot`` (each kind) and
``report inspection``. Every export verifies the whole ledger first, so the baseline measured
in the same run is ``trial-ledger verify`` on the same file: an export's own cost is its time
minus that. Peak memory is each child's own ``ru_maxrss``; memory is flat when the peak at the
full size is about the peak at half of it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ledger.cli.demo.build import build_demo
from ledger.integrity.signing import Signer, generate_private_key
from tools.peak_rss import Measured

CLI = str(Path(sys.executable).with_name("trial-ledger"))


def exports(db: Path, out: Path) -> list[tuple[str, list[str], Path]]:
    """(label, argv after trial-ledger, what it writes) of every export measured."""
    plots = [
        (
            f"plot {kind}",
            ["plot", kind, "--db", str(db), "--out", str(out / f"{kind}.png")],
            out / f"{kind}.png",
        )
        for kind in ("swimmer", "waterfall", "spider", "km-ttp", "km-dor")
    ]
    return [
        ("verify (baseline)", ["verify", "--db", str(db)], db),
        (
            "export odm 1.3.2",
            ["export", "odm", "--db", str(db), "--out", str(out / "odm.xml")],
            out / "odm.xml",
        ),
        (
            "export odm 2.0",
            ["export", "odm", "--version", "2.0", "--db", str(db), "--out", str(out / "odm2.xml")],
            out / "odm2.xml",
        ),
        (
            "export sdtm json",
            ["export", "sdtm", "--db", str(db), "--out", str(out / "sdtm")],
            out / "sdtm",
        ),
        (
            "export sdtm json+xpt",
            ["export", "sdtm", "--format", "xpt", "--db", str(db), "--out", str(out / "sdtm-xpt")],
            out / "sdtm-xpt",
        ),
        *plots,
        (
            "report inspection",
            ["report", "inspection", "--db", str(db), "--out", str(out / "inspection")],
            out / "inspection",
        ),
    ]


def run_child(argv: list[str]) -> dict[str, Any]:
    """Run ``trial-ledger argv``; its exit code, wall time and own peak RSS (MB), measured
    through :mod:`tools.peak_rss` (this process holds the ledger it built)."""
    t0 = time.perf_counter()
    measured = Measured(
        [CLI, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy()
    )
    _, err = measured.process.communicate()
    return {
        "exit": measured.process.returncode,
        "seconds": round(time.perf_counter() - t0, 2),
        "peak_rss_mb": round(measured.peak_rss_kb() / 1024, 1),
        "stderr_tail": err.decode(errors="replace").strip().splitlines()[-1:] if err else [],
    }


def size_of(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


def measure(db: Path, out: Path, only: str = "") -> list[dict[str, Any]]:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    rows = []
    for label, argv, written in exports(db, out):
        if only and only not in label and not label.startswith("verify"):
            continue
        result = run_child(argv)
        rows.append({"export": label, **result, "bytes": size_of(written)})
        print(
            f"  {label:24} exit {result['exit']}  {result['seconds']:8.2f} s  "
            f"{result['peak_rss_mb']:7.1f} MB peak  {size_of(written) / 1e6:10.2f} MB",
            flush=True,
        )
    return rows


def build_ledger(db: Path, events: int, subjects: int) -> tuple[Any, Any, Any]:
    from bench.bench_projections import build  # noqa: PLC0415
    from tests.support import Cast  # noqa: PLC0415

    cast = Cast(*(Signer(generate_private_key()) for _ in range(7)))
    ledger, gen = build(db, cast, subjects, events, 500)
    return ledger, gen, cast


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--subjects", type=int, default=500)
    parser.add_argument("--demo", action="store_true", help="measure on the demo ledger only")
    parser.add_argument("--out", type=Path, default=Path("bench-out/exports"))
    parser.add_argument(
        "--db", type=Path, help="measure this existing ledger only (e.g. one built earlier)"
    )
    parser.add_argument(
        "--only", default="", help="measure only the exports whose label contains this text"
    )
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    report: dict[str, Any] = {}
    if args.db is not None:
        print(f"# exports benchmark on {args.db}")
        report[str(args.db)] = measure(args.db, args.out / "existing", args.only)
    elif args.demo:
        db = args.out / "demo" / "trial.db"
        build_demo(db, args.out / "demo" / "keys", passphrase=b"bench")
        print("# exports benchmark on the demo ledger")
        report["demo"] = measure(db, args.out / "demo-out")
    else:
        from bench.bench_projections import append_until  # noqa: PLC0415

        db = args.out / "trial.db"
        ledger, gen, cast = build_ledger(db, args.events, args.subjects)
        for target in (args.events // 2, args.events):
            append_until(ledger, gen, cast, target, 500)
            size = ledger.reader.size()
            print(f"# exports benchmark: {size:,} events, {args.subjects} subjects")
            report[str(size)] = measure(db, args.out / f"at-{size}")
        ledger.close()
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
