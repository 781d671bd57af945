"""Streaming schema validation: the written file checked against the vendored XSD, element by
element, clearing what was checked (memory stays flat)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lxml import etree  # type: ignore[import-untyped]  # no stubs; pyproject lists none

from ledger.errors import LedgerError
from projections.exports.odm.dialect import Dialect

CLEARED = ("SubjectData", "ItemDef", "CodeList", "User", "Location")


class SchemaInvalid(LedgerError):
    """The written file does not validate: a bug of the writer, never of the ledger (exit 2,
    nothing written)."""


@cache
def schema_of(xsd: Path) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(xsd)))


def validate_file(d: Dialect, path: Path) -> None:
    """Raise :class:`SchemaInvalid` (with the first error and its line) unless ``path``
    validates against ``d``'s schema."""
    cleared = {d.q(tag) for tag in CLEARED}
    try:
        for _, element in etree.iterparse(
            str(path), events=("end",), schema=schema_of(d.schema), huge_tree=True
        ):
            if element.tag in cleared:
                element.clear(keep_tail=False)
                parent = element.getparent()
                while parent is not None and element.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError as e:
        raise SchemaInvalid(
            f"internal error: the ODM {d.version} written does not validate against "
            f"{d.schema.name} ({e}); nothing was written. Please report it."
        ) from e
