"""What the command line loads before it works, shell completion, and how its help reads.

`trial-ledger --help` lists the commands from cli.COMMANDS without importing a command module
(nor pydantic, eventsourcing or cryptography); a command imports only its own module; Typer's
shell completion works through `cli.main()`; help paragraphs are wrapped once, to the terminal,
and flags are shown as flags (no `<bool>` type).
"""

from __future__ import annotations

import os
import subprocess
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

import cli

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("pydantic", "eventsourcing", "cryptography")
LIGHT_CLI_MODULES = {"ledger.cli", "ledger.cli.common", "ledger.cli.command_tree"}
"""What cli.py itself imports of ledger/cli (no command is defined there)."""
WIDTH = 100


def _python(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _modules_after(*argv: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``trial-ledger argv``."""
    done = _python(
        "-c",
        "import sys, cli; code = cli.run(sys.argv[1:]); "
        "print('MODULES', *sorted(sys.modules)); raise SystemExit(code)",
        *argv,
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.rsplit("MODULES", 1)[1].split())


def _command_modules(loaded: set[str]) -> set[str]:
    return {m for m in loaded if m.startswith("ledger.cli.")} - LIGHT_CLI_MODULES


def _heavy(loaded: set[str]) -> set[str]:
    return {m for m in loaded if m.split(".")[0] in HEAVY}


@pytest.mark.parametrize("argv", [["--help"], ["--version"], []], ids=" ".join)
def test_the_root_help_and_version_import_no_command_module_nor_heavy_libraries(
    argv: list[str],
) -> None:
    if not argv:  # no arguments: the help, as a usage error (exit 2)
        done = _python("-c", "import sys, cli; cli.run([]); print('MODULES', *sys.modules)")
        loaded = set(done.stdout.rsplit("MODULES", 1)[1].split())
    else:
        loaded = _modules_after(*argv)
    assert _command_modules(loaded) == set()
    assert _heavy(loaded) == set()
    assert not {m for m in loaded if m.startswith("projections")}


def test_a_command_imports_only_its_own_module() -> None:
    loaded = _modules_after("dose", "--help")
    table_modules = {module for module, _ in cli.COMMANDS.values()}
    assert (_command_modules(loaded) & table_modules) == {cli.COMMANDS["dose"][0]}
    for unused in ("ledger.bundle", "ledger.backup", "projections", "ledger.cli.demo"):
        assert not {m for m in loaded if m == unused or m.startswith(unused + ".")}, unused


def test_verify_imports_neither_the_bundle_nor_the_projections() -> None:
    loaded = _modules_after("verify", "--help")
    assert _command_modules(loaded) & {m for m, _ in cli.COMMANDS.values()} == {
        "ledger.cli.verification"
    }
    assert not {m for m in loaded if m.startswith(("ledger.bundle", "projections"))}


def _complete(words: str, cword: int) -> list[str]:
    done = _python(
        "-c",
        "from cli import main; main()",
        env={
            "_TRIAL_LEDGER_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(cword),
        },
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_shell_completion_through_main_lists_commands_and_options() -> None:
    assert _complete("trial-ledger ver", 1) == ["verify", "verify-bundle"]
    assert "--json" in _complete("trial-ledger verify --j", 2)
    assert set(_complete("trial-ledger keys ", 2)) >= {"add", "list", "rotate", "revoke"}


def test_show_completion_prints_the_script_for_bash() -> None:
    done = _python("-c", "from cli import main; main()", "--show-completion", "bash")
    assert done.returncode == 0, done.stderr
    assert "_TRIAL_LEDGER_COMPLETE=complete_bash" in done.stdout


def _every_command_path() -> list[list[str]]:
    paths: list[list[str]] = [[]]

    def walk(command: Any, path: list[str]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            paths.append([*path, name])
            walk(sub, [*path, name])

    walk(cli.command(), [])
    return paths


def _help(capsys: pytest.CaptureFixture[str], path: list[str]) -> str:
    capsys.readouterr()
    assert cli.run([*path, "--help"]) == 0
    return capsys.readouterr().out


def test_the_root_help_lists_every_command_and_offers_completion(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = _help(capsys, [])
    for name in cli.COMMANDS:
        assert f" {name} " in out, name
    assert "--install-completion" in out
    assert "--show-completion" in out


def test_no_help_shows_a_bool_type_column(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    shown = {" ".join(path) or "(root)": _help(capsys, path) for path in _every_command_path()}
    assert len(shown) > 40
    assert [name for name, out in shown.items() if "<bool>" in out] == []
    assert "--json " in shown["verify"]


def _description_paragraphs(out: str) -> list[list[str]]:
    """The paragraphs of a help's description (after the usage, before the first panel),
    each as its rendered lines (the one-column padding removed)."""
    lines = [line.rstrip() for line in out.splitlines()]
    start = next(i for i, line in enumerate(lines) if "Usage:" in line) + 1
    end = next(i for i, line in enumerate(lines) if line.startswith("╭"))
    paragraphs: list[list[str]] = [[]]
    for line in lines[start:end]:
        if line.strip():
            paragraphs[-1].append(line.removeprefix(" "))
        elif paragraphs[-1]:
            paragraphs.append([])
    return [p for p in paragraphs if p]


@pytest.mark.parametrize("path", [["verify"], ["dose"], ["backup"], ["patient"], ["keys", "add"]])
def test_help_paragraphs_are_wrapped_once_to_the_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, path: list[str]
) -> None:
    """At 100 columns no line of a paragraph ends early: each but the last is at least 60
    characters long, and the next line's first word would not have fitted on it."""
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    paragraphs = _description_paragraphs(_help(capsys, path))
    assert len(paragraphs) >= 2
    assert any(len(p) >= 2 for p in paragraphs)  # a paragraph long enough to wrap at all
    text_width = WIDTH - 2  # the help's one-column padding on each side
    for paragraph in paragraphs:
        for line, following in pairwise(paragraph):
            assert len(line) >= 60, (line, paragraph)
            assert len(line) + 1 + len(following.split()[0]) > text_width, (line, following)


def test_the_example_stays_one_paragraph_beginning_with_example(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    paragraphs = _description_paragraphs(_help(capsys, ["init"]))
    example = " ".join(paragraphs[-1])
    assert example.startswith("Example: trial-ledger init --db trial.db")
    assert example.endswith("--sponsor-key-out sponsor.key --ledger-key-out ledger.key")
