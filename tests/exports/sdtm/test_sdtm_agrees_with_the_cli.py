"""The SDTM rows say what ``summary --json`` and ``patient --json`` say (counts, dates,
categories, regimens), each read through the real CLI: two independent paths to one ledger."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.exports.conftest import Demo
from tests.exports.sdtm.conftest import Exported, patient

ELEMENT_CODES = {
    "induction": "IND",
    "continuation": "CONT",
    "low_dose_dex": "LDEX",
    "high_dose_dex": "HDEX",
    "off_treatment": "OFFTRT",
    "follow_up": "FU",
}
ON_TREATMENT = ("induction", "continuation", "low_dose_dex", "high_dose_dex")
LAB_KEYS = {
    "serum_m_protein": ("MPROTEIN", "SERUM"),
    "urine_m_protein": ("MPROTEIN", "URINE"),
    "marrow_plasma_cells": ("PLASMCE", "BONE MARROW"),
    "hs_crp": ("CRPHS", "SERUM"),
    "flc_kappa": ("KAPLCFR", "SERUM"),
    "flc_lambda": ("LAMLCFR", "SERUM"),
    "wbc": ("WBC", "BLOOD"),
    "anc": ("NEUT", "BLOOD"),
    "creatinine": ("CREAT", "SERUM"),
    "serum_ife": ("IFE", "SERUM"),
    "urine_ife": ("IFE", "URINE"),
}
DEATH = "MC0282-002-009"  # a subject chosen for having died in the demo


def sample(summary: dict[str, Any]) -> list[str]:
    """Subjects of every kind the summary names: not eligible, off study before treatment,
    withdrawn, progressed, responding on dexamethasone, and one who died."""
    not_treated = summary["populations"]["not_treated"]
    primary = summary["primary_response_rate"]
    low_dex = summary["low_dose_dexamethasone_response_rate"]["counted"]
    ttp = summary["time_to_progression"]["counted"]
    picked = [
        next(x["subject_id"] for x in not_treated if x["reason"] == "not eligible"),
        next(x["subject_id"] for x in not_treated if x["reason"].startswith("off study")),
        next(x["subject_id"] for x in primary["excluded"] if "withdrawn" in x["reason"]),
        next(x["subject_id"] for x in ttp if x["event"]),
        next(x["subject_id"] for x in low_dex if x["responder"]),
        DEATH,
    ]
    return sorted(set(picked))


@pytest.fixture(scope="module")
def patients(demo: Demo, summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s: patient(demo.db, s) for s in sample(summary)}


def sid(row: dict[str, Any]) -> str:
    return str(row["USUBJID"]).removeprefix("NCT00635154-")


# ------------------------------------------------------------------ summary --json


def test_dm_has_one_row_per_screened_subject(exported: Exported, summary: dict[str, Any]) -> None:
    dm = exported.records("DM")
    assert len(dm) == len({r["USUBJID"] for r in dm}) == summary["populations"]["screened"]


def test_dm_arms_count_the_enrolled_and_the_treated_as_the_summary_does(
    exported: Exported, summary: dict[str, Any]
) -> None:
    dm = exported.records("DM")
    populations = summary["populations"]
    assert sum(1 for r in dm if r["ARMCD"] == "ANAKDEX") == populations["enrolled"]
    treated = sorted(sid(r) for r in dm if r["ACTARMCD"] is not None)
    assert treated == sorted(populations["treated_subject_ids"])
    not_treated = {sid(r) for r in dm if r["ARMNRS"] is not None}
    assert not_treated == {x["subject_id"] for x in populations["not_treated"]}


def test_ds_progressions_of_treated_subjects_are_the_time_to_progression_events(
    exported: Exported, summary: dict[str, Any]
) -> None:
    treated = set(summary["populations"]["treated_subject_ids"])
    first: dict[str, str] = {}
    for row in exported.records("DS"):
        if row["DSDECOD"] == "PROGRESSIVE DISEASE" and sid(row) in treated:
            first.setdefault(sid(row), row["DSSTDTC"])
    events = {
        x["subject_id"]: x["to"] for x in summary["time_to_progression"]["counted"] if x["event"]
    }
    assert first == events


@pytest.mark.parametrize(
    ("objective", "element"),
    [
        ("low_dose_dexamethasone_response_rate", "LDEX"),
        ("high_dose_dexamethasone_response_rate", "HDEX"),
    ],
)
def test_dm_actual_arms_with_dexamethasone_are_the_summary_populations_on_it(
    exported: Exported, summary: dict[str, Any], objective: str, element: str
) -> None:
    on_it = {sid(r) for r in exported.records("DM") if element in (r["ACTARMCD"] or "").split("+")}
    assert on_it == {x["subject_id"] for x in summary[objective]["counted"]}


def test_ds_withdrawals_are_the_ones_the_summary_excludes_as_withdrawn(
    exported: Exported, summary: dict[str, Any]
) -> None:
    withdrawn = {
        x["subject_id"]: x["reason"].rsplit("(", 1)[1].rstrip(")")
        for x in summary["primary_response_rate"]["excluded"]
        if x["reason"].startswith("withdrawn")
    }
    assert withdrawn
    in_ds = {
        sid(r): r["DSSTDTC"]
        for r in exported.records("DS")
        if r["DSDECOD"] == "WITHDRAWAL BY SUBJECT" and r["DSSCAT"] == "STUDY PARTICIPATION"
    }
    assert {s: in_ds.get(s) for s in withdrawn} == withdrawn


def test_ae_subjects_by_term_and_worst_grade_match_the_summary_on_anakinra_alone(
    exported: Exported, summary: dict[str, Any]
) -> None:
    spans: dict[str, list[tuple[str, str]]] = {}
    for row in exported.records("SE"):
        if row["ETCD"] in ("IND", "CONT"):
            spans.setdefault(row["USUBJID"], []).append((row["SESTDTC"], row["SEENDTC"]))
    worst: dict[tuple[str, str], int] = {}
    for row in exported.records("AE"):
        onset = row["AESTDTC"]
        if any(a <= onset < b for a, b in spans.get(row["USUBJID"], [])):
            key = (row["AEDECOD"], row["USUBJID"])
            worst[key] = max(worst.get(key, 0), int(row["AETOXGR"]))
    for term in summary["adverse_events"]["anakinra_alone"]["terms"]:
        grades = Counter(g for (t, _s), g in worst.items() if t == term["term"])
        assert sum(grades.values()) == term["subjects"], term["term"]
        assert {str(g): n for g, n in grades.items()} == {
            g: n for g, n in term["by_worst_grade"].items() if n
        }


# ------------------------------------------------------------------ patient --json


def test_dm_dates_and_actual_arm_agree_with_patient_json(
    exported: Exported, patients: dict[str, dict[str, Any]], summary: dict[str, Any]
) -> None:
    treated = set(summary["populations"]["treated_subject_ids"])
    for subject, p in patients.items():
        (dm,) = exported.of("DM", subject)
        assert dm["SUBJID"] == subject
        assert dm["SITEID"] == p["site"]
        assert dm["RFICDTC"] == p["consented_on"]
        assert dm["DTHDTC"] == (p["died"]["date"] if p["died"] else None)
        doses = p["doses"].values()
        if subject in treated:
            assert dm["RFSTDTC"] == p["treatment_start"]
            assert dm["RFXSTDTC"] == min(d["first"] for d in doses if d["first"])
            assert dm["RFXENDTC"] == max(d["last"] for d in doses if d["last"])
            path: list[str] = []
            for period in p["regimen_history"]:
                code = ELEMENT_CODES.get(period["regimen"])
                if period["regimen"] in ON_TREATMENT and (not path or path[-1] != code):
                    path.append(str(code))
            assert dm["ACTARMCD"] == "+".join(path)
        else:
            assert dm["RFSTDTC"] is None
            assert dm["ACTARMCD"] is None


def test_rs_categories_agree_with_patient_json_response_history(
    exported: Exported, patients: dict[str, dict[str, Any]]
) -> None:
    for subject, p in patients.items():
        rows = exported.of("RS", subject)
        assessments = p["response"]["assessments"]
        overall = [r for r in rows if r["RSTESTCD"] == "OVRLRESP"]
        investigator = [r for r in overall if r["RSEVAL"] == "INVESTIGATOR"]
        derived = [r for r in overall if r["RSDRVFL"] == "Y"]
        expected = [(str(a["position"]), a["date"]) for a in assessments]
        assert [(r["RSSPID"], r["RSDTC"]) for r in investigator] == expected
        assert [(r["RSSPID"], r["RSDTC"]) for r in derived] == expected
        assert [r["RSSTRESC"] for r in investigator] == [a["investigator"] for a in assessments]
        assert [r["RSSTRESC"] for r in derived] == [a["derived"] for a in assessments]
        assert all(r["RSORRES"] == r["RSSTRESC"] for r in rows)
        best = [r["RSSTRESC"] for r in rows if r["RSTESTCD"] == "BESTRESP"]
        confirmed = p["response"]["best_confirmed"]
        assert best == ([confirmed["category"]] if confirmed else [])


def test_ae_rows_are_the_patients_adverse_events_with_worst_grade_and_dates(
    exported: Exported, patients: dict[str, dict[str, Any]]
) -> None:
    for subject, p in patients.items():
        events = p["adverse_events"]["open"] + p["adverse_events"]["resolved"]
        expected = sorted(
            (a["ae_id"], a["term"], str(a["worst_grade"]), a["onset"], a["resolved_on"],
             "Y" if a["serious"] else "N")
            for a in events
        )  # fmt: skip
        rows = sorted(
            (r["AESPID"], r["AEDECOD"], r["AETOXGR"], r["AESTDTC"], r["AEENDTC"], r["AESER"])
            for r in exported.of("AE", subject)
        )
        assert rows == expected


def test_ex_has_one_row_per_dose_taken_within_the_first_and_last_dose(
    exported: Exported, patients: dict[str, dict[str, Any]]
) -> None:
    for subject, p in patients.items():
        rows = exported.of("EX", subject)
        for drug, doses in p["doses"].items():
            given = sorted(r["EXSTDTC"] for r in rows if r["EXTRT"] == drug.upper())
            assert len(given) == doses["taken"]
            if given:
                assert (given[0], given[-1]) == (doses["first"], doses["last"])
        assert {r["EPOCH"] for r in rows} <= {"TREATMENT"}


def test_lb_rows_count_the_results_and_flag_the_patient_baseline(
    exported: Exported, patients: dict[str, dict[str, Any]]
) -> None:
    for subject, p in patients.items():
        rows = exported.of("LB", subject)
        for analyte, marker in p["response"]["markers"].items():
            testcd, specimen = LAB_KEYS[analyte]
            mine = [r for r in rows if (r["LBTESTCD"], r["LBSPEC"]) == (testcd, specimen)]
            enrolment = 1 if marker["baseline_source"] == "enrolment" else 0
            assert len(mine) == marker["results"] + enrolment, analyte
            flagged = [(r["LBORRES"], r["LBDTC"]) for r in mine if r["LBLOBXFL"] == "Y"]
            if marker["baseline"] is not None and p["treatment_start"]:
                assert flagged == [(marker["baseline"], marker["baseline_date"])], analyte
            latest = max(mine, key=lambda r: (r["LBDTC"], r["LBSEQ"]), default=None)
            if latest is not None and marker["latest"] is not None:
                assert latest["LBORRES"] == marker["latest"]


def test_ds_names_withdrawal_death_progression_and_the_end_of_participation(
    exported: Exported, patients: dict[str, dict[str, Any]]
) -> None:
    for subject, p in patients.items():
        rows = exported.of("DS", subject)
        decoded = {(r["DSDECOD"], r["DSSTDTC"]) for r in rows}
        assert ("INFORMED CONSENT OBTAINED", p["consented_on"]) in decoded
        if p["enrolled_on"]:
            assert ("ENROLLED", p["enrolled_on"]) in decoded
        withdrawn = p["withdrawn"]
        if withdrawn and withdrawn["consent_withdrawn"]:
            assert ("WITHDRAWAL BY SUBJECT", withdrawn["date"]) in decoded
        if p["died"]:
            assert ("DEATH", p["died"]["date"]) in decoded
        progression = p["response"]["progression"]
        if progression:
            assert ("PROGRESSIVE DISEASE", progression["date"]) in decoded
        ended = [r["DSSTDTC"] for r in rows if r["DSSCAT"] == "STUDY PARTICIPATION"]
        if p["off_study"]:
            assert p["off_study"]["date"] in ended


def test_se_elements_follow_the_regimen_history(
    exported: Exported, patients: dict[str, dict[str, Any]]
) -> None:
    for subject, p in patients.items():
        rows = exported.of("SE", subject)
        assert rows[0]["ETCD"] == "SCRN"
        assert rows[0]["SESTDTC"] == p["screened_on"]
        expected: list[tuple[str, str]] = []
        history = p["regimen_history"]
        for i, period in enumerate(history):
            code = ELEMENT_CODES.get(period["regimen"])
            following = history[i + 1]["effective_date"] if i + 1 < len(history) else None
            if code is None or following == period["effective_date"]:
                continue
            if not expected or expected[-1][0] != code:
                expected.append((code, period["effective_date"]))
        assert [(r["ETCD"], r["SESTDTC"]) for r in rows[1:]] == expected
        assert all(a["SEENDTC"] == b["SESTDTC"] for a, b in itertools.pairwise(rows))


def test_demographics_come_from_the_screening_record(
    exported: Exported, patients: dict[str, dict[str, Any]], demo: Demo
) -> None:
    from projections.exports import verified_source  # noqa: PLC0415

    with verified_source(Path(demo.db)) as source:
        for subject in patients:
            screening = source.history(subject).screening
            assert screening is not None
            (dm,) = exported.of("DM", subject)
            assert (dm["AGE"], dm["AGEU"], dm["SEX"]) == (
                screening.age_years, "YEARS", screening.sex,
            )  # fmt: skip
            assert dm["RACE"] is None
            assert dm["ETHNIC"] is None
