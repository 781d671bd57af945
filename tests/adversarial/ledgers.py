"""Ledgers for the adversarial suite, made through `trial-ledger init` and the service, and the
attacker who holds their files.

A base ledger is built once per module: ``init`` (which keeps a checkpoint at size 1), the
sites and staff, two subjects with doses in commits of one to three events, a checkpoint kept
in the file part-way, and verifier state written by a full pass part-way. A signed checkpoint
note is made for every commit boundary, so a test can pick any checkpoint size k and have
n - k >= 0 events after it.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import cli
from ledger.events import LedgerEvent
from ledger.integrity import merkle
from ledger.integrity.checkpoint import Checkpoint, sign_checkpoint
from ledger.integrity.signing import Signer
from ledger.service import TrialLedger, person_key
from ledger.store import APPEND_ONLY_TABLES, LedgerReader
from ledger.verify import checkpoint_origin, verify_ledger
from tests.support import GENESIS_DATE, dose, new_signer, register_sites, screening

PASSPHRASE = "adversarial-passphrase"
SUBJECTS = ("MC0282-001-001", "MC0282-002-001")
LEDGER_TABLES = ("stored_events", "ledger_commits", "ledger_checkpoints", "ledger_meta")


@dataclass
class Base:
    folder: Path
    db: Path
    sponsor_key: Path
    ledger_key: Path
    size: int
    boundaries: list[int]
    notes: dict[int, Path]
    state_dir: Path
    state_size: int
    kept_checkpoints: list[int]
    commit_seqs: dict[int, int] = field(default_factory=dict)
    """Commit seq ending at each boundary."""


def run_cli(*argv: object) -> int:
    return cli.run([str(a) for a in argv])


@contextmanager
def passphrase_env() -> Iterator[None]:
    old = os.environ.get("TRIAL_LEDGER_PASSPHRASE")
    os.environ["TRIAL_LEDGER_PASSPHRASE"] = PASSPHRASE
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TRIAL_LEDGER_PASSPHRASE", None)
        else:
            os.environ["TRIAL_LEDGER_PASSPHRASE"] = old


def init_ledger(folder: Path) -> tuple[Path, Signer, Signer]:
    """`trial-ledger init` in ``folder``; returns the db and the sponsor and ledger signers."""
    db = folder / "trial.db"
    with passphrase_env():
        code = run_cli(
            "init",
            "--db",
            db,
            "--sponsor-name",
            "Sponsor Office",
            "--sponsor-key-out",
            folder / "sponsor.key",
            "--ledger-key-out",
            folder / "ledger.key",
            "--date",
            GENESIS_DATE.isoformat(),
        )
    assert code == 0
    passphrase = PASSPHRASE.encode()
    return (
        db,
        Signer.from_key_file(folder / "sponsor.key", passphrase),
        Signer.from_key_file(folder / "ledger.key", passphrase),
    )


def staff(ledger: TrialLedger, sponsor: Signer) -> dict[str, Signer]:
    register_sites(ledger, sponsor)
    people = {"001": new_signer(), "002": new_signer()}
    for site, signer in people.items():
        key = person_key(
            signer.public_key, signer.key_id, f"Coordinator {site}", "coordinator", site
        )
        ledger.register_key(sponsor, key, "trial staff", GENESIS_DATE)
    return people


def append_events(
    ledger: TrialLedger,
    people: dict[str, Signer],
    versions: dict[str, int],
    count: int,
    rng: random.Random,
) -> None:
    """``count`` events for the two subjects (screening first), commits of one to three."""
    while count > 0:
        subject = SUBJECTS[rng.randrange(len(SUBJECTS))]
        signer = people[subject.split("-")[1]]
        version = versions.get(subject, 0)
        batch: list[LedgerEvent]
        if version == 0:
            batch = [screening(subject, 1, site=subject.split("-")[1])]
        else:
            size = min(rng.randint(1, 3), count)
            batch = [dose(subject, version + 1 + i, version + i) for i in range(size)]
        ledger.append(signer, batch)
        versions[subject] = version + len(batch)
        count -= len(batch)


def sign_note(ledger_signer: Signer, ledger_id: str, leaves: list[bytes], size: int) -> str:
    cp = Checkpoint(
        origin=checkpoint_origin(ledger_id),
        tree_size=size,
        root=merkle.root(leaves[:size]),
        time=datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
    )
    return sign_checkpoint(cp, cp.origin, ledger_signer)


def build_base(folder: Path, *, first: int = 24, middle: int = 16, last: int = 20) -> Base:
    """The base ledger: ``first`` events, a kept checkpoint, ``middle`` more, verifier state,
    ``last`` more."""
    db, sponsor, ledger_signer = init_ledger(folder)
    rng = random.Random(20261201)
    versions: dict[str, int] = {}
    state_dir = folder / "verifier-state"
    with TrialLedger.open(db) as ledger:
        people = staff(ledger, sponsor)
        append_events(ledger, people, versions, first, rng)
        ledger.checkpoint(ledger_signer)
        append_events(ledger, people, versions, middle, rng)
        with LedgerReader(db) as reader:
            assert verify_ledger(reader, state_dir=state_dir).ok
            state_size = reader.size()
        append_events(ledger, people, versions, last, rng)
        ledger_id = ledger.ledger_id
    with LedgerReader(db) as reader:
        size = reader.size()
        leaves = list(reader.leaf_hashes())
        commits = list(reader.iter_commits())
        kept = [s for s, _, _ in reader.checkpoints()]
    notes: dict[int, Path] = {}
    for c in commits:
        k = c.header.last_position
        path = folder / f"cp-{k}.checkpoint"
        path.write_text(sign_note(ledger_signer, ledger_id, leaves, k), encoding="utf-8")
        notes[k] = path
    return Base(
        folder=folder,
        db=db,
        sponsor_key=folder / "sponsor.key",
        ledger_key=folder / "ledger.key",
        size=size,
        boundaries=sorted(notes),
        notes=notes,
        state_dir=state_dir,
        state_size=state_size,
        kept_checkpoints=kept,
        commit_seqs={c.header.last_position: c.header.seq for c in commits},
    )


def copy_base(base: Base, into: Path) -> tuple[Path, Path]:
    """A copy of the base ledger file and of its verifier state in ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    db = into / "trial.db"
    with sqlite3.connect(base.db) as source, sqlite3.connect(db) as target:
        source.backup(target)
    source.close()
    target.close()
    state = into / "state"
    shutil.copytree(base.state_dir, state)
    return db, state


@contextmanager
def attacker(db: Path) -> Iterator[sqlite3.Connection]:
    """Write access to the file: the append-only triggers dropped, any SQL allowed."""
    conn = sqlite3.connect(db, isolation_level=None)
    for table in APPEND_ONLY_TABLES:
        for action in ("update", "delete"):
            conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")
    conn.execute("BEGIN")
    try:
        yield conn
        conn.execute("COMMIT")
    finally:
        conn.close()


def content_digest(db: Path) -> str:
    """SHA-256 over every row of the ledger tables (to skip a mutation that changed nothing)."""
    digest = hashlib.sha256()
    conn = sqlite3.connect(db)
    try:
        for table in LEDGER_TABLES:
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1"):
                digest.update(repr(row).encode())
    finally:
        conn.close()
    return digest.hexdigest()


def today_iso() -> str:
    return date.today().isoformat()
