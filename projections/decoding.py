"""The one place projections decode stored events: a JSON parse of the stored state.

The stored state of every event is the RFC 8785 JSON of the event's fields minus the two stream
coordinates (``ledger.events.LedgerEvent.payload``), so the projections' hot path reads it with
a JSON parser (orjson) instead of validating a pydantic model per event (about 10x faster). What the
fields look like once decoded:

* dates (``effective_date``, ``treatment_start``, ...): ``"YYYY-MM-DD"`` strings, which compare
  in date order as strings;
* measured numbers (``Decimal`` fields): decimal strings (``"2.45"``);
* literals, ids, reasons: strings; ints and bools as themselves; absent optionals as ``None``;
* nested models (``baseline``, ``key``, ``deviation``): objects.

``tests/projections/test_decoding.py`` checks, for every event type in ``ALL_EVENTS``, that
:func:`payload_of` equals the validated model's payload and that every field named in
:data:`FIELDS_READ` exists on the model, so the fast path cannot drift from the models.
"""

from __future__ import annotations

from typing import Any

import orjson

from ledger.events import (
    ALL_EVENTS,
    AdverseEventReported,
    AdverseEventResolved,
    ConsentObtained,
    CorrectionRecorded,
    DoseAdministered,
    DoseMissed,
    EligibilityAssessed,
    FollowUpVisit,
    KeyRegistered,
    KeyRevoked,
    KeyRotated,
    LabResulted,
    ProgressionConfirmed,
    RecordSigned,
    RegimenChanged,
    ResponseAssessed,
    SiteRegistered,
    SubjectDied,
    SubjectEnrolled,
    SubjectOffStudy,
    SubjectScreened,
    SubjectWithdrawn,
    TrialCreated,
    event_name,
)

Payload = dict[str, Any]

raw_payload = orjson.loads
"""The parser :func:`payload_of` uses (the engine's hot loop calls it inline). orjson parses
the stored UTF-8 bytes directly, about four times faster than the standard library; stored
states hold no floats and only small integers, so both parse them to the same values (tested
for every event type)."""


def payload_of(state: bytes | str) -> Payload:
    """The stored JSON object of one event (its fields minus originator id and version)."""
    decoded: Payload = raw_payload(state)
    return decoded


EVENT_TYPE: dict[str, str] = {cls.TOPIC: event_name(cls.TOPIC) for cls in ALL_EVENTS}
"""Topic -> event type name (``trial.DoseAdministered.v1`` -> ``DoseAdministered``)."""


def event_type(topic: str) -> str:
    """The event type name of a topic, also for topics this build does not know."""
    return EVENT_TYPE.get(topic) or event_name(topic)


FIELDS_READ: dict[str, frozenset[str]] = {
    TrialCreated.TOPIC: frozenset({"sponsor", "protocol_amendment", "effective_date", "title"}),
    KeyRegistered.TOPIC: frozenset({"key", "reason", "effective_date"}),
    KeyRotated.TOPIC: frozenset({"old_key_id", "new_key", "reason", "effective_date"}),
    KeyRevoked.TOPIC: frozenset({"key_id", "reason", "effective_date"}),
    SiteRegistered.TOPIC: frozenset({"site", "label", "reason", "effective_date"}),
    SubjectScreened.TOPIC: frozenset({"subject_id", "effective_date", "site", "age_years", "sex"}),
    EligibilityAssessed.TOPIC: frozenset(
        {"subject_id", "effective_date", "eligible", "protocol_amendment", "criteria"}
    ),
    ConsentObtained.TOPIC: frozenset({"subject_id", "effective_date", "consent_version"}),
    SubjectEnrolled.TOPIC: frozenset(
        {
            "subject_id",
            "effective_date",
            "site",
            "treatment_start",
            "protocol_amendment",
            "baseline",
            "waiver",
        }
    ),
    DoseAdministered.TOPIC: frozenset(
        {"subject_id", "effective_date", "drug", "dose", "unit", "route", "deviation"}
    ),
    DoseMissed.TOPIC: frozenset({"subject_id", "effective_date", "drug", "held", "reason"}),
    LabResulted.TOPIC: frozenset({"subject_id", "effective_date", "analyte", "value", "unit"}),
    ResponseAssessed.TOPIC: frozenset(
        {
            "subject_id",
            "effective_date",
            "protocol_month",
            "investigator_category",
            "derived_category",
            "agrees",
            "rule_ids",
        }
    ),
    ProgressionConfirmed.TOPIC: frozenset({"subject_id", "effective_date", "basis", "rule_ids"}),
    RegimenChanged.TOPIC: frozenset(
        {"subject_id", "effective_date", "from_regimen", "to_regimen", "rule_id", "reason"}
    ),
    AdverseEventReported.TOPIC: frozenset(
        {
            "subject_id",
            "effective_date",
            "ae_id",
            "term",
            "grade",
            "attribution",
            "serious",
            "seriousness_criteria",
            "action_taken",
        }
    ),
    AdverseEventResolved.TOPIC: frozenset({"subject_id", "effective_date", "ae_id", "outcome"}),
    FollowUpVisit.TOPIC: frozenset({"subject_id", "effective_date", "disease_status", "note"}),
    SubjectWithdrawn.TOPIC: frozenset(
        {"subject_id", "effective_date", "reason", "consent_withdrawn"}
    ),
    SubjectOffStudy.TOPIC: frozenset({"subject_id", "effective_date", "reason"}),
    SubjectDied.TOPIC: frozenset({"subject_id", "effective_date", "cause"}),
    CorrectionRecorded.TOPIC: frozenset(
        {
            "subject_id",
            "effective_date",
            "corrects_position",
            "corrected_topic",
            "field",
            "old_value",
            "new_value",
            "reason",
        }
    ),
    RecordSigned.TOPIC: frozenset(
        {"subject_id", "effective_date", "meaning", "positions", "statement"}
    ),
}
"""Every top-level field some projection reads, per topic (checked against the models)."""
