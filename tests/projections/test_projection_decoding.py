"""The fast decoding path agrees with the pydantic models, and every projection covers every
event type (handles it or ignores it explicitly)."""

from __future__ import annotations

import pytest

from ledger.events import ALL_EVENTS, EVENT_BY_TOPIC, decode_event
from ledger.service import TrialLedger
from projections.base import ALL_TOPICS, Projection
from projections.decoding import FIELDS_READ, event_type, payload_of
from projections.engine import default_projections
from tests.projection_support import Trial, every_event_type, trial  # noqa: F401

ALL_TOPIC_NAMES = sorted(cls.TOPIC for cls in ALL_EVENTS)


def test_fast_decoding_equals_the_validated_payload_for_every_event_type(
    ledger: TrialLedger,
    trial: Trial,  # noqa: F811
) -> None:
    every_event_type(trial)
    seen: set[str] = set()
    for row in ledger.reader.iter_events(1):
        event = decode_event(row.topic, row.state, row.originator_id, row.originator_version)
        assert payload_of(row.state) == event.payload()
        seen.add(row.topic)
    assert seen == set(ALL_TOPIC_NAMES)


@pytest.mark.parametrize("topic", ALL_TOPIC_NAMES)
def test_every_field_a_projection_reads_exists_on_the_model(topic: str) -> None:
    fields = set(EVENT_BY_TOPIC[topic].model_fields)
    assert FIELDS_READ[topic] <= fields


def test_fields_read_names_every_topic() -> None:
    assert set(FIELDS_READ) == ALL_TOPICS


def test_event_type_names_known_and_unknown_topics() -> None:
    assert event_type("trial.DoseAdministered.v1") == "DoseAdministered"
    assert event_type("trial.SomethingNew.v2") == "SomethingNew"


@pytest.mark.parametrize("projection", default_projections(), ids=lambda p: p.name)
def test_every_projection_handles_or_ignores_every_event_type(projection: Projection) -> None:
    assert projection.handles | projection.ignores == ALL_TOPICS
    assert not projection.handles & projection.ignores
    assert set(projection.handlers()) == set(projection.handles)
