"""The server's own checkpoints (``serve --checkpoint-key``): signed after new commits, at most
every ``checkpoint_every`` seconds, of what the server verified (``trial-ledger verify``
accepts them, the note verifies with the ledger key); on a tampered ledger nothing is signed
and the feed raises an alarm. On both stores."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ledger.errors import KeyFileError, UsageError
from ledger.integrity.checkpoint import verify_checkpoint
from ledger.integrity.signing import Signer, generate_private_key, write_private_key
from ledger.server.api import feed as feed_api
from ledger.server.app import create_app
from ledger.server.checkpointer import unlock_checkpoint_key
from ledger.server.config import ServerConfig
from ledger.service import TrialLedger
from ledger.store.location import StoreTarget
from ledger.verify import checkpoint_origin
from tests.cli.test_clinical_paths import run
from tests.server.support import running_server
from tests.server.test_feed import MONITOR, SUBJECT, Doses, Event, Stream, poll
from tests.store_params import StoreTamper, store_arg
from tests.support import Cast, create_ledger, screening

PASSPHRASE = b"server checkpoints passphrase"
OTHER = "MC0282-001-018"


@dataclass(frozen=True)
class Keyed:
    """A ledger on either store whose ledger key is also a key file."""

    ledger: TrialLedger
    key_file: Path
    ledger_key: Signer
    other_at: int
    """The position of another subject's screening (never the subject written to)."""

    def config(self, **changes: float) -> ServerConfig:
        return ServerConfig(
            db=self.ledger.target,
            poll_interval=0.05,
            checkpoint_key=self.key_file,
            checkpoint_passphrase=PASSPHRASE,
            checkpoint_every=changes.get("checkpoint_every", 0.2),
        )


@pytest.fixture(autouse=True)
def quick_pings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed_api, "PING_SECONDS", 0.2)


@pytest.fixture
def keyed(store_target: StoreTarget, cast: Cast, tmp_path: Path) -> Iterator[Keyed]:
    private = generate_private_key()
    key_file = tmp_path / "ledger.key"
    write_private_key(key_file, private, PASSPHRASE)
    ledger_key = Signer(private)
    ledger = create_ledger(store_target, cast, ledger_key=ledger_key)
    other_at = ledger.append(cast.coordinator, [screening(OTHER)]).header.last_position
    ledger.append(cast.coordinator, [screening(SUBJECT)])
    yield Keyed(ledger, key_file, ledger_key, other_at)
    ledger.close()


