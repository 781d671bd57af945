"""Tampering with a real SQLite ledger file is detected, at the exact position, by verify.

Each test plays an attacker with write access to the file: it drops the append-only triggers
(which the product never does) and edits the tables directly.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest

from ledger.chain import CommitHeader, leaf_hash_of
from ledger.errors import AuthorisationError
from ledger.integrity.canonical import canonical_json
from ledger.service import TrialLedger, person_key, today
from ledger.store import APPEND_ONLY_TABLES, CommitSeal, LedgerReader
from ledger.verify import verify_from, verify_ledger
from tests.support import (
    GENESIS_DATE,
    Cast,
    append_doses,
    create_ledger,
    dose,
    new_signer,
    screening,
)

SUBJECT = "MC0282-001-001"


@contextmanager
def attacker(db: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(db)
    for table in APPEND_ONLY_TABLES:
        for action in ("update", "delete"):
            conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def first_failure(db: Path, against: str | None = None) -> tuple[int, str]:
    with LedgerReader(db) as reader:
        report = verify_ledger(reader, against=against)
    assert not report.ok
    assert report.first_failure is not None
    return report.first_failure.position, report.first_failure.reason


@pytest.fixture
def filled(ledger: TrialLedger, cast: Cast) -> TrialLedger:
    ledger.append(cast.coordinator, [screening(SUBJECT)])
    append_doses(ledger, cast.coordinator, SUBJECT, 12)
    return ledger


def positions_of_doses(db: Path) -> list[int]:
    with LedgerReader(db) as reader:
        return [r.position for r in reader.iter_events() if r.topic == "trial.DoseAdministered.v1"]


def test_intact_ledger_verifies(filled: TrialLedger) -> None:
    report = verify_ledger(filled.reader)
    assert report.ok, report.first_failure
    assert report.events == filled.reader.size() == 22  # 1 + 3 sites + 5 keys + 13


def test_product_refuses_update_and_delete(filled: TrialLedger) -> None:
    conn = sqlite3.connect(filled.db_path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only: UPDATE on stored_events"):
        conn.execute("UPDATE stored_events SET state = x'00' WHERE position = 3")
    with pytest.raises(sqlite3.IntegrityError, match="append-only: DELETE on ledger_commits"):
        conn.execute("DELETE FROM ledger_commits WHERE seq = 2")
    conn.close()


@pytest.mark.parametrize(
    "column", ["originator_id", "originator_version", "topic", "state", "leaf_hash", "commit_seq"]
)
def test_flipped_byte_in_any_event_column_is_found_at_its_position(
    filled: TrialLedger, column: str
) -> None:
    target = positions_of_doses(filled.db_path)[4]
    with attacker(filled.db_path) as conn:
        (value,) = conn.execute(
            f"SELECT {column} FROM stored_events WHERE position = ?", (target,)
        ).fetchone()
        if isinstance(value, int):
            altered: object = value ^ 0x100  # a flipped bit that collides with no other row
        else:
            raw = bytearray(value if isinstance(value, bytes) else value.encode())
            raw[len(raw) // 2] ^= 0x01
            altered = bytes(raw) if isinstance(value, bytes) else raw.decode()
        conn.execute(f"UPDATE stored_events SET {column} = ? WHERE position = ?", (altered, target))
    position, reason = first_failure(filled.db_path)
    assert position == target, reason


@pytest.mark.parametrize(
    ("column", "reason"),
    [
        ("events_root", "Merkle root"),
        ("signature", "signature by"),
        ("signer", "not registered"),
        ("recorded_at", "signature by"),
        ("meaning", "signature by"),
        ("prev_leaf", "does not link"),
    ],
)
def test_flipped_byte_in_a_commit_is_found_at_its_first_position(
    filled: TrialLedger, column: str, reason: str
) -> None:
    with attacker(filled.db_path) as conn:
        seq, first, value = conn.execute(
            f"SELECT seq, first_position, {column} FROM ledger_commits"
            " ORDER BY seq DESC LIMIT 1 OFFSET 2"
        ).fetchone()
        if column == "meaning":
            altered: object = "approval"
        elif column == "recorded_at":
            altered = value[:-2] + ("1Z" if value[-2] != "1" else "2Z")
        elif isinstance(value, bytes):
            raw = bytearray(value)
            raw[0] ^= 0x80
            altered = bytes(raw)
        else:
            altered = value[:-1] + ("0" if value[-1] != "0" else "1")
        conn.execute(f"UPDATE ledger_commits SET {column} = ? WHERE seq = ?", (altered, seq))
    position, found = first_failure(filled.db_path)
    assert position == first
    assert reason in found


def test_deleted_event_is_found_at_its_position(filled: TrialLedger) -> None:
    target = positions_of_doses(filled.db_path)[3]
    with attacker(filled.db_path) as conn:
        conn.execute("DELETE FROM stored_events WHERE position = ?", (target,))
    position, reason = first_failure(filled.db_path)
    assert position == target
    assert "missing" in reason


def test_swapped_events_are_found_at_the_first_of_them(filled: TrialLedger) -> None:
    a, b = positions_of_doses(filled.db_path)[5:7]
    with attacker(filled.db_path) as conn:
        conn.execute("UPDATE stored_events SET position = -1 WHERE position = ?", (a,))
        conn.execute("UPDATE stored_events SET position = ? WHERE position = ?", (a, b))
        conn.execute("UPDATE stored_events SET position = ? WHERE position = -1", (b,))
    position, _ = first_failure(filled.db_path)
    assert position == a


def test_inserted_forged_event_is_found_at_its_position(filled: TrialLedger, cast: Cast) -> None:
    """A well-formed event with a correct leaf hash, spliced in as the newest position."""
    with LedgerReader(filled.db_path) as reader:
        head = reader.size()
        last = reader.event_at(head)
        commit = reader.commit_at(head)
    assert last is not None
    assert commit is not None
    forged = dose(SUBJECT, 99)
    state = canonical_json(forged.payload())
    leaf = leaf_hash_of(
        commit=commit.header.seq,
        originator_id=forged.originator_id.hex,
        originator_version=99,
        position=head + 1,
        prev=last.leaf_hash,
        state=state,
        topic=forged.TOPIC,
    )
    with attacker(filled.db_path) as conn:
        conn.execute(
            "INSERT INTO stored_events (originator_id, originator_version, topic, state, position,"
            " leaf_hash, commit_seq) VALUES (?,?,?,?,?,?,?)",
            (forged.originator_id.hex, 99, forged.TOPIC, state, head + 1, leaf, commit.header.seq),
        )
    position, reason = first_failure(filled.db_path)
    assert position == head + 1
    assert "not covered by any signed commit" in reason


def test_forged_event_in_the_middle_is_found_at_its_position(filled: TrialLedger) -> None:
    target = positions_of_doses(filled.db_path)[2]
    with attacker(filled.db_path) as conn:
        conn.execute(
            "UPDATE stored_events SET position = position + 1000 WHERE position >= ?", (target,)
        )
        conn.execute(
            "UPDATE stored_events SET position = position - 999 WHERE position >= ?",
            (target + 1000,),
        )
        row = conn.execute(
            "SELECT originator_id, topic, state, leaf_hash, commit_seq FROM stored_events"
            " WHERE position = ?",
            (target + 1,),
        ).fetchone()
        conn.execute(
            "INSERT INTO stored_events (originator_id, originator_version, topic, state,"
            " position, leaf_hash, commit_seq) VALUES (?,?,?,?,?,?,?)",
            (row[0], 500, row[1], row[2], target, row[3], row[4]),
        )
    position, _ = first_failure(filled.db_path)
    assert position == target


def test_truncated_tail_is_found_against_an_earlier_checkpoint(
    filled: TrialLedger, cast: Cast
) -> None:
    note = filled.checkpoint(cast.ledger_key)
    size = filled.reader.size()
    with attacker(filled.db_path) as conn:
        (cut_seq,) = conn.execute(
            "SELECT commit_seq FROM stored_events WHERE position = ?", (size - 4,)
        ).fetchone()
        conn.execute("DELETE FROM stored_events WHERE commit_seq >= ?", (cut_seq,))
        conn.execute("DELETE FROM ledger_commits WHERE seq >= ?", (cut_seq,))
        conn.execute("DELETE FROM ledger_checkpoints")
    # The attacker cut at a commit boundary and removed the kept checkpoint: only the
    # checkpoint file the auditor saved earlier reveals the truncation.
    with LedgerReader(filled.db_path) as reader:
        cut = reader.size()
        assert verify_ledger(reader).ok
    position, reason = first_failure(filled.db_path, against=note)
    assert position == cut + 1
    assert "truncated" in reason


def test_rewritten_history_is_found_against_an_earlier_checkpoint(
    filled: TrialLedger, cast: Cast
) -> None:
    note = filled.checkpoint(cast.ledger_key)
    with attacker(filled.db_path) as conn:
        conn.execute("DELETE FROM ledger_checkpoints")
    # Rebuild a whole new ledger of the same size signed by the same people: it verifies on
    # its own, but not against the auditor's checkpoint.
    other = filled.db_path.with_name("other.db")
    rewritten = create_ledger(other, cast)
    rewritten.append(cast.coordinator, [screening(SUBJECT)])
    append_doses(rewritten, cast.coordinator, SUBJECT, 12)
    rewritten.close()
    position, reason = first_failure(other, against=note)
    assert "checkpoint" in reason
    assert position >= 1


def test_event_signed_by_a_revoked_key_is_flagged(filled: TrialLedger, cast: Cast) -> None:
    filled.revoke_key(cast.sponsor, cast.coordinator.key_id, "laptop stolen", date_today())
    head = filled.reader.size()
    # A rogue writer bypasses the product's authorisation and appends with the revoked key.
    filled.store.append([dose(SUBJECT, 14)], CommitSeal(signer=cast.coordinator))
    position, reason = first_failure(filled.db_path)
    assert position == head + 1
    assert "revoked" in reason


def test_product_refuses_a_revoked_key(filled: TrialLedger, cast: Cast) -> None:
    filled.revoke_key(cast.sponsor, cast.coordinator.key_id, "left the site", date_today())
    head = filled.reader.size()
    with pytest.raises(AuthorisationError, match="was revoked at position"):
        filled.append(cast.coordinator, [dose(SUBJECT, 14)])
    assert filled.reader.size() == head


def test_event_signed_by_an_unregistered_key_is_flagged(filled: TrialLedger) -> None:
    head = filled.reader.size()
    filled.store.append([dose(SUBJECT, 14)], CommitSeal(signer=new_signer()))
    position, reason = first_failure(filled.db_path)
    assert position == head + 1
    assert "not registered" in reason


def test_event_of_a_role_not_allowed_is_flagged(filled: TrialLedger, cast: Cast) -> None:
    head = filled.reader.size()
    filled.store.append([dose(SUBJECT, 14)], CommitSeal(signer=cast.monitor))
    position, reason = first_failure(filled.db_path)
    assert position == head + 1
    assert "role 'monitor'" in reason


def test_event_for_another_site_is_flagged(filled: TrialLedger, cast: Cast) -> None:
    head = filled.reader.size()
    filled.store.append([dose(SUBJECT, 14)], CommitSeal(signer=cast.coordinator_site2))
    position, reason = first_failure(filled.db_path)
    assert position == head + 1
    assert "site 002" in reason


def test_commit_header_is_what_the_signature_covers(filled: TrialLedger) -> None:
    commit = filled.reader.commit_at(3)
    assert commit is not None
    assert isinstance(commit.header, CommitHeader)
    assert b'"type":"trial-ledger/commit/v1"' in commit.header.to_bytes()


def date_today() -> date:
    return today()


def test_segment_verification_proves_the_events_after_a_consumers_position(
    filled: TrialLedger,
) -> None:
    seen = filled.reader.event_at(10)
    assert seen is not None
    report = verify_from(filled.reader, 10, seen.leaf_hash)
    assert report.ok, report.first_failure
    assert report.started_at_position <= 11
    assert report.events >= filled.reader.size() - 10


def test_segment_verification_finds_a_rewrite_under_the_consumer(filled: TrialLedger) -> None:
    seen = filled.reader.event_at(10)
    assert seen is not None
    with attacker(filled.db_path) as conn:
        conn.execute("UPDATE stored_events SET leaf_hash = ? WHERE position = 10", (bytes(32),))
    report = verify_from(filled.reader, 10, seen.leaf_hash)
    assert report.first_failure is not None
    assert report.first_failure.position == 10
    assert "rewritten" in report.first_failure.reason


def test_segment_verification_finds_tampering_inside_the_segment(filled: TrialLedger) -> None:
    seen = filled.reader.event_at(10)
    assert seen is not None
    with attacker(filled.db_path) as conn:
        conn.execute("UPDATE stored_events SET state = x'7b7d' WHERE position = 15")
    report = verify_from(filled.reader, 10, seen.leaf_hash)
    assert report.first_failure is not None
    assert report.first_failure.position == 15


def test_expired_key_is_refused_and_flagged(filled: TrialLedger, cast: Cast) -> None:
    temp = new_signer()
    key = person_key(
        temp.public_key, temp.key_id, "Tim Temporary", "coordinator", "001", date(2003, 1, 31)
    )
    filled.register_key(cast.sponsor, key, "cover for January 2003", GENESIS_DATE)
    head = filled.reader.size()
    with pytest.raises(AuthorisationError, match="expired on 2003-01-31"):
        filled.append(temp, [dose(SUBJECT, 14)])
    assert filled.reader.size() == head
    filled.store.append([dose(SUBJECT, 14)], CommitSeal(signer=temp))
    position, reason = first_failure(filled.db_path)
    assert position == head + 1
    assert "expired on 2003-01-31" in reason


def test_signatures_checked_in_a_worker_still_report_the_first_failing_position(
    filled: TrialLedger,
) -> None:
    assert verify_ledger(filled.reader, parallel_signatures=True).ok
    with attacker(filled.db_path) as conn:
        seq, first = conn.execute(
            "SELECT seq, first_position FROM ledger_commits ORDER BY seq LIMIT 1 OFFSET 7"
        ).fetchone()
        conn.execute("UPDATE ledger_commits SET signature = ? WHERE seq = ?", (bytes(64), seq))
        # a later content change too: the earlier signature failure must still win
        conn.execute("UPDATE stored_events SET state = x'7b7d' WHERE position = ?", (first + 5,))
    report = verify_ledger(filled.reader, parallel_signatures=True)
    assert report.first_failure is not None
    assert report.first_failure.position == first
    assert "signature by" in report.first_failure.reason
