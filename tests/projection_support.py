"""Builders of every event type for projection tests, appended straight to a TrialLedger.

``Trial`` numbers each subject's stream versions, so a test reads as the clinical story:
``t.append(t.enrolled(S1, "2003-01-20", start="2003-02-01"), t.dose(S1, "2003-02-01"))``.
Dates are ISO strings; the investigator of site 001 signs unless another signer is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledger.chain import CommitRecord
from ledger.events import (
    AdverseEventReported,
    AdverseEventResolved,
    BaselineLabs,
    ConsentObtained,
    CorrectionRecorded,
    CriterionRecord,
    Deviation,
    DoseAdministered,
    DoseMissed,
    EligibilityAssessed,
    FollowUpVisit,
    LabResulted,
    LedgerEvent,
    MeasuredValues,
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
    subject_stream_id,
)
from ledger.integrity.signing import Signer
from ledger.service import TrialLedger, person_key
from projections.engine import ProjectionEngine
from tests.support import GENESIS_DATE, Cast, new_signer

AMENDMENT = "MC0282-original"


def d(value: str) -> date:
    return date.fromisoformat(value)


def plus(value: str, days: int) -> str:
    return (d(value) + timedelta(days=days)).isoformat()


@dataclass
class Trial:
    ledger: TrialLedger
    cast: Cast
    versions: dict[str, int] = field(default_factory=dict)

    def _base(self, subject: str, on: str) -> dict[str, Any]:
        version = self.versions.get(subject, 0) + 1
        self.versions[subject] = version
        return {
            "originator_id": subject_stream_id(subject),
            "originator_version": version,
            "subject_id": subject,
            "effective_date": d(on),
        }

    def append(
        self, *events: LedgerEvent, signer: Signer | None = None, meaning: str = "authorship"
    ) -> CommitRecord:
        return self.ledger.append(signer or self.cast.investigator, list(events), meaning=meaning)

    # ------------------------------------------------------------------ subject events

    def screened(self, s: str, on: str = "2003-01-06", site: str = "001") -> SubjectScreened:
        return SubjectScreened(**self._base(s, on), site=site, age_years=61, sex="F")

    def eligibility(self, s: str, on: str = "2003-01-10", eligible: bool = True) -> SubjectEvent:
        return EligibilityAssessed(
            **self._base(s, on),
            protocol_amendment=AMENDMENT,
            criteria=(
                CriterionRecord(
                    criterion_id="ELIG-ECOG",
                    description="ECOG 0",
                    measured="0",
                    threshold="0",
                    passed=eligible,
                ),
            ),
            eligible=eligible,
            inputs={"ecog": 0},
        )

    def consent(self, s: str, on: str = "2003-01-12") -> ConsentObtained:
        return ConsentObtained(**self._base(s, on), consent_version="v1")

    def enrolled(
        self,
        s: str,
        on: str = "2003-01-20",
        start: str = "2003-02-01",
        serum: str | None = "4.0",
        site: str = "001",
    ) -> SubjectEnrolled:
        return SubjectEnrolled(
            **self._base(s, on),
            site=site,
            treatment_start=d(start),
            protocol_amendment=AMENDMENT,
            baseline=BaselineLabs(
                serum_m_protein_g_dl=Decimal(serum) if serum else None,
                marrow_plasma_cells_pct=Decimal("20"),
            ),
        )

    def dose(self, s: str, on: str, drug: str = "anakinra") -> DoseAdministered:
        amount, route = ("100", "SC") if drug == "anakinra" else ("20", "PO")
        return DoseAdministered(
            **self._base(s, on),
            drug=drug,  # type: ignore[arg-type]
            dose=Decimal(amount),
            unit="mg",
            route=route,  # type: ignore[arg-type]
        )

    def doses(self, s: str, first: str, days: int) -> list[LedgerEvent]:
        return [self.dose(s, plus(first, i)) for i in range(days)]

    def missed(self, s: str, on: str, held: bool = False) -> DoseMissed:
        return DoseMissed(**self._base(s, on), drug="anakinra", held=held, reason="felt unwell")

    def lab(self, s: str, on: str, value: str, analyte: str = "serum_m_protein") -> LabResulted:
        units = {"serum_m_protein": "g/dL", "hs_crp": "mg/L", "serum_ife": "negative=1"}
        return LabResulted(
            **self._base(s, on),
            analyte=analyte,  # type: ignore[arg-type]
            value=Decimal(value),
            unit=units.get(analyte, "g/dL"),
        )

    def assessed(
        self, s: str, on: str, month: int, derived: str, investigator: str | None = None
    ) -> ResponseAssessed:
        inv = investigator or derived
        return ResponseAssessed(
            **self._base(s, on),
            protocol_month=month,
            investigator_category=inv,  # type: ignore[arg-type]
            derived_category=derived,  # type: ignore[arg-type]
            rule_ids=("RESP-SD",),
            values_used={"serum.current": "3.0"},
            agrees=inv == derived,
        )

    def progression(self, s: str, on: str) -> ProgressionConfirmed:
        """The investigator's progression (no assessments confirm it: as the ``progression``
        command records it, with a deviation from CONF-PD)."""
        return ProgressionConfirmed(
            **self._base(s, on),
            basis="serum M-protein rose 30% from nadir",
            rule_ids=("CONF-PD",),
            deviation=Deviation(rule_id="CONF-PD", reason="clinical progression"),
        )

    def regimen(
        self, s: str, on: str, from_: str, to: str, rule: str = "REG-M6-SD"
    ) -> RegimenChanged:
        return RegimenChanged(
            **self._base(s, on),
            from_regimen=from_,  # type: ignore[arg-type]
            to_regimen=to,  # type: ignore[arg-type]
            rule_id=rule,
            reason=f"{from_} to {to} per protocol",
        )

    def ae(self, s: str, on: str, ae_id: str, term: str, grade: int) -> AdverseEventReported:
        return AdverseEventReported(
            **self._base(s, on),
            ae_id=ae_id,
            term=term,
            grade=grade,
            attribution="possible",
            serious=grade >= 3,
            seriousness_criteria=("hospitalisation",) if grade >= 3 else (),
            action_taken="none",
        )

    def ae_resolved(self, s: str, on: str, ae_id: str) -> AdverseEventResolved:
        return AdverseEventResolved(**self._base(s, on), ae_id=ae_id, outcome="recovered")

    def follow_up(self, s: str, on: str, status: str = "no-progression") -> FollowUpVisit:
        return FollowUpVisit(**self._base(s, on), disease_status=status)  # type: ignore[arg-type]

    def withdrawn(self, s: str, on: str) -> SubjectWithdrawn:
        return SubjectWithdrawn(**self._base(s, on), reason="moved away", consent_withdrawn=False)

    def off_study(self, s: str, on: str) -> SubjectOffStudy:
        return SubjectOffStudy(**self._base(s, on), reason="follow-up complete")

    def died(self, s: str, on: str) -> SubjectDied:
        return SubjectDied(**self._base(s, on), cause="myocardial infarction")

    def correction(
        self, s: str, on: str, position: int, topic: str, field_: str, old: str, new: str
    ) -> CorrectionRecorded:
        return CorrectionRecorded(
            **self._base(s, on),
            corrects_position=position,
            corrected_topic=topic,
            field=field_,
            old_value=old,
            new_value=new,
            reason="transcription error found at source data verification",
        )

    def signed(self, s: str, on: str, positions: tuple[int, ...]) -> RecordSigned:
        return RecordSigned(
            **self._base(s, on),
            meaning="review",
            positions=positions,
            statement="reviewed against source documents",
        )

    def onboard(self, s: str, start: str = "2003-02-01", serum: str = "4.0") -> CommitRecord:
        """Screened, eligible, consented and enrolled with treatment starting on ``start``."""
        return self.append(
            self.screened(s, plus(start, -26)),
            self.eligibility(s, plus(start, -22)),
            self.consent(s, plus(start, -20)),
            self.enrolled(s, plus(start, -12), start=start, serum=serum),
        )


NO_NEW_LESIONS = MeasuredValues(new_bone_lesions=False)


@dataclass
class RecordedTrial(Trial):
    """``Trial`` plus what the recording commands write beside its events, which the one
    subject history reads: in the same commit, the regimen change of enrolment (induction from
    the treatment start), of withdrawal from treatment (off treatment, then follow-up), of
    consent withdrawal or going off study, and of death; and with each response assessment the
    investigator's clinical findings (no new bone lesions unless given, which MR needs)."""

    regimens: dict[str, str] = field(default_factory=dict)

    def append(
        self, *events: LedgerEvent, signer: Signer | None = None, meaning: str = "authorship"
    ) -> CommitRecord:
        changes = [change for e in events for change in self._changes(e)]
        return super().append(*events, *changes, signer=signer, meaning=meaning)

    def assessed(
        self,
        s: str,
        on: str,
        month: int,
        derived: str,
        investigator: str | None = None,
        findings: MeasuredValues = NO_NEW_LESIONS,
    ) -> ResponseAssessed:
        recorded = super().assessed(s, on, month, derived, investigator)
        return recorded.model_copy(update={"measured": findings})

    def consent_withdrawn(self, s: str, on: str) -> SubjectWithdrawn:
        return self.withdrawn(s, on).model_copy(update={"consent_withdrawn": True})

    def _changes(self, e: LedgerEvent) -> list[RegimenChanged]:
        if isinstance(e, RegimenChanged):
            self.regimens[e.subject_id] = e.to_regimen
            return []
        if isinstance(e, SubjectEnrolled):
            return [self._change(e, "induction", "REG-SCREEN-ELIGIBLE", e.treatment_start)]
        if isinstance(e, SubjectWithdrawn) and not e.consent_withdrawn:
            return [
                self._change(e, "off_treatment", "REG-OFF-TREATMENT"),
                self._change(e, "follow_up", "REG-EOT-FOLLOW-UP"),
            ]
        if isinstance(e, SubjectWithdrawn | SubjectOffStudy):
            return [self._change(e, "off_study", "REG-WITHDRAWAL")]
        if isinstance(e, SubjectDied):
            return [self._change(e, "off_study", "REG-DEATH")]
        return []

    def _change(
        self, e: SubjectEvent, to: str, rule: str, starts: date | None = None
    ) -> RegimenChanged:
        s = e.subject_id
        on = (starts or e.effective_date).isoformat()
        change = self.regimen(s, on, self.regimens.get(s, "screening"), to, rule)
        self.regimens[s] = to
        return change


