"""Backing up a live ledger: one consistent snapshot, verified, a single file, or nothing at all."""

from __future__ import annotations

import math
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest

from ledger.backup import backup_ledger
from ledger.errors import UsageError, VerificationError
from ledger.integrity import merkle
from ledger.integrity.signing import Signer, generate_private_key, write_private_key
from ledger.service import TrialLedger, person_key
from ledger.store import APPEND_ONLY_TABLES, LedgerReader, LedgerStore
from ledger.verify import VerifyReport, verify_ledger
from tests.support import GENESIS_DATE, Cast, append_doses, screening

SUBJECT = "MC0282-001-031"
WRITER_SUBJECT = "MC0282-001-050"
PASSPHRASE = b"backup writer passphrase"
REPO = Path(__file__).resolve().parents[2]

# A second process that appends signed commits of one to three doses until told to stop.
WRITER = """
import sys, time
from pathlib import Path
from ledger.integrity.signing import Signer
from ledger.service import TrialLedger
from tests.support import dose, screening
db, key, stop, subject = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
signer = Signer.from_key_file(key, sys.argv[5].encode())
deadline = time.monotonic() + 120
with TrialLedger.open(db) as ledger:
    ledger.append(signer, [screening(subject)])
    version = 2
    while not stop.exists() and time.monotonic() < deadline:
        n = 1 + version % 3
        ledger.append(signer, [dose(subject, version + i, version + i) for i in range(n)])
        version += n
print(version - 1)
"""


def verified(db: Path) -> VerifyReport:
    with LedgerReader(db) as reader:
        return verify_ledger(reader)


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


@pytest.fixture
def filled(ledger: TrialLedger, cast: Cast) -> TrialLedger:
    ledger.append(cast.coordinator, [screening(SUBJECT)])
    append_doses(ledger, cast.coordinator, SUBJECT, 40)
    ledger.checkpoint(cast.ledger_key)
    append_doses(ledger, cast.coordinator, SUBJECT, 9, start_version=42)
    return ledger


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "backups"
    folder.mkdir()
    return folder


def test_backup_verifies_with_the_same_root_size_and_commits_as_the_source(
    filled: TrialLedger, out_dir: Path
) -> None:
    source = verified(filled.db_path)
    result = backup_ledger(filled.db_path, out_dir / "copy.db")
    copy = verified(out_dir / "copy.db")
    assert source.ok
    assert copy.ok
    assert (result.events, result.tree_size, result.commits, result.root) == (
        source.events,
        source.tree_size,
        source.commits,
        source.root,
    )
    assert (copy.events, copy.commits, copy.root) == (source.events, source.commits, source.root)
    assert copy.checkpoints_checked == source.checkpoints_checked == 1
    assert result.to_json()["root"] == source.to_json()["root"]


