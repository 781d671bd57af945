"""The machinery of ``bench.reliability_pg`` (and its tests): a trial set up on a PostgreSQL
database, writer processes that log each acknowledged commit, and the checks of what is stored.

A writer is a forked process (the ledger's modules already imported) that records commands
until its deadline and, only after ``record`` or ``import_jsonl`` returned, appends
``ack SEQ FIRST LAST`` to its own log file and fsyncs it. Refusals (``refused KIND``) and
errors (``error TYPE: MESSAGE``) are logged too. What it records:

* ``own``: doses (anakinra, each day of induction once) and labs of its own two subjects;
* ``same``: doses on its own days (day modulo the number of writers) and labs of the one
  subject every ``same`` writer shares;
* every ``import_every``-th operation, a JSON Lines import of ``import_lines`` labs;
* ``import``: one import of a large JSON Lines file, then it stops.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.domain.commands import AssessEligibility, Consent, Enrol, RecordDose, RecordLab
from ledger.domain.commands import Screen as ScreenCommand
from ledger.errors import ConcurrencyError, LedgerError, StorageError
from ledger.events import BaselineLabs
from ledger.integrity.signing import Signer, write_private_key
from ledger.protocol.eligibility import EligibilityInput
from ledger.recording import Recorded, TrialRecorder
from ledger.service import TrialLedger, person_key
from ledger.store.location import parse_store

PASSPHRASE = "reliability-passphrase"
GENESIS = date(2002, 11, 1)
SCREENED_ON = date(2003, 1, 6)
TREATMENT_START = date(2003, 1, 13)
INDUCTION_DAYS = 168  # six 28-day months of daily anakinra before the month-6 decision
SHARED_SUBJECT = "MC0282-001-001"
IMPORT_SUBJECT = "MC0282-001-002"
IMPORT_APP = "reliability_import"
"""``application_name`` of the import's connection, to find its transaction on the server."""
TRIAL_LEDGER = Path(sys.executable).with_name("trial-ledger")
ELIGIBLE: dict[str, Any] = json.loads(
    '{"age_years": 61, "smoldering_or_indolent_myeloma": true, "marrow_plasma_cells_pct": 15,'
    ' "serum_m_protein_g_dl": 3.2, "serum_m_protein_isotype": "IgG", "urine_light_chain_g_24h":'
    ' null, "measurable_disease": true, "needs_immediate_chemotherapy": false,'
    ' "active_myeloma_or_amyloidosis_needing_chemo": false, "interacting_agents": false,'
    ' "ecog": 0, "wbc_per_mm3": 5200, "anc_per_mm3": 2900, "creatinine_x_uln": 0.9,'
    ' "can_self_inject_or_caregiver": true, "pregnant_or_nursing": false, "pregnancy_test":'
    ' "not_applicable", "infection_or_iv_antibiotics_12_weeks": false, "open_wounds": false,'
    ' "other_active_malignancy_5_years": false, "nyha_class_3_or_4": false,'
    ' "ra_or_immunosuppression": false, "asthma_ibd_or_debilitating_illness": false,'
    ' "days_since_prohibited_agent": null}',
    parse_float=Decimal,
)
"""An eligible subject's screening values."""


def private_key(label: str) -> Ed25519PrivateKey:
    """The key of ``label`` (``sponsor``, ``coordinator-3``, ...), derived from the label."""
    secret = hashlib.sha256(f"trial-ledger reliability {label}".encode()).digest()
    return Ed25519PrivateKey.from_private_bytes(secret)


def signer_for(label: str) -> Signer:
    return Signer(private_key(label))


def own_subjects(writer: int) -> tuple[str, str]:
    return f"MC0282-001-{100 + 2 * writer:03d}", f"MC0282-001-{101 + 2 * writer:03d}"


