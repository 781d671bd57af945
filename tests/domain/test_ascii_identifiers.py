"""Subject ids and site codes are ASCII: ``\\d`` would also accept other scripts' digits.

One pattern (``ledger.events.SUBJECT_ID_PATTERN``) is used by the event models, the import
schema, the recording commands and the read commands.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from ledger.domain.commands import Screen
from ledger.domain.commands.base import command_from
from ledger.errors import ValidationError
from ledger.events import SubjectId, is_subject_id
from ledger.recording import TrialRecorder
from ledger.service import person_key
from tests.domain.trial_helpers import SCREENED_ON
from tests.support import Cast, screening

ARABIC_INDIC = "MC0282-001-0\u0661\u0667"  # 017 with two Arabic-Indic digits: not ASCII
SUBJECT_IDS = TypeAdapter(SubjectId)


def accepted_by_model(value: str) -> bool:
    try:
        SUBJECT_IDS.validate_python(value)
    except PydanticValidationError:
        return False
    return True


def test_refuses_subject_id_with_arabic_indic_digits(recorder: TrialRecorder, cast: Cast) -> None:
    before = recorder.ledger.reader.size()
    with pytest.raises(ValidationError, match=r"subject_id=.* refused: \[REC-SUBJECT-ID\]"):
        recorder.record(
            cast.coordinator,
            command_from(
                Screen,
                {
                    "subject_id": ARABIC_INDIC,
                    "date": SCREENED_ON,
                    "site": "001",
                    "age_years": 61,
                    "sex": "F",
                },
            ),
        )
    assert recorder.ledger.reader.size() == before
    assert not is_subject_id(ARABIC_INDIC)
    assert not accepted_by_model(ARABIC_INDIC)


def test_refuses_subject_id_with_a_trailing_newline() -> None:
    assert not is_subject_id("MC0282-001-017\n")
    assert not accepted_by_model("MC0282-001-017\n")


@given(
    before=st.text(max_size=12),
    foreign=st.characters(min_codepoint=0x80),
    after=st.text(max_size=12),
)
def test_any_id_with_a_non_ascii_character_is_refused(
    before: str, foreign: str, after: str
) -> None:
    candidate = before + foreign + after
    assert not is_subject_id(candidate)
    assert not accepted_by_model(candidate)


@given(
    digits=st.lists(st.sampled_from(string.digits), min_size=6, max_size=6),
    at=st.integers(min_value=0, max_value=5),
    foreign=st.characters(categories=["Nd"]).filter(lambda c: not c.isascii()),
)
def test_a_non_ascii_digit_anywhere_in_an_id_is_refused(
    digits: list[str], at: int, foreign: str
) -> None:
    digits[at] = foreign
    candidate = f"MC0282-{''.join(digits[:3])}-{''.join(digits[3:])}"
    assert not is_subject_id(candidate)
    assert not accepted_by_model(candidate)


@given(site=st.integers(min_value=0, max_value=999), number=st.integers(0, 999))
def test_every_ascii_id_of_the_right_shape_is_accepted(site: int, number: int) -> None:
    candidate = f"MC0282-{site:03d}-{number:03d}"
    assert is_subject_id(candidate)
    assert accepted_by_model(candidate)


@pytest.mark.parametrize("site", ["00\u0664", "\u0660\u0660\u0661", "0\uff101"])
def test_refuses_site_code_with_non_ascii_digits(site: str) -> None:
    with pytest.raises(PydanticValidationError, match="String should match pattern"):
        person_key(bytes(32), "ed25519:" + "0" * 32, "Dr. Ada Lee", "investigator", site)
    with pytest.raises(PydanticValidationError, match="String should match pattern"):
        screening("MC0282-001-017", site=site)
