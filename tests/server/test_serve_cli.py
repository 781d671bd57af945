"""``trial-ledger serve`` as a process: what it refuses before it listens (one line, exit 2,
no traceback), and that it serves what it was given."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.server.support import Served, free_socket

TRIAL_LEDGER = Path(sys.executable).parent / "trial-ledger"


def _serve(args: list[str], passphrase: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAL_LEDGER_")}
    if passphrase is not None:
        env["TRIAL_LEDGER_PASSPHRASE"] = passphrase
    return subprocess.run(
        [str(TRIAL_LEDGER), "serve", *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


def _port() -> str:
    sock = free_socket()
    port = str(sock.getsockname()[1])
    sock.close()
    return port


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_serve_refuses_a_file_that_is_not_a_ledger_before_listening(tmp_path: Path) -> None:
    not_a_ledger = tmp_path / "notes.db"
    not_a_ledger.write_bytes(b"not a database at all")
    run = _serve(["--db", str(not_a_ledger), "--port", _port()])
    assert run.returncode == 2
    assert "not a trial-ledger database" in _one_line(run.stderr)


def test_serve_refuses_a_missing_ledger_file(tmp_path: Path) -> None:
    run = _serve(["--db", str(tmp_path / "absent.db"), "--port", _port()])
    assert run.returncode == 2
    assert "no such ledger file" in _one_line(run.stderr)


def test_serve_refuses_a_wrong_checkpoint_key_passphrase_in_one_line(served: Served) -> None:
    args = ["--db", str(served.db), "--port", _port(), "--checkpoint-key"]
    run = _serve([*args, str(served.ledger_key_file)], passphrase="not the passphrase")
    assert run.returncode == 2
    assert str(served.ledger_key_file) in _one_line(run.stderr)


def test_serve_refuses_a_checkpoint_key_that_is_not_the_ledger_key(served: Served) -> None:
    args = ["--db", str(served.db), "--port", _port(), "--checkpoint-key"]
    run = _serve([*args, str(served.key_files["monitor"])], passphrase=served.passphrase.decode())
    assert run.returncode == 2
    assert "is not the ledger key" in _one_line(run.stderr)


def test_serve_answers_health_then_stops_on_sigterm_without_a_traceback(served: Served) -> None:
    port = _port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAL_LEDGER_")}
    process = subprocess.Popen(
        [str(TRIAL_LEDGER), "serve", "--db", str(served.db), "--port", port],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        wait = subprocess.run(
            [str(TRIAL_LEDGER), "remote", "wait", "--server", f"http://127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert wait.returncode == 0, wait.stderr
        assert httpx.get(f"http://127.0.0.1:{port}/v1/health").json() == {"status": "ok"}
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "Traceback" not in stderr
    assert stderr.startswith(f"Serving {served.db} on http://127.0.0.1:{port}/")
