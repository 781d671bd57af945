"""README.md runs as written: every shell block, in order, in one fresh temporary folder.

The conventions (also stated in a comment near the top of README.md):

* Blocks fenced as ```sh or ```bash are run, in the order they appear in the README, by one
  ``bash`` process in one empty temporary folder holding a copy of ``examples/``, with the
  virtualenv's ``bin`` (the folder of ``sys.executable``) first on ``PATH``,
  ``TRIAL_LEDGER_PASSPHRASE`` set and stdin closed (``/dev/null``). Variables, ``export`` and
  ``cd`` carry over from command to command and from block to block.
* A block whose nearest non-blank line above the fence is ``<!-- no-run -->`` is not run (the
  ``make demo`` / ``make test`` block at the top, which needs the repository and takes minutes,
  and the setup a reader types by hand). Fences with another language (or none) are not shell
  and are not run. ```console blocks are refused: write ``sh`` with ``#>`` output lines.
* A command is a line that is neither blank nor a comment, together with the lines it continues
  onto with a trailing backslash. Each command must exit 0, or N when its last line carries a
  comment holding ``(exit N)``; the run stops at the first command that does not (``bash -e``).
* The lines starting with ``#>`` after a command are what it must print: its standard output,
  then its standard error without the progress lines (``verify: 8/41``). A line ``#> ...`` stands
  for any number of lines (none included); ``...`` inside a line for any text on that line.
  Trailing spaces are ignored. A command without ``#>`` lines has only its exit status checked.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tools.pg_cluster import PgCluster

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
EXAMPLES = REPO / "examples"

RUN_LANGUAGES = frozenset({"sh", "bash"})
REFUSED_LANGUAGES = frozenset({"console", "shell-session"})
NO_RUN = "<!-- no-run -->"
OUTPUT_PREFIX = "#>"
ANY_LINES = "..."
PASSPHRASE = "readme walkthrough passphrase"
TIME_LIMIT_S = 300  # a hung command fails the test instead of blocking it

_FENCE = re.compile(r"^(```+)\s*([\w+-]*)\s*$")
_EXIT = re.compile(r"\s#.*\(exit (\d+)\b")
_PROGRESS = re.compile(r"^[a-z][a-z ]*: [\d,]+/[\d,]+$")


@dataclass(frozen=True)
class Command:
    line: int  # README line number of the command's first line
    text: str
    expected_exit: int
    shown: tuple[str, ...] | None  # None: the README shows no output for it


@dataclass(frozen=True)
class Block:
    line: int  # README line number of the opening fence
    language: str
    run: bool
    body: tuple[str, ...]


def fenced_blocks(markdown: str) -> list[Block]:
    """Every fenced block of a Markdown text, with its language and whether it is run."""
    blocks: list[Block] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, language = opening.groups()
        above = next((text.strip() for text in reversed(lines[:i]) if text.strip()), "")
        j = i + 1
        while j < len(lines) and lines[j].rstrip() != fence:
            j += 1
        if j == len(lines):
            raise AssertionError(f"README.md:{i + 1}: a fence that is never closed")
        if language in REFUSED_LANGUAGES:
            raise AssertionError(
                f"README.md:{i + 1}: a ```{language} block is not run by tests/readme; "
                "write ```sh with the output as #> lines"
            )
        run = language in RUN_LANGUAGES and above != NO_RUN
        blocks.append(Block(i + 1, language, run, tuple(lines[i + 1 : j])))
        i = j + 1
    return blocks


def commands_of(block: Block) -> list[Command]:
    """The commands of a shell block, each with its expected exit status and shown output."""
    commands: list[Command] = []
    text: list[str] = []
    start = 0
    shown: list[str] | None = None

    def close() -> None:
        if text:
            exit_match = _EXIT.search(text[-1])
            expected = int(exit_match.group(1)) if exit_match else 0
            output = None if shown is None else tuple(shown)
            commands.append(Command(start, "\n".join(text), expected, output))

    continued = False
    for offset, raw in enumerate(block.body):
        number = block.line + 1 + offset
        stripped = raw.strip()
        if continued:
            text.append(raw)
            continued = raw.rstrip().endswith("\\")
            continue
        if stripped.startswith(OUTPUT_PREFIX):
            if not text:
                raise AssertionError(f"README.md:{number}: output shown before any command")
            shown = [] if shown is None else shown
            shown.append(stripped[len(OUTPUT_PREFIX) :].removeprefix(" ").rstrip())
            continue
        if not stripped or stripped.startswith("#"):
            continue
        close()
        text, start, shown = [raw], number, None
        continued = raw.rstrip().endswith("\\")
    close()
    return commands


def readme_commands(markdown: str) -> list[Command]:
    return [c for block in fenced_blocks(markdown) if block.run for c in commands_of(block)]


def printed_lines(stdout: str, stderr: str) -> list[str]:
    """What a command printed, as the README shows it: stdout, then stderr without progress."""
    lines = [line.rstrip() for line in stdout.splitlines()]
    lines += [line.rstrip() for line in stderr.splitlines() if not _PROGRESS.match(line)]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def shown_pattern(shown: tuple[str, ...]) -> re.Pattern[str]:
    parts = []
    for line in shown:
        if line == ANY_LINES:
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*?".join(re.escape(piece) for piece in line.split("...")) + r"\n")
    return re.compile("".join(parts))


def output_matches(shown: tuple[str, ...], printed: list[str]) -> bool:
    """True when the printed lines are what the README shows, placeholders aside."""
    text = "".join(line + "\n" for line in printed)
    return shown_pattern(shown).fullmatch(text) is not None


def bash_script(commands: list[Command], results: Path) -> str:
    """One script running every command in the same shell, each one's output and status kept
    in ``results``; it stops at the first command whose status is not the expected one."""
    # A server started in the background (`serve ... &`) is stopped when the script ends,
    # whichever command it stops at.
    out = ["set -o pipefail", "trap 'kill $(jobs -p) 2>/dev/null' EXIT"]
    for n, command in enumerate(commands):
        stem = shlex.quote(str(results / str(n)))
        out.append(f"{{ {command.text}\n}} >{stem}.out 2>{stem}.err </dev/null")
        out.append(
            f"__readme_rc=$?; echo $__readme_rc >{stem}.rc; "
            f"[ $__readme_rc -eq {command.expected_exit} ] || exit 0"
        )
    return "\n".join(out) + "\n"


def walkthrough_environment() -> dict[str, str]:
    venv_bin = Path(sys.executable).parent
    if not (venv_bin / "trial-ledger").exists():
        pytest.fail(f"no trial-ledger beside {sys.executable}: run `make .venv/.installed-stamp`")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TRIAL_LEDGER_") and key not in {"COLUMNS", "LINES", "CDPATH"}
    }
    env.update(
        PATH=f"{venv_bin}{os.pathsep}{env.get('PATH', os.defpath)}",
        TRIAL_LEDGER_PASSPHRASE=PASSPHRASE,
        TZ="UTC",
        NO_COLOR="1",
    )
    return env


def describe(command: Command, results: Path, n: int, problem: str) -> str:
    stem = results / str(n)
    stdout = stem.with_suffix(".out").read_text(encoding="utf-8", errors="replace")
    stderr = stem.with_suffix(".err").read_text(encoding="utf-8", errors="replace")
    shown = "\n".join(command.shown or ())
    return (
        f"README.md:{command.line}: {problem}\n$ {command.text}\n"
        f"--- shown in the README:\n{shown}\n"
        f"--- stdout:\n{stdout[-4000:]}\n--- stderr:\n{stderr[-4000:]}"
    )


@pytest.mark.slow  # the whole walkthrough and the demo: about a minute on a busy machine
def test_every_readme_shell_block_runs_as_written(
    tmp_path: Path, pg_cluster: PgCluster, pg_url: str
) -> None:
    """The PostgreSQL walkthrough's ``ADMIN_URL``, ``WRITER_URL`` and ``READER_URL`` (set by
    hand in a no-run block) name a fresh database of the test session's throwaway cluster."""
    commands = readme_commands(README.read_text(encoding="utf-8"))
    assert commands, "README.md has no shell block to run"
    work, results = tmp_path / "walkthrough", tmp_path / "results"
    work.mkdir()
    results.mkdir()
    shutil.copytree(EXAMPLES, work / "examples")
    script = tmp_path / "readme.sh"
    script.write_text(bash_script(commands, results), encoding="utf-8")

    started = time.monotonic()
    dbname = pg_url.rsplit("/", 1)[1]
    env = walkthrough_environment()
    env.update(
        ADMIN_URL=pg_url,
        WRITER_URL=pg_cluster.url(dbname, "trial_writer"),
        READER_URL=pg_cluster.url(dbname, "trial_reader"),
    )
    shell = subprocess.run(
        ["bash", str(script)],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=TIME_LIMIT_S,
    )
    seconds = time.monotonic() - started

    problems: list[str] = []
    for n, command in enumerate(commands):
        rc_file = results / f"{n}.rc"
        if not rc_file.exists():
            problems.append(
                f"README.md:{command.line}: never ran (bash exit {shell.returncode}: "
                f"{shell.stderr.strip()[-2000:]})\n$ {command.text}"
            )
            break
        code = int(rc_file.read_text(encoding="utf-8"))
        if code != command.expected_exit:
            problems.append(
                describe(command, results, n, f"exit {code}, expected {command.expected_exit}")
            )
            break
        if command.shown is not None:
            stem = results / str(n)
            printed = printed_lines(
                stem.with_suffix(".out").read_text(encoding="utf-8", errors="replace"),
                stem.with_suffix(".err").read_text(encoding="utf-8", errors="replace"),
            )
            if not output_matches(command.shown, printed):
                problems.append(describe(command, results, n, "printed something else"))
    assert not problems, f"{len(commands)} commands, {seconds:.0f} s\n\n" + "\n\n".join(problems)


