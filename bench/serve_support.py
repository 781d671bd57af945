"""What :mod:`bench.bench_serve` runs beside its clients: the demo ledger with a consumer key,
``trial-ledger serve`` and ``trial-ledger follow`` as processes of their own, and a writer
process appending single-event commits at a steady rate.

Everything is on 127.0.0.1, in one temporary folder, and bounded in time.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import httpx

from ledger.cli.demo.team import demo_signer
from ledger.integrity.signing import Signer, generate_private_key, write_private_key
from ledger.service import TrialLedger, person_key

PASSPHRASE = "bench-serve-passphrase"
SEED = 282
CONSUMER_NAME = "Stats Warehouse"
WRITER_SUBJECTS = [f"MC0282-001-{n:03d}" for n in range(901, 906)]
"""Fresh subjects the writer enrols, then records lab results for (the demo's are its own)."""
TRIAL_LEDGER = str(Path(sys.executable).parent / "trial-ledger")


@dataclass(frozen=True)
class Prepared:
    """The demo ledger and the key files the benchmark uses."""

    folder: Path
    db: Path
    keys: Path
    passphrase_file: Path

    def key(self, label: str) -> Path:
        return self.keys / f"{label}.key"

    def signer(self, label: str) -> Signer:
        return Signer.from_key_file(self.key(label), PASSPHRASE.encode())


def prepare(folder: Path) -> Prepared:
    """``trial-ledger demo`` into ``folder``, then a consumer key registered by the sponsor."""
    env = {**os.environ, "TRIAL_LEDGER_PASSPHRASE": PASSPHRASE}
    db, keys = folder / "trial.db", folder / "keys"
    built = subprocess.run(
        [TRIAL_LEDGER, "demo", "--db", str(db), "--keys", str(keys)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        raise RuntimeError(f"trial-ledger demo failed: {built.stderr.strip()}")
    passphrase_file = folder / "passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    passphrase_file.chmod(0o600)
    prepared = Prepared(folder, db, keys, passphrase_file)
    private = generate_private_key()
    write_private_key(prepared.key("consumer"), private, PASSPHRASE.encode())
    consumer = Signer(private)
    with TrialLedger.open(db) as ledger:
        key = person_key(consumer.public_key, consumer.key_id, CONSUMER_NAME, "consumer", "*")
        ledger.register_key(prepared.signer("sponsor"), key, "statistics system", date.today())
    return prepared


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_answering(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(url + "/v1/openapi.json", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("the server did not answer")


def start_server(prepared: Prepared, port: int, checkpoint_every: float) -> subprocess.Popen[bytes]:
    """``trial-ledger serve`` on 127.0.0.1:``port`` signing checkpoints with the ledger key."""
    process = subprocess.Popen(
        [
            TRIAL_LEDGER,
            "serve",
            "--db",
            str(prepared.db),
            "--port",
            str(port),
            "--checkpoint-key",
            str(prepared.key("ledger")),
            "--checkpoint-every",
            str(checkpoint_every),
            "--passphrase-file",
            str(prepared.passphrase_file),
        ],
        stdout=subprocess.DEVNULL,
    )
    wait_until_answering(f"http://127.0.0.1:{port}", process)
    return process


def stop(process: subprocess.Popen[Any], timeout: float = 15) -> None:
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Follower:
    """``trial-ledger follow URL --mirror DIR --json``: each sync line with when it arrived."""

    process: subprocess.Popen[str]
    syncs: list[tuple[float, int]] = field(default_factory=list)
    """(monotonic time the line was read, mirror's tree size)."""

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                size = int(json.loads(line)["tree_size"])
            except (ValueError, KeyError):
                continue
            self.syncs.append((time.monotonic(), size))

    def wait_for(self, size: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not (self.syncs and self.syncs[-1][1] >= size):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the follower did not reach tree size {size}")
            time.sleep(0.05)


def start_follower(prepared: Prepared, url: str) -> Follower:
    mirror = prepared.folder / "mirror"
    mirror.mkdir()
    process = subprocess.Popen(
        [
            TRIAL_LEDGER,
            "follow",
            url,
            "--mirror",
            str(mirror),
            "--key",
            str(prepared.key("consumer")),
            "--sponsor-key",
            str(prepared.key("sponsor")) + ".pub",
            "--passphrase-file",
            str(prepared.passphrase_file),
            "--json",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    follower = Follower(process)
    threading.Thread(target=follower.read, daemon=True).start()
    return follower


def writer(db: str, rate: float, go: Event, stop_writing: Event, out: Queue[Any]) -> None:
    """Child process: enrol the writer's subjects, say "ready", then from ``go`` until
    ``stop_writing`` append one lab result per commit every 1/``rate`` s; finally send the
    (seq, last position, monotonic time the append returned) of each."""
    from tests.projection_support import Trial  # noqa: PLC0415 - the child's own imports
    from tests.support import Cast  # noqa: PLC0415

    signer = {label: demo_signer(SEED, label) for label in ("investigator-001", "sponsor")}
    sponsor, investigator = signer["sponsor"], signer["investigator-001"]
    cast = Cast(sponsor, sponsor, investigator, sponsor, sponsor, sponsor, sponsor)
    with TrialLedger.open(Path(db)) as ledger:
        trial = Trial(ledger, cast)
        for subject in WRITER_SUBJECTS:
            trial.versions[subject] = ledger.reader.stream_version(_stream_hex(subject))
            if trial.versions[subject] == 0:
                trial.onboard(subject)
        out.put("ready")
        go.wait()
        returned: list[tuple[int, int, float]] = []
        start, i = time.monotonic(), 0
        while not stop_writing.is_set():
            subject = WRITER_SUBJECTS[i % len(WRITER_SUBJECTS)]
            on = (date(2003, 2, 2) + timedelta(days=trial.versions[subject])).isoformat()
            commit = trial.append(trial.lab(subject, on, f"{1 + i % 5}.{i % 10}"))
            returned.append((commit.header.seq, commit.header.last_position, time.monotonic()))
            i += 1
            time.sleep(max(0.0, start + i / rate - time.monotonic()))
        out.put(returned)


def _stream_hex(subject: str) -> str:
    from ledger.events import subject_stream_id  # noqa: PLC0415

    return subject_stream_id(subject).hex


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def observer(url: str, key_file: str, ready: Event, stop_observing: Event, out: Queue[Any]) -> None:
    """Child process: one feed client doing nothing else (so what it measures is the server's
    latency, not a busy client's); sends {seq: monotonic arrival} once ``stop_observing``."""
    from ledger.remote.auth import SignedRequests  # noqa: PLC0415 - the child's own imports

    signer = Signer.from_key_file(Path(key_file), PASSPHRASE.encode())
    arrived: dict[int, float] = {}

    def read() -> None:
        with (
            httpx.Client(base_url=url, auth=SignedRequests(signer), timeout=None) as client,
            client.stream("GET", "/v1/feed") as response,
        ):
            ready.set()
            event = ""
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "commit":
                    arrived[int(json.loads(line[5:])["seq"])] = time.monotonic()
                elif not line:
                    event = ""

    threading.Thread(target=read, daemon=True).start()
    stop_observing.wait()
    out.put(dict(arrived))
