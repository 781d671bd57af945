"""Bounded reading of the files and numbers people give the ledger.

Every input file is read as a stream with fixed limits, checked before anything is parsed, so
that no input can exhaust memory or the stack, and a refusal names the line, the field, a
truncated value and the rule:

* an import file (JSON Lines): at most :data:`MAX_FILE_BYTES` bytes and :data:`MAX_LINES`
  lines, each line at most :data:`MAX_LINE_BYTES` bytes of UTF-8 text (no byte order mark, no
  NUL bytes);
* a JSON document (a line, or a small file such as ``--inputs``): nested at most
  :data:`MAX_DEPTH` arrays/objects deep, at most :data:`MAX_VALUES` values, each key once per
  object, no ``NaN``/``Infinity``;
* a number (in JSON or in a command-line option): at most :data:`MAX_DIGITS` digits, at most
  :data:`MAX_DECIMAL_PLACES` decimal places and a magnitude below ``1E+41``
  (:data:`MAX_MAGNITUDE`); within those, each field's own plausible range applies.

JSON is parsed by the standard library's decoder only after the nesting depth and the number of
values are known to be within the limits, with hooks that see every number's text before it
becomes an ``int`` or a :class:`~decimal.Decimal` (so no 5,000-digit integer is converted).
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator
from decimal import Decimal
from io import BufferedReader
from pathlib import Path
from typing import Any

from ledger.errors import (
    Excerpt,
    UsageError,
    ValidationError,
    Verbatim,
    show_number_text,
)

MAX_LINE_BYTES = 1024 * 1024
"""Bytes in one line of an import file, without its line break (1 MiB)."""
MAX_LINES = 100_000
"""Lines in one import file (one import is one signed commit, checked whole in memory)."""
MAX_FILE_BYTES = 64 * 1024 * 1024
"""Bytes in one import file (64 MiB)."""
MAX_DOCUMENT_BYTES = MAX_LINE_BYTES
"""Bytes in a one-document JSON file (``--inputs``)."""
MAX_DEPTH = 32
"""Arrays and objects nested in one JSON document."""
MAX_VALUES = 1_000
"""Values (array items and object members) in one JSON document."""
MAX_DIGITS = 40
"""Digits in one number."""
MAX_DECIMAL_PLACES = 40
"""Digits after the decimal point of one number (``1E-41`` has 41)."""
MAX_MAGNITUDE = 40
"""Largest power of ten of one number's leading digit (``1E+41`` is refused)."""

NUMBER_RULE = (
    f"[INPUT-NUMBER] a number has at most {MAX_DIGITS} digits and {MAX_DECIMAL_PLACES} decimal "
    f"places, and lies between -1E+{MAX_MAGNITUDE + 1} and 1E+{MAX_MAGNITUDE + 1}"
)
_BOMS = {
    b"\xef\xbb\xbf": "UTF-8",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}
# A JSON string, or an unterminated one to the end of the text: matched in one pass from its
# opening quote, so that a scan never restarts inside a string (which would be quadratic).
_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)'
_STRING_OR_KEY = re.compile(rf"({_STRING})(\s*:)?")
_TOKEN = re.compile(rf"({_STRING})(\s*:)?|([\[{{]|[\]}}]|,)")
_JSON_NUMBER = re.compile(r"-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?")
_WRITTEN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_CHUNK = 1024 * 1024
_SNIFF_BYTES = 8192


# --------------------------------------------------------------------------- numbers


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


class _RefusedNumber:
    """A number token the JSON hooks refused; reported with its field after parsing."""

    def __init__(self, text: str, problem: str) -> None:
        self.text = text
        self.problem = problem


def _json_int(text: str) -> int | _RefusedNumber:
    if len(text.lstrip("-")) > MAX_DIGITS:
        return _RefusedNumber(text, f"{NUMBER_RULE}; this one has {len(text.lstrip('-')):,} digits")
    return int(text)


def _json_decimal(text: str) -> Decimal | _RefusedNumber:
    match = _JSON_NUMBER.fullmatch(text)
    problem = _token_problem(text)
    if match is None or problem is not None or len(match.group(3) or "") > 8:
        return _RefusedNumber(text, problem or NUMBER_RULE)
    number = Decimal(text)
    problem = number_problem(number)
    return number if problem is None else _RefusedNumber(text, problem)


def _json_constant(text: str) -> _RefusedNumber:
    return _RefusedNumber(text, "[INPUT-NUMBER] NaN and Infinity are not JSON numbers")


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ValidationError(
                key, value, "[INPUT-DUPLICATE-KEY] each key appears once in an object"
            )
        document[key] = value
    return document


# --------------------------------------------------------------------------- JSON documents


