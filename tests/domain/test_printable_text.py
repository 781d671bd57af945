"""Free text in the ledger is printable, on one line: no control, format or separator character.

A printed name (a 21 CFR 11.50 signature manifestation), a site label, a reason, an AE term, a
note: none may hold a control character (Unicode Cc: escape sequences, line breaks, tabs, C1),
a bidirectional override, isolate or mark, a zero-width or other invisible format character
(Cf) or a line/paragraph separator (Zl, Zp). Such a value would be signed into the ledger for
good and could forge or hide lines when ``log`` or ``keys list`` prints it. Any script's
letters, digits, marks, spaces and punctuation stay accepted.
"""

from __future__ import annotations

import json
import os
import shutil
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

import cli
from ledger.domain.commands import ReportAdverseEvent
from ledger.domain.commands.base import command_from
from ledger.errors import ValidationError
from ledger.events import (
    CorrectionRecorded,
    FollowUpVisit,
    LabResulted,
    PersonKey,
    PlainText,
    PrintedName,
    Reason,
    ShortText,
    SiteRegistered,
    TrialCreated,
    subject_stream_id,
    trial_stream_id,
)
from ledger.events.text import INVISIBLE as INVISIBLE_BY_NAME
from ledger.recording import TrialRecorder
from tests.domain.trial_helpers import SUBJECT, day
from tests.support import Cast

TRIAL_ID = "NCT00635154"
PASS = "correct horse battery staple"
GENESIS = "2002-11-01"
SPOOFED_NAME = "A\x1b[31mnn\nBee"  # the tester's value: an ANSI colour and a line break
KEY_ID = "ed25519:" + "0" * 32
PUBLIC_KEY = "A" * 43 + "="
RULE = "Text should be printable on one line"

TEXT_TYPES: dict[str, Any] = {
    "PrintedName": TypeAdapter(PrintedName),
    "Reason": TypeAdapter(Reason),
    "ShortText": TypeAdapter(ShortText),
    "PlainText": TypeAdapter(PlainText),
}
BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\ufeff", "\u00ad", "\u2060"]
C0_C1 = [chr(c) for c in (*range(0x00, 0x20), *range(0x7F, 0xA0))]
REFUSED = C0_C1 + BIDI + INVISIBLE + ["\u2028", "\u2029"]


def person(printed_name: str) -> dict[str, Any]:
    return {
        "key_id": KEY_ID,
        "public_key": PUBLIC_KEY,
        "printed_name": printed_name,
        "role": "monitor",
        "site": "*",
    }


def site_event(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "originator_id": trial_stream_id(TRIAL_ID),
        "originator_version": 2,
        "site": "004",
        "label": "Site 004",
        "reason": "fourth site activated",
        "effective_date": date(2003, 3, 1),
    }
    values.update(changes)
    return values


# --------------------------------------------------------------------------- the models


def test_refuses_printed_name_with_an_escape_sequence() -> None:
    with pytest.raises(PydanticValidationError, match=RULE) as caught:
        PersonKey.model_validate(person(SPOOFED_NAME))
    (error,) = caught.value.errors()
    assert error["loc"] == ("printed_name",)
    assert error["type"] == "printable_text"
    assert "U+001B (escape, a control character) at character 2" in error["msg"]


def test_the_cli_message_names_the_field_the_escaped_value_and_the_rule() -> None:
    with pytest.raises(PydanticValidationError, match=RULE) as caught:
        PersonKey.model_validate(person(SPOOFED_NAME))
    message = cli.describe_validation_error(caught.value)
    assert message.startswith(r"printed_name='A\x1b[31mnn\nBee' refused: " + RULE)
    assert "\x1b" not in message
    assert "\n" not in message


def test_refuses_printed_name_with_a_trailing_newline_instead_of_stripping_it() -> None:
    with pytest.raises(PydanticValidationError, match=r"U\+000A \(line feed"):
        PersonKey.model_validate(person("Dr. Ada Lee\n"))


def test_refuses_printed_name_with_a_right_to_left_override() -> None:
    with pytest.raises(PydanticValidationError, match=r"U\+202E \(RIGHT-TO-LEFT OVERRIDE, a bidi"):
        PersonKey.model_validate(person("Dr. \u202eeeL adA"))


def test_refuses_a_registered_key_whose_nested_printed_name_hides_a_zero_width_space() -> None:
    with pytest.raises(PydanticValidationError, match=r"U\+200B \(ZERO WIDTH SPACE") as caught:
        TrialCreated.model_validate(
            {
                "originator_id": trial_stream_id(TRIAL_ID),
                "originator_version": 1,
                "ledger_id": trial_stream_id("ledger"),
                "title": "A trial",
                "protocol_amendment": "2002-10",
                "sponsor": person("Sponsor\u200bOffice"),
                "ledger_key_id": KEY_ID,
                "ledger_public_key": PUBLIC_KEY,
                "effective_date": date(2002, 11, 1),
            }
        )
    assert caught.value.errors()[0]["loc"] == ("sponsor", "printed_name")


