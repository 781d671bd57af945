"""Hostile and careless input through the command line: every refusal is exit 2, one short
message naming the line, the field, a truncated value and the rule, no traceback, bounded
memory, and nothing written (the ledger's tree size and root are unchanged)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cli
from ledger import input_limits
from ledger.errors import LedgerError, ValidationError, show_value
from ledger.input_limits import (
    MAX_DEPTH,
    MAX_DIGITS,
    MAX_FILE_BYTES,
    MAX_LINE_BYTES,
    MAX_LINES,
    MAX_VALUES,
    ImportFileRefused,
    read_import_lines,
)
from ledger.integrity.signing import Signer, generate_private_key, write_private_key
from ledger.jsonl import parse_line
from ledger.recording import TrialRecorder
from ledger.service import person_key
from tests.domain.trial_helpers import SUBJECT, TODAY, day, enrol_subject
from tests.support import GENESIS_DATE, Cast, create_ledger
from tools.peak_rss import Measured

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "hostile input passphrase"
MEMORY_LIMIT_KB = 300 * 1024
SHORT = 1_000
SUBPROCESS_TIMEOUT = 60.0


@dataclass(frozen=True)
class Trial:
    db: Path
    key: Path
    revoked_key: Path
    passphrase: Path
    folder: Path


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str
    peak_rss_kb: int = 0


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory, cast: Cast) -> Trial:
    """A ledger with the cast, SUBJECT enrolled (induction from START), a coordinator of site
    001 whose key file is on disk, and a revoked coordinator's key file."""
    folder = tmp_path_factory.mktemp("hostile")
    passphrase = folder / "passphrase"
    passphrase.write_text(PASSPHRASE + "\n", encoding="utf-8")
    passphrase.chmod(0o600)
    db = folder / "trial.db"
    keys = {}
    for who in ("cole", "leaver"):
        private = generate_private_key()
        write_private_key(folder / f"{who}.key", private, PASSPHRASE.encode())
        keys[who] = Signer(private)
    with create_ledger(db, cast) as ledger:
        for who, name in (("cole", "Cole Hart"), ("leaver", "Lee Aver")):
            signer = keys[who]
            key = person_key(signer.public_key, signer.key_id, name, "coordinator", "001")
            ledger.register_key(cast.sponsor, key, "trial staff", GENESIS_DATE)
        ledger.revoke_key(cast.sponsor, keys["leaver"].key_id, "left the trial", GENESIS_DATE)
        enrol_subject(TrialRecorder(ledger, clock=lambda: TODAY), cast)
    return Trial(db, folder / "cole.key", folder / "leaver.key", passphrase, folder)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    code = cli.run(list(argv))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def signed(trial: Trial, *argv: str, key: Path | None = None) -> list[str]:
    return [
        *argv,
        "--db",
        str(trial.db),
        "--key",
        str(key or trial.key),
        "--passphrase-file",
        str(trial.passphrase),
    ]


def tree(capsys: pytest.CaptureFixture[str], db: Path) -> tuple[int, str]:
    """The ledger's tree size and root, as `verify --json` reports them."""
    result = run(capsys, "verify", "--db", str(db), "--json")
    assert result.code == 0, result
    report = json.loads(result.out)
    return report["tree_size"], report["root"]


def refused(result: Result, *fragments: str) -> None:
    assert result.code == 2, result
    assert "Traceback" not in result.err
    assert result.out == ""
    assert result.err.startswith("error: "), result.err
    assert len(result.err) < SHORT, len(result.err)
    for fragment in fragments:
        assert fragment in result.err, (fragment, result.err)


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def dose_line(on_day: int, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "command": "dose",
        "subject_id": SUBJECT,
        "date": day(on_day).isoformat(),
        "drug": "anakinra",
        "dose": "100",
        "route": "SC",
    }
    document.update(changes)
    return document


def import_refused(
    capsys: pytest.CaptureFixture[str], trial: Trial, file: Path, *fragments: str
) -> Result:
    """Import ``file``: refused (exit 2, short, no traceback) and nothing written."""
    before = tree(capsys, trial.db)
    result = run(capsys, *signed(trial, "import", str(file)))
    refused(result, *fragments)
    assert tree(capsys, trial.db) == before
    return result


# --------------------------------------------------------------------------- real processes


def console_script() -> list[str]:
    script = Path(sys.executable).parent / "trial-ledger"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli"]


