"""The live feed against a running server: what it announces is what another writer committed,
in order, none skipped; a reconnecting client resumes without loss; long polling answers on a
commit or at its timeout; a slow subscriber is dropped without holding up the others; the
watcher's threads end with the server. On both stores (PostgreSQL: LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.remote.auth import SignedRequests
from ledger.server.access.caller import Caller
from ledger.server.api import feed as feed_api
from ledger.server.app import create_app
from ledger.server.config import ServerConfig
from ledger.server.hub import End, Hub
from ledger.server.watcher import CommitNotice
from ledger.service import TrialLedger
from ledger.store import LedgerReader
from ledger.store.location import StoreTarget
from tests.server.support import Served, free_socket, running_server
from tests.support import Cast, create_ledger, dose, screening

MONITOR = Caller(
    key_id="ed25519:feed-test",
    printed_name="Mona Monitor",
    role="monitor",
    site="*",
    via="token",
    evidence="test caller",
)
SUBJECT = "MC0282-001-017"
WAIT = 10.0


@dataclass(frozen=True)
class Event:
    """One server-sent event as a client parses it."""

    id: str | None
    event: str
    data: dict[str, Any]


class Stream:
    """A ``/v1/feed`` client reading in a thread of its own (its events in a queue)."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        auth: httpx.Auth | None = None,
    ) -> None:
        self.events: queue.Queue[Event] = queue.Queue()
        self.pings = 0
        self.status: int | None = None
        self.body = b""
        self.ended = threading.Event()
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(base_url, headers or {}, params or {}, auth), daemon=True
        )
        self._thread.start()
        assert self._ready.wait(WAIT), "the feed did not answer"

    def _run(
        self,
        base_url: str,
        headers: dict[str, str],
        params: dict[str, Any],
        auth: httpx.Auth | None,
    ) -> None:
        try:
            with (
                httpx.Client(base_url=base_url, timeout=WAIT, auth=auth) as client,
                client.stream("GET", "/v1/feed", headers=headers, params=params) as response,
            ):
                self.status = response.status_code
                self._ready.set()
                if response.status_code != 200:
                    self.body = response.read()
                    return
                self._read(response)
        finally:
            self._ready.set()
            self.ended.set()

    def _read(self, response: httpx.Response) -> None:
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            if self._stop.is_set():
                return
            if line.startswith(":"):
                self.pings += 1
            elif line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
            elif "data" in fields:
                self.events.put(
                    Event(fields.get("id"), fields["event"], json.loads(fields["data"]))
                )
                fields = {}
            else:
                fields = {}

    def take(self, count: int) -> list[Event]:
        """The next ``count`` events (fails after a few seconds without one)."""
        return [self.events.get(timeout=WAIT) for _ in range(count)]

    def commits_until(self, seq: int) -> list[Event]:
        """Events up to and including the commit ``seq``."""
        taken: list[Event] = []
        while not taken or not (taken[-1].event == "commit" and taken[-1].data["seq"] == seq):
            taken.append(self.events.get(timeout=WAIT))
        return taken

    def close(self) -> None:
        self._stop.set()
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), "the feed client did not stop"


@pytest.fixture(autouse=True)
def quick_pings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pings every 0.2 s: an idle client thread notices it was closed in time."""
    monkeypatch.setattr(feed_api, "PING_SECONDS", 0.2)


@pytest.fixture
def ledger(store_target: StoreTarget, cast: Cast) -> Iterator[TrialLedger]:
    """A ledger on either store with the cast registered and one subject screened."""
    created = create_ledger(store_target, cast)
    created.append(cast.coordinator, [screening(SUBJECT)])
    yield created
    created.close()


@pytest.fixture
def feed_server(ledger: TrialLedger) -> Iterator[str]:
    """The ledger served (authentication replaced by a monitor caller), looked at every 0.05 s."""
    config = ServerConfig(db=ledger.target, poll_interval=0.05)
    app = create_app(config, authenticate=lambda request: MONITOR)
    with running_server(app) as url:
        yield url


class Doses:
    """Another writer: single-dose commits of the one subject, by the coordinator."""

    def __init__(self, ledger: TrialLedger, cast: Cast) -> None:
        self.ledger, self.signer, self.version = ledger, cast.coordinator, 2

    def append(self, count: int = 1, per_commit: int = 1) -> list[int]:
        """``count`` commits; their seqs."""
        seqs = []
        for _ in range(count):
            batch = [dose(SUBJECT, self.version + i, self.version + i) for i in range(per_commit)]
            seqs.append(self.ledger.append(self.signer, batch).header.seq)
            self.version += per_commit
        return seqs


def ledger_commits(target: StoreTarget, after: int) -> list[dict[str, Any]]:
    """The commits after seq ``after`` as the ledger holds them, in the feed's shape."""
    with LedgerReader(target) as reader:
        return [
            {
                "seq": c.header.seq,
                "first_position": c.header.first_position,
                "last_position": c.header.last_position,
                "signer": c.header.signer,
                "meaning": c.header.meaning,
                "recorded_at": c.header.recorded_at,
                "tree_size": c.header.last_position,
            }
            for c in reader.iter_commits(after + 1)
        ]


