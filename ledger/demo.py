"""A synthetic, seeded NCT00635154 cohort recorded through the same commands site staff use.

55 enrolled subjects (and 3 screen failures) over three sites, shaped on the published
figures (protocol doc, [published]): one progressed before treatment, 54 started anakinra, 47
reached the month-6 assessment; 25 of those had stable disease and low-dose dexamethasone added
(after which 5 partial and 4 minor responses); 3 minor responses on anakinra alone; some
progressed to high-dose dexamethasone. Daily doses come from the protocol's own dosing calendar
(``ledger.protocol.schedule.doses_called_for``), returned as monthly dosing diaries through
``import``; labs, response assessments, adverse events (injection-site reactions, infections, a
few serious events), missed and held doses, corrections with reasons, monitor reviews, a key
rotation and a key revocation are recorded with ``TrialRecorder``, one signed commit each. The
sponsor registers the three sites (``SiteRegistered``, "Site 001".."Site 003") before any key.

Determinism: every key, subject, date and value derives from the seed, and the ledger id too,
so the same seed gives the same events, the same leaves and the same Merkle root (recorded
times differ, and they are not part of a leaf). Subjects are pseudonymous ids; staff names are
invented.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.domain.patient import Patient
from ledger.events import AdverseEventReported, BaselineLabs, Deviation, RegimenChanged
from ledger.integrity.signing import Signer, write_private_key, write_public_key
from ledger.protocol.eligibility import EligibilityInput
from ledger.protocol.parameters import ProtocolParameters, parameters_for
from ledger.protocol.schedule import Regimen, doses_called_for
from ledger.recording import Recorded, TrialRecorder
from ledger.service import TrialLedger, person_key
from ledger.subject.evaluation import Findings, due_on, due_transition
from ledger.verify import VerifyReport, verify_ledger

AMENDMENT = "MC0282-original"
TRIAL_START = date(2002, 11, 1)
DEMO_NAMESPACE = UUID("0c2f6d1e-91b4-4f0a-a3c5-6b2d9e7f4a10")
SITE_SIZES = {"001": 25, "002": 18, "003": 12}
MONTH = 28  # protocol months are 28-day cycles in this amendment
MAX_MONTHS = 24  # beyond month 18 nobody is on protocol treatment


class Course(StrEnum):
    """How a subject's participation goes (what the simulated labs are shaped to produce)."""

    SCREEN_FAIL = "screen failure"
    PRE_TREATMENT_PD = "progressed before treatment"
    EARLY_WITHDRAWAL = "withdrew before month 6"
    MR_ALONE = "minor response on anakinra alone"
    PD_INDUCTION = "progressed during induction"
    PD_MONTH6 = "progressed by month 6"
    SD_STOPPED = "stable at month 6, treatment stopped"
    DEX_PR = "stable, then partial response on low-dose dex"
    DEX_MR = "stable, then minor response on low-dose dex"
    DEX_SD = "stable on low-dose dex"
    DEX_PD = "stable, then progressed on low-dose dex"


COHORT = {
    Course.PRE_TREATMENT_PD: 1,
    Course.EARLY_WITHDRAWAL: 7,
    Course.MR_ALONE: 3,
    Course.PD_INDUCTION: 4,
    Course.PD_MONTH6: 8,
    Course.SD_STOPPED: 7,
    Course.DEX_PR: 5,
    Course.DEX_MR: 4,
    Course.DEX_SD: 12,
    Course.DEX_PD: 4,
}
SCREEN_FAILURES = 3

# Serum M-protein as a fraction of baseline at assessment months 2, 4, 6, 8, ... 18.
TRAJECTORIES: dict[Course, list[float]] = {
    Course.MR_ALONE: [0.86, 0.70, 0.68, 0.67, 0.66, 0.66],
    Course.PD_INDUCTION: [1.32, 1.46],
    Course.PD_MONTH6: [1.04, 1.31, 1.44],
    Course.DEX_PR: [1.02, 0.97, 1.0, 0.62, 0.45, 0.42, 0.41, 0.40, 0.40],
    Course.DEX_MR: [0.98, 1.03, 0.99, 0.82, 0.70, 0.68, 0.69, 0.70, 0.70],
    Course.DEX_PD: [1.01, 0.98, 1.03, 1.10, 1.36, 1.48],
}


