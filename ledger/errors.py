"""One root for every error the ledger raises.

Each error says what was expected and what was found, so that the CLI can print it as it is and
exit non-zero without a traceback (``cli.main`` catches :class:`LedgerError`).

A refused value is printed as a person would write it (:func:`show_value`): ``missing`` for an
absent value, ``1E+308`` for a decimal, text quoted with control characters escaped and cut
after :data:`SHOWN_CHARS` characters with its size in bytes (``'AAAA…'…(52,428,800 bytes)``),
so that no message echoes a hostile value whole.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from itertools import islice
from typing import Any

SHOWN_CHARS = 80
"""At most this many characters of a refused text value are printed."""
SHOWN_DIGITS = 40
"""At most this many digits of a refused number are printed."""
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_.\-\[\] ]{1,80}$")


@dataclass(frozen=True)
class Excerpt:
    """The start of a value too large to be read whole: ``head`` and what is known of its size
    (``"over 1,048,576 bytes"``)."""

    head: str
    size: str

    def __str__(self) -> str:
        return f"{_quoted(self.head[:SHOWN_CHARS])}…({self.size})"


@dataclass(frozen=True)
class Verbatim:
    """A value already written for people (a size, a count, a number's digits): printed as
    it is, without quotes."""

    text: str

    def __str__(self) -> str:
        return self.text


def _quoted(text: str) -> str:
    """Text in quotes with control and invisible characters escaped (never sent raw to a
    terminal)."""
    return repr(text)


def show_text(text: str) -> str:
    """A text value quoted, escaped, and cut after :data:`SHOWN_CHARS` characters."""
    if len(text) <= SHOWN_CHARS:
        return _quoted(text)
    size = len(text.encode("utf-8", "surrogatepass"))
    return f"{_quoted(text[:SHOWN_CHARS])}…({size:,} bytes)"


def show_number_text(text: str, digits: int | None = None) -> str:
    """A number as written, cut after :data:`SHOWN_DIGITS` characters with its count of
    digits (counted from ``text`` unless given)."""
    if digits is None:
        digits = sum(ch.isdigit() for ch in text)
    return _show_number(text, digits)


def _show_number(text: str, digits: int) -> str:
    if len(text) <= SHOWN_DIGITS + 8:
        return text
    return f"{text[:SHOWN_DIGITS]}…({digits:,} digits)"


def _show_int(value: int) -> str:
    # str() of an int over ~4,300 digits raises (CPython's int_max_str_digits); Decimal's does
    # not, and an integral Decimal prints its plain digits.
    text = str(Decimal(value))
    return _show_number(text, len(text.lstrip("-")))


def _show_decimal(value: Decimal) -> str:
    if not value.is_finite():
        return str(value)
    return _show_number(str(value), len(value.as_tuple().digits))


def show_value(value: object) -> str:
    """``value`` as a person would write it in a message (see the module docstring)."""
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return show_value(value.value)
    if isinstance(value, int | Decimal | float):
        return _show_numeric(value)
    return _show_other(value)


def _show_numeric(value: int | Decimal | float) -> str:
    if isinstance(value, int):
        return _show_int(value)
    if isinstance(value, Decimal):
        return _show_decimal(value)
    return repr(value) if math.isfinite(value) else str(value)


def _show_other(value: object) -> str:
    """:func:`show_value` of text, bytes, times, excerpts, containers and anything else."""
    if isinstance(value, str):
        return show_text(value)
    if isinstance(value, bytes | bytearray):
        return f"<{len(value):,} bytes of binary data>"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Excerpt | Verbatim):
        return str(value)
    if isinstance(value, dict | list | tuple):
        return _show_structure(value)
    return show_text(str(value))


def _show_structure(value: dict[Any, Any] | list[Any] | tuple[Any, ...]) -> str:
    """A container, shown as its first members (never rendered whole: it may be huge)."""
    if isinstance(value, dict):
        parts = (
            f"{show_text(str(key))}: {_show_member(member)}"
            for key, member in islice(value.items(), 8)
        )
        opening, closing = "{", "}"
    else:
        parts = (_show_member(item) for item in islice(value, 8))
        opening, closing = "[", "]"
    shown: list[str] = []
    budget = SHOWN_CHARS
    for part in parts:
        shown.append(part)
        budget -= len(part)
        if budget <= 0:
            break
    tail = f", …({len(value):,} items)" if len(value) > len(shown) else ""
    return f"{opening}{', '.join(shown)}{tail}{closing}"


def _show_member(value: object) -> str:
    if isinstance(value, dict | list | tuple):
        return "{…}" if isinstance(value, dict) else "[…]"
    return show_value(value)


def show_field(field: str) -> str:
    """A field name as printed: plain names as they are, anything else quoted and cut."""
    return field if _PLAIN_NAME.match(field) else show_text(field)


class LedgerError(Exception):
    """Root of all trial-ledger errors. ``exit_code`` is what the CLI exits with."""

    exit_code = 2

    def diagnostics(self) -> str:
        """A one-paragraph explanation suitable for printing to a user."""
        return str(self)


class UsageError(LedgerError):
    """The caller asked for something that cannot be done as asked (bad path, bad option)."""


class ValidationError(LedgerError):
    """Input refused before anything was written: names the field, the value and the rule."""

    def __init__(self, field: str, value: object, rule: str) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"{show_field(field)}={show_value(value)} refused: {rule}")


class RuleViolation(LedgerError):
    """A protocol rule refuses the command (eligibility, schedule, subject status)."""


class NotFoundError(LedgerError):
    """A subject, event, key or file that was named does not exist."""


class ConcurrencyError(LedgerError):
    """Someone else appended to the same record at the same time; nothing was written."""


class KeyFileError(LedgerError):
    """A private or public key file is missing, unreadable, too permissive or wrongly locked."""


class AuthorisationError(LedgerError):
    """The signing key may not record this event (unregistered, revoked, expired, role, site)."""


class CanonicalEncodingError(LedgerError):
    """A value has no RFC 8785 canonical form (NaN, infinity, lone surrogate, non-str key)."""


class VerificationError(LedgerError):
    """Integrity failure: the ledger, a bundle, a proof or a checkpoint does not verify."""

    exit_code = 1


class ProofError(VerificationError):
    """An RFC 9162 inclusion or consistency proof does not verify."""


class CheckpointError(VerificationError):
    """A signed checkpoint is malformed, wrongly signed, or not extended by the ledger."""


class SignatureError(VerificationError):
    """An Ed25519 signature does not verify with the named public key."""


def refusal_from_pydantic(
    error: Mapping[str, Any], *, skip: int = 0, default_field: str = "input"
) -> ValidationError:
    """One pydantic error detail as a :class:`ValidationError` (field, value, rule).

    ``skip`` drops leading parts of the location (a union's tag). A missing field's "input" is
    the object that lacks it, so its value is shown as ``missing`` instead."""
    where = ".".join(str(part) for part in tuple(error["loc"])[skip:]) or default_field
    value = None if error["type"] == "missing" else error.get("input")
    return ValidationError(where, value, str(error["msg"]))


_RULE = re.compile(r"\[([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+|ELIGIBILITY)\]|^([A-Z]+(?:-[A-Z0-9]+)+):")


def rule_cited(message: str) -> str | None:
    """The first rule id a refusal's message cites (``[LAB-UNIT]``, ``DOSE-NOT-IN-REGIMEN:``),
    or None: what ``--json`` errors and the server's problems report as ``rule``."""
    found = _RULE.search(message)
    return (found.group(1) or found.group(2)) if found else None


class StorageError(LedgerError):
    """The ledger's storage refused the operation (read-only, disk full, locked, not a file):
    nothing was written. Names the file and what to do."""


class DamagedStorageError(VerificationError):
    """SQLite reports the ledger file itself damaged ("database disk image is malformed"):
    an integrity failure (exit 1)."""


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(message: str) -> str:
    """``message`` safe for a terminal: control and bidirectional-override characters (which a
    hostile value could carry into a message) escaped; line breaks and tabs kept."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), message)


def show_position(position: int | None) -> str:
    """Where an earlier event is: ``position 17``, or, for an event of the same import or
    command that is not written yet, ``earlier in this commit, not yet written``."""
    return "earlier in this commit, not yet written" if position is None else f"position {position}"