def set_up_trial(url: str, folder: Path, writers: int) -> Path:
    """Create the ledger: site 001, an investigator, a coordinator per writer and one for the
    parent, the shared and import subjects and two of each writer's own, all enrolled; the
    parent coordinator's key file (encrypted with :data:`PASSPHRASE`, in ``folder``)."""
    folder.mkdir(parents=True, exist_ok=True)
    sponsor, ledger_key = signer_for("sponsor"), signer_for("ledger")
    with TrialLedger.create(
        parse_store(url),
        sponsor=sponsor,
        sponsor_name="Sponsor Office",
        ledger_public=ledger_key.public_key,
        ledger_key_id=ledger_key.key_id,
        protocol_amendment="MC0282-original",
        effective_date=GENESIS,
    ) as ledger:
        ledger.register_site(sponsor, "001", "Site 001", "site activated", GENESIS)
        staff = [("investigator", "investigator"), ("coordinator-parent", "coordinator")]
        staff += [(f"coordinator-{w}", "coordinator") for w in range(writers)]
        for label, role in staff:
            signer = signer_for(label)
            key = person_key(signer.public_key, signer.key_id, label, role, "001")
            ledger.register_key(sponsor, key, "trial staff", GENESIS)
        recorder = TrialRecorder(ledger)
        subjects = [SHARED_SUBJECT, IMPORT_SUBJECT]
        subjects += [s for w in range(writers) for s in own_subjects(w)]
        for subject in subjects:
            enrol(recorder, subject)
    key_file = folder / "coordinator-parent.key"
    if not key_file.exists():
        write_private_key(key_file, private_key("coordinator-parent"), PASSPHRASE.encode())
    return key_file


def enrol(recorder: TrialRecorder, subject: str) -> None:
    coordinator, investigator = signer_for("coordinator-parent"), signer_for("investigator")
    screen = ScreenCommand(subject_id=subject, date=SCREENED_ON, site="001", age_years=61, sex="F")
    recorder.record(coordinator, screen)
    consent = Consent(subject_id=subject, date=SCREENED_ON, consent_version="2002-10")
    recorder.record(coordinator, consent)
    inputs = EligibilityInput.model_validate(ELIGIBLE)
    assessed = AssessEligibility(subject_id=subject, date=SCREENED_ON, inputs=inputs)
    recorder.record(investigator, assessed)
    baseline = BaselineLabs(serum_m_protein_g_dl=Decimal("3.2"), hs_crp_mg_l=Decimal("4.1"))
    on, start = SCREENED_ON + timedelta(days=4), TREATMENT_START
    enrolment = Enrol(subject_id=subject, date=on, treatment_start=start, baseline=baseline)
    recorder.record(investigator, enrolment)


def lab(subject: str, n: int) -> RecordLab:
    value = Decimal(250 + n % 150) / 100
    on = TREATMENT_START + timedelta(days=n % INDUCTION_DAYS)
    return RecordLab(
        subject_id=subject, date=on, analyte="serum_m_protein", value=value, unit="g/dL"
    )


def lab_lines(subject: str, count: int, start: int = 0) -> list[str]:
    """``count`` import lines, each a serum M-protein result of ``subject``."""
    return [
        json.dumps({"command": "lab", **lab(subject, n).model_dump(mode="json")})
        for n in range(start, start + count)
    ]


def dose(subject: str, day: int) -> RecordDose:
    on = TREATMENT_START + timedelta(days=day - 1)
    return RecordDose(subject_id=subject, date=on, drug="anakinra", dose=Decimal(100), route="SC")


@dataclass(frozen=True)
class WriterSpec:
    """What one writer process does, until ``deadline`` (``time.time()``)."""

    url: str
    log: Path
    index: int
    writers: int
    mode: str  # "own", "same" or "import"
    deadline: float
    import_every: int = 0
    import_lines: int = 0
    import_file: Path | None = None
    stop_file: Path | None = None
    """Stop (after the recording under way) once this file exists."""
    reopen: bool = False
    """After an error, open the ledger again (else go on with the same ``TrialLedger``)."""

    def running(self) -> bool:
        stopped = self.stop_file is not None and self.stop_file.exists()
        return time.time() < self.deadline and not stopped


def _next_dose(recorder: TrialRecorder, spec: WriterSpec, subject: str) -> RecordDose | None:
    """A dose on the first of this writer's days not yet dosed (None once all are)."""
    dosed = recorder.patient(subject).doses
    step = spec.writers if spec.mode == "same" else 1
    first = 1 + spec.index % step
    for day in range(first, INDUCTION_DAYS + 1, step):
        command = dose(subject, day)
        if ("anakinra", command.date) not in dosed:
            return command
    return None


