"""Hostile bundle files through `verify-bundle`: every one is an integrity failure (exit 1) with
one message naming the file, the line and what is wrong, never a traceback or an internal
error; an intact bundle still verifies, and a manifest whose counts disagree with the files is
reported beside the verification it does not take part in."""

from __future__ import annotations

import json
import random
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli import run
from ledger.bundle import MAX_LINE_BYTES, BundleSource
from ledger.errors import VerificationError
from tests.adversarial.ledgers import build_base, run_cli


@dataclass(frozen=True)
class Exported:
    bundle: Path
    sponsor_pub: Path
    events: int
    commits: int


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    base = build_base(tmp_path_factory.mktemp("hostile-bundles"))
    bundle = base.folder / "bundle"
    assert run_cli("export-bundle", "--db", base.db, "--out", bundle) == 0
    manifest = json.loads((bundle / "manifest.json").read_text("utf-8"))
    return Exported(
        bundle, Path(f"{base.sponsor_key}.pub"), manifest["events"], manifest["commits"]
    )


@pytest.fixture
def bundle(exported: Exported, tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(exported.bundle, copy)
    return copy


def verify(
    bundle: Path, exported: Exported, capsys: pytest.CaptureFixture[str], *extra: str
) -> Outcome:
    capsys.readouterr()
    code = run(["verify-bundle", str(bundle), "--sponsor-key", str(exported.sponsor_pub), *extra])
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def assert_refused(outcome: Outcome, where: str, *fragments: str) -> None:
    """Exit 1, one error naming ``where`` (``bundle file events.jsonl line 3``) and saying
    each of ``fragments``; no traceback, no internal error."""
    assert outcome.code == 1, outcome.err
    assert "Traceback" not in outcome.err
    assert "internal error" not in outcome.err
    assert f"error: {where}: " in outcome.err, outcome.err
    for fragment in fragments:
        assert fragment in outcome.err, outcome.err


def edit_line(path: Path, number: int, change: Callable[[bytes], bytes]) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[number - 1] = change(lines[number - 1])
    path.write_bytes(b"\n".join(lines))


def set_member(name: str, raw: str) -> Callable[[bytes], bytes]:
    """Replace the top-level member ``name``'s value (as written) with the JSON text ``raw``."""
    pattern = re.compile(rb'"' + name.encode() + rb'":("(?:[^"\\]|\\.)*"|[^,}]*)')

    def change(line: bytes) -> bytes:
        changed, count = pattern.subn(
            lambda _: b'"' + name.encode() + b'":' + raw.encode(), line, 1
        )
        assert count == 1
        return changed

    return change


def insert_before(marker: bytes, text: bytes) -> Callable[[bytes], bytes]:
    def change(line: bytes) -> bytes:
        assert marker in line
        return line.replace(marker, text + marker, 1)

    return change


def huge_line(line: bytes) -> bytes:
    return b'{"position":5,"state":"' + b"a" * (MAX_LINE_BYTES + 16) + b'"}'


def byte_ff(line: bytes) -> bytes:
    return line[:30] + b"\xff" + line[30:]


# (id, line, change, what the message says)
HOSTILE_EVENT_LINES: list[tuple[str, int, Callable[[bytes], bytes], str]] = [
    ("deep-nesting", 1, lambda _: b"[" * 100_000, "nested deeper than 32"),
    ("byte-0xff", 2, byte_ff, "not UTF-8 (byte 0xff at column 31)"),
    ("byte-order-mark", 1, lambda line: b"\xef\xbb\xbf" + line, "byte order mark"),
    (
        "duplicate-state-forged-first",
        2,
        insert_before(b'"state":', b'"state":"{}",'),
        "member 'state' appears twice",
    ),
    ("string-position", 3, set_member("position", '"3"'), "'3', not a JSON integer"),
    ("float-position", 3, set_member("position", "3.0"), "3.0, not a JSON integer"),
    ("boolean-position", 3, set_member("position", "true"), "true, not a JSON integer"),
    ("null-commit", 3, set_member("commit", "null"), "member 'commit' is null"),
    ("number-topic", 3, set_member("topic", "7"), "member 'topic' is 7, not a JSON string"),
    (
        "short-leaf-hash",
        4,
        set_member("leaf_hash", '"' + "ab" * 31 + '"'),
        "(62 characters), not 64 lowercase hex digits",
    ),
    (
        "uppercase-leaf-hash",
        4,
        set_member("leaf_hash", '"' + "AB" * 32 + '"'),
        "not 64 lowercase hex digits",
    ),
    (
        "spaced-leaf-hash",
        4,
        set_member("leaf_hash", '"' + "ab " * 21 + 'a"'),
        "not 64 lowercase hex digits",
    ),
    ("huge-line", 5, huge_line, f"longer than {MAX_LINE_BYTES:,} bytes"),
    ("huge-integer", 5, set_member("position", "9" * 5000), "more than 40 digits"),
    ("nan-position", 5, set_member("position", "NaN"), "NaN is not a JSON number"),
    ("missing-position", 6, lambda line: line.replace(b'"position":6,', b""), "is missing"),
    ("unknown-member", 6, insert_before(b'"topic":', b'"extra":1,'), "unknown member 'extra'"),
    ("lone-surrogate", 7, set_member("topic", '"\\ud800"'), "lone surrogate"),
    ("not-json", 2, lambda line: b"x" + line, "not JSON (a value is expected at column 1)"),
    ("not-an-object", 2, lambda _: b"[1, 2]", "an array, not a JSON object"),
    ("blank-line", 2, lambda _: b"", "a blank line"),
]


@pytest.mark.parametrize(
    ("line", "change", "says"),
    [case[1:] for case in HOSTILE_EVENT_LINES],
    ids=[case[0] for case in HOSTILE_EVENT_LINES],
)
def test_hostile_event_line_is_an_integrity_failure_naming_file_and_line(
    bundle: Path,
    exported: Exported,
    capsys: pytest.CaptureFixture[str],
    line: int,
    change: Callable[[bytes], bytes],
    says: str,
) -> None:
    edit_line(bundle / "events.jsonl", line, change)
    assert_refused(verify(bundle, exported, capsys), f"bundle file events.jsonl line {line}", says)


HOSTILE_COMMIT_LINES: list[tuple[str, Callable[[bytes], bytes], str]] = [
    ("duplicate-seq", insert_before(b'"first_position":', b'"seq":2,'), "'seq' appears twice"),
    ("string-seq", set_member("seq", '"2"'), "'2', not a JSON integer"),
    ("short-prev-leaf", set_member("prev_leaf", '"abcd"'), "not 64 lowercase hex digits"),
    ("signature-not-base64", set_member("signature", '"!!!!"'), "not base64 of a 64-byte"),
    ("short-signature", set_member("signature", '"AAAA"'), "not base64 of a 64-byte"),
    ("huge-integer", set_member("last_position", "1" * 4400), "more than 40 digits"),
]


@pytest.mark.parametrize(
    ("change", "says"),
    [case[1:] for case in HOSTILE_COMMIT_LINES],
    ids=[case[0] for case in HOSTILE_COMMIT_LINES],
)
def test_hostile_commit_line_is_an_integrity_failure_naming_file_and_line(
    bundle: Path,
    exported: Exported,
    capsys: pytest.CaptureFixture[str],
    change: Callable[[bytes], bytes],
    says: str,
) -> None:
    edit_line(bundle / "commits.jsonl", 2, change)
    assert_refused(verify(bundle, exported, capsys), "bundle file commits.jsonl line 2", says)


def edit_manifest(old: str, new: str) -> Callable[[Path], object]:
    def change(bundle: Path) -> None:
        path = bundle / "manifest.json"
        text = path.read_text("utf-8")
        assert old in text
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return change


def sub_manifest(pattern: str, replacement: str) -> Callable[[Path], object]:
    def change(bundle: Path) -> None:
        path = bundle / "manifest.json"
        text, count = re.subn(pattern, replacement, path.read_text("utf-8"), count=1)
        assert count == 1
        path.write_text(text, encoding="utf-8")

    return change


def prefix_file(name: str, data: bytes) -> Callable[[Path], object]:
    return lambda bundle: (bundle / name).write_bytes(data + (bundle / name).read_bytes())


# (id, change, where, what the message says)
HOSTILE_DOCUMENTS: list[tuple[str, Callable[[Path], object], str, str]] = [
    (
        "manifest-byte-order-mark",
        prefix_file("manifest.json", b"\xef\xbb\xbf"),
        "bundle file manifest.json line 1",
        "byte order mark",
    ),
    (
        "manifest-trailing-garbage",
        lambda bundle: (bundle / "manifest.json").write_text(
            (bundle / "manifest.json").read_text("utf-8") + "\n}x", encoding="utf-8"
        ),
        "bundle file manifest.json line 14",
        "not JSON (more text follows the JSON value at column 1)",
    ),
    (
        "manifest-duplicate-key",
        edit_manifest('"events":', '"events": 1, "events":'),
        "bundle file manifest.json",
        "member 'events' appears twice",
    ),
    (
        "manifest-string-count",
        sub_manifest(r'"commits": (\d+)', r'"commits": "\1"'),
        "bundle file manifest.json",
        "member 'commits' is '",
    ),
    (
        "manifest-nan",
        sub_manifest(r'"checkpoints": \d+', '"checkpoints": NaN'),
        "bundle file manifest.json",
        "NaN is not a JSON number",
    ),
    (
        "manifest-short-digest",
        edit_manifest('"events.jsonl": "', '"events.jsonl": "0'),
        "bundle file manifest.json",
        "not 64 lowercase hex digits",
    ),
    (
        "manifest-byte-0xff",
        lambda bundle: (bundle / "manifest.json").write_bytes(
            (bundle / "manifest.json").read_bytes().replace(b"NCT", b"N\xffT")
        ),
        "bundle file manifest.json line 4",
        "not UTF-8 (byte 0xff",
    ),
    (
        "checkpoints-deep-nesting",
        lambda bundle: (bundle / "checkpoints.json").write_text("[" * 100_000),
        "bundle file checkpoints.json line 1",
        "nested deeper than 32",
    ),
    (
        "checkpoints-float-size",
        lambda bundle: (bundle / "checkpoints.json").write_text(
            '[{"tree_size": 1.0, "note": "x"}]'
        ),
        "bundle file checkpoints.json, checkpoint 1",
        "member 'tree_size' is 1.0, not a JSON integer",
    ),
    (
        "checkpoints-not-an-array",
        lambda bundle: (bundle / "checkpoints.json").write_text('{"tree_size": 1}'),
        "bundle file checkpoints.json",
        "an object, not a JSON array of checkpoints",
    ),
]


@pytest.mark.parametrize(
    ("change", "where", "says"),
    [case[1:] for case in HOSTILE_DOCUMENTS],
    ids=[case[0] for case in HOSTILE_DOCUMENTS],
)
def test_hostile_manifest_or_checkpoints_file_is_an_integrity_failure(
    bundle: Path,
    exported: Exported,
    capsys: pytest.CaptureFixture[str],
    change: Callable[[Path], object],
    where: str,
    says: str,
) -> None:
    change(bundle)
    assert_refused(verify(bundle, exported, capsys), where, says)


def test_intact_bundle_verifies_with_no_damaged_file(
    bundle: Path, exported: Exported, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = verify(bundle, exported, capsys, "--json")
    assert outcome.code == 0, outcome.err
    report = json.loads(outcome.out)
    assert report["ok"] is True
    assert report["events"] == exported.events
    assert report["damaged_files"] == []


def test_folder_without_manifest_is_not_a_bundle(
    bundle: Path, exported: Exported, capsys: pytest.CaptureFixture[str]
) -> None:
    (bundle / "manifest.json").unlink()
    outcome = verify(bundle, exported, capsys)
    assert outcome.code == 2
    assert "not a bundle (manifest.json missing)" in outcome.err
    assert "Traceback" not in outcome.err


def test_manifest_counting_another_number_of_events_is_reported_as_damaged(
    bundle: Path, exported: Exported, capsys: pytest.CaptureFixture[str]
) -> None:
    edit_manifest(f'"events": {exported.events}', f'"events": {exported.events + 1}')(bundle)
    outcome = verify(bundle, exported, capsys, "--json")
    assert outcome.code == 0, outcome.err  # the files verify; only the unsigned manifest lies
    report = json.loads(outcome.out)
    assert report["ok"] is True
    assert report["damaged_files"] == ["manifest.json"]
    assert BundleSource(bundle).manifest_mismatches() == [
        f"manifest.json says {exported.events + 1:,} events; "
        f"events.jsonl holds {exported.events:,} lines"
    ]


def test_bundle_cut_at_a_commit_boundary_is_flagged_by_its_manifest(
    bundle: Path, exported: Exported, capsys: pytest.CaptureFixture[str]
) -> None:
    commits = (bundle / "commits.jsonl").read_text("utf-8").splitlines(keepends=True)
    last = json.loads(commits[-1])
    kept = last["first_position"] - 1
    (bundle / "commits.jsonl").write_text("".join(commits[:-1]), encoding="utf-8")
    events = (bundle / "events.jsonl").read_text("utf-8").splitlines(keepends=True)
    (bundle / "events.jsonl").write_text("".join(events[:kept]), encoding="utf-8")
    outcome = verify(bundle, exported, capsys, "--json")
    # A clean cut verifies (README, threat model); the manifest's counts give it away.
    assert outcome.code == 0, outcome.err
    report = json.loads(outcome.out)
    assert report["events"] == kept
    assert report["damaged_files"] == ["events.jsonl", "commits.jsonl", "manifest.json"]
    assert BundleSource(bundle).manifest_mismatches() == [
        f"manifest.json says {exported.events} events; events.jsonl holds {kept} lines",
        f"manifest.json says {exported.commits} commits; "
        f"commits.jsonl holds {exported.commits - 1} lines",
    ]


def test_brackets_inside_a_string_are_not_nesting(
    bundle: Path, exported: Exported, capsys: pytest.CaptureFixture[str]
) -> None:
    edit_line(bundle / "events.jsonl", 4, insert_before(b'{\\"', b"[" * 200))
    outcome = verify(bundle, exported, capsys, "--json")
    # Read as a well-formed line: the altered state is caught by its leaf hash, at its position.
    assert outcome.code == 1, outcome.err
    failure = json.loads(outcome.out)["first_failure"]
    assert failure["position"] == 4
    assert "leaf hash" in failure["reason"]


def test_crlf_line_breaks_are_read_as_line_breaks(
    bundle: Path, exported: Exported, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bundle / "events.jsonl"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    outcome = verify(bundle, exported, capsys, "--json")
    assert outcome.code == 0, outcome.err
    assert json.loads(outcome.out)["damaged_files"] == ["events.jsonl"]


def test_random_byte_changes_in_events_are_integrity_failures(
    bundle: Path, exported: Exported, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(20261202)
    original = (bundle / "events.jsonl").read_bytes()
    replacements = b'\xff\x00\x80[{"\\:,0a \n'
    for _ in range(25):
        at = rng.randrange(len(original) - 1)
        byte = rng.choice([b for b in replacements if b != original[at]])
        (bundle / "events.jsonl").write_bytes(original[:at] + bytes([byte]) + original[at + 1 :])
        outcome = verify(bundle, exported, capsys)
        assert outcome.code == 1, (at, byte, outcome.err)
        assert "Traceback" not in outcome.err
        assert "internal error" not in outcome.err


def test_reading_a_hostile_line_raises_verification_error_only(bundle: Path) -> None:
    edit_line(bundle / "events.jsonl", 2, byte_ff)
    source = BundleSource(bundle)
    with pytest.raises(VerificationError, match=r"^bundle file events\.jsonl line 2: not UTF-8"):
        list(source.iter_events())
    assert source.event_at(1) is not None  # lines before it still read


def test_opening_a_bundle_with_a_hostile_commit_line_raises_verification_error(
    bundle: Path,
) -> None:
    edit_line(bundle / "commits.jsonl", 1, lambda _: b"[" * 40 + b"]" * 40)
    with pytest.raises(
        VerificationError, match=r"^bundle file commits\.jsonl line 1: nested deeper than 32"
    ):
        BundleSource(bundle)
