"""Every event type by topic, the roles that may sign each, and decoding a stored event."""

from __future__ import annotations

import json
from uuid import UUID

from eventsourcing.utils import register_topic

from ledger.errors import NotFoundError
from ledger.events.base import LedgerEvent
from ledger.events.subject import (
    AdverseEventReported,
    AdverseEventResolved,
    ConsentObtained,
    CorrectionRecorded,
    DoseAdministered,
    DoseMissed,
    EligibilityAssessed,
    FollowUpVisit,
    LabResulted,
    ProgressionConfirmed,
    RecordSigned,
    RegimenChanged,
    ResponseAssessed,
    SubjectDied,
    SubjectEnrolled,
    SubjectEvent,
    SubjectOffStudy,
    SubjectScreened,
    SubjectWithdrawn,
)
from ledger.events.trial import KeyRegistered, KeyRevoked, KeyRotated, SiteRegistered, TrialCreated

TRIAL_EVENTS: tuple[type[LedgerEvent], ...] = (
    TrialCreated,
    KeyRegistered,
    KeyRotated,
    KeyRevoked,
    SiteRegistered,
)
SUBJECT_EVENTS: tuple[type[SubjectEvent], ...] = (
    SubjectScreened,
    EligibilityAssessed,
    ConsentObtained,
    SubjectEnrolled,
    DoseAdministered,
    DoseMissed,
    LabResulted,
    ResponseAssessed,
    ProgressionConfirmed,
    RegimenChanged,
    AdverseEventReported,
    AdverseEventResolved,
    FollowUpVisit,
    SubjectWithdrawn,
    SubjectOffStudy,
    SubjectDied,
    CorrectionRecorded,
    RecordSigned,
)
ALL_EVENTS: tuple[type[LedgerEvent], ...] = TRIAL_EVENTS + SUBJECT_EVENTS
EVENT_BY_TOPIC: dict[str, type[LedgerEvent]] = {cls.TOPIC: cls for cls in ALL_EVENTS}
ROLES_BY_TOPIC: dict[str, frozenset[str]] = {cls.TOPIC: cls.RECORDED_BY for cls in ALL_EVENTS}
REGISTRY_TOPICS: frozenset[str] = frozenset(cls.TOPIC for cls in TRIAL_EVENTS)
SCREENING_TOPIC = SubjectScreened.TOPIC

for _cls in ALL_EVENTS:
    register_topic(_cls.TOPIC, _cls)


def event_name(topic: str) -> str:
    """``trial.DoseAdministered.v1`` -> ``DoseAdministered``."""
    parts = topic.split(".")
    return parts[1] if len(parts) == 3 else topic


def decode_event(
    topic: str, state: bytes, originator_id: UUID | str, originator_version: int
) -> LedgerEvent:
    """Rebuild the pydantic event from its stored columns (validates the payload again)."""
    try:
        cls = EVENT_BY_TOPIC[topic]
    except KeyError:
        raise NotFoundError(f"unknown event topic {topic!r}: no event model has it") from None
    payload = json.loads(state)
    payload["originator_id"] = originator_id
    payload["originator_version"] = originator_version
    return cls.model_validate(payload)
