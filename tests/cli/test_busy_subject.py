"""No lost work on a busy subject: writers recording different doses for one subject at once
all succeed (the recorder reloads the subject, checks the rules again and retries)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.adversarial.ledgers import PASSPHRASE
from tests.cli.test_clinical_paths import (
    iso,
    new_trial,
    template,  # noqa: F401 - the module's template ledger fixture
)
from tests.domain.trial_helpers import day

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


def test_concurrent_writers_recording_doses_for_one_subject_all_succeed(
    template: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    t = new_trial(template, tmp_path_factory, "busy")
    t.enrol("MC0282-001-041")  # anakinra on day 1
    writers, per_writer = 4, 6
    days = [[iso(day(2 + w + writers * k)) for k in range(per_writer)] for w in range(writers)]
    files = [str(t.db), str(t.folder / "cole.key"), str(t.folder / "passphrase"), t.subject]
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
    doses = t.patient()["doses"]["anakinra"]
    assert doses["taken"] == 1 + writers * per_writer
    assert doses["last"] == iso(day(1 + writers * per_writer))
