"""Storage faults through the command line: one line naming the file and what to do, exit 2
(nothing written), or exit 1 when SQLite reports the ledger file itself damaged; never a
traceback.

Tests run as root, where file modes do not stop writes: a read-only file or folder is made
immutable with ``chattr +i`` (skipped where the file system does not support it), or by its
mode when not root.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from eventsourcing.persistence import OperationalError as PersistenceOperationalError

import cli
import ledger.store
from ledger.errors import DamagedStorageError, StorageError
from ledger.integrity.signing import Signer, generate_private_key, write_private_key
from ledger.service import TrialLedger, person_key
from ledger.storage_errors import is_damage, storage_refusal
from tests.support import GENESIS_DATE, Cast, create_ledger

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "storage faults passphrase"
SCREEN = ["screen", "--subject", "MC0282-001-090", "--site", "001", "--age", "50", "--sex", "F"]


@dataclass(frozen=True)
class Trial:
    db: Path
    key: Path
    ledger_key: Path
    passphrase: Path


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory, cast: Cast) -> Trial:
    """A ledger with the cast, a coordinator of site 001 and the ledger's checkpoint key as
    key files on disk. Tests work on copies (:func:`trial`)."""
    folder = tmp_path_factory.mktemp("storage")
    passphrase = folder / "passphrase"
    passphrase.write_text(PASSPHRASE + "\n", encoding="utf-8")
    passphrase.chmod(0o600)
    coordinator, ledger_key = generate_private_key(), generate_private_key()
    write_private_key(folder / "cole.key", coordinator, PASSPHRASE.encode())
    write_private_key(folder / "ledger.key", ledger_key, PASSPHRASE.encode())
    cole, checkpoints = Signer(coordinator), Signer(ledger_key)
    db = folder / "original.db"
    with create_ledger(db, cast, ledger_key=checkpoints) as trial_ledger:
        key = person_key(cole.public_key, cole.key_id, "Cole Hart", "coordinator", "001")
        trial_ledger.register_key(cast.sponsor, key, "trial staff", GENESIS_DATE)
    return Trial(db, folder / "cole.key", folder / "ledger.key", passphrase)


@pytest.fixture
def trial(original: Trial, tmp_path: Path) -> Trial:
    """A clean single-file copy of the ledger in a folder of its own."""
    folder = tmp_path / "ledger"
    folder.mkdir()
    db = folder / "trial.db"
    with closing(sqlite3.connect(original.db)) as source, closing(sqlite3.connect(db)) as target:
        source.backup(target)
    return Trial(db, original.key, original.ledger_key, original.passphrase)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    code = cli.run(list(argv))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def signed(trial: Trial, *argv: str) -> list[str]:
    return [
        *argv,
        "--db",
        str(trial.db),
        "--key",
        str(trial.key),
        "--passphrase-file",
        str(trial.passphrase),
        "--date",
        "2003-01-06",
    ]


def tree(capsys: pytest.CaptureFixture[str], db: Path) -> tuple[int, str]:
    result = run(capsys, "verify", "--db", str(db), "--json")
    assert result.code == 0, result
    report = json.loads(result.out)
    return report["tree_size"], report["root"]


def one_line(result: Result, code: int, *fragments: str) -> None:
    assert result.code == code, result
    assert "Traceback" not in result.err
    assert result.err.startswith("error: "), result.err
    assert result.err.count("\n") == 1, result.err
    for fragment in fragments:
        assert fragment in result.err, (fragment, result.err)


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` (a file or a folder) unwritable, even by root, for the block."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("root ignores file modes and chattr is not installed")
    made = subprocess.run([chattr, "+i", str(path)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {made.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


# --------------------------------------------------------------------------- end to end


def test_refuses_to_write_a_read_only_ledger_file(
    capsys: pytest.CaptureFixture[str], trial: Trial
) -> None:
    before = tree(capsys, trial.db)
    with read_only(trial.db):
        result = run(capsys, *signed(trial, *SCREEN))
    one_line(result, 2, f"cannot write {trial.db}", "read-only", "nothing was written")
    assert tree(capsys, trial.db) == before


def test_a_read_only_ledger_file_shows_no_traceback_in_a_real_process(
    capsys: pytest.CaptureFixture[str], trial: Trial
) -> None:
    before = tree(capsys, trial.db)
    with read_only(trial.db):
        process = subprocess.run(
            [sys.executable, "-m", "cli", *signed(trial, *SCREEN)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
    one_line(Result(process.returncode, process.stdout, process.stderr), 2, "read-only")
    assert tree(capsys, trial.db) == before


def test_refuses_to_create_a_ledger_in_a_read_only_folder(
    capsys: pytest.CaptureFixture[str], trial: Trial, tmp_path: Path
) -> None:
    folder = tmp_path / "sealed"
    folder.mkdir()
    keys = tmp_path / "keys"
    keys.mkdir()
    argv = [
        "init",
        "--db",
        str(folder / "new.db"),
        "--sponsor-name",
        "Sponsor Office",
        "--sponsor-key-out",
        str(keys / "sponsor.key"),
        "--ledger-key-out",
        str(keys / "ledger.key"),
        "--passphrase-file",
        str(trial.passphrase),
    ]
    with read_only(folder):
        result = run(capsys, *argv)
    one_line(result, 2, str(folder / "new.db"), "writable")
    assert list(folder.iterdir()) == []


def test_refuses_a_checkpoint_into_a_missing_folder_naming_it(
    capsys: pytest.CaptureFixture[str], trial: Trial, tmp_path: Path
) -> None:
    out = tmp_path / "absent" / "today.checkpoint"
    argv = ["checkpoint", "--db", str(trial.db), "--ledger-key", str(trial.ledger_key)]
    result = run(capsys, *argv, "--out", str(out), "--passphrase-file", str(trial.passphrase))
    one_line(result, 2, str(out.parent))
    assert not out.parent.exists()


def test_refuses_a_ledger_path_that_is_a_folder(
    capsys: pytest.CaptureFixture[str], trial: Trial, tmp_path: Path
) -> None:
    screen = [*SCREEN, "--key", str(trial.key), "--passphrase-file", str(trial.passphrase)]
    for argv in (
        ["verify", "--db", str(tmp_path)],
        ["log", "--db", str(tmp_path)],
        [*screen, "--db", str(tmp_path)],
    ):
        result = run(capsys, *argv)
        assert result.code == 2, (argv, result)
        assert "Traceback" not in result.err
        assert "directory" in result.err or "folder" in result.err


def test_refuses_a_locked_ledger_naming_it(
    capsys: pytest.CaptureFixture[str], trial: Trial, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = tree(capsys, trial.db)
    stock = ledger.store.sqlite_env
    monkeypatch.setattr(
        ledger.store, "sqlite_env", lambda path: {**stock(path), "SQLITE_LOCK_TIMEOUT": "1"}
    )
    holder = sqlite3.connect(trial.db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        result = run(capsys, *signed(trial, *SCREEN))
    finally:
        holder.close()
    one_line(result, 2, f"{trial.db} is locked by another process", "run this one again")
    assert tree(capsys, trial.db) == before


def test_a_damaged_ledger_file_is_an_integrity_failure(
    capsys: pytest.CaptureFixture[str], trial: Trial
) -> None:
    size = trial.db.stat().st_size
    with trial.db.open("r+b") as f:  # keep the header page, overwrite every page after it
        f.seek(4096)
        f.write(b"\xff" * (size - 4096))
    result = run(capsys, "log", "--db", str(trial.db), "--limit", "5")
    one_line(result, 1, str(trial.db), "damaged")


def test_a_disk_full_append_is_one_line_naming_the_ledger(
    capsys: pytest.CaptureFixture[str], trial: Trial, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*_: object, **__: object) -> None:
        raise PersistenceOperationalError("database or disk is full") from sqlite3.OperationalError(
            "database or disk is full"
        )

    monkeypatch.setattr(TrialLedger, "append", full)
    result = run(capsys, *signed(trial, *SCREEN))
    one_line(result, 2, f"cannot write {trial.db}: the disk is full", "nothing was written")


def test_an_unexpected_error_is_one_line_without_a_traceback(
    capsys: pytest.CaptureFixture[str], trial: Trial, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("unexpected state")

    monkeypatch.setattr(TrialLedger, "append", broken)
    monkeypatch.delenv("TRIAL_LEDGER_TRACEBACK", raising=False)
    result = run(capsys, *signed(trial, *SCREEN))
    one_line(result, 2, "internal error (RuntimeError: unexpected state)", "appends are all")


# --------------------------------------------------------------------------- the mapping


@pytest.mark.parametrize(
    ("message", "kind", "code", "said"),
    [
        ("attempt to write a readonly database", StorageError, 2, "read-only"),
        ("database or disk is full", StorageError, 2, "the disk is full"),
        ("database is locked", StorageError, 2, "is locked by another process"),
        ("unable to open database file", StorageError, 2, "cannot open"),
        ("disk I/O error", StorageError, 2, "input/output error"),
        ("database disk image is malformed", DamagedStorageError, 1, "trial-ledger verify --db"),
        ("file is not a database", DamagedStorageError, 1, "restore the ledger"),
    ],
)
def test_maps_sqlite_errors_to_messages_and_exit_codes(
    message: str, kind: type[Exception], code: int, said: str
) -> None:
    argv = ["screen", "--db", "/data/trial.db"]
    for error in (sqlite3.OperationalError(message), sqlite3.DatabaseError(message)):
        refusal = storage_refusal(error, argv)
        assert isinstance(refusal, kind)
        assert refusal.exit_code == code
        assert "/data/trial.db" in str(refusal)
        assert said in str(refusal)
    assert is_damage(message) == (code == 1)


def test_maps_an_eventsourcing_error_by_its_sqlite_cause() -> None:
    try:
        try:
            raise sqlite3.OperationalError("attempt to write a readonly database")
        except sqlite3.OperationalError as cause:
            raise PersistenceOperationalError(str(cause)) from cause
    except PersistenceOperationalError as error:
        refusal = storage_refusal(error, ["dose", "--db=/data/x.db"])
    assert isinstance(refusal, StorageError)
    assert "cannot write /data/x.db: the file or its folder is read-only" in str(refusal)


@pytest.mark.parametrize(
    ("number", "said"),
    [
        (errno.ENOSPC, "the disk is full"),
        (errno.EROFS, "the file system is read-only"),
        (errno.EACCES, "permission denied"),
        (errno.EISDIR, "it is a folder"),
    ],
)
def test_maps_operating_system_errors_naming_the_file(number: int, said: str) -> None:
    refusal = storage_refusal(OSError(number, os.strerror(number), "/out/today.checkpoint"), [])
    assert isinstance(refusal, StorageError)
    assert str(refusal).startswith(f"/out/today.checkpoint: {said}")


def test_an_error_without_an_errno_or_sqlite_cause_is_not_a_storage_fault() -> None:
    assert storage_refusal(OSError("bad configuration value"), ["--db", "x.db"]) is None
    assert storage_refusal(ValueError("not storage"), ["--db", "x.db"]) is None