def head_seq(target: StoreTarget) -> int:
    with LedgerReader(target) as reader:
        return max((c.header.seq for c in reader.iter_commits()), default=0)


def commit_data(events: list[Event]) -> list[dict[str, Any]]:
    return [e.data for e in events if e.event == "commit"]


def test_commits_of_another_writer_arrive_in_order_with_their_seq_and_positions(
    ledger: TrialLedger, cast: Cast, feed_server: str
) -> None:
    start = head_seq(ledger.target)
    stream = Stream(feed_server)
    try:
        writer = Doses(ledger, cast)
        seqs = writer.append(3) + writer.append(2, per_commit=3)
        seqs += writer.append(5)  # back to back: several between two looks
        events = stream.commits_until(seqs[-1])
    finally:
        stream.close()
    assert commit_data(events) == ledger_commits(ledger.target, start)
    assert [e.id for e in events if e.event == "commit"] == [str(s) for s in seqs]
    assert [d["seq"] for d in commit_data(events)] == list(range(start + 1, start + 11))


def test_a_reconnecting_client_gets_exactly_the_commits_it_missed_then_live_ones(
    ledger: TrialLedger, cast: Cast, feed_server: str
) -> None:
    writer = Doses(ledger, cast)
    first = Stream(feed_server)
    try:
        seen = first.commits_until(writer.append(2)[-1])
    finally:
        first.close()
    last_id = seen[-1].id
    assert last_id is not None
    missed = writer.append(4)
    again = Stream(feed_server, headers={"Last-Event-ID": last_id})
    try:
        resumed = again.commits_until(missed[-1])
        live = writer.append(1)
        resumed += again.commits_until(live[0])
    finally:
        again.close()
    assert [d["seq"] for d in commit_data(resumed)] == [*missed, *live]
    assert commit_data(resumed) == ledger_commits(ledger.target, int(last_id))


@pytest.mark.parametrize("store_kind", ["sqlite"], indirect=True)
@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_stream_opened_after_any_seq_replays_the_ledgers_commits_after_it(
    ledger: TrialLedger, cast: Cast, feed_server: str, data: st.DataObject
) -> None:
    if head_seq(ledger.target) < 12:
        Doses(ledger, cast).append(6)
    head = head_seq(ledger.target)
    after = data.draw(st.integers(min_value=0, max_value=head), label="after_seq")
    stream = Stream(feed_server, params={"after_seq": after})
    try:
        events = stream.commits_until(head) if after < head else []
    finally:
        stream.close()
    assert commit_data(events) == ledger_commits(ledger.target, after)


def test_resuming_after_a_checkpoint_id_sends_the_commits_after_its_size(
    ledger: TrialLedger, cast: Cast, feed_server: str
) -> None:
    writer = Doses(ledger, cast)
    writer.append(2)
    ledger.checkpoint(cast.ledger_key)
    size = ledger.reader.size()
    after = writer.append(3)
    stream = Stream(feed_server, headers={"Last-Event-ID": f"cp-{size}"})
    try:
        events = stream.commits_until(after[-1])
    finally:
        stream.close()
    assert [d["seq"] for d in commit_data(events)] == after
    assert [e.event for e in events] == ["commit"] * 3


