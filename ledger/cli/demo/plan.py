"""The demo's cohort: who is screened where, how each subject's participation goes, and the
summary the demo prints."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from ledger.protocol.schedule import Regimen

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


TREATING = frozenset(
    {Regimen.INDUCTION, Regimen.CONTINUATION, Regimen.LOW_DOSE_DEX, Regimen.HIGH_DOSE_DEX}
)
"""The regimens on which a subject takes study drug."""


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


def plan(rng: random.Random) -> list[tuple[str, str, Course]]:
    """(subject id, site, course) of every subject, in the order they are screened."""
    courses = [c for c, n in COHORT.items() for _ in range(n)]
    courses += [Course.SCREEN_FAIL] * SCREEN_FAILURES
    rng.shuffle(courses)
    subjects = []
    numbers = dict.fromkeys(SITE_SIZES, 0)
    sites = [s for s, n in SITE_SIZES.items() for _ in range(n)]
    sites += ["001", "002", "003"][:SCREEN_FAILURES]
    rng.shuffle(sites)
    for course, site in zip(courses, sites, strict=True):
        numbers[site] += 1
        subjects.append((f"MC0282-{site}-{numbers[site]:03d}", site, course))
    return subjects


def subjects_in_plan() -> int:
    return sum(COHORT.values()) + SCREEN_FAILURES


def money(value: float, places: str = "0.01") -> Decimal:
    """A simulated measurement rounded as it is reported."""
    return Decimal(str(value)).quantize(Decimal(places))