def test_readme_opens_with_make_demo_and_make_test_which_are_not_run() -> None:
    first = fenced_blocks(README.read_text(encoding="utf-8"))[0]
    assert not first.run
    lines = [line.split("#")[0].strip() for line in first.body]
    assert [line for line in lines if line] == ["make demo", "make test"]


def test_every_example_file_the_readme_names_is_shipped_and_used() -> None:
    text = README.read_text(encoding="utf-8")
    named = set(re.findall(r"examples/([\w.-]+)", text))
    shipped = {path.name for path in EXAMPLES.iterdir() if path.name != "README.md"}
    assert named <= shipped, f"named in README.md, missing from examples/: {named - shipped}"
    assert shipped <= named, f"in examples/, never used by README.md: {shipped - named}"


MARKDOWN = """\
<!-- no-run -->
```sh
make demo
```

```sh
trial-ledger verify --db trial.db   # exit 0 intact, 1 tampered
#> OK: ... 41 events
trial-ledger dose --db trial.db \\
    --drug dexamethasone   # refused (exit 2): nothing written
#> error: DOSE-NOT-IN-REGIMEN: ...
#> ...
# a comment, not output
ls
```

```text
not shell
```
"""


def test_blocks_commands_exit_codes_and_shown_output_are_read_by_the_documented_rules() -> None:
    blocks = fenced_blocks(MARKDOWN)
    assert [(b.language, b.run) for b in blocks] == [("sh", False), ("sh", True), ("text", False)]
    verify, dose, ls = readme_commands(MARKDOWN)
    assert (verify.line, verify.expected_exit, verify.shown) == (7, 0, ("OK: ... 41 events",))
    assert dose.text.endswith("--drug dexamethasone   # refused (exit 2): nothing written")
    assert (dose.expected_exit, dose.shown) == (2, ("error: DOSE-NOT-IN-REGIMEN: ...", "..."))
    assert (ls.text, ls.shown) == ("ls", None)
    with pytest.raises(AssertionError, match="console"):
        fenced_blocks("```console\n$ ls\n```\n")


def test_shown_output_must_be_what_was_printed_save_the_placeholders() -> None:
    printed = printed_lines(
        "OK: trial.db verified: 41 events\nroot abc=\n", "verify: 4/41\nerror: refused\n"
    )
    assert printed == ["OK: trial.db verified: 41 events", "root abc=", "error: refused"]
    assert output_matches(("OK: ... 41 events", "root ...", "error: refused"), printed)
    assert output_matches(("OK: trial.db verified: 41 events", "..."), printed)
    assert output_matches(("...", "error: refused"), printed)
    assert output_matches(("OK: ...", "...", "root abc=", "...", "error: refused"), printed)
    assert not output_matches(("OK: ... 42 events", "..."), printed)
    assert not output_matches(("OK: trial.db verified: 41 events",), printed)
    assert not output_matches(("...", "error: refused", "root abc="), printed)
    assert not output_matches(("OK: ...",), printed)
