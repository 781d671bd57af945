"""One Dataset-JSON 1.1 file, written row by row (memory stays flat on any ledger size).

Rows go to a temporary file as they come; :meth:`DatasetWriter.finish` then writes the header
(``records`` and the measured string lengths are known only at the end) and copies the rows
after it, so the file is ``{header..., "rows": [...]}`` (JSON object order is free), with the
header on the first line and each row on a line of its own (:mod:`.xpt` streams them). Every row is
checked before it is written (as wide as the columns, each value of its column's type), each
character value is cut to 200 bytes (the limit of SDTM and of SAS V5), and the header is
validated against the vendored Dataset-JSON schema: the schema checks neither the row count
nor the widths, so both are checked here.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import IO, Any

import jsonschema

from projections.exports.sdtm.columns import DATE, DOUBLE, INTEGER, STRING, Domain
from projections.exports.sdtm.terms import clip

SCHEMA = Path(__file__).parent.parent / "schemas" / "dataset-json-1.1" / "dataset.schema.json"
Value = str | int | float | None


class DatasetInvalid(ValueError):
    """A row or header that is not valid Dataset-JSON 1.1 (a bug of the export)."""


@cache
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _check_value(domain: Domain, column: int, value: Value) -> None:
    spec = domain.columns[column]
    if value is None:
        return
    if spec.data_type in (STRING, DATE):
        ok = isinstance(value, str)
    elif spec.data_type == INTEGER:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif spec.data_type == DOUBLE:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:  # pragma: no cover - every column type is listed above
        ok = False
    if not ok:
        raise DatasetInvalid(
            f"{domain.name}.{spec.name}: {value!r} is not a value of dataType {spec.data_type}"
        )


class DatasetWriter:
    """Rows of one domain to ``directory/<name>.json``; see the module docstring."""

    def __init__(self, domain: Domain, directory: Path, header: dict[str, Any]) -> None:
        self.domain = domain
        self.path = directory / domain.file
        self.header = header
        self.records = 0
        self.lengths = [1] * len(domain.columns)
        self._rows_path = directory / f".{domain.name.lower()}.rows"
        self._rows: IO[str] = self._rows_path.open("w", encoding="utf-8")

    def add(self, row: Sequence[Value]) -> None:
        """Check and append one row; a character value is cut to SDTM's 200 bytes."""
        if len(row) != len(self.domain.columns):
            raise DatasetInvalid(
                f"{self.domain.name}: a row of {len(row)} values for "
                f"{len(self.domain.columns)} columns"
            )
        values = list(row)
        for i, value in enumerate(values):
            _check_value(self.domain, i, value)
            if isinstance(value, str):
                text = values[i] = clip(value) or ""
                self.lengths[i] = max(self.lengths[i], len(text.encode()))
        separator = ",\n" if self.records else "\n"  # a row a line: SAS transport reads them
        self._rows.write(separator + json.dumps(values, ensure_ascii=False))
        self.records += 1

    def columns(self) -> list[dict[str, Any]]:
        found = []
        for spec, length in zip(self.domain.columns, self.lengths, strict=True):
            column: dict[str, Any] = {
                "itemOID": f"IT.{self.domain.name}.{spec.name}",
                "name": spec.name,
                "label": spec.label,
                "dataType": spec.data_type,
            }
            if spec.data_type == STRING:
                column["length"] = length
            if spec.key is not None:
                column["keySequence"] = spec.key
            found.append(column)
        return found

    def finish(self) -> dict[str, Any]:
        """Write the file; ``{"name", "label", "file", "records", "bytes", "sha256"}``."""
        self._rows.close()
        document = {
            **self.header,
            "fileOID": f"{self.header['fileOID']}:dataset={self.domain.name}",
            "itemGroupOID": f"IG.{self.domain.name}",
            "name": self.domain.name,
            "label": self.domain.label,
            "records": self.records,
            "columns": self.columns(),
        }
        errors = sorted(validator().iter_errors({**document, "rows": []}), key=str)
        if errors:
            raise DatasetInvalid(f"{self.domain.name}: {errors[0].message}")
        head = json.dumps(document, ensure_ascii=False)
        with self.path.open("w", encoding="utf-8") as out:
            out.write(head[:-1] + ', "rows": [')
            with self._rows_path.open(encoding="utf-8") as rows:
                shutil.copyfileobj(rows, out)
            out.write("\n]}\n")
        self._rows_path.unlink()
        return {
            "name": self.domain.name,
            "label": self.domain.label,
            "file": self.path.name,
            "records": self.records,
            **file_digest(self.path),
        }

    def discard(self) -> None:
        self._rows.close()
        self._rows_path.unlink(missing_ok=True)


def file_digest(path: Path) -> dict[str, Any]:
    """``{"bytes", "sha256"}`` of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}
