"""``trial-ledger follow URL --mirror DIR``: the mirror is the served ledger, byte for byte and
verified; a server that tampers with anything (tests/server/tampering_server.py) raises an
alarm and leaves the mirror as it last verified it."""

from __future__ import annotations

import base64
import os
import queue
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cli
from ledger.domain.commands import RecordDose
from ledger.integrity.checkpoint import Checkpoint, parse_checkpoint, sign_checkpoint
from ledger.integrity.signing import (
    Signer,
    generate_private_key,
    write_private_key,
    write_public_key,
)
from ledger.recording import TrialRecorder
from ledger.remote.auth import SignedRequests
from ledger.remote.follow import sync
from ledger.remote.mirror import MIRROR_DB, STATE_DIR, Mirror
from ledger.remote.wire import FollowAlarm, LogClient
from ledger.server.app import create_app
from ledger.service import site_registered
from ledger.store import LedgerReader
from ledger.verifier_state import STATE_FILE
from tests.domain.trial_helpers import START, TODAY
from tests.server.support import ENROLLED, Served, running_server
from tests.server.tampering_server import (
    HostileLog,
    append_unauthorised,
    edit_stored_state,
    fork_of,
    hostile_app,
    sign_checkpoint_over,
)
from tests.support import GENESIS_DATE

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def in_process(app: FastAPI, signer: Signer | None = None) -> Iterator[LogClient]:
    """A follower's client of ``app`` in this process (its requests signed by ``signer``)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Using `httpx` with")
        from fastapi.testclient import TestClient  # noqa: PLC0415

    with TestClient(app, raise_server_exceptions=True) as http:
        if signer is not None:
            http.auth = SignedRequests(signer)
        yield LogClient(http)


def sponsor_of(served: Served) -> bytes:
    return served.signer("sponsor").public_key


def rows(db: Path) -> tuple[list[Any], list[Any]]:
    """Every stored event and commit, as stored (bytes for BLOBs)."""
    conn = sqlite3.connect(db)
    try:
        events = conn.execute("SELECT * FROM stored_events ORDER BY position").fetchall()
        commits = conn.execute("SELECT * FROM ledger_commits ORDER BY seq").fetchall()
    finally:
        conn.close()
    return events, commits


def snapshot(folder: Path) -> tuple[Any, ...]:
    """What the mirror holds: its rows, kept checkpoints and verifier state."""
    db = folder / MIRROR_DB
    with LedgerReader(db) as reader:
        kept = reader.checkpoints()
    state = (folder / STATE_DIR / STATE_FILE).read_bytes()
    return rows(db), kept, state


def grow(served: Served, sites: tuple[str, ...], *, checkpoint: bool = True) -> None:
    """One sponsor-signed commit per new site, then a signed checkpoint."""
    ledger = served.open()
    try:
        for site in sites:
            ledger.register_site(
                served.signer("sponsor"), site, f"Site {site}", "site activated", GENESIS_DATE
            )
        if checkpoint:
            ledger.checkpoint(served.signer("ledger"))
    finally:
        ledger.close()


def doses(served: Served, count: int, *, checkpoint: bool = True) -> None:
    """``count`` daily doses of an enrolled subject, one commit each, then a checkpoint."""
    ledger = served.open()
    try:
        recorder = TrialRecorder(ledger, clock=lambda: TODAY)
        for day in range(1, count + 1):
            command = RecordDose(
                subject_id=ENROLLED[0],
                date=START + timedelta(days=day),
                drug="anakinra",
                dose=Decimal(100),
                route="SC",
            )
            recorder.record(served.signer("coordinator-001"), command)
        if checkpoint:
            ledger.checkpoint(served.signer("ledger"))
    finally:
        ledger.close()


def size_of(db: Path) -> int:
    with LedgerReader(db) as reader:
        return reader.size()


@pytest.fixture
def hostile(served: Served) -> HostileLog:
    return HostileLog(served.db)


@pytest.fixture
def synced(served: Served, hostile: HostileLog, tmp_path: Path) -> Mirror:
    """A mirror synced once from the hostile server while it was honest."""
    mirror = Mirror(tmp_path / "mirror")
    with in_process(hostile_app(hostile)) as client:
        sync(client, mirror, sponsor_of(served))
    return mirror


def alarm_on_next_sync(
    served: Served, hostile: HostileLog, mirror: Mirror, match: str
) -> FollowAlarm:
    """Sync again (the server tampering now): an alarm matching ``match``, nothing applied."""
    before = snapshot(mirror.folder)
    with in_process(hostile_app(hostile)) as client, pytest.raises(FollowAlarm, match=match) as e:
        sync(client, mirror, sponsor_of(served))
    assert snapshot(mirror.folder) == before
    return e.value


# --------------------------------------------------------------------------- honest servers


def test_first_sync_mirrors_the_served_rows_byte_for_byte_and_verify_accepts_it(
    served: Served, tmp_path: Path, live_server: Callable[[Any], str]
) -> None:
    url = live_server(served.config())
    pub = tmp_path / "sponsor.pub"
    write_public_key(pub, sponsor_of(served))
    folder = tmp_path / "mirror"
    code = cli.run(
        [
            "follow",
            url,
            "--mirror",
            str(folder),
            "--key",
            str(served.key_files["consumer"]),
            "--passphrase-file",
            str(served.passphrase_file),
            "--sponsor-key",
            str(pub),
            "--once",
        ]
    )
    assert code == 0
    assert rows(folder / MIRROR_DB) == rows(served.db)
    assert cli.run(["verify", "--db", str(folder / MIRROR_DB), "--sponsor-key", str(pub)]) == 0
    with LedgerReader(served.db) as mine, LedgerReader(folder / MIRROR_DB) as theirs:
        assert theirs.checkpoints()[-1][1] == mine.checkpoints()[-1][1]


def test_json_line_names_the_mirrors_size_and_root_as_the_servers_checkpoint(
    served: Served,
    tmp_path: Path,
    live_server: Callable[[Any], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = live_server(served.config())
    pub = tmp_path / "sponsor.pub"
    write_public_key(pub, sponsor_of(served))
    argv = [
        "follow",
        url,
        "--mirror",
        str(tmp_path / "m"),
        "--key",
        str(served.key_files["consumer"]),
        "--passphrase-file",
        str(served.passphrase_file),
        "--once",
        "--json",
    ]
    assert cli.run([*argv, "--sponsor-key", str(pub)]) == 0
    assert cli.run(argv) == 0  # the sponsor key is remembered
    first, second = (eval_json(line) for line in capsys.readouterr().out.splitlines())
    with LedgerReader(served.db) as reader:
        size, note, _ = reader.checkpoints()[-1]
    root = base64.b64encode(parse_checkpoint(note)[0].root).decode()
    assert (first["tree_size"], first["root"], first["checkpoint_size"]) == (size, root, size)
    assert first["events"] == size
    assert first["commits"] >= 1
    assert (second["tree_size"], second["root"], second["events"], second["commits"]) == (
        size,
        root,
        0,
        0,
    )


def eval_json(line: str) -> dict[str, Any]:
    import json  # noqa: PLC0415

    document = json.loads(line)
    assert isinstance(document, dict)
    return document


def test_resume_fetches_only_the_new_events_and_commits(
    served: Served, hostile: HostileLog, synced: Mirror
) -> None:
    held = size_of(synced.db)
    grow(served, ("101", "102", "103"))
    hostile.served_events = 0
    with in_process(hostile_app(hostile)) as client:
        result = sync(client, synced, None)
    assert (result.events, result.commits, result.tree_size) == (3, 3, held + 3)
    assert hostile.served_events == 3 + 1  # the new events, and the mirror's last again
    assert rows(synced.db) == rows(served.db)
    assert cli.run(["verify", "--db", str(synced.db)]) == 0


def test_verifier_state_behind_the_mirror_makes_the_next_sync_prove_those_rows_again(
    served: Served, hostile: HostileLog, synced: Mirror
) -> None:
    """A crash between the mirror's transaction and the state's replacement."""
    state = synced.folder / STATE_DIR / STATE_FILE
    old_state = state.read_bytes()
    grow(served, ("101",))
    with in_process(hostile_app(hostile)) as client:
        sync(client, synced, None)
        state.write_bytes(old_state)
        grow(served, ("102",))
        result = sync(client, synced, None)
    assert result.events == 1
    assert rows(synced.db) == rows(served.db)
    assert cli.run(["verify", "--db", str(synced.db)]) == 0


def _live_follower(served: Served, url: str, folder: Path, pub: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import cli; cli.main()",
            "follow",
            url,
            "--mirror",
            str(folder),
            "--key",
            str(served.key_files["consumer"]),
            "--passphrase-file",
            str(served.passphrase_file),
            "--sponsor-key",
            str(pub),
            "--json",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextmanager
def following(
    served: Served, url: str, folder: Path, *, exit_code: int = 0, stderr_has: str = ""
) -> Iterator[Callable[[], dict[str, Any]]]:
    """A live follower in its own process; yields a function reading its next --json line.
    SIGTERM stops it at the end (if it still runs): it must exit ``exit_code``, with
    ``stderr_has`` on stderr."""
    pub = folder.parent / "sponsor.pub"
    write_public_key(pub, sponsor_of(served))
    process = _live_follower(served, url, folder, pub)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in process.stdout or ():
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()

    def next_line() -> dict[str, Any]:
        try:
            return eval_json(lines.get(timeout=30))
        except queue.Empty:
            raise AssertionError("the live follower printed no line within 30 s") from None

    try:
        yield next_line
    finally:
        if exit_code == 0:
            process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == exit_code, stderr
    assert stderr_has in stderr


def test_a_live_follower_picks_up_each_new_checkpoint_and_stops_on_sigterm(
    served: Served, hostile: HostileLog, tmp_path: Path
) -> None:
    with (
        running_server(hostile_app(hostile)) as url,
        following(served, url, tmp_path / "m") as next_line,
    ):
        first = next_line()
        grow(served, ("101", "102"))
        second = next_line()
        grow(served, ("103",))
        third = next_line()
    assert (second["tree_size"], second["events"]) == (first["tree_size"] + 2, 2)
    assert (third["tree_size"], third["events"]) == (first["tree_size"] + 3, 1)
    assert rows(tmp_path / "m" / MIRROR_DB) == rows(served.db)


def test_a_live_follower_waits_out_a_server_that_is_down_and_then_syncs(
    served: Served, hostile: HostileLog, tmp_path: Path
) -> None:
    hostile.down = True
    with (
        running_server(hostile_app(hostile)) as url,
        following(
            served, url, tmp_path / "m", stderr_has="(503): down; trying again in 1 s"
        ) as next_line,
    ):
        deadline = time.monotonic() + 20
        while hostile.refused < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        hostile.down = False
        first = next_line()
    assert first["tree_size"] == size_of(served.db)
    assert rows(tmp_path / "m" / MIRROR_DB) == rows(served.db)


def test_a_live_follower_stops_with_exit_1_at_an_alarm(
    served: Served, hostile: HostileLog, tmp_path: Path
) -> None:
    with (
        running_server(hostile_app(hostile)) as url,
        following(
            served, url, tmp_path / "m", exit_code=1, stderr_has="is not signed by the ledger key"
        ) as next_line,
    ):
        first = next_line()
        other = Signer(generate_private_key())
        hostile.note = lambda note: sign_checkpoint(
            parse_checkpoint(note)[0], parse_checkpoint(note)[0].origin, other
        )
        grow(served, ("101",))
    assert size_of(tmp_path / "m" / MIRROR_DB) == first["tree_size"]


def test_a_live_follower_of_the_real_server_mirrors_what_its_checkpointer_signs(
    served: Served, tmp_path: Path, live_server: Callable[[Any], str]
) -> None:
    config = served.config(
        checkpoint_key=served.ledger_key_file,
        checkpoint_passphrase=served.passphrase,
        checkpoint_every=0.2,
        poll_interval=0.05,
    )
    url = live_server(config)
    with following(served, url, tmp_path / "m") as next_line:
        first = next_line()
        doses(served, 2, checkpoint=False)
        second = next_line()
    assert (second["events"], second["tree_size"]) == (2, first["tree_size"] + 2)
    assert rows(tmp_path / "m" / MIRROR_DB) == rows(served.db)


@pytest.mark.slow
def test_a_sync_killed_mid_fetch_leaves_the_mirror_as_verified_and_the_next_run_resumes(
    served: Served, hostile: HostileLog, synced: Mirror, tmp_path: Path
) -> None:
    before = snapshot(synced.folder)
    grow(served, tuple(f"{100 + i}" for i in range(30)))
    hostile.page_delay, hostile.page_size, hostile.served_events = 0.2, 3, 0
    command = [
        sys.executable,
        "-c",
        "import cli; cli.main()",
        "follow",
        "",
        "--mirror",
        str(synced.folder),
        "--key",
        str(served.key_files["consumer"]),
        "--passphrase-file",
        str(served.passphrase_file),
        "--once",
    ]
    with running_server(hostile_app(hostile)) as url:
        command[4] = url
        process = subprocess.Popen(command, cwd=REPO)
        deadline = time.monotonic() + 20
        while hostile.served_events < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        assert snapshot(synced.folder) == before
        hostile.page_delay = 0.0
        assert subprocess.run(command, cwd=REPO, check=False).returncode == 0
    assert rows(synced.db) == rows(served.db)


# --------------------------------------------------------------------------- alarms


def test_rewritten_event_at_the_mirrors_size_is_an_alarm_naming_it(
    served: Served, hostile: HostileLog, synced: Mirror
) -> None:
    held = size_of(synced.db)
    grow(served, ("101",))

    def rewrite(event: dict[str, Any]) -> dict[str, Any]:
        if event["position"] == held:
            event["state"] += " "
        return event

    hostile.event = rewrite
    alarm_on_next_sync(served, hostile, synced, f"different event at position {held}.*state")


def test_history_rewritten_before_the_mirrors_size_is_a_fork(
    served: Served, hostile: HostileLog, synced: Mirror
) -> None:
    held = size_of(synced.db)
    grow(served, ("101",), checkpoint=False)
    edit_stored_state(served.db, 3, b"Site", b"Sitf", rehash=True)
    sign_checkpoint_over(served.db, served.signer("ledger"))
    alarm_on_next_sync(served, hostile, synced, f"fork at tree size {held}")


@pytest.mark.parametrize("extra_sites", [("201",), ("201", "202", "203")])
def test_a_different_history_after_the_mirrors_size_is_a_fork(
    served: Served, hostile: HostileLog, tmp_path: Path, extra_sites: tuple[str, ...]
) -> None:
    fork = fork_of(served.db, tmp_path / "fork.db")
    grow(served, ("101",))
    mirror = Mirror(tmp_path / "mirror")
    with in_process(hostile_app(hostile)) as client:
        sync(client, mirror, sponsor_of(served))
    held = size_of(mirror.db)
    grow(Served(fork, served.signers, served.key_files, served.passphrase_file), extra_sites)
    hostile.db = fork
    alarm_on_next_sync(served, hostile, mirror, f"fork at tree size {held}")


def test_checkpoint_smaller_than_the_mirrors_is_an_alarm(
    served: Served, hostile: HostileLog, tmp_path: Path
) -> None:
    older = fork_of(served.db, tmp_path / "older.db")
    grow(served, ("101",))
    mirror = Mirror(tmp_path / "mirror")
    with in_process(hostile_app(hostile)) as client:
        sync(client, mirror, sponsor_of(served))
    hostile.db = older
    alarm_on_next_sync(served, hostile, mirror, f"fewer than the {size_of(mirror.db)}")


def test_checkpoint_signed_by_another_key_is_an_alarm(
    served: Served, hostile: HostileLog, synced: Mirror
) -> None:
    grow(served, ("101",))
    other = Signer(generate_private_key())

    def resign(note: str) -> str:
        cp = parse_checkpoint(note)[0]
        return sign_checkpoint(cp, cp.origin, other)

    hostile.note = resign
    size = size_of(served.db)
    alarm_on_next_sync(served, hostile, synced, f"checkpoint of tree size {size} is not signed")


def test_checkpoint_over_another_root_is_an_alarm_on_a_first_sync(
    served: Served, hostile: HostileLog, tmp_path: Path
) -> None:
    def other_root(note: str) -> str:
        cp = parse_checkpoint(note)[0]
        forged = Checkpoint(cp.origin, cp.tree_size, bytes(32), cp.time)
        return sign_checkpoint(forged, cp.origin, served.signer("ledger"))

    hostile.note = other_root
    mirror = Mirror(tmp_path / "mirror")
    with (
        in_process(hostile_app(hostile)) as client,
        pytest.raises(FollowAlarm, match=r"events hash to .*the mirror holds nothing yet"),
    ):
        sync(client, mirror, sponsor_of(served))
    assert not mirror.db.exists()


@pytest.mark.parametrize(
    ("tamper", "match"),
    [
        ("drop", "position {p} was due"),
        ("reorder", "position {p} was due"),
        ("truncate", "serves only {last}"),
    ],
)
def test_dropped_reordered_or_missing_events_are_an_alarm(
    served: Served, hostile: HostileLog, synced: Mirror, tamper: str, match: str
) -> None:
    held = size_of(synced.db)
    grow(served, ("101", "102", "103"))
    p, last = held + 2, held + 2
    if tamper == "drop":
        hostile.event = lambda e: None if e["position"] == p else e
    elif tamper == "reorder":
        swapped = {p: p + 1, p + 1: p}

        def order(event: dict[str, Any]) -> int:
            position = int(event["position"])
            return swapped.get(position, position)

        hostile.events_page = lambda page: sorted(page, key=order)
    else:
        hostile.event = lambda e: None if e["position"] > last else e
    alarm_on_next_sync(served, hostile, synced, match.format(p=p, last=last))


@pytest.mark.parametrize("who", ["unregistered", "revoked"])
def test_commit_signed_by_an_unregistered_or_revoked_key_is_an_alarm(
    served: Served, hostile: HostileLog, synced: Mirror, who: str
) -> None:
    ledger = served.open()
    try:
        if who == "revoked":
            signer = served.signer("data-manager")
            ledger.revoke_key(served.signer("sponsor"), signer.key_id, "left", date.today())
        else:
            signer = Signer(generate_private_key())
        version = ledger.registry().version + 1
    finally:
        ledger.close()
    at = size_of(served.db) + 1
    event = site_registered("150", "Site 150", "site activated", GENESIS_DATE, version)
    append_unauthorised(served.db, signer, [event])
    sign_checkpoint_over(served.db, served.signer("ledger"))
    word = "revoked" if who == "revoked" else "not registered|unknown|unregistered"
    alarm_on_next_sync(served, hostile, synced, f"at position {at}: .*({word})")


def test_a_row_edited_in_the_honest_servers_file_is_an_alarm_at_its_position(
    served: Served, synced: Mirror
) -> None:
    """An honest server, whose ledger file someone edited after it was checkpointed."""
    at = size_of(synced.db) + 2
    doses(served, 3)
    edit_stored_state(served.db, at, b'"dose":"100"', b'"dose":"200"')
    before = snapshot(synced.folder)
    with (
        in_process(create_app(served.config()), served.signer("consumer")) as client,
        pytest.raises(
            FollowAlarm, match=f"at position {at}: stored event does not match its leaf hash"
        ),
    ):
        sync(client, synced, None)
    assert snapshot(synced.folder) == before


# --------------------------------------------------------------------------- the command line


def _follow(served: Served, url: str, folder: Path, *extra: str) -> list[str]:
    return [
        "follow",
        url,
        "--mirror",
        str(folder),
        "--key",
        str(served.key_files["consumer"]),
        "--passphrase-file",
        str(served.passphrase_file),
        "--once",
        *extra,
    ]


def test_an_alarm_exits_1_with_one_line_on_stderr(
    served: Served, hostile: HostileLog, synced: Mirror, capsys: pytest.CaptureFixture[str]
) -> None:
    grow(served, ("101",))
    hostile.note = lambda note: note.replace("\n\n", "\n\nx", 1)
    with running_server(hostile_app(hostile)) as url:
        capsys.readouterr()
        assert cli.run(_follow(served, url, synced.folder)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: ALARM: ")
    assert "the mirror stays at tree size" in err[0]


def test_a_server_that_is_down_exits_2_with_one_line(
    served: Served, hostile: HostileLog, synced: Mirror, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile.down = True
    with running_server(hostile_app(hostile)) as url:
        capsys.readouterr()
        assert cli.run(_follow(served, url, synced.folder)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "failed GET /v1/ledger (503)" in err[0]
    assert cli.run(_follow(served, "http://127.0.0.1:9", synced.folder)) == 2
    assert "cannot reach http://127.0.0.1:9" in capsys.readouterr().err


def test_sponsor_key_is_required_first_and_another_one_refused_later(
    served: Served, synced: Mirror, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.pub"
    write_public_key(other, Signer(generate_private_key()).public_key)
    url = "http://127.0.0.1:9"
    assert cli.run(_follow(served, url, tmp_path / "new")) == 2
    assert "--sponsor-key is required on the first sync" in capsys.readouterr().err
    assert cli.run(_follow(served, url, synced.folder, "--sponsor-key", str(other))) == 2
    assert "is not the sponsor key" in capsys.readouterr().err
    assert cli.run(_follow(served, "ftp://x", synced.folder)) == 2
    assert "URL 'ftp://x' refused" in capsys.readouterr().err


def test_a_key_the_server_refuses_exits_2_naming_the_refusal(
    served: Served,
    tmp_path: Path,
    live_server: Callable[[Any], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = live_server(served.config())
    stranger = tmp_path / "stranger.key"
    write_private_key(stranger, generate_private_key(), served.passphrase)
    pub = tmp_path / "sponsor.pub"
    write_public_key(pub, sponsor_of(served))
    argv = _follow(served, url, tmp_path / "m", "--sponsor-key", str(pub))
    argv[argv.index("--key") + 1] = str(stranger)
    capsys.readouterr()
    assert cli.run(argv) == 2
    assert f"{url} refused GET /v1/ledger (401)" in capsys.readouterr().err
    assert not (tmp_path / "m" / MIRROR_DB).exists()


def test_a_url_that_serves_no_ledger_exits_2(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pub = tmp_path / "sponsor.pub"
    write_public_key(pub, sponsor_of(served))
    with running_server(FastAPI()) as url:
        capsys.readouterr()
        assert cli.run(_follow(served, url, tmp_path / "m", "--sponsor-key", str(pub))) == 2
    assert "this URL serves no trial ledger" in capsys.readouterr().err


def test_an_answer_larger_than_the_bound_is_an_alarm(
    served: Served, hostile: HostileLog, synced: Mirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    grow(served, ("101",))
    monkeypatch.setattr("ledger.remote.wire.MAX_ANSWER_BYTES", 2_000)
    hostile.event = lambda e: {**e, "state": e["state"] + " " * 3_000}
    alarm_on_next_sync(served, hostile, synced, "GET /v1/log/events exceeds 2,000 bytes")


def test_a_ledger_rooted_in_another_sponsor_key_is_an_alarm(
    served: Served, hostile: HostileLog, tmp_path: Path
) -> None:
    mirror = Mirror(tmp_path / "mirror")
    with (
        in_process(hostile_app(hostile)) as client,
        pytest.raises(FollowAlarm, match=r"rooted in sponsor key .*not in the pinned sponsor key"),
    ):
        sync(client, mirror, Signer(generate_private_key()).public_key)
    assert not mirror.db.exists()


# --------------------------------------------------------------------------- property


def _mutated(text: str, offset: int, replacement: str) -> str:
    at = offset % len(text)
    new = replacement if replacement != text[at] else chr((ord(replacement) + 1) % 127 or 33)
    return text[:at] + new + text[at + 1 :]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    kind=st.sampled_from(["event", "commit"]),
    index=st.integers(min_value=0, max_value=2),
    offset=st.integers(min_value=0, max_value=10_000),
    replacement=st.characters(min_codepoint=32, max_codepoint=126),
)
def test_any_changed_byte_of_a_served_event_or_commit_fails_the_sync_and_changes_nothing(
    served_template: Served,
    tmp_path_factory: pytest.TempPathFactory,
    kind: str,
    index: int,
    offset: int,
    replacement: str,
) -> None:
    base = _grown_mirror(served_template, tmp_path_factory)
    work = tmp_path_factory.mktemp("example")
    shutil.copytree(base.folder, work / "mirror")
    shutil.copyfile(base.folder.parent / "served.db", work / "served.db")
    mirror = Mirror(work / "mirror")
    held = size_of(mirror.db)
    with LedgerReader(mirror.db) as reader:
        held_seq = max(c.header.seq for c in reader.iter_commits())
    hostile = HostileLog(work / "served.db")
    if kind == "event":
        target = held + 1 + index
        hostile.event_text = lambda p, t: _mutated(t, offset, replacement) if p == target else t
    else:
        target = held_seq + 1 + index
        hostile.commit_text = lambda s, t: _mutated(t, offset, replacement) if s == target else t
    before = snapshot(mirror.folder)
    with in_process(hostile_app(hostile)) as client, pytest.raises(FollowAlarm, match="ALARM"):
        sync(client, mirror, None)
    assert snapshot(mirror.folder) == before


_GROWN: dict[str, Mirror] = {}


def _grown_mirror(template: Served, factory: pytest.TempPathFactory) -> Mirror:
    """A mirror synced at the template's checkpoint, beside a copy of the template grown by
    three commits and a checkpoint (built once per session)."""
    if "mirror" not in _GROWN:
        folder = factory.mktemp("grown")
        served = template.copy_to(folder)
        mirror = Mirror(folder / "mirror")
        with in_process(hostile_app(HostileLog(served.db))) as client:
            sync(client, mirror, sponsor_of(served))
        grow(served, ("101", "102", "103"))
        served.db.rename(folder / "served.db")
        _GROWN["mirror"] = mirror
    return _GROWN["mirror"]
