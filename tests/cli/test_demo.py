"""The demo: a realistic, verified, reproducible NCT00635154 ledger built by the user commands."""

from __future__ import annotations

import contextlib
import io
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from cli import run
from ledger.cli.demo.build import build_demo
from ledger.events import DoseAdministered, KeyRevoked, KeyRotated, RegimenChanged, decode_event
from ledger.service import TrialLedger
from ledger.store import LedgerReader
from ledger.store.location import parse_store
from ledger.verify import verify_ledger


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    folder = tmp_path_factory.mktemp("demo")
    mp = pytest.MonkeyPatch()
    mp.setenv("TRIAL_LEDGER_PASSPHRASE", "demo-passphrase")
    capture = folder / "out.json"
    try:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            code = run(["demo", "--db", str(folder / "trial.db"), "--json"])
        capture.write_text(buffer.getvalue())
    finally:
        mp.undo()
    assert code == 0, capture.read_text()
    summary: dict[str, object] = json.loads(capture.read_text())
    return folder / "trial.db", summary


def topics(db: Path) -> Counter[str]:
    with TrialLedger.open(db) as ledger:
        return Counter(row.topic for row in ledger.reader.iter_events())


def test_demo_enrols_55_of_58_screened_and_treats_54(
    demo_run: tuple[Path, dict[str, object]],
) -> None:
    _, summary = demo_run
    assert summary["subjects_screened"] == 58
    assert summary["subjects_enrolled"] == 55
    assert summary["subjects_treated"] == 54


def test_demo_ledger_verifies(demo_run: tuple[Path, dict[str, object]]) -> None:
    db, summary = demo_run
    assert summary["verify"]["ok"] is True  # type: ignore[index]
    with TrialLedger.open(db) as ledger:
        report = verify_ledger(ledger.reader)
    assert report.ok, report.first_failure
    assert report.events > 20_000


def test_demo_adds_low_dose_dex_for_25_stable_subjects_and_moves_progressors_to_high_dose(
    demo_run: tuple[Path, dict[str, object]],
) -> None:
    db, _ = demo_run
    changes: Counter[tuple[str, str]] = Counter()
    low_dose_takers: set[str] = set()
    with TrialLedger.open(db) as ledger:
        for row in ledger.reader.iter_events():
            if row.topic not in (RegimenChanged.TOPIC, DoseAdministered.TOPIC):
                continue
            event = decode_event(row.topic, row.state, row.originator_id, row.originator_version)
            if isinstance(event, RegimenChanged):
                changes[(event.to_regimen, event.rule_id)] += 1
            elif isinstance(event, DoseAdministered) and event.dose == Decimal(20):
                low_dose_takers.add(event.subject_id)
    # 32 stable at month 6 (REG-M6-SD); 7 of them declined dexamethasone and stopped.
    assert changes[("low_dose_dex", "REG-M6-SD")] == 32
    assert len(low_dose_takers) == 25
    assert changes[("continuation", "REG-M6-RESPONSE")] == 3
    assert sum(n for (to, _), n in changes.items() if to == "high_dose_dex") >= 10


def test_demo_records_daily_doses_adverse_events_corrections_and_key_changes(
    demo_run: tuple[Path, dict[str, object]],
) -> None:
    db, summary = demo_run
    counts = topics(db)
    assert counts["trial.DoseAdministered.v1"] > 15_000
    assert counts["trial.AdverseEventReported.v1"] == summary["adverse_events"]
    assert summary["serious_adverse_events"] >= 1  # type: ignore[operator]
    assert counts["trial.CorrectionRecorded.v1"] == summary["corrections"] >= 1  # type: ignore[operator]
    assert counts["trial.DoseMissed.v1"] >= 1
    assert counts["trial.RecordSigned.v1"] >= 40
    assert counts[KeyRotated.TOPIC] == 1
    assert counts[KeyRevoked.TOPIC] == 1


def test_same_seed_gives_the_same_ledger_content_on_postgresql_as_in_a_file(
    demo_run: tuple[Path, dict[str, object]], tmp_path: Path, pg_url: str
) -> None:
    """The same seed gives the same events, leaves and Merkle root, whichever store holds them
    (the demo in the file above; again, into a PostgreSQL database)."""
    db, summary = demo_run
    again = build_demo(parse_store(pg_url), tmp_path / "keys", seed=282, passphrase=b"x")
    assert again.verify["root"] == summary["verify"]["root"]  # type: ignore[index]
    assert again.events == summary["events"]
    with LedgerReader(db) as file, LedgerReader(parse_store(pg_url)) as database:
        assert list(file.leaf_hashes()) == list(database.leaf_hashes())


def test_another_seed_gives_another_cohort(tmp_path: Path) -> None:
    other = build_demo(tmp_path / "other.db", tmp_path / "keys", seed=7, passphrase=b"x")
    assert other.subjects_enrolled == 55
    assert other.verify["ok"] is True
    first = build_demo(tmp_path / "first.db", tmp_path / "keys282", seed=282, passphrase=b"x")
    assert other.verify["root"] != first.verify["root"]


def test_demo_refuses_an_existing_ledger(
    demo_run: tuple[Path, dict[str, object]], capsys: pytest.CaptureFixture[str]
) -> None:
    db, _ = demo_run
    assert run(["demo", "--db", str(db)]) == 2
    assert "already exists" in capsys.readouterr().err
