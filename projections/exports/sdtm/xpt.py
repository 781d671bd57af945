"""SAS V5 transport (XPT) copies of the Dataset-JSON files, through pyreadstat.

One dataset at a time is read back from its JSON file into a DataFrame (character columns
with missing values as "", numeric ones as NaN, as SAS holds them) and written with the table
name = the domain, the dataset label and the column labels. SAS V5 limits names to 8
characters, labels to 40 and character values to 200 bytes; :func:`check_v5` refuses what
does not fit, before anything is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat

from projections.exports.sdtm.columns import NUMERIC, Domain
from projections.exports.sdtm.writer import DatasetInvalid, file_digest


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


def frame(domain: Domain, document: dict[str, Any]) -> pd.DataFrame:
    """The dataset as SAS holds it: "" for a missing character value, NaN for a number."""
    data: dict[str, Any] = {}
    for i, column in enumerate(domain.columns):
        values = [row[i] for row in document["rows"]]
        if column.data_type in NUMERIC:
            data[column.name] = pd.Series(
                [float("nan") if v is None else float(v) for v in values], dtype="float64"
            )
        else:
            data[column.name] = pd.Series(["" if v is None else v for v in values], dtype=object)
    return pd.DataFrame(data, columns=[c.name for c in domain.columns])


def write_xpt(domain: Domain, json_path: Path) -> dict[str, Any]:
    """``<name>.xpt`` beside ``json_path``; ``{"file", "bytes", "sha256"}``."""
    document = json.loads(json_path.read_text(encoding="utf-8"))
    check_v5(domain, document)
    target = json_path.with_suffix(".xpt")
    pyreadstat.write_xport(
        frame(domain, document),
        str(target),
        file_label=domain.label,
        column_labels=[c.label for c in domain.columns],
        table_name=domain.name,
        file_format_version=5,
    )
    return {"file": target.name, **file_digest(target)}