def test_refuses_site_label_with_a_tab_and_reason_with_a_carriage_return() -> None:
    with pytest.raises(PydanticValidationError, match=r"U\+0009 \(tab") as caught:
        SiteRegistered.model_validate(site_event(label="Site\t004"))
    assert caught.value.errors()[0]["loc"] == ("label",)
    with pytest.raises(PydanticValidationError, match=r"U\+000D \(carriage return") as caught:
        SiteRegistered.model_validate(site_event(reason="activated\r\nKey revoked"))
    assert caught.value.errors()[0]["loc"] == ("reason",)


def test_refuses_a_c1_control_sequence_introducer() -> None:
    with pytest.raises(PydanticValidationError, match=r"U\+009B \(control sequence introducer"):
        SiteRegistered.model_validate(site_event(label="Site \x9b31m004"))


def test_refuses_a_line_separator() -> None:
    with pytest.raises(PydanticValidationError, match=r"U\+2028 \(LINE SEPARATOR"):
        SiteRegistered.model_validate(site_event(reason="site\u2028activated"))


def test_refuses_text_given_as_bytes_with_a_control_character() -> None:
    with pytest.raises(PydanticValidationError, match=r"U\+001B"):
        SiteRegistered.model_validate(site_event(label=b"Site \x1b[2J004"))


@pytest.mark.parametrize(
    ("model", "fields", "loc"),
    [
        (
            FollowUpVisit,
            {"disease_status": "unknown", "note": "seen\nPD confirmed"},
            ("note",),
        ),
        (
            LabResulted,
            {"analyte": "hs_crp", "value": "4.1", "unit": "mg/L\x1b[8m"},
            ("unit",),
        ),
        (
            CorrectionRecorded,
            {
                "corrects_position": 9,
                "corrected_topic": "trial.FollowUpVisit.v1",
                "field": "note",
                "old_value": "",
                "new_value": "ok\u2066hidden\u2069",
                "reason": "transcription error",
            },
            ("new_value",),
        ),
    ],
)
def test_refuses_unprintable_text_in_every_other_free_text_field(
    model: type[Any], fields: dict[str, Any], loc: tuple[str, ...]
) -> None:
    values = {
        "originator_id": subject_stream_id(SUBJECT),
        "originator_version": 9,
        "subject_id": SUBJECT,
        "effective_date": date(2004, 1, 5),
        **fields,
    }
    with pytest.raises(PydanticValidationError, match=RULE) as caught:
        model.model_validate(values)
    assert caught.value.errors()[0]["loc"] == loc


