"""Start-up cost of the command line: what a command pays before it does its work.

Usage: ``python -m bench.bench_startup [--repo DIR ...] [--runs 7]``

For each checkout given with ``--repo`` (default: this one; give two to compare, e.g. a
checkout of the code before a change and this one), and in the same run, prints the median
over ``--runs`` runs of:

* the total import time: the sum of the top-level cumulative times ``python -X importtime``
  reports (ms);
* the wall-clock time of the same command line run without ``-X importtime`` (ms);

for ``-c pass`` and ``-c "import typer"`` (baselines: the interpreter, and the CLI library
alone), ``-c "import cli"``, ``trial-ledger --help``, ``trial-ledger dose --help`` and a real
recording command (``screen``, one new subject per run, on a throwaway ledger made in a temp
folder with that checkout's own ``init``, ``sites add`` and ``keys add``). Then, for the
recording command, its 10 costliest top-level imports and its import time by package.

Every command runs in a fresh interpreter (this one's, ``sys.executable``) started in the
checkout with the checkout first on ``PYTHONPATH``, so ``cli`` and ``ledger`` are that
checkout's. Runs alternate between checkouts, so machine noise hits them alike. Figures, not
a test: it is not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

PASSPHRASE = "bench-passphrase"
"""Of the throwaway ledger's key files."""
ENTRY = "import sys; from cli import main; sys.argv[0] = 'trial-ledger'; main()"
"""What the ``trial-ledger`` console script runs (``cli:main``), as ``python -c``."""
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( +)(\S+)")


@dataclass
class Case:
    label: str
    args: list[str]
    """Arguments after ``python``; ``{subject}`` is replaced by a new subject id per run."""


@dataclass
class Figures:
    imports_ms: list[float] = field(default_factory=list)
    wall_ms: list[float] = field(default_factory=list)
    last_importtime: str = ""


def cases(ledger: Path) -> list[Case]:
    db, key = str(ledger / "trial.db"), str(ledger / "cole.key")
    screen = ["screen", "--db", db, "--key", key, "--subject", "{subject}", "--site", "001",
              "--age", "61", "--sex", "F", "--date", "2003-01-06"]  # fmt: skip
    return [
        Case("python -c pass", ["-c", "pass"]),
        Case('python -c "import typer"', ["-c", "import typer"]),
        Case('python -c "import cli"', ["-c", "import cli"]),
        Case("trial-ledger --help", ["-c", ENTRY, "--help"]),
        Case("trial-ledger dose --help", ["-c", ENTRY, "dose", "--help"]),
        Case("trial-ledger screen (records)", ["-c", ENTRY, *screen]),
    ]


