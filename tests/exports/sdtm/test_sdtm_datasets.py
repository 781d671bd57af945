"""Every dataset the export writes is valid Dataset-JSON 1.1, consistent with itself (the
schema checks neither the row count nor the widths), and names its ledger position and root."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema
import pytest

from projections.exports.sdtm.columns import ALL_DOMAINS
from tests.exports.sdtm.conftest import Exported

SCHEMA = (
    Path(__file__).resolve().parents[3]
    / "projections/exports/schemas/dataset-json-1.1/dataset.schema.json"
)
NAMES = [d.name for d in ALL_DOMAINS]


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def test_the_export_writes_one_file_per_domain_and_the_manifest(exported: Exported) -> None:
    written = sorted(p.name for p in exported.out.iterdir())
    expected = sorted([f"{n.lower()}.json" for n in NAMES] + [f"{n.lower()}.xpt" for n in NAMES])
    assert written == sorted([*expected, "manifest.json"])


@pytest.mark.parametrize("name", NAMES)
def test_every_dataset_validates_against_the_dataset_json_schema(
    exported: Exported, validator: jsonschema.protocols.Validator, name: str
) -> None:
    errors = [e.message for e in validator.iter_errors(exported.dataset(name))]
    assert errors == []


@pytest.mark.parametrize("name", NAMES)
def test_records_equals_the_row_count_and_every_row_is_as_wide_as_the_columns(
    exported: Exported, name: str
) -> None:
    document = exported.dataset(name)
    assert document["records"] == len(document["rows"]) > 0
    widths = {len(row) for row in document["rows"]}
    assert widths == {len(document["columns"])}


@pytest.mark.parametrize("name", NAMES)
def test_values_are_of_their_column_type_and_within_its_length(
    exported: Exported, name: str
) -> None:
    document = exported.dataset(name)
    kinds: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "date": str,
        "integer": int,
        "double": (int, float),
    }
    for i, column in enumerate(document["columns"]):
        values = [row[i] for row in document["rows"] if row[i] is not None]
        assert all(isinstance(v, kinds[column["dataType"]]) for v in values), column["name"]
        if column["dataType"] == "string":
            longest = max((len(v.encode()) for v in values), default=1)
            assert column["length"] == max(longest, 1), column["name"]
            assert column["length"] <= 200


@pytest.mark.parametrize("name", NAMES)
def test_metadata_fits_sas_v5_names_labels_and_oids(exported: Exported, name: str) -> None:
    document = exported.dataset(name)
    assert document["name"] == name
    assert document["itemGroupOID"] == f"IG.{name}"
    assert len(document["label"]) <= 40
    for column in document["columns"]:
        assert len(column["name"]) <= 8
        assert len(column["label"]) <= 40
        assert column["itemOID"] == f"IT.{name}.{column['name']}"
    keys = sorted(c["keySequence"] for c in document["columns"] if "keySequence" in c)
    assert keys == list(range(1, len(keys) + 1))


@pytest.mark.parametrize("name", NAMES)
def test_every_dataset_names_the_position_and_root_it_was_derived_from(
    exported: Exported, name: str
) -> None:
    document = exported.dataset(name)
    provenance = exported.result["provenance"]
    assert document["datasetJSONVersion"] == "1.1"
    assert document["studyOID"] == provenance["trial_id"] == "NCT00635154"
    assert document["fileOID"] == (
        f"trial-ledger:NCT00635154:ledger={provenance['ledger_id']}"
        f":position={provenance['position']}:root={provenance['root']}:dataset={name}"
    )
    assert document["metaDataRef"] == "manifest.json"


def test_the_manifest_lists_each_file_with_its_sha256_and_rows_and_the_provenance(
    exported: Exported,
) -> None:
    manifest = json.loads((exported.out / "manifest.json").read_text())
    assert manifest["provenance"] == exported.result["provenance"]
    assert [d["name"] for d in manifest["datasets"]] == NAMES
    for entry in manifest["datasets"]:
        for file in (entry, entry["xpt"]):
            data = (exported.out / file["file"]).read_bytes()
            assert file["sha256"] == hashlib.sha256(data).hexdigest()
            assert file["bytes"] == len(data)
        assert entry["records"] == exported.dataset(entry["name"])["records"]


def test_json_output_has_the_documented_shape(exported: Exported) -> None:
    result = exported.result
    assert set(result) == {"out", "format", "datasets", "manifest", "provenance", "seconds"}
    assert result["format"] == "xpt"
    assert Path(result["out"]) == exported.out
    for entry in result["datasets"]:
        assert set(entry) == {"name", "label", "file", "records", "bytes", "sha256", "xpt"}
    assert set(result["provenance"]) == {
        "trial_id", "ledger_id", "position", "root", "commits", "checkpoints_checked",
        "against_checkpoint", "sponsor_key",
    }  # fmt: skip


@pytest.mark.parametrize("name", ["DM", "EX", "AE", "DS", "LB", "RS", "SV", "SE"])
def test_seq_numbers_run_from_one_within_each_subject(exported: Exported, name: str) -> None:
    by_subject: dict[str, list[int]] = {}
    seq = f"{name}SEQ"
    for row in exported.records(name):
        assert row["STUDYID"] == "NCT00635154"
        assert row["DOMAIN"] == name
        assert row["USUBJID"].startswith("NCT00635154-MC0282-")
        if seq in row:
            by_subject.setdefault(row["USUBJID"], []).append(row[seq])
    for numbers in by_subject.values():
        assert numbers == list(range(1, len(numbers) + 1))