def test_refuses_an_adverse_event_term_with_an_escape_through_the_recorder(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    before = recorder.ledger.reader.size()
    with pytest.raises(ValidationError, match=r"^term='Rash\\x1b\[0m' refused: " + RULE):
        recorder.record(
            cast.coordinator,
            command_from(
                ReportAdverseEvent,
                {
                    "subject_id": enrolled,
                    "date": day(1),
                    "term": "Rash\x1b[0m",
                    "grade": 1,
                    "attribution": "unrelated",
                    "action_taken": "not-applicable",
                },
            ),
        )
    assert recorder.ledger.reader.size() == before


def test_accepts_accented_non_latin_and_punctuated_text() -> None:
    for name in (
        "Zoë Ångström-Núñez",
        "Dr. 李小龍",
        "Ольга Петрова",
        "د. سارا",
        "O'Brien, J. (MD)",
    ):
        assert PersonKey.model_validate(person(name)).printed_name == name
    site = SiteRegistered.model_validate(site_event(label="Site 004 — «Nord»"))
    assert site.label == "Site 004 — «Nord»"


def test_still_strips_surrounding_spaces() -> None:
    assert PersonKey.model_validate(person("  Dr. Ada Lee  ")).printed_name == "Dr. Ada Lee"


# --------------------------------------------------------------------------- properties

PRINTABLE_CHARACTERS = st.characters(categories=["L", "M", "N", "P", "Zs", "S"]).filter(
    lambda c: INVISIBLE_BY_NAME.match(c) is None  # fillers and joiners are refused by name
)


@given(
    kind=st.sampled_from(sorted(TEXT_TYPES)),
    before=st.text(PRINTABLE_CHARACTERS, max_size=20),
    refused=st.one_of(
        st.sampled_from(REFUSED),
        st.characters(categories=["Cc", "Cf", "Zl", "Zp"]),
        st.sampled_from(["\u034f", "\u115f", "\u3164", "\ufe0f", "\U000e0100"]),
    ),
    after=st.text(PRINTABLE_CHARACTERS, max_size=20),
)
def test_any_text_with_a_control_format_or_bidi_character_is_refused(
    kind: str, before: str, refused: str, after: str
) -> None:
    candidate = "Ab" + before + refused + after + "cd"
    with pytest.raises(PydanticValidationError, match=RULE):
        TEXT_TYPES[kind].validate_python(candidate)


@given(
    kind=st.sampled_from(sorted(TEXT_TYPES)),
    words=st.lists(
        st.text(
            st.characters(categories=["L", "Nd", "P", "M"]).filter(
                lambda c: INVISIBLE_BY_NAME.match(c) is None
            ),
            min_size=1,
            max_size=12,
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_letters_digits_spaces_and_punctuation_of_any_script_are_accepted(
    kind: str, words: list[str]
) -> None:
    text = "Ab " + " ".join(words)
    assert TEXT_TYPES[kind].validate_python(text) == text


@given(st.text(PRINTABLE_CHARACTERS, min_size=3, max_size=60))
def test_acceptance_depends_on_the_characters_categories_and_the_invisible_list_alone(
    text: str,
) -> None:
    assert all(unicodedata.category(c) not in {"Cc", "Cf", "Zl", "Zp"} for c in text)
    assert INVISIBLE_BY_NAME.search(text) is None
    assert TEXT_TYPES["PlainText"].validate_python(text) == text


# --------------------------------------------------------------------------- the command line


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ledger made by `trial-ledger init` with site 001 registered."""
    folder = tmp_path_factory.mktemp("printable")
    db, sponsor = str(folder / "t.db"), str(folder / "sponsor.key")
    os.environ["TRIAL_LEDGER_PASSPHRASE"] = PASS
    try:
        assert cli.run([
            "init", "--db", db, "--sponsor-name", "Sponsor Office", "--date", GENESIS,
            "--sponsor-key-out", sponsor, "--ledger-key-out", str(folder / "ledger.key"),
        ]) == 0  # fmt: skip
        assert cli.run([
            "sites", "add", "--db", db, "--sponsor-key", sponsor, "--site", "001",
            "--label", "Site 001",
        ]) == 0  # fmt: skip
    finally:
        del os.environ["TRIAL_LEDGER_PASSPHRASE"]
    return folder


@pytest.fixture
def work(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRIAL_LEDGER_PASSPHRASE", PASS)
    target = tmp_path / "w"
    shutil.copytree(template, target)
    return target


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.run(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def tree_size(capsys: pytest.CaptureFixture[str], folder: Path) -> int:
    code, out, err = run(capsys, "verify", "--db", str(folder / "t.db"), "--json")
    assert code == 0, err
    report: dict[str, Any] = json.loads(out)
    return int(report["tree_size"])


def keys_add(folder: Path, *more: str) -> list[str]:
    return [
        "keys", "add", "--db", str(folder / "t.db"), "--sponsor-key", str(folder / "sponsor.key"),
        "--out", str(folder / "new.key"), *more,
    ]  # fmt: skip


def refused(result: tuple[int, str, str], *fragments: str) -> None:
    code, out, err = result
    assert code == 2, result
    assert out == ""
    assert err.startswith("error: "), err
    assert "\x1b" not in err
    assert err.count("\n") == 1, err  # one line: no value's line break reaches the terminal
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def test_keys_add_refuses_a_printed_name_with_an_escape_sequence_and_writes_nothing(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    size = tree_size(capsys, work)
    result = run(
        capsys, *keys_add(work, "--name", SPOOFED_NAME, "--role", "monitor", "--site", "*")
    )
    refused(result, r"printed_name='A\x1b[31mnn\nBee' refused: " + RULE, "U+001B")
    assert tree_size(capsys, work) == size
    assert not (work / "new.key").exists()
    code, out, _ = run(capsys, "keys", "list", "--db", str(work / "t.db"))
    assert code == 0
    assert "Bee" not in out


def test_keys_add_refuses_a_reason_with_a_newline_and_writes_nothing(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    size = tree_size(capsys, work)
    result = run(
        capsys,
        *keys_add(work, "--name", "Nia Newcomer", "--role", "coordinator", "--site", "001"),
        "--reason", "new staff\n2003-03-01 KeyRevoked Dr. Ada Lee",
    )  # fmt: skip
    refused(result, "reason=", "U+000A (line feed, a control character)")
    assert tree_size(capsys, work) == size
    assert not (work / "new.key").exists()


def test_sites_add_refuses_a_label_with_a_bidi_override_and_writes_nothing(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    size = tree_size(capsys, work)
    result = run(
        capsys,
        "sites", "add", "--db", str(work / "t.db"), "--sponsor-key", str(work / "sponsor.key"),
        "--site", "002", "--label", "Site \u202e200",
    )  # fmt: skip
    refused(result, r"label='Site \u202e200' refused: " + RULE, "RIGHT-TO-LEFT OVERRIDE")
    assert tree_size(capsys, work) == size


def test_keys_add_accepts_a_printed_name_in_another_script(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    size = tree_size(capsys, work)
    code, out, err = run(
        capsys, *keys_add(work, "--name", "Zoë Ångström 李", "--role", "monitor", "--site", "*")
    )
    assert code == 0, err
    assert "Zoë Ångström 李" in out
    assert tree_size(capsys, work) == size + 1
