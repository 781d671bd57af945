"""Numbers within the limits: as a person writes them, and as JSON hooks see their text."""

from __future__ import annotations

import re
from decimal import Decimal

from ledger.errors import ValidationError, Verbatim, show_number_text
from ledger.input_limits.limits import MAX_DECIMAL_PLACES, MAX_DIGITS, MAX_MAGNITUDE, NUMBER_RULE

_JSON_NUMBER = re.compile(r"-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?")
_WRITTEN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def number_problem(number: Decimal) -> str | None:
    """Why ``number`` is refused (:data:`NUMBER_RULE`), or None if it is within the limits."""
    if not number.is_finite():
        return "[INPUT-NUMBER] NaN and infinity are not numbers a clinician measures"
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    if len(digits) > MAX_DIGITS:
        return f"{NUMBER_RULE}; this one has {len(digits):,} digits"
    if number and not -MAX_DECIMAL_PLACES <= number.adjusted() <= MAX_MAGNITUDE:
        return f"{NUMBER_RULE}; this one is of the order of 1E{number.adjusted():+d}"
    if exponent < -MAX_DECIMAL_PLACES:
        return f"{NUMBER_RULE}; this one has {-exponent:,} decimal places"
    if not number and exponent > MAX_MAGNITUDE:
        return f"{NUMBER_RULE}; this zero is written with the exponent {exponent}"
    return None


def check_number(field: str, number: Decimal, written: str | None = None) -> Decimal:
    """``number`` if within the limits, else a refusal naming ``field`` and the number as
    ``written`` (default: as the decimal prints)."""
    problem = number_problem(number)
    if problem is not None:
        shown = show_number_text(written if written is not None else str(number))
        raise ValidationError(field, Verbatim(shown), problem)
    return number


def parse_decimal(field: str, text: str) -> Decimal | None:
    """A decimal number written by a person (``2.45``, ``1e3``), or None if ``text`` is not
    one; refused if it exceeds the limits. The text is checked before it is converted."""
    problem = _token_problem(text.strip())
    if problem is not None:
        raise ValidationError(field, Verbatim(show_number_text(text)), problem)
    try:
        number = Decimal(text)
    except ArithmeticError:
        if _WRITTEN_NUMBER.fullmatch(text.strip()):  # an exponent beyond Decimal's own range
            raise ValidationError(field, Verbatim(show_number_text(text)), NUMBER_RULE) from None
        return None
    return check_number(field, number, text)


def _token_problem(text: str) -> str | None:
    """A refusal of a number's text that is too long to convert at all (None: convert it)."""
    digits = sum(map(str.isdigit, text))
    if digits > MAX_DIGITS + 8:
        return f"{NUMBER_RULE}; this one is written with {digits:,} digits"
    return None


class RefusedNumber:
    """A number token the JSON hooks refused; reported with its field after parsing."""

    def __init__(self, text: str, problem: str) -> None:
        self.text = text
        self.problem = problem


def json_int(text: str) -> int | RefusedNumber:
    if len(text.lstrip("-")) > MAX_DIGITS:
        return RefusedNumber(text, f"{NUMBER_RULE}; this one has {len(text.lstrip('-')):,} digits")
    return int(text)


def json_decimal(text: str) -> Decimal | RefusedNumber:
    match = _JSON_NUMBER.fullmatch(text)
    problem = _token_problem(text)
    if match is None or problem is not None or len(match.group(3) or "") > 8:
        return RefusedNumber(text, problem or NUMBER_RULE)
    number = Decimal(text)
    problem = number_problem(number)
    return number if problem is None else RefusedNumber(text, problem)


def json_constant(text: str) -> RefusedNumber:
    return RefusedNumber(text, "[INPUT-NUMBER] NaN and Infinity are not JSON numbers")
