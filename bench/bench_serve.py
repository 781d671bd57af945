"""The served ledger under load: many clients reading while a writer appends.

Usage: ``python -m bench.bench_serve [--clients 50] [--seconds 20] [--rate 20]
[--checkpoint-every 1.0] [--no-follower]``

Builds the demo ledger (``trial-ledger demo``) in a temporary folder, registers a consumer key,
starts ``trial-ledger serve`` (with ``--checkpoint-key``) as a process of its own on
127.0.0.1, and, unless ``--no-follower``, ``trial-ledger follow URL --mirror DIR`` as the
consumer. Then two rounds of ``--seconds`` each: ``--clients`` concurrent clients (asyncio and
``httpx.AsyncClient`` in this process; half of them the demo's monitor, half the consumer),
each with the feed (``GET /v1/feed``) open and reading, one request after another: the
subject list (1 in 5), a subject's state (3 in 5), a subject's response history (1 in 5).
Meanwhile a writer process appends single-event commits (lab results) at ``--rate`` per
second through ``TrialLedger``. Round "signed": every request signed per RFC 9421
(``SignedRequests``); round "token": a token obtained once per client, then ``Authorization:
Bearer``.

Prints per round: requests/s, p50/p95/p99 latency per route kind, errors, and
commit-to-feed latency (from the writer's append returning to the ``commit`` event arriving at
a client, over every client and commit: median, p99); and commit-to-mirror latency (from the
append returning to the follower's sync line whose tree size covers it). One clock:
``time.monotonic`` is system-wide on Linux.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.serve_support import (
    Follower,
    Prepared,
    free_port,
    observer,
    percentile,
    prepare,
    start_follower,
    start_server,
    stop,
    writer,
)
from ledger.integrity.signing import Signer
from ledger.remote.auth import BearerToken, SignedRequests, obtain_token

KINDS = ("subjects", "subject", "responses")
WEIGHTS = (1, 3, 1)


@dataclass
class Round:
    """What one round measured."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    arrivals: list[tuple[list[float], dict[int, float]]] = field(default_factory=list)
    """Per client: [when its feed opened], and commit seq -> when its feed event arrived."""
    seconds: float = 0.0
    window: tuple[float, float] = (0.0, 0.0)
    """When every client's feed was open: from 0.5 s after the start to the end of requests."""


async def read_feed(
    client: httpx.AsyncClient, opened: list[float], arrived: dict[int, float], r: Round
) -> None:
    event = ""
    try:
        async with client.stream("GET", "/v1/feed", timeout=None) as response:
            if response.status_code != 200:
                r.errors["feed"] += 1
                return
            opened.append(time.monotonic())
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("id:") and event == "":
                    continue
                elif line.startswith("data:") and event == "commit":
                    seq = int(line.split('"seq":', 1)[1].split(",", 1)[0])
                    arrived[seq] = time.monotonic()
                elif not line:
                    event = ""
    except httpx.HTTPError:
        r.errors["feed"] += 1


async def one_client(
    index: int, base_url: str, auth: httpx.Auth, subjects: list[str], until: float, r: Round
) -> None:
    rng = random.Random(index)
    opened: list[float] = []
    arrived: dict[int, float] = {}
    r.arrivals.append((opened, arrived))
    async with httpx.AsyncClient(base_url=base_url, auth=auth, timeout=60) as client:
        feed = asyncio.create_task(read_feed(client, opened, arrived, r))
        await asyncio.sleep(0.2)  # the feed is open before the round's commits begin
        while time.monotonic() < until:
            kind = rng.choices(KINDS, WEIGHTS)[0]
            subject = rng.choice(subjects)
            path = {
                "subjects": "/v1/subjects",
                "subject": f"/v1/subjects/{subject}",
                "responses": f"/v1/subjects/{subject}/responses",
            }[kind]
            began = time.perf_counter()
            try:
                response = await client.get(path)
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            r.latencies[kind].append(time.perf_counter() - began)
            if not ok:
                r.errors[kind] += 1
        await asyncio.sleep(1.0)  # the round's last commits reach the feed
        feed.cancel()


async def run_round(
    base_url: str, auths: list[httpx.Auth], subjects: list[str], seconds: float
) -> Round:
    r = Round()
    began = time.monotonic()
    until = began + seconds
    r.window = (began + 0.5, until)
    await asyncio.gather(
        *(one_client(i, base_url, auth, subjects, until, r) for i, auth in enumerate(auths))
    )
    r.seconds = min(time.monotonic() - began, seconds + 1)
    return r


def subject_ids(base_url: str, signer: Signer) -> list[str]:
    with httpx.Client(base_url=base_url, auth=SignedRequests(signer), timeout=60) as client:
        response = client.get("/v1/subjects")
        response.raise_for_status()
        return [s["subject_id"] for s in response.json()["subjects"]]


@dataclass
class Measured:
    """A round, the writer's commits (seq, last position, returned at) and what the idle
    observer's feed saw (seq -> arrived at)."""

    round: Round
    commits: list[tuple[int, int, float]]
    observed: dict[int, float]


