"""Lab results (units, ranges) and response assessments (derivation, month-6 decision)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from ledger.domain.commands import AssessResponse, RecordLab
from ledger.domain.commands.base import command_from
from ledger.errors import RuleViolation, ValidationError
from ledger.events import (
    Deviation,
    LabResulted,
    ProgressionConfirmed,
    RegimenChanged,
    ResponseAssessed,
    ResponseCategory,
)
from ledger.protocol.schedule import Regimen
from ledger.recording import Recorded, TrialRecorder
from tests.domain.trial_helpers import (
    ENROLLED_ON,
    START,
    SUBJECT,
    assess_serum,
    day,
    event_names,
    month_start,
)
from tests.support import Cast


def lab(
    recorder: TrialRecorder, cast: Cast, analyte: str, value: str, unit: str, on_day: int
) -> Recorded:
    """A lab result as it is entered (analyte, value and unit as text): a value the command
    refuses is the ledger's ValidationError naming the field, the value and the rule."""
    command = command_from(
        RecordLab,
        {
            "subject_id": SUBJECT,
            "date": day(on_day),
            "analyte": analyte,
            "value": Decimal(value),
            "unit": unit,
        },
    )
    return recorder.record(cast.coordinator, command)


def test_records_a_lab_result_in_its_unit(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    recorded = lab(recorder, cast, "hs_crp", "3.4", "mg/L", 10)
    event = recorded.events[0]
    assert isinstance(event, LabResulted)
    assert (event.analyte, event.value, event.unit) == ("hs_crp", Decimal("3.4"), "mg/L")


@pytest.mark.parametrize(
    ("analyte", "unit", "expected"),
    [
        ("serum_m_protein", "g/L", "g/dL"),
        ("urine_m_protein", "g/24h", "mg/24h"),
        ("creatinine", "mg/dL", "xULN"),
        ("anc", "10^9/L", "/mm3"),
    ],
)
def test_rejects_a_lab_in_the_wrong_unit(
    recorder: TrialRecorder, cast: Cast, enrolled: str, analyte: str, unit: str, expected: str
) -> None:
    head = recorder.ledger.reader.size()
    pattern = rf"unit='{re.escape(unit)}' refused: \[LAB-UNIT\].*{expected}"
    with pytest.raises(ValidationError, match=pattern):
        lab(recorder, cast, analyte, "1", unit, 10)
    assert recorder.ledger.reader.size() == head


@pytest.mark.parametrize(
    ("analyte", "value", "unit"),
    [
        ("serum_m_protein", "15.1", "g/dL"),
        ("marrow_plasma_cells", "100.5", "%"),
        ("hs_crp", "501", "mg/L"),
        ("serum_ife", "2", "negative=1"),
        ("urine_ife", "0.5", "negative=1"),
    ],
)
def test_rejects_an_out_of_range_lab_value(
    recorder: TrialRecorder, cast: Cast, enrolled: str, analyte: str, value: str, unit: str
) -> None:
    with pytest.raises(ValidationError, match=rf"value='{value}' refused: \[LAB-RANGE\]"):
        lab(recorder, cast, analyte, value, unit, 10)


def test_rejects_a_negative_lab_value(recorder: TrialRecorder, cast: Cast, enrolled: str) -> None:
    with pytest.raises(ValidationError, match=r"value=-1 refused: .*greater than"):
        lab(recorder, cast, "wbc", "-1", "/mm3", 10)


def test_rejects_an_unknown_analyte(recorder: TrialRecorder, cast: Cast, enrolled: str) -> None:
    with pytest.raises(ValidationError, match=r"analyte='calcium' refused: Input should be"):
        lab(recorder, cast, "calcium", "2.4", "mmol/L", 10)


def test_assessment_records_both_categories_and_flags_a_difference(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    recorded = assess_serum(recorder, cast, day(30), "2.3", investigator="PR")
    event = recorded.events[0]
    assert isinstance(event, ResponseAssessed)
    assert (event.investigator_category, event.derived_category, event.agrees) == (
        "PR",
        "MR",
        False,
    )
    assert event.protocol_month == 2
    assert event.regimen == "induction"
    assert event.values_used["serum.baseline"] == "3.2"
    assert event.values_used["serum.current"] == "2.3"
    assert "RESP-MR-SERUM" in event.rule_ids


def test_assessment_uses_the_latest_labs_since_the_previous_assessment(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    assess_serum(recorder, cast, day(30), "3.0")
    lab(recorder, cast, "serum_m_protein", "2.9", "g/dL", 40)
    latest = lab(recorder, cast, "serum_m_protein", "2.2", "g/dL", 50).positions[0]
    marrow = lab(recorder, cast, "marrow_plasma_cells", "12", "%", 45).positions[0]
    recorded = recorder.record(
        cast.investigator,
        AssessResponse(
            subject_id=SUBJECT, date=day(60), investigator_category="MR", new_bone_lesions=False
        ),
    )
    event = recorded.events[0]
    assert isinstance(event, ResponseAssessed)
    assert event.measured is not None
    assert event.measured.serum_m_protein_g_dl == Decimal("2.2")
    assert event.measured.marrow_plasma_cells_pct == Decimal(12)
    assert event.lab_positions == tuple(sorted((latest, marrow)))
    assert event.derived_category == "MR"


def test_a_missing_measurable_marker_lowers_the_derived_category(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    recorded = recorder.record(
        cast.investigator,
        AssessResponse(subject_id=SUBJECT, date=day(30), investigator_category="MR"),
    )
    event = recorded.events[0]
    assert isinstance(event, ResponseAssessed)
    assert event.derived_category == "SD"
    assert "RESP-MISSING-DROP" in event.rule_ids


# Baseline serum M-protein 3.2 g/dL (only measurable marker); IMWG 2006 + EBMT boundaries.
@pytest.mark.parametrize(
    ("serum", "expected"),
    [
        ("0.32", "VGPR"),  # 90% decrease
        ("0.33", "PR"),  # 89.7%
        ("1.6", "PR"),  # 50%
        ("1.61", "MR"),  # 49.7%
        ("2.4", "MR"),  # 25%
        ("2.41", "SD"),  # 24.7%
        ("3.99", "SD"),  # +24.7% from nadir 3.2
        ("4.0", "PD"),  # +25% and +0.8 g/dL from nadir 3.2
    ],
)
def test_derived_category_through_the_ledger_at_each_boundary(
    recorder: TrialRecorder, cast: Cast, enrolled: str, serum: str, expected: ResponseCategory
) -> None:
    event = assess_serum(recorder, cast, day(30), serum, investigator=expected).events[0]
    assert isinstance(event, ResponseAssessed)
    assert event.derived_category == expected
    assert event.agrees


def test_derives_complete_response_from_ife_marrow_and_findings(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    for analyte, value, unit in (
        ("serum_m_protein", "0", "g/dL"),
        ("serum_ife", "1", "negative=1"),
        ("urine_ife", "1", "negative=1"),
        ("marrow_plasma_cells", "3", "%"),
    ):
        lab(recorder, cast, analyte, value, unit, 60)
    recorded = recorder.record(
        cast.investigator,
        AssessResponse(
            subject_id=SUBJECT, date=day(60), investigator_category="CR", plasmacytoma=False
        ),
    )
    event = recorded.events[0]
    assert isinstance(event, ResponseAssessed)
    assert event.derived_category == "CR"


def test_rejects_assessments_out_of_date_order(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    assess_serum(recorder, cast, day(60), "3.0")
    with pytest.raises(RuleViolation, match=r"REC-ASSESSMENT-ORDER.*last assessed on 2003-03-13"):
        recorder.record(
            cast.investigator,
            AssessResponse(subject_id=SUBJECT, date=day(50), investigator_category="SD"),
        )
    with pytest.raises(RuleViolation, match=r"REC-ASSESSMENT-ORDER.*one per day"):
        recorder.record(
            cast.investigator,
            AssessResponse(subject_id=SUBJECT, date=day(60), investigator_category="SD"),
        )


def test_rejects_an_assessment_before_treatment_start(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    with pytest.raises(ValidationError, match=r"REC-DATE-BEFORE-TREATMENT.*2003-01-13"):
        recorder.record(
            cast.investigator,
            AssessResponse(subject_id=SUBJECT, date=ENROLLED_ON, investigator_category="SD"),
        )
    assert START > ENROLLED_ON


def test_month_6_confirmed_response_continues_anakinra_alone_from_month_7(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    first = assess_serum(recorder, cast, day(100), "2.3", "MR")
    assert event_names(first) == ["ResponseAssessed"]
    recorded = assess_serum(recorder, cast, day(150), "2.2", "MR")
    assessed, change = recorded.events
    assert isinstance(assessed, ResponseAssessed)
    assert isinstance(change, RegimenChanged)
    assert assessed.protocol_month == 6
    assert (change.from_regimen, change.to_regimen, change.rule_id) == (
        "induction",
        "continuation",
        "REG-M6-RESPONSE",
    )
    assert change.effective_date == month_start(7)
    assert change.decided_on == day(150)
    patient = recorder.patient(SUBJECT)
    assert patient.regimen_on(day(168)) is Regimen.INDUCTION
    assert patient.regimen_on(day(169)) is Regimen.CONTINUATION


def test_month_6_confirmed_stable_disease_adds_low_dose_dexamethasone(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    assess_serum(recorder, cast, day(100), "3.1")
    change = assess_serum(recorder, cast, day(150), "3.0").events[1]
    assert isinstance(change, RegimenChanged)
    assert (change.to_regimen, change.rule_id) == ("low_dose_dex", "REG-M6-SD")


def test_month_6_confirmed_progression_records_it_and_starts_high_dose(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    assess_serum(recorder, cast, day(120), "4.0", "PD")
    recorded = assess_serum(recorder, cast, day(150), "4.1", "PD")
    assert event_names(recorded) == ["ResponseAssessed", "ProgressionConfirmed", "RegimenChanged"]
    progression, change = recorded.events[1], recorded.events[2]
    assert isinstance(progression, ProgressionConfirmed)
    assert isinstance(change, RegimenChanged)
    assert progression.rule_ids == ("CONF-PD",)
    # REG-PD-START (on confirmation): high-dose dexamethasone starts the day it is confirmed,
    # as after progression at any other time; progression is dated at the first PD.
    assert progression.progression_date == day(120)
    assert (change.to_regimen, change.rule_id, change.effective_date) == (
        "high_dose_dex",
        "REG-M6-PD",
        day(150),
    )


def test_an_unconfirmed_minor_response_at_month_6_continues_anakinra_alone(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    """REG-M6-BASIS: the month-6 decision reads the month-6 assessment's derived category; an
    MR seen then (not yet confirmed) continues anakinra alone from month 7, no dexamethasone."""
    recorded = assess_serum(recorder, cast, day(150), "2.3", "MR")
    assert event_names(recorded) == ["ResponseAssessed", "RegimenChanged"]
    change = recorded.events[1]
    assert isinstance(change, RegimenChanged)
    assert (change.to_regimen, change.rule_id, change.effective_date) == (
        "continuation",
        "REG-M6-RESPONSE",
        month_start(7),
    )
    assert recorder.patient(SUBJECT).regimen_on(day(168)) is Regimen.INDUCTION


def test_an_unconfirmed_progression_at_month_6_adds_low_dose_not_high_dose(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    """PD at the month-6 assessment alone is not confirmed (CONF-PD needs two): read as SD."""
    recorded = assess_serum(recorder, cast, day(150), "4.2", "PD")
    assert [getattr(e, "rule_id", None) for e in recorded.events] == [None, "REG-M6-SD"]


def test_the_other_month_6_reading_is_recorded_with_a_deviation(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    """An investigator may decide on confirmed categories only (REG-M6-BASIS, other reading):
    the unconfirmed MR then adds low-dose dexamethasone, and the change carries the reason."""
    recorder.record(
        cast.coordinator,
        RecordLab(
            subject_id=SUBJECT,
            date=day(150),
            analyte="serum_m_protein",
            value=Decimal("2.3"),
            unit="g/dL",
        ),
    )
    recorded = recorder.record(
        cast.investigator,
        AssessResponse(
            subject_id=SUBJECT,
            date=day(150),
            investigator_category="MR",
            new_bone_lesions=False,
            other_month6_reading=Deviation(
                rule_id="REG-M6-BASIS", reason="response not confirmed; add dexamethasone"
            ),
        ),
    )
    change = recorded.events[1]
    assert isinstance(change, RegimenChanged)
    assert (change.to_regimen, change.rule_id) == ("low_dose_dex", "REG-M6-UNCONFIRMED")
    assert change.deviation is not None
    assert change.deviation.rule_id == "REG-M6-BASIS"


def test_rejects_a_month_6_deviation_naming_another_rule(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    with pytest.raises(ValidationError, match=r"other_month6_reading\.rule_id.*REG-M6-BASIS"):
        recorder.record(
            cast.investigator,
            AssessResponse(
                subject_id=SUBJECT,
                date=day(150),
                investigator_category="SD",
                new_bone_lesions=False,
                other_month6_reading=Deviation(rule_id="REG-M6-SD", reason="stable, add dex"),
            ),
        )


def test_a_response_before_month_6_changes_no_regimen(
    recorder: TrialRecorder, cast: Cast, enrolled: str
) -> None:
    assess_serum(recorder, cast, day(30), "2.3", "MR")
    recorded = assess_serum(recorder, cast, day(100), "2.2", "MR")
    assert event_names(recorded) == ["ResponseAssessed"]
