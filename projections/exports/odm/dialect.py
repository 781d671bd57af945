"""The two ODM versions written: namespace, schema file and how elements are made.

ODM 1.3.2 and ODM 2.0 carry the same content; 2.0 differs in its namespace, drops FormData
and FormDef (an item group of Type "Form" takes their place), puts a value in a ``Value`` child
instead of an attribute, puts AuditRecord and Signature after the children they describe,
has no MeasurementUnit (units are stated as an ``Alias``), and requires ``Type`` on every
TranslatedText.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lxml import etree  # type: ignore[import-untyped]  # no stubs; pyproject lists none

import projections.exports

SCHEMAS = Path(projections.exports.__file__).parent / "schemas"


@dataclass(frozen=True)
class Dialect:
    version: str
    namespace: str
    schema: Path

    @property
    def v2(self) -> bool:
        return self.version == "2.0"

    def q(self, tag: str) -> str:
        return f"{{{self.namespace}}}{tag}"

    def el(
        self,
        tag: str,
        attrib: Mapping[str, str | None] | None = None,
        *children: etree._Element | None,
        text: str | None = None,
    ) -> etree._Element:
        """An element of this version's namespace; ``None`` attributes and children dropped."""
        element = etree.Element(self.q(tag), nsmap={None: self.namespace})
        for name, value in (attrib or {}).items():
            if value is not None:
                element.set(name, value)
        for child in children:
            if child is not None:
                element.append(child)
        if text is not None:
            element.text = text
        return element

    def translated(self, tag: str, text: str) -> etree._Element:
        """``<tag><TranslatedText xml:lang="en">text</TranslatedText></tag>``."""
        attrib: dict[str, str | None] = {"{http://www.w3.org/XML/1998/namespace}lang": "en"}
        if self.v2:
            attrib["Type"] = "text/plain"
        return self.el(tag, None, self.el("TranslatedText", attrib, text=text))


ODM_1_3_2 = Dialect(
    "1.3.2", "http://www.cdisc.org/ns/odm/v1.3", SCHEMAS / "odm-1.3.2" / "ODM1-3-2.xsd"
)
ODM_2_0 = Dialect("2.0", "http://www.cdisc.org/ns/odm/v2.0", SCHEMAS / "odm-2.0" / "ODM.xsd")
DIALECTS = {d.version: d for d in (ODM_1_3_2, ODM_2_0)}
