"""Writers check the tip they extend: no commit is ever chained onto an altered one.

Before appending, the recorder re-proves (inside the insert transaction) the commit at the
head: its events rehashed from the stored columns and chained, their root equal to the signed
root, the commit ending at the last event and being the newest, its signature valid under its
signer's registered key. A tip that fails is refused (exit 1) and nothing is written.

On both stores: the attacker edits a SQLite file, or a PostgreSQL database as its superuser
(the append-only triggers bypassed), with the same SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from ledger.chain import leaf_hash_of
from ledger.domain.commands import Consent
from ledger.errors import VerificationError
from ledger.recording import TrialRecorder
from ledger.service import TrialLedger
from ledger.store import LedgerReader
from ledger.store.location import StoreTarget
from ledger.verify import verify_ledger
from tests.adversarial.ledgers import attacker, init_ledger, passphrase_env, run_cli, staff
from tests.store_params import TamperSQL
from tests.support import dose, screening

SUBJECT = "MC0282-001-001"
Grown = tuple[StoreTarget, TrialLedger, dict[str, object]]


@pytest.fixture
def grown(tmp_path: Path, store_target: StoreTarget) -> Grown:
    db, sponsor, ledger_key = init_ledger(tmp_path, store_target)
    ledger = TrialLedger.open(db)
    people = staff(ledger, sponsor)
    ledger.append(people["001"], [screening(SUBJECT, 1)])
    ledger.append(people["001"], [dose(SUBJECT, 2, 0), dose(SUBJECT, 3, 1)])
    return db, ledger, {"signer": people["001"], "sponsor": sponsor, "ledger_key": ledger_key}


def tip(db: StoreTarget) -> tuple[int, int]:
    with LedgerReader(db) as reader:
        commit = reader.commit_at(reader.size())
        assert commit is not None
        return reader.size(), commit.header.seq


def edit_last_state(conn: TamperSQL) -> None:
    position, state = conn.execute(
        "SELECT position, state FROM stored_events ORDER BY position DESC LIMIT 1"
    ).fetchone()
    edited = bytes(state).replace(b"100", b"900")
    assert edited != state
    conn.execute("UPDATE stored_events SET state=? WHERE position=?", (edited, position))


def edit_last_state_and_its_leaf(conn: TamperSQL) -> None:
    edit_last_state(conn)
    p, oid, version, topic, state, commit = conn.execute(
        "SELECT position, originator_id, originator_version, topic, state, commit_seq"
        " FROM stored_events ORDER BY position DESC LIMIT 1"
    ).fetchone()
    (prev,) = conn.execute(
        "SELECT leaf_hash FROM stored_events WHERE position=?", (p - 1,)
    ).fetchone()
    leaf = leaf_hash_of(
        commit=commit,
        originator_id=oid,
        originator_version=version,
        position=p,
        prev=prev,
        state=state,
        topic=topic,
    )
    conn.execute("UPDATE stored_events SET leaf_hash=? WHERE position=?", (leaf, p))


def flip_tip_signature(conn: TamperSQL) -> None:
    seq, sig = conn.execute(
        "SELECT seq, signature FROM ledger_commits ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    conn.execute(
        "UPDATE ledger_commits SET signature=? WHERE seq=?", (bytes([sig[0] ^ 1]) + sig[1:], seq)
    )


def delete_tip_commit(conn: TamperSQL) -> None:
    conn.execute("DELETE FROM ledger_commits WHERE seq = (SELECT MAX(seq) FROM ledger_commits)")


def delete_last_event(conn: TamperSQL) -> None:
    conn.execute(
        "DELETE FROM stored_events WHERE position = (SELECT MAX(position) FROM stored_events)"
    )


def delete_last_commit_and_events(conn: TamperSQL) -> None:
    """A clean cut of the last commit: the new tip is intact, so appending goes on."""
    (seq, first) = conn.execute(
        "SELECT seq, first_position FROM ledger_commits ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    conn.execute("DELETE FROM stored_events WHERE position >= ?", (first,))
    conn.execute("DELETE FROM ledger_commits WHERE seq = ?", (seq,))


@pytest.mark.parametrize(
    "tamper",
    [
        edit_last_state,
        edit_last_state_and_its_leaf,
        flip_tip_signature,
        delete_tip_commit,
        delete_last_event,
    ],
)
def test_refuses_to_append_on_top_of_an_altered_tip(
    grown: Grown, tamper: Callable[[TamperSQL], None]
) -> None:
    db, ledger, people = grown
    with attacker(db) as conn:
        tamper(conn)
    before = tip(db)
    with pytest.raises(VerificationError, match="refusing to append"):
        ledger.append(people["signer"], [dose(SUBJECT, 4, 2)])  # type: ignore[arg-type]
    assert tip(db) == before
    ledger.close()


def test_refuses_an_altered_tip_from_a_fresh_process_too(
    grown: Grown,
) -> None:
    """A new writer (not the one that signed the tip) checks the tip's signature itself."""
    db, ledger, people = grown
    ledger.close()
    with attacker(db) as conn:
        flip_tip_signature(conn)
    fresh = TrialLedger.open(db)
    try:
        with pytest.raises(VerificationError, match=r"signature by .* does not verify"):
            fresh.append(people["signer"], [dose(SUBJECT, 4, 2)])  # type: ignore[arg-type]
    finally:
        fresh.close()