def next_checkpoint(stream: Stream, size: int) -> Event:
    """The first checkpoint event of at least ``size`` (commits and others passed over)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        event = stream.take(1)[0]
        if event.event == "checkpoint" and event.data["tree_size"] >= size:
            return event
    raise AssertionError(f"no checkpoint of size {size} announced")


def next_alarm(stream: Stream) -> Event:
    while True:
        event = stream.take(1)[0]
        if event.event == "alarm":
            return event


def test_the_server_signs_a_checkpoint_after_commits_that_verify_and_verifies_with_the_key(
    keyed: Keyed, cast: Cast, tmp_path: Path
) -> None:
    app = create_app(keyed.config(), authenticate=lambda request: MONITOR)
    with running_server(app) as url:
        stream = Stream(url)
        try:
            Doses(keyed.ledger, cast).append(3)
            size = keyed.ledger.reader.size()
            event = next_checkpoint(stream, size)
        finally:
            stream.close()
    assert event.data["tree_size"] == size
    origin = checkpoint_origin(keyed.ledger.ledger_id)
    checkpoint = verify_checkpoint(event.data["note"], origin, keyed.ledger_key.public_key)
    assert checkpoint.tree_size == size
    verified = run("verify", "--db", store_arg(keyed.ledger.target), "--json")
    assert verified.code == 0, verified.err
    assert verified.json()["checkpoints_checked"] >= 1
    assert verified.json()["root"] == event.data["root"]
    note_file = tmp_path / "server.checkpoint"
    note_file.write_text(event.data["note"])
    against = run("verify", "--db", store_arg(keyed.ledger.target), "--against", note_file)
    assert against.code == 0, against.err


@pytest.mark.parametrize("store_kind", ["sqlite"], indirect=True)
def test_commits_unsigned_when_the_server_starts_are_checkpointed_at_once(keyed: Keyed) -> None:
    size = keyed.ledger.reader.size()
    assert [s for s, _, _ in keyed.ledger.reader.checkpoints()] == []
    app = create_app(keyed.config(), authenticate=lambda request: MONITOR)
    with running_server(app) as url:
        stream = Stream(url, params={"after_seq": 0})
        try:
            event = next_checkpoint(stream, size)
        finally:
            stream.close()
    assert event.data["tree_size"] == size
    assert [s for s, _, _ in keyed.ledger.reader.checkpoints()] == [size]


@pytest.mark.parametrize("store_kind", ["sqlite"], indirect=True)
def test_checkpoints_are_signed_at_most_every_checkpoint_every_seconds(
    keyed: Keyed, cast: Cast
) -> None:
    keyed.ledger.checkpoint(keyed.ledger_key)
    before = len(keyed.ledger.reader.checkpoints())
    app = create_app(keyed.config(checkpoint_every=1.0), authenticate=lambda request: MONITOR)
    writer = Doses(keyed.ledger, cast)
    with running_server(app) as url:
        began = time.monotonic()
        while time.monotonic() - began < 1.5:
            writer.append(1)
            time.sleep(0.02)
        stream = Stream(url, params={"after_seq": 0})
        try:
            next_checkpoint(stream, keyed.ledger.reader.size())
        finally:
            stream.close()
        took = time.monotonic() - began
    signed = len(keyed.ledger.reader.checkpoints()) - before
    assert 1 <= signed <= int(took / 1.0) + 1


def test_a_tampered_ledger_gets_no_checkpoint_and_the_feed_raises_an_alarm(
    keyed: Keyed, cast: Cast, store_tamper: StoreTamper
) -> None:
    keyed.ledger.checkpoint(keyed.ledger_key)
    kept = keyed.ledger.reader.checkpoints()
    other = keyed.other_at
    store_tamper.update_event(other, "state", b'{"tampered":true}')
    app = create_app(keyed.config(), authenticate=lambda request: MONITOR)
    writer = Doses(keyed.ledger, cast)
    with running_server(app) as url:
        stream = Stream(url)
        try:
            writer.append(2)
            alarm = next_alarm(stream)
            answer = poll(url, after_seq=1, timeout=0).json()
        finally:
            stream.close()
        writer.append(1)
        time.sleep(0.5)
        threads = [t.name for t in threading.enumerate()]
    assert f"position {other}" in alarm.data["reason"]
    assert "nothing signed" in alarm.data["reason"]
    assert answer["alarm"] == alarm.data
    assert keyed.ledger.reader.checkpoints() == kept
    assert "trial-ledger checkpointer" not in threads


@pytest.mark.parametrize("store_kind", ["sqlite"], indirect=True)
def test_an_event_altered_after_the_last_checkpoint_stops_the_incremental_checkpointer(
    keyed: Keyed, cast: Cast, store_tamper: StoreTamper
) -> None:
    app = create_app(keyed.config(checkpoint_every=1.0), authenticate=lambda request: MONITOR)
    writer = Doses(keyed.ledger, cast)
    with running_server(app) as url:
        stream = Stream(url, params={"after_seq": 0})
        try:
            next_checkpoint(stream, keyed.ledger.reader.size())
            kept = keyed.ledger.reader.checkpoints()
            writer.append(1)
            altered = keyed.ledger.reader.size()
            store_tamper.update_event(altered, "state", b'{"tampered":true}')
            alarm = next_alarm(stream)
        finally:
            stream.close()
    assert f"position {altered}" in alarm.data["reason"]
    assert keyed.ledger.reader.checkpoints() == kept


@pytest.mark.parametrize("store_kind", ["sqlite"], indirect=True)
def test_a_head_that_goes_back_raises_an_alarm(
    keyed: Keyed, cast: Cast, store_tamper: StoreTamper
) -> None:
    config = ServerConfig(db=keyed.ledger.target, poll_interval=0.05)
    app = create_app(config, authenticate=lambda request: MONITOR)
    with running_server(app) as url:
        stream = Stream(url)
        try:
            seq = Doses(keyed.ledger, cast).append(1)[0]
            stream.commits_until(seq)
            store_tamper.delete_last_commit()
            alarm = next_alarm(stream)
        finally:
            stream.close()
    assert f"went back from commit {seq} to commit {seq - 1}" in alarm.data["reason"]


@pytest.mark.parametrize("store_kind", ["sqlite"], indirect=True)
def test_a_checkpoint_key_that_is_not_the_ledger_key_is_refused_naming_the_file(
    keyed: Keyed, tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger.key"
    write_private_key(stranger, generate_private_key(), PASSPHRASE)
    config = ServerConfig(
        db=keyed.ledger.target, checkpoint_key=stranger, checkpoint_passphrase=PASSPHRASE
    )
    with pytest.raises(UsageError, match=r"--checkpoint-key .*stranger\.key: key .* is not the"):
        unlock_checkpoint_key(config)


@pytest.mark.parametrize("store_kind", ["sqlite"], indirect=True)
def test_a_wrong_passphrase_for_the_checkpoint_key_is_refused(keyed: Keyed) -> None:
    config = ServerConfig(
        db=keyed.ledger.target, checkpoint_key=keyed.key_file, checkpoint_passphrase=b"wrong"
    )
    with pytest.raises(KeyFileError, match=r"ledger\.key: wrong passphrase"):
        unlock_checkpoint_key(config)
