"""The events each command model declares (``own_event``, ``rule_events``, ``event_fields``)
are the events its handler emits: every handler run here, down every path that adds events
(the regimen set at enrolment, the month-6 decision, progression confirmed at an assessment
and by the investigator, treatment ending, advance, withdrawal, going off study, death), emits
its own event first and then only its declared rule events, for its own subject; every declared
rule event is seen; and a remote client's check (:func:`ledger.remote.matching.check_matches`)
accepts each output as it would be stored."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from ledger.bundle.export import event_line
from ledger.chain import ZERO_HASH
from ledger.domain.commands import (
    COMMANDS,
    HANDLERS,
    AdvanceRegimen,
    ConfirmProgression,
    Correct,
    RecordDeath,
    RecordFollowUp,
    RecordLab,
    RecordMissedDose,
    ReportAdverseEvent,
    ResolveAdverseEvent,
    Sign,
    StopTreatment,
    TakeOffStudy,
    Withdraw,
)
from ledger.domain.commands.base import MAX_RULE_EVENTS, Command
from ledger.events import Deviation, SubjectEvent
from ledger.recording import TrialRecorder
from ledger.remote.matching import check_matches
from ledger.store.chaining import chained_rows
from tests.domain.trial_helpers import (
    anakinra_command,
    assess_serum,
    day,
    enrol_subject,
    month_start,
    screen_subject,
)
from tests.support import Cast

Emitted = list[tuple[Command, list[SubjectEvent]]]
A, B, C, D, E = (f"MC0282-001-{n:03d}" for n in range(21, 26))


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> Emitted:
    """Every handler wrapped: what each call was given and emitted (refusals left out)."""
    seen: Emitted = []
    for model, handler in list(HANDLERS.items()):

        def wrapped(p: Any, ctx: Any, cmd: Any, handler: Any = handler) -> list[SubjectEvent]:
            events: list[SubjectEvent] = handler(p, ctx, cmd)
            seen.append((cmd, list(events)))
            return events

        monkeypatch.setitem(HANDLERS, model, wrapped)
    return seen


def _treated_to_death(recorder: TrialRecorder, cast: Cast) -> None:
    """A: doses, a lab corrected and signed, an AE, progression at an assessment, treatment
    ended by progression on high-dose dexamethasone, a follow-up visit, death."""
    enrol_subject(recorder, cast, A)
    recorder.record(cast.coordinator, anakinra_command(day(1), A))
    recorder.record(
        cast.coordinator,
        RecordMissedDose(subject_id=A, date=day(2), drug="anakinra", reason="forgot"),
    )
    lab = recorder.record(
        cast.coordinator,
        RecordLab(subject_id=A, date=day(3), analyte="hs_crp", value=Decimal(29), unit="mg/L"),
    ).positions[0]
    recorder.record(
        cast.coordinator,
        Correct(
            subject_id=A, date=day(4), position=lab, field="value", old_value="29",
            new_value="2.9", reason="decimal point missed",
        ),
    )  # fmt: skip
    recorder.record(
        cast.monitor,
        Sign(
            subject_id=A, date=day(5), positions=(lab,), signature_meaning="review",
            statement="source data verified",
        ),
    )  # fmt: skip
    recorder.record(
        cast.coordinator,
        ReportAdverseEvent(
            subject_id=A, date=day(6), term="Injection site reaction", grade=1,
            attribution="definite", action_taken="none",
        ),
    )  # fmt: skip
    recorder.record(
        cast.coordinator,
        ResolveAdverseEvent(subject_id=A, date=day(9), ae_id="AE-001", outcome="recovered"),
    )
    for on, serum in ((40, "4.0"), (70, "4.1"), (100, "5.2"), (130, "5.4")):
        assess_serum(recorder, cast, day(on), serum, "PD", subject=A)
    recorder.record(
        cast.coordinator,
        RecordFollowUp(subject_id=A, date=day(160), disease_status="progression"),
    )
    recorder.record(cast.investigator, RecordDeath(subject_id=A, date=day(200), cause="sepsis"))


def _month6_to_off_study(recorder: TrialRecorder, cast: Cast) -> None:
    """B: the month-6 decision (low-dose dexamethasone), advance at month 13 (end of
    treatment and follow-up), off study."""
    enrol_subject(recorder, cast, B)
    assess_serum(recorder, cast, day(100), "3.1", subject=B)
    assess_serum(recorder, cast, day(150), "3.0", subject=B)
    recorder.record(cast.investigator, AdvanceRegimen(subject_id=B, date=month_start(13)))
    recorder.record(
        cast.coordinator,
        TakeOffStudy(subject_id=B, date=month_start(14), reason="lost to follow-up"),
    )


def _judged_progression_to_withdrawal(recorder: TrialRecorder, cast: Cast) -> None:
    """C: progression by the investigator's judgement, treatment stopped, consent withdrawn;
    D: withdrawn from treatment only; E: screened out."""
    enrol_subject(recorder, cast, C)
    deviation = Deviation(rule_id="CONF-PD", reason="new lytic lesion on MRI, labs pending")
    recorder.record(
        cast.investigator,
        ConfirmProgression(subject_id=C, date=day(40), basis="new lesion", deviation=deviation),
    )
    recorder.record(
        cast.investigator,
        StopTreatment(subject_id=C, date=day(60), reason="grade 3 neutropenia"),
    )
    recorder.record(cast.coordinator, Withdraw(subject_id=C, date=day(90), reason="moved away"))
    enrol_subject(recorder, cast, D)
    recorder.record(
        cast.coordinator,
        Withdraw(subject_id=D, date=day(20), reason="declined", consent_withdrawn=False),
    )
    screen_subject(recorder, cast, E, anc_per_mm3=Decimal(1000))
    recorder.record(
        cast.coordinator,
        TakeOffStudy(subject_id=E, date=date(2003, 1, 9), reason="screen failure"),
    )


def _stored(recorder: TrialRecorder, events: list[SubjectEvent]) -> dict[str, Any]:
    """The events as a proposal serves them (the store's own form, chained)."""
    stored = [recorder.ledger.store.mapper.to_stored_event(e) for e in events]
    return {"events": [event_line(r) for r in chained_rows(stored, 1, 0, ZERO_HASH)]}


def test_every_handler_emits_only_the_events_its_command_declares(
    recorder: TrialRecorder, cast: Cast, emitted: Emitted
) -> None:
    _treated_to_death(recorder, cast)
    _month6_to_off_study(recorder, cast)
    _judged_progression_to_withdrawal(recorder, cast)
    added: dict[type[Command], set[type[SubjectEvent]]] = defaultdict(set)
    for command, events in emitted:
        model = type(command)
        assert type(events[0]) is model.own_event, (command.name, events)
        rule_added = {type(e) for e in events[1:]}
        assert rule_added <= model.rule_events, (command.name, rule_added)
        assert len(events) - 1 <= MAX_RULE_EVENTS
        assert {e.subject_id for e in events} == {command.subject_id}
        added[model] |= rule_added
        check_matches([command], _stored(recorder, events))
    assert {type(c) for c, _ in emitted} == set(COMMANDS)
    assert {m: set(m.rule_events) for m in COMMANDS} == {m: added[m] for m in COMMANDS}


def test_the_client_accepts_an_import_of_several_subjects_with_its_rule_events(
    recorder: TrialRecorder, cast: Cast, emitted: Emitted
) -> None:
    """Several commands in one commit, each command's rule events before the next command's
    own event (one subject's assessment, then another's)."""
    enrol_subject(recorder, cast, A)
    enrol_subject(recorder, cast, B)
    for subject in (A, B):
        assess_serum(recorder, cast, day(40), "4.0", "PD", subject=subject)
    commands = []
    events: list[SubjectEvent] = []
    del emitted[:]
    for subject in (A, B):
        assess_serum(recorder, cast, day(70), "4.1", "PD", subject=subject)
    for command, emitted_events in emitted:
        commands.append(command)
        events.extend(emitted_events)
    assert len(events) == 2 * (1 + 3)  # each: a lab; an assessment, progression, regimen change
    check_matches(commands, _stored(recorder, events))


@pytest.mark.parametrize("model", COMMANDS, ids=lambda m: m.name)
def test_every_command_field_is_held_by_its_own_event_or_declared_otherwise(
    model: type[Command],
) -> None:
    event_fields = set(model.own_event.model_fields)
    where = dict(model.event_fields)
    for field in set(model.model_fields) - {"command", "subject_id", "date"}:
        path = where.get(field, field)
        assert path is None or path.split(".")[0] in event_fields, (model.name, field)
    assert set(where) <= set(model.model_fields)