def environment(repo: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(repo), *filter(None, [env.get("PYTHONPATH")])])
    env["TRIAL_LEDGER_PASSPHRASE"] = PASSPHRASE
    env["COLUMNS"] = "100"
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def trial_ledger(repo: Path, *argv: str) -> None:
    """One command line of ``repo``'s CLI; stops the benchmark if it fails."""
    done = subprocess.run(
        [sys.executable, "-c", ENTRY, *argv],
        cwd=repo,
        env=environment(repo),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{repo}: trial-ledger {' '.join(argv)} failed:\n{done.stderr}")


def throwaway_ledger(repo: Path, folder: Path) -> None:
    """A ledger with site 001 and a coordinator's key (cole.key), made by ``repo``'s CLI."""
    db = str(folder / "trial.db")
    sponsor_key = str(folder / "sponsor.key")
    trial_ledger(repo, "init", "--db", db, "--sponsor-name", "Sponsor Office",
                 "--sponsor-key-out", sponsor_key, "--ledger-key-out", str(folder / "ledger.key"),
                 "--date", "2002-11-01")  # fmt: skip
    trial_ledger(repo, "sites", "add", "--db", db, "--sponsor-key", sponsor_key,
                 "--site", "001", "--label", "Site 001", "--date", "2002-11-01")  # fmt: skip
    trial_ledger(repo, "keys", "add", "--db", db, "--sponsor-key", sponsor_key,
                 "--name", "Cole Hart", "--role", "coordinator", "--site", "001",
                 "--out", str(folder / "cole.key"))  # fmt: skip


def total_import_ms(importtime: str) -> float:
    """The sum of the top-level cumulative import times (ms) in ``-X importtime`` output."""
    return sum(int(m[2]) for m in _LINE.finditer(importtime) if len(m[3]) == 1) / 1000


def top_level(importtime: str, n: int) -> list[tuple[float, str]]:
    found = [(int(m[2]) / 1000, m[4]) for m in _LINE.finditer(importtime) if len(m[3]) == 1]
    return sorted(found, reverse=True)[:n]


def by_package(importtime: str, n: int) -> list[tuple[float, str]]:
    """Self import time summed by top-level package (``ledger``, ``pydantic``, ...)."""
    totals: Counter[str] = Counter()
    for m in _LINE.finditer(importtime):
        totals[m[4].split(".")[0]] += int(m[1])
    return [(us / 1000, name) for name, us in totals.most_common(n)]


def run_once(repo: Path, case: Case, subject: str, figures: Figures) -> None:
    args = [a.replace("{subject}", subject) for a in case.args]
    env = environment(repo)
    traced = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if traced.returncode != 0:
        raise SystemExit(
            f"{repo}: {case.label} exited {traced.returncode}:\n{traced.stderr[-2000:]}"
        )
    figures.imports_ms.append(total_import_ms(traced.stderr))
    figures.last_importtime = traced.stderr
    plain_args = [a.replace("{subject}", _next(subject)) for a in case.args]
    started = time.perf_counter()
    subprocess.run([sys.executable, *plain_args], cwd=repo, env=env, capture_output=True,
                   check=True)  # fmt: skip
    figures.wall_ms.append((time.perf_counter() - started) * 1000)


def _next(subject: str) -> str:
    """The subject after ``subject`` (the plain run records a subject of its own)."""
    prefix, number = subject.rsplit("-", 1)
    return f"{prefix}-{int(number) + 1:03d}"


def measure(repos: list[Path], runs: int) -> dict[Path, dict[str, Figures]]:
    results: dict[Path, dict[str, Figures]] = {repo: {} for repo in repos}
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        folders = {repo: Path(tmp) / f"repo-{i}" for i, repo in enumerate(repos)}
        for repo, folder in folders.items():
            folder.mkdir()
            throwaway_ledger(repo, folder)
            for case in cases(folder):  # warm-up, not counted: compiles the checkout's bytecode
                run_once(repo, case, "MC0282-001-901", Figures())
        for i in range(runs):
            subject = f"MC0282-001-{2 * i + 1:03d}"
            for repo in repos:  # alternate checkouts, so noise hits both alike
                for case in cases(folders[repo]):
                    run_once(repo, case, subject, results[repo].setdefault(case.label, Figures()))
            print(f"run {i + 1}/{runs} done", file=sys.stderr)
    return results


def report(results: dict[Path, dict[str, Figures]], runs: int) -> None:
    repos = list(results)
    labels = list(results[repos[0]])
    print(f"Start-up, median of {runs} runs (import = sum of top-level -X importtime cumulative "
          "times; wall = the same command line without -X importtime)")  # fmt: skip
    for i, repo in enumerate(repos):
        print(f"  [{i}] {repo}")
    header = "".join(f"  [{i}] import ms   wall ms" for i in range(len(repos)))
    print(f"\n{'command':<32}{header}")
    for label in labels:
        cells = "".join(
            f"  {statistics.median(results[r][label].imports_ms):>13.1f}"
            f"  {statistics.median(results[r][label].wall_ms):>8.1f}"
            for r in repos
        )
        print(f"{label:<32}{cells}")
    recording = labels[-1]
    for i, repo in enumerate(repos):
        trace = results[repo][recording].last_importtime
        print(f"\n[{i}] {recording}: the 10 costliest top-level imports (cumulative ms)")
        for ms, name in top_level(trace, 10):
            print(f"  {ms:>8.1f}  {name}")
        print(f"[{i}] {recording}: import time by package (self ms, the 10 largest)")
        for ms, name in by_package(trace, 10):
            print(f"  {ms:>8.1f}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repo", type=Path, action="append", help="A checkout (repeat to compare; default: this)."
    )
    parser.add_argument("--runs", type=int, default=7, help="Runs per command (median).")
    args = parser.parse_args()
    repos = [r.resolve() for r in args.repo or [Path(__file__).resolve().parents[1]]]
    for repo in repos:
        if not (repo / "cli.py").is_file():
            raise SystemExit(f"--repo {repo}: no cli.py there")
    report(measure(repos, args.runs), args.runs)


if __name__ == "__main__":
    main()
