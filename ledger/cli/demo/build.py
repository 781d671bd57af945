"""The demo ledger, built: set up the trial and its team, then screen each planned subject,
enrol and treat them through their course, and end with a checkpoint and a whole verify."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid5

from ledger.cli.demo.course import SubjectCourse
from ledger.cli.demo.plan import (
    AMENDMENT,
    DEMO_NAMESPACE,
    TRIAL_START,
    Course,
    DemoSummary,
    money,
)
from ledger.cli.demo.plan import plan as cohort_plan
from ledger.cli.demo.team import Team
from ledger.domain.commands import AssessEligibility, Consent, Enrol, Screen, TakeOffStudy
from ledger.events import BaselineLabs, Deviation
from ledger.integrity.signing import Signer
from ledger.protocol.eligibility import EligibilityInput
from ledger.protocol.parameters import ProtocolParameters, parameters_for
from ledger.recording import TrialRecorder
from ledger.service import TrialLedger
from ledger.store.location import StoreTarget
from ledger.verify import VerifyReport, verify_ledger


class DemoBuilder:
    """Builds the demo ledger; ``run`` returns its summary."""

    def __init__(
        self,
        db: StoreTarget,
        keys_dir: Path,
        seed: int,
        passphrase: bytes,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.db = db
        self.seed = seed
        self.rng = random.Random(seed)  # noqa: S311 - simulated clinical data, not secrets
        self.progress = progress or (lambda _n: None)
        self.params: ProtocolParameters = parameters_for(AMENDMENT)
        self.summary = DemoSummary(seed=seed)
        self.team = Team(keys_dir, seed, passphrase, self.summary.keys)
        self.ledger: TrialLedger | None = None
        self.recorder: TrialRecorder | None = None
        self.corrections_left = 4
        self.disagreements_left = 2

    def _set_up(self) -> None:
        self.team.write_ledger_keys()
        self.ledger = TrialLedger.create(
            self.db,
            sponsor=self.team.sponsor,
            sponsor_name="MC0282 Sponsor Office",
            ledger_public=self.team.ledger_key.public_key,
            ledger_key_id=self.team.ledger_key.key_id,
            protocol_amendment=AMENDMENT,
            effective_date=TRIAL_START,
            ledger_id=str(uuid5(DEMO_NAMESPACE, str(self.seed))),
        )
        self.recorder = TrialRecorder(self.ledger)
        self.team.register_sites_and_staff(self.ledger)

    @property
    def rec(self) -> TrialRecorder:
        assert self.recorder is not None
        return self.recorder

    def import_lines(self, signer: Signer, lines: list[dict[str, Any]]) -> None:
        if lines:
            self.rec.import_jsonl(signer, [json.dumps(line) for line in lines])

    def run(self) -> DemoSummary:
        self._set_up()
        assert self.ledger is not None
        plan = cohort_plan(self.rng)
        screening_days = sorted(self.rng.sample(range(0, 5 * 365), len(plan)))
        for done, ((subject, site, course), day) in enumerate(
            zip(plan, screening_days, strict=True), start=1
        ):
            if done == 22:
                self.team.rotate(self.ledger, "coordinator-002", date(2004, 6, 1))
            if done == 38:
                self.team.revoke_and_replace(self.ledger, "investigator-003", date(2006, 1, 9))
            self._subject(subject, site, course, TRIAL_START + timedelta(days=14 + day))
            self.summary.courses[course.value] += 1
            self.summary.regimens[self.rec.patient(subject).current_regimen.value] += 1
            self.progress(done)
        return self._finish()

    def _subject(self, subject: str, site: str, course: Course, screened_on: date) -> None:
        inv = self.team.investigator(site)
        self.summary.subjects_screened += 1
        inputs = self._screen(subject, site, course, screened_on)
        if inputs is None:
            return
        start, serum = self._enrol(subject, inv, inputs, screened_on)
        self.summary.subjects_enrolled += 1
        if course is Course.PRE_TREATMENT_PD:
            self.rec.record(
                inv,
                TakeOffStudy(
                    subject_id=subject,
                    date=start - timedelta(days=3),
                    reason="progressed to active myeloma before the first dose; referred for "
                    "chemotherapy",
                ),
            )
            return
        self.summary.subjects_treated += 1
        SubjectCourse(self, subject, site, course, start, serum).run()

    def _screen(
        self, subject: str, site: str, course: Course, screened_on: date
    ) -> EligibilityInput | None:
        """Screening, consent and eligibility; None for a screen failure (off study)."""
        rng, inv, coord = self.rng, self.team.investigator(site), self.team.coordinator(site)
        age = rng.randint(41, 82)
        self.rec.record(
            coord,
            Screen(
                subject_id=subject,
                date=screened_on,
                site=site,
                age_years=age,
                sex=rng.choice(("F", "M")),
            ),
        )
        self.rec.record(
            coord,
            Consent(subject_id=subject, date=screened_on, consent_version="MC0282 consent v1"),
        )
        inputs = self._eligibility(course, age)
        self.rec.record(inv, AssessEligibility(subject_id=subject, date=screened_on, inputs=inputs))
        if course is Course.SCREEN_FAIL:
            self.rec.record(
                coord,
                TakeOffStudy(
                    subject_id=subject,
                    date=screened_on + timedelta(days=2),
                    reason="screen failure: eligibility criteria not met",
                ),
            )
            return None
        return inputs

    def _enrol(
        self, subject: str, inv: Signer, inputs: EligibilityInput, screened_on: date
    ) -> tuple[date, Decimal]:
        """Enrolment with baseline labs (an ANC waiver where one was drawn): (start, serum)."""
        rng = self.rng
        serum = money(rng.uniform(2.2, 4.4))
        baseline = BaselineLabs(
            serum_m_protein_g_dl=serum,
            urine_m_protein_mg_24h=money(rng.uniform(20, 150), "1"),
            marrow_plasma_cells_pct=money(rng.uniform(12, 45), "1"),
            hs_crp_mg_l=money(rng.uniform(0.4, 9.0), "0.1"),
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
        self.rec.record(
            inv,
            Enrol(
                subject_id=subject,
                date=screened_on + timedelta(days=7),
                treatment_start=start,
                baseline=baseline,
                waiver=waiver,
            ),
        )
        return start, serum

    def _eligibility(self, course: Course, age: int) -> EligibilityInput:
        rng = self.rng
        fail = course is Course.SCREEN_FAIL
        waiver = not fail and self.summary.deviations == 0 and rng.random() < 0.2
        return EligibilityInput(
            age_years=age,
            smoldering_or_indolent_myeloma=True,
            marrow_plasma_cells_pct=money(rng.uniform(12, 45), "1"),
            serum_m_protein_g_dl=money(rng.uniform(3.0, 4.4)),
            serum_m_protein_isotype=rng.choice(["IgG", "IgG", "IgA"]),
            urine_light_chain_g_24h=money(rng.uniform(0.0, 0.8)),
            measurable_disease=True,
            needs_immediate_chemotherapy=False,
            active_myeloma_or_amyloidosis_needing_chemo=False,
            interacting_agents=False,
            ecog=0,
            wbc_per_mm3=Decimal(rng.randint(2900, 3400) if fail else rng.randint(4200, 9000)),
            anc_per_mm3=Decimal(1650 if waiver else rng.randint(2100, 6000)),
            creatinine_x_uln=money(rng.uniform(0.6, 1.2)),
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
        self.ledger.checkpoint(self.team.ledger_key)
        report: VerifyReport = verify_ledger(self.ledger.reader)
        self.summary.verify = report.to_json()
        self.summary.events = report.events
        self.summary.commits = report.commits
        self.ledger.close()
        return self.summary


def build_demo(
    db: StoreTarget,
    keys_dir: Path,
    *,
    seed: int = 282,
    passphrase: bytes,
    progress: Callable[[int], None] | None = None,
) -> DemoSummary:
    """Build the demo ledger at ``db`` (must not exist) with key files in ``keys_dir``."""
    return DemoBuilder(db, keys_dir, seed, passphrase, progress).run()
