"""The other reading of a protocol rule, recorded by an investigator with a reason.

REG-M6-BASIS (what the month-6 decision reads) and REG-PD-START (when high-dose
dexamethasone starts after progression) each have a default reading, a protocol parameter
(`ledger.protocol.parameters.Readings`); `--other-month6-reading REASON` and
`--start-next-month REASON` take the other one, recorded as a deviation on the regimen change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_clinical_paths import (
    MONTH_6_VISIT,
    MONTH_7,
    iso,
    names,
    new_trial,
    template,  # noqa: F401 - the module's template ledger fixture
)
from tests.domain.trial_helpers import day

WHY = "MR seen once only; add dexamethasone now"


def test_an_investigator_decides_month_6_on_confirmed_categories_with_a_reason(
    template: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    t = new_trial(template, tmp_path_factory, "m6-other")
    t.enrol("MC0282-001-031")
    t.lab(MONTH_6_VISIT, "serum_m_protein", "2.3")  # MR at month 6, not confirmed
    events = t.ok("ada", "assess", "--subject", t.subject, "--category", "MR",
                  "--no-new-bone-lesions", "--other-month6-reading", WHY,
                  "--date", iso(MONTH_6_VISIT))  # fmt: skip
    assert names(events) == ["ResponseAssessed", "RegimenChanged"]
    change = events[1]["payload"]
    assert (change["to_regimen"], change["rule_id"], change["effective_date"]) == (
        "low_dose_dex",
        "REG-M6-UNCONFIRMED",
        iso(MONTH_7),
    )
    assert change["deviation"] == {
        "rule_id": "REG-M6-BASIS",
        "reason": WHY,
    }
    history = t.patient("--on", iso(MONTH_7))["regimen_history"]
    assert history[-1]["deviation"]["rule_id"] == "REG-M6-BASIS"


def test_rejects_the_other_month_6_reading_outside_the_month_6_assessment(
    template: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    t = new_trial(template, tmp_path_factory, "m6-early")
    t.enrol("MC0282-001-032")
    t.lab(day(85), "serum_m_protein", "2.3")
    t.refuse("ada", "assess", "--subject", t.subject, "--category", "MR",
             "--no-new-bone-lesions", "--other-month6-reading", "no reason to wait",
             "--date", iso(day(85)),
             fragments=("REC-DEVIATION", "not a month-6 assessment"))  # fmt: skip


def test_high_dose_starts_next_month_by_the_other_reading_of_reg_pd_start(
    template: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The assessment that confirms progression records it; with --start-next-month the
    high-dose course starts on day 1 of the next protocol month (month 4: day 85)."""
    t = new_trial(template, tmp_path_factory, "pd-next-month")
    t.enrol("MC0282-001-033")
    t.assess(day(40), "PD", serum="4.0")
    t.lab(day(70), "serum_m_protein", "4.1")
    events = t.ok("ada", "assess", "--subject", t.subject, "--category", "PD",
                  "--no-new-bone-lesions", "--start-next-month", "start with the cycle calendar",
                  "--date", iso(day(70)))  # fmt: skip
    assert names(events) == ["ResponseAssessed", "ProgressionConfirmed", "RegimenChanged"]
    change = events[2]["payload"]
    assert (change["to_regimen"], change["effective_date"], change["decided_on"]) == (
        "high_dose_dex",
        iso(day(85)),
        iso(day(70)),
    )
    assert change["deviation"]["rule_id"] == "REG-PD-START"
    assert events[1]["payload"]["progression_date"] == iso(day(40))
    assert t.patient("--on", iso(day(84)))["regimen"] == "induction"
    assert t.patient("--on", iso(day(85)))["regimen"] == "high_dose_dex"


def test_rejects_the_other_pd_start_reading_when_no_progression_starts_high_dose(
    template: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    t = new_trial(template, tmp_path_factory, "pd-none")
    t.enrol("MC0282-001-035")
    t.lab(day(40), "serum_m_protein", "3.1")
    t.refuse("ada", "assess", "--subject", t.subject, "--category", "SD",
             "--no-new-bone-lesions", "--start-next-month", "start with the cycle calendar",
             "--date", iso(day(40)),
             fragments=("REC-DEVIATION", "no REG-PD-START reading"))  # fmt: skip


def test_an_investigators_progression_takes_its_date_within_treatment(
    template: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Not confirmed by the rules (one PD): recorded with a deviation from CONF-PD, dated by
    the investigator; a date after the confirmation is refused."""
    t = new_trial(template, tmp_path_factory, "pd-date")
    t.enrol("MC0282-001-034")
    t.assess(day(40), "PD", serum="4.0")
    judgement = ("--deviation-reason", "bone pain and rising M-protein: act now")
    t.refuse("ada", *t.progression_args(day(45), "rising"), *judgement,
             "--progression-date", iso(day(46)),
             fragments=("progression_date", "REC-PROGRESSION-DATE"))  # fmt: skip
    events = t.ok("ada", *t.progression_args(day(45), "rising"), *judgement,
                  "--progression-date", iso(day(40)))  # fmt: skip
    assert events[0]["payload"]["progression_date"] == iso(day(40))
    progression = t.patient()["response"]["progression"]
    assert (progression["date"], progression["confirmed_by_rules"], progression["supported"]) == (
        iso(day(40)),
        False,
        True,
    )
