"""One truth about a subject, as properties over random histories built through the rules.

* Rules and reports agree: for every clinical date D, the regimen ``patient --on D`` reports
  (the history as true on D, presented) equals the regimen the recording rules apply to a
  command dated D, and the doses the view says are due on D are exactly the ones the rules
  accept on D. The view's history is the one the subject projection stores (JSON round trip).
* Corrections are transparent: a ledger where value v was recorded and later corrected to w
  (or a result recorded and voided) derives the same categories, confirmations, progression
  dates and objectives as one where w was recorded in the first place (or nothing).

Histories are built in process by the command functions over a :class:`Patient` (the rules
exactly as the CLI runs them, without signing), each event given a ledger position with gaps
for other subjects' events. Refused commands write nothing and are skipped, as a site's
refused entry would be.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import fields
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.domain import Patient
from ledger.domain.commands import (
    HANDLERS,
    AdvanceRegimen,
    AssessEligibility,
    AssessResponse,
    Command,
    ConfirmProgression,
    Consent,
    Correct,
    Enrol,
    RecordDeath,
    RecordDose,
    RecordFollowUp,
    RecordLab,
    Screen,
    StopTreatment,
    Withdraw,
)
from ledger.domain.commands.base import command_from
from ledger.domain.guards import TrialContext
from ledger.errors import NotFoundError, RuleViolation, ValidationError
from ledger.events import ENTERED_IN_ERROR, RECORD_STATUS_FIELD, LabResulted, SubjectEvent
from ledger.integrity.signing import Signer
from ledger.protocol.parameters import MC0282_ORIGINAL
from ledger.protocol.schedule import ON_TREATMENT
from ledger.recording import TrialRecorder
from ledger.service import TrialLedger
from ledger.subject import evaluation
from ledger.subject.history import SubjectHistory, as_on
from projections.engine import ProjectionEngine
from projections.objectives import trial_summary
from projections.report import patient_report
from projections.subject import dump_history, load_history, stored_history, subject_entries
from tests.domain.trial_helpers import (
    ENROLLED_ON,
    SCREENED_ON,
    START,
    SUBJECT,
    baseline,
    eligible_inputs,
)
from tests.support import Cast, create_ledger

CTX = TrialContext(
    amendment="MC0282-original", trial_start=date(2002, 11, 1), today=date(2009, 1, 1)
)
PARAMS = MC0282_ORIGINAL
REFUSED = (RuleViolation, ValidationError, NotFoundError)
CATEGORIES = ("CR", "VGPR", "PR", "MR", "SD", "PD")


class Clinic:
    """One subject recorded through the command functions; refused commands write nothing."""

    def __init__(self, baseline_serum: str = "3.2") -> None:
        self.p = Patient(SUBJECT)
        self.entries: list[tuple[int | None, SubjectEvent]] = []
        self.position = 100
        self.enrol(baseline_serum)

    def enrol(self, baseline_serum: str) -> None:
        self.must(Screen, SCREENED_ON, site="001", age_years=61, sex="F")
        self.must(Consent, date(2003, 1, 7), consent_version="2002-10")
        self.must(AssessEligibility, date(2003, 1, 8), inputs=eligible_inputs())
        self.must(
            Enrol,
            ENROLLED_ON,
            treatment_start=START,
            baseline=baseline(serum_m_protein_g_dl=Decimal(baseline_serum)),
        )

    def run(self, model: type[Command], on: date, **fields: Any) -> bool:
        try:
            command = command_from(model, {"subject_id": SUBJECT, "date": on, **fields})
            events = HANDLERS[model](self.p, CTX, command)
        except REFUSED:
            return False
        for event in events:
            self.position += 3  # other subjects' events in between
            self.p.apply(event, self.position)
            self.entries.append((self.position, event))
        return True

    def must(self, model: type[Command], on: date, **fields: Any) -> None:
        assert self.run(model, on, **fields), f"{model.name} refused"

    def lab(self, on: date, analyte: str, value: Decimal) -> int | None:
        unit = {"serum_m_protein": "g/dL", "marrow_plasma_cells": "%"}[analyte]
        if not self.run(RecordLab, on, analyte=analyte, value=value, unit=unit):
            return None
        return self.position

    def would_accept(self, model: type[Command], on: date, **fields: Any) -> bool:
        try:
            command = command_from(model, {"subject_id": SUBJECT, "date": on, **fields})
            HANDLERS[model](self.p, CTX, command)
        except REFUSED:
            return False
        return True


def as_stored(history: SubjectHistory) -> SubjectHistory:
    """The history as the subject view stores and loads it."""
    return load_history(dump_history(history))


def history_part(p: Patient) -> SubjectHistory:
    return SubjectHistory(**{f.name: getattr(p, f.name) for f in fields(SubjectHistory)})


# --------------------------------------------------------------------------- random histories

ACTION_NAMES = (
    *["visit"] * 5,
    "lab",
    "assess",
    "dose",
    "dose",
    "progression",
    "advance",
    "advance",
    "stop",
    "stop_at_visit",
    "correct",
    "void",
    "late_lab",
    "marrow",
    "withdraw",
    "death",
    "follow_up",
    "follow_up",
)
ACTIONS = st.sampled_from(ACTION_NAMES)
STEP = st.tuples(
    st.integers(min_value=0, max_value=45),  # days since the previous step
    ACTIONS,
    st.integers(min_value=-18, max_value=18),  # change of the disease level, % of baseline
    st.sampled_from(CATEGORIES),
)


def build(steps: list[tuple[int, str, int, str]], clinic: Callable[[], Clinic] = Clinic) -> Clinic:
    c = clinic()
    on = START
    level = 100
    labs: list[int] = []
    visits: list[date] = []
    for gap, action, change, category in steps:
        on += timedelta(days=gap)
        level = max(10, min(220, level + change))
        value = (Decimal("3.2") * level / 100).quantize(Decimal("0.01"))
        rare = abs(change) > 14  # about one step in five
        if action in ("lab", "late_lab", "visit"):
            when = on - timedelta(days=gap // 2) if action == "late_lab" else on
            found = c.lab(when, "serum_m_protein", value)
            if found is not None:
                labs.append(found)
        if action in ("assess", "visit"):
            if c.run(AssessResponse, on, investigator_category=category, new_bone_lesions=False):
                visits.append(on)
        elif action == "marrow":
            found = c.lab(on, "marrow_plasma_cells", Decimal(level // 4))
            if found is not None:
                labs.append(found)
        elif action == "dose":
            view = patient_report(c.p, on)
            for due in view["due_today"]:
                c.run(
                    RecordDose, on, drug=due["drug"], dose=Decimal(due["dose"]), route=due["route"]
                )
        elif action == "progression":
            c.run(ConfirmProgression, on, basis="rising M-protein")
        elif action == "advance":
            c.run(AdvanceRegimen, on)
        elif action == "stop" and rare:
            c.run(StopTreatment, on, reason="patient declined further treatment")
        elif action == "stop_at_visit" and visits:
            c.run(StopTreatment, visits[-1], reason="patient declined dexamethasone")
        elif action in ("correct", "void") and labs:
            target = labs[(level + change) % len(labs)]
            if action == "void":
                c.run(
                    Correct,
                    on,
                    position=target,
                    field=RECORD_STATUS_FIELD,
                    new_value=ENTERED_IN_ERROR,
                    reason="dup",
                )
            else:
                c.run(
                    Correct,
                    on,
                    position=target,
                    field="value",
                    new_value=str(value),
                    reason="transcription error",
                )
        elif action == "withdraw" and rare and change > 0:
            c.run(Withdraw, on, reason="moved away", consent_withdrawn=change % 2 == 0)
        elif action == "death" and rare and change < 0:
            c.run(RecordDeath, on, cause="myocardial infarction")
        elif action == "follow_up":
            c.run(RecordFollowUp, on, disease_status="no-progression" if change else "progression")
    return c


def dates_to_check(c: Clinic) -> list[date]:
    last = c.p.last_date or START
    found = {START - timedelta(days=1), last, last + timedelta(days=30)}
    day = START - timedelta(days=5)
    while day <= last + timedelta(days=40):
        found.add(day)
        day += timedelta(days=9)
    for period in [*c.p.periods, *c.p.timeline.cancelled]:
        found.update({period.starts_on - timedelta(days=1), period.starts_on})
    return sorted(d for d in found if d <= CTX.today)


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.lists(STEP, min_size=1, max_size=30))
def test_the_regimen_the_view_reports_on_a_date_is_the_regimen_the_rules_apply(
    steps: list[tuple[int, str, int, str]],
) -> None:
    c = build(steps)
    stored = as_stored(SubjectHistory.fold(SUBJECT, c.entries))
    assert dump_history(stored) == dump_history(history_part(c.p))
    for on in dates_to_check(c):
        view = patient_report(as_stored(as_on(SUBJECT, c.entries, on)), on)
        assert view["regimen"] == c.p.regimen_on(on).value, on
        due = {(d["drug"], d["dose"], d["route"]) for d in view["due_today"]}
        for drug, dose, route in (
            ("anakinra", "100", "SC"),
            ("dexamethasone", "20", "PO"),
            ("dexamethasone", "40", "PO"),
        ):
            if (drug, on) in c.p.doses or (drug, on) in c.p.missed:
                continue
            accepted = c.would_accept(RecordDose, on, drug=drug, dose=Decimal(dose), route=route)
            assert accepted == ((drug, dose, route) in due), (on, drug, dose, view["regimen"])
        if view["regimen"] not in {r.value for r in ON_TREATMENT}:
            assert not due


# --------------------------------------------------------------------------- corrections

LAB_PLAN = st.lists(
    st.tuples(
        st.integers(min_value=6, max_value=27),  # days since the previous lab (in induction)
        st.integers(min_value=40, max_value=160),  # value as first recorded, % of baseline
        st.one_of(st.none(), st.just(-1), st.integers(min_value=40, max_value=160)),
        st.booleans(),  # assessed the same day
        st.integers(min_value=0, max_value=60),  # marrow plasma cells, %
    ),
    min_size=1,
    max_size=9,
)


def _serum(pct: int) -> Decimal:
    return (Decimal("3.2") * pct / 100).quantize(Decimal("0.01"))


def record_plan(
    plan: list[tuple[int, int, int | None, bool, int]],
    *,
    corrected: bool,
    baseline_serum: tuple[str, str],
) -> Clinic:
    """``corrected``: record first values then correct them (w) or void them (-1); otherwise
    record w (or nothing) in the first place. Assessments only in months 1-5."""
    c = Clinic(baseline_serum[0] if corrected else baseline_serum[1])
    on = START
    to_fix: list[tuple[int, int]] = []
    last_day = START + timedelta(days=5 * 28 - 1)
    for gap, first, later, assessed, marrow in plan:
        on += timedelta(days=gap)
        if on > last_day:
            break
        value = first if (corrected or later is None) else later
        if corrected or later != -1:
            position = c.lab(on, "serum_m_protein", _serum(value))
            if corrected and later is not None and position is not None:
                to_fix.append((position, later))
        if marrow % 3 == 0:
            c.lab(on, "marrow_plasma_cells", Decimal(marrow))
        if assessed:
            c.run(AssessResponse, on, investigator_category="SD", new_bone_lesions=False)
    fix_on = on
    if corrected:
        if baseline_serum[0] != baseline_serum[1]:
            enrolment = next(pos for pos, e in c.entries if type(e).__name__ == "SubjectEnrolled")
            c.must(
                Correct,
                fix_on,
                position=enrolment,
                field="baseline.serum_m_protein_g_dl",
                new_value=baseline_serum[1],
                reason="baseline re-read from the source document",
            )
        for position, later in to_fix:
            if later == -1:
                c.must(
                    Correct,
                    fix_on,
                    position=position,
                    field=RECORD_STATUS_FIELD,
                    new_value=ENTERED_IN_ERROR,
                    reason="wrong patient",
                )
            else:
                text = str(_serum(later))
                current = c.p.record_at(position)
                assert current is not None
                assert isinstance(current.current, LabResulted)
                if str(current.current.value) != text:
                    c.must(
                        Correct,
                        fix_on,
                        position=position,
                        field="value",
                        new_value=text,
                        reason="transcription error",
                    )
    return c


def clinical(h: SubjectHistory) -> dict[str, Any]:
    """What the rules derive from a history, without positions (the audit trail differs)."""
    evaluations = evaluation.evaluate(h, PARAMS)
    summary = trial_summary([h], 0)
    for figure in summary.values():
        if isinstance(figure, dict):
            figure.pop("position", None)
    return {
        "evaluations": [
            (e.on, e.derived, e.rule_ids, e.values_used, e.line, e.alone) for e in evaluations
        ],
        "runs": evaluation.runs(evaluations, PARAMS),
        "progressions": [
            (p.on, p.confirmed_on, p.source, p.by_rules)
            for p in evaluation.progressions(h, PARAMS)
            if p.supported
        ],
        "month6": evaluation.month6_category(h, PARAMS, "month6_assessment"),
        "summary": summary,
    }


@SETTINGS
@given(
    LAB_PLAN,
    st.sampled_from([("3.2", "3.2"), ("3.2", "2.8"), ("2.9", "3.4")]),
)
def test_a_corrected_ledger_derives_what_a_ledger_recorded_right_first_time_derives(
    plan: list[tuple[int, int, int | None, bool, int]], baseline_serum: tuple[str, str]
) -> None:
    corrected = record_plan(plan, corrected=True, baseline_serum=baseline_serum)
    right = record_plan(plan, corrected=False, baseline_serum=baseline_serum)
    reviews = evaluation.decision_reviews(corrected.p, PARAMS)
    if reviews:
        # A correction removed the basis of a decision already acted on (a progression the
        # rules recorded, a month-6 decision): the regimen given stays as recorded, so the
        # two ledgers differ, and the corrected one says so. The right-first ledger never
        # took that decision.
        assert decisions(corrected.p) != decisions(right.p)
        return
    for history in (corrected.p, as_stored(SubjectHistory.fold(SUBJECT, corrected.entries))):
        assert clinical(history) == clinical(right.p)


def decisions(p: Patient) -> list[tuple[str, str]]:
    """The decisions recorded: regimen changes (rule, regimen) and progressions."""
    found = [(period.rule_id, period.regimen.value) for period in p.periods]
    return found + [("progression", e.effective_date.isoformat()) for _, e in p.progressions]


def test_a_corrected_nadir_makes_a_later_rise_progression() -> None:
    """Recorded 2.5 then 2.6 g/dL (SD, SD); the 2.5 corrected to 2.0: the rise to 2.6 is
    +30 % and +0.6 g/dL from the corrected nadir, so the rules now derive PD there."""
    c = Clinic("3.2")
    first, second = START + timedelta(days=27), START + timedelta(days=55)
    nadir = c.lab(first, "serum_m_protein", Decimal("2.5"))
    c.must(AssessResponse, first, investigator_category="SD", new_bone_lesions=False)
    c.lab(second, "serum_m_protein", Decimal("2.6"))
    c.must(AssessResponse, second, investigator_category="SD", new_bone_lesions=False)
    assert nadir is not None
    fixed = second + timedelta(days=3)
    c.must(
        Correct, fixed, position=nadir, field="value", new_value="2.0", reason="transcription error"
    )
    found = evaluation.evaluate(c.p, PARAMS)
    assert [(e.recorded_derived.value, e.derived.value) for e in found] == [
        ("SD", "MR"),
        ("SD", "PD"),
    ]
    view = patient_report(as_stored(SubjectHistory.fold(SUBJECT, c.entries)), None)
    assert view["regimen"] == "induction"


class LedgerClinic(Clinic):
    """The same subject recorded in a signed ledger, the subject view caught up as it goes."""

    def __init__(self, ledger: TrialLedger, signer: Signer, views: Path) -> None:
        self.recorder = TrialRecorder(ledger, clock=lambda: CTX.today)
        self.signer = signer
        self.engine = ProjectionEngine(ledger.reader, views, batch_size=7)
        self.runs = 0
        super().__init__()

    def run(self, model: type[Command], on: date, **fields: Any) -> bool:
        try:
            command = command_from(model, {"subject_id": SUBJECT, "date": on, **fields})
            recorded = self.recorder.record(self.signer, command)
        except REFUSED:
            return False
        self.p = self.recorder.patient(SUBJECT)
        self.position = max(recorded.positions)
        self.runs += 1
        if self.runs % 3 == 0:
            self.engine.catch_up()
        return True


@pytest.mark.parametrize("seed", range(6))
def test_the_stored_subject_view_is_the_history_the_rules_read(
    seed: int, tmp_path: Path, cast: Cast
) -> None:
    """Through the real store: the view row (caught up in batches of 7 events, corrections
    refolding it) equals the recorder's history, and the as-of view of every date reports the
    regimen the rules apply on it."""
    rng = random.Random(seed)
    actions = list(ACTION_NAMES)
    steps = [
        (rng.randint(0, 45), rng.choice(actions), rng.randint(-18, 18), rng.choice(CATEGORIES))
        for _ in range(40)
    ]
    ledger = create_ledger(tmp_path / "trial.db", cast)
    try:
        c = build(steps, lambda: LedgerClinic(ledger, cast.investigator, tmp_path / "v.sqlite"))
        assert isinstance(c, LedgerClinic)
        c.engine.catch_up()
        conn = c.engine.connect()
        try:
            stored = stored_history(conn, SUBJECT)
        finally:
            conn.close()
        assert stored is not None
        assert dump_history(stored) == dump_history(history_part(c.p))
        with ledger.reader.snapshot():
            entries = subject_entries(
                ledger.reader, SUBJECT, ledger.reader.size(), check_leaves=True
            )
        for on in dates_to_check(c):
            assert patient_report(as_on(SUBJECT, entries, on), on)["regimen"] == c.p.regimen_on(on)
    finally:
        ledger.close()