def with_writer(prepared: Prepared, url: str, rate: float, work: Any) -> Measured:
    """Run ``work()`` (a round) while a writer process appends at ``rate`` and an observer
    process reads the feed."""
    context = multiprocessing.get_context("spawn")
    go, stop_writing, out = context.Event(), context.Event(), context.Queue()
    seen, stop_observing, observed = context.Event(), context.Event(), context.Queue()
    key = str(prepared.key("auditor"))
    watcher = context.Process(target=observer, args=(url, key, seen, stop_observing, observed))
    watcher.start()
    child = context.Process(target=writer, args=(str(prepared.db), rate, go, stop_writing, out))
    child.start()
    if out.get(timeout=120) != "ready" or not seen.wait(60):
        raise RuntimeError("the writer or the observer did not start")
    go.set()
    try:
        result = work()
    finally:
        stop_writing.set()
    commits: list[tuple[int, int, float]] = out.get(timeout=120)
    time.sleep(1.0)
    stop_observing.set()
    arrivals: dict[int, float] = observed.get(timeout=60)
    child.join(30)
    watcher.join(30)
    return Measured(result, commits, arrivals)


def in_window(r: Round, commits: list[tuple[int, int, float]]) -> list[tuple[int, int, float]]:
    """The commits made while the clients were reading."""
    return [c for c in commits if r.window[0] <= c[2] <= r.window[1]]


def feed_latencies(r: Round, commits: list[tuple[int, int, float]]) -> tuple[list[float], int]:
    """Over every client and every commit made after its feed opened: the latencies of the
    events that arrived, and how many were expected."""
    found, expected = [], 0
    for opened, arrived in r.arrivals:
        for seq, _, returned in in_window(r, commits):
            if opened and returned >= opened[0]:
                expected += 1
                if seq in arrived:
                    found.append(max(arrived[seq] - returned, 0.0))
    return found, expected


def mirror_latencies(follower: Follower, commits: list[tuple[int, int, float]]) -> list[float]:
    found = []
    for _, position, returned in commits:
        synced = next((at for at, size in follower.syncs if size >= position and at >= 0), None)
        if synced is not None:
            found.append(max(synced - returned, 0.0))
    return found


def report(name: str, m: Measured, clients: int) -> None:
    r = m.round
    total = sum(len(v) for v in r.latencies.values())
    print(f"round {name}: {total} requests in {r.seconds:.1f} s = {total / r.seconds:.1f}/s")
    for kind in KINDS:
        ms = [v * 1000 for v in r.latencies[kind]]
        if ms:
            print(
                f"  {kind:<10} n={len(ms):<6} p50 {statistics.median(ms):7.1f} ms  "
                f"p95 {percentile(ms, 0.95):7.1f} ms  p99 {percentile(ms, 0.99):7.1f} ms  "
                f"errors {r.errors[kind]}"
            )
    print(f"  feed errors {r.errors['feed']}")
    latencies, expected = feed_latencies(r, m.commits)
    counted = in_window(r, m.commits)
    if latencies:
        ms = [v * 1000 for v in latencies]
        print(
            f"  commit-to-feed, the {clients} busy clients: {len(ms)} of {expected} events; "
            f"median {statistics.median(ms):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms"
        )
    idle = [max(m.observed[s] - at, 0.0) * 1000 for s, _, at in counted if s in m.observed]
    if idle:
        print(
            f"  commit-to-feed, an idle client (own process): {len(idle)} of {len(counted)} "
            f"commits; median {statistics.median(idle):.1f} ms, p99 {percentile(idle, 0.99):.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=20.0, help="writer's commits per second")
    parser.add_argument("--checkpoint-every", type=float, default=1.0)
    parser.add_argument("--no-follower", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        began = time.monotonic()
        prepared = prepare(Path(folder))
        print(f"demo ledger and a consumer key: {time.monotonic() - began:.1f} s")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(prepared, port, args.checkpoint_every)
        follower = None
        try:
            monitor, consumer = prepared.signer("monitor"), prepared.signer("consumer")
            subjects = subject_ids(url, monitor)
            if not args.no_follower:
                follower = start_follower(prepared, url)
                began = time.monotonic()
                with httpx.Client(base_url=url, auth=SignedRequests(consumer)) as client:
                    head = client.get("/v1/ledger").json()["tree_size"]
                follower.wait_for(head)
                print(f"follower's first sync to {head} events: {time.monotonic() - began:.1f} s")
            signers = [monitor if i % 2 == 0 else consumer for i in range(args.clients)]
            everything: list[tuple[int, int, float]] = []
            for name in ("signed", "token"):
                if name == "signed":
                    auths: list[httpx.Auth] = [SignedRequests(s) for s in signers]
                else:
                    auths = [BearerToken(obtain_token(url, s)) for s in signers]
                measured = with_writer(
                    prepared,
                    url,
                    args.rate,
                    lambda auths=auths: asyncio.run(run_round(url, auths, subjects, args.seconds)),
                )
                report(name, measured, args.clients)
                everything += measured.commits
            if follower is not None:
                time.sleep(args.checkpoint_every + 2)
                ms = [v * 1000 for v in mirror_latencies(follower, everything)]
                print(
                    f"commit-to-mirror (trial-ledger follow, checkpoints every "
                    f"{args.checkpoint_every} s): {len(ms)} of {len(everything)} commits; median "
                    f"{statistics.median(ms):.0f} ms, p99 {percentile(ms, 0.99):.0f} ms"
                    if ms
                    else "commit-to-mirror: the follower synced none of the commits"
                )
        finally:
            if follower is not None:
                stop(follower.process)
            stop(server)


if __name__ == "__main__":
    main()