def _check_shape(text: str) -> None:
    """Refuse a document nested deeper than :data:`MAX_DEPTH` or holding more than
    :data:`MAX_VALUES` values (array items and object members, counted over every level),
    before it is parsed (the decoder recurses per level). Text inside strings is skipped."""
    openers = text.count("[") + text.count("{")
    if openers <= MAX_DEPTH and text.count(",") + openers <= MAX_VALUES:
        return
    depth = values = 0
    key: str | None = None
    key_at = 0
    opened_at: int | None = None  # end of an opener whose first item is not counted yet
    for token in _TOKEN.finditer(text):
        string, colon, mark = token.groups()
        if opened_at is not None:
            empty = mark in ("]", "}") and not text[opened_at : token.start()].strip()
            values += 0 if empty else 1
            opened_at = None
        if string is not None:
            if colon:
                key, key_at = string[1:-1], token.end()
        elif mark in "[{":
            depth += 1
            opened_at = token.end()
            if depth > MAX_DEPTH:
                raise _shape_refusal(
                    text,
                    key,
                    key_at,
                    f"[INPUT-DEPTH] arrays and objects nest at most {MAX_DEPTH} deep",
                )
        elif mark in "]}":
            depth -= 1
        else:
            values += 1
        if values > MAX_VALUES:
            raise _shape_refusal(
                text,
                key,
                key_at,
                f"[INPUT-VALUES] a document holds at most {MAX_VALUES:,} values "
                "(array items and object members, over all levels)",
            )


def _shape_refusal(text: str, key: str | None, at: int, rule: str) -> ValidationError:
    if key is None:
        return ValidationError("line", text, rule)
    return ValidationError(key, text[at:].lstrip(), rule)


