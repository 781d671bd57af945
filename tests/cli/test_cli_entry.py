"""The command line's own options and its failure output for scripts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import cli
from tests.cli.test_clinical_paths import (
    ANAKINRA,
    MONTH_7,
    iso,
    new_trial,
    run,
    template,  # noqa: F401 - the module's template ledger fixture
)


def test_version_prints_the_installed_version() -> None:
    result = run("--version")
    assert result.code == 0
    assert result.out.startswith("trial-ledger ")
    assert result.out.split()[1][0].isdigit()


def test_a_refused_json_command_prints_an_error_object_on_stdout(
    template: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    t = new_trial(template, tmp_path_factory, "json-error")
    t.enrol("MC0282-001-042")
    refused = t.record("cole", *t.dose_args(MONTH_7, "dexamethasone", "20", "PO"))
    assert refused.code == 2
    error = json.loads(refused.out)
    assert error["exit_code"] == 2
    assert error["rule"] == "REC-TRANSITION-DUE"
    assert "was due on" in error["error"]
    assert refused.err.startswith("error: ")
    bad_date = t.record("cole", *t.dose_args(MONTH_7, *ANAKINRA)[:-1], "2003-13-01")
    assert json.loads(bad_date.out)["error"].startswith("--date '2003-13-01'")
    no_day = t.record("cole", *t.dose_args(MONTH_7, *ANAKINRA)[:-1], "2003-02-30")
    assert (
        json.loads(no_day.out)["error"] == "--date '2003-02-30': no such calendar day (YYYY-MM-DD)"
    )
    value = t.record("cole", "lab", "--subject", t.subject, "--analyte", "serum_m_protein",
                     "--value", "99", "--unit", "g/dL", "--date", iso(MONTH_7))  # fmt: skip
    error = json.loads(value.out)
    assert (error["rule"], error["field"], error["value"]) == ("LAB-RANGE", "value", "99")


def test_a_missing_option_is_named_in_the_json_error_object(tmp_path: Path) -> None:
    result = run("dose", "--db", tmp_path / "t.db", "--key", tmp_path / "k.key", "--subject",
                 "MC0282-001-017", "--drug", "anakinra", "--route", "SC", "--json")  # fmt: skip
    assert result.code == 2
    error = json.loads(result.out)
    assert (error["field"], error["exit_code"]) == ("--dose", 2)
    assert "Missing option '--dose'" in error["error"]
    assert not (tmp_path / "t.db").exists()


def _leaf_commands(cmd: Any, path: list[str]) -> list[tuple[str, Any]]:
    subs = getattr(cmd, "commands", None)
    if not subs:
        return [(" ".join(path), cmd)]
    return [found for name, sub in subs.items() for found in _leaf_commands(sub, [*path, name])]


def test_every_command_and_subcommand_has_an_example_in_its_help() -> None:
    commands = _leaf_commands(cli.command(), [])
    assert len(commands) > 30
    missing = [name for name, cmd in commands if "Example: trial-ledger" not in (cmd.help or "")
               and "trial-ledger " + name not in (cmd.help or "")]  # fmt: skip
    assert missing == []


def test_the_backup_commands_default_step_is_the_backup_modules() -> None:
    from ledger.backup import PAGES_PER_STEP  # noqa: PLC0415

    backup = dict(_leaf_commands(cli.command(), []))["backup"]
    step = next(p for p in backup.params if p.name == "pages_per_step")
    assert step.default == PAGES_PER_STEP


@pytest.mark.parametrize(
    "given",
    [("--deviation-rule", "DOSE-NOT-IN-REGIMEN"), ("--deviation-reason", "given by mistake")],
    ids=["rule-only", "reason-only"],
)
def test_a_deviation_needs_its_rule_and_its_reason(tmp_path: Path, given: tuple[str, str]) -> None:
    for _ in range(2):  # a refused half leaves nothing behind for the next command
        result = run("dose", "--db", tmp_path / "t.db", "--key", tmp_path / "k.key", "--subject",
                     "MC0282-001-017", "--drug", "anakinra", "--dose", "100", "--route", "SC",
                     *given, "--json")  # fmt: skip
        assert result.code == 2
        assert json.loads(result.out)["error"] == (
            "give both --deviation-rule and --deviation-reason, or neither"
        )
    assert not (tmp_path / "t.db").exists()


def test_output_cut_short_by_a_closed_pipe_exits_141_quietly(tmp_path: Path) -> None:
    """`trial-ledger log ... | head -1`: the reader going away is not an integrity failure (1)
    nor a refusal (2): 141 (128 + SIGPIPE), as a shell reports it, and no message."""
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    env = {**os.environ, "TRIAL_LEDGER_PASSPHRASE": "pipe test"}
    trial_ledger = str(Path(sys.executable).parent / "trial-ledger")
    made = subprocess.run(
        [trial_ledger, "demo", "--db", str(tmp_path / "t.db"), "--keys", str(tmp_path / "k"),
         "--json"],
        capture_output=True, env=env, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    script = f'"{trial_ledger}" log --db "{tmp_path / "t.db"}" | head -1; exit ${{PIPESTATUS[0]}}'
    done = subprocess.run(["bash", "-c", script], capture_output=True, env=env, check=False)
    assert done.returncode == 141
    assert done.stdout.decode().startswith("   pos  clinical")
    assert done.stderr == b""