def _operations(spec: WriterSpec) -> Iterator[tuple[str, int]]:
    """(subject, n) without end: the n-th operation of this writer is on that subject."""
    subjects = [SHARED_SUBJECT] if spec.mode == "same" else list(own_subjects(spec.index))
    n = spec.index * 1000
    while True:
        for subject in subjects:
            n += 1
            yield subject, n


def _is_import(spec: WriterSpec, n: int) -> bool:
    return bool(spec.import_every) and n % spec.import_every == 0


def _operation(
    recorder: TrialRecorder, signer: Signer, spec: WriterSpec, subject: str, n: int
) -> Recorded:
    """Every ``import_every``-th an import of labs; else a dose on odd n while this writer's
    days last, a lab otherwise."""
    if _is_import(spec, n):
        return recorder.import_jsonl(signer, lab_lines(subject, spec.import_lines, n))
    command = _next_dose(recorder, spec, subject) if n % 2 else None
    return recorder.record(signer, command or lab(subject, n))


class WriterLog:
    """A writer's own log file: each line written with one ``write`` (O_APPEND); an ``ack``
    line is fsynced before the writer goes on."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def line(self, text: str, *, sync: bool = False) -> None:
        os.write(self.fd, (" ".join(text.split()) + "\n").encode())
        if sync:
            os.fsync(self.fd)

    def ack(self, recorded: Recorded) -> None:
        h = recorded.commit.header
        self.line(f"ack {h.seq} {h.first_position} {h.last_position} {time.time():.6f}", sync=True)


def run_writer(spec: WriterSpec) -> None:
    """The body of a writer process (see the module docstring)."""
    log = WriterLog(spec.log)
    signer = signer_for(f"coordinator-{spec.index}")
    opened: list[TrialRecorder] = []  # the writer's ledger, once opened

    def recorder() -> TrialRecorder:
        if not opened:
            opened.append(TrialRecorder(TrialLedger.open(parse_store(spec.url))))
        return opened[0]

    if spec.mode == "import" and spec.import_file is not None:
        file = spec.import_file
        _write_once(log, lambda: recorder().import_jsonl(signer, file), "import")
        return
    for subject, n in _operations(spec):
        if not spec.running():
            break
        kind = "import" if _is_import(spec, n) else "record"
        write = lambda: _operation(recorder(), signer, spec, subject, n)  # noqa: B023, E731
        if not _write_once(log, write, kind):
            if spec.reopen and opened:
                with contextlib.suppress(Exception):
                    opened.pop().ledger.close()
            time.sleep(0.2)  # the server may be restarting: try again shortly
    log.line("done")


def _write_once(log: WriterLog, write: Any, kind: str = "record") -> bool:
    """One recording; False after an error that is no refusal (e.g. the server went away)."""
    try:
        recorded = write()
    except ConcurrencyError:
        log.line(f"refused busy:{kind}")
    except StorageError as error:  # the store refused (e.g. the server is starting up)
        log.line(f"error {error_name(error)}: {error}")
        return False
    except LedgerError as error:
        log.line(f"refused {type(error).__name__}: {error}")
    except Exception as error:  # noqa: BLE001 - every failure is a figure, logged
        log.line(f"error {error_name(error)}: {error}")
        return False
    else:
        log.ack(recorded)
    return True


def error_name(error: BaseException) -> str:
    """The error's type with its package (``psycopg.OperationalError``)."""
    return f"{type(error).__module__.split('.')[0]}.{type(error).__name__}"


def start_writer(spec: WriterSpec) -> BaseProcess:
    """Fork a writer process (no connection may be open in this process when it forks)."""
    process = multiprocessing.get_context("fork").Process(target=run_writer, args=(spec,))
    process.start()
    return process


def kill(process: BaseProcess) -> None:
    """SIGKILL: the process stops between any two instructions, its log as it stands."""
    if process.pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)


