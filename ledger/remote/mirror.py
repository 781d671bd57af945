"""A follower's mirror folder (:class:`Mirror`): a normal ledger file holding, byte for byte,
the served rows it verified, and what the follower keeps of its own beside it.

``DIR/trial.db``: a SQLite ledger made with the recorder's own tables and append-only triggers
(``trial-ledger verify --db DIR/trial.db --sponsor-key PUB`` accepts it). Its events and commits
are the served rows unchanged; its ``ledger_checkpoints`` hold every checkpoint the follower
verified, each written in the same transaction as the rows it covers, so the latest one is
always the mirror's verified tree head (size, root, signed note).

``DIR/follower.json`` (0600): ``{"format": "trial-ledger-follower/v1", "url", "ledger_id",
"sponsor_key_id", "sponsor_public_key"}``: the sponsor key the first sync was given (the only
trust anchor; a different one is refused later) and the ledger it proved.

``DIR/state/verifier-state.json``: the verifier's own state (``ledger.verifier_state``), so a
sync proves only the new segment. ``DIR/.staging/``: one sync's fetched segment and the state
its verification writes, removed once applied; ``DIR/.lock``: one follower per mirror.

Applying a verified segment is one SQLite transaction (or, on the first sync, the rename of a
finished file), and the verifier state is replaced only after it: a crash (kill -9) at any
point leaves the last verified mirror, and the next run resumes from it (a state left behind
the mirror makes the verifier read the rows between them again).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ledger.chain import CommitRecord
from ledger.errors import UsageError
from ledger.integrity.checkpoint import parse_checkpoint
from ledger.integrity.signing import key_id
from ledger.store import LedgerReader, LedgerStore
from ledger.store.rows import commit_columns
from ledger.verifier_state import STATE_FILE, load_state

MIRROR_DB = "trial.db"
FOLLOWER_FILE = "follower.json"
FOLLOWER_FORMAT = "trial-ledger-follower/v1"
STATE_DIR = "state"
STAGING_DIR = ".staging"
LOCK_FILE = ".lock"
_OURS = {MIRROR_DB, FOLLOWER_FILE, STATE_DIR, STAGING_DIR, LOCK_FILE}
_EVENT_COLUMNS = "position, originator_id, originator_version, topic, state, leaf_hash, commit_seq"
_COMMIT_COLUMNS = (
    "seq, first_position, last_position, prev_leaf, events_root, signer, meaning, recorded_at,"
    " signature"
)


@dataclass(frozen=True)
class Held:
    """What the mirror holds, verified: its latest checkpoint (size 0 before a first sync)."""

    size: int
    root: bytes
    note: str
    commit_seq: int
    ledger_id: str | None


EMPTY = Held(0, b"", "", 0, None)


class Staging:
    """One sync's fetched segment, in a ledger file of its own (``DIR/.staging/``)."""

    def __init__(self, folder: Path, ledger_id: str) -> None:
        self.folder = folder
        self.db = folder / MIRROR_DB
        self.state_dir = folder / STATE_DIR
        LedgerStore(self.db).close()  # the recorder's tables, as in the mirror
        self._conn = sqlite3.connect(self.db, isolation_level=None)
        self._conn.execute("BEGIN IMMEDIATE")
        self._conn.execute(
            "INSERT INTO ledger_meta (name, value) VALUES ('ledger_id', ?)", (ledger_id,)
        )

    def add_events(self, rows: Sequence[tuple[object, ...]]) -> None:
        self._conn.executemany(
            f"INSERT INTO stored_events ({_EVENT_COLUMNS}) VALUES (?,?,?,?,?,?,?)", rows
        )

    def add_commits(self, commits: Sequence[CommitRecord]) -> None:
        self._conn.executemany(
            f"INSERT INTO ledger_commits ({_COMMIT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
            [commit_columns(c.header, c.signature) for c in commits],
        )

    def finish(self) -> LedgerReader:
        """Commit what was fetched and open it for the verifier."""
        self._conn.execute("COMMIT")
        self._conn.close()
        return LedgerReader(self.db)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()


