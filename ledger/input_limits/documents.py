"""One JSON document within the limits: its shape bounded before it is parsed, its numbers
checked as text, its bytes UTF-8 text."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ledger.errors import UsageError, ValidationError, Verbatim, show_number_text
from ledger.input_limits.limits import MAX_DEPTH, MAX_DOCUMENT_BYTES, MAX_VALUES
from ledger.input_limits.numeric import RefusedNumber, json_constant, json_decimal, json_int

_BOMS = {
    b"\xef\xbb\xbf": "UTF-8",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}
# A JSON string, or an unterminated one to the end of the text: matched in one pass from its
# opening quote, so that a scan never restarts inside a string (which would be quadratic).
JSON_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)'
_TOKEN = re.compile(rf"({JSON_STRING})(\s*:)?|([\[{{]|[\]}}]|,)")


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ValidationError(
                key, value, "[INPUT-DUPLICATE-KEY] each key appears once in an object"
            )
        document[key] = value
    return document


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
    if isinstance(value, RefusedNumber):
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
            parse_int=json_int,
            parse_float=json_decimal,
            parse_constant=json_constant,
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
    text = decode_text(raw, option, first=True)
    try:
        return loads(text)
    except ValidationError as e:
        raise ValidationError(f"{option} {e.field}", e.value, e.rule) from None


def decode_text(raw: bytes, field: str, *, first: bool) -> str:
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
        raise binary_refusal(field, f"NUL byte at column {nul + 1}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValidationError(
            field,
            Verbatim(f"byte 0x{raw[e.start]:02x} at column {e.start + 1}"),
            "[INPUT-ENCODING] not UTF-8 text; save the file as UTF-8",
        ) from None


def binary_refusal(field: str, where: str) -> ValidationError:
    return ValidationError(
        field,
        Verbatim(f"binary data ({where})"),
        "[INPUT-BINARY] the file is binary, not JSON text",
    )
