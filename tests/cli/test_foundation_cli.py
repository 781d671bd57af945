"""The signed-log commands as a user runs them: exit codes, messages, files, JSON shapes."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest

from cli import run
from ledger.chain import envelope_bytes
from ledger.integrity import merkle
from ledger.store import LedgerReader

PASS = "correct horse battery staple"


@pytest.fixture(autouse=True)
def passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAL_LEDGER_PASSPHRASE", PASS)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One initialised ledger with site 001 (position 2) and an investigator there (position
    3), made once; tests work on copies."""
    folder = tmp_path_factory.mktemp("template")
    os.environ["TRIAL_LEDGER_PASSPHRASE"] = PASS
    try:
        assert run(init_args(folder)) == 0
        site = [
            "sites", "add", "--db", str(folder / "t.db"),
            "--sponsor-key", str(folder / "sponsor.key"), "--site", "001", "--label", "Site 001",
        ]  # fmt: skip
        assert run(site) == 0
        assert (
            run(
                [
                    "keys",
                    "add",
                    "--db",
                    str(folder / "t.db"),
                    "--sponsor-key",
                    str(folder / "sponsor.key"),
                    "--name",
                    "Dr. Ada Lee",
                    "--role",
                    "investigator",
                    "--site",
                    "001",
                    "--out",
                    str(folder / "ada.key"),
                ]
            )
            == 0
        )
    finally:
        del os.environ["TRIAL_LEDGER_PASSPHRASE"]
    return folder


