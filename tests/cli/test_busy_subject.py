"""No lost work on a busy subject: writers recording different doses for one subject at once
all succeed (the recorder reloads the subject, checks the rules again and retries).

On both stores: the writers' ``--db`` is the ledger file, or the postgresql:// URL of a
database the enrolled ledger was copied into (``trial-ledger copy``'s own function).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.copy import copy_ledger
from ledger.store.location import StoreTarget
from tests.adversarial.ledgers import PASSPHRASE
from tests.cli.test_clinical_paths import (
    Trial,
    iso,
    new_trial,
    run,
    template,  # noqa: F401 - the module's template ledger fixture
)
from tests.domain.trial_helpers import day
from tests.store_params import store_arg

REPO = Path(__file__).resolve().parents[2]
WRITER = """
import sys
import cli
db, key, phrase, subject, *dates = sys.argv[1:]
codes = [
    cli.run(["dose", "--db", db, "--key", key, "--passphrase-file", phrase, "--subject",
             subject, "--drug", "anakinra", "--dose", "100", "--route", "SC", "--date", on])
    for on in dates
]
sys.exit(max(codes))
"""


def on_store(t: Trial, target: StoreTarget) -> StoreTarget:
    """The trial's ledger where the writers record: its own file, or a copy of it in the
    PostgreSQL database ``target``."""
    if isinstance(target, Path):
        return t.db
    copy_ledger(t.db, target)
    return target


def test_concurrent_writers_recording_doses_for_one_subject_all_succeed(
    template: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
    store_target: StoreTarget,
) -> None:
    t = new_trial(template, tmp_path_factory, "busy")
    t.enrol("MC0282-001-041")  # anakinra on day 1
    db = on_store(t, store_target)
    writers, per_writer = 4, 6
    days = [[iso(day(2 + w + writers * k)) for k in range(per_writer)] for w in range(writers)]
    files = [store_arg(db), str(t.folder / "cole.key"), str(t.folder / "passphrase"), t.subject]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, *files, *dates],
            cwd=REPO,
            env={**os.environ, "TRIAL_LEDGER_PASSPHRASE": PASSPHRASE},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for dates in days
    ]
    results = [p.communicate(timeout=240) for p in procs]
    codes = [p.returncode for p in procs]
    assert codes == [0] * writers, [err for _, err in results]
    patient = run("patient", t.subject, "--db", db, "--json")
    assert patient.code == 0, patient
    doses = patient.json()["doses"]["anakinra"]
    assert doses["taken"] == 1 + writers * per_writer
    assert doses["last"] == iso(day(1 + writers * per_writer))
    assert run("verify", "--db", db).code == 0
