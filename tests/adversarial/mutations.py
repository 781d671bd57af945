"""What an attacker holding the ledger's store does to it, and what each verification mode must
say.

Every mutation is raw SQL on a copy of the ledger past the append-only triggers (a SQLite
file, or a PostgreSQL database as its superuser: the same SQL, ``?`` placeholders). Each one
reports what it touched (positions, commit seqs), so that :func:`expected_exit` can derive, from
the README's threat model, the exit code each verification mode must give:

* ``full`` (``verify``), ``sponsor`` (``verify --sponsor-key``), ``against``
  (``verify --against CP``): every change to a stored event, commit, kept checkpoint note or
  frontier, or the ledger id is caught (exit 1). Deleting a kept checkpoint row loses no
  history (exit 0). A clean cut of the tail at a commit boundary, with the kept checkpoints
  beyond it deleted too, is only caught against a checkpoint the verifier holds that covers
  the cut (``against``), or by its own state (``state``).
* ``state`` (``verify --state DIR``, state written by a full pass at size s): every change
  after s is caught; changes at or below s are not re-read (the state vouches for them) and
  may pass: that is the incremental mode's stated trust, and ``--full`` re-proves them.
* ``export`` (``export-bundle`` then ``verify-bundle --sponsor-key``): the export verifies
  what it wrote, so whatever ``full`` catches makes it exit 1, except a kept frontier (bundles
  carry no frontiers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ledger.store.location import StoreTarget
from tests.adversarial.ledgers import Base, attacker
from tests.store_params import ConstraintRefused, TamperSQL

MODES = ("full", "sponsor", "against", "state", "export")
ANY = -1


@dataclass
class Touched:
    kind: str
    """content | checkpoint-deleted | checkpoint-note | checkpoint-frontier | meta | truncate"""
    positions: set[int] = field(default_factory=set)
    seqs: set[int] = field(default_factory=set)
    cut: int = 0
    kept_beyond_cut: bool = False
    description: str = ""


Mutator = Callable[[TamperSQL], "Touched"]


class NoChange(Exception):
    """The mutation could not be applied (constraint) or changed nothing."""


def _row(conn: TamperSQL, table: str, key: str, value: int) -> tuple[object, ...]:
    row = conn.execute(f"SELECT * FROM {table} WHERE {key}=?", (value,)).fetchone()
    if row is None:
        raise NoChange(f"no {table} row {key}={value}")
    return tuple(row)


def _flip(value: object, bit: int) -> bytes:
    raw = bytes(value) if isinstance(value, bytes | bytearray) else str(value).encode()
    if not raw:
        raise NoChange("empty value")
    i = (bit // 8) % len(raw)
    return raw[:i] + bytes([raw[i] ^ (1 << (bit % 8))]) + raw[i + 1 :]


def _other_char(text: str, index: int) -> str:
    if not text:
        raise NoChange("empty text")
    i = index % len(text)
    replacement = "0" if text[i] != "0" else "1"
    return text[:i] + replacement + text[i + 1 :]


EVENT_COLUMNS = ("originator_id", "originator_version", "topic", "state", "leaf_hash", "commit_seq")
COMMIT_COLUMNS = (
    "first_position",
    "last_position",
    "prev_leaf",
    "events_root",
    "signer",
    "meaning",
    "recorded_at",
    "signature",
)


def seq_of(conn: TamperSQL, position: int) -> int:
    row = conn.execute(
        "SELECT seq FROM ledger_commits WHERE first_position <= ? AND last_position >= ?",
        (position, position),
    ).fetchone()
    return int(row[0]) if row else 0


def alter_event(conn: TamperSQL, position: int, column: str, amount: int) -> Touched:
    value = conn.execute(
        f"SELECT {column} FROM stored_events WHERE position=?", (position,)
    ).fetchone()
    if value is None:
        raise NoChange("no such event")
    old = value[0]
    new: object
    if isinstance(old, int):
        new = old + 1 + amount % 3
    elif isinstance(old, bytes):
        new = _flip(old, amount)
    else:
        new = _other_char(str(old), amount)
    try:
        conn.execute(f"UPDATE stored_events SET {column}=? WHERE position=?", (new, position))
    except ConstraintRefused as e:
        raise NoChange(str(e)) from None
    return Touched(
        "content", {position}, {seq_of(conn, position)}, description=f"{column}@{position}"
    )


def delete_event(conn: TamperSQL, position: int) -> Touched:
    seq = seq_of(conn, position)
    if conn.execute("DELETE FROM stored_events WHERE position=?", (position,)).rowcount != 1:
        raise NoChange("no such event")
    return Touched("content", {position}, {seq}, description=f"delete event {position}")


def swap_events(conn: TamperSQL, p: int, q: int) -> Touched:
    if p == q:
        raise NoChange("same row")
    a, b = _row(conn, "stored_events", "position", p), _row(conn, "stored_events", "position", q)
    if a[1:] == b[1:]:
        raise NoChange("identical rows")
    conn.execute("DELETE FROM stored_events WHERE position IN (?, ?)", (p, q))
    conn.execute("INSERT INTO stored_events VALUES (?,?,?,?,?,?,?)", (p, *b[1:]))
    conn.execute("INSERT INTO stored_events VALUES (?,?,?,?,?,?,?)", (q, *a[1:]))
    seqs = {seq_of(conn, p), seq_of(conn, q)}
    return Touched("content", {p, q}, seqs, description=f"swap events {p},{q}")


def insert_event(conn: TamperSQL, base: Base, position: int) -> Touched:
    row = _row(conn, "stored_events", "position", position)
    at = base.size + 1
    conn.execute(
        "INSERT INTO stored_events VALUES (?,?,?,?,?,?,?)",
        (at, row[1], int(str(row[2])) + 1000, row[3], row[4], row[5], row[6]),
    )
    return Touched("content", {at}, set(), description=f"insert copy of {position} at {at}")


def alter_commit(conn: TamperSQL, seq: int, column: str, amount: int) -> Touched:
    row = conn.execute(
        f"SELECT {column}, first_position, last_position FROM ledger_commits WHERE seq=?", (seq,)
    ).fetchone()
    if row is None:
        raise NoChange("no such commit")
    old = row[0]
    new: object
    if isinstance(old, int):
        new = old + (1 if amount % 2 else -1)
    elif isinstance(old, bytes):
        new = _flip(old, amount)
    else:
        new = _other_char(str(old), amount)
    conn.execute(f"UPDATE ledger_commits SET {column}=? WHERE seq=?", (new, seq))
    positions = set(range(int(row[1]), int(row[2]) + 1))
    return Touched("content", positions, {seq}, description=f"commit {seq} {column}")


def delete_commit(conn: TamperSQL, seq: int) -> Touched:
    row = _row(conn, "ledger_commits", "seq", seq)
    conn.execute("DELETE FROM ledger_commits WHERE seq=?", (seq,))
    positions = set(range(int(str(row[1])), int(str(row[2])) + 1))
    return Touched("content", positions, {seq}, description=f"delete commit {seq}")


def swap_commits(conn: TamperSQL, c: int, d: int) -> Touched:
    if c == d:
        raise NoChange("same commit")
    a, b = _row(conn, "ledger_commits", "seq", c), _row(conn, "ledger_commits", "seq", d)
    conn.execute("DELETE FROM ledger_commits WHERE seq IN (?, ?)", (c, d))
    conn.execute("INSERT INTO ledger_commits VALUES (?,?,?,?,?,?,?,?,?)", (c, *b[1:]))
    conn.execute("INSERT INTO ledger_commits VALUES (?,?,?,?,?,?,?,?,?)", (d, *a[1:]))
    positions = set(range(int(str(a[1])), int(str(a[2])) + 1)) | set(
        range(int(str(b[1])), int(str(b[2])) + 1)
    )
    return Touched("content", positions, {c, d}, description=f"swap commits {c},{d}")


def insert_commit(conn: TamperSQL) -> Touched:
    last = conn.execute("SELECT * FROM ledger_commits ORDER BY seq DESC LIMIT 1").fetchone()
    conn.execute("INSERT INTO ledger_commits VALUES (?,?,?,?,?,?,?,?,?)", (last[0] + 1, *last[1:]))
    return Touched("content", {int(last[2]) + 1}, {int(last[0]) + 1}, description="forged commit")


def delete_kept_checkpoint(conn: TamperSQL, size: int) -> Touched:
    if conn.execute("DELETE FROM ledger_checkpoints WHERE tree_size=?", (size,)).rowcount != 1:
        raise NoChange("no such checkpoint")
    return Touched("checkpoint-deleted", description=f"delete kept checkpoint {size}")


def alter_kept_checkpoint(conn: TamperSQL, size: int, column: str, amount: int) -> Touched:
    row = conn.execute(
        f"SELECT {column} FROM ledger_checkpoints WHERE tree_size=?", (size,)
    ).fetchone()
    if row is None:
        raise NoChange("no such checkpoint")
    text = str(row[0])
    if column == "note":  # a character of the root line (line 3)
        lines = text.split("\n")
        lines[2] = _other_char(lines[2], amount)
        new = "\n".join(lines)
    else:
        new = text.replace('"hashes": ["', '"hashes": ["0' if amount % 2 else '"hashes": ["1', 1)
        if new == text:
            new = text.replace('"size": ', '"size": 1', 1)
    if new == text:
        raise NoChange("unchanged")
    conn.execute(f"UPDATE ledger_checkpoints SET {column}=? WHERE tree_size=?", (new, size))
    kind = "checkpoint-note" if column == "note" else "checkpoint-frontier"
    return Touched(kind, {size}, description=f"kept checkpoint {size} {column}")


def alter_ledger_id(conn: TamperSQL, amount: int) -> Touched:
    (old,) = conn.execute("SELECT value FROM ledger_meta WHERE name='ledger_id'").fetchone()
    conn.execute(
        "UPDATE ledger_meta SET value=? WHERE name='ledger_id'", (_other_char(str(old), amount),)
    )
    return Touched("meta", {1}, {1}, description="ledger_meta ledger_id")


def truncate(conn: TamperSQL, base: Base, cut: int, keep_checkpoints: bool) -> Touched:
    """A clean cut at a commit boundary: later events and commits deleted."""
    if cut not in base.commit_seqs or cut >= base.size:
        raise NoChange("not a boundary before the end")
    conn.execute("DELETE FROM stored_events WHERE position > ?", (cut,))
    conn.execute("DELETE FROM ledger_commits WHERE seq > ?", (base.commit_seqs[cut],))
    if not keep_checkpoints:
        conn.execute("DELETE FROM ledger_checkpoints WHERE tree_size > ?", (cut,))
    kept_beyond = any(size > cut for size in base.kept_checkpoints) and keep_checkpoints
    return Touched(
        "truncate", cut=cut, kept_beyond_cut=kept_beyond, description=f"truncate at {cut}"
    )


def apply(db: StoreTarget, mutate: Mutator) -> Touched:
    with attacker(db) as conn:
        return mutate(conn)


def expected_exit(touched: Touched, mode: str, base: Base, k: int) -> int:
    """The exit code the threat model demands of ``mode`` (ANY where it vouches by state)."""
    s = base.state_size
    state_seq = base.commit_seqs[s]
    if touched.kind == "checkpoint-deleted":
        return 0
    if touched.kind == "truncate":
        t = touched.cut
        if mode == "against":
            return 1 if t < k or touched.kept_beyond_cut else 0
        if mode == "state":
            return 1 if t < s else 0
        return 1 if touched.kept_beyond_cut else 0
    if touched.kind == "checkpoint-frontier":
        return {"state": ANY}.get(mode, 1)
    if mode == "state" and touched.kind == "content":
        after = any(p > s for p in touched.positions) or any(q > state_seq for q in touched.seqs)
        return 1 if after else ANY
    return 1