def run_process(argv: list[str], timeout: float = SUBPROCESS_TIMEOUT) -> Result:
    """Run the real console script; its own peak RSS (:mod:`tools.peak_rss`: the test process's
    imports are not charged to it), the whole process group killed after ``timeout``."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        measured = Measured(
            [*console_script(), *argv],
            stdout=out, stderr=err, cwd=ROOT, env=dict(os.environ), start_new_session=True,
        )  # fmt: skip
        process = measured.process
        timer = threading.Timer(timeout, os.killpg, (process.pid, 9))
        timer.start()
        try:
            process.wait()
        finally:
            timer.cancel()
        out.seek(0)
        err.seek(0)
        return Result(
            process.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            measured.peak_rss_kb(),
        )


def process_refused(
    capsys: pytest.CaptureFixture[str], trial: Trial, file: str, *fragments: str
) -> Result:
    before = tree(capsys, trial.db)
    result = run_process(signed(trial, "import", file))
    refused(result, *fragments)
    assert result.peak_rss_kb < MEMORY_LIMIT_KB, result.peak_rss_kb
    assert tree(capsys, trial.db) == before
    return result


# --------------------------------------------------------------------------- the import file


def test_imports_a_valid_diary_as_a_positive_control(
    capsys: pytest.CaptureFixture[str], trial: Trial, tmp_path: Path
) -> None:
    size, _ = tree(capsys, trial.db)
    diary = write_lines(tmp_path / "ok.jsonl", json.dumps(dose_line(1)), "", "   ")
    result = run(capsys, *signed(trial, "import", str(diary), "--json"))
    assert result.code == 0, result
    assert tree(capsys, trial.db)[0] == size + 1


def test_refuses_a_line_nested_100000_levels_deep_without_recursing(
    capsys: pytest.CaptureFixture[str], trial: Trial, tmp_path: Path
) -> None:
    deep = tmp_path / "deep.jsonl"
    deep.write_text("[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    result = import_refused(capsys, trial, deep, "line 1: line='[[[", "[INPUT-DEPTH]", "32 deep")
    assert "(200,000 bytes)" in result.err


def test_refuses_deep_nesting_inside_a_field_naming_the_field(
    capsys: pytest.CaptureFixture[str], trial: Trial, tmp_path: Path
) -> None:
    line = json.dumps(dose_line(2)).replace('"SC"', '"SC", "deviation": ' + "[" * 40 + "]" * 40)
    file = write_lines(tmp_path / "deep-field.jsonl", line)
    import_refused(capsys, trial, file, "line 1: deviation='[[[", "[INPUT-DEPTH]")


def test_a_line_of_escaped_quotes_is_scanned_in_linear_time(
    capsys: pytest.CaptureFixture[str], trial: Trial, tmp_path: Path
) -> None:
    file = write_lines(tmp_path / "quotes.jsonl", '"' + '\\"' * 400_000 + "[" * 40)
    started = time.monotonic()
    import_refused(capsys, trial, file, "line 1: line=", "[INPUT-JSON] not JSON")
    assert time.monotonic() - started < 10


def test_refuses_a_5000_digit_integer_naming_the_field(
    capsys: pytest.CaptureFixture[str], trial: Trial, tmp_path: Path
) -> None:
    line = json.dumps(dose_line(2)).replace('"100"', "9" * 5000)
    file = write_lines(tmp_path / "digits.jsonl", line)
    result = import_refused(
        capsys, trial, file, "line 1: dose=9999", "(5,000 digits)", "[INPUT-NUMBER]", "40 digits"
    )
    assert "9" * 100 not in result.err


@pytest.mark.parametrize(
    ("field", "written", "shown", "rule"),
    [
        ("dose", "1e308", "dose=1e308 refused", "[INPUT-NUMBER]"),
        ("dose", '"1E+308"', "dose='1E+308' refused", "less than or equal to 1000"),
        ("dose", "1e-999999999999", "dose=1e-999999999999 refused", "[INPUT-NUMBER]"),
        ("value", '"1E-999999999"', "value=1E-999999999 refused", "[INPUT-NUMBER]"),
        ("value", '"0.' + "0" * 50 + '1"', "of the order of 1E-51", "[INPUT-NUMBER]"),
        ("dose", "NaN", "dose=NaN refused", "[INPUT-NUMBER]"),
        ("dose", "-Infinity", "dose=-Infinity refused", "[INPUT-NUMBER]"),
    ],
)
def test_refuses_absurd_numbers_in_json_and_in_strings(
    capsys: pytest.CaptureFixture[str],
    trial: Trial,
    tmp_path: Path,
    field: str,
    written: str,
    shown: str,
    rule: str,
) -> None:
    document = (
        dose_line(2)
        if field == "dose"
        else {
            "command": "lab",
            "subject_id": SUBJECT,
            "date": day(2).isoformat(),
            "analyte": "serum_m_protein",
            "value": "100",
            "unit": "g/dL",
        }
    )
    line = json.dumps(document).replace('"100"', written)
    file = write_lines(tmp_path / "absurd.jsonl", line)
    import_refused(capsys, trial, file, "line 1: ", shown, rule)


def test_refuses_a_50_megabyte_field_without_echoing_it(
    capsys: pytest.CaptureFixture[str], trial: Trial, tmp_path: Path
) -> None:
    huge = tmp_path / "huge.jsonl"
    with huge.open("w", encoding="utf-8") as f:
        f.write(f'{{"command": "follow-up", "subject_id": "{SUBJECT}", "note": "')
        f.write("A" * (50 * 1024 * 1024))
        f.write('", "date": "2003-02-03", "disease_status": "unknown"}\n')
    result = process_refused(
        capsys,
        trial,
        str(huge),
        "line 1: note='AAAA",
        "[IMPORT-LINE-SIZE]",
        "1,048,576 bytes (1 MiB)",
        "52,428,",
    )
    assert "A" * 100 not in result.err


def test_refuses_import_line_over_one_mebibyte(tmp_path: Path) -> None:
    exact = tmp_path / "exact.jsonl"
    exact.write_bytes(b" " * MAX_LINE_BYTES + b"\n" + b"x" * (MAX_LINE_BYTES + 1) + b"\n")
    lines = read_import_lines(exact)
    assert next(lines) == " " * MAX_LINE_BYTES
    with pytest.raises(ImportFileRefused, match=r"line 2: line='xxx.*\[IMPORT-LINE-SIZE\]"):
        next(lines)


def test_refuses_dev_zero_as_binary_in_bounded_memory(
    capsys: pytest.CaptureFixture[str], trial: Trial
) -> None:
    process_refused(capsys, trial, "/dev/zero", "line 1: ", "NUL byte", "[INPUT-BINARY]")


def _endless_writer(fifo: Path, chunk: bytes, stop: threading.Event) -> None:
    try:
        with fifo.open("wb") as f:
            while not stop.is_set():
                f.write(chunk)
    except (BrokenPipeError, OSError):
        return


@pytest.fixture
def endless_fifo(tmp_path: Path) -> Iterator[tuple[Path, threading.Event, list[threading.Thread]]]:
    fifo = tmp_path / "endless.jsonl"
    os.mkfifo(fifo)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    yield fifo, stop, threads
    stop.set()
    for thread in threads:
        if thread.is_alive():  # a writer still blocked in open(): let it open and end
            with fifo.open("rb"):
                pass
        thread.join(timeout=5)


@pytest.mark.parametrize(
    ("chunk", "fragments"),
    [
        (b"x" * 65536, ("line 1: line='xxx", "[IMPORT-LINE-SIZE]", "over 67,10")),
        (b"   \n" * 16384, (f"line {MAX_LINES + 1}: lines=over", "[IMPORT-LINES]")),
    ],
    ids=["one-endless-line", "endless-lines"],
)
def test_refuses_a_fifo_that_never_ends(
    capsys: pytest.CaptureFixture[str],
    trial: Trial,
    endless_fifo: tuple[Path, threading.Event, list[threading.Thread]],
    chunk: bytes,
    fragments: tuple[str, ...],
) -> None:
    fifo, stop, threads = endless_fifo
    writer = threading.Thread(target=_endless_writer, args=(fifo, chunk, stop), daemon=True)
    threads.append(writer)
    writer.start()
    process_refused(capsys, trial, str(fifo), *fragments)


def test_refuses_a_file_of_more_than_the_line_limit(
    capsys: pytest.CaptureFixture[str], trial: Trial, tmp_path: Path
) -> None:
    many = tmp_path / "many.jsonl"
    many.write_bytes(b"\n" * (MAX_LINES + 1))
    import_refused(
        capsys, trial, many, f"line {MAX_LINES + 1}: lines=over 100,000", "[IMPORT-LINES]"
    )


def test_refuses_a_file_over_the_size_limit_before_reading_it(
    capsys: pytest.CaptureFixture[str], trial: Trial, tmp_path: Path
) -> None:
    big = tmp_path / "big.jsonl"
    with big.open("wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing to write
    import_refused(capsys, trial, big, "file=67,108,865 bytes", "[IMPORT-FILE-SIZE]", "split it")


def test_refuses_a_binary_file(
    capsys: pytest.CaptureFixture[str], trial: Trial, tmp_path: Path
) -> None:
    png = tmp_path / "scan.jsonl"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    import_refused(
        capsys, trial, png, "line 1: line=binary data (NUL byte at byte 9", "[INPUT-BINARY]"
    )


def test_refuses_invalid_utf8_naming_line_and_byte(
    capsys: pytest.CaptureFixture[str], trial: Trial, tmp_path: Path
) -> None:
    latin = tmp_path / "latin1.jsonl"
    good = json.dumps(dose_line(3)).encode()
    latin.write_bytes(good + b"\n" + good.replace(b"SC", b"S\xe9") + b"\n")
    import_refused(
        capsys, trial, latin, "line 2: line=byte 0xe9 at column", "[INPUT-ENCODING]", "UTF-8"
    )


@pytest.mark.parametrize(("bom", "encoding"), [(b"\xef\xbb\xbf", "UTF-8"), (b"\xff\xfe", "UTF-16")])
def test_refuses_a_byte_order_mark(
    capsys: pytest.CaptureFixture[str], trial: Trial, tmp_path: Path, bom: bytes, encoding: str
) -> None:
    file = tmp_path / "bom.jsonl"
    file.write_bytes(bom + json.dumps(dose_line(3)).encode() + b"\n")
    import_refused(
        capsys, trial, file, "line 1: line=byte order mark", f"{encoding} byte order mark"
    )


def test_refuses_a_line_of_too_many_values(
    capsys: pytest.CaptureFixture[str], trial: Trial, tmp_path: Path
) -> None:
    line = dose_line(3, seriousness_criteria=["death"] * 5000)
    file = write_lines(tmp_path / "wide.jsonl", json.dumps(line))
    import_refused(capsys, trial, file, "line 1: seriousness_criteria=", "[INPUT-VALUES]")


def test_refuses_a_duplicated_key(
    capsys: pytest.CaptureFixture[str], trial: Trial, tmp_path: Path
) -> None:
    line = json.dumps(dose_line(3))[:-1] + ', "dose": "1000"}'
    file = write_lines(tmp_path / "twice.jsonl", line)
    import_refused(capsys, trial, file, "line 1: dose='1000' refused", "[INPUT-DUPLICATE-KEY]")


def test_escapes_terminal_control_characters_in_a_refused_value(
    capsys: pytest.CaptureFixture[str], trial: Trial, tmp_path: Path
) -> None:
    line = json.dumps(dose_line(3, route="\u001b[2J\u001b]0;owned\u0007"))
    file = write_lines(tmp_path / "escape.jsonl", line)
    result = import_refused(capsys, trial, file, "line 1: route='\\x1b[2J")
    assert "\x1b" not in result.err
    assert "\x07" not in result.err


def test_cuts_a_long_refused_value_after_80_characters(
    capsys: pytest.CaptureFixture[str], trial: Trial, tmp_path: Path
) -> None:
    line = json.dumps(dose_line(3, route="R" * 500_000))
    file = write_lines(tmp_path / "long.jsonl", line)
    result = import_refused(capsys, trial, file, "line 1: route='" + "R" * 80 + "'…(500,000 bytes)")
    assert "R" * 81 not in result.err


def test_a_line_repeated_in_one_import_names_no_python_none(
    capsys: pytest.CaptureFixture[str], trial: Trial, tmp_path: Path
) -> None:
    line = json.dumps(dose_line(5))
    file = write_lines(tmp_path / "twice.jsonl", line, line)
    result = import_refused(
        capsys, trial, file, "line 2: [REC-DUPLICATE-DOSE]", "earlier in this commit"
    )
    assert "None" not in result.err


def test_refuses_an_import_from_a_folder_or_a_missing_file(
    capsys: pytest.CaptureFixture[str], trial: Trial, tmp_path: Path
) -> None:
    refused(run(capsys, *signed(trial, "import", str(tmp_path))), "Is a directory")
    refused(run(capsys, *signed(trial, "import", str(tmp_path / "none.jsonl"))), "No such file")


def test_a_hostile_import_shows_no_traceback_in_a_real_process(
    capsys: pytest.CaptureFixture[str], trial: Trial, tmp_path: Path
) -> None:
    deep = tmp_path / "deep.jsonl"
    deep.write_text("{" + '"a":{' * 50_000 + "}" * 50_001 + "\n", encoding="utf-8")
    process_refused(capsys, trial, str(deep), "line 1: a='{", "[INPUT-DEPTH]")


# --------------------------------------------------------------------------- other inputs


def test_refuses_hostile_eligibility_inputs_files(
    capsys: pytest.CaptureFixture[str], trial: Trial, tmp_path: Path
) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000, encoding="utf-8")
    cases = [
        (deep, "[INPUT-DEPTH]"),
        (Path("/dev/zero"), "[INPUT-FILE-SIZE]"),
    ]
    for inputs, rule in cases:
        argv = [
            "eligibility",
            "--subject",
            SUBJECT,
            "--inputs",
            str(inputs),
            "--date",
            "2003-01-08",
        ]
        refused(run(capsys, *signed(trial, *argv)), "--inputs", rule)


def test_an_inputs_file_missing_every_field_lists_a_few_as_missing(
    capsys: pytest.CaptureFixture[str], trial: Trial, tmp_path: Path
) -> None:
    inputs = tmp_path / "empty.json"
    inputs.write_text('{"ecog": null}', encoding="utf-8")
    argv = ["eligibility", "--subject", SUBJECT, "--inputs", str(inputs), "--date", "2003-01-08"]
    result = run(capsys, *signed(trial, *argv))
    refused(result, "age_years=missing refused: Field required", " more")
    assert result.err.count("refused") == 10
    assert "None" not in result.err


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (
            ["dose", "--drug", "anakinra", "--dose", "1e400", "--route", "SC"],
            ("--dose=1e400 refused", "[INPUT-NUMBER]", "1E+400"),
        ),
        (
            ["dose", "--drug", "anakinra", "--dose", "9" * 5000, "--route", "SC"],
            ("--dose=9999", "(5,000 digits)", "[INPUT-NUMBER]"),
        ),
        (
            ["dose", "--drug", "anakinra", "--dose", "5000", "--route", "SC"],
            ("dose=5000 refused", "less than or equal to 1000"),
        ),
        (
            ["lab", "--analyte", "serum_m_protein", "--value", "1e-999999999999", "--unit", "g/dL"],
            ("--value=1e-999999999999 refused", "[INPUT-NUMBER]"),
        ),
        (
            ["screen", "--site", "001", "--age", "99999999999999999999", "--sex", "F"],
            ("--age=99999999999999999999 refused", "less than or equal to 120"),
        ),
    ],
    ids=["dose-1e400", "dose-5000-digits", "dose-5000", "lab-tiny", "age-huge"],
)
def test_refuses_huge_numbers_in_options(
    capsys: pytest.CaptureFixture[str], trial: Trial, argv: list[str], fragments: tuple[str, ...]
) -> None:
    before = tree(capsys, trial.db)
    subject = "MC0282-001-090" if argv[0] == "screen" else SUBJECT
    result = run(capsys, *signed(trial, *argv, "--subject", subject, "--date", "2003-02-03"))
    refused(result, *fragments)
    assert "Decimal(" not in result.err
    assert tree(capsys, trial.db) == before


def test_a_revoked_key_is_refused_for_a_new_commit_without_an_internal_position(
    capsys: pytest.CaptureFixture[str], trial: Trial
) -> None:
    argv = ["screen", "--subject", "MC0282-001-091", "--site", "001", "--age", "50", "--sex", "F"]
    result = run(capsys, *signed(trial, *argv, "--date", "2003-02-03", key=trial.revoked_key))
    assert result.code == 2, result
    assert "revoked" in result.err
    assert "at the head of the ledger" in result.err
    assert str(2**62) not in result.err


def test_a_huge_option_never_shows_a_traceback(
    capsys: pytest.CaptureFixture[str], trial: Trial
) -> None:
    result = run(capsys, "log", "--db", str(trial.db), "--limit", "9" * 30)
    assert result.code == 2, result
    assert "Traceback" not in result.err
    assert len(result.err) < SHORT


# --------------------------------------------------------------------------- values as written


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "missing"),
        (Decimal("1E+308"), "1E+308"),
        (Decimal("2.45"), "2.45"),
        (10**5000, "1" + "0" * 39 + "…(5,001 digits)"),
        (True, "true"),
        ("x" * 100, "'" + "x" * 80 + "'…(100 bytes)"),
        ("é" * 100, "'" + "é" * 80 + "'…(200 bytes)"),
        ([1] * 1000, "[1, 1, 1, 1, 1, 1, 1, 1, …(1,000 items)]"),
    ],
    ids=["none", "huge-decimal", "decimal", "huge-int", "bool", "long", "utf8", "list"],
)
def test_shows_values_as_a_person_writes_them(value: object, shown: str) -> None:
    assert show_value(value) == shown


def test_a_missing_value_is_shown_as_missing() -> None:
    with pytest.raises(ValidationError, match=r"^waiver=missing refused: needed$"):
        raise ValidationError("waiver", None, "needed")


def test_a_missing_import_field_is_shown_as_missing() -> None:
    with pytest.raises(ValidationError, match=r"^route=missing refused: Field required$"):
        parse_line(json.dumps({k: v for k, v in dose_line(3).items() if k != "route"}))


def test_an_ae_id_of_non_ascii_digits_is_refused_by_the_import_format() -> None:
    line = {
        "command": "ae-resolve",
        "subject_id": SUBJECT,
        "date": "2003-02-03",
        "ae_id": "AE-\u0661\u0662\u0663",
        "outcome": "recovered",
    }
    with pytest.raises(ValidationError, match=r"^ae_id='AE-.*' refused: .*\[0-9\]"):
        parse_line(json.dumps(line))


# --------------------------------------------------------------------------- limits as properties


@settings(max_examples=60, deadline=None)
@given(depth=st.integers(min_value=1, max_value=3 * MAX_DEPTH), brace=st.booleans())
def test_nesting_is_accepted_up_to_the_limit_and_refused_beyond(depth: int, brace: bool) -> None:
    text = '{"a":' * depth + "1" + "}" * depth if brace else "[" * depth + "]" * depth
    if depth <= MAX_DEPTH:
        input_limits.loads(text)
    else:
        with pytest.raises(ValidationError, match=r"\[INPUT-DEPTH\]"):
            input_limits.loads(text)


@settings(max_examples=60, deadline=None)
@given(digits=st.integers(min_value=1, max_value=3 * MAX_DIGITS), fraction=st.booleans())
def test_numbers_are_accepted_up_to_40_digits_and_refused_beyond(
    digits: int, fraction: bool
) -> None:
    written = "7" * digits
    if fraction and digits > 1:
        written = written[:1] + "." + written[1:]
    text = '{"dose": ' + written + "}"
    if digits <= MAX_DIGITS:
        assert input_limits.loads(text)["dose"] == Decimal(written)
    else:
        with pytest.raises(ValidationError, match=r"^dose=7.*\[INPUT-NUMBER\]"):
            input_limits.loads(text)


def _values(document: object) -> int:
    """Array items and object members over every level, counted on the parsed document."""
    if isinstance(document, list):
        return len(document) + sum(_values(item) for item in document)
    if isinstance(document, dict):
        return len(document) + sum(_values(member) for member in document.values())
    return 0


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 400), min_size=1, max_size=6),
    member=st.sampled_from([0, "a,b,[{", [], {}, {"k": [1, 2]}]),
)
def test_values_are_counted_over_all_levels_up_to_the_limit(
    sizes: list[int], member: object
) -> None:
    document = [[member] * size for size in sizes]
    text = json.dumps(document)
    if _values(document) <= MAX_VALUES:
        assert input_limits.loads(text) == document
    else:
        with pytest.raises(ValidationError, match=r"\[INPUT-VALUES\]"):
            input_limits.loads(text)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300) | st.from_regex(r"[\[\]{}\",:0-9eE.+\- a-z\\]{0,300}"))
def test_any_line_is_parsed_or_refused_with_a_short_message(text: str) -> None:
    refusal = ""
    try:
        parse_line(text)
    except LedgerError as e:  # the only way a line may fail
        refusal = str(e)
    assert len(refusal) < SHORT


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=600))
def test_any_bytes_are_read_as_lines_or_refused(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("bytes") / "any.jsonl"
    path.write_bytes(data)
    lines: list[str] = []
    refusal = ""
    try:
        lines = list(read_import_lines(path))
    except ImportFileRefused as e:  # the only way a file may fail
        refusal = str(e)
    assert len(refusal) < SHORT
    if not refusal:
        assert len(lines) == data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