@pytest.fixture
def work(template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "w"
    shutil.copytree(template, target)
    return target


def init_args(folder: Path) -> list[str]:
    return [
        "init", "--db", str(folder / "t.db"), "--sponsor-name", "Sponsor Office",
        "--sponsor-key-out", str(folder / "sponsor.key"),
        "--ledger-key-out", str(folder / "ledger.key"),
    ]  # fmt: skip


def json_out(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    out = capsys.readouterr().out
    document: dict[str, object] = json.loads(out)
    return document


def test_init_writes_encrypted_keys_readable_only_by_owner(template: Path) -> None:
    for name in ("sponsor.key", "ledger.key", "ada.key"):
        mode = stat.S_IMODE((template / name).stat().st_mode)
        assert mode == 0o600, name
        assert b"ENCRYPTED PRIVATE KEY" in (template / name).read_bytes()
    assert (template / "sponsor.key.pub").read_bytes().startswith(b"-----BEGIN PUBLIC KEY")


def test_init_refuses_an_existing_ledger_and_writes_nothing(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sorted(p.name for p in work.iterdir())
    args = init_args(work)
    args[args.index("--sponsor-key-out") + 1] = str(work / "other.key")
    assert run(args) == 2
    assert "already exists" in capsys.readouterr().err
    assert sorted(p.name for p in work.iterdir()) == before


def test_init_without_a_passphrase_stops_before_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TRIAL_LEDGER_PASSPHRASE")
    assert run(init_args(tmp_path)) == 2
    assert "TRIAL_LEDGER_PASSPHRASE" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_init_with_a_too_short_sponsor_name_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = init_args(tmp_path)
    args[args.index("--sponsor-name") + 1] = "X"
    assert run(args) == 2
    err = capsys.readouterr().err
    assert "printed_name='X' refused" in err
    assert list(tmp_path.iterdir()) == []


def test_keys_list_json_shows_roles_sites_and_status(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["keys", "list", "--db", str(work / "t.db"), "--json"]) == 0
    keys = json_out(capsys)["keys"]
    assert isinstance(keys, list)
    assert [(k["printed_name"], k["role"], k["site"], k["status"]) for k in keys] == [
        ("Sponsor Office", "sponsor", "*", "active"),
        ("Dr. Ada Lee", "investigator", "001", "active"),
    ]


def test_keys_add_refuses_an_unknown_role_and_writes_no_key_file(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "keys", "add", "--db", str(work / "t.db"), "--sponsor-key", str(work / "sponsor.key"),
        "--name", "Bo Boss", "--role", "boss", "--site", "001", "--out", str(work / "bo.key"),
    ]  # fmt: skip
    assert run(args) == 2
    assert "--role 'boss': not a role" in capsys.readouterr().err
    assert not (work / "bo.key").exists()


def test_keys_add_refused_by_the_ledger_removes_the_new_key_file(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "keys", "add", "--db", str(work / "t.db"), "--sponsor-key", str(work / "ada.key"),
        "--name", "Bo Coordinator", "--role", "coordinator", "--site", "001",
        "--out", str(work / "bo.key"),
    ]  # fmt: skip
    assert run(args) == 2
    assert "may not record KeyRegistered" in capsys.readouterr().err
    assert not (work / "bo.key").exists()
    assert not (work / "bo.key.pub").exists()


def test_wrong_passphrase_is_refused_with_exit_2(
    work: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRIAL_LEDGER_PASSPHRASE", "not it")
    args = [
        "keys", "revoke", "--db", str(work / "t.db"), "--sponsor-key", str(work / "sponsor.key"),
        "--key-id", "ed25519:" + "0" * 32, "--reason", "lost laptop",
    ]  # fmt: skip
    assert run(args) == 2
    assert "passphrase" in capsys.readouterr().err


def test_rotate_then_revoke_shows_in_the_registry(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(work / "t.db")
    assert run(["keys", "list", "--db", db, "--json"]) == 0
    ada = json_out(capsys)["keys"][1]["key_id"]  # type: ignore[index]
    rotate = [
        "keys", "rotate", "--db", db, "--sponsor-key", str(work / "sponsor.key"),
        "--key-id", ada, "--out", str(work / "ada2.key"), "--json",
    ]  # fmt: skip
    assert run(rotate) == 0
    new_id = json_out(capsys)["key_id"]
    revoke = [
        "keys", "revoke", "--db", db, "--sponsor-key", str(work / "sponsor.key"),
        "--key-id", str(new_id), "--reason", "left the site",
    ]  # fmt: skip
    assert run(revoke) == 0
    capsys.readouterr()
    assert run(["keys", "list", "--db", db, "--json"]) == 0
    statuses = {k["key_id"]: k["status"] for k in json_out(capsys)["keys"]}  # type: ignore[attr-defined]
    assert statuses[ada] == "rotated"
    assert statuses[new_id] == "revoked"
    assert run(["verify", "--db", db]) == 0


def test_verify_json_shape_on_an_intact_ledger(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["verify", "--db", str(work / "t.db"), "--json"]) == 0
    report = json_out(capsys)
    assert report["ok"] is True
    assert report["events"] == 3
    assert report["first_failure"] is None
    assert set(report) >= {"commits", "tree_size", "root", "checkpoints_checked", "mode"}


def test_verify_names_the_first_failing_position_and_exits_1(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conn = sqlite3.connect(work / "t.db")
    conn.execute("DROP TRIGGER stored_events_no_update")
    conn.execute(
        "UPDATE stored_events SET state = CAST(replace(state, 'Ada', 'Eve') AS BLOB)"
        " WHERE position = 3"
    )
    conn.commit()
    conn.close()
    assert run(["verify", "--db", str(work / "t.db"), "--json"]) == 1
    report = json_out(capsys)
    assert report["ok"] is False
    assert report["first_failure"] == {
        "position": 3,
        "reason": report["first_failure"]["reason"],  # type: ignore[index]
    }
    assert "leaf hash" in str(report["first_failure"])


def test_verify_of_a_missing_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["verify", "--db", str(tmp_path / "none.db")]) == 2
    assert "no such ledger file" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


def test_checkpoint_then_truncation_fails_verify_against_it(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(work / "t.db")
    cp = work / "cp.txt"
    args = ["checkpoint", "--db", db, "--out", str(cp), "--ledger-key", str(work / "ledger.key")]
    assert run(args) == 0
    assert cp.read_text().splitlines()[1] == "3"
    conn = sqlite3.connect(work / "t.db")
    for t in ("stored_events", "ledger_commits", "ledger_checkpoints"):
        conn.execute(f"DROP TRIGGER {t}_no_delete")
    conn.execute("DELETE FROM stored_events WHERE position = 3")
    conn.execute("DELETE FROM ledger_commits WHERE seq = 3")
    conn.execute("DELETE FROM ledger_checkpoints WHERE tree_size = 3")
    conn.commit()
    conn.close()
    capsys.readouterr()
    assert run(["verify", "--db", db, "--json"]) == 0
    capsys.readouterr()
    assert run(["verify", "--db", db, "--against", str(cp), "--json"]) == 1
    failure = json_out(capsys)["first_failure"]
    assert isinstance(failure, dict)
    assert failure["position"] == 3
    assert "truncated" in failure["reason"]


def test_inclusion_proof_verifies_with_an_independent_rfc9162_check(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["proof", "inclusion", "--db", str(work / "t.db"), "--position", "2", "--json"]) == 0
    proof = json_out(capsys)
    assert set(proof) == {"leafIdx", "treeSize", "leafHash", "root", "proof"}
    assert proof["leafIdx"] == 1
    # Anyone can recompute the leaf from the stored row and the documented envelope.
    with LedgerReader(work / "t.db") as reader:
        row, before = reader.event_at(2), reader.event_at(1)
    assert row is not None
    assert before is not None
    envelope = envelope_bytes(
        commit=row.commit_seq,
        originator_id=row.originator_id,
        originator_version=row.originator_version,
        position=2,
        prev=before.leaf_hash,
        state=row.state,
        topic=row.topic,
    )
    leaf = merkle.leaf_hash(envelope)
    assert base64.b64encode(leaf).decode() == proof["leafHash"]
    merkle.verify_inclusion(
        leaf,
        1,
        3,
        [base64.b64decode(p) for p in proof["proof"]],  # type: ignore[attr-defined]
        base64.b64decode(str(proof["root"])),
    )


def test_consistency_proof_has_the_vector_shape_and_verifies(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["proof", "consistency", "--db", str(work / "t.db"), "--from", "1", "--json"]
    assert run(args) == 0
    proof = json_out(capsys)
    assert set(proof) == {"size1", "size2", "root1", "root2", "proof"}
    merkle.verify_consistency(
        1,
        3,
        [base64.b64decode(p) for p in proof["proof"]],  # type: ignore[attr-defined]
        base64.b64decode(str(proof["root1"])),
        base64.b64decode(str(proof["root2"])),
    )


def test_proof_for_a_position_beyond_the_ledger_is_a_usage_error(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["proof", "inclusion", "--db", str(work / "t.db"), "--position", "9", "--json"]
    assert run(args) == 2
    assert "--position 9" in capsys.readouterr().err


def test_bundle_verifies_offline_with_the_sponsor_key_only(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = work / "bundle"
    assert run(["export-bundle", "--db", str(work / "t.db"), "--out", str(bundle)]) == 0
    (work / "t.db").unlink()  # offline: no database
    sponsor = str(work / "sponsor.key.pub")
    capsys.readouterr()
    assert run(["verify-bundle", str(bundle), "--sponsor-key", sponsor, "--json"]) == 0
    report = json_out(capsys)
    assert report["ok"] is True
    assert report["damaged_files"] == []


def test_altered_bundle_fails_at_the_altered_position(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = work / "bundle"
    assert run(["export-bundle", "--db", str(work / "t.db"), "--out", str(bundle)]) == 0
    lines = (bundle / "events.jsonl").read_text().splitlines()
    lines[2] = lines[2].replace("Ada", "Eve")
    (bundle / "events.jsonl").write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    sponsor = str(work / "sponsor.key.pub")
    assert run(["verify-bundle", str(bundle), "--sponsor-key", sponsor, "--json"]) == 1
    report = json_out(capsys)
    failure = report["first_failure"]
    assert isinstance(failure, dict)
    assert failure["position"] == 3
    assert report["damaged_files"] == ["events.jsonl"]


def test_bundle_is_refused_for_another_sponsor_key(
    work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = work / "bundle"
    assert run(["export-bundle", "--db", str(work / "t.db"), "--out", str(bundle)]) == 0
    assert run(["keys", "generate", "--out", str(tmp_path / "mallory.key")]) == 0
    capsys.readouterr()
    other = str(tmp_path / "mallory.key.pub")
    assert run(["verify-bundle", str(bundle), "--sponsor-key", other, "--json"]) == 1
    failure = json_out(capsys)["first_failure"]
    assert isinstance(failure, dict)
    assert failure["position"] == 1
    assert "not in the published sponsor key" in failure["reason"]
