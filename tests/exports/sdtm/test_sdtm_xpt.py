"""``--format xpt``: every SAS V5 transport file, read back by pyreadstat, holds the rows of its
Dataset-JSON file (a missing character value is "" in SAS, a missing number NaN)."""

from __future__ import annotations

import math
from typing import Any

import pyreadstat
import pytest

from projections.exports.sdtm.columns import ALL_DOMAINS
from tests.exports.sdtm.conftest import Exported

NAMES = [d.name for d in ALL_DOMAINS]


def as_sas(value: Any, data_type: str) -> Any:
    if data_type in ("integer", "double"):
        return float("nan") if value is None else float(value)
    return "" if value is None else value


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return bool(a == b)


@pytest.mark.parametrize("name", NAMES)
def test_xpt_read_back_equals_the_json_rows(exported: Exported, name: str) -> None:
    document = exported.dataset(name)
    frame, _meta = pyreadstat.read_xport(str(exported.out / f"{name.lower()}.xpt"))
    columns = document["columns"]
    assert list(frame.columns) == [c["name"] for c in columns]
    assert len(frame) == document["records"]
    for i, column in enumerate(columns):
        expected = [as_sas(row[i], column["dataType"]) for row in document["rows"]]
        read = [v.item() if hasattr(v, "item") else v for v in frame[column["name"]].tolist()]
        mismatched = [
            k for k, (a, b) in enumerate(zip(read, expected, strict=True)) if not same(a, b)
        ]
        assert mismatched == [], column["name"]


@pytest.mark.parametrize("name", NAMES)
def test_xpt_carries_the_table_name_dataset_label_and_column_labels(
    exported: Exported, name: str
) -> None:
    document = exported.dataset(name)
    _frame, meta = pyreadstat.read_xport(
        str(exported.out / f"{name.lower()}.xpt"), metadataonly=True
    )
    assert meta.table_name == name
    assert meta.file_label == document["label"]
    assert meta.column_labels == [c["label"] for c in document["columns"]]