S1, S2, S3, S4, S5, S6, S7, S8 = (f"MC0282-001-{n:03d}" for n in range(1, 9))


@pytest.fixture
def trial(ledger: TrialLedger, cast: Cast) -> Trial:
    return Trial(ledger, cast)


@pytest.fixture
def recorded_trial(ledger: TrialLedger, cast: Cast) -> RecordedTrial:
    return RecordedTrial(ledger, cast)


def engine_for(ledger: TrialLedger, views: Path, **kwargs: Any) -> ProjectionEngine:
    return ProjectionEngine(ledger.reader, views, **kwargs)


def every_event_type(t: Trial) -> None:
    """At least one event of every type in ALL_EVENTS (trial stream included)."""
    s = S1
    t.onboard(s)
    first = t.append(*t.doses(s, "2003-02-01", 3))
    t.append(
        t.missed(s, "2003-02-04", held=True),
        t.lab(s, "2003-02-20", "3.1"),
        t.assessed(s, "2003-02-20", 1, "MR", "SD"),
        t.ae(s, "2003-02-05", "AE-001", "injection-site reaction", 1),
        t.ae_resolved(s, "2003-02-09", "AE-001"),
        t.progression(s, "2003-03-20"),
        t.regimen(s, "2003-03-20", "induction", "high_dose_dex", "REG-PD-ANYTIME"),
        t.regimen(s, "2003-09-20", "high_dose_dex", "off_treatment", "REG-HIGHDEX-COURSE-END"),
        t.regimen(s, "2003-09-21", "off_treatment", "follow_up", "REG-EOT-FOLLOW-UP"),
        t.follow_up(s, "2004-03-20"),
    )
    t.append(t.correction(s, "2003-04-01", first.header.first_position, DOSE, "dose", "100", "90"))
    t.append(t.signed(s, "2003-04-02", (first.header.first_position,)), signer=t.cast.monitor)
    t.onboard(S2)
    t.append(t.withdrawn(S2, "2003-03-01"), t.off_study(S2, "2003-03-02"), t.died(S2, "2003-05-01"))
    rotated = new_signer()
    t.ledger.rotate_key(
        t.cast.sponsor,
        t.cast.auditor.key_id,
        person_key(rotated.public_key, rotated.key_id, "Aud Auditor", "auditor", "*"),
        "scheduled rotation",
        GENESIS_DATE,
    )
    t.ledger.revoke_key(t.cast.sponsor, rotated.key_id, "left the trial", GENESIS_DATE)