def test_backup_is_one_self_contained_file_in_rollback_journal_mode(
    filled: TrialLedger, out_dir: Path, tmp_path: Path
) -> None:
    out = out_dir / "copy.db"
    backup_ledger(filled.db_path, out)
    assert leftovers(out_dir, set()) == ["copy.db"]
    assert out.read_bytes()[18:20] == b"\x01\x01"  # file format: rollback journal, not WAL
    moved = tmp_path / "moved.db"  # the file alone, copied byte for byte, is the whole ledger
    shutil.copyfile(out, moved)
    assert verified(moved).root == verified(filled.db_path).root
    conn = sqlite3.connect(f"{out.as_uri()}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        conn.close()
    assert leftovers(out_dir, set()) == ["copy.db"]


def test_backup_keeps_the_permission_bits_of_the_source(filled: TrialLedger, out_dir: Path) -> None:
    filled.db_path.chmod(0o640)
    backup_ledger(filled.db_path, out_dir / "copy.db")
    assert (out_dir / "copy.db").stat().st_mode & 0o777 == 0o640


def test_plain_copy_without_the_wal_loses_events_and_backup_does_not(
    filled: TrialLedger, cast: Cast, out_dir: Path
) -> None:
    db = filled.db_path
    # A reader holding a snapshot keeps every checkpoint from moving later commits out of
    # the -wal file into the main file, as any long-running reader of a live ledger can.
    pin = sqlite3.connect(db, isolation_level=None)
    try:
        pin.execute("BEGIN")
        pinned = int(pin.execute("SELECT MAX(position) FROM stored_events").fetchone()[0])
        append_doses(filled, cast.coordinator, SUBJECT, 30, start_version=51)
        assert db.with_name(db.name + "-wal").stat().st_size > 0
        shutil.copyfile(db, out_dir / "plain-copy.db")  # the main file only, as `cp trial.db`
        result = backup_ledger(db, out_dir / "backup.db")
    finally:
        pin.execute("ROLLBACK")
        pin.close()
    source = verified(db)
    plain = verified(out_dir / "plain-copy.db")
    assert source.ok
    assert source.events == pinned + 30
    assert plain.ok  # the loss is silent: the short copy verifies
    assert plain.events <= pinned < source.events
    assert plain.root != source.root
    assert (result.events, result.tree_size, result.root) == (
        source.events,
        source.tree_size,
        source.root,
    )
    assert verified(out_dir / "backup.db").events == source.events


def _start_writer(
    ledger: TrialLedger, cast: Cast, tmp_path: Path
) -> tuple[subprocess.Popen[str], int]:
    """Register a key for the writer and start it; return it and the ledger's size before it."""
    key = generate_private_key()
    key_file = tmp_path / "writer.key"
    write_private_key(key_file, key, PASSPHRASE)
    signer = Signer(key)
    registered = person_key(signer.public_key, signer.key_id, "Wren Writer", "coordinator", "001")
    ledger.register_key(cast.sponsor, registered, "second writer", GENESIS_DATE)
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    size = ledger.reader.size()
    process = subprocess.Popen(
        [
            sys.executable,
            str(script),
            str(ledger.db_path),
            str(key_file),
            str(tmp_path / "stop"),
            WRITER_SUBJECT,
            PASSPHRASE.decode(),
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, size


def _wait_for_size(reader: LedgerReader, size: int, writer: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while reader.size() < size:
        assert writer.poll() is None, writer.communicate()
        assert time.monotonic() < deadline, "the writer process did not append"
        time.sleep(0.01)


def _slowly(steps: list[tuple[int, int]], stage: str, done: int, total: int) -> None:
    if stage == "copy":
        steps.append((done, total))
        time.sleep(0.003)  # let the writer commit between steps


def test_backup_during_appends_is_a_verifiable_prefix(
    ledger: TrialLedger, cast: Cast, tmp_path: Path, out_dir: Path
) -> None:
    """Another process appends without pause; every backup is a snapshot of the ledger as it
    stood at one commit: it verifies, and its root is the source's root at that size."""
    writer, size_before_writer = _start_writer(ledger, cast, tmp_path)
    results = []
    grew_during = 0
    # Not ``with LedgerReader``: outside a snapshot each query sees the latest commit.
    reader = LedgerReader(ledger.db_path)
    try:
        _wait_for_size(reader, 60, writer)
        for attempt in range(5):
            steps: list[tuple[int, int]] = []
            before = reader.size()
            result = backup_ledger(
                ledger.db_path,
                out_dir / f"b{attempt}.db",
                pages_per_step=2,
                progress=partial(_slowly, steps),
            )
            after = reader.size()
            assert before <= result.events <= after
            grew_during += after > result.events
            # Never restarted: one report per step of the snapshot's pages, plus the start.
            total = steps[0][1]
            assert len(steps) == 1 + math.ceil(total / 2)
            assert steps[-1] == (total, total)
            prefix = list(reader.leaf_hashes(1, result.events))
            assert merkle.root(prefix) == result.root
            results.append(result)
    finally:
        reader.close()
        (tmp_path / "stop").touch()
        output, errors = writer.communicate(timeout=60)
    assert writer.returncode == 0, errors
    assert grew_during > 0, "the writer never appended while a backup ran"
    final = verified(ledger.db_path)
    assert final.ok
    assert final.events == size_before_writer + int(output)  # the writer's events, all of them
    sizes = [r.events for r in results]
    assert sizes == sorted(sizes)
    assert sizes[-1] < final.events
    for attempt, result in enumerate(results):
        copy = verified(out_dir / f"b{attempt}.db")
        assert copy.ok, copy.first_failure
        assert (copy.events, copy.root) == (result.events, result.root)


def test_backup_refuses_an_existing_out_and_leaves_it_untouched(
    filled: TrialLedger, out_dir: Path
) -> None:
    out = out_dir / "copy.db"
    out.write_bytes(b"yesterday's backup")
    with pytest.raises(UsageError, match=f"--out {re.escape(str(out))}: a file already exists"):
        backup_ledger(filled.db_path, out)
    assert out.read_bytes() == b"yesterday's backup"
    assert leftovers(out_dir, set()) == ["copy.db"]


def test_backup_refuses_an_out_with_a_stale_wal_beside_it(
    filled: TrialLedger, out_dir: Path
) -> None:
    (out_dir / "copy.db-wal").write_bytes(b"stale")
    with pytest.raises(UsageError, match=r"copy\.db-wal exists beside it"):
        backup_ledger(filled.db_path, out_dir / "copy.db")
    assert leftovers(out_dir, set()) == ["copy.db-wal"]


def test_backup_refuses_an_out_in_a_missing_folder(filled: TrialLedger, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"folder .*absent does not exist"):
        backup_ledger(filled.db_path, tmp_path / "absent" / "copy.db")
    assert not (tmp_path / "absent").exists()


def test_backup_refuses_a_missing_db_and_writes_nothing(tmp_path: Path, out_dir: Path) -> None:
    db = tmp_path / "absent.db"
    with pytest.raises(UsageError, match=f"--db {re.escape(str(db))}: no such ledger file"):
        backup_ledger(db, out_dir / "copy.db")
    assert leftovers(out_dir, set()) == []
    assert not db.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("empty", "not a trial-ledger database"),
        ("text", "not a trial-ledger database"),
        ("sqlite", "not a trial-ledger database"),
        ("no ledger id", "not an initialised trial ledger"),
    ],
)
def test_backup_refuses_a_db_that_is_not_a_ledger(
    tmp_path: Path, out_dir: Path, content: str, message: str
) -> None:
    db = tmp_path / "other.db"
    if content == "empty":
        db.touch()
    elif content == "text":
        db.write_text("subject,dose\n001,100\n")
    elif content == "sqlite":
        conn = sqlite3.connect(db)
        with conn:
            conn.execute("CREATE TABLE notes (body TEXT)")
        conn.close()
    else:  # the ledger's tables, but init never wrote its ledger id
        LedgerStore(db).close()
    with pytest.raises(UsageError, match=f"--db {re.escape(str(db))}: .*{message}"):
        backup_ledger(db, out_dir / "copy.db")
    assert leftovers(out_dir, set()) == []


def test_backup_refuses_a_step_of_no_pages(filled: TrialLedger, out_dir: Path) -> None:
    with pytest.raises(UsageError, match="--pages-per-step 0: expected at least 1"):
        backup_ledger(filled.db_path, out_dir / "copy.db", pages_per_step=0)
    assert leftovers(out_dir, set()) == []


def test_backup_of_a_tampered_ledger_is_refused_and_writes_nothing(
    filled: TrialLedger, out_dir: Path
) -> None:
    conn = sqlite3.connect(filled.db_path)
    try:
        for table in APPEND_ONLY_TABLES:
            conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        with conn:
            conn.execute("UPDATE stored_events SET state = CAST('{}' AS BLOB) WHERE position = 9")
    finally:
        conn.close()
    with pytest.raises(VerificationError, match="the copy does not verify at position 9"):
        backup_ledger(filled.db_path, out_dir / "copy.db")
    assert leftovers(out_dir, set()) == []


class Interrupted(Exception):
    pass


@pytest.mark.parametrize("stage", ["copy", "verify"])
def test_backup_interrupted_midway_leaves_no_partial_file(
    filled: TrialLedger, out_dir: Path, stage: str
) -> None:
    def interrupt(at: str, done: int, _total: int) -> None:
        if at == stage and done > 0:
            raise Interrupted(f"stopped during {at}")

    with pytest.raises(Interrupted, match=f"stopped during {stage}"):
        backup_ledger(filled.db_path, out_dir / "copy.db", pages_per_step=1, progress=interrupt)
    assert leftovers(out_dir, set()) == []


def test_backup_never_replaces_an_out_that_appears_while_it_copies(
    filled: TrialLedger, out_dir: Path
) -> None:
    out = out_dir / "copy.db"

    def someone_else_writes_out(stage: str, done: int, _total: int) -> None:
        if stage == "copy" and done > 0 and not out.exists():
            out.write_bytes(b"another backup")

    with pytest.raises(UsageError, match="appeared there during the backup"):
        backup_ledger(filled.db_path, out, pages_per_step=1, progress=someone_else_writes_out)
    assert out.read_bytes() == b"another backup"
    assert leftovers(out_dir, set()) == ["copy.db"]


def test_backup_into_a_folder_it_cannot_write_is_refused(
    filled: TrialLedger, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object, **_kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("ledger.backup.tempfile.mkstemp", refuse)
    with pytest.raises(UsageError, match=r"--out .*copy\.db: cannot create a file in .*backups"):
        backup_ledger(filled.db_path, out_dir / "copy.db")
    assert leftovers(out_dir, set()) == []


def test_backup_that_fails_to_write_the_copy_leaves_nothing(
    filled: TrialLedger, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("ledger.backup.os.fsync", no_space)
    with pytest.raises(UsageError, match=r"writing the copy failed .*No space left on device"):
        backup_ledger(filled.db_path, out_dir / "copy.db")
    assert leftovers(out_dir, set()) == []
