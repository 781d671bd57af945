"""Reads that show ledger rows never show an altered one, and careless inputs are told apart
from tampering. Each case was found by trying the product from outside.

The reads of ledger rows run on both stores (the base ledger is built once per store). What is
about the views file (``<db>.views.sqlite``: edited views), a checkpoint file or the
verifier's state folder runs on the file store only: the ledger's store plays no part in it.
"""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest

from ledger.store.location import StoreTarget
from tests.adversarial.ledgers import Base, attacker, build_base, copy_base, run_cli
from tests.store_params import STORE_PARAMS, Stores, StoreTamper, sqlite_only


@pytest.fixture(scope="module", params=STORE_PARAMS)
def base(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Base:
    return build_base(tmp_path_factory.mktemp("reads"), Stores(request.param, request))


def forge_dose(db: StoreTarget, amount: str = "900") -> int:
    """A dose's amount edited in place (leaf column left alone), as an attacker would."""
    with attacker(db) as conn:
        position, state = conn.execute(
            "SELECT position, state FROM stored_events WHERE topic LIKE '%DoseAdministered%'"
            " ORDER BY position DESC LIMIT 1 OFFSET 3"
        ).fetchone()
        payload = json.loads(state)
        payload["dose"] = amount
        forged = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        conn.execute("UPDATE stored_events SET state=? WHERE position=?", (forged, position))
    return int(position)


def test_log_refuses_to_show_an_altered_dose(
    base: Base, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, _ = copy_base(base, tmp_path)
    forge_dose(db)
    capsys.readouterr()
    assert run_cli("log", "--db", db, "--subject", "MC0282-001-001") == 1
    err = capsys.readouterr()
    assert "refusing to show an altered record" in err.err
    assert "900" not in err.out


def test_audit_trail_refuses_an_altered_dose_in_both_modes(
    base: Base, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, _ = copy_base(base, tmp_path)
    assert run_cli("projections", "rebuild", "--db", db) == 0
    forge_dose(db)
    for mode in ("--prove-views", "--trust-views"):
        capsys.readouterr()
        assert run_cli("audit-trail", "--db", db, mode, "--csv") == 1, mode
        assert "anakinra 900" not in capsys.readouterr().out


def test_keys_list_refuses_an_altered_printed_name(
    base: Base, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, _ = copy_base(base, tmp_path)
    with attacker(db) as conn:
        position, state = conn.execute(
            "SELECT position, state FROM stored_events WHERE topic LIKE '%KeyRegistered%'"
            " ORDER BY position LIMIT 1"
        ).fetchone()
        forged = state.replace(b"Coordinator 001", b"Dr. Somebody Else")
        assert forged != state
        conn.execute("UPDATE stored_events SET state=? WHERE position=?", (forged, position))
    capsys.readouterr()
    assert run_cli("keys", "list", "--db", db, "--json") == 1
    captured = capsys.readouterr()
    assert "Somebody Else" not in captured.out
    assert "key registry fails its re-proof" in captured.err


@sqlite_only("base")
def test_summary_refuses_edited_patient_views_by_default(
    base: Base, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, _ = copy_base(base, tmp_path)
    assert isinstance(db, Path)
    assert run_cli("summary", "--db", db, "--json") == 0
    views = db.with_name(db.name + ".views.sqlite")
    conn = sqlite3.connect(views)
    with conn:
        changed = conn.execute("UPDATE patient_state SET state = state || ' '").rowcount
    conn.close()
    assert changed > 0
    capsys.readouterr()
    assert run_cli("summary", "--db", db, "--json") == 1
    assert "refusing to serve" in capsys.readouterr().err
    assert run_cli("summary", "--db", db, "--trust-views", "--json") == 0  # as last proved


def test_projections_verify_builds_views_that_were_never_built(
    base: Base, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Straight after `make demo`, a backup or a copy there are no views: nothing to blame."""
    db, _ = copy_base(base, tmp_path)
    assert not StoreTamper(db).views_exist()
    capsys.readouterr()
    assert run_cli("projections", "verify", "--db", db, "--json") == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


@sqlite_only("base")
@pytest.mark.parametrize(("line", "value"), [(1, "99999"), (1, "3"), (2, "AAAA" * 11)])
def test_a_garbled_checkpoint_file_is_refused_without_blaming_the_ledger(
    base: Base, tmp_path: Path, capsys: pytest.CaptureFixture[str], line: int, value: str
) -> None:
    lines = base.notes[base.boundaries[-1]].read_text(encoding="utf-8").split("\n")
    lines[line] = value
    garbled = tmp_path / "garbled.checkpoint"
    garbled.write_text("\n".join(lines), encoding="utf-8")
    capsys.readouterr()
    code = run_cli("verify", "--db", base.db, "--against", garbled)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "--against" in err
    assert "truncated" not in err
    assert "table was altered" not in err


@pytest.mark.parametrize("where", ["genesis", "state size"])
def test_state_mode_rehashes_the_positions_it_builds_on(
    base: Base, tmp_path: Path, where: str
) -> None:
    db, state = copy_base(base, tmp_path)
    position = 1 if where == "genesis" else base.state_size
    with attacker(db) as conn:
        (stored,) = conn.execute(
            "SELECT state FROM stored_events WHERE position=?", (position,)
        ).fetchone()
        conn.execute("UPDATE stored_events SET state=? WHERE position=?", (stored + b" ", position))
    assert run_cli("verify", "--db", db, "--state", state) == 1


@sqlite_only("base")
def test_a_state_others_may_write_is_refused(
    base: Base, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, state = copy_base(base, tmp_path)
    file = state / "verifier-state.json"
    file.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IWOTH | stat.S_IROTH)
    capsys.readouterr()
    assert run_cli("verify", "--db", db, "--state", state) == 2
    assert "group or others" in capsys.readouterr().err


@sqlite_only("base")
def test_a_state_folder_is_not_made_in_a_missing_parent(
    base: Base, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no-such-parent" / "state"
    capsys.readouterr()
    assert run_cli("verify", "--db", base.db, "--state", target) == 2
    assert not target.parent.exists()
    assert "--state" in capsys.readouterr().err
