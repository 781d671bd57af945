"""The JSON Lines import format: one recording command per line, all appended as one commit.

Each line is a JSON object whose ``command`` names a recording command (``screen``, ``dose``,
``lab``, ...), with the subject, the clinical ``date`` and that command's fields, exactly the
arguments of the :class:`~ledger.recording.TrialRecorder` method of the same name
(:mod:`ledger.domain.imports` maps each line to its command). Numbers
are read as decimals (``2.45`` and ``"2.45"`` are the same; no binary float is ever made).
:func:`import_line_schema` is the JSON Schema (2020-12) generated from these models; the
committed copy is ``schemas/import-line.schema.json`` (``trial-ledger schema import-line``).

Example (a returned dosing diary and a lab transfer)::

    {"command": "dose", "subject_id": "MC0282-001-017", "date": "2003-02-03",
     "drug": "anakinra", "dose": "100", "route": "SC"}
    {"command": "lab", "subject_id": "MC0282-001-017", "date": "2003-02-03",
     "analyte": "serum_m_protein", "value": "3.1", "unit": "g/dL"}
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from ledger import input_limits
from ledger.domain.commands import COMMANDS, Command
from ledger.domain.commands.base import check_numbers
from ledger.errors import ValidationError, refusal_from_pydantic

SCHEMA_ID = "urn:trial-ledger:schema:import-line:v1"


IMPORTABLE: tuple[type[Command], ...] = tuple(c for c in COMMANDS if c.importable)
"""The commands an import line may name: every recording command whose commit is one of
authorship (a signature, ``sign``, is its own commit with its own meaning)."""

IMPORT_LINE: TypeAdapter[Command] = TypeAdapter(
    Annotated[Union[IMPORTABLE], Field(discriminator="command")]  # type: ignore[arg-type]  # noqa: UP007 - a union built from the command list
)


def parse_line(text: str) -> Command:
    """One line as its model; a refusal names the field, the (truncated) value and the rule.

    The line is parsed within the limits of :mod:`ledger.input_limits` (nesting depth, number
    of values, digits of a number), so no line can exhaust the stack or memory."""
    document = input_limits.loads(text)
    if not isinstance(document, dict):
        raise ValidationError("line", text, "each line is one JSON object")
    try:
        line = IMPORT_LINE.validate_python(document)
    except PydanticValidationError as e:
        error = e.errors(include_url=False)[0]
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            raise ValidationError("command", document.get("command"), error["msg"]) from None
        raise refusal_from_pydantic(error, skip=1, default_field="line") from None
    check_numbers(line)
    return line


_BOUNDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


def _json_schema_bounds(node: Any) -> Any:
    """Bounds pydantic leaves in its own words (``ge``, ``le`` beside an ``anyOf`` of number and
    text) moved into the number branch as JSON Schema's ``minimum``/``maximum``, so a schema
    validator enforces them too."""
    if isinstance(node, list):
        return [_json_schema_bounds(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _json_schema_bounds(value) for key, value in node.items()}
    bounds = {_BOUNDS[key]: node.pop(key) for key in list(node) if key in _BOUNDS}
    if bounds:
        for branch in node.get("anyOf", []):
            if branch.get("type") == "number":
                branch.update(bounds)
    return node


def import_line_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of one import line, generated from the models above."""
    schema = _json_schema_bounds(IMPORT_LINE.json_schema(mode="validation"))
    for definition in schema.get("$defs", {}).values():
        if "command" in definition.get("properties", {}):  # the tag is required in a line
            definition["required"] = ["command", *definition.get("required", [])]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "trial-ledger import line",
        "description": (
            "One line of a JSON Lines file for `trial-ledger import`: a recording command "
            "(`command`), the subject, the clinical `date` and the command's fields. The whole "
            "file is appended as one signed commit, or refused with the numbers of the invalid "
            "lines. Decimal values may be JSON numbers or strings. "
            f"Limits: UTF-8 without a byte order mark; at most "
            f"{input_limits.MAX_LINE_BYTES:,} bytes (1 MiB) a line, "
            f"{input_limits.MAX_LINES:,} lines and {input_limits.MAX_FILE_BYTES:,} bytes "
            f"(64 MiB) a file; objects and arrays nested at most {input_limits.MAX_DEPTH} deep, "
            f"at most {input_limits.MAX_VALUES:,} values a line, each key once; numbers of at "
            f"most {input_limits.MAX_DIGITS} digits and {input_limits.MAX_DECIMAL_PLACES} decimal "
            f"places, below 1E+{input_limits.MAX_MAGNITUDE + 1} in magnitude."
        ),
        **schema,
    }


def import_line_schema_text() -> str:
    """The schema as committed in ``schemas/import-line.schema.json`` (stable, one newline)."""
    return json.dumps(import_line_schema(), indent=2, ensure_ascii=False) + "\n"