def test_a_checkpoint_kept_while_streaming_is_announced_after_its_commit(
    ledger: TrialLedger, cast: Cast, feed_server: str
) -> None:
    stream = Stream(feed_server)
    try:
        seq = Doses(ledger, cast).append(1)[0]
        note = ledger.checkpoint(cast.ledger_key)
        events = stream.take(2)
    finally:
        stream.close()
    assert [e.event for e in events] == ["commit", "checkpoint"]
    assert events[0].data["seq"] == seq
    size = ledger.reader.size()
    assert events[1].id == f"cp-{size}"
    assert events[1].data["tree_size"] == size
    assert events[1].data["note"] == note
    assert events[1].data["root"] == note.splitlines()[2]


def poll(base_url: str, **params: Any) -> httpx.Response:
    with httpx.Client(base_url=base_url, timeout=40.0) as client:
        return client.get("/v1/feed/poll", params=params)


def test_long_polling_answers_as_soon_as_a_commit_lands(
    ledger: TrialLedger, cast: Cast, feed_server: str
) -> None:
    head = head_seq(ledger.target)
    answers: list[tuple[httpx.Response, float]] = []

    def wait() -> None:
        began = time.monotonic()
        answers.append((poll(feed_server, after_seq=head, timeout=20), time.monotonic() - began))

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.5)
    assert answers == [], "the poll answered before anything landed"
    seq = Doses(ledger, cast).append(1)[0]
    waiter.join(WAIT)
    response, took = answers[0]
    assert response.status_code == 200
    assert response.json()["commits"] == ledger_commits(ledger.target, head)
    assert [c["seq"] for c in response.json()["commits"]] == [seq]
    assert took < 5.0


def test_long_polling_times_out_with_nothing_new(ledger: TrialLedger, feed_server: str) -> None:
    began = time.monotonic()
    response = poll(feed_server, after_seq=head_seq(ledger.target), timeout=0.6)
    took = time.monotonic() - began
    assert response.status_code == 200
    assert response.json() == {"commits": [], "checkpoints": [], "alarm": None}
    assert 0.6 <= took < 5.0


@pytest.mark.parametrize("store_kind", ["sqlite"], indirect=True)
def test_long_polling_for_what_is_already_there_answers_from_the_ledger(
    ledger: TrialLedger, cast: Cast, feed_server: str
) -> None:
    Doses(ledger, cast).append(3)
    ledger.checkpoint(cast.ledger_key)
    response = poll(feed_server, after_seq=2, timeout=20)
    assert response.json()["commits"] == ledger_commits(ledger.target, 2)
    kept = [size for size, _, _ in ledger.reader.checkpoints()]
    assert [c["tree_size"] for c in response.json()["checkpoints"]] == [
        s for s in kept if s > ledger_commits(ledger.target, 1)[0]["tree_size"]
    ]


@pytest.mark.parametrize("store_kind", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("params", "headers", "field"),
    [
        ({"after_seq": 10_000}, {}, "after_seq"),
        ({}, {"Last-Event-ID": "seven"}, "Last-Event-ID"),
        ({}, {"Last-Event-ID": "cp-99999"}, "Last-Event-ID"),
        ({"after_seq": -1}, {}, "after_seq"),
    ],
)
def test_a_stream_with_a_resume_point_the_ledger_does_not_have_is_refused_naming_it(
    feed_server: str, params: dict[str, Any], headers: dict[str, str], field: str
) -> None:
    stream = Stream(feed_server, params=params, headers=headers)
    stream.close()
    assert stream.status == 400
    problem = json.loads(stream.body)
    assert problem["type"].endswith("/bad-request")
    assert field in problem["detail"]
    assert problem["field"].endswith(field)


@pytest.mark.parametrize("store_kind", ["sqlite"], indirect=True)
def test_a_poll_timeout_over_30_seconds_is_refused(feed_server: str) -> None:
    response = poll(feed_server, after_seq=1, timeout=31)
    assert response.status_code == 400
    assert response.json()["field"] == "query.timeout"