def join_all(processes: list[BaseProcess], timeout: float) -> int:
    """Wait for every process; kill those still running after ``timeout`` s (the number)."""
    end, hung = time.monotonic() + timeout, 0
    for process in processes:
        process.join(max(0.0, end - time.monotonic()))
        if process.is_alive():
            hung += 1
            kill(process)
            process.join(10)
    return hung


@dataclass
class Outcome:
    """What the writers' logs say: acknowledged commits (seq -> first, last), refusals, errors."""

    acks: dict[int, tuple[int, int]] = field(default_factory=dict)
    refusals: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    duplicate_acks: int = 0

    def add_ack(self, seq: int, first: int, last: int) -> None:
        if seq in self.acks:
            self.duplicate_acks += 1
        self.acks[seq] = (first, last)

    def read(self, path: Path) -> None:
        if not path.exists():
            return
        for text in path.read_text(encoding="utf-8").splitlines(keepends=True):
            if not text.endswith("\n"):
                break  # a line cut short by SIGKILL: not acknowledged
            word, *rest = text.split()
            if word == "ack":
                self.add_ack(*(int(x) for x in rest[:3]))
            elif word == "refused":
                self.refusals[rest[0].rstrip(":")] += 1
            elif word == "error":
                self.errors[" ".join(rest)[:200]] += 1

    @property
    def events(self) -> int:
        return sum(last - first + 1 for first, last in self.acks.values())


_S = "trial_ledger"
_EVENTS = (
    "SELECT count(*), count(DISTINCT position), count(DISTINCT (originator_id, "
    f"originator_version)), coalesce(max(position), 0) FROM {_S}.stored_events"
)
_HALF_WRITTEN = f"""
WITH per AS (SELECT commit_seq, count(*) AS n, min(position) AS lo, max(position) AS hi
             FROM {_S}.stored_events GROUP BY commit_seq)
SELECT
  (SELECT count(*) FROM {_S}.ledger_commits c LEFT JOIN per ON per.commit_seq = c.seq
   WHERE per.n IS NULL OR per.n <> c.last_position - c.first_position + 1
      OR per.lo <> c.first_position OR per.hi <> c.last_position),
  (SELECT coalesce(sum(per.n), 0) FROM per LEFT JOIN {_S}.ledger_commits c
   ON c.seq = per.commit_seq WHERE c.seq IS NULL),
  (SELECT count(*) FROM {_S}.stored_events
   WHERE position > (SELECT coalesce(max(last_position), 0) FROM {_S}.ledger_commits))"""


@dataclass(frozen=True)
class Stored:
    """What the database holds: commits (seq -> first, last) and the structural faults."""

    commits: dict[int, tuple[int, int]]
    events: int
    gaps: int
    duplicates: int
    half_written: int


def stored(url: str) -> Stored:
    """The ledger's commits and events as PostgreSQL holds them (one read transaction)."""
    with psycopg.connect(url, connect_timeout=10) as conn:
        rows = conn.execute(
            f"SELECT seq, first_position, last_position FROM {_S}.ledger_commits ORDER BY seq"
        ).fetchall()
        count, distinct, versions, top = conn.execute(_EVENTS).fetchone() or (0, 0, 0, 0)
        half = conn.execute(_HALF_WRITTEN).fetchone() or (0, 0, 0)
    commits = {seq: (first, last) for seq, first, last in rows}
    ends = [0] + [last for _, _, last in rows]
    breaks = sum(first != ends[i] + 1 for i, (_, first, _) in enumerate(rows))
    gaps = (top - distinct) + ((rows[-1][0] if rows else 0) - len(rows)) + breaks
    duplicates = (count - distinct) + (count - versions)
    return Stored(commits, count, gaps, duplicates, sum(half))


def verify(url: str) -> tuple[bool, str]:
    """``trial-ledger verify --db URL --json``: ok, and why not."""
    command = [str(TRIAL_LEDGER), "verify", "--db", url, "--json"]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        return False, f"exit {done.returncode}: {done.stderr.strip()[-500:]}"
    ok = done.returncode == 0 and report.get("ok") is True
    return ok, "" if ok else json.dumps(report.get("first_failure"))
