"""Bounded, strict JSON reading of a bundle's files: a line (or a one-document file) at a
time, UTF-8, nesting and digits bounded, each key once; failures name the file and line."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

from ledger.bundle.layout import MAX_DEPTH, MAX_DIGITS, MAX_LINE_BYTES
from ledger.errors import VerificationError, show_number_text, show_text

# A JSON string (or an unterminated one, to the end of the text, so that a scan never restarts
# inside it) or a bracket: what the nesting scan below steps through.
_STRUCTURE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)|[\[\]{}]', re.DOTALL)
_JSON_PHRASES = {
    "Expecting value": "a value is expected",
    "Extra data": "more text follows the JSON value",
    "Unterminated string starting at": "a string is not closed",
    "Invalid control character at": "a control character inside a string",
    "Expecting property name enclosed in double quotes": "a member name in double quotes is "
    "expected",
    "Expecting ':' delimiter": "':' is expected",
    "Expecting ',' delimiter": "',' is expected",
    "Invalid \\escape": "an invalid backslash escape",
    "Invalid \\uXXXX escape": "an invalid \\uXXXX escape",
}


class _Problem(Exception):
    """What is wrong with a document, in words (raised by the JSON hooks below)."""


def failure(name: str, where: int | str | None, problem: str) -> VerificationError:
    """``bundle file NAME line N: PROBLEM`` (``where`` a line number, or a label such as
    ``checkpoint 3``, or None for a whole-file document)."""
    at = "" if where is None else f" line {where}" if isinstance(where, int) else f", {where}"
    return VerificationError(f"bundle file {name}{at}: {problem}")


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Problem(
                    f"member {show_text(key)} appears twice (each key appears once in an object)"
                )
            seen.add(key)
    return document


def _too_many_digits(text: str, digits: int) -> _Problem:
    return _Problem(
        f"a number with more than {MAX_DIGITS} digits ({show_number_text(text, digits)})"
    )


def _json_int(text: str) -> int:
    if len(text) > MAX_DIGITS and len(text.lstrip("-")) > MAX_DIGITS:
        raise _too_many_digits(text, len(text.lstrip("-")))
    return int(text)


def _json_float(text: str) -> float:
    if len(text) > MAX_DIGITS:
        digits = len(text) - sum(text.count(mark) for mark in "-+.eE")
        if digits > MAX_DIGITS:
            raise _too_many_digits(text, digits)
    return float(text)


def _json_constant(text: str) -> Any:
    raise _Problem(f"{text} is not a JSON number")


_DECODER = json.JSONDecoder(
    object_pairs_hook=_json_object,
    parse_int=_json_int,
    parse_float=_json_float,
    parse_constant=_json_constant,
)
# The decoder's own scanner (what ``decode`` calls after skipping leading space): one object
# from an index, and where it ends. Not in the type stubs, hence the cast.
_SCAN: Callable[[str, int], tuple[Any, int]] = cast(Any, _DECODER).scan_once


def read_lines(path: Path, name: str) -> Iterator[tuple[int, str]]:
    """Each line of a JSON Lines file of the bundle, numbered from 1, decoded as UTF-8; read in
    binary, never more than :data:`MAX_LINE_BYTES` (and its line break) at a time."""
    with path.open("rb") as handle:
        readline = handle.readline
        number = 0
        while True:
            raw = readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            number += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                raise failure(
                    name,
                    number,
                    f"the line is longer than {MAX_LINE_BYTES:,} bytes (a line of a bundle "
                    "file holds at most 4 MiB)",
                )
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise failure(name, number, _not_utf8(raw, e.start)) from None
            yield number, text


def read_document(path: Path, name: str, limit: int) -> Any:
    """A one-document file of the bundle, at most ``limit`` bytes, read without reading more."""
    with path.open("rb") as handle:
        raw = handle.read(limit + 1)
    if len(raw) > limit:
        raise failure(name, None, f"larger than {limit:,} bytes, the most this file holds")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line_start = raw.rfind(b"\n", 0, e.start) + 1
        line = raw.count(b"\n", 0, e.start) + 1
        raise failure(name, line, _not_utf8(raw[line_start:], e.start - line_start)) from None
    return _parse(text, name, 1, whole=True)


def _not_utf8(raw: bytes, at: int) -> str:
    return f"not UTF-8 (byte 0x{raw[at]:02x} at column {at + 1}); bundle files are UTF-8 text"


def parse_line(text: str, name: str, number: int) -> Any:
    """:func:`_parse` of one line, faster: the decoder's scanner, then a look at what follows
    the document (an exported line ends right after it). Anything else (an error, spaces,
    CRLF) is read again by :func:`_parse`, which tells what is wrong or accepts the line."""
    if text.count("[") + text.count("{") > MAX_DEPTH:
        _check_depth(text, name, number)
    try:
        document, end = _SCAN(text, 0)
        if end == len(text) or text[end:] == "\n":
            return document
    except (StopIteration, _Problem, ValueError, RecursionError):
        pass
    return _parse(text, name, number)


def _parse(text: str, name: str, line: int, *, whole: bool = False) -> Any:
    """One JSON document (``text`` starts at ``line``); the nesting depth is bounded before the
    decoder (which recurses per level) sees it."""
    if text.count("[") + text.count("{") > MAX_DEPTH:
        _check_depth(text, name, line)
    try:
        return _DECODER.decode(text)
    except _Problem as e:
        raise failure(name, None if whole else line, str(e)) from None
    except json.JSONDecodeError as e:
        at = line + e.lineno - 1 if whole else line  # (a line's error may lie past its break)
        raise failure(name, at, _not_json(text, e, whole)) from None
    except (ValueError, RecursionError):  # pragma: no cover - the hooks and depth bound these
        raise failure(name, None if whole else line, "not JSON") from None


def _check_depth(text: str, name: str, line: int) -> None:
    depth = 0
    for token in _STRUCTURE.finditer(text):
        mark = text[token.start()]
        if mark in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                at = line + text.count("\n", 0, token.start())
                raise failure(
                    name,
                    at,
                    f"nested deeper than {MAX_DEPTH} (arrays and objects nest at most "
                    f"{MAX_DEPTH} deep)",
                )
        elif mark in "]}":
            depth -= 1


def _not_json(text: str, e: json.JSONDecodeError, whole: bool) -> str:
    if text.startswith("\ufeff"):
        return "starts with a byte order mark; bundle files are UTF-8 without one"
    if not text.strip(" \t\r\n"):
        return "empty: not JSON" if whole else "a blank line: each line holds one JSON object"
    phrase = _JSON_PHRASES.get(e.msg, e.msg[:1].lower() + e.msg[1:])
    return f"not JSON ({phrase} at column {e.colno})"
