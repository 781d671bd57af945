"""SDTM datasets of the verified ledger as CDISC Dataset-JSON 1.1 (and SAS V5 transport).

:func:`export_sdtm` folds one subject at a time from the verified snapshot (corrections
applied: every value is the current, corrected one) and streams each subject's rows into one
writer per domain (DM, EX, AE, DS, LB, RS, SV, SE; then the trial design TA and TE). All is
written into a temporary folder beside ``out``, with ``manifest.json`` (each file's sha256,
rows and the provenance); the folder becomes ``out`` only when everything was written and
checked: a failure leaves nothing.

Provenance in each dataset: ``fileOID`` is
``trial-ledger:NCT00635154:ledger=<ledger id>:position=<N>:root=<base64 root>:dataset=DM``,
``dbLastModifiedDateTime`` the time of the commit holding that position, ``metaDataRef``
``manifest.json``, where ``provenance`` names the same position and root.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ledger.errors import UsageError
from projections.exports.files import publish_folder
from projections.exports.sdtm.columns import (
    AE,
    ALL_DOMAINS,
    DM,
    DS,
    EX,
    LB,
    RS,
    SE,
    SV,
    TA,
    TE,
    Domain,
)
from projections.exports.sdtm.design import dm_rows, se_rows, ta_rows, te_rows
from projections.exports.sdtm.events import Row, ae_rows, ds_rows, ex_rows
from projections.exports.sdtm.findings import lb_rows, rs_rows, sv_rows
from projections.exports.sdtm.subject import SubjectData, load_subject
from projections.exports.sdtm.terms import STUDYID
from projections.exports.sdtm.writer import DatasetInvalid, DatasetWriter, file_digest
from projections.exports.sdtm.xpt import write_xpt
from projections.exports.source import ExportSource

FORMATS = ("json", "xpt")
MANIFEST = "manifest.json"

__all__ = ["FORMATS", "MANIFEST", "DatasetInvalid", "export_sdtm"]

SUBJECT_ROWS: tuple[tuple[Domain, Callable[[SubjectData], Iterator[Row]]], ...] = (
    (DM, dm_rows),
    (EX, ex_rows),
    (AE, ae_rows),
    (DS, ds_rows),
    (LB, lb_rows),
    (RS, rs_rows),
    (SV, sv_rows),
    (SE, se_rows),
)


def _software_version() -> str:
    try:
        return version("trial-ledger")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "unknown"


def dataset_header(source: ExportSource) -> dict[str, Any]:
    """What every dataset of one export shares, provenance included (module docstring)."""
    as_of = source.as_of  # the ledger's time at the position: one position, the same bytes
    return {
        "datasetJSONCreationDateTime": as_of,
        "datasetJSONVersion": "1.1",
        "fileOID": (
            f"trial-ledger:{STUDYID}:ledger={source.ledger_id}:position={source.position}"
            f":root={source.root_b64}"
        ),
        "dbLastModifiedDateTime": as_of,
        "originator": "trial-ledger export sdtm",
        "sourceSystem": {"name": "trial-ledger", "version": _software_version()},
        "studyOID": STUDYID,
        "metaDataVersionOID": f"MDV.{STUDYID}.SDTM",
        "metaDataRef": MANIFEST,
    }


def _write_all(
    source: ExportSource, folder: Path, progress: Callable[[int], None] | None
) -> list[dict[str, Any]]:
    header = dataset_header(source)
    writers = {d.name: DatasetWriter(d, folder, header) for d in ALL_DOMAINS}
    try:
        for done, subject_id in enumerate(sorted(source.subjects), 1):
            data = load_subject(source, subject_id)
            for domain, rows in SUBJECT_ROWS:
                writer = writers[domain.name]
                for row in rows(data):
                    writer.add(row)
            if progress is not None:
                progress(done)
        for domain, design in ((TA, ta_rows), (TE, te_rows)):
            for row in design():
                writers[domain.name].add(row)
        return [w.finish() for w in writers.values()]
    finally:
        for w in writers.values():
            w.discard()


def export_sdtm(
    source: ExportSource,
    out: Path,
    fmt: str = "json",
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write the folder ``out`` (which must not exist); return the ``--json`` document."""
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt}: not a format written here; use json or xpt")
    started = time.monotonic()
    temporary = out.with_name(f".{out.name}.{os.getpid()}.partial")
    temporary.mkdir()
    try:
        datasets = _write_all(source, temporary, progress)
        if fmt == "xpt":
            by_name = {d.name: d for d in ALL_DOMAINS}
            for entry in datasets:
                entry["xpt"] = write_xpt(by_name[entry["name"]], temporary / entry["file"])
        manifest = {
            "standard": "SDTM",
            "datasetJSONVersion": "1.1",
            "studyid": STUDYID,
            "format": fmt,
            "provenance": source.provenance(),
            "datasets": datasets,
        }
        (temporary / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        publish_folder(temporary, out)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return {
        "out": str(out),
        "format": fmt,
        "datasets": datasets,
        "manifest": {"file": MANIFEST, **file_digest(out / MANIFEST)},
        "provenance": source.provenance(),
        "seconds": round(time.monotonic() - started, 3),
    }
