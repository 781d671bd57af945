"""Test support for the served ledger: a small ledger with a key for every role, servers.

* :func:`build_ledger`: a SQLite ledger with sites 001 and 002, a registered key for every
  role (:data:`PEOPLE`), subjects at both sites (:data:`SUBJECTS`: screened, consented,
  eligible, enrolled, a dose, a lab and a correction of it) and one signed checkpoint;
  the keys written as encrypted key files (mode 0600) with one passphrase.
* :func:`running_server`: ``create_app`` under uvicorn in a background thread on 127.0.0.1
  (a free port), yielding its base URL once it answers.
* :func:`signed_client`: an httpx client (in-process, or to a running server) that signs
  every request with one person's key.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from ledger.domain.commands import AssessEligibility, Consent, Correct, RecordDose, RecordLab
from ledger.integrity.signing import Signer, generate_private_key, write_private_key
from ledger.recording import TrialRecorder
from ledger.remote.auth import SignedRequests
from ledger.server.app import create_app
from ledger.server.config import ServerConfig
from ledger.service import TrialLedger, person_key
from tests.domain.trial_helpers import (
    START,
    TODAY,
    eligible_inputs,
    enrol_command,
    screen_command,
)
from tests.support import GENESIS_DATE, Cast, register_sites

PASSPHRASE = b"correct horse battery staple"
SITES = ("001", "002")

PEOPLE: dict[str, tuple[str, str, str]] = {
    # label: (printed name, role, site)
    "sponsor": ("Sponsor Office", "sponsor", "*"),
    "investigator-001": ("Dr. Ada Investigator", "investigator", "001"),
    "investigator-002": ("Dr. Ben Investigator", "investigator", "002"),
    "coordinator-001": ("Cole Coordinator", "coordinator", "001"),
    "coordinator-002": ("Sita Coordinator", "coordinator", "002"),
    "monitor": ("Mona Monitor", "monitor", "*"),
    "data-manager": ("Dana Manager", "data-manager", "*"),
    "auditor": ("Aud Auditor", "auditor", "*"),
    "consumer": ("Stats Warehouse", "consumer", "*"),
}
"""Every registered key of the served ledger, by label (the sponsor's is the trial's root)."""

SUBJECTS: dict[str, tuple[str, ...]] = {
    "001": ("MC0282-001-017", "MC0282-001-018"),
    "002": ("MC0282-002-001", "MC0282-002-002"),
}
"""Subjects by site: the first of each enrolled (a dose, a lab, a correction at site 001),
the second screened, consented and assessed eligible only."""
ENROLLED = ("MC0282-001-017", "MC0282-002-001")


@dataclass(frozen=True)
class Served:
    """A ledger to serve: its file, the people's signers and key files."""

    db: Path
    signers: Mapping[str, Signer]
    """By label (:data:`PEOPLE`), and ``ledger`` for the checkpoint key."""
    key_files: Mapping[str, Path]
    """Encrypted (``PASSPHRASE``), mode 0600, by the same labels."""
    passphrase_file: Path
    passphrase: bytes = PASSPHRASE
    subjects: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: SUBJECTS)

    @property
    def ledger_key_file(self) -> Path:
        return self.key_files["ledger"]

    def signer(self, label: str) -> Signer:
        return self.signers[label]

    def key_id(self, label: str) -> str:
        return self.signers[label].key_id

    def config(self, **changes: Any) -> ServerConfig:
        """A server configuration for this ledger (``changes``: other settings)."""
        return replace(ServerConfig(db=self.db), **changes)

    def open(self) -> TrialLedger:
        """The ledger's write side (close it after use)."""
        return TrialLedger.open(self.db)

    def copy_to(self, directory: Path) -> Served:
        """The same ledger and keys, its file copied into ``directory`` (a test's own)."""
        db = directory / self.db.name
        shutil.copyfile(self.db, db)
        return replace(self, db=db)


def _key(directory: Path, label: str) -> tuple[Signer, Path]:
    private = generate_private_key()
    path = directory / f"{label}.key"
    write_private_key(path, private, PASSPHRASE)
    return Signer(private), path


