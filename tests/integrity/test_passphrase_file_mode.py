"""A passphrase file is held to the key files' mode rule: no group or other permission."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import cli
from ledger.cli.common import read_passphrase
from ledger.errors import KeyFileError, UsageError
from ledger.integrity.signing import (
    check_owner_only,
    generate_private_key,
    read_private_key,
    write_private_key,
)

PASS = "correct horse battery staple"


def passphrase_file(folder: Path, mode: int) -> Path:
    path = folder / "passphrase"
    path.write_text(PASS + "\n", encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606, 0o601, 0o610])
def test_refuses_a_passphrase_file_readable_or_writable_by_others(
    tmp_path: Path, mode: int
) -> None:
    path = passphrase_file(tmp_path, mode)
    expected = (
        f"--passphrase-file {path} has mode {mode:04o}; expected 0600 (chmod 600 {path}): "
        "a passphrase file is held to the key files' rule (no group or other access)"
    )
    with pytest.raises(KeyFileError, match=re.escape(expected)):
        read_passphrase(path)


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_accepts_a_passphrase_file_of_its_owner_only(tmp_path: Path, mode: int) -> None:
    assert read_passphrase(passphrase_file(tmp_path, mode)) == PASS.encode()


def test_key_files_and_passphrase_files_share_one_mode_rule(tmp_path: Path) -> None:
    key = tmp_path / "k.key"
    write_private_key(key, generate_private_key(), PASS.encode())
    key.chmod(0o644)
    with pytest.raises(KeyFileError, match=re.escape(f"key file {key} has mode 0644")):
        read_private_key(key, PASS.encode())
    with pytest.raises(KeyFileError, match=re.escape(f"key file {key} has mode 0644")):
        check_owner_only(key, 0o644)
    check_owner_only(key, 0o600)


def test_a_missing_passphrase_file_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    with pytest.raises(UsageError, match=re.escape(f"--passphrase-file {missing}: No such file")):
        read_passphrase(missing)


def test_cli_refuses_a_0644_passphrase_file_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loose = passphrase_file(tmp_path, 0o644)
    db = tmp_path / "t.db"
    init = [
        "init", "--db", str(db), "--sponsor-name", "Sponsor Office",
        "--sponsor-key-out", str(tmp_path / "sponsor.key"),
        "--ledger-key-out", str(tmp_path / "ledger.key"), "--passphrase-file", str(loose),
    ]  # fmt: skip
    assert cli.run(init) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"error: --passphrase-file {loose} has mode 0644; expected 0600" in captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["passphrase"]

    loose.chmod(0o600)
    assert cli.run(init) == 0
    capsys.readouterr()
    assert cli.run(["verify", "--db", str(db), "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    loose.chmod(0o640)
    sites_add = [
        "sites", "add", "--db", str(db), "--sponsor-key", str(tmp_path / "sponsor.key"),
        "--site", "001", "--label", "Site 001", "--passphrase-file", str(loose),
    ]  # fmt: skip
    assert cli.run(sites_add) == 2
    assert "has mode 0640; expected 0600" in capsys.readouterr().err
    assert cli.run(["verify", "--db", str(db), "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert (after["tree_size"], after["root"]) == (before["tree_size"], before["root"])
