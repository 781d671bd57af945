"""Ledgers for the adversarial suite, made through `trial-ledger init` and the service, and the
attacker who holds their store (a SQLite file, or a PostgreSQL database as its superuser).

A base ledger is built once per module: ``init`` (which keeps a checkpoint at size 1), the
sites and staff, two subjects with doses in commits of one to three events, a checkpoint kept
in the file part-way, and verifier state written by a full pass part-way. A signed checkpoint
note is made for every commit boundary, so a test can pick any checkpoint size k and have
n - k >= 0 events after it.

A base on PostgreSQL (``build_base(folder, stores)`` with ``postgres`` stores) is copied by
putting its rows into one scratch database of its own (:func:`copy_base`): a test holds one
copy at a time, and a copy costs milliseconds instead of a ``CREATE DATABASE``.
"""

from __future__ import annotations

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
from ledger.store import LedgerReader
from ledger.store.location import PostgresURL, StoreTarget
from ledger.verify import checkpoint_origin, verify_ledger
from tests.store_params import Rows, Stores, StoreTamper, TamperSQL, store_arg
from tests.support import GENESIS_DATE, dose, new_signer, register_sites, screening

PASSPHRASE = "adversarial-passphrase"
SUBJECTS = ("MC0282-001-001", "MC0282-002-001")


@dataclass
class Base:
    folder: Path
    db: StoreTarget
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
    scratch: StoreTarget | None = None
    """PostgreSQL: the database every copy of the base is made in (its rows: ``rows``)."""
    rows: Rows = field(default_factory=dict)


def run_cli(*argv: object) -> int:
    return cli.run([store_arg(a) if isinstance(a, PostgresURL) else str(a) for a in argv])


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


def init_ledger(folder: Path, db: StoreTarget | None = None) -> tuple[StoreTarget, Signer, Signer]:
    """`trial-ledger init` of ``db`` (default: ``folder/trial.db``), the key files in
    ``folder``; returns the store and the sponsor and ledger signers."""
    db = folder / "trial.db" if db is None else db
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


def build_base(
    folder: Path,
    stores: Stores | None = None,
    *,
    first: int = 24,
    middle: int = 16,
    last: int = 20,
) -> Base:
    """The base ledger (in ``stores``, by default a file in ``folder``): ``first`` events, a
    kept checkpoint, ``middle`` more, verifier state, ``last`` more."""
    target = stores.new(folder) if stores is not None else None
    db, sponsor, ledger_signer = init_ledger(folder, target)
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
    postgres = isinstance(db, PostgresURL) and stores is not None
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
        scratch=stores.new(folder) if postgres and stores is not None else None,
        rows=StoreTamper(db).snapshot() if postgres else {},
    )


def copy_base(base: Base, into: Path) -> tuple[StoreTarget, Path]:
    """A copy of the base ledger (a file in ``into``, or the base's scratch database holding
    the base's rows again) and of its verifier state in ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    if base.scratch is not None:
        db: StoreTarget = base.scratch
        StoreTamper(db).restore(base.rows)
    else:
        assert isinstance(base.db, Path)
        db = into / "trial.db"
        with sqlite3.connect(base.db) as source, sqlite3.connect(db) as target:
            source.backup(target)
        source.close()
        target.close()
    state = into / "state"
    shutil.copytree(base.state_dir, state)
    return db, state


@contextmanager
def attacker(db: StoreTarget) -> Iterator[TamperSQL]:
    """Full access to the store: one transaction past the append-only triggers, any SQL
    (``?`` placeholders on both stores)."""
    with StoreTamper(db).attacker() as conn:
        yield conn


def content_digest(db: StoreTarget) -> str:
    """SHA-256 over every row of the ledger tables (to skip a mutation that changed nothing)."""
    return StoreTamper(db).digest()


def today_iso() -> str:
    return date.today().isoformat()
