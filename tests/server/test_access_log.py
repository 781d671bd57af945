"""The log of reads: a person's read of a subject is recorded with evidence their own key
proves, consumers' reads and whole-log reads are not, an unrecordable read is refused, the
chain verifies and ``trial-ledger access-log --verify`` finds a row altered or removed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import APIRouter, FastAPI, Request
from http_message_signatures import HTTPMessageVerifier, MappingKeyResolver
from http_message_signatures.algorithms import ED25519

import cli
from ledger.server.access import CallerDep, require_subject
from ledger.server.access.access_log import record_read
from ledger.server.access.access_store import AccessStore, Read, chain_problems
from ledger.server.app import create_app
from tests.server.conftest import ClientFor
from tests.server.support import Served

probe = APIRouter()


@probe.get("/v1/probe/subjects/{subject_id}")
def one_subject(subject_id: str, request: Request, caller: CallerDep) -> dict[str, str]:
    require_subject(caller, subject_id)
    record_read(request, caller, [subject_id], "probe subject")
    return {"subject_id": subject_id}


@probe.get("/v1/probe/log")
def whole_log(caller: CallerDep) -> dict[str, str]:
    return {"role": caller.role}


@pytest.fixture
def probed(served: Served) -> FastAPI:
    app = create_app(served.config())
    app.include_router(probe)
    return app


def log_path(served: Served) -> Path:
    return Path(f"{served.db}.access.sqlite")


def stored_rows(served: Served) -> list[dict[str, Any]]:
    store = AccessStore(log_path(served), create=False)
    try:
        return [row.to_json() for row in store.rows()]
    finally:
        store.close()


def access_log_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.run(["access-log", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_records_a_persons_read_of_a_subject_with_who_what_and_when(
    probed: FastAPI, client_for: ClientFor, served: Served
) -> None:
    response = client_for("coordinator-002", on=probed).get(
        "/v1/probe/subjects/MC0282-002-001?as_of=2003-02-01"
    )
    assert response.status_code == 200
    (row,) = stored_rows(served)
    assert {k: row[k] for k in ("key_id", "printed_name", "role", "site", "via")} == {
        "key_id": served.key_id("coordinator-002"),
        "printed_name": "Sita Coordinator",
        "role": "coordinator",
        "site": "002",
        "via": "signature",
    }
    assert (row["route"], row["query"], row["subjects"], row["what"]) == (
        "GET /v1/probe/subjects/MC0282-002-001",
        "as_of=2003-02-01",
        ["MC0282-002-001"],
        "probe subject",
    )
    assert row["at"].endswith("Z")


def _evidence_lines(evidence: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in evidence.splitlines())


def test_a_recorded_reads_evidence_verifies_with_the_readers_own_key(
    probed: FastAPI, client_for: ClientFor, served: Served
) -> None:
    client_for("monitor", on=probed).get("/v1/probe/subjects/MC0282-001-017")
    (row,) = stored_rows(served)
    lines = _evidence_lines(row["evidence"])

    message = SimpleNamespace(
        method=lines["@method"],
        url=lines["@target-uri"],
        headers={"Signature-Input": lines["Signature-Input"], "Signature": lines["Signature"]},
    )
    public = Ed25519PublicKey.from_public_bytes(served.signer("monitor").public_key)
    verifier = HTTPMessageVerifier(
        signature_algorithm=ED25519,
        key_resolver=MappingKeyResolver(public_keys={row["key_id"]: public}, private_keys={}),
    )
    (result,) = verifier.verify(message, max_age=None, expect_tag="trial-ledger")
    assert result.parameters["keyid"] == served.key_id("monitor")
    assert lines["@target-uri"].endswith(row["route"].split(" ", 1)[1])


def test_a_token_read_names_the_token_and_the_signed_request_that_obtained_it(
    probed: FastAPI, client_for: ClientFor, served: Served
) -> None:
    token = client_for("auditor", on=probed).post("/v1/auth/token").json()["token"]
    client_for(None, on=probed).get(
        "/v1/probe/subjects/MC0282-001-018", headers={"Authorization": f"Bearer {token}"}
    )
    (row,) = stored_rows(served)
    assert row["via"] == "token"
    assert row["evidence"].startswith("token ")
    assert "Signature-Input: trial-ledger=" in row["evidence"]


def test_does_not_record_consumers_or_reads_naming_no_subject(
    probed: FastAPI, client_for: ClientFor, served: Served
) -> None:
    assert client_for("consumer", on=probed).get("/v1/probe/subjects/MC0282-001-017").is_success
    assert client_for("monitor", on=probed).get("/v1/probe/log").is_success
    assert stored_rows(served) == []


def test_the_access_log_read_is_itself_recorded(
    probed: FastAPI, client_for: ClientFor, served: Served
) -> None:
    monitor = client_for("monitor", on=probed)
    monitor.get("/v1/probe/subjects/MC0282-001-017")
    listing = client_for("auditor", on=probed).get(
        "/v1/access-log", params={"subject": "MC0282-001-017"}
    )
    assert [r["what"] for r in listing.json()["items"]] == ["probe subject"]
    rows = stored_rows(served)
    assert [(r["what"], r["subjects"], r["role"]) for r in rows] == [
        ("probe subject", ["MC0282-001-017"], "monitor"),
        ("access log", ["MC0282-001-017"], "auditor"),
    ]


def test_filters_by_person_and_time(probed: FastAPI, client_for: ClientFor, served: Served) -> None:
    client_for("monitor", on=probed).get("/v1/probe/subjects/MC0282-001-017")
    client_for("coordinator-001", on=probed).get("/v1/probe/subjects/MC0282-001-018")
    sponsor = client_for("sponsor", on=probed)
    by_name = sponsor.get("/v1/access-log", params={"person": "Cole Coordinator"}).json()
    assert [r["subjects"] for r in by_name["items"]] == [["MC0282-001-018"]]
    future = sponsor.get("/v1/access-log", params={"from": "2999-01-01"}).json()
    assert future["items"] == []
    bad = sponsor.get("/v1/access-log", params={"to": "yesterday"})
    assert bad.status_code == 400
    assert bad.json()["field"] == "to"


def test_a_read_that_cannot_be_recorded_is_refused(
    served: Served, client_for: ClientFor, tmp_path: Path
) -> None:
    app = create_app(served.config(access_log=tmp_path / "no-such-folder" / "reads.sqlite"))
    app.include_router(probe)
    response = client_for("monitor", on=app).get("/v1/probe/subjects/MC0282-001-017")
    assert response.status_code == 503
    assert "never left unrecorded" in response.json()["detail"]
    assert "subject_id" not in response.json()


def test_the_log_refuses_update_and_delete(
    probed: FastAPI, client_for: ClientFor, served: Served
) -> None:
    client_for("monitor", on=probed).get("/v1/probe/subjects/MC0282-001-017")
    conn = sqlite3.connect(log_path(served))
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE access_reads SET printed_name = 'Nobody'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM access_reads")
    finally:
        conn.close()


def _three_reads(probed: FastAPI, client_for: ClientFor) -> None:
    for label, subject in (
        ("monitor", "MC0282-001-017"),
        ("coordinator-002", "MC0282-002-001"),
        ("auditor", "MC0282-001-018"),
    ):
        assert client_for(label, on=probed).get(f"/v1/probe/subjects/{subject}").is_success


def test_cli_lists_what_the_api_lists_and_the_chain_verifies(
    probed: FastAPI, client_for: ClientFor, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    _three_reads(probed, client_for)
    code, out, _ = access_log_cli(capsys, "--db", str(served.db), "--json")
    assert code == 0
    printed = json.loads(out)
    served_rows = client_for("sponsor", on=probed).get("/v1/access-log").json()
    assert printed["items"] == served_rows["items"]
    assert (
        printed["chain"]
        == served_rows["chain"]
        == {
            "rows": 3,
            "last_hash": printed["items"][-1]["row_hash"],
            "ok": True,
            "problems": [],
        }
    )
    code, out, _ = access_log_cli(
        capsys, "--db", str(served.db), "--subject", "MC0282-002-001", "--json"
    )
    # the subject's read, then the sponsor's listing of the log that named it
    assert [(r["printed_name"], r["what"]) for r in json.loads(out)["items"]] == [
        ("Sita Coordinator", "probe subject"),
        ("Sponsor Office", "access log"),
    ]


def _tamper(served: Served, statement: str) -> None:
    """An attacker with the file: the triggers dropped, a row changed, the triggers back."""
    conn = sqlite3.connect(log_path(served), isolation_level=None)
    try:
        conn.execute("DROP TRIGGER access_reads_no_update")
        conn.execute("DROP TRIGGER access_reads_no_delete")
        conn.execute(statement)
    finally:
        conn.close()
    AccessStore(log_path(served)).close()  # the triggers made again


@pytest.mark.parametrize(
    ("statement", "found"),
    [
        ("UPDATE access_reads SET subjects = '[]' WHERE seq = 2", "row 2: its fields do not match"),
        ("DELETE FROM access_reads WHERE seq = 2", "row 3: rows 2..2 are missing"),
    ],
)
def test_cli_verify_finds_a_row_altered_or_removed_in_the_middle(
    probed: FastAPI,
    client_for: ClientFor,
    served: Served,
    capsys: pytest.CaptureFixture[str],
    statement: str,
    found: str,
) -> None:
    _three_reads(probed, client_for)
    assert access_log_cli(capsys, "--db", str(served.db), "--verify")[0] == 0
    _tamper(served, statement)
    code, _, err = access_log_cli(capsys, "--db", str(served.db), "--verify")
    assert code == 1
    assert found in err


def test_chain_breaks_where_a_forged_row_is_inserted(tmp_path: Path) -> None:
    store = AccessStore(tmp_path / "reads.sqlite")
    read = Read("2024-01-01T00:00:00.000000Z", "k", "n", "monitor", "*", "signature",
                "GET /v1/x", "", '["MC0282-001-017"]', "x", "e")  # fmt: skip
    for _ in range(3):
        store.append(read)
    rows = store.rows()
    store.close()
    assert chain_problems(rows) == []
    forged = [rows[0], rows[2]]
    assert chain_problems(forged) == [
        "row 3: rows 2..2 are missing",
        "row 3: prev_hash does not match row 2's hash",
    ]


def test_cli_refuses_a_missing_log_with_exit_2(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = access_log_cli(capsys, "--db", str(served.db))
    assert code == 2
    assert "--access-log" in err
    assert "no such file" in err


def test_a_read_of_the_summary_is_recorded_against_every_subject_it_names(
    client_for: ClientFor, served: Served
) -> None:
    summary = client_for("monitor").get("/v1/summary")
    assert summary.status_code == 200, summary.text
    body = summary.json()
    treated = set(body["populations"]["treated_subject_ids"])
    not_treated = {item["subject_id"] for item in body["populations"]["not_treated"]}
    assert treated  # the served ledger has both
    assert not_treated
    (row,) = [r for r in stored_rows(served) if r["what"] == "summary"]
    assert treated | not_treated <= set(row["subjects"])
    assert len(row["subjects"]) == len(set(row["subjects"]))


def test_a_persons_read_of_log_events_is_recorded_against_the_subjects_the_page_holds(
    client_for: ClientFor, served: Served
) -> None:
    page = client_for("auditor").get("/v1/log/events", params={"limit": 1000})
    assert page.status_code == 200, page.text
    held = {
        json.loads(e["state"])["subject_id"]
        for e in page.json()["events"]
        if "subject_id" in json.loads(e["state"])
    }
    assert held  # the served ledger's page holds subjects of both sites
    (row,) = [r for r in stored_rows(served) if r["what"].startswith("log events")]
    assert set(row["subjects"]) == held
    assert row["key_id"] == served.key_id("auditor")
    consumer = client_for("consumer").get("/v1/log/events")
    assert consumer.status_code == 200
    assert [r["key_id"] for r in stored_rows(served)] == [served.key_id("auditor")]
