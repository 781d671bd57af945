"""A commit holding events of several subjects (a JSON Lines import) is one manifest row in its
own group, naming how many subjects and which: it is not a group of its own per commit (on a
ledger of imports that made one group header per commit listing hundreds of subject ids)."""

from __future__ import annotations

import json
from pathlib import Path

from projections.exports import verified_source
from projections.exports.inspection.gather import SEVERAL_GROUP, TRIAL_GROUP, gather
from tests.exports.conftest import Demo, cli

SUBJECTS = ("MC0282-001-026", "MC0282-001-025")


def test_a_commit_of_two_subjects_is_one_row_of_the_several_subjects_group(
    demo: Demo, tmp_path: Path
) -> None:
    copy = demo.copy_to(tmp_path)
    lines = tmp_path / "labs.jsonl"
    lines.write_text(
        "".join(
            json.dumps(
                {"command": "lab", "subject_id": s, "date": "2009-02-03",
                 "analyte": "serum_m_protein", "value": "1.2", "unit": "g/dL"}
            ) + "\n"
            for s in SUBJECTS
        )
    )  # fmt: skip
    done = cli(
        "import", str(lines), "--db", str(copy.db),
        "--key", str(copy.keys / "coordinator-001.key"), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    commit = json.loads(done.stdout)["commit"]
    with verified_source(copy.db) as source:
        gathered = gather(source)
        commits = source.report.commits
    labels = [g.label for g in gathered.groups]
    assert labels[0] == TRIAL_GROUP
    assert labels[-1] == SEVERAL_GROUP
    assert len(labels) == len(set(labels))
    (row,) = gathered.groups[-1].rows
    assert row.seq == commit
    assert row.kinds == "LabResulted \u00d72 (2 subjects, MC0282-001-025 to MC0282-001-026)"
    assert sum(len(g.rows) for g in gathered.groups) == gathered.commits == commits
