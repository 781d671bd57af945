"""RFC 8785 JSON Canonicalization Scheme (JCS): the exact bytes that get hashed and signed.

``canonical_json`` returns the RFC 8785 serialisation of a JSON value: no insignificant
whitespace (§3.2.1), strings escaped minimally and emitted as UTF-8 (§3.2.2.2), numbers in the
ECMAScript shortest round-trip form (§3.2.2.3), and object members sorted by the UTF-16 code
units of their names (§3.2.3). The ``rfc8785`` package is the reference implementation, but it
costs ~23 µs for a small dict and this function sits on the append and verify hot path.

Fast path. For float-free values (dict with ``str`` keys, list/tuple, ``str``, ``bool``,
``None``, ``int`` within ±(2**53-1), §3.2.2.3 / I-JSON), ``json.JSONEncoder(sort_keys=True,
separators=(",", ":"), ensure_ascii=False)`` emits identical bytes because:

* integers in the I-JSON range print as plain decimal in both encoders;
* both escape exactly ``"``, ``\\``, ``\\b \\f \\n \\r \\t`` and other U+0000..U+001F as
  ``\\u00xx`` (lowercase hex), and emit every other code point literally (§3.2.2.2);
* Python sorts ``str`` by code point; for keys made only of BMP characters each code point *is*
  one UTF-16 code unit, so the orders coincide. A non-BMP character becomes a surrogate pair
  (0xD800..0xDBFF), which sorts *below* U+E000..U+FFFF in UTF-16 but above them by code point,
  so any dict with a non-BMP key takes the slow path.

Floats (whose JCS form differs from ``repr``) and non-BMP keys go through ``rfc8785.dumps``.
A single recursive walk both validates and picks the path. Refusals raise
:class:`~ledger.errors.CanonicalEncodingError` naming the JSON path and the value: NaN and
infinities, integers outside ±(2**53-1), non-``str`` keys, unsupported types, lone surrogates
(not encodable as UTF-8, §3.2.2.2), and nesting too deep or circular.
"""

from __future__ import annotations

import json
import math
from typing import Any

import rfc8785

from ledger.errors import CanonicalEncodingError

__all__ = ["canonical_json"]

_LIMIT = 2**53 - 1
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False
)


class _RefusedError(Exception):
    """Internal: carries the reason outwards while each level records its path segment."""

    def __init__(self, reason: str, value: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.value = value
        self.segments: list[str] = []


def _is_plain(item: object) -> bool:
    """Exact-type fast lane for the commonest leaves (subclasses take the full check)."""
    kind = type(item)
    if kind is int:
        return -_LIMIT <= item <= _LIMIT  # type: ignore[operator]
    return kind is str or kind is bool or item is None


def _needs_reference(value: object) -> bool:
    """Validate ``value``; return True when it holds a float or a non-BMP object key."""
    if isinstance(value, dict):
        return _object_needs_reference(value)
    if isinstance(value, list | tuple):
        return _array_needs_reference(value)
    if value is None or isinstance(value, str | bool):
        return False
    if isinstance(value, int):
        if -_LIMIT <= value <= _LIMIT:
            return False
        raise _RefusedError("integer outside the I-JSON range ±(2**53-1)", value)
    if isinstance(value, float):
        if math.isfinite(value):
            return True
        raise _RefusedError("NaN and infinities have no JSON form", value)
    raise _RefusedError(f"type {type(value).__name__} has no JSON form", value)


def _object_needs_reference(value: dict[Any, Any]) -> bool:
    slow = False
    for key, item in value.items():
        if not isinstance(key, str):
            raise _RefusedError("object keys must be str", key)
        if not key.isascii() and max(key) > "\uffff":
            slow = True
        if _is_plain(item):
            continue
        try:
            slow = _needs_reference(item) or slow
        except _RefusedError as refused:
            refused.segments.append(f"[{json.dumps(key)}]")
            raise
    return slow


def _array_needs_reference(value: list[Any] | tuple[Any, ...]) -> bool:
    slow = False
    for index, item in enumerate(value):
        if _is_plain(item):
            continue
        try:
            slow = _needs_reference(item) or slow
        except _RefusedError as refused:
            refused.segments.append(f"[{index}]")
            raise
    return slow


def _surrogate_path(value: object, path: str) -> tuple[str, str] | None:
    """Find the first string (key or value) holding a lone surrogate; error path only."""
    if isinstance(value, str):
        return None if _utf8_ok(value) else (path, value)
    if isinstance(value, dict):
        for key, item in value.items():
            if not _utf8_ok(key):
                return (f"{path} (a key)", key)
            found = _surrogate_path(item, f"{path}[{json.dumps(key)}]")
            if found is not None:
                return found
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _surrogate_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _utf8_ok(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def canonical_json(value: object) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of ``value`` or raise CanonicalEncodingError."""
    try:
        slow = _needs_reference(value)
    except _RefusedError as refused:
        path = "$" + "".join(reversed(refused.segments))
        raise CanonicalEncodingError(
            f"no RFC 8785 form at {path}: {refused.reason}; found {refused.value!r}"
        ) from None
    except RecursionError:
        raise CanonicalEncodingError(
            "no RFC 8785 form: value nests too deeply or is circular; expected a finite tree"
        ) from None
    try:
        if slow:
            return rfc8785.dumps(value)  # type: ignore[arg-type]
        return _ENCODER.encode(value).encode("utf-8")
    except (UnicodeEncodeError, rfc8785.CanonicalizationError):
        found = _surrogate_path(value, "$")
        where, text = found if found is not None else ("$", "?")
        raise CanonicalEncodingError(
            f"no RFC 8785 form at {where}: expected valid Unicode (§3.2.2.2), "
            f"found a lone surrogate in {text!r}"
        ) from None
