"""The Patient aggregate: folded from events, positions known, replays never re-run rules."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ledger.domain import Patient
from ledger.domain.commands import HANDLERS, RecordDose
from ledger.errors import ConcurrencyError, UsageError
from ledger.events import (
    ENTERED_IN_ERROR,
    RECORD_STATUS_FIELD,
    CorrectionRecorded,
    DoseAdministered,
    SubjectEvent,
    subject_stream_id,
)
from ledger.protocol.schedule import Regimen
from ledger.recording import TrialRecorder
from ledger.subject.evaluation import evaluate
from tests.domain.trial_helpers import START, SUBJECT, anakinra_command, assess_serum, day
from tests.support import Cast


def replay(recorder: TrialRecorder) -> Patient:
    events = recorder.ledger.store.stream(subject_stream_id(SUBJECT))
    subject_events = [e for e in events if isinstance(e, SubjectEvent)]
    return Patient.from_events(subject_events)


def dexamethasone_in_induction(version: int) -> DoseAdministered:
    return DoseAdministered(
        originator_id=subject_stream_id(SUBJECT),
        originator_version=version,
        subject_id=SUBJECT,
        effective_date=day(3),
        drug="dexamethasone",
        dose=Decimal(40),
        unit="mg",
        route="PO",
    )


def test_replaying_the_stream_gives_the_state_the_commands_left(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    recorder.record(
        cast.coordinator,
        anakinra_command(day(1)),
    )
    assess_serum(recorder, cast, day(100), "2.3", "MR")
    assess_serum(recorder, cast, day(150), "2.2", "MR")
    loaded = recorder.patient(SUBJECT)
    replayed = replay(recorder)
    assert replayed.version == loaded.version == len(loaded.records)

    def periods(patient: Patient) -> list[tuple[Regimen, date, date, str]]:
        return [(p.regimen, p.starts_on, p.course_start, p.rule_id) for p in patient.periods]

    assert periods(replayed) == periods(loaded)
    params = loaded.params("MC0282-original")
    assert [e.derived for e in evaluate(replayed, params)] == [
        e.derived for e in evaluate(loaded, params)
    ]
    assert set(replayed.doses) == set(loaded.doses)
    assert loaded.positions == [r.position for r in loaded.records]


def test_apply_assigns_state_without_checking_rules(recorder: TrialRecorder, enrolled: str) -> None:
    patient = recorder.patient(SUBJECT)
    patient.apply(dexamethasone_in_induction(patient.version + 1), 999)
    assert patient.doses[("dexamethasone", day(3))] == 999
    assert patient.record_at(999) is not None


def test_a_correction_folds_the_state_again_from_the_corrected_events(
    recorder: TrialRecorder, enrolled: str
) -> None:
    patient = recorder.patient(SUBJECT)
    patient.apply(dexamethasone_in_induction(patient.version + 1), 999)
    patient.apply(
        CorrectionRecorded(
            originator_id=subject_stream_id(SUBJECT),
            originator_version=patient.version + 1,
            subject_id=SUBJECT,
            effective_date=day(4),
            corrects_position=999,
            corrected_topic=DoseAdministered.TOPIC,
            field=RECORD_STATUS_FIELD,
            old_value="valid",
            new_value=ENTERED_IN_ERROR,
            reason="wrong subject",
        ),
        1000,
    )
    assert patient.doses == {}
    record = patient.record_at(999)
    assert record is not None
    assert record.entered_in_error
    assert record.corrected_by == [1000]


def test_knows_the_regimen_in_force_on_each_date(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    assess_serum(recorder, cast, day(100), "3.1")
    assess_serum(recorder, cast, day(150), "3.0")
    patient = recorder.patient(SUBJECT)
    assert patient.regimen_on(date(2003, 1, 12)) is Regimen.SCREENING
    assert patient.regimen_on(START) is Regimen.INDUCTION
    assert patient.regimen_on(day(168)) is Regimen.INDUCTION
    assert patient.regimen_on(day(169)) is Regimen.LOW_DOSE_DEX
    assert patient.current_regimen is Regimen.LOW_DOSE_DEX


def test_a_subject_never_screened_has_an_empty_state(recorder: TrialRecorder) -> None:
    patient = recorder.patient(SUBJECT)
    assert (patient.version, patient.screened, patient.enrolled) == (0, False, False)
    assert patient.current_regimen is Regimen.SCREENING


def test_building_from_no_events_needs_the_subject_id() -> None:
    with pytest.raises(UsageError, match=r"give subject_id"):
        Patient.from_events([])
    assert Patient.from_events([], subject_id=SUBJECT).subject_id == SUBJECT


def test_a_command_built_on_a_stale_patient_is_refused_whole(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    stale = recorder.patient(SUBJECT)
    recorder.record(
        cast.coordinator,
        anakinra_command(day(1)),
    )
    dose = RecordDose(
        subject_id=SUBJECT, date=day(2), drug="anakinra", dose=Decimal(100), route="SC"
    )
    events = HANDLERS[RecordDose](stale, recorder.context(), dose)
    head = recorder.ledger.reader.size()
    with pytest.raises(ConcurrencyError, match=r"nothing was written"):
        recorder.ledger.append(cast.coordinator, events)
    assert recorder.ledger.reader.size() == head
