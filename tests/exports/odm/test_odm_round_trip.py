"""The ODM file replayed as a receiving system would (ODM -> values) equals the ledger's own
projections: the subject histories folded from the verified ledger, corrections applied."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from decimal import Decimal

import pytest

from ledger.events import RECORD_STATUS_FIELD
from ledger.subject.history import SubjectHistory
from projections.exports import verified_source
from projections.exports.odm.reader import Replay
from tests.exports.conftest import Demo
from tests.exports.odm.conftest import Exported


@pytest.fixture(scope="module")
def histories(demo: Demo) -> dict[str, SubjectHistory]:
    with verified_source(demo.db) as source:
        return {h.subject_id: h for h in source.histories()}


def standing(
    r: Replay, subject: str, event: str, code: str
) -> Iterator[tuple[int, dict[str, str | None]]]:
    for key, values in r.records(subject, event).items():
        if key.form in (f"F.{code}", f"IG.{code}"):
            assert key.position is not None, key
            yield key.position, values


def test_every_subject_of_the_ledger_has_its_data_in_the_file(
    exported: Exported, histories: dict[str, SubjectHistory]
) -> None:
    assert set(exported.replay.values) == set(histories)
    assert exported.result["subjects"] == len(histories)


def test_lab_results_replayed_equal_the_histories_labs_after_corrections(
    exported: Exported, histories: dict[str, SubjectHistory]
) -> None:
    for subject, history in histories.items():
        odm = {
            pos: (
                v["IT.LAB.analyte"],
                Decimal(v["IT.LAB.value"] or "nan"),
                v["IT.LAB.effective_date"],
            )
            for pos, v in standing(exported.replay, subject, "SE.LAB", "LAB")
        }
        ledger = {
            pos: (lab.analyte, lab.value, lab.effective_date.isoformat())
            for pos, lab in history.labs
        }
        assert odm == ledger, subject


def test_response_assessments_replayed_equal_the_histories_assessments(
    exported: Exported, histories: dict[str, SubjectHistory]
) -> None:
    for subject, history in histories.items():
        odm = {
            pos: (v["IT.RESPONSE.investigator_category"], v["IT.RESPONSE.derived_category"])
            for pos, v in standing(exported.replay, subject, "SE.RESPONSE", "RESPONSE")
        }
        ledger = {
            pos: (a.investigator_category, a.derived_category)
            for pos, a in history.assessment_records
        }
        assert odm == ledger, subject


def test_adverse_events_replayed_give_the_histories_terms_and_worst_grades(
    exported: Exported, histories: dict[str, SubjectHistory]
) -> None:
    for subject, history in histories.items():
        worst: dict[str, int] = {}
        terms: dict[str, str | None] = {}
        for _, v in standing(exported.replay, subject, "SE.AE", "AE"):
            ae_id = str(v["IT.AE.ae_id"])
            worst[ae_id] = max(worst.get(ae_id, 0), int(v["IT.AE.grade"] or 0))
            terms.setdefault(ae_id, v["IT.AE.term"])
        assert worst == {i: ae.worst_grade for i, ae in history.adverse_events.items()}, subject
        assert terms == {i: ae.report.term for i, ae in history.adverse_events.items()}, subject


def test_doses_replayed_count_what_the_histories_tally_per_drug(
    exported: Exported, histories: dict[str, SubjectHistory]
) -> None:
    for subject, history in histories.items():
        odm = Counter(
            v["IT.DOSE.drug"] for _, v in standing(exported.replay, subject, "SE.TREATMENT", "DOSE")
        )
        ledger = {drug: t.taken for drug, t in history.dose_tally.items() if t.taken}
        assert dict(odm) == ledger, subject


def test_enrolment_replayed_gives_each_subjects_treatment_start(
    exported: Exported, histories: dict[str, SubjectHistory]
) -> None:
    enrolled = 0
    for subject, history in histories.items():
        records = exported.replay.records(subject, "SE.ENROLMENT")
        found = [v["IT.ENROLMENT.treatment_start"] for v in records.values()]
        start = history.treatment_start
        assert found == ([start.isoformat()] if history.enrolled and start else []), subject
        enrolled += bool(found)
    assert enrolled > 0


def test_each_applied_correction_is_an_update_with_its_reason_new_value_and_position(
    exported: Exported, histories: dict[str, SubjectHistory]
) -> None:
    updates = [a for a in exported.replay.audit if a.transaction == "Update"]
    notes = [
        (subject, note)
        for subject, h in histories.items()
        for note in h.corrections
        if note.applied and note.field != RECORD_STATUS_FIELD
    ]
    assert notes, "the demo ledger records corrections"
    assert len(updates) == len(notes)
    by_source = {a.source_id: a for a in updates}
    for subject, note in notes:
        audit = by_source[str(note.position)]
        assert audit.subject == subject
        assert audit.record.position == note.corrects_position
        assert audit.item is not None
        assert audit.item.endswith(f".{note.field}")
        assert audit.reason == note.reason
        assert audit.value == (note.new_value or None)


def test_the_value_as_first_recorded_stays_in_the_insert_audit_record(
    exported: Exported, histories: dict[str, SubjectHistory]
) -> None:
    for subject, h in histories.items():
        for note in h.corrections:
            if not note.applied or note.field == RECORD_STATUS_FIELD:
                continue
            inserts = [
                a
                for a in exported.replay.audit
                if a.subject == subject
                and a.transaction == "Insert"
                and a.record.position == note.corrects_position
                and a.item is not None
                and a.item.endswith(f".{note.field}")
            ]
            assert [a.value for a in inserts] == [note.old_value or None]
            assert inserts[0].source_id == str(note.corrects_position)


def test_every_transaction_carries_one_signature(exported: Exported) -> None:
    r = exported.replay
    assert r.signatures == sum(r.transactions.values()) == exported.result["signatures"]
    assert r.transactions["Context"] > 0, "the demo's review and approval signatures"
    assert len(r.audit) == exported.result["audit_records"]
