"""CDISC ODM (1.3.2 or 2.0) of the verified ledger, with its full transactional audit trail.

:func:`export_odm` writes the file beside ``out`` under a temporary name, validates it against
the vendored schema (streamed), and only then renames it to ``out``: a failure leaves nothing.
:mod:`.reader` reads such a file back and replays its transactions.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lxml import etree  # type: ignore[import-untyped]  # no stubs; pyproject lists none

from projections.exports.files import publish_file
from projections.exports.odm.dialect import DIALECTS, ODM_1_3_2, ODM_2_0, Dialect
from projections.exports.odm.validate import SchemaInvalid, validate_file
from projections.exports.odm.writer import sha256_of, write_odm
from projections.exports.source import ExportSource

VERSIONS = tuple(DIALECTS)

__all__ = [
    "ODM_1_3_2",
    "ODM_2_0",
    "VERSIONS",
    "Dialect",
    "SchemaInvalid",
    "export_odm",
    "validate_file",
]


def export_odm(
    source: ExportSource,
    out: Path,
    version: str = "1.3.2",
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write ``out`` (which must not exist) and return the ``--json`` document."""
    started = time.monotonic()
    dialect = DIALECTS[version]
    temporary = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        try:
            counts = write_odm(dialect, source, temporary, progress)
        except etree.SerialisationError as e:  # lxml's own report of a failed write (disk full)
            raise OSError(f"the XML could not be written: {e}") from e
        validate_file(dialect, temporary)
        publish_file(temporary, out)
    finally:
        temporary.unlink(missing_ok=True)
    return {
        "out": str(out),
        "version": dialect.version,
        "bytes": out.stat().st_size,
        "sha256": sha256_of(out),
        **counts.to_json(),
        "provenance": source.provenance(),
        "validated_against": dialect.schema.name,
        "seconds": round(time.monotonic() - started, 3),
    }