@dataclass(frozen=True)
class Staff:
    role: str
    site: str
    name: str
    signer: Signer


@dataclass
class DemoSummary:
    seed: int
    subjects_screened: int = 0
    subjects_enrolled: int = 0
    subjects_treated: int = 0
    events: int = 0
    commits: int = 0
    courses: Counter[str] = field(default_factory=Counter)
    regimens: Counter[str] = field(default_factory=Counter)
    adverse_events: int = 0
    serious_adverse_events: int = 0
    deviations: int = 0
    corrections: int = 0
    disagreements: int = 0
    keys: dict[str, str] = field(default_factory=dict)
    verify: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "subjects_screened": self.subjects_screened,
            "subjects_enrolled": self.subjects_enrolled,
            "subjects_treated": self.subjects_treated,
            "events": self.events,
            "commits": self.commits,
            "courses": dict(sorted(self.courses.items())),
            "current_regimens": dict(sorted(self.regimens.items())),
            "adverse_events": self.adverse_events,
            "serious_adverse_events": self.serious_adverse_events,
            "protocol_deviations": self.deviations,
            "corrections": self.corrections,
            "investigator_vs_rules_disagreements": self.disagreements,
            "key_files": self.keys,
            "verify": self.verify,
        }


def _signer(seed: int, label: str) -> Signer:
    secret = hashlib.sha256(f"trial-ledger demo {seed} {label}".encode()).digest()
    return Signer(Ed25519PrivateKey.from_private_bytes(secret))


