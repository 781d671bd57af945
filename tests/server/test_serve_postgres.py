"""A PostgreSQL ledger served as `db init-roles` sets it up: the server reads (and keeps its
views and its log of reads) as the reader role and records as the writer role; what it
serves is what the same ledger in a file gives."""

from __future__ import annotations

import base64
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from ledger.copy import copy_ledger
from ledger.domain.commands import RecordDose
from ledger.remote.record import RemoteRecorder
from ledger.server.access.access_store import AccessStore
from ledger.server.app import create_app
from ledger.server.config import ServerConfig
from ledger.store import LedgerReader
from ledger.store.location import PostgresURL
from ledger.store.pg_tables import Roles, role_statements
from ledger.verify import verify_ledger
from tests.server.support import Served, signed_client

pytestmark = pytest.mark.postgres

DOSE = RecordDose(
    subject_id="MC0282-001-017",
    date=date(2003, 1, 14),
    drug="anakinra",
    dose=Decimal(100),
    route="SC",
)


def _roles_db(pg_url: str, served: Served) -> tuple[PostgresURL, PostgresURL]:
    admin = PostgresURL.parse(pg_url)
    roles = Roles()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for statement in role_statements(roles, admin.dbname):
            conn.execute(statement.encode())
    writer, reader = admin.with_user(roles.writer), admin.with_user(roles.reader)
    copy_ledger(served.db, writer)
    return writer, reader


def _subjects(db: Path | PostgresURL, served: Served) -> list[dict[str, object]]:
    app = create_app(ServerConfig(db=db, access_log=None))
    with signed_client(served.signer("monitor"), app=app) as client:
        answer = client.get("/v1/subjects")
    assert answer.status_code == 200, answer.text
    subjects: list[dict[str, object]] = answer.json()["subjects"]
    return subjects


def test_a_postgres_ledger_served_as_the_reader_answers_as_its_file_does(
    pg_url: str, served: Served
) -> None:
    _, reader = _roles_db(pg_url, served)
    assert _subjects(reader, served) == _subjects(served.db, served)
    store = AccessStore(reader)  # the monitor's read, recorded in trial_access
    try:
        rows = store.rows()
    finally:
        store.close()
    assert [(row.read.key_id, row.read.route) for row in rows] == [
        (served.key_id("monitor"), "GET /v1/subjects")
    ]


def test_recording_over_http_appends_as_the_writer_and_the_reader_verifies_it(
    pg_url: str, served: Served
) -> None:
    writer, reader = _roles_db(pg_url, served)
    with LedgerReader(reader) as before:
        size = before.size()
    app = create_app(ServerConfig(db=reader, record_db=writer))
    signer = served.signer("coordinator-001")
    with signed_client(signer, app=app) as client:
        receipt = RemoteRecorder(client, signer).record(DOSE)
    assert receipt["positions"] == [size + 1]
    with LedgerReader(reader) as after:
        report = verify_ledger(after)
        assert after.size() == size + 1
    assert report.ok, report.first_failure


def test_without_a_writer_url_recording_on_the_reader_role_is_refused_and_writes_nothing(
    pg_url: str, served: Served
) -> None:
    _, reader = _roles_db(pg_url, served)
    with LedgerReader(reader) as before:
        size = before.size()
    app = create_app(ServerConfig(db=reader))
    signer = served.signer("coordinator-001")
    with signed_client(signer, app=app) as client:
        prepared = client.post("/v1/commands/prepare", json={"command": _dose_line()})
        assert prepared.status_code == 200, prepared.text
        document = prepared.json()
        signature = base64.b64encode(signer.sign(base64.b64decode(document["sign"]))).decode()
        committed = client.post(
            "/v1/commands/commit", json={"proposal": document["proposal"], "signature": signature}
        )
    assert committed.status_code == 503
    assert committed.headers["content-type"].startswith("application/problem+json")
    problem = committed.json()
    assert problem["type"].endswith("/storage")
    assert (
        "PostgreSQL refused: permission denied for function lock_for_append" in (problem["detail"])
    )
    with LedgerReader(reader) as after:
        assert after.size() == size


def _dose_line() -> dict[str, object]:
    return {
        "command": "dose",
        "subject_id": DOSE.subject_id,
        "date": DOSE.date.isoformat(),
        "drug": DOSE.drug,
        "dose": 100,
        "route": DOSE.route,
    }