def _refused_numbers(value: object, path: tuple[str, ...] = ()) -> None:
    """Raise the first number the hooks refused, naming its field (depth is bounded)."""
    if isinstance(value, _RefusedNumber):
        where = ".".join(path) or "line"
        raise ValidationError(where, Verbatim(show_number_text(value.text)), value.problem)
    if isinstance(value, dict):
        for key, member in value.items():
            _refused_numbers(member, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refused_numbers(item, (*path, str(index)))


def loads(text: str) -> Any:
    """Parse one JSON document within the limits above; numbers with a fraction or exponent
    become :class:`~decimal.Decimal` (never a binary float). Refusals are
    :class:`~ledger.errors.ValidationError` naming the field, a truncated value and the rule."""
    _check_shape(text)
    try:
        document = json.loads(
            text,
            parse_int=_json_int,
            parse_float=_json_decimal,
            parse_constant=_json_constant,
            object_pairs_hook=_json_object,
        )
    except json.JSONDecodeError as e:
        raise ValidationError(
            "line", text, f"[INPUT-JSON] not JSON: {e.msg} (column {e.colno})"
        ) from None
    except RecursionError:  # pragma: no cover - _check_shape bounds the depth first
        raise ValidationError("line", text, "[INPUT-DEPTH] nested too deep") from None
    _refused_numbers(document)
    return document


def load_json_file(path: Path, option: str) -> Any:
    """One JSON document from a small file (``--inputs``): at most :data:`MAX_DOCUMENT_BYTES`
    bytes of UTF-8, read without reading more, parsed by :func:`loads`."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as e:
        raise UsageError(f"{option} {path}: {e.strerror or e}") from None
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise ValidationError(
            option,
            Verbatim(f"{path} (over {MAX_DOCUMENT_BYTES:,} bytes)"),
            f"[INPUT-FILE-SIZE] the file holds at most {MAX_DOCUMENT_BYTES:,} bytes (1 MiB)",
        )
    text = _decode(raw, option, first=True)
    try:
        return loads(text)
    except ValidationError as e:
        raise ValidationError(f"{option} {e.field}", e.value, e.rule) from None


def _decode(raw: bytes, field: str, *, first: bool) -> str:
    """``raw`` as UTF-8 text, or a refusal naming the byte (BOM, NUL byte, invalid UTF-8)."""
    if first:
        for bom, encoding in _BOMS.items():
            if raw.startswith(bom):
                raise ValidationError(
                    field,
                    Verbatim(f"byte order mark {bom.hex(' ')}"),
                    f"[INPUT-ENCODING] the file starts with a {encoding} byte order mark; "
                    "save it as UTF-8 without a byte order mark",
                )
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise _binary(field, f"NUL byte at column {nul + 1}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValidationError(
            field,
            Verbatim(f"byte 0x{raw[e.start]:02x} at column {e.start + 1}"),
            "[INPUT-ENCODING] not UTF-8 text; save the file as UTF-8",
        ) from None


def _binary(field: str, where: str) -> ValidationError:
    return ValidationError(
        field,
        Verbatim(f"binary data ({where})"),
        "[INPUT-BINARY] the file is binary, not JSON text",
    )


# --------------------------------------------------------------------------- import files


class ImportFileRefused(ValidationError):
    """An import file refused as a whole by a limit or its encoding, at one line; it was not
    read further and nothing of it was written."""

    def __init__(self, source: str, line: int | None, field: str, value: object, rule: str) -> None:
        super().__init__(field, value, rule)
        self.source = source
        self.line = line
        where = f"line {line}: " if line is not None else ""
        self.args = (f"import of {source} refused, nothing written: {where}{self.args[0]}",)


def read_import_lines(path: Path) -> Iterator[str]:
    """The lines of an import file as text, streamed (a FIFO or a device is read as it comes,
    never more than one line and :data:`MAX_LINE_BYTES` at a time). Every line is yielded,
    blank ones too, so that counting them gives line numbers. The file is opened at the first
    line asked for; a file beyond a limit is refused (:class:`ImportFileRefused`) at the first
    line that exceeds it."""
    source = str(path)
    try:
        handle = path.open("rb")
    except OSError as e:
        raise UsageError(f"import file {path}: {e.strerror or e}") from None
    with handle:
        size = _regular_size(handle.fileno())
        if size is not None and size > MAX_FILE_BYTES:
            raise ImportFileRefused(
                source,
                None,
                "file",
                Verbatim(f"{size:,} bytes"),
                f"[IMPORT-FILE-SIZE] an import file holds at most {MAX_FILE_BYTES:,} bytes "
                "(64 MiB); split it",
            )
        total = 0
        number = 0
        while True:
            try:
                raw = handle.readline(MAX_LINE_BYTES + 1)
            except OSError as e:
                raise UsageError(f"import file {path}: {e.strerror or e}") from None
            if not raw:
                return
            number += 1
            total += len(raw)
            if number > MAX_LINES:
                raise ImportFileRefused(
                    source,
                    number,
                    "lines",
                    Verbatim(f"over {MAX_LINES:,}"),
                    f"[IMPORT-LINES] an import file holds at most {MAX_LINES:,} lines; split it",
                )
            too_long = len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n")
            if too_long and b"\x00" not in raw:  # (binary data is refused as such, below)
                raise _line_too_long(source, number, raw, handle, total)
            if total > MAX_FILE_BYTES:
                raise ImportFileRefused(
                    source,
                    number,
                    "file",
                    Verbatim(f"over {MAX_FILE_BYTES:,} bytes"),
                    f"[IMPORT-FILE-SIZE] an import file holds at most {MAX_FILE_BYTES:,} bytes "
                    "(64 MiB); split it",
                )
            try:
                if number == 1:  # a binary file is refused as such, not as bad UTF-8
                    nul = (raw + handle.peek(_SNIFF_BYTES)[:_SNIFF_BYTES]).find(b"\x00")
                    if nul >= 0:
                        raise _binary("line", f"NUL byte at byte {nul + 1} of the file")
                text = _decode(raw, "line", first=number == 1)
            except ValidationError as e:
                raise ImportFileRefused(source, number, e.field, e.value, e.rule) from None
            yield text.rstrip("\n").removesuffix("\r")


def _regular_size(fd: int) -> int | None:
    try:
        info = os.fstat(fd)
    except OSError:  # pragma: no cover - fstat of an open descriptor
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _line_too_long(
    source: str, number: int, head: bytes, handle: BufferedReader, total: int
) -> ImportFileRefused:
    """The refusal of a line over :data:`MAX_LINE_BYTES`: its size (read on, in chunks, up to
    the file's limit, to tell it) and the field whose value was being read when the limit was
    reached, with the start of that value."""
    length = len(head)
    ended = False
    while not ended and total <= MAX_FILE_BYTES:
        try:
            chunk = handle.readline(_CHUNK)
        except OSError:
            break
        if not chunk:
            ended = True
            break
        length += len(chunk)
        total += len(chunk)
        ended = chunk.endswith(b"\n")
    size = f"{length:,} bytes" if ended else f"over {length:,} bytes"
    text = head[:MAX_LINE_BYTES].decode("utf-8", "replace")
    field, value_at = "line", 0
    for match in _STRING_OR_KEY.finditer(text):
        if match.group(2):
            field, value_at = match.group(1)[1:-1], match.end()
    value = text[value_at:].lstrip()
    if field != "line":
        value = value.removeprefix('"')
    return ImportFileRefused(
        source,
        number,
        field,
        Excerpt(value, f"the line has {size}"),
        f"[IMPORT-LINE-SIZE] a line holds at most {MAX_LINE_BYTES:,} bytes (1 MiB)",
    )