def build_ledger(directory: Path) -> Served:
    """The served test ledger in ``directory`` (see the module docstring)."""
    directory.mkdir(parents=True, exist_ok=True)
    keys = {label: _key(directory, label) for label in (*PEOPLE, "ledger")}
    signers = {label: signer for label, (signer, _) in keys.items()}
    sponsor, ledger_key = signers["sponsor"], signers["ledger"]
    db = directory / "trial.db"
    ledger = TrialLedger.create(
        db,
        sponsor=sponsor,
        sponsor_name=PEOPLE["sponsor"][0],
        ledger_public=ledger_key.public_key,
        ledger_key_id=ledger_key.key_id,
        protocol_amendment="MC0282-original",
        effective_date=GENESIS_DATE,
    )
    try:
        register_sites(ledger, sponsor, SITES)
        for label, (name, role, site) in PEOPLE.items():
            if label != "sponsor":
                key = person_key(signers[label].public_key, signers[label].key_id, name, role, site)
                ledger.register_key(sponsor, key, "trial staff", GENESIS_DATE)
        _record_subjects(ledger, signers)
        ledger.checkpoint(ledger_key)
    finally:
        ledger.close()
    passphrase_file = directory / "passphrase"
    passphrase_file.write_bytes(PASSPHRASE + b"\n")
    passphrase_file.chmod(0o600)
    return Served(
        db=db,
        signers=signers,
        key_files={label: path for label, (_, path) in keys.items()},
        passphrase_file=passphrase_file,
    )


def _record_subjects(ledger: TrialLedger, signers: Mapping[str, Signer]) -> None:
    recorder = TrialRecorder(ledger, clock=lambda: TODAY)
    for site, (enrolled, screened) in SUBJECTS.items():
        cast = _site_cast(signers, site)
        for subject in (enrolled, screened):
            _screen(recorder, cast, subject, site)
        recorder.record(cast.investigator, enrol_command(enrolled))
        coordinator = cast.coordinator
        recorder.record(
            coordinator,
            RecordDose(
                subject_id=enrolled, date=START, drug="anakinra", dose=Decimal(100), route="SC"
            ),
        )
        if site == "001":
            lab = recorder.record(
                coordinator,
                RecordLab(
                    subject_id=enrolled,
                    date=START,
                    analyte="serum_m_protein",
                    value=Decimal("3.1"),
                    unit="g/dL",
                ),
            )
            recorder.record(
                coordinator,
                Correct(
                    subject_id=enrolled,
                    date=date(2003, 1, 14),
                    position=lab.positions[0],
                    field="value",
                    old_value="3.1",
                    new_value="3.0",
                    reason="transcription error",
                ),
            )


def _screen(recorder: TrialRecorder, cast: Cast, subject: str, site: str) -> None:
    """Screened, consented and assessed eligible at ``site``."""
    recorder.record(cast.coordinator, screen_command(subject, site=site))
    recorder.record(
        cast.coordinator,
        Consent(subject_id=subject, date=date(2003, 1, 7), consent_version="2002-10"),
    )
    recorder.record(
        cast.investigator,
        AssessEligibility(subject_id=subject, date=date(2003, 1, 8), inputs=eligible_inputs()),
    )


def _site_cast(signers: Mapping[str, Signer], site: str) -> Cast:
    """The cast the domain helpers take: this site's investigator and coordinator."""
    return Cast(
        sponsor=signers["sponsor"],
        ledger_key=signers["ledger"],
        investigator=signers[f"investigator-{site}"],
        coordinator=signers[f"coordinator-{site}"],
        coordinator_site2=signers["coordinator-002"],
        monitor=signers["monitor"],
        auditor=signers["auditor"],
    )


def free_socket() -> socket.socket:
    """A listening-ready socket bound to a free port of 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def running_server(app: FastAPI | ServerConfig, *, timeout: float = 10.0) -> Iterator[str]:
    """``app`` (or ``create_app(config)``) served by uvicorn on 127.0.0.1 in a background
    thread; yields its base URL once it answers, then shuts it down."""
    application = app if isinstance(app, FastAPI) else create_app(app)
    sock = free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        application,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()


def signed_client(
    signer: Signer | None, *, base_url: str | None = None, app: FastAPI | None = None
) -> httpx.Client:
    """A client signing every request with ``signer`` (None: unsigned), to the server at
    ``base_url`` or in-process to ``app`` (a TestClient; use it as a context manager so the
    app's startup runs)."""
    auth = SignedRequests(signer) if signer is not None else None
    if app is not None:
        with warnings.catch_warnings():
            # Starlette prefers httpx2 for its TestClient; the code and the tests use httpx.
            warnings.filterwarnings("ignore", "Using `httpx` with")
            from fastapi.testclient import TestClient  # noqa: PLC0415

        client = TestClient(app, raise_server_exceptions=False)
        if auth is not None:
            client.auth = auth
        return client
    if base_url is None:
        raise ValueError("signed_client needs a base_url or an app")
    return httpx.Client(base_url=base_url, auth=auth, timeout=30.0)
