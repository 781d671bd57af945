"""A busy site: readers running while writer processes append never see an intact ledger fail.

Writers are separate processes (as at a site: several staff recording at once); the readers are
the auditor's and consumer's commands, through the command line. Every reader reads one
snapshot, so each sees a consistent prefix: it must pass, and exports taken meanwhile must
verify offline. On both stores: a SQLite file (WAL snapshots) and a PostgreSQL database
(``REPEATABLE READ`` snapshots while writers hold the append lock).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from subprocess import Popen

import pytest

from ledger.integrity.signing import Signer, generate_private_key, write_private_key
from ledger.service import TrialLedger, person_key
from ledger.store.location import StoreTarget
from tests.adversarial.ledgers import PASSPHRASE, init_ledger, passphrase_env, run_cli
from tests.store_params import store_arg
from tests.support import GENESIS_DATE, register_sites, screening

REPO = Path(__file__).resolve().parents[2]
WRITER = """
import os, sys, time
from pathlib import Path
from ledger.events import subject_stream_id
from ledger.integrity.signing import Signer
from ledger.service import TrialLedger
from ledger.store.location import parse_store
from tests.support import dose
db, key = parse_store(sys.argv[1]), Path(sys.argv[2])
subject, seconds = sys.argv[3], float(sys.argv[4])
signer = Signer.from_key_file(key, os.environ["TRIAL_LEDGER_PASSPHRASE"].encode())
ledger = TrialLedger.open(db)
version = ledger.reader.stream_version(subject_stream_id(subject).hex)
end = time.monotonic() + seconds
n = 0
while time.monotonic() < end:
    batch = [dose(subject, version + 1 + i, version + i) for i in range(1 + n % 3)]
    ledger.append(signer, batch)
    version += len(batch)
    n += 1
ledger.close()
print(n)
"""


def writer_key(folder: Path, ledger: TrialLedger, sponsor: Signer, site: str) -> Path:
    private = generate_private_key()
    path = folder / f"coordinator-{site}.key"
    write_private_key(path, private, PASSPHRASE.encode())
    signer = Signer(private)
    key = person_key(signer.public_key, signer.key_id, f"Coordinator {site}", "coordinator", site)
    ledger.register_key(sponsor, key, "trial staff", GENESIS_DATE)
    subject = f"MC0282-{site}-001"
    ledger.append(signer, [screening(subject, 1, site=site)])
    return path


def start_writers(db: StoreTarget, keys: dict[str, Path], seconds: float) -> list[Popen[str]]:
    """One writer process per site, appending doses of its subject for ``seconds``."""
    return [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, store_arg(db), str(key), subject, str(seconds)],
            cwd=REPO,
            env={**os.environ, "TRIAL_LEDGER_PASSPHRASE": PASSPHRASE},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for subject, key in ((f"MC0282-{site}-001", key) for site, key in keys.items())
    ]


def reader_commands(db: StoreTarget, folder: Path, i: int) -> dict[str, list[object]]:
    """The auditor's and consumer's commands of run ``i`` (a bundle, a checkpoint of its own)."""
    bundle, cp, key = folder / f"bundle-{i}", folder / f"cp-{i}", folder / "ledger.key"
    return {
        "verify": ["verify", "--db", db],
        "export-bundle": ["export-bundle", "--db", db, "--out", bundle],
        "verify-bundle": ["verify-bundle", bundle, "--sponsor-key", folder / "sponsor.key.pub"],
        "projections rebuild": ["projections", "rebuild", "--db", db],
        "summary": ["summary", "--db", db, "--json"],
        "proof inclusion": ["proof", "inclusion", "--db", db, "--position", "2", "--json"],
        "checkpoint": ["checkpoint", "--db", db, "--ledger-key", key, "--out", cp],
        "verify --against": ["verify", "--db", db, "--against", cp],
    }


@pytest.mark.slow
def test_readers_during_appends_never_report_an_intact_ledger_as_failing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], store_target: StoreTarget
) -> None:
    db, sponsor, _ = init_ledger(tmp_path, store_target)
    with TrialLedger.open(db) as ledger:
        register_sites(ledger, sponsor)
        keys = {site: writer_key(tmp_path, ledger, sponsor, site) for site in ("001", "002")}
    seconds = 8.0
    writers = start_writers(db, keys, seconds)
    runs: dict[str, int] = {}
    alarms: list[str] = []
    deadline = time.monotonic() + seconds - 0.5
    i = 0
    with passphrase_env():
        while time.monotonic() < deadline:
            i += 1
            for name, argv in reader_commands(db, tmp_path, i).items():
                capsys.readouterr()
                code = run_cli(*argv)
                runs[name] = runs.get(name, 0) + 1
                if code != 0:
                    alarms.append(
                        f"{name} (run {i}): exit {code}: {capsys.readouterr().err[-400:]}"
                    )
    appended = []
    for w in writers:
        out, err = w.communicate(timeout=60)
        assert w.returncode == 0, err
        appended.append(int(out.strip()))
    assert not alarms, "\n".join(alarms)
    assert min(runs.values()) >= 3, runs
    assert min(appended) > 10, appended
    capsys.readouterr()
    assert run_cli("verify", "--db", db, "--json") == 0
    final = json.loads(capsys.readouterr().out)
    store = "file" if isinstance(db, Path) else "PostgreSQL"
    with capsys.disabled():
        print(
            f"\nconcurrent readers ({store}): {sum(runs.values())} reader runs "
            f"{runs}, 0 false alarms, while 2 writer processes made {sum(appended)} commits "
            f"({final['events']} events in the end)"
        )
