"""Property: any single-byte change anywhere in the stored events is detected by verify."""

from __future__ import annotations

import hashlib
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ledger.chain import CommitHeader, envelope_bytes, leaf_hash_of
from ledger.integrity.canonical import canonical_json
from ledger.store import APPEND_ONLY_TABLES, LedgerReader
from ledger.verify import verify_ledger
from tests.support import (
    Cast,
    append_doses,
    create_ledger,
    new_signer,
    screening,
)

EVENT_COLUMNS = ("originator_id", "topic", "state", "leaf_hash")
INT_COLUMNS = ("originator_version", "commit_seq", "position")


@pytest.fixture(scope="module")
def base_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small but complete ledger, built once per module and copied per example."""
    folder = tmp_path_factory.mktemp("tamper-base")
    cast = Cast(*(new_signer() for _ in range(7)))
    ledger = create_ledger(folder / "base.db", cast)
    for n in (1, 2):
        subject = f"MC0282-001-{n:03d}"
        ledger.append(cast.coordinator, [screening(subject)])
        append_doses(ledger, cast.coordinator, subject, 7)
    ledger.close()
    return folder / "base.db"


def copy_of_base(base: Path, folder: Path) -> Path:
    target = folder / "copy.db"
    target.unlink(missing_ok=True)
    source = sqlite3.connect(base)
    dest = sqlite3.connect(target)
    source.backup(dest)
    for table in APPEND_ONLY_TABLES:
        for action in ("update", "delete"):
            dest.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")
    dest.commit()
    source.close()
    dest.close()
    return target


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    row=st.integers(min_value=0, max_value=1_000),
    column=st.sampled_from(EVENT_COLUMNS + INT_COLUMNS),
    offset=st.integers(min_value=0, max_value=10_000),
    bit=st.integers(min_value=0, max_value=7),
)
def test_any_single_byte_change_in_stored_events_is_detected(
    base_ledger: Path, row: int, column: str, offset: int, bit: int
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = copy_of_base(base_ledger, Path(folder))
        conn = sqlite3.connect(db)
        positions = [
            r[0] for r in conn.execute("SELECT position FROM stored_events ORDER BY position")
        ]
        target = positions[row % len(positions)]
        (value,) = conn.execute(
            f"SELECT {column} FROM stored_events WHERE position = ?", (target,)
        ).fetchone()
        if isinstance(value, int):
            altered: object = value ^ (1 << (bit + 8 * (offset % 2)))
        else:
            raw = bytearray(value if isinstance(value, bytes) else value.encode())
            raw[offset % len(raw)] ^= 1 << bit
            if isinstance(value, bytes):
                altered = bytes(raw)
            else:
                try:
                    altered = raw.decode()
                except UnicodeDecodeError:
                    altered = bytes(raw)  # stored as a blob: still a one-byte change
        try:
            with conn:
                conn.execute(
                    f"UPDATE stored_events SET {column} = ? WHERE position = ?", (altered, target)
                )
        except sqlite3.IntegrityError:
            assume(False)  # the change collides with a unique key: SQLite itself refuses it
        finally:
            conn.close()
        with LedgerReader(db) as reader:
            report = verify_ledger(reader)
        assert not report.ok
        assert report.first_failure is not None
        if column != "position":
            assert report.first_failure.position == target, report.first_failure.reason
        else:
            assert report.first_failure.position <= max(target, altered)


@given(
    commit=st.integers(min_value=1, max_value=2**40),
    originator_id=st.text(max_size=40),
    version=st.integers(min_value=0, max_value=2**53 - 1),
    position=st.integers(min_value=1, max_value=2**53 - 1),
    prev=st.binary(min_size=32, max_size=32),
    state=st.binary(max_size=200),
    topic=st.text(max_size=60),
)
def test_leaf_envelope_template_is_rfc8785(
    commit: int,
    originator_id: str,
    version: int,
    position: int,
    prev: bytes,
    state: bytes,
    topic: str,
) -> None:
    assume(all(not 0xD800 <= ord(ch) <= 0xDFFF for ch in originator_id + topic))
    expected = canonical_json(
        {
            "commit": commit,
            "originator_id": originator_id,
            "originator_version": version,
            "position": position,
            "prev": prev.hex(),
            "state_sha256": hashlib.sha256(state).hexdigest(),
            "topic": topic,
        }
    )
    fields = {
        "commit": commit,
        "originator_id": originator_id,
        "originator_version": version,
        "position": position,
        "prev": prev,
        "state": state,
        "topic": topic,
    }
    assert envelope_bytes(**fields) == expected  # type: ignore[arg-type]
    assert leaf_hash_of(**fields) == hashlib.sha256(b"\x00" + expected).digest()  # type: ignore[arg-type]


def test_unchanged_copy_verifies(base_ledger: Path, tmp_path: Path) -> None:
    db = copy_of_base(base_ledger, tmp_path)
    with LedgerReader(db) as reader:
        assert verify_ledger(reader).ok


@given(
    seq=st.integers(min_value=1, max_value=2**53 - 1),
    first=st.integers(min_value=1, max_value=2**53 - 10_001),
    count=st.integers(min_value=0, max_value=10_000),
    prev=st.binary(min_size=32, max_size=32),
    root=st.binary(min_size=32, max_size=32),
    text=st.text(max_size=40).filter(lambda t: all(not 0xD800 <= ord(c) <= 0xDFFF for c in t)),
    meaning=st.sampled_from(["authorship", "review", "approval", "responsibility"]),
)
def test_commit_header_template_is_rfc8785(
    seq: int, first: int, count: int, prev: bytes, root: bytes, text: str, meaning: str
) -> None:
    header = CommitHeader(
        seq=seq,
        ledger_id=text,
        first_position=first,
        last_position=first + count,
        prev_leaf=prev,
        events_root=root,
        signer=text[::-1],
        meaning=meaning,
        recorded_at=text + "Z",
    )
    assert header.to_bytes() == canonical_json(header.to_dict())
