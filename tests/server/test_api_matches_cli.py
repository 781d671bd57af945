"""What the API serves equals what the CLI prints with ``--json`` for the same ledger and the
same arguments: the projections (patient, responses, audit trail as JSON and CSV, summary),
the signed log (pages reassembled equal an export bundle's lines) and the proofs."""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from cli import run
from ledger.bundle.export import export_bundle
from ledger.domain.commands import Correct
from ledger.integrity import merkle
from ledger.recording import TrialRecorder
from ledger.server.access.caller import Caller
from ledger.server.app import create_app
from ledger.store import LedgerReader
from tests.domain.trial_helpers import TODAY
from tests.server.support import PEOPLE, Served

ClientAs = Callable[[str], httpx.Client]


def caller_of(served: Served, label: str) -> Caller:
    """The caller a request signed with ``label``'s registered key authenticates as."""
    name, role, site = PEOPLE[label]
    return Caller(served.key_id(label), name, role, site, "signature", f"test {label}")


def client_on(app: FastAPI) -> httpx.Client:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Using `httpx` with", DeprecationWarning)
        from fastapi.testclient import TestClient  # noqa: PLC0415

    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def client_as(served: Served) -> Iterator[ClientAs]:
    yield from clients_as(served)


def clients_as(served: Served) -> Iterator[ClientAs]:
    """``client_as(label)``: an in-process client whose requests come from ``label`` (the
    caller that label's signed requests authenticate as), all closed at the end."""
    clients: list[httpx.Client] = []

    def make(label: str) -> httpx.Client:
        who = caller_of(served, label)
        app = create_app(served.config(), authenticate=lambda _request: who)
        client = client_on(app)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    capsys.readouterr()
    code = run(list(argv))
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def cli_text(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    code = run(list(argv))
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def served_json(client: httpx.Client, url: str, **params: Any) -> Any:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _recorded_time(served: Served, position: int) -> str:
    with LedgerReader(served.db) as reader:
        commit = reader.commit_at(position)
        assert commit is not None
        return commit.header.recorded_at


ASKED: list[tuple[str, ...]] = [(), ("--position", "28"), ("--on", "2003-01-12")]


@pytest.mark.parametrize("subject", ["MC0282-001-017", "MC0282-002-001", "MC0282-001-018"])
@pytest.mark.parametrize("asked", ASKED, ids=["now", "position", "on"])
def test_subject_report_equals_patient_json(
    served: Served,
    client_as: ClientAs,
    capsys: pytest.CaptureFixture[str],
    subject: str,
    asked: tuple[str, ...],
) -> None:
    params = {asked[0].lstrip("-"): asked[1]} if asked else {}
    api = served_json(client_as("monitor"), f"/v1/subjects/{subject}", **params)
    cli = cli_json(capsys, "patient", subject, "--db", str(served.db), *asked, "--json")
    assert api == cli
    history = served_json(client_as("monitor"), f"/v1/subjects/{subject}/responses", **params)
    assert history == {"subject_id": subject, "as_of": cli["as_of"], **cli["response"]}


def test_subject_report_as_of_a_time_equals_patient_json(
    served: Served, client_as: ClientAs, capsys: pytest.CaptureFixture[str]
) -> None:
    when = _recorded_time(served, 18)
    api = served_json(client_as("monitor"), "/v1/subjects/MC0282-001-017", as_of=when)
    cli = cli_json(
        capsys, "patient", "MC0282-001-017", "--db", str(served.db), "--as-of", when, "--json"
    )
    assert api == cli
    assert api["as_of"]["position"] < served_json(client_as("monitor"), "/v1/ledger")["tree_size"]


def _lab_position(client: httpx.Client) -> int:
    trail = served_json(client, "/v1/audit-trail", type="LabResulted")
    return int(trail["events"][0]["position"])


def test_after_a_new_correction_the_api_and_the_cli_agree_again(
    served: Served, client_as: ClientAs, capsys: pytest.CaptureFixture[str]
) -> None:
    client = client_as("monitor")
    before = served_json(client, "/v1/subjects/MC0282-001-017")
    lab = _lab_position(client)
    ledger = served.open()
    try:
        TrialRecorder(ledger, clock=lambda: TODAY).record(
            served.signer("coordinator-001"),
            Correct(
                subject_id="MC0282-001-017",
                date=date(2003, 1, 15),
                position=lab,
                field="value",
                old_value="3.0",
                new_value="2.9",
                reason="re-read from the source document",
            ),
        )
    finally:
        ledger.close()
    after = served_json(client, "/v1/subjects/MC0282-001-017")
    assert after["as_of"]["position"] > before["as_of"]["position"]
    assert len(after["corrections"]) == len(before["corrections"]) + 1
    cli = cli_json(capsys, "patient", "MC0282-001-017", "--db", str(served.db), "--json")
    assert after == cli
    trail = served_json(client, "/v1/audit-trail", type="CorrectionRecorded")
    cli_trail = cli_json(
        capsys, "audit-trail", "--db", str(served.db), "--type", "CorrectionRecorded", "--json"
    )
    assert {k: v for k, v in trail.items() if k != "next_after"} == cli_trail


AUDIT_FILTERS: list[dict[str, str]] = [
    {},
    {"subject": "MC0282-001-017"},
    {"type": "CorrectionRecorded"},
    {"person": "Cole"},
    {"from": "2000-01-01", "to": "2199-12-31"},
]


@pytest.mark.parametrize("filters", AUDIT_FILTERS, ids=lambda f: ",".join(f) or "all")
def test_audit_trail_equals_the_cli_json_and_csv(
    served: Served,
    client_as: ClientAs,
    capsys: pytest.CaptureFixture[str],
    filters: dict[str, str],
) -> None:
    options = [part for name, value in filters.items() for part in (f"--{name}", value)]
    client = client_as("auditor")
    api = served_json(client, "/v1/audit-trail", **filters)
    cli = cli_json(capsys, "audit-trail", "--db", str(served.db), *options, "--json")
    assert api.pop("next_after") is None
    assert api == cli
    assert cli["count"] > 0
    csv = client.get("/v1/audit-trail", params=filters, headers={"Accept": "text/csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text == cli_text(capsys, "audit-trail", "--db", str(served.db), *options, "--csv")


def test_summary_equals_the_cli_json(
    served: Served, client_as: ClientAs, capsys: pytest.CaptureFixture[str]
) -> None:
    api = served_json(client_as("sponsor"), "/v1/summary")
    cli = cli_json(capsys, "summary", "--db", str(served.db), "--trust-views", "--json")
    assert api == cli
    assert api["populations"]["enrolled"] == 2


def test_registry_equals_keys_list_and_sites_list(
    served: Served, client_as: ClientAs, capsys: pytest.CaptureFixture[str]
) -> None:
    api = served_json(client_as("data-manager"), "/v1/registry")
    assert api["keys"] == cli_json(capsys, "keys", "list", "--db", str(served.db), "--json")["keys"]
    sites = cli_json(capsys, "sites", "list", "--db", str(served.db), "--json")["sites"]
    assert api["sites"] == sites


def _jsonl(path: Path) -> list[Any]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("limit", [1, 7, 1000])
def test_log_pages_reassemble_the_export_bundle_lines(
    served: Served, client_as: ClientAs, tmp_path: Path, limit: int
) -> None:
    with LedgerReader(served.db) as reader:
        export_bundle(reader, tmp_path / "bundle")
    client = client_as("consumer")
    events: list[Any] = []
    after: int | None = 0
    while after is not None:
        page = served_json(client, "/v1/log/events", after=after, limit=limit)
        events += page["events"]
        after = page["next_after"]
    assert events == _jsonl(tmp_path / "bundle" / "events.jsonl")
    commits: list[Any] = []
    after_seq: int | None = 0
    while after_seq is not None:
        page = served_json(client, "/v1/log/commits", after_seq=after_seq, limit=limit)
        commits += page["commits"]
        after_seq = page["next_after_seq"]
    assert commits == _jsonl(tmp_path / "bundle" / "commits.jsonl")
    checkpoints = json.loads((tmp_path / "bundle" / "checkpoints.json").read_text())
    assert served_json(client, "/v1/checkpoints")["checkpoints"] == checkpoints


@pytest.mark.parametrize(("position", "tree_size"), [(1, None), (5, 9), (31, 31), (12, 20)])
def test_inclusion_proofs_verify_and_equal_the_cli(
    served: Served,
    client_as: ClientAs,
    capsys: pytest.CaptureFixture[str],
    position: int,
    tree_size: int | None,
) -> None:
    params = {"position": position} | ({"tree_size": tree_size} if tree_size else {})
    api = served_json(client_as("auditor"), "/v1/proof/inclusion", **params)
    size = ["--tree-size", str(tree_size)] if tree_size else []
    argv = ["proof", "inclusion", "--db", str(served.db), "--position", str(position), *size]
    assert api == cli_json(capsys, *argv, "--json")
    b = base64.b64decode
    merkle.verify_inclusion(
        b(api["leafHash"]), api["leafIdx"], api["treeSize"], [b(p) for p in api["proof"]],
        b(api["root"]),
    )  # fmt: skip


@pytest.mark.parametrize(("size1", "size2"), [(1, None), (4, 9), (31, 31), (17, 30)])
def test_consistency_proofs_verify_and_equal_the_cli(
    served: Served,
    client_as: ClientAs,
    capsys: pytest.CaptureFixture[str],
    size1: int,
    size2: int | None,
) -> None:
    params = {"from": size1} | ({"to": size2} if size2 else {})
    api = served_json(client_as("auditor"), "/v1/proof/consistency", **params)
    to = ["--to", str(size2)] if size2 else []
    argv = ["proof", "consistency", "--db", str(served.db), "--from", str(size1), *to]
    assert api == cli_json(capsys, *argv, "--json")
    b = base64.b64decode
    merkle.verify_consistency(
        api["size1"], api["size2"], [b(p) for p in api["proof"]], b(api["root1"]),
        b(api["root2"]),
    )  # fmt: skip
