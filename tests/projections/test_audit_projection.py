"""Audit trail: who, what, when, why, meaning, position and hash; filters; CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.service import TrialLedger
from projections.audit import COLUMNS, AuditFilter, audit_trail, write_csv, write_json
from projections.connection import ViewsConnection
from tests.projection_support import S1, S2, Trial, engine_for, story, trial  # noqa: F401


@pytest.fixture
def views(ledger: TrialLedger, trial: Trial, tmp_path: Path) -> Iterator[ViewsConnection]:  # noqa: F811
    for step in story(trial):
        step()
    engine = engine_for(ledger, tmp_path / "v.sqlite")
    engine.catch_up()
    conn = engine.connect()
    yield conn
    conn.close()


def trail(conn: ViewsConnection, ledger: TrialLedger, **kw: Any) -> list[dict[str, Any]]:
    return list(audit_trail(conn, ledger.reader, AuditFilter(**kw)))


def test_every_event_has_one_row_in_position_order(
    ledger: TrialLedger, views: ViewsConnection
) -> None:
    rows = trail(views, ledger)
    assert [r["position"] for r in rows] == list(range(1, ledger.reader.size() + 1))
    assert all(list(r) == list(COLUMNS) for r in rows)


def test_a_row_names_who_signed_with_which_meaning_when_and_the_leaf_hash(
    ledger: TrialLedger, views: ViewsConnection
) -> None:
    row = trail(views, ledger, subject_id=S1, event_type="DoseAdministered")[0]
    stored = ledger.reader.event_at(row["position"])
    commit = ledger.reader.commit_at(row["position"])
    assert stored is not None
    assert commit is not None
    assert {k: row[k] for k in ("printed_name", "role", "site", "meaning", "what")} == {
        "printed_name": "Dr. Ada Investigator",
        "role": "investigator",
        "site": "001",
        "meaning": "authorship",
        "what": "anakinra 100 mg SC",
    }
    assert row["hash"] == stored.leaf_hash.hex()
    assert row["recorded_at"] == commit.header.recorded_at
    assert row["key_id"] == commit.header.signer


def test_a_correction_and_the_original_are_both_visible(
    ledger: TrialLedger, views: ViewsConnection
) -> None:
    correction = trail(views, ledger, subject_id=S2, event_type="CorrectionRecorded")[0]
    assert (correction["field"], correction["old_value"], correction["new_value"]) == (
        "value",
        "3.9",
        "3.7",
    )
    assert correction["why"] == "transcription error found at source data verification"
    original = next(
        r
        for r in trail(views, ledger, subject_id=S2)
        if r["position"] == correction["corrects_position"]
    )
    assert original["what"] == "serum_m_protein 3.9 g/dL"
    assert original["corrected_by"] == [correction["position"]]


def test_a_review_signature_is_listed_on_the_event_it_signs(
    ledger: TrialLedger, views: ViewsConnection
) -> None:
    review = trail(views, ledger, event_type="RecordSigned")[0]
    assert (review["printed_name"], review["meaning"]) == ("Mona Monitor", "review")
    signed = trail(views, ledger, subject_id=S1, event_type="DoseAdministered")[0]
    assert signed["signed_by"] == [f"{review['position']}:review"]


def test_filters_by_person_type_and_recorded_time(
    ledger: TrialLedger, views: ViewsConnection
) -> None:
    by_name = trail(views, ledger, person="mona")
    by_key = trail(views, ledger, person=by_name[0]["key_id"])
    assert by_name == by_key
    assert {r["event_type"] for r in by_name} == {"RecordSigned"}
    everything = trail(views, ledger)
    middle = everything[len(everything) // 2]["recorded_at"]
    later = trail(views, ledger, recorded_from=middle)
    earlier = trail(views, ledger, recorded_to=middle)
    assert all(r["recorded_at"] >= middle for r in later)
    assert all(r["recorded_at"] <= middle for r in earlier)
    assert {r["position"] for r in later} | {r["position"] for r in earlier} == {
        r["position"] for r in everything
    }


def test_csv_export_has_the_documented_header_and_one_line_per_event(
    ledger: TrialLedger, views: ViewsConnection
) -> None:
    out = io.StringIO()
    count = write_csv(audit_trail(views, ledger.reader, AuditFilter(subject_id=S2)), out)
    lines = list(csv.reader(io.StringIO(out.getvalue())))
    assert lines[0] == list(COLUMNS)
    assert len(lines) == count + 1
    assert all(line[3] == S2 for line in lines[1:])


def test_json_export_is_one_document_with_filters_columns_events_and_count(
    ledger: TrialLedger, views: ViewsConnection
) -> None:
    out = io.StringIO()
    f = AuditFilter(subject_id=S1, event_type="trial.DoseMissed.v1")
    write_json(audit_trail(views, ledger.reader, f), out, f, 42)
    document = json.loads(out.getvalue())
    assert list(document) == ["filters", "position", "columns", "events", "count"]
    assert document["count"] == len(document["events"]) == 2
    assert document["filters"]["type"] == "trial.DoseMissed.v1"
    assert [e["why"] for e in document["events"]] == ["felt unwell", "felt unwell"]
