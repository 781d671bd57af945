"""Response history: assessments (investigator vs derived), markers, confirmation, progression.

One compact fold per subject (:class:`ResponseFold`), stored as canonical JSON in
``response_state``. Definitions (all rules come from ``ledger.protocol.response``):

* assessments: every ``ResponseAssessed`` with the investigator's and the rule-derived
  category; ``disagree`` when they differ. Each is attributed to the regimen the subject was on
  the day before it (the treatment whose effect it measures), so a month-6 assessment dated on
  the day of the month-6 switch still counts for induction.
* confirmation: ``best_confirmed_response`` / ``confirmation_runs`` over the assessments in
  date order; when two assessments share a date the later-recorded one (higher position) is
  used. ``basis`` "derived" (default for every trial figure) or "investigator".
* markers: each analyte of ``LabResulted`` (and the enrolment baseline). Baseline = the value
  recorded at enrolment (``SubjectEnrolled.baseline``) if any, else the latest result dated on
  or before the treatment start. Nadir = the lowest of the baseline and every result dated after
  the treatment start. Percent changes (latest vs baseline and vs nadir) are exact Decimal
  arithmetic rounded half-even to 0.01; IFE analytes (``serum_ife``, ``urine_ife``) have none.
* progression: the earliest of ``ProgressionConfirmed`` and a ``FollowUpVisit`` with
  ``disease_status: progression``; if neither was recorded but the derived categories confirm
  PD (two consecutive PD assessments), the first of those, with source ``derived``.
* duration of response: from the first assessment of the first confirmed run at MR or better
  to progression (event) or to the last disease evaluation (censored).
* last evaluation: the latest date of a ``ResponseAssessed``, ``LabResulted`` or
  ``FollowUpVisit`` (censoring date of time to progression).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, ClassVar

from ledger.events import (
    ALL_EVENTS,
    ANALYTE_UNITS,
    CorrectionRecorded,
    EligibilityAssessed,
    FollowUpVisit,
    LabResulted,
    ProgressionConfirmed,
    RegimenChanged,
    ResponseAssessed,
    SubjectDied,
    SubjectEnrolled,
    SubjectOffStudy,
    SubjectWithdrawn,
)
from ledger.protocol.parameters import ProtocolParameters
from ledger.protocol.response import (
    Category,
    ConfirmedResponse,
    best_confirmed_response,
    confirmation_runs,
)
from projections.decoding import Payload, day
from projections.folding import (
    TIMELINE_TOPICS,
    SubjectRow,
    Timeline,
    apply_corrections,
    clinical_rows,
)
from projections.patient import params_for
from projections.subject_view import SubjectStateProjection

BASELINE_FIELDS = {
    "serum_m_protein_g_dl": "serum_m_protein",
    "urine_m_protein_mg_24h": "urine_m_protein",
    "marrow_plasma_cells_pct": "marrow_plasma_cells",
    "hs_crp_mg_l": "hs_crp",
}
FLAG_ANALYTES = frozenset({"serum_ife", "urine_ife"})
RESPONSES = frozenset({Category.CR, Category.VGPR, Category.PR, Category.MR})
_CENT = Decimal("0.01")


def percent_change(reference: str | None, current: str | None) -> str | None:
    """(current - reference) / reference in percent, rounded half-even to 0.01, as a string."""
    if reference is None or current is None:
        return None
    ref = Decimal(reference)
    if ref == 0:
        return None
    return str(((Decimal(current) - ref) * 100 / ref).quantize(_CENT, ROUND_HALF_EVEN))


def _confirmed_json(run: ConfirmedResponse | None, basis: str) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "category": run.category.value,
        "first_on": run.first_on.isoformat(),
        "confirmed_on": run.confirmed_on.isoformat(),
        "rule_ids": list(run.rule_ids),
        "reason": run.reason,
        "basis": basis,
    }


class ResponseFold:
    """One subject's response history, folded from its events."""

    __slots__ = (
        "amendment",
        "assessments",
        "baseline",
        "labs",
        "last_evaluation",
        "progressions",
        "subject_id",
        "timeline",
        "treatment_start",
    )

    def __init__(self, subject_id: str) -> None:
        self.subject_id = subject_id
        self.amendment: str | None = None
        self.treatment_start: str | None = None
        self.baseline: dict[str, str] = {}  # analyte -> value recorded at enrolment
        # analyte -> {"n", "early": [[date, pos, value]], "post_min": [value, date, pos] | None,
        #             "latest": [date, pos, value] | None}
        self.labs: dict[str, dict[str, Any]] = {}
        # [date, position, protocol month, investigator, derived, agrees as recorded]
        self.assessments: list[list[Any]] = []
        self.progressions: list[list[Any]] = []  # [date, position, source, basis]
        self.timeline = Timeline()
        self.last_evaluation: str | None = None

    # ------------------------------------------------------------------ folding

    def apply(self, position: int, topic: str, p: Payload) -> None:
        if topic == LabResulted.TOPIC:
            self.lab(position, p)
            return
        if topic in TIMELINE_TOPICS:
            self.timeline.add(position, topic, p)
        if topic == SubjectEnrolled.TOPIC:
            self.enrol(p)
        elif topic == EligibilityAssessed.TOPIC:
            self.amendment = self.amendment or p["protocol_amendment"]
        elif topic == ResponseAssessed.TOPIC:
            entry = [
                p["effective_date"],
                position,
                p["protocol_month"],
                p["investigator_category"],
                p["derived_category"],
                p["agrees"],
            ]
            self.assessments.append(entry)
            self.assessments.sort(key=lambda a: (a[0], a[1]))
            self.evaluated(p["effective_date"])
        elif topic == ProgressionConfirmed.TOPIC:
            self.progress(p["effective_date"], position, "ProgressionConfirmed", p["basis"])
        elif topic == FollowUpVisit.TOPIC:
            self.evaluated(p["effective_date"])
            if p["disease_status"] == "progression":
                self.progress(p["effective_date"], position, "FollowUpVisit", p["note"])

    def evaluated(self, on: str) -> None:
        if self.last_evaluation is None or on > self.last_evaluation:
            self.last_evaluation = on

    def progress(self, on: str, position: int, source: str, basis: str) -> None:
        self.progressions.append([on, position, source, basis])
        self.progressions.sort(key=lambda e: (e[0], e[1]))

    def enrol(self, p: Payload) -> None:
        self.amendment = p["protocol_amendment"]
        self.treatment_start = start = p["treatment_start"]
        self.baseline = {
            analyte: p["baseline"][name]
            for name, analyte in BASELINE_FIELDS.items()
            if p["baseline"].get(name) is not None
        }
        for lab in self.labs.values():  # results dated after the start were not baseline
            early = lab["early"]
            lab["early"] = [e for e in early if e[0] <= start][-1:]
            for on, position, value in (e for e in early if e[0] > start):
                self._lower(lab, value, on, position)

    def lab(self, position: int, p: Payload) -> None:
        on = p["effective_date"]
        lab = self.labs.get(p["analyte"])
        if lab is None:
            lab = self.labs[p["analyte"]] = {"n": 0, "early": [], "post_min": None, "latest": None}
        lab["n"] += 1
        entry = [on, position, p["value"]]
        latest = lab["latest"]
        if latest is None or (on, position) > (latest[0], latest[1]):
            lab["latest"] = entry
        start = self.treatment_start
        if start is None:
            lab["early"].append(entry)
            lab["early"].sort(key=lambda e: (e[0], e[1]))
        elif on <= start:
            early = [*lab["early"], entry]
            early.sort(key=lambda e: (e[0], e[1]))
            lab["early"] = early[-1:]
        else:
            self._lower(lab, p["value"], on, position)
        if self.last_evaluation is None or on > self.last_evaluation:
            self.last_evaluation = on

    @staticmethod
    def _lower(lab: dict[str, Any], value: str, on: str, position: int) -> None:
        low = lab["post_min"]
        if low is None:
            lab["post_min"] = [value, on, position]
            return
        v, lv = Decimal(value), Decimal(low[0])
        if v < lv or (v == lv and (on, position) < (low[1], low[2])):
            lab["post_min"] = [value, on, position]

    # ------------------------------------------------------------------ storage

    def to_json(self) -> dict[str, Any]:
        return {
            "subject_id": self.subject_id,
            "amendment": self.amendment,
            "treatment_start": self.treatment_start,
            "baseline": self.baseline,
            "labs": self.labs,
            "assessments": self.assessments,
            "progressions": self.progressions,
            "timeline": self.timeline.entries,
            "last_evaluation": self.last_evaluation,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResponseFold:
        fold = cls(data["subject_id"])
        for name in cls.__slots__:
            if name == "timeline":
                fold.timeline = Timeline(data["timeline"])
            elif name in data:
                setattr(fold, name, data[name])
        return fold

    # ------------------------------------------------------------------ reading

    @property
    def params(self) -> ProtocolParameters:
        return params_for(self.amendment, self.treatment_start)

    def attributed_regimen(self, on: str) -> str:
        """The regimen the subject was on the day before ``on``."""
        return self.timeline.regimen_on((day(on) - timedelta(days=1)).isoformat())[0]

    def series(
        self, regimens: frozenset[str] | None = None, basis: str = "derived"
    ) -> list[tuple[Any, Category]]:
        """(date, category) per assessment date (later record wins), optionally by regimen."""
        column = 4 if basis == "derived" else 3
        by_date: dict[str, str] = {}
        for a in self.assessments:
            if self.treatment_start is not None and a[0] <= self.treatment_start:
                continue
            if regimens is not None and self.attributed_regimen(a[0]) not in regimens:
                continue
            by_date[a[0]] = a[column]
        return [(day(on), Category(by_date[on])) for on in sorted(by_date)]

    def best_confirmed(
        self, regimens: frozenset[str] | None = None, basis: str = "derived"
    ) -> ConfirmedResponse | None:
        return best_confirmed_response(self.series(regimens, basis), self.params)

    def first_response(self, basis: str = "derived") -> ConfirmedResponse | None:
        """The earliest confirmed run at MR or better (start of the duration of response)."""
        runs = confirmation_runs(self.series(None, basis), self.params)
        responses = [r for r in runs if r.category in RESPONSES]
        return min(responses, key=lambda r: r.first_on, default=None)

    def derived_progression(self) -> str | None:
        runs = confirmation_runs(self.series(None, "derived"), self.params)
        pd = [r.first_on for r in runs if r.category is Category.PD]
        return min(pd).isoformat() if pd else None

    def progression(self) -> dict[str, Any] | None:
        """The date of progression and where it comes from (module docstring)."""
        if self.progressions:
            on, position, source, basis = self.progressions[0]
            return {"date": on, "source": source, "position": position, "basis": basis}
        derived = self.derived_progression()
        if derived is not None:
            return {"date": derived, "source": "derived", "position": None, "basis": None}
        return None

    def duration_of_response(self) -> dict[str, Any] | None:
        first = self.first_response()
        if first is None:
            return None
        start = first.first_on.isoformat()
        progression = self.progression()
        if progression is not None and progression["date"] >= start:
            end, event = progression["date"], True
        else:
            end, event = self.last_evaluation or start, False
        return {
            "from": start,
            "to": end,
            "days": (day(end) - day(start)).days,
            "progressed": event,
        }

    def markers(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for analyte in sorted(set(self.labs) | set(self.baseline)):
            lab = self.labs.get(analyte, {"n": 0, "early": [], "post_min": None, "latest": None})
            base_value: str | None
            base_on: str | None
            source: str | None
            if analyte in self.baseline:
                base_value, base_on, source = (
                    self.baseline[analyte],
                    self.treatment_start,
                    "enrolment",
                )
            elif self.treatment_start is not None and lab["early"]:
                last = [e for e in lab["early"] if e[0] <= self.treatment_start]
                base_value, base_on, source = (
                    (last[-1][2], last[-1][0], "lab") if last else (None, None, None)
                )
            else:
                base_value, base_on, source = None, None, None
            nadir_value, nadir_on = base_value, base_on
            low = lab["post_min"]
            if low is not None and (nadir_value is None or Decimal(low[0]) < Decimal(nadir_value)):
                nadir_value, nadir_on = low[0], low[1]
            latest = lab["latest"]
            latest_value = latest[2] if latest else None
            numeric = analyte not in FLAG_ANALYTES
            found[analyte] = {
                "unit": ANALYTE_UNITS.get(analyte, ""),
                "results": lab["n"],
                "baseline": base_value,
                "baseline_date": base_on,
                "baseline_source": source,
                "nadir": nadir_value,
                "nadir_date": nadir_on,
                "latest": latest_value,
                "latest_date": latest[0] if latest else None,
                "change_from_baseline_pct": (
                    percent_change(base_value, latest_value) if numeric else None
                ),
                "change_from_nadir_pct": (
                    percent_change(nadir_value, latest_value) if numeric else None
                ),
            }
        return found

    def report(self) -> dict[str, Any]:
        """The documented ``response`` part of the ``patient`` JSON."""
        return {
            "assessments": [
                {
                    "position": a[1],
                    "date": a[0],
                    "protocol_month": a[2],
                    "regimen": self.attributed_regimen(a[0]),
                    "investigator": a[3],
                    "derived": a[4],
                    "agrees_recorded": a[5],
                    "disagree": a[3] != a[4],
                }
                for a in self.assessments
            ],
            "disagreements": sum(1 for a in self.assessments if a[3] != a[4]),
            "markers": self.markers(),
            "best_confirmed": _confirmed_json(self.best_confirmed(), "derived"),
            "best_confirmed_investigator": _confirmed_json(
                self.best_confirmed(basis="investigator"), "investigator"
            ),
            "progression": self.progression(),
            "derived_progression_on": self.derived_progression(),
            "duration_of_response": self.duration_of_response(),
            "last_evaluation": self.last_evaluation,
        }


def fold_response(subject_id: str, rows: list[SubjectRow], on: str | None = None) -> ResponseFold:
    """Fold one subject's rows (position order) with corrections applied, up to date ``on``."""
    kept, _ = apply_corrections(rows)
    fold = ResponseFold(subject_id)
    for position, topic, payload in clinical_rows(kept, on):
        if topic in RESPONSE_TOPICS and topic != CorrectionRecorded.TOPIC:
            fold.apply(position, topic, payload)
    return fold


RESPONSE_TOPICS: frozenset[str] = frozenset(
    {
        EligibilityAssessed.TOPIC,
        SubjectEnrolled.TOPIC,
        LabResulted.TOPIC,
        ResponseAssessed.TOPIC,
        ProgressionConfirmed.TOPIC,
        RegimenChanged.TOPIC,
        FollowUpVisit.TOPIC,
        SubjectWithdrawn.TOPIC,
        SubjectOffStudy.TOPIC,
        SubjectDied.TOPIC,
        CorrectionRecorded.TOPIC,
    }
)


class ResponseProjection(SubjectStateProjection[ResponseFold]):
    """View ``response_state(subject_id, state)``."""

    name: ClassVar[str] = "response"
    version: ClassVar[int] = 1
    handles: ClassVar[frozenset[str]] = RESPONSE_TOPICS
    ignores: ClassVar[frozenset[str]] = frozenset(
        cls.TOPIC for cls in ALL_EVENTS if cls.TOPIC not in RESPONSE_TOPICS
    )
    tables: ClassVar[tuple[str, ...]] = ("response_state",)
    table: ClassVar[str] = "response_state"
    insert_sql: ClassVar[str] = (
        "INSERT OR REPLACE INTO response_state (subject_id, state) VALUES (?,?)"
    )

    def __init__(self) -> None:
        super().__init__(ResponseFold, ResponseFold.from_json, fold_response)

    def create(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS response_state (subject_id TEXT PRIMARY KEY,"
            " state TEXT NOT NULL)"
        )


def stored_response(conn: sqlite3.Connection, subject_id: str) -> ResponseFold | None:
    row = conn.execute(
        "SELECT state FROM response_state WHERE subject_id=?", (subject_id,)
    ).fetchone()
    return None if row is None else ResponseFold.from_json(json.loads(row[0]))


def stored_responses(conn: sqlite3.Connection) -> dict[str, ResponseFold]:
    return {
        str(r[0]): ResponseFold.from_json(json.loads(r[1]))
        for r in conn.execute("SELECT subject_id, state FROM response_state ORDER BY subject_id")
    }
