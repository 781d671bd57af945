"""Exporting the audit trail: CSV (a header of :data:`COLUMNS`) or one streamed JSON document."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from typing import IO, Any

from projections.audit.trail import COLUMNS, AuditFilter

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet evaluates a cell starting with (CSV injection)."""


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return guarded(";".join(str(v) for v in value))
    return guarded(str(value))


def guarded(text: str) -> str:
    """``text`` as a CSV cell a spreadsheet shows rather than evaluates: text starting with
    ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, unless it is a number, gets a
    leading ``'`` (the JSON output carries every value exactly as recorded)."""
    if text.startswith(FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def _is_number(text: str) -> bool:
    return _NUMBER.fullmatch(text) is not None


def write_csv(rows: Iterator[dict[str, Any]], out: IO[str]) -> int:
    """CSV with a header of :data:`COLUMNS`; returns the number of events written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for row in rows:
        writer.writerow([_cell(row[c]) for c in COLUMNS])
        count += 1
    return count


def write_json(rows: Iterator[dict[str, Any]], out: IO[str], f: AuditFilter, position: int) -> int:
    """One JSON document, streamed: ``{"filters", "position", "columns", "events", "count"}``."""
    out.write('{\n  "filters": ' + json.dumps(f.to_json(), ensure_ascii=False))
    out.write(',\n  "position": ' + str(position))
    out.write(',\n  "columns": ' + json.dumps(list(COLUMNS)))
    out.write(',\n  "events": [')
    count = 0
    for row in rows:
        out.write(("," if count else "") + "\n    " + json.dumps(row, ensure_ascii=False))
        count += 1
    out.write(("\n  " if count else "") + f'],\n  "count": {count}\n}}\n')
    return count