def test_cli_write_on_an_altered_tip_exits_1_and_writes_nothing(
    grown: Grown,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db, ledger, _ = grown
    ledger.close()
    with attacker(db) as conn:
        edit_last_state(conn)
    before = tip(db)
    capsys.readouterr()
    with passphrase_env():
        code = run_cli(
            "keys",
            "add",
            "--db",
            db,
            "--sponsor-key",
            tmp_path / "sponsor.key",
            "--name",
            "Dr. New Monitor",
            "--role",
            "monitor",
            "--site",
            "*",
            "--out",
            tmp_path / "new.key",
        )
    assert code == 1
    err = capsys.readouterr().err
    assert "refusing to append" in err
    assert "Traceback" not in err
    assert tip(db) == before
    assert not (tmp_path / "new.key").exists()


def test_an_intact_tip_after_a_clean_cut_is_extended_and_verify_still_has_the_last_word(
    grown: Grown,
) -> None:
    """Writers re-prove only the tip: a clean cut of the last commit leaves an intact tip, so
    the append goes on; catching the cut is the job of `verify --against` a checkpoint."""
    db, ledger, people = grown
    with attacker(db) as conn:
        delete_last_commit_and_events(conn)
    ledger.append(people["signer"], [dose(SUBJECT, 2, 0)])  # type: ignore[arg-type]
    ledger.close()
    with LedgerReader(db) as reader:
        assert verify_ledger(reader).ok


def test_refuses_to_append_after_a_clean_cut_below_a_kept_checkpoint(grown: Grown) -> None:
    """A clean cut leaves an intact tip, but a checkpoint kept in the ledger says more events
    were signed: the writer refuses rather than put another history under that checkpoint."""
    db, ledger, people = grown
    ledger.checkpoint(people["ledger_key"])  # type: ignore[arg-type]
    with attacker(db) as conn:
        delete_last_commit_and_events(conn)
    before = tip(db)
    with pytest.raises(VerificationError, match="a checkpoint kept in the ledger covers"):
        ledger.append(people["signer"], [dose(SUBJECT, 2, 0)])  # type: ignore[arg-type]
    assert tip(db) == before
    ledger.close()


def test_refuses_to_record_on_a_subject_history_edited_below_the_tip(grown: Grown) -> None:
    """The rules never read an unproved record: an edit of an older event of the subject (the
    tip intact, the edit perhaps undone later) is refused before the rules run."""
    db, ledger, people = grown
    with attacker(db) as conn:
        (position, state) = conn.execute(
            "SELECT position, state FROM stored_events WHERE topic LIKE '%SubjectScreened%'"
        ).fetchone()
        edited = bytes(state).replace(b'"age_years":61', b'"age_years":17')
        assert edited != bytes(state)
        conn.execute("UPDATE stored_events SET state=? WHERE position=?", (edited, position))
    before = tip(db)
    recorder = TrialRecorder(ledger)
    command = Consent(subject_id=SUBJECT, date=date(2003, 1, 7), consent_version="2002-10")
    with pytest.raises(VerificationError, match=f"fails its re-proof at position {position}"):
        recorder.record(people["signer"], command)  # type: ignore[arg-type]
    assert tip(db) == before
    ledger.close()
