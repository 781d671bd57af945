"""The write path: nothing is stored unsigned or unchained, crashes leave the last commit intact.

Every test runs on both stores (``store_target``: a SQLite file, a PostgreSQL database).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.errors import ConcurrencyError, UsageError, ValidationError
from ledger.service import TrialLedger, person_key, today
from ledger.store import LedgerReader, UnsignedAppendError
from ledger.store.location import StoreTarget
from ledger.verify import verify_ledger
from tests.store_params import StoreTamper, store_arg
from tests.support import Cast, create_ledger, dose, new_signer, screening

SUBJECT = "MC0282-001-002"


@pytest.fixture
def ledger(store_target: StoreTarget, cast: Cast) -> Iterator[TrialLedger]:
    """The cast's ledger on each store (conftest's ``ledger`` is the file's only)."""
    created = create_ledger(store_target, cast)
    yield created
    created.close()


def test_recorder_refuses_an_append_without_a_signer(ledger: TrialLedger) -> None:
    head = ledger.reader.size()
    with pytest.raises(UnsignedAppendError, match="without a signature"):
        ledger.store.save(screening(SUBJECT))
    assert ledger.reader.size() == head


def test_failed_signature_leaves_the_last_commit_intact(ledger: TrialLedger, cast: Cast) -> None:
    class BrokenSigner:
        key_id = cast.coordinator.key_id
        public_key = cast.coordinator.public_key

        def sign(self, message: bytes) -> bytes:
            raise OSError("hardware token removed")

    head = ledger.reader.size()
    with pytest.raises(OSError, match="hardware token removed"):
        ledger.append(BrokenSigner(), [screening(SUBJECT)])  # type: ignore[arg-type]
    assert ledger.reader.size() == head
    assert verify_ledger(ledger.reader).ok


def test_process_killed_mid_append_leaves_the_last_commit_intact(
    ledger: TrialLedger, tmp_path: Path
) -> None:
    """A writer process dies after inserting rows but before its commit: nothing of it stays."""
    head = ledger.reader.size()
    script = tmp_path / "crash.py"
    script.write_text(
        "import os, sys\n"
        "from pathlib import Path\n"
        "from ledger.service import TrialLedger\n"
        "from ledger.store import CommitSeal\n"
        "from tests.support import dose, screening\n"
        "class Dying:\n"
        "    key_id = 'ed25519:' + '0' * 32\n"
        "    public_key = bytes(32)\n"
        "    def sign(self, message):\n"
        "        os._exit(9)\n"
        "from ledger.store.location import parse_store\n"
        "ledger = TrialLedger.open(parse_store(sys.argv[1]))\n"
        "ledger.store.append([screening('MC0282-001-002'), dose('MC0282-001-002', 2)],"
        " CommitSeal(signer=Dying()))\n"
    )
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, str(script), store_arg(ledger.target)],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        check=False,
        capture_output=True,
    )
    assert result.returncode == 9, result.stderr
    with LedgerReader(ledger.target) as reader:
        assert reader.size() == head
        assert verify_ledger(reader).ok


def test_concurrent_writers_extend_one_unbroken_chain(ledger: TrialLedger, cast: Cast) -> None:
    subjects = [f"MC0282-001-{n:03d}" for n in range(10, 14)]
    errors: list[BaseException] = []

    def writer(subject: str) -> None:
        own = TrialLedger.open(ledger.target)
        try:
            own.append(cast.coordinator, [screening(subject)])
            for version in range(2, 12):
                while True:
                    try:
                        own.append(cast.coordinator, [dose(subject, version)])
                        break
                    except ConcurrencyError:
                        continue
        except BaseException as e:  # noqa: BLE001 - surfaced to the test below
            errors.append(e)
        finally:
            own.close()

    threads = [threading.Thread(target=writer, args=(s,)) for s in subjects]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = verify_ledger(ledger.reader)
    assert report.ok, report.first_failure
    assert report.events == 9 + 4 * 11  # genesis, 3 sites, 5 keys, 4 x 11 subject events


def test_registry_change_during_a_commit_is_refused(ledger: TrialLedger, cast: Cast) -> None:
    stale = ledger.registry()
    newcomer = new_signer()
    ledger.register_key(
        cast.sponsor,
        person_key(newcomer.public_key, newcomer.key_id, "Nia Newcomer", "coordinator", "001"),
        "joined",
        today(),
    )
    with pytest.raises(ConcurrencyError, match="key registry changed"):
        ledger.append(cast.coordinator, [screening(SUBJECT)], registry=stale)


def test_open_refuses_a_store_without_a_ledger_and_creates_nothing(
    store_target: StoreTarget, store_kind: str
) -> None:
    """A missing file, an empty database: refused, and opening makes neither file nor tables."""
    said = {"sqlite": "no such ledger file", "postgres": "not a trial-ledger database"}
    with pytest.raises(UsageError, match=said[store_kind]):
        TrialLedger.open(store_target)
    if isinstance(store_target, Path):
        assert not store_target.exists()
    else:
        assert StoreTamper(store_target).execute("SELECT to_regnamespace('trial_ledger')").rows == [
            (None,)
        ]


def test_create_refuses_to_overwrite(ledger: TrialLedger, cast: Cast) -> None:
    with pytest.raises(
        UsageError, match=r"already (exists|holds a trial ledger).*refusing to overwrite"
    ):
        TrialLedger.create(
            ledger.target,
            sponsor=cast.sponsor,
            sponsor_name="Sponsor Office",
            ledger_public=cast.ledger_key.public_key,
            ledger_key_id=cast.ledger_key.key_id,
            protocol_amendment="MC0282-original",
            effective_date=today(),
        )


def test_refuses_a_signature_meaning_outside_the_four(ledger: TrialLedger, cast: Cast) -> None:
    head = ledger.reader.size()
    with pytest.raises(
        ValidationError, match="meaning='witnessed' refused: a signature means one of"
    ):
        ledger.append(cast.coordinator, [screening(SUBJECT)], meaning="witnessed")
    assert ledger.reader.size() == head
