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

Where things are: :mod:`~ledger.input_limits.limits` (the limits),
:mod:`~ledger.input_limits.numeric` (numbers), :mod:`~ledger.input_limits.documents` (one JSON
document: :func:`loads`, :func:`load_json_file`) and :mod:`~ledger.input_limits.import_files`
(:func:`read_import_lines`).
"""

from __future__ import annotations

from ledger.input_limits.documents import load_json_file, loads
from ledger.input_limits.import_files import ImportFileRefused, read_import_lines
from ledger.input_limits.limits import (
    MAX_DECIMAL_PLACES,
    MAX_DEPTH,
    MAX_DIGITS,
    MAX_DOCUMENT_BYTES,
    MAX_FILE_BYTES,
    MAX_LINE_BYTES,
    MAX_LINES,
    MAX_MAGNITUDE,
    MAX_VALUES,
    NUMBER_RULE,
)
from ledger.input_limits.numeric import check_number, number_problem, parse_decimal

__all__ = [
    "MAX_DECIMAL_PLACES",
    "MAX_DEPTH",
    "MAX_DIGITS",
    "MAX_DOCUMENT_BYTES",
    "MAX_FILE_BYTES",
    "MAX_LINES",
    "MAX_LINE_BYTES",
    "MAX_MAGNITUDE",
    "MAX_VALUES",
    "NUMBER_RULE",
    "ImportFileRefused",
    "check_number",
    "load_json_file",
    "loads",
    "number_problem",
    "parse_decimal",
    "read_import_lines",
]
