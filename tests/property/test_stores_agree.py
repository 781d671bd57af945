"""The two stores hold one ledger: the same commands recorded into a SQLite file and into a
PostgreSQL database give the same refusals, the same stored rows, the same leaves and the same
Merkle root, and each verifies (random histories built through the recording rules)."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.domain.commands import Command
from ledger.domain.commands.base import command_from
from ledger.integrity.signing import Signer
from ledger.recording import TrialRecorder
from ledger.service import TrialLedger
from ledger.store.location import StoreTarget, parse_store
from ledger.verify import verify_ledger
from tests.domain.trial_helpers import SUBJECT
from tests.property.test_one_truth import CTX, REFUSED, STEP, Clinic, build
from tests.support import GENESIS_DATE, Cast, register_cast
from tools.pg_cluster import PgCluster

LEDGER_ID = "5f0c9a52-0b8e-4d55-9a53-1c7f3d1e2a40"
ROWS = (
    "SELECT position, originator_id, originator_version, topic, state, leaf_hash, commit_seq"
    " FROM stored_events ORDER BY position"
)


def new_ledger(target: StoreTarget, cast: Cast) -> TrialLedger:
    ledger = TrialLedger.create(
        target,
        sponsor=cast.sponsor,
        sponsor_name="Sponsor Office",
        ledger_public=cast.ledger_key.public_key,
        ledger_key_id=cast.ledger_key.key_id,
        protocol_amendment="MC0282-original",
        effective_date=GENESIS_DATE,
        ledger_id=LEDGER_ID,
    )
    register_cast(ledger, cast)
    return ledger


class TwoStores(Clinic):
    """One subject recorded through the recorder into both stores, command by command."""

    def __init__(self, ledgers: tuple[TrialLedger, TrialLedger], signer: Signer) -> None:
        self.recorders = [TrialRecorder(x, clock=lambda: CTX.today) for x in ledgers]
        self.signer = signer
        super().__init__()

    def run(self, model: type[Command], on: date, **fields: Any) -> bool:
        outcomes: list[str] = []
        positions: list[int] = []
        for recorder in self.recorders:
            try:
                command = command_from(model, {"subject_id": SUBJECT, "date": on, **fields})
                recorded = recorder.record(self.signer, command)
                outcomes.append(f"recorded {recorded.positions}")
                positions = list(recorded.positions)
            except REFUSED as e:
                outcomes.append(f"refused {e}")
        assert outcomes[0] == outcomes[1], f"{model.name} on {on}: {outcomes}"
        if outcomes[0].startswith("refused"):
            return False
        self.p = self.recorders[0].patient(SUBJECT)
        self.position = max(positions)
        return True


def stored_rows(ledger: TrialLedger) -> list[tuple[Any, ...]]:
    with ledger.reader.snapshot():
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
                for r in ledger.reader._conn.execute(ROWS).fetchall()]  # fmt: skip


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(STEP, min_size=4, max_size=18))
def test_the_same_commands_give_the_same_rows_leaves_and_root_on_both_stores(
    steps: list[tuple[int, str, int, str]],
    pg_cluster: PgCluster,
    tmp_path_factory: pytest.TempPathFactory,
    cast: Cast,
) -> None:
    name = f"agree_{uuid.uuid4().hex[:12]}"
    url = pg_cluster.create_database(name)
    file = tmp_path_factory.mktemp("agree") / "trial.db"
    ledgers = (new_ledger(file, cast), new_ledger(parse_store(url), cast))
    try:
        build(steps, lambda: TwoStores(ledgers, cast.investigator))
        reports = []
        for ledger in ledgers:
            with ledger.reader.snapshot():
                reports.append(verify_ledger(ledger.reader))
        assert all(r.ok for r in reports)
        assert reports[0].root == reports[1].root
        assert reports[0].events == reports[1].events
        assert stored_rows(ledgers[0]) == stored_rows(ledgers[1])
    finally:
        for ledger in ledgers:
            ledger.close()
        pg_cluster.drop_database(name)


def test_a_file_path_that_looks_like_a_url_is_still_a_file(tmp_path: Path) -> None:
    assert parse_store(str(tmp_path / "postgresql.db")) == tmp_path / "postgresql.db"
