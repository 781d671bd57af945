"""SAS V5 transport (XPT) copies of the Dataset-JSON files, written as a stream.

The SAS V5 transport format (SAS technical note TS-140, the format FDA submissions expect) is
a sequence of 80-byte records: the library and member headers, one 140-byte NAMESTR per
variable, then the observations back to back, each as wide as the sum of the variables'
lengths (numbers as 8-byte IBM System/370 floating point, text blank-padded). The file is
derived from its Dataset-JSON file one row at a time (:func:`json_rows`: the writer puts each
row on its own line), so memory stays flat on any ledger size; a third-party reader
(pyreadstat) reads the files back in the tests.

SAS V5 limits names to 8 characters, labels to 40 and character values to 200 bytes;
:func:`check_v5` refuses what does not fit, before anything is written. A missing number is
SAS's missing value ``.``; a missing text is blanks.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from projections.exports.sdtm.columns import NUMERIC, Domain
from projections.exports.sdtm.writer import DatasetInvalid, file_digest

RECORD = 80
NAMESTR = struct.Struct(">hhhh8s40s8shhh2s8shhl52s")
MISSING = b"\x2e" + bytes(7)
DATE_WIDTH = 10
"""An ISO 8601 date (Dataset-JSON states no length for dataType date): YYYY-MM-DD."""


def _header(kind: str, numbers: str = "0" * 30) -> bytes:
    return f"HEADER RECORD*******{kind:<8}HEADER RECORD!!!!!!!{numbers}  ".encode("ascii")


def _text(value: str, width: int) -> bytes:
    raw = value.encode("utf-8")[:width]
    return raw + b" " * (width - len(raw))


def ibm_double(value: float | None) -> bytes:
    """``value`` as an 8-byte IBM System/370 double (SAS V5 transport); ``None``/NaN: ``.``."""
    if value is None or math.isnan(value):
        return MISSING
    if value == 0:
        return bytes(8)
    if math.isinf(value):
        raise DatasetInvalid(f"{value!r} cannot be written in SAS V5 transport")
    sign = 0x80 if value < 0 else 0
    fraction, exponent = abs(value), 64
    while fraction >= 1:
        fraction /= 16
        exponent += 1
    while fraction < 1 / 16:
        fraction *= 16
        exponent -= 1
    mantissa = round(fraction * 2**56)
    if mantissa >= 2**56:  # rounded up to the next power of 16
        mantissa >>= 4
        exponent += 1
    if not 0 <= exponent <= 127:
        raise DatasetInvalid(f"{value!r} is out of the range of SAS V5 transport numbers")
    return bytes([sign | exponent]) + mantissa.to_bytes(7, "big")


def check_v5(domain: Domain, document: dict[str, Any]) -> None:
    if len(domain.name) > 8 or len(domain.label) > 40:
        raise DatasetInvalid(f"{domain.name}: name or label too long for SAS V5 transport")
    for column in document["columns"]:
        if len(column["name"]) > 8 or len(column["label"]) > 40:
            raise DatasetInvalid(
                f"{domain.name}.{column['name']}: name or label too long for SAS V5 transport"
            )
        if column.get("length", 1) > 200:
            raise DatasetInvalid(
                f"{domain.name}.{column['name']}: values longer than 200 bytes for SAS V5"
            )


def json_rows(json_path: Path) -> tuple[dict[str, Any], Iterator[list[Any]]]:
    """The header (without rows) of a Dataset-JSON file written here, and its rows, streamed."""
    f = json_path.open(encoding="utf-8")
    head = f.readline().rstrip("\n")
    if not head.endswith('"rows": ['):
        f.close()
        raise DatasetInvalid(f"{json_path.name}: not a Dataset-JSON file written row by row")
    header: dict[str, Any] = json.loads(head + "]}")

    def rows() -> Iterator[list[Any]]:
        with f:
            for line in f:
                text = line.rstrip("\n").rstrip(",")
                if text not in ("]}", ""):
                    yield json.loads(text)

    return header, rows()


class _Layout:
    """The variables of one dataset: type, length and offset in an observation."""

    def __init__(self, domain: Domain, document: dict[str, Any]) -> None:
        self.numeric = [c.data_type in NUMERIC for c in domain.columns]
        self.lengths = [
            8 if numeric else max(1, int(column.get("length", DATE_WIDTH)))
            for numeric, column in zip(self.numeric, document["columns"], strict=True)
        ]
        self.width = sum(self.lengths)

    def namestrs(self, domain: Domain) -> bytes:
        out, position = b"", 0
        for n, (column, numeric, length) in enumerate(
            zip(domain.columns, self.numeric, self.lengths, strict=True), start=1
        ):
            out += NAMESTR.pack(
                1 if numeric else 2, 0, length, n,
                _text(column.name, 8), _text(column.label, 40), b" " * 8, 0, 0, 0,
                bytes(2), b" " * 8, 0, 0, position, bytes(52),
            )  # fmt: skip
            position += length
        return out

    def observation(self, row: list[Any]) -> bytes:
        parts = []
        for value, numeric, length in zip(row, self.numeric, self.lengths, strict=True):
            if numeric:
                parts.append(ibm_double(None if value is None else float(value)))
            else:
                text = "" if value is None else str(value)
                if len(text.encode("utf-8")) > length:
                    raise DatasetInvalid(f"{text!r} is longer than its column ({length} bytes)")
                parts.append(_text(text, length))
        return b"".join(parts)


def _stamp(created: str) -> bytes:
    """``ddMMMyy:hh:mm:ss`` of the dataset's creation time (the ledger's, at its position)."""
    when = datetime.fromisoformat(created.replace("Z", "+00:00")).astimezone(UTC)
    return when.strftime("%d%b%y:%H:%M:%S").upper().encode("ascii")


def _headers(domain: Domain, layout: _Layout, created: str) -> bytes:
    stamp = _stamp(created)
    software = b"SAS     SAS     SASLIB  9.4     " + _text("trial-ledger", 8) + b" " * 24
    member = b"SAS     " + _text(domain.name, 8) + b"SASDATA 9.4     " + _text("ledger", 8)
    records = [
        _header("LIBRARY"),
        software + stamp,
        stamp + b" " * 64,
        _header("MEMBER", "000000000000000001600000000140"),
        _header("DSCRPTR"),
        member + b" " * 24 + stamp,
        stamp + b" " * 16 + _text(domain.label, 40) + _text("DATA", 8),
        _header("NAMESTR", f"000000{len(domain.columns):04d}" + "0" * 20),
    ]
    return b"".join(records) + _padded(layout.namestrs(domain)) + _header("OBS")


def _padded(block: bytes) -> bytes:
    return block + b" " * (-len(block) % RECORD)


def _write_observations(out: IO[bytes], layout: _Layout, rows: Iterator[list[Any]]) -> None:
    written = 0
    for row in rows:
        observation = layout.observation(row)
        out.write(observation)
        written += len(observation)
    out.write(b" " * (-written % RECORD))


def write_xpt(domain: Domain, json_path: Path) -> dict[str, Any]:
    """``<name>.xpt`` beside ``json_path``; ``{"file", "bytes", "sha256"}``."""
    header, rows = json_rows(json_path)
    check_v5(domain, header)
    layout = _Layout(domain, header)
    target = json_path.with_suffix(".xpt")
    with target.open("wb") as out:
        out.write(_headers(domain, layout, header["datasetJSONCreationDateTime"]))
        _write_observations(out, layout, rows)
    return {"file": target.name, **file_digest(target)}
