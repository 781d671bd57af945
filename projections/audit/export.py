"""Exporting the audit trail: CSV (a header of :data:`COLUMNS`) or one streamed JSON document."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import IO, Any

from projections.audit.trail import COLUMNS, AuditFilter


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


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
