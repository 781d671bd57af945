"""Recording over HTTP with each commit signed on the caller's side (ledger.proposals, the
recording routes and ledger.remote.record): the same commands give the same events as the
local recorder; refusals are the local refusals; a moved head, a hostile proposal, a wrong,
foreign, revoked or replayed signature, an expired proposal all write nothing."""

from __future__ import annotations

import base64
import copy
import json
import threading
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import cli
from ledger.chain import CommitHeader, leaf_hash_of
from ledger.domain.commands import (
    AssessEligibility,
    Command,
    Consent,
    Enrol,
    RecordDose,
    RecordLab,
    RecordMissedDose,
    Screen,
    Sign,
)
from ledger.errors import LedgerError
from ledger.events import subject_stream_id
from ledger.integrity import merkle
from ledger.integrity.signing import Signer
from ledger.proposals import PROPOSAL_LIFETIME_S
from ledger.recording import TrialRecorder
from ledger.remote.record import (
    Expected,
    ProposalRefused,
    RemoteRecorder,
    RemoteRefusal,
    check_matches,
    check_proposal,
)
from ledger.server.app import create_app
from ledger.server.api.recording import writers_of
from ledger.service import TrialLedger
from tests.domain.trial_helpers import baseline, eligible_inputs
from tests.server.conftest import ClientFor
from tests.server.support import Served

SUBJECT = "MC0282-001-017"
NEW = "MC0282-001-019"
ONE_DOSE = RecordDose(
    subject_id=SUBJECT, date=date(2003, 1, 14), drug="anakinra", dose=Decimal(100), route="SC"
)


def _rows(db: Path) -> list[tuple[Any, ...]]:
    with TrialLedger.open(db) as ledger:
        return [
            (r.position, r.originator_id, r.originator_version, r.topic, r.state, r.leaf_hash)
            for r in ledger.reader.iter_events()
        ]


def _size(served: Served) -> int:
    with served.open() as ledger:
        return ledger.reader.size()


def _script(served: Served) -> list[tuple[str, Command]]:
    """Commands by label: a new subject screened to enrolment, doses, a lab, a missed dose
    and the monitor's signed review."""
    return [
        ("coordinator-001", Screen(subject_id=NEW, date=date(2003, 2, 3), site="001", age_years=61, sex="F")),
        ("coordinator-001", Consent(subject_id=NEW, date=date(2003, 2, 4), consent_version="2002-10")),
        ("investigator-001", AssessEligibility(subject_id=NEW, date=date(2003, 2, 5), inputs=eligible_inputs())),
        ("investigator-001", Enrol(subject_id=NEW, date=date(2003, 2, 6), treatment_start=date(2003, 2, 10), baseline=baseline())),
        ("coordinator-001", ONE_DOSE),
        ("coordinator-001", RecordLab(subject_id=SUBJECT, date=date(2003, 1, 15), analyte="hs_crp", value=Decimal("3.9"), unit="mg/L")),
        ("coordinator-001", RecordMissedDose(subject_id=SUBJECT, date=date(2003, 1, 16), drug="anakinra", reason="forgot the injection")),
    ]  # fmt: skip


def _review(positions: list[int]) -> Sign:
    return Sign(
        subject_id=SUBJECT,
        date=date(2003, 1, 17),
        positions=tuple(positions),
        signature_meaning="review",
        statement="source data verified",
    )


def _recorder(client_for: ClientFor, served: Served, label: str, **kw: Any) -> RemoteRecorder:
    return RemoteRecorder(client_for(label), served.signer(label), **kw)


def test_remote_and_local_recording_store_identical_events_and_the_remote_ledger_verifies(
    served: Served, client_for: ClientFor, tmp_path: Path
) -> None:
    (tmp_path / "local").mkdir()
    local = served.copy_to(tmp_path / "local")
    before = _size(served)
    script = _script(served)
    written = 0
    for label, command in script:
        receipt = _recorder(client_for, served, label).record(command)
        assert receipt["signer_key_id"] == served.key_id(label)
        assert receipt["meaning"] == command.meaning
        written += len(receipt["positions"])
    review = _review(receipt["positions"])
    written += len(_recorder(client_for, served, "monitor").record(review)["positions"])
    with local.open() as ledger:
        recorder = TrialRecorder(ledger)
        for label, command in [*script, ("monitor", review)]:
            recorder.record(served.signer(label), command)
    remote_rows, local_rows = _rows(served.db), _rows(local.db)
    assert len(remote_rows) == before + written
    assert remote_rows == local_rows  # payloads and leaves, position for position
    assert cli.run(["verify", "--db", str(served.db)]) == 0
