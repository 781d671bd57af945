"""Free text: printable, on one line, in any script (see the package docstring)."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import StringConstraints, ValidatorFunctionWrapHandler, WrapValidator
from pydantic_core import PydanticCustomError

UNPRINTABLE_CATEGORIES: frozenset[str] = frozenset({"Cc", "Cf", "Zl", "Zp"})
"""Unicode categories no free-text value may hold: control, format, line and paragraph
separator characters (see the module docstring)."""
BIDI_CONTROLS: frozenset[str] = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
"""The bidirectional marks, embeddings, overrides and isolates (all of category Cf)."""
_CONTROL_NAMES = {
    "\t": "tab",
    "\n": "line feed",
    "\r": "carriage return",
    "\x1b": "escape",
    "\x00": "NUL",
    "\x7f": "delete",
    "\x85": "next line",
    "\x9b": "control sequence introducer",
}
PRINTABLE_TEXT_RULE = (
    "Text should be printable on one line: no control characters (line breaks, tabs, escape "
    "sequences), bidirectional controls or invisible format characters"
)


INVISIBLE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\ufe00-\ufe0f\uffa0"
    "\U000e0100-\U000e01ef]"
)
"""Default-ignorable characters that are not format characters (fillers, the combining
grapheme joiner, variation selectors): printable by Python's rule, invisible on paper."""


def unprintable_character(text: str) -> tuple[int, str] | None:
    """The first character of ``text`` no free-text value may hold, with its index, or
    ``None`` (see :data:`UNPRINTABLE_CATEGORIES` and :data:`INVISIBLE`)."""
    if text.isprintable() and INVISIBLE.search(text) is None:  # the fast path
        return None
    for index, char in enumerate(text):
        if unicodedata.category(char) in UNPRINTABLE_CATEGORIES or INVISIBLE.match(char):
            return index, char
    return None


def describe_character(char: str) -> str:
    """``U+202E (RIGHT-TO-LEFT OVERRIDE, a bidirectional control)``: a refused character as
    a person can read it (never the character itself)."""
    code = f"U+{ord(char):04X}"
    category = unicodedata.category(char)
    if category == "Cc":
        name = _CONTROL_NAMES.get(char)
        return f"{code} ({name}, a control character)" if name else f"{code} (a control character)"
    name = unicodedata.name(char, "")
    kind = (
        "a bidirectional control"
        if char in BIDI_CONTROLS
        else "a line or paragraph separator"
        if category in {"Zl", "Zp"}
        else "an invisible format character"
    )
    return f"{code} ({name}, {kind})" if name else f"{code} ({kind})"


def _refuse_unprintable(text: str) -> None:
    found = unprintable_character(text)
    if found is not None:
        index, char = found
        raise PydanticCustomError(
            "printable_text",
            PRINTABLE_TEXT_RULE + "; found {character} at character {position}",
            {"character": describe_character(char), "position": index + 1},
        )


def _printable_text(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    """Refuse unprintable characters in the value as given (before whitespace is stripped),
    and in the text the value became if it was not given as text."""
    if isinstance(value, str):
        _refuse_unprintable(value)
    result = handler(value)
    if not isinstance(value, str) and isinstance(result, str):
        _refuse_unprintable(result)
    return result


PRINTABLE = WrapValidator(_printable_text)
"""The free-text rule, as a validator to annotate a ``str`` with."""

PrintedName = Annotated[
    str, StringConstraints(min_length=2, max_length=120, strip_whitespace=True), PRINTABLE
]
"""A person's printed name (21 CFR 11.50 signature manifestation)."""
Reason = Annotated[
    str, StringConstraints(min_length=3, max_length=2000, strip_whitespace=True), PRINTABLE
]
ShortText = Annotated[
    str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True), PRINTABLE
]
PlainText = Annotated[str, PRINTABLE]
"""Free text with no length rule of its own (a note, a unit, a correction's values, the text
of an eligibility criterion): printable, one line, as it is (not stripped)."""
