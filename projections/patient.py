"""Patient state: regimen ("arm"), protocol month, next doses and visits, doses, open AEs.

One compact fold per subject (:class:`PatientFold`), stored as canonical JSON in
``patient_state`` and updated per batch. The same fold serves as-of queries on demand
(:func:`fold_patient` over the subject's rows up to a position, optionally restricted to a
clinical date). What is clinical "now" is never the wall clock: a patient's reference date is
the ``--on`` date when given, else the latest clinical date recorded for the subject.

* regimen: :class:`projections.folding.Timeline` (vocabulary of
  :class:`ledger.protocol.schedule.Regimen`: screening, induction, continuation, low_dose_dex,
  high_dose_dex, off_treatment, follow_up, off_study);
* protocol month/day on the reference date (``ledger.protocol.schedule``);
* next doses: what ``schedule.next_doses`` calls for in the 7 days after the reference date
  if the regimen continues unchanged;
* next visits: the next protocol milestone of the regimen (month-6, month-12 or month-18
  decision, end of the high-dose course) and the next follow-up visits after treatment ended;
* doses taken (``DoseAdministered``) and missed (``DoseMissed``, ``held`` counted apart) per
  drug, with first and last dates;
* adverse events: a later report of the same ``ae_id`` updates it (worst grade kept);
  ``AdverseEventResolved`` closes it; open = reported and not resolved.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta
from typing import Any, ClassVar

from ledger.errors import ValidationError
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
    LabResulted,
    ProgressionConfirmed,
    RecordSigned,
    RegimenChanged,
    ResponseAssessed,
    SubjectDied,
    SubjectEnrolled,
    SubjectOffStudy,
    SubjectScreened,
    SubjectWithdrawn,
)
from ledger.protocol.parameters import (
    MC0282_ORIGINAL,
    ProtocolParameters,
    parameters_for,
    parameters_in_force,
)
from ledger.protocol.schedule import (
    ON_TREATMENT,
    Regimen,
    follow_up_visits,
    high_dose_course_end,
    month_6_decision_date,
    month_12_decision_date,
    month_18_decision_date,
    next_doses,
    protocol_day,
    protocol_month,
)
from projections.decoding import Payload, day
from projections.engine import Handler
from projections.folding import (
    TIMELINE_TOPICS,
    Correction,
    SubjectRow,
    Timeline,
    apply_corrections,
    clinical_rows,
)
from projections.subject_view import SubjectStateProjection

NEXT_DOSE_DAYS = 7
NEXT_VISITS = 3
ADMINISTRATIVE_TOPICS = frozenset({CorrectionRecorded.TOPIC, RecordSigned.TOPIC})


def params_for(amendment: str | None, on: str | None) -> ProtocolParameters:
    """The subject's protocol amendment; the one in force on ``on`` if the name is unknown."""
    if amendment:
        try:
            return parameters_for(amendment)
        except ValidationError:
            pass
    if on:
        try:
            return parameters_in_force(day(on))
        except ValidationError:
            pass
    return MC0282_ORIGINAL


