"""``trial-ledger remote``: the CLI against a live server on 127.0.0.1 prints what the local
commands print for the same command on a copy of the same ledger (receipts, ``--json``,
refusals), and a server that is down is one line and exit 2."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import cli
from tests.server.support import Served, free_socket

DOSE = [
    "--subject", "MC0282-001-017", "--drug", "anakinra", "--dose", "100", "--route", "SC",
    "--date", "2003-01-14",
]  # fmt: skip
DEXAMETHASONE = [
    "--subject", "MC0282-001-017", "--drug", "dexamethasone", "--dose", "20", "--route", "PO",
    "--date", "2003-01-14",
]  # fmt: skip


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.run(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _key(served: Served, label: str) -> list[str]:
    return ["--key", str(served.key_files[label]), "--passphrase-file", str(served.passphrase_file)]


def _both(
    served: Served, url: str, tmp_path: Path, command: str, args: list[str], label: str
) -> tuple[list[str], list[str]]:
    """The remote command line on the served ledger and the local one on a copy of it."""
    (tmp_path / "local").mkdir(exist_ok=True)
    local = served.copy_to(tmp_path / "local")
    remote = ["remote", command, "--server", url, *_key(served, label), *args]
    return remote, [command, "--db", str(local.db), *_key(served, label), *args]


def _without_times(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "recorded_at"}


def test_a_remote_dose_prints_the_local_receipt_and_json(
    served: Served, live_server: Callable[[Any], str], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    url = live_server(served.config())
    remote, local = _both(served, url, tmp_path, "dose", DOSE, "coordinator-001")
    remote_run, local_run = _run(capsys, remote), _run(capsys, local)
    assert remote_run[0] == local_run[0] == 0, remote_run[2]
    assert remote_run[1] == local_run[1]
    assert remote_run[1].startswith("Recorded at position ")
    remote_json = _run(capsys, [*remote[:-2], "--date", "2003-01-15", "--json"])
    local_json = _run(capsys, [*local[:-2], "--date", "2003-01-15", "--json"])
    assert remote_json[0] == local_json[0] == 0
    assert _without_times(json.loads(remote_json[1])) == _without_times(json.loads(local_json[1]))
    assert cli.run(["verify", "--db", str(served.db)]) == 0


def test_a_remote_refusal_is_the_local_message_and_exit_2(
    served: Served, live_server: Callable[[Any], str], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    url = live_server(served.config())
    remote, local = _both(served, url, tmp_path, "dose", DEXAMETHASONE, "coordinator-001")
    remote_run, local_run = _run(capsys, remote), _run(capsys, local)
    assert remote_run[0] == local_run[0] == 2
    assert remote_run[2] == local_run[2]
    assert "DOSE-NOT-IN-REGIMEN" in remote_run[2]
    assert len(remote_run[2].strip().splitlines()) == 1
    remote_json = json.loads(_run(capsys, [*remote, "--json"])[1])
    local_json = json.loads(_run(capsys, [*local, "--json"])[1])
    assert remote_json == local_json


def test_a_remote_import_is_one_commit_as_locally_and_a_refused_file_names_its_lines(
    served: Served, live_server: Callable[[Any], str], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    url = live_server(served.config())
    diary = tmp_path / "diary.jsonl"
    lines = [
        {"command": "dose", "subject_id": "MC0282-001-017", "date": f"2003-01-{d}",
         "drug": "anakinra", "dose": 100, "route": "SC"}
        for d in (14, 15)
    ]  # fmt: skip
    diary.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    refused = tmp_path / "refused.jsonl"
    refused.write_text(json.dumps({**lines[0], "drug": "dexamethasone"}) + "\n", encoding="utf-8")
    for file, code in ((refused, 2), (diary, 0)):
        remote, local = _both(served, url, tmp_path, "import", [str(file)], "coordinator-001")
        remote_run = _run(capsys, [*remote[:2], str(file), *remote[2:-1]])
        local_run = _run(capsys, [local[0], str(file), *local[1:-1]])
        assert remote_run[0] == local_run[0] == code, remote_run[2]
        assert (remote_run[1], remote_run[2]) == (local_run[1], local_run[2])


def test_remote_token_prints_a_token_for_the_key(
    served: Served, live_server: Callable[[Any], str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = live_server(served.config())
    code, out, err = _run(
        capsys, ["remote", "token", "--server", url, *_key(served, "monitor"), "--json"]
    )
    assert code == 0, err
    document = json.loads(out)
    assert document["key_id"] == served.key_id("monitor")
    assert document["role"] == "monitor"
    assert len(document["token"]) >= 32


def test_a_server_that_is_down_is_one_line_and_exit_2(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    sock = free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()  # nothing listens there now
    code, out, err = _run(
        capsys, ["remote", "dose", "--server", url, *_key(served, "coordinator-001"), *DOSE]
    )
    assert code == 2
    assert out == ""
    assert err.startswith("error: cannot reach the served ledger at ")
    assert len(err.strip().splitlines()) == 1


def test_remote_token_from_a_server_that_is_down_is_one_line_and_exit_2(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    sock = free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()
    code, _, err = _run(capsys, ["remote", "token", "--server", url, *_key(served, "monitor")])
    assert code == 2
    assert err.startswith(f"error: cannot reach {url}")
    assert len(err.strip().splitlines()) == 1


def test_remote_wait_returns_once_the_server_answers_and_exits_2_after_its_timeout(
    served: Served, live_server: Callable[[Any], str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = live_server(served.config())
    assert _run(capsys, ["remote", "wait", "--server", url, "--timeout", "5"])[0] == 0
    sock = free_socket()
    closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()
    code, _, err = _run(capsys, ["remote", "wait", "--server", closed, "--timeout", "0.3"])
    assert code == 2
    assert "did not answer within 0.3 s" in err
    assert len(err.strip().splitlines()) == 1


def test_health_answers_without_authentication_and_names_nothing_of_the_ledger(
    served: Served, live_server: Callable[[Any], str]
) -> None:
    url = live_server(served.config())
    answer = httpx.get(f"{url}/v1/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}
    assert httpx.get(f"{url}/v1/ledger").status_code == 401