def test_a_slow_subscriber_is_dropped_with_an_end_event_and_the_others_get_everything() -> None:
    def commit(seq: int) -> CommitNotice:
        return CommitNotice(seq, seq, seq, "ed25519:k", "authorship", "2026-01-01T00:00:00Z")

    async def scenario() -> tuple[list[Any], list[Any], int]:
        hub = Hub(seq=0, checkpoint_size=0, limit=5)
        fast, slow = hub.subscribe(), hub.subscribe()
        received = []
        for seq in range(1, 21):
            hub.publish([commit(seq)])
            while not fast.queue.empty():
                received.append(fast.queue.get_nowait())
        left = [slow.queue.get_nowait() for _ in range(slow.queue.qsize())]
        return received, left, len(hub)

    received, left, subscribers = asyncio.run(scenario())
    assert [c.seq for c in received] == list(range(1, 21))
    assert [c.seq for c in left[:-1]] == [1, 2, 3, 4, 5]
    assert isinstance(left[-1], End)
    assert left[-1].reason == "slow-subscriber"
    assert subscribers == 1


def feed_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("trial-ledger ")]


@pytest.mark.parametrize("store_kind", ["sqlite"], indirect=True)
def test_the_watcher_thread_ends_with_the_server(ledger: TrialLedger, cast: Cast) -> None:
    assert feed_threads() == []
    config = ServerConfig(db=ledger.target, poll_interval=0.05)
    with running_server(create_app(config, authenticate=lambda request: MONITOR)) as url:
        stream = Stream(url)
        stream.commits_until(Doses(ledger, cast).append(1)[0])
        stream.close()
        assert feed_threads() == ["trial-ledger head watcher"]
    assert feed_threads() == []


@pytest.mark.parametrize("store_kind", ["sqlite"], indirect=True)
def test_the_feed_is_declared_as_an_event_stream_in_the_openapi_document(
    feed_server: str,
) -> None:
    with httpx.Client(base_url=feed_server) as client:
        document = client.get("/v1/openapi.json").json()
    stream = document["paths"]["/v1/feed"]["get"]["responses"]["200"]["content"]
    assert list(stream) == ["text/event-stream"]
    polled = document["paths"]["/v1/feed/poll"]["get"]["responses"]["200"]["content"]
    assert polled["application/json"]["schema"]["$ref"].endswith("/FeedPoll")


ClientFor = Callable[..., httpx.Client]


@pytest.mark.parametrize("label", ["coordinator-001", "investigator-002", "consumer"])
def test_site_staff_and_consumers_may_use_the_feed(client_for: ClientFor, label: str) -> None:
    client = client_for(label)
    head = client.get("/v1/feed/poll", params={"after_seq": 0, "timeout": 0}).json()
    assert head["commits"][0]["seq"] == 1
    assert head["alarm"] is None


def test_an_unsigned_request_gets_no_feed(client_for: ClientFor) -> None:
    response = client_for(None).get("/v1/feed/poll", params={"after_seq": 0, "timeout": 0})
    assert response.status_code == 401


def test_stopping_the_served_process_ends_open_streams_with_an_end_event(served: Served) -> None:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    trial_ledger = Path(sys.executable).parent / "trial-ledger"
    process = subprocess.Popen(
        [str(trial_ledger), "serve", "--db", str(served.db), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(url, process)
        stream = Stream(url, auth=SignedRequests(served.signer("monitor")))
        process.send_signal(signal.SIGTERM)
        end = stream.take(1)[0]
        process.wait(WAIT)
        stream.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert end.event == "end"
    assert end.data["reason"] == "shutdown"
    assert end.data["last_seq"] == head_seq(served.db)
    assert b"Traceback" not in (process.stderr.read() if process.stderr else b"")


def wait_until_answering(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        assert process.poll() is None, "trial-ledger serve exited"
        try:
            if httpx.get(url + "/v1/openapi.json", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("trial-ledger serve did not answer")


@pytest.mark.parametrize("store_kind", ["sqlite"], indirect=True)
def test_the_feed_routes_declare_their_problems_as_problem_json(feed_server: str) -> None:
    with httpx.Client(base_url=feed_server) as client:
        document = client.get("/v1/openapi.json").json()
    for path in ("/v1/feed", "/v1/feed/poll"):
        answers = document["paths"][path]["get"]["responses"]
        for status in ("400", "401", "403", "503"):
            assert "application/problem+json" in answers[status]["content"], (path, status)