class DemoBuilder:
    """Builds the demo ledger; ``run`` returns its summary."""

    def __init__(
        self,
        db: Path,
        keys_dir: Path,
        seed: int,
        passphrase: bytes,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.db = db
        self.keys_dir = keys_dir
        self.seed = seed
        self.passphrase = passphrase
        self.rng = random.Random(seed)  # noqa: S311 - simulated clinical data, not secrets
        self.progress = progress or (lambda _n: None)
        self.params: ProtocolParameters = parameters_for(AMENDMENT)
        self.summary = DemoSummary(seed=seed)
        self.staff: dict[str, Staff] = {}
        self.sponsor = _signer(seed, "sponsor")
        self.ledger_key = _signer(seed, "ledger")
        self.ledger: TrialLedger | None = None
        self.recorder: TrialRecorder | None = None
        self._corrections_left = 4
        self._disagreements_left = 2

    # ------------------------------------------------------------------ set-up

    def _write_key(self, label: str, signer: Signer) -> None:
        path = self.keys_dir / f"{label}.key"
        write_private_key(path, signer._private_key, self.passphrase)
        write_public_key(self.keys_dir / f"{label}.key.pub", signer.public_key)
        self.summary.keys[label] = str(path)

    def _register(
        self, label: str, role: str, site: str, name: str, on: date, key_label: str = ""
    ) -> Staff:
        assert self.ledger is not None
        signer = _signer(self.seed, key_label or label)
        key = person_key(signer.public_key, signer.key_id, name, role, site)
        self.ledger.register_key(self.sponsor, key, f"{role} of the MC0282 study team", on)
        self._write_key(key_label or label, signer)
        staff = Staff(role, site, name, signer)
        self.staff[label] = staff
        return staff

    def _set_up(self) -> None:
        self.keys_dir.mkdir(parents=True, exist_ok=True)
        self._write_key("sponsor", self.sponsor)
        self._write_key("ledger", self.ledger_key)
        self.ledger = TrialLedger.create(
            self.db,
            sponsor=self.sponsor,
            sponsor_name="MC0282 Sponsor Office",
            ledger_public=self.ledger_key.public_key,
            ledger_key_id=self.ledger_key.key_id,
            protocol_amendment=AMENDMENT,
            effective_date=TRIAL_START,
            ledger_id=str(uuid5(DEMO_NAMESPACE, str(self.seed))),
        )
        self.recorder = TrialRecorder(self.ledger)
        names = {
            "001": ("Dr. Avery Lind", "Cole Marsh"),
            "002": ("Dr. Priya Raman", "Jonas Feld"),
            "003": ("Dr. Tomas Berg", "Ines Kaur"),
        }
        for site in names:  # sites first: keys and subjects are accepted at registered sites
            self.ledger.register_site(
                self.sponsor, site, f"Site {site}", "site activated for MC0282", TRIAL_START
            )
        for site, (investigator, coordinator) in names.items():
            self._register(f"investigator-{site}", "investigator", site, investigator, TRIAL_START)
            self._register(f"coordinator-{site}", "coordinator", site, coordinator, TRIAL_START)
        self._register("monitor", "monitor", "*", "Mona Alvarez", TRIAL_START)
        self._register("data-manager", "data-manager", "*", "Dara Okafor", TRIAL_START)
        self._register("auditor", "auditor", "*", "Audun Vik", TRIAL_START)

    # ------------------------------------------------------------------ helpers

    @property
    def rec(self) -> TrialRecorder:
        assert self.recorder is not None
        return self.recorder

    def _inv(self, site: str) -> Signer:
        return self.staff[f"investigator-{site}"].signer

    def _coord(self, site: str) -> Signer:
        return self.staff[f"coordinator-{site}"].signer

    def _money(self, value: float, places: str = "0.01") -> Decimal:
        return Decimal(str(value)).quantize(Decimal(places))

    def _import(self, signer: Signer, lines: list[dict[str, Any]]) -> None:
        if lines:
            self.rec.import_jsonl(signer, [json.dumps(line) for line in lines])

    # ------------------------------------------------------------------ cohort

    def _plan(self) -> list[tuple[str, str, Course]]:
        courses = [c for c, n in COHORT.items() for _ in range(n)]
        courses += [Course.SCREEN_FAIL] * SCREEN_FAILURES
        self.rng.shuffle(courses)
        subjects = []
        numbers = dict.fromkeys(SITE_SIZES, 0)
        sites = [s for s, n in SITE_SIZES.items() for _ in range(n)]
        sites += ["001", "002", "003"][:SCREEN_FAILURES]
        self.rng.shuffle(sites)
        for course, site in zip(courses, sites, strict=True):
            numbers[site] += 1
            subjects.append((f"MC0282-{site}-{numbers[site]:03d}", site, course))
        return subjects

    def run(self) -> DemoSummary:
        self._set_up()
        plan = self._plan()
        screening_days = sorted(self.rng.sample(range(0, 5 * 365), len(plan)))
        for done, ((subject, site, course), day) in enumerate(
            zip(plan, screening_days, strict=True), start=1
        ):
            if done == 22:
                self._rotate("coordinator-002", date(2004, 6, 1))
            if done == 38:
                self._revoke_and_replace("investigator-003", date(2006, 1, 9))
            self._subject(subject, site, course, TRIAL_START + timedelta(days=14 + day))
            self.summary.courses[course.value] += 1
            self.summary.regimens[self.rec.patient(subject).current_regimen.value] += 1
            self.progress(done)
        return self._finish()

    def _rotate(self, label: str, on: date) -> None:
        assert self.ledger is not None
        old = self.staff[label]
        new_signer = _signer(self.seed, f"{label}-2")
        key = person_key(new_signer.public_key, new_signer.key_id, old.name, old.role, old.site)
        self.ledger.rotate_key(
            self.sponsor, old.signer.key_id, key, "scheduled annual key rotation", on
        )
        self._retire_key_file(label, f"rotated-{on.isoformat()}")
        self._write_key(label, new_signer)
        self.staff[label] = Staff(old.role, old.site, old.name, new_signer)

    def _retire_key_file(self, label: str, why: str) -> None:
        """``label.key`` always holds the current key: a retired one is renamed
        ``label.<why>.key`` (e.g. ``coordinator-002.rotated-2004-06-01.key``)."""
        for suffix in (".key", ".key.pub"):
            (self.keys_dir / f"{label}{suffix}").rename(self.keys_dir / f"{label}.{why}{suffix}")
        self.summary.keys[f"{label}.{why}"] = str(self.keys_dir / f"{label}.{why}.key")

    def _revoke_and_replace(self, label: str, on: date) -> None:
        assert self.ledger is not None
        old = self.staff[label]
        self.ledger.revoke_key(
            self.sponsor, old.signer.key_id, "investigator left the institution", on
        )
        self._retire_key_file(label, f"revoked-{on.isoformat()}")
        self._register(label, old.role, old.site, "Dr. Helena Quist", on, f"{label}-successor")
        # the successor's key, derived as "<label>-successor", is filed as the current one
        for suffix in (".key", ".key.pub"):
            (self.keys_dir / f"{label}-successor{suffix}").rename(
                self.keys_dir / f"{label}{suffix}"
            )
        self.summary.keys[label] = str(self.keys_dir / f"{label}.key")
        self.summary.keys.pop(f"{label}-successor", None)

    def _subject(self, subject: str, site: str, course: Course, screened_on: date) -> None:
        rng, inv, coord = self.rng, self._inv(site), self._coord(site)
        self.summary.subjects_screened += 1
        age = rng.randint(41, 82)
        self.rec.screen(coord, subject, site, age, rng.choice("FM"), screened_on)
        self.rec.consent(coord, subject, "MC0282 consent v1", screened_on)
        inputs = self._eligibility(course, age)
        self.rec.assess_eligibility(inv, subject, inputs, screened_on)
        if course is Course.SCREEN_FAIL:
            self.rec.off_study(
                coord,
                subject,
                "screen failure: eligibility criteria not met",
                screened_on + timedelta(days=2),
            )
            return
        serum = self._money(rng.uniform(2.2, 4.4))
        baseline = BaselineLabs(
            serum_m_protein_g_dl=serum,
            urine_m_protein_mg_24h=self._money(rng.uniform(20, 150), "1"),
            marrow_plasma_cells_pct=self._money(rng.uniform(12, 45), "1"),
            hs_crp_mg_l=self._money(rng.uniform(0.4, 9.0), "0.1"),
        )
        start = screened_on + timedelta(days=rng.randint(10, 21))
        waiver = None
        if inputs.anc_per_mm3 < Decimal(1700):
            waiver = Deviation(
                rule_id="ELIG-ANC",
                reason="ANC 1650/mm3 just below 1700; investigator judged it a benign ethnic "
                "neutropenia and the sponsor agreed to the waiver",
            )
            self.summary.deviations += 1
        self.rec.enrol(inv, subject, start, baseline, screened_on + timedelta(days=7), waiver)
        self.summary.subjects_enrolled += 1
        if course is Course.PRE_TREATMENT_PD:
            self.rec.off_study(
                inv,
                subject,
                "progressed to active myeloma before the first dose; referred for chemotherapy",
                start - timedelta(days=3),
            )
            return
        self.summary.subjects_treated += 1
        _Course(self, subject, site, course, start, serum).run()

    def _eligibility(self, course: Course, age: int) -> EligibilityInput:
        rng = self.rng
        fail = course is Course.SCREEN_FAIL
        waiver = not fail and self.summary.deviations == 0 and rng.random() < 0.2
        return EligibilityInput(
            age_years=age,
            smoldering_or_indolent_myeloma=True,
            marrow_plasma_cells_pct=self._money(rng.uniform(12, 45), "1"),
            serum_m_protein_g_dl=self._money(rng.uniform(3.0, 4.4)),
            serum_m_protein_isotype=rng.choice(["IgG", "IgG", "IgA"]),
            urine_light_chain_g_24h=self._money(rng.uniform(0.0, 0.8)),
            measurable_disease=True,
            needs_immediate_chemotherapy=False,
            active_myeloma_or_amyloidosis_needing_chemo=False,
            interacting_agents=False,
            ecog=0,
            wbc_per_mm3=Decimal(rng.randint(2900, 3400) if fail else rng.randint(4200, 9000)),
            anc_per_mm3=Decimal(1650 if waiver else rng.randint(2100, 6000)),
            creatinine_x_uln=self._money(rng.uniform(0.6, 1.2)),
            can_self_inject_or_caregiver=True,
            pregnant_or_nursing=False,
            pregnancy_test="not_applicable",
            infection_or_iv_antibiotics_12_weeks=False,
            open_wounds=False,
            other_active_malignancy_5_years=False,
            nyha_class_3_or_4=False,
            ra_or_immunosuppression=False,
            asthma_ibd_or_debilitating_illness=False,
            days_since_prohibited_agent=None,
        )

    def _finish(self) -> DemoSummary:
        assert self.ledger is not None
        self.ledger.checkpoint(self.ledger_key)
        report: VerifyReport = verify_ledger(self.ledger.reader)
        self.summary.verify = report.to_json()
        self.summary.events = report.events
        self.summary.commits = report.commits
        self.ledger.close()
        return self.summary


class _Course:
    """One treated subject's months on study: diaries, labs, assessments, events."""

    def __init__(
        self,
        demo: DemoBuilder,
        subject: str,
        site: str,
        course: Course,
        start: date,
        serum: Decimal,
    ) -> None:
        self.demo, self.subject, self.site, self.course = demo, subject, site, course
        self.start, self.serum = start, float(serum)
        self.rng = demo.rng
        self.rec = demo.rec
        self.inv, self.coord = demo._inv(site), demo._coord(site)
        self.held: set[date] = set()
        self.last_month = {
            Course.EARLY_WITHDRAWAL: self.rng.randint(2, 5),
            Course.MR_ALONE: 12,
            Course.PD_INDUCTION: 10,
            Course.PD_MONTH6: 12,
            Course.SD_STOPPED: 6,
            Course.DEX_PR: 18,
            Course.DEX_MR: 18,
            Course.DEX_SD: 18,
            Course.DEX_PD: 15,
        }[course]

    def day(self, month: int, day: int) -> date:
        return self.start + timedelta(days=(month - 1) * MONTH + day - 1)

    def run(self) -> None:
        month = 0
        while month < MAX_MONTHS:
            month += 1
            self.diary(month)
            self.adverse_events(month)
            if self.course is Course.EARLY_WITHDRAWAL and month == self.last_month:
                self.withdraw(month)
                return
            if month % 2 == 0:
                self.assess(month)
            if not self.transitions(month):
                break
        self.end_of_treatment(month)

    # -------------------------------------------------------------- recording

    def diary(self, month: int) -> None:
        """The month's dosing diary, returned and imported as one signed commit; a transition
        the protocol makes due within the month (the end of a high-dose course) is applied on
        its date, between the diary's days before and from it."""
        days = [self.day(month, d) for d in range(1, MONTH + 1)]
        while days:
            patient = self.rec.patient(self.subject)
            due = due_on(patient, self.demo.params)
            if patient.current_regimen not in _TREATING:
                due = None
            before = [on for on in days if due is None or on < due[0]]
            self.demo._import(self.coord, self._diary_lines(patient, before))
            days = days[len(before) :]
            if days and due is not None:
                self.rec.advance_regimen(self.inv, self.subject, due[0])

    def _diary_lines(self, patient: Patient, days: list[date]) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        for on in days:
            period = patient.period_on(on)
            if period is None or period.regimen not in _TREATING:
                continue
            for dose in doses_called_for(
                period.regimen, self.start, period.course_start, on, self.demo.params
            ):
                base = {"subject_id": self.subject, "date": on.isoformat(), "drug": dose.drug}
                if on in self.held:
                    lines.append(
                        {
                            **base,
                            "command": "missed-dose",
                            "held": True,
                            "reason": "held for grade 3 neutropenia",
                        }
                    )
                elif dose.drug == "anakinra" and self.rng.random() < 0.004:
                    lines.append(
                        {
                            **base,
                            "command": "missed-dose",
                            "reason": "forgot the injection (patient diary)",
                        }
                    )
                else:
                    lines.append(
                        {**base, "command": "dose", "dose": str(dose.dose), "route": dose.route}
                    )
        return lines

    def labs(self, month: int, on: date) -> None:
        trajectory = TRAJECTORIES.get(self.course)
        index = month // 2 - 1
        if trajectory is not None and index < len(trajectory):
            factor = trajectory[index] * self.rng.uniform(0.99, 1.01)
        elif trajectory is not None:  # the disease stays where its course left it
            factor = trajectory[-1] * self.rng.uniform(0.96, 1.04)
        else:
            factor = self.rng.uniform(0.92, 1.08)
        value = self.demo._money(self.serum * factor)
        if self.demo._corrections_left > 0 and month == 2 and self.rng.random() < 0.25:
            typo = value + Decimal("1.00")
            recorded = self.rec.record_lab(
                self.coord, self.subject, "serum_m_protein", typo, "g/dL", on
            )
            self.rec.correct(
                self.coord,
                self.subject,
                recorded.positions[0],
                "value",
                str(value),
                "transcription error: value copied from the wrong row of the lab report",
                on,
            )
            self.demo._corrections_left -= 1
            self.demo.summary.corrections += 1
        else:
            self.rec.record_lab(self.coord, self.subject, "serum_m_protein", value, "g/dL", on)
        if month == 6:
            crp = self.demo._money(self.rng.uniform(0.3, 8.0), "0.1")
            self.rec.record_lab(self.coord, self.subject, "hs_crp", crp, "mg/L", on)

    def assess(self, month: int) -> None:
        on = self.day(month, MONTH)
        self.labs(month, on)
        patient = self.rec.patient(self.subject)
        if patient.off_study_from is not None or patient.current_regimen not in _TREATING:
            return
        category = self.expected_category(month)
        if self.demo._disagreements_left > 0 and category == "SD" and self.rng.random() < 0.05:
            category = "MR"
            self.demo._disagreements_left -= 1
            self.demo.summary.disagreements += 1
        recorded = self.rec.assess_response(
            self.inv, self.subject, category, on, Findings(new_bone_lesions=False)
        )
        if month == 6:
            self.rec.sign(
                self.demo.staff["monitor"].signer,
                self.subject,
                recorded.positions[:1],
                "review",
                "month-6 response assessment source-verified against the lab reports",
                on + timedelta(days=9),
            )
        # Progression the rules confirm (two consecutive PD: month 4 of PD_INDUCTION, month 12
        # of DEX_PD) is recorded by the assessment itself, with the move to high-dose.

    def expected_category(self, month: int) -> str:
        trajectory = TRAJECTORIES.get(self.course)
        index = month // 2 - 1
        if trajectory is None or index >= len(trajectory):
            return "SD"
        factor = trajectory[index]
        nadir = min([1.0, *trajectory[:index]])
        if factor >= nadir * 1.25:
            return "PD"
        if factor <= 0.5:
            return "PR"
        if factor <= 0.75:
            return "MR"
        return "SD"

    def transitions(self, month: int) -> bool:
        """Apply what the protocol makes due by the end of ``month``; False once treatment
        has ended."""
        patient = self.rec.patient(self.subject)
        if patient.off_study_from is not None:
            return False
        on = self.day(month, MONTH)
        if self.course is Course.SD_STOPPED and month == 6:
            # Treatment ends after the last induction dose, on the day low-dose dexamethasone
            # was to start: the stop cancels that pending start.
            self.rec.stop_treatment(
                self.inv,
                self.subject,
                "stable disease at month 6; patient declined dexamethasone",
                on + timedelta(days=1),
            )
            return False
        due = due_transition(patient, self.demo.params)
        next_month = on + timedelta(days=1)
        if due is not None and due[0] <= next_month and patient.current_regimen in _TREATING:
            # Decided on its due date, before next month's diary is recorded.
            self.rec.advance_regimen(self.inv, self.subject, max(due[0], on))
            patient = self.rec.patient(self.subject)
        return patient.current_regimen in _TREATING

    def adverse_events(self, month: int) -> None:
        rng, on = self.rng, self.day(month, rng_day := self.rng.randint(3, 20))
        del rng_day
        summary = self.demo.summary
        if month == 1 and rng.random() < 0.6:
            grade = rng.choice([1, 1, 2])
            ae = self.rec.report_adverse_event(
                self.coord,
                self.subject,
                "Injection site reaction",
                grade,
                "definite",
                "none",
                on,
            )
            summary.adverse_events += 1
            ae_id = _ae_id(ae)
            self.rec.resolve_adverse_event(
                self.coord, self.subject, ae_id, "recovered", on + timedelta(days=12)
            )
            if grade == 2 and self.demo._corrections_left > 0 and rng.random() < 0.2:
                self.rec.correct(
                    self.inv,
                    self.subject,
                    ae.positions[0],
                    "grade",
                    "1",
                    "grade re-assessed by the investigator: erythema < 2.5 cm, no induration",
                    on + timedelta(days=3),
                )
                self.demo._corrections_left -= 1
                summary.corrections += 1
        if rng.random() < 0.05:
            ae = self.rec.report_adverse_event(
                self.coord, self.subject, "Upper respiratory infection", 2, "possible", "none", on
            )
            summary.adverse_events += 1
            self.rec.resolve_adverse_event(
                self.coord,
                self.subject,
                _ae_id(ae),
                "recovered",
                on + timedelta(days=10),
            )
        if month == 3 and rng.random() < 0.08:
            ae = self.rec.report_adverse_event(
                self.inv, self.subject, "Neutrophil count decreased", 3, "probable", "dose-held", on
            )
            summary.adverse_events += 1
            self.held.update(self.day(month + 1, d) for d in (1, 2, 3))
            self.rec.resolve_adverse_event(
                self.inv,
                self.subject,
                _ae_id(ae),
                "recovered",
                self.day(month + 1, 5),
            )
        if month in (4, 9) and rng.random() < 0.04:
            term = rng.choice(["Lung infection", "Skin infection"])
            ae = self.rec.report_adverse_event(
                self.inv, self.subject, term, 3, "possible", "dose-held", on, ["hospitalisation"]
            )
            summary.adverse_events += 1
            summary.serious_adverse_events += 1
            self.rec.resolve_adverse_event(
                self.inv,
                self.subject,
                _ae_id(ae),
                "recovered",
                on + timedelta(days=9),
            )
        if month == 8 and self.course.name.startswith("DEX") and rng.random() < 0.2:
            self.rec.report_adverse_event(
                self.coord, self.subject, "Hyperglycemia", 2, "probable", "none", on
            )
            summary.adverse_events += 1

    def withdraw(self, month: int) -> None:
        reason = self.rng.choice(
            [
                "withdrew consent: unwilling to continue daily injections",
                "moved out of the area",
                "withdrew consent after injection-site reactions",
            ]
        )
        # After the month's diary (the day after its last dose) and after every record already
        # made (an adverse event's resolution may be dated later).
        patient = self.rec.patient(self.subject)
        recorded = [
            r.current.effective_date
            for r in patient.records
            if not isinstance(r.current, RegimenChanged)
        ]
        on = max([self.day(month, MONTH + 1), *recorded])
        self.rec.withdraw(self.coord, self.subject, reason, on)

    def end_of_treatment(self, month: int) -> None:
        patient = self.rec.patient(self.subject)
        if patient.off_study_from is not None:
            return
        end = self.day(month, MONTH)
        if patient.current_regimen in _TREATING:
            self.rec.stop_treatment(
                self.inv, self.subject, "end of protocol treatment", end + timedelta(days=1)
            )
        visits = 2 if self.course is not Course.MR_ALONE else 4
        for n in range(1, visits + 1):
            on = end + timedelta(days=182 * n)
            status = (
                "progression"
                if self.course.name.startswith("PD") and n == visits
                else "no-progression"
            )
            self.rec.follow_up(self.coord, self.subject, status, on)
        if self.course is Course.PD_MONTH6 and self.rng.random() < 0.25:
            self.rec.record_death(
                self.inv,
                self.subject,
                "myeloma-related renal failure after leaving the study treatment",
                end + timedelta(days=182 * visits + 40),
            )


def _ae_id(recorded: Recorded) -> str:
    return recorded.first(AdverseEventReported)[1].ae_id


_TREATING = frozenset(
    {Regimen.INDUCTION, Regimen.CONTINUATION, Regimen.LOW_DOSE_DEX, Regimen.HIGH_DOSE_DEX}
)


def build_demo(
    db: Path,
    keys_dir: Path,
    *,
    seed: int = 282,
    passphrase: bytes,
    progress: Callable[[int], None] | None = None,
) -> DemoSummary:
    """Build the demo ledger at ``db`` (must not exist) with key files in ``keys_dir``."""
    return DemoBuilder(db, keys_dir, seed, passphrase, progress).run()


def subjects_in_plan() -> int:
    return sum(COHORT.values()) + SCREEN_FAILURES