class PatientFold:
    """Everything the patient view shows for one subject, folded from its events."""

    __slots__ = (
        "aes",
        "amendment",
        "consented_on",
        "corrections",
        "died",
        "doses",
        "eligible",
        "enrolled_on",
        "last_date",
        "missed",
        "off_study",
        "screened_on",
        "site",
        "subject_id",
        "timeline",
        "treatment_start",
        "withdrawn",
    )

    def __init__(self, subject_id: str) -> None:
        self.subject_id = subject_id
        self.site: str | None = subject_id.split("-")[1]
        self.screened_on: str | None = None
        self.eligible: bool | None = None
        self.consented_on: str | None = None
        self.enrolled_on: str | None = None
        self.treatment_start: str | None = None
        self.amendment: str | None = None
        self.timeline = Timeline()
        self.doses: dict[str, list[Any]] = {}  # drug -> [taken, first date, last date]
        self.missed: dict[str, list[int]] = {}  # drug -> [missed, of which held]
        self.aes: dict[str, dict[str, Any]] = {}
        self.withdrawn: list[Any] | None = None  # [date, reason, consent withdrawn]
        self.off_study: list[Any] | None = None  # [date, reason]
        self.died: list[Any] | None = None  # [date, cause]
        self.last_date: str = ""
        self.corrections: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ folding

    def apply(self, position: int, topic: str, p: Payload) -> None:
        if topic == DoseAdministered.TOPIC:
            self.dose(p)
            return
        if topic in ADMINISTRATIVE_TOPICS:
            return
        effective = p["effective_date"]
        self.last_date = max(self.last_date, effective)
        if topic in TIMELINE_TOPICS:
            self.timeline.add(position, topic, p)
        if topic == SubjectScreened.TOPIC:
            self.site = p["site"]
            self.screened_on = effective
        elif topic == EligibilityAssessed.TOPIC:
            self.eligible = bool(p["eligible"])
            self.amendment = self.amendment or p["protocol_amendment"]
        elif topic == ConsentObtained.TOPIC:
            self.consented_on = effective
        elif topic == SubjectEnrolled.TOPIC:
            self.site = p["site"]
            self.enrolled_on = effective
            self.treatment_start = p["treatment_start"]
            self.amendment = p["protocol_amendment"]
        elif topic == DoseMissed.TOPIC:
            counts = self.missed.setdefault(p["drug"], [0, 0])
            counts[0] += 1
            counts[1] += 1 if p["held"] else 0
        elif topic == AdverseEventReported.TOPIC:
            self.report_ae(position, p)
        elif topic == AdverseEventResolved.TOPIC:
            ae = self.aes.setdefault(p["ae_id"], {"ae_id": p["ae_id"]})
            ae["resolved_on"] = effective
            ae["outcome"] = p["outcome"]
        elif topic == SubjectWithdrawn.TOPIC:
            self.withdrawn = [effective, p["reason"], p["consent_withdrawn"]]
        elif topic == SubjectOffStudy.TOPIC:
            self.off_study = [effective, p["reason"]]
        elif topic == SubjectDied.TOPIC:
            self.died = [effective, p["cause"]]

    def dose(self, p: Payload) -> None:
        on = p["effective_date"]
        counts = self.doses.get(p["drug"])
        if counts is None:
            self.doses[p["drug"]] = [1, on, on]
        else:
            counts[0] += 1
            counts[1] = min(counts[1], on)
            counts[2] = max(counts[2], on)
        self.last_date = max(self.last_date, on)

    def report_ae(self, position: int, p: Payload) -> None:
        previous = self.aes.get(p["ae_id"], {})
        onset = previous.get("onset") or p["effective_date"]
        worst = max(int(previous.get("worst_grade", 0)), int(p["grade"]))
        self.aes[p["ae_id"]] = {
            **previous,
            "ae_id": p["ae_id"],
            "term": p["term"],
            "grade": p["grade"],
            "worst_grade": worst,
            "onset": onset,
            "attribution": p["attribution"],
            "serious": p["serious"],
            "seriousness_criteria": list(p["seriousness_criteria"]),
            "action_taken": p["action_taken"],
            "position": previous.get("position", position),
        }

    def note_corrections(self, corrections: list[Correction]) -> None:
        self.corrections = [c.to_json() for c in corrections]

    # ------------------------------------------------------------------ storage

    def to_json(self) -> dict[str, Any]:
        return {
            "subject_id": self.subject_id,
            "site": self.site,
            "screened_on": self.screened_on,
            "eligible": self.eligible,
            "consented_on": self.consented_on,
            "enrolled_on": self.enrolled_on,
            "treatment_start": self.treatment_start,
            "amendment": self.amendment,
            "timeline": self.timeline.entries,
            "doses": self.doses,
            "missed": self.missed,
            "aes": self.aes,
            "withdrawn": self.withdrawn,
            "off_study": self.off_study,
            "died": self.died,
            "last_date": self.last_date,
            "corrections": self.corrections,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PatientFold:
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

    def reference_date(self, on: str | None) -> str | None:
        return on or self.last_date or None

    def first_anakinra(self) -> str | None:
        counts = self.doses.get("anakinra")
        return str(counts[1]) if counts else None

    def treatment_end(self) -> str | None:
        """The first day off study treatment after having been on it."""
        off = frozenset({Regimen.OFF_TREATMENT.value, Regimen.FOLLOW_UP.value})
        on_treatment = frozenset(r.value for r in ON_TREATMENT)
        started = self.timeline.ever(on_treatment)
        ended = self.timeline.ever(off)
        return ended if started and ended and ended >= started else None

    def report(self, on: str | None) -> dict[str, Any]:
        """The documented ``patient`` JSON (state part) on reference date ``on``."""
        ref = self.reference_date(on)
        regimen, since = self.timeline.regimen_on(ref) if ref else ("screening", None)
        params = self.params
        month = pday = None
        if ref and self.treatment_start and ref >= self.treatment_start:
            month = protocol_month(day(self.treatment_start), day(ref), params)
            pday = protocol_day(day(self.treatment_start), day(ref))
        return {
            "subject_id": self.subject_id,
            "site": self.site,
            "reference_date": ref,
            "regimen": regimen,
            "regimen_since": since,
            "regimen_history": self.timeline.history(),
            "screened_on": self.screened_on,
            "eligible": self.eligible,
            "consented_on": self.consented_on,
            "enrolled_on": self.enrolled_on,
            "treatment_start": self.treatment_start,
            "protocol_amendment": params.amendment,
            "protocol_month": month,
            "protocol_day": pday,
            "next_doses": self.next_doses(regimen, since, ref, params),
            "next_visits": self.next_visits(regimen, since, ref, params),
            "doses": {
                drug: {
                    "taken": self.doses.get(drug, [0, None, None])[0],
                    "first": self.doses.get(drug, [0, None, None])[1],
                    "last": self.doses.get(drug, [0, None, None])[2],
                    "missed": self.missed.get(drug, [0, 0])[0],
                    "held": self.missed.get(drug, [0, 0])[1],
                }
                for drug in sorted(set(self.doses) | set(self.missed))
            },
            "adverse_events": {
                "open": [self._ae(a) for a in self._aes(resolved=False)],
                "resolved": [self._ae(a) for a in self._aes(resolved=True)],
            },
            "withdrawn": (
                None
                if self.withdrawn is None
                else {
                    "date": self.withdrawn[0],
                    "reason": self.withdrawn[1],
                    "consent_withdrawn": self.withdrawn[2],
                }
            ),
            "off_study": (
                None
                if self.off_study is None
                else {"date": self.off_study[0], "reason": self.off_study[1]}
            ),
            "died": None if self.died is None else {"date": self.died[0], "cause": self.died[1]},
            "corrections": self.corrections,
        }

    def _aes(self, *, resolved: bool) -> list[dict[str, Any]]:
        chosen = [a for a in self.aes.values() if ("resolved_on" in a) == resolved and "term" in a]
        return sorted(chosen, key=lambda a: (a["onset"], a["ae_id"]))

    @staticmethod
    def _ae(a: dict[str, Any]) -> dict[str, Any]:
        return {
            "ae_id": a["ae_id"],
            "term": a["term"],
            "grade": a["grade"],
            "worst_grade": a["worst_grade"],
            "onset": a["onset"],
            "attribution": a["attribution"],
            "serious": a["serious"],
            "seriousness_criteria": a["seriousness_criteria"],
            "action_taken": a["action_taken"],
            "resolved_on": a.get("resolved_on"),
            "outcome": a.get("outcome"),
            "position": a["position"],
        }

    def next_doses(
        self, regimen: str, since: str | None, ref: str | None, params: ProtocolParameters
    ) -> list[dict[str, Any]]:
        if ref is None or since is None or self.treatment_start is None:
            return []
        try:
            upcoming = next_doses(
                Regimen(regimen),
                day(self.treatment_start),
                day(since),
                day(ref),
                params,
                2 * NEXT_DOSE_DAYS,
            )
        except ValidationError:
            return []
        until = day(ref) + timedelta(days=NEXT_DOSE_DAYS)
        return [
            {
                "date": on.isoformat(),
                "drug": s.drug,
                "dose": str(s.dose),
                "unit": s.unit,
                "route": s.route,
                "rule_id": s.rule_id,
            }
            for on, s in upcoming
            if on <= until
        ]

    def next_visits(
        self, regimen: str, since: str | None, ref: str | None, params: ProtocolParameters
    ) -> list[dict[str, Any]]:
        if ref is None or self.treatment_start is None:
            return []
        start = day(self.treatment_start)
        after = day(ref)
        visits: list[tuple[date, str, str]] = []
        if regimen == Regimen.INDUCTION:
            visits.append(
                (month_6_decision_date(start, params), "month-6 response decision", "REG-M6")
            )
        elif regimen in (Regimen.CONTINUATION, Regimen.LOW_DOSE_DEX):
            visits.append((month_12_decision_date(start, params), "month-12 decision", "REG-M12"))
            if regimen == Regimen.LOW_DOSE_DEX:
                visits.append(
                    (month_18_decision_date(start, params), "month-18 decision", "REG-M18")
                )
        elif regimen == Regimen.HIGH_DOSE_DEX and since is not None:
            visits.append(
                (
                    high_dose_course_end(day(since), params),
                    "end of the high-dose dexamethasone course",
                    "REG-HIGHDEX-COURSE-END",
                )
            )
        elif regimen in (Regimen.OFF_TREATMENT, Regimen.FOLLOW_UP):
            end = self.treatment_end()
            if end is not None:
                visits.extend(
                    (on, "follow-up visit", "REG-EOT-FOLLOW-UP")
                    for on in follow_up_visits(day(end), params)
                )
        upcoming = sorted(v for v in visits if v[0] > after)[:NEXT_VISITS]
        return [
            {"date": on.isoformat(), "visit": what, "rule_id": rule} for on, what, rule in upcoming
        ]


def fold_patient(subject_id: str, rows: list[SubjectRow], on: str | None = None) -> PatientFold:
    """Fold one subject's rows (position order) with corrections applied, up to date ``on``."""
    kept, corrections = apply_corrections(rows)
    fold = PatientFold(subject_id)
    for position, topic, payload in clinical_rows(kept, on):
        fold.apply(position, topic, payload)
    fold.note_corrections(corrections)
    return fold


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


PATIENT_TOPICS: frozenset[str] = frozenset(
    {
        SubjectScreened.TOPIC,
        EligibilityAssessed.TOPIC,
        ConsentObtained.TOPIC,
        SubjectEnrolled.TOPIC,
        DoseAdministered.TOPIC,
        DoseMissed.TOPIC,
        RegimenChanged.TOPIC,
        AdverseEventReported.TOPIC,
        AdverseEventResolved.TOPIC,
        SubjectWithdrawn.TOPIC,
        SubjectOffStudy.TOPIC,
        SubjectDied.TOPIC,
        CorrectionRecorded.TOPIC,
        LabResulted.TOPIC,
        ResponseAssessed.TOPIC,
        ProgressionConfirmed.TOPIC,
        FollowUpVisit.TOPIC,
    }
)


class PatientProjection(SubjectStateProjection[PatientFold]):
    """View ``patient_state(subject_id, site, regimen, reference_date, state)``."""

    name: ClassVar[str] = "patient"
    version: ClassVar[int] = 1
    handles: ClassVar[frozenset[str]] = PATIENT_TOPICS
    ignores: ClassVar[frozenset[str]] = frozenset(
        cls.TOPIC for cls in ALL_EVENTS if cls.TOPIC not in PATIENT_TOPICS
    )
    tables: ClassVar[tuple[str, ...]] = ("patient_state",)
    table: ClassVar[str] = "patient_state"
    insert_sql: ClassVar[str] = (
        "INSERT OR REPLACE INTO patient_state (subject_id, site, regimen, reference_date,"
        " state) VALUES (?,?,?,?,?)"
    )

    def __init__(self) -> None:
        super().__init__(PatientFold, PatientFold.from_json, fold_patient)

    def create(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS patient_state (subject_id TEXT PRIMARY KEY, site TEXT,"
            " regimen TEXT NOT NULL, reference_date TEXT, state TEXT NOT NULL)"
        )

    def handlers(self) -> dict[str, Handler]:
        table = super().handlers()
        folds = self._folds
        dirty = self._dirty

        def dose(_position: int, _seq: int, p: Payload) -> None:  # the hot path: inlined
            subject = p["subject_id"]
            fold = folds.get(subject) or self.fold_of(subject)
            on = p["effective_date"]
            counts = fold.doses.get(p["drug"])
            if counts is None:
                fold.doses[p["drug"]] = [1, on, on]
            else:
                counts[0] += 1
                if on < counts[1]:  # noqa: PLR1730 - a comparison is cheaper than min()
                    counts[1] = on
                if on > counts[2]:  # noqa: PLR1730
                    counts[2] = on
            if on > fold.last_date:  # noqa: PLR1730
                fold.last_date = on
            dirty.add(subject)

        table[DoseAdministered.TOPIC] = dose
        return table

    def row(self, fold: PatientFold) -> tuple[Any, ...]:
        ref = fold.reference_date(None)
        regimen = fold.timeline.regimen_on(ref)[0] if ref else "screening"
        return (fold.subject_id, fold.site, regimen, ref, _dumps(fold.to_json()))


def stored_patient(conn: sqlite3.Connection, subject_id: str) -> PatientFold | None:
    row = conn.execute(
        "SELECT state FROM patient_state WHERE subject_id=?", (subject_id,)
    ).fetchone()
    return None if row is None else PatientFold.from_json(json.loads(row[0]))


def stored_patients(conn: sqlite3.Connection) -> list[PatientFold]:
    return [
        PatientFold.from_json(json.loads(r[0]))
        for r in conn.execute("SELECT state FROM patient_state ORDER BY subject_id")
    ]
