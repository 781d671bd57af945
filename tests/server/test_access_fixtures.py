"""The shared server fixtures give what they promise: a verified ledger with every role's key,
encrypted key files of mode 0600, a live server that answers on 127.0.0.1."""

from __future__ import annotations

import stat

import httpx

from ledger.events import subject_stream_id
from ledger.integrity.signing import Signer
from ledger.service import AT_HEAD, today
from ledger.store import LedgerReader
from ledger.verify import verify_ledger
from tests.server.conftest import LiveServer
from tests.server.support import PASSPHRASE, PEOPLE, SUBJECTS, Served


def test_served_ledger_verifies_with_its_checkpoint(served: Served) -> None:
    reader = LedgerReader(served.db)
    try:
        with reader.snapshot():
            report = verify_ledger(reader)
        assert report.first_failure is None
        assert report.frontier is not None
        assert [size for size, _, _ in reader.checkpoints()] == [report.frontier.size]
    finally:
        reader.close()


def test_every_label_is_registered_with_its_role_and_site(served: Served) -> None:
    ledger = served.open()
    try:
        registry = ledger.registry()
        for label, (name, role, site) in PEOPLE.items():
            key = registry.signer(served.key_id(label), AT_HEAD, today()).key
            assert (key.printed_name, key.role, key.site) == (name, role, site)
    finally:
        ledger.close()


def test_key_files_are_encrypted_owner_only_and_hold_the_signers(served: Served) -> None:
    for label, path in served.key_files.items():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert b"ENCRYPTED" in path.read_bytes()
        assert Signer.from_key_file(path, PASSPHRASE).key_id == served.key_id(label)


def test_subjects_of_both_sites_are_in_the_ledger(served: Served) -> None:
    reader = LedgerReader(served.db)
    try:
        streams = {row.originator_id for row in reader.iter_events()}
    finally:
        reader.close()
    subjects = [s for site_subjects in SUBJECTS.values() for s in site_subjects]
    assert {subject_stream_id(s).hex for s in subjects} <= streams


def test_live_server_answers_problems_on_loopback(served: Served, live_server: LiveServer) -> None:
    url = live_server(served.config())
    assert url.startswith("http://127.0.0.1:")
    response = httpx.get(url + "/v1/no-such-route")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