class Mirror:
    """The mirror folder ``folder`` (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.db = folder / MIRROR_DB

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Create the folder if need be (0700; its parent must exist) and hold its lock."""
        self._check_folder()
        fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UsageError(
                    f"--mirror {self.folder}: another follower is syncing this mirror"
                ) from None
            yield
        finally:
            os.close(fd)

    def _check_folder(self) -> None:
        where = f"--mirror {self.folder}"
        if self.folder.exists() and not self.folder.is_dir():
            raise UsageError(f"{where}: not a folder")
        if not self.folder.exists():
            if not self.folder.parent.is_dir():
                raise UsageError(f"{where}: folder {self.folder.parent} does not exist")
            self.folder.mkdir(mode=0o700)
        others = sorted(p.name for p in self.folder.iterdir() if p.name not in _OURS)
        if others and not (self.folder / FOLLOWER_FILE).exists():
            raise UsageError(
                f"{where}: the folder holds {', '.join(others[:3])} and is no mirror; give a "
                "new or empty folder"
            )

    def pinned_sponsor(self, given: bytes | None) -> bytes:
        """The sponsor key this mirror follows: the one remembered, or ``given`` on a first
        sync; a different one given later is refused."""
        pinned = self._follower().get("sponsor_public_key")
        if pinned is None:
            if given is None:
                raise UsageError(
                    f"--sponsor-key is required on the first sync into --mirror {self.folder}: "
                    "the sponsor's published public key is the only trust anchor"
                )
            return given
        pinned_raw = base64.b64decode(str(pinned))
        if given is not None and given != pinned_raw:
            raise UsageError(
                f"--sponsor-key: key {key_id(given)} is not the sponsor key {key_id(pinned_raw)} "
                f"this mirror follows; a mirror keeps one trust anchor (use a new --mirror "
                "folder to follow another)"
            )
        return pinned_raw

    def _follower(self) -> dict[str, object]:
        path = self.folder / FOLLOWER_FILE
        if not path.exists():
            return {}
        mode = path.stat().st_mode
        if mode & 0o022:
            raise UsageError(
                f"--mirror {self.folder}: {path} may be written by group or others (mode "
                f"{mode & 0o777:o}); it names the trust anchor. Keep it owner-only (chmod 600)"
            )
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise UsageError(
                f"--mirror {self.folder}: {FOLLOWER_FILE} is unreadable ({e})"
            ) from None
        if not isinstance(document, dict) or document.get("format") != FOLLOWER_FORMAT:
            raise UsageError(f"--mirror {self.folder}: {FOLLOWER_FILE} is not {FOLLOWER_FORMAT}")
        return document

    def reader(self) -> LedgerReader | None:
        return LedgerReader(self.db) if self.db.exists() else None

    def held(self, reader: LedgerReader | None) -> Held:
        """The mirror's latest verified checkpoint, and the rows must end exactly there."""
        if reader is None:
            return EMPTY
        kept = reader.checkpoints()
        if not kept:
            raise UsageError(
                f"--mirror {self.folder}: {MIRROR_DB} holds no verified checkpoint; "
                "it was not written by this follower"
            )
        size, note, _ = kept[-1]
        commit = reader.commit_at(size)
        if reader.size() != size or commit is None or commit.header.last_position != size:
            raise UsageError(
                f"--mirror {self.folder}: {MIRROR_DB} holds {reader.size():,} events but its last "
                f"verified checkpoint covers {size:,}; it was changed by something other than "
                "this follower (move it away and follow again)"
            )
        root = parse_checkpoint(note)[0].root
        return Held(size, root, note, commit.header.seq, reader.meta("ledger_id"))

    def staging(self, ledger_id: str, held: Held) -> Staging:
        """A fresh staging folder, with a copy of the verifier state if it is not ahead of
        the mirror (a state ahead of it is not this mirror's: the verifier starts over)."""
        folder = self.folder / STAGING_DIR
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(mode=0o700)
        (folder / STATE_DIR).mkdir(mode=0o700)
        current = self.folder / STATE_DIR
        state = load_state(current) if (current / STATE_FILE).exists() else None
        if state is not None and held.size and state.size <= held.size:
            shutil.copyfile(current / STATE_FILE, folder / STATE_DIR / STATE_FILE)
            (folder / STATE_DIR / STATE_FILE).chmod(0o600)
        return Staging(folder, ledger_id)

    def apply(
        self, staging: Staging, held: Held, note: str, frontier: str, record: dict[str, str]
    ) -> None:
        """Append the verified segment and its checkpoint in one transaction (a first sync:
        the finished staging file renamed into place), then the verifier state."""
        size = parse_checkpoint(note)[0].tree_size
        if held.size == 0:
            conn = sqlite3.connect(staging.db, isolation_level=None)
            try:
                conn.execute(
                    "INSERT INTO ledger_checkpoints (tree_size, note, frontier) VALUES (?,?,?)",
                    (size, note, frontier),
                )
                conn.execute("PRAGMA journal_mode=DELETE")  # one file, nothing beside it
            finally:
                conn.close()
            self._write_follower(record)
            staging.db.replace(self.db)
        else:
            self._append(staging, held, size, note, frontier)
        (self.folder / STATE_DIR).mkdir(mode=0o700, exist_ok=True)
        (staging.state_dir / STATE_FILE).replace(self.folder / STATE_DIR / STATE_FILE)
        shutil.rmtree(staging.folder, ignore_errors=True)

    def _append(self, staging: Staging, held: Held, size: int, note: str, frontier: str) -> None:
        conn = sqlite3.connect(self.db, isolation_level=None, timeout=30)
        try:
            conn.execute("ATTACH DATABASE ? AS staging", (str(staging.db),))
            conn.execute("BEGIN IMMEDIATE")
            head = conn.execute("SELECT MAX(position) FROM main.stored_events").fetchone()[0]
            if head != held.size:
                raise UsageError(f"--mirror {self.folder}: {MIRROR_DB} changed during the sync")
            conn.execute(
                f"INSERT INTO main.stored_events ({_EVENT_COLUMNS}) SELECT {_EVENT_COLUMNS} "
                "FROM staging.stored_events WHERE position > ? ORDER BY position",
                (held.size,),
            )
            conn.execute(
                f"INSERT INTO main.ledger_commits ({_COMMIT_COLUMNS}) SELECT {_COMMIT_COLUMNS} "
                "FROM staging.ledger_commits WHERE seq > ? ORDER BY seq",
                (held.commit_seq,),
            )
            conn.execute(
                "INSERT INTO main.ledger_checkpoints (tree_size, note, frontier) VALUES (?,?,?)",
                (size, note, frontier),
            )
            conn.execute("COMMIT")
        finally:
            conn.close()

    def _write_follower(self, record: dict[str, str]) -> None:
        path = self.folder / FOLLOWER_FILE
        temp = self.folder / f".{FOLLOWER_FILE}.{os.getpid()}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"format": FOLLOWER_FORMAT, **record}, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        temp.replace(path)