DOSE = DoseAdministered.TOPIC


def story(t: Trial) -> list[Callable[[], object]]:
    """A small trial in append steps: responders, stable disease with dexamethasone added,
    progression, withdrawal, never dosed, corrections (a value, a date, a void) and reviews."""
    positions: dict[str, int] = {}

    def remember(name: str, commit: CommitRecord) -> CommitRecord:
        positions[name] = commit.header.first_position
        return commit

    m6 = "2003-07-18"  # month 6 ends (28-day cycles from 2003-02-01); month 7 starts 07-19
    steps: list[Callable[[], object]] = [
        lambda: t.onboard(S1),
        lambda: t.onboard(S2),
        lambda: remember("s1_first_dose", t.append(*t.doses(S1, "2003-02-01", 10))),
        lambda: t.append(*t.doses(S2, "2003-02-01", 10)),
        lambda: t.append(
            t.ae(S1, "2003-02-03", "AE-001", "injection-site reaction", 1),
            t.lab(S1, "2003-05-01", "2.9"),
            t.assessed(S1, "2003-05-01", 4, "MR"),
        ),
        lambda: remember(
            "s2_lab",
            t.append(t.lab(S2, "2003-05-01", "3.9"), t.assessed(S2, "2003-05-01", 4, "SD")),
        ),
        lambda: t.append(t.lab(S1, m6, "2.8"), t.assessed(S1, m6, 6, "MR", "SD")),
        lambda: t.append(
            t.assessed(S2, m6, 6, "SD"),
            t.regimen(S2, "2003-07-19", "induction", "low_dose_dex"),
            t.dose(S2, "2003-07-19", "dexamethasone"),
            t.ae(S2, "2003-08-01", "AE-001", "infection", 3),
        ),
        lambda: t.append(
            t.correction(S2, "2003-08-02", positions["s2_lab"], LAB, "value", "3.9", "3.7")
        ),
        lambda: t.append(
            t.assessed(S2, "2003-09-01", 7, "PR"), t.assessed(S2, "2003-10-20", 9, "PR")
        ),
        lambda: t.onboard(S3),
        lambda: t.append(*t.doses(S3, "2003-02-01", 5), t.progression(S3, "2003-03-10")),
        lambda: t.append(
            t.regimen(S3, "2003-03-11", "induction", "high_dose_dex", "REG-PD-ANYTIME")
        ),
        lambda: t.onboard(S4),
        lambda: remember("s4_dose", t.append(t.dose(S4, "2003-02-01"))),
        lambda: t.append(
            t.correction(
                S4,
                "2003-02-05",
                positions["s4_dose"],
                DOSE,
                "record_status",
                "valid",
                "entered-in-error",
            )
        ),
        lambda: t.onboard(S6),
        lambda: t.append(*t.doses(S6, "2003-02-01", 3), t.withdrawn(S6, "2003-03-01")),
        lambda: t.append(t.ae(S6, "2003-03-05", "AE-001", "fatigue", 2)),
        lambda: t.append(
            t.correction(
                S1,
                "2003-08-10",
                positions["s1_first_dose"],
                DOSE,
                "effective_date",
                "2003-02-01",
                "2003-01-31",
            )
        ),
        lambda: t.append(
            t.signed(S1, "2003-08-11", (positions["s1_first_dose"],)),
            signer=t.cast.monitor,
            meaning="review",
        ),
        lambda: t.append(t.screened(S5), t.eligibility(S5, eligible=False)),
        lambda: t.append(t.missed(S1, "2003-07-21"), t.missed(S1, "2003-07-22", held=True)),
    ]
    return steps


LAB = LabResulted.TOPIC
