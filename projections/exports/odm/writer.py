"""The ODM file, written as a stream: header, Study, AdminData, then one transaction at a time.

Nothing but the element of the current transaction is held in memory
(:class:`lxml.etree.xmlfile`), and the file is validated the same way (:mod:`.validate`):
memory stays flat on any ledger size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree  # type: ignore[import-untyped]  # no stubs; pyproject lists none

from projections.exports.odm.admin import admin_element
from projections.exports.odm.clinical import Transactions
from projections.exports.odm.dialect import Dialect
from projections.exports.odm.metadata import MDV_OID, STUDY_OID
from projections.exports.odm.render import subject_element
from projections.exports.source import ExportSource

SOURCE_SYSTEM = "trial-ledger"


def source_system_version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("trial-ledger")
    except PackageNotFoundError:
        return "0"


@dataclass
class Counts:
    subjects: set[str]
    item_data: int = 0
    audit_records: int = 0
    signatures: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "subjects": len(self.subjects),
            "item_data": self.item_data,
            "audit_records": self.audit_records,
            "signatures": self.signatures,
        }


def file_oid(source: ExportSource) -> str:
    return f"trial-ledger.{source.ledger_id}.position-{source.position}"


def describe(source: ExportSource) -> str:
    """What the file is derived from: ledger id, position, Merkle root (the provenance)."""
    return (
        f"Transactional export of trial-ledger {source.ledger_id} (trial NCT00635154) at "
        f"ledger position {source.position}, {source.report.commits} signed commits; "
        f"RFC 9162 Merkle root {source.root_b64} (base64, SHA-256). "
        "AuditRecord/SourceID is the ledger position of each change."
    )


def _root_attributes(d: Dialect, source: ExportSource) -> dict[str, str]:
    attrib = {
        "FileType": "Transactional",
        "Granularity": "All",
        "FileOID": file_oid(source),
        "CreationDateTime": source.as_of,  # the ledger's time at the position: one file each
        "ODMVersion": d.version,
        "Originator": f"ledger {source.ledger_id}",
        "SourceSystem": SOURCE_SYSTEM,
        "SourceSystemVersion": source_system_version(),
    }
    if not d.v2:
        attrib["Description"] = describe(source)
    return attrib


def write_odm(
    d: Dialect,
    source: ExportSource,
    path: Path,
    progress: Callable[[int], None] | None = None,
) -> Counts:
    """Write the whole ODM document to ``path`` (a new file), streamed."""
    from projections.exports.odm.study import study_element  # noqa: PLC0415

    counts = Counts(set())
    title = source.registry.trial.title if source.registry.trial else STUDY_OID
    with etree.xmlfile(str(path), encoding="utf-8") as xf:
        xf.write_declaration()
        with xf.element(d.q("ODM"), _root_attributes(d, source), nsmap={None: d.namespace}):
            if d.v2:
                xf.write(d.translated("Description", describe(source)), pretty_print=True)
            xf.write(study_element(d, title), pretty_print=True)
            xf.write(admin_element(d, source.registry), pretty_print=True)
            clinical = {"StudyOID": STUDY_OID, "MetaDataVersionOID": MDV_OID}
            with xf.element(d.q("ClinicalData"), clinical):
                for txn in Transactions(source).stream(progress):
                    counts.subjects.add(txn.subject)
                    items = txn.item_count
                    counts.item_data += items
                    counts.audit_records += items or 1
                    counts.signatures += 1
                    xf.write(subject_element(d, txn), pretty_print=True)
    return counts


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def json_counts(counts: Counts) -> dict[str, Any]:
    return counts.to_json()
