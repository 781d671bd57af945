"""The Dataset-JSON writer checks what the schema does not (widths, value types, lengths), and
text is cut to SDTM's 200 bytes on a character boundary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.exports.sdtm.columns import DATE, DOUBLE, INTEGER, STRING, Column, Domain
from projections.exports.sdtm.terms import clip
from projections.exports.sdtm.writer import DatasetInvalid, DatasetWriter

DOMAIN = Domain(
    "XX",
    "Test Domain",
    (
        Column("STUDYID", "Study Identifier", STRING, key=1),
        Column("XXSEQ", "Sequence Number", INTEGER),
        Column("XXVAL", "Value", DOUBLE),
        Column("XXDTC", "Date", DATE),
    ),
)
HEADER = {
    "datasetJSONCreationDateTime": "2026-01-01T00:00:00Z",
    "datasetJSONVersion": "1.1",
    "fileOID": "test",
}


@given(st.text(max_size=400), st.integers(min_value=1, max_value=300))
def test_clip_keeps_a_valid_prefix_within_the_byte_limit(text: str, limit: int) -> None:
    cut = clip(text, limit)
    assert cut is not None
    assert text.startswith(cut)
    assert len(cut.encode()) <= limit
    if len(text.encode()) <= limit:
        assert cut == text
    else:
        assert len(cut.encode()) > limit - 4  # at most one character dropped at the cut


def test_clip_leaves_none_alone() -> None:
    assert clip(None) is None


@given(
    st.lists(
        st.tuples(
            st.text(max_size=30),
            st.integers(min_value=-(2**40), max_value=2**40),
            st.none() | st.floats(allow_nan=False, allow_infinity=False),
            st.none() | st.dates().map(lambda d: d.isoformat()),
        ),
        max_size=20,
    )
)
def test_written_rows_read_back_with_records_and_lengths_measured(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, int, float | None, str | None]]
) -> None:
    folder = tmp_path_factory.mktemp("writer")
    writer = DatasetWriter(DOMAIN, folder, HEADER)
    for row in rows:
        writer.add(list(row))
    entry = writer.finish()
    document = json.loads((folder / "xx.json").read_text(encoding="utf-8"))
    assert document["records"] == entry["records"] == len(rows)
    assert [tuple(r) for r in document["rows"]] == rows
    longest = max((len(r[0].encode()) for r in rows), default=1)
    assert document["columns"][0]["length"] == max(longest, 1)
    assert sorted(p.name for p in folder.iterdir()) == ["xx.json"]


def test_a_row_narrower_than_the_columns_is_refused(tmp_path: Path) -> None:
    writer = DatasetWriter(DOMAIN, tmp_path, HEADER)
    with pytest.raises(DatasetInvalid, match="a row of 3 values for 4 columns"):
        writer.add(["NCT00635154", 1, 2.5])
    writer.discard()
    assert list(tmp_path.iterdir()) == []


def test_a_value_of_another_type_than_its_column_is_refused(tmp_path: Path) -> None:
    writer = DatasetWriter(DOMAIN, tmp_path, HEADER)
    with pytest.raises(DatasetInvalid, match=r"XX\.XXSEQ: '1' is not a value of dataType integer"):
        writer.add(["NCT00635154", "1", 2.5, None])
    with pytest.raises(DatasetInvalid, match=r"XX\.XXSEQ: True is not a value of dataType integer"):
        writer.add(["NCT00635154", True, 2.5, None])
    writer.discard()


def test_a_header_the_schema_refuses_is_not_written(tmp_path: Path) -> None:
    writer = DatasetWriter(DOMAIN, tmp_path, {**HEADER, "datasetJSONVersion": "2.0"})
    writer.add(["NCT00635154", 1, None, "2003-01-02"])
    with pytest.raises(DatasetInvalid, match=r"XX: '2\.0' does not match"):
        writer.finish()
    writer.discard()
    assert not (tmp_path / "xx.json").exists()


def test_a_character_value_over_200_bytes_is_cut_there_and_its_length_says_so(
    tmp_path: Path,
) -> None:
    writer = DatasetWriter(DOMAIN, tmp_path, HEADER)
    long = "é" * 150  # 300 bytes
    writer.add([long, 1, None, None])
    writer.finish()
    document = json.loads((tmp_path / "xx.json").read_text(encoding="utf-8"))
    assert document["rows"][0][0] == "é" * 100
    assert document["columns"][0]["length"] == 200
