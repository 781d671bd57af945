"""Trial objectives of NCT00635154, each figure with the subjects it counts and why not others.

Computed from the patient and response views (one fold per subject; no table of its own), so
a summary reflects exactly the position those views are at. Categories are the rule-derived
ones (``basis: derived``); where the investigator's categories would classify a subject
differently the primary figure lists it under ``investigator_disagreements``.

Populations, in order of the first exclusion that applies:

* not enrolled (screened only, or not eligible);
* progressed before treatment: a progression dated before the first anakinra dose, or with no
  dose at all;
* never dosed: enrolled without any ``DoseAdministered`` of anakinra;
* treated: everyone else (the population of every figure below).

Primary, response rate to anakinra alone at month 6: responder = best confirmed response
(derived, two consecutive assessments, ``ledger.protocol.response``) of MR or better among the
assessments attributed to induction. Treated subjects are counted as non-responders when they
progressed or died on or before the last day of month 6 or have a month-6 assessment
(``protocol_month`` >= induction months) without a confirmed response; excluded when they went
off study before month 6 without either ("withdrawn before month 6"), when their last recorded
date is before the end of month 6 ("not yet at month 6"), or when no month-6 assessment was
recorded although the date has passed. Exact (Clopper-Pearson) 95% interval.

Response rate after dexamethasone was added: subjects who entered low_dose_dex or
high_dose_dex; responder = best confirmed response of MR or better among the assessments
attributed to a dexamethasone regimen; counted once assessed on dexamethasone, or progressed,
died or left study after it started; otherwise excluded ("not yet assessed on dexamethasone").

Progression-free at 6 months: treated subjects; not progression-free when progression or death
is dated on or before the last day of month 6; progression-free when a disease evaluation
(assessment, lab, follow-up visit) is dated on or after the first day of month 6 without
either; otherwise excluded (withdrawn, or not yet followed to month 6). Exact 95% interval.

Time to progression: treated subjects, days from the treatment start to progression (event) or
to the last disease evaluation (censored; deaths without progression are censored).
Kaplan-Meier with the median's Brookmeyer-Crowley 95% interval (``projections.statistics``).

Duration of response: subjects with a confirmed response of MR or better at any time, days
from the first assessment of the first confirmed response to progression (event) or the last
disease evaluation (censored).

Adverse events: by term and worst grade (per subject, the worst grade of that term), split by
the regimen on the onset date: anakinra alone (induction, continuation) or with dexamethasone
(low_dose_dex, high_dose_dex). AEs with onset in any other regimen are listed as excluded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ledger.protocol.response import Category
from ledger.protocol.schedule import month_6_decision_date, month_start
from projections.decoding import day
from projections.folding import ANAKINRA_ALONE, INDUCTION, WITH_DEXAMETHASONE
from projections.patient import PatientFold
from projections.response import RESPONSES, ResponseFold
from projections.statistics import clopper_pearson, kaplan_meier

DAYS_PER_MONTH = 365.25 / 12
INDUCTION_ONLY = frozenset({INDUCTION})


def _rate(k: int, n: int) -> dict[str, Any]:
    lower, upper = clopper_pearson(k, n)
    return {
        "n": n,
        "responders": k,
        "rate": round(k / n, 4) if n else None,
        "ci95": [round(lower, 4), round(upper, 4)],
        "ci_method": "Clopper-Pearson exact binomial, two-sided 95%",
    }


@dataclass
class _Subject:
    patient: PatientFold
    response: ResponseFold

    @property
    def subject_id(self) -> str:
        return self.patient.subject_id

    def progression(self) -> dict[str, Any] | None:
        return self.response.progression()

    def exclusion(self) -> str | None:
        """Why the subject is not in the treated population (None: treated)."""
        p = self.patient
        if p.enrolled_on is None:
            return "not eligible" if p.eligible is False else "not enrolled"
        first = p.first_anakinra()
        progression = self.progression()
        if progression is not None and (first is None or progression["date"] < first):
            return f"progressed before treatment ({progression['date']})"
        if first is None:
            return "never dosed"
        return None

    @property
    def month_6_end(self) -> str:
        ts = self.patient.treatment_start
        assert ts is not None
        return month_6_decision_date(day(ts), self.patient.params).isoformat()

    @property
    def month_6_start(self) -> str:
        ts = self.patient.treatment_start
        assert ts is not None
        months = self.patient.params.schedule.induction_months
        return month_start(day(ts), months, self.patient.params).isoformat()

    def left_study_on(self) -> str | None:
        dates = [x[0] for x in (self.patient.withdrawn, self.patient.off_study) if x]
        return min(dates) if dates else None

    def died_on(self) -> str | None:
        return self.patient.died[0] if self.patient.died else None

    def last_evaluation(self) -> str | None:
        return self.response.last_evaluation


def _primary(subjects: Sequence[_Subject]) -> dict[str, Any]:
    counted: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    disagreements: list[dict[str, Any]] = []
    months = None
    for s in subjects:
        why = s.exclusion()
        if why is not None:
            excluded.append({"subject_id": s.subject_id, "reason": why})
            continue
        months = s.patient.params.schedule.induction_months
        best = s.response.best_confirmed(INDUCTION_ONLY)
        by_investigator = s.response.best_confirmed(INDUCTION_ONLY, basis="investigator")
        m6 = s.month_6_end
        progression = s.progression()
        responder = best is not None and best.category in RESPONSES
        reached = any(a[2] >= months for a in s.response.assessments)
        left = s.left_study_on()
        reason: str | None = None
        if responder:
            assert best is not None
            reason = f"confirmed {best.category} during induction (from {best.first_on})"
        elif progression is not None and progression["date"] <= m6:
            reason = f"progressed during induction ({progression['date']})"
        elif (died := s.died_on()) is not None and died <= m6:
            reason = f"died during induction ({died})"
        elif left is not None and left <= m6 and not reached:
            excluded.append(
                {"subject_id": s.subject_id, "reason": f"withdrawn before month 6 ({left})"}
            )
            continue
        elif not reached:
            last = s.patient.last_date
            why = (
                f"not yet at month 6 (last recorded date {last}, month 6 ends {m6})"
                if last < m6
                else "no month-6 response assessment recorded"
            )
            excluded.append({"subject_id": s.subject_id, "reason": why})
            continue
        else:
            reason = f"best confirmed response {best.category}" if best else "no confirmed response"
        counted.append(
            {
                "subject_id": s.subject_id,
                "responder": responder,
                "best_confirmed": best.category.value if best else None,
                "reason": reason,
            }
        )
        other = by_investigator is not None and by_investigator.category in RESPONSES
        if other != responder:
            disagreements.append(
                {
                    "subject_id": s.subject_id,
                    "derived": best.category.value if best else None,
                    "investigator": by_investigator.category.value if by_investigator else None,
                }
            )
    k = sum(1 for c in counted if c["responder"])
    return {
        "description": "response rate to anakinra alone at month 6 (best confirmed response "
        "MR or better during induction)",
        "basis": "derived",
        **_rate(k, len(counted)),
        "by_category": _by_category(counted),
        "counted": counted,
        "excluded": excluded,
        "investigator_disagreements": disagreements,
    }


def _by_category(counted: Sequence[dict[str, Any]]) -> dict[str, int]:
    found = {c.value: 0 for c in Category}
    found["none"] = 0
    for c in counted:
        found[c["best_confirmed"] or "none"] += 1
    return found


def _dexamethasone(subjects: Sequence[_Subject]) -> dict[str, Any]:
    counted: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    for s in subjects:
        why = s.exclusion()
        if why is not None:
            excluded.append({"subject_id": s.subject_id, "reason": why})
            continue
        started = s.patient.timeline.ever(WITH_DEXAMETHASONE)
        if started is None:
            excluded.append({"subject_id": s.subject_id, "reason": "dexamethasone never added"})
            continue
        regimens = sorted(r for r in WITH_DEXAMETHASONE if s.patient.timeline.ever(frozenset({r})))
        best = s.response.best_confirmed(WITH_DEXAMETHASONE)
        assessed = any(
            s.response.attributed_regimen(a[0]) in WITH_DEXAMETHASONE
            for a in s.response.assessments
        )
        progression = s.progression()
        ended = [
            d
            for d in (
                progression["date"] if progression else None,
                s.died_on(),
                s.left_study_on(),
            )
            if d is not None and d >= started
        ]
        if not assessed and not ended:
            excluded.append(
                {
                    "subject_id": s.subject_id,
                    "reason": f"not yet assessed on dexamethasone (started {started})",
                }
            )
            continue
        responder = best is not None and best.category in RESPONSES
        counted.append(
            {
                "subject_id": s.subject_id,
                "responder": responder,
                "best_confirmed": best.category.value if best else None,
                "dexamethasone_from": started,
                "regimens": regimens,
            }
        )
    k = sum(1 for c in counted if c["responder"])
    return {
        "description": "response rate after dexamethasone was added (best confirmed response "
        "MR or better on low- or high-dose dexamethasone)",
        "basis": "derived",
        **_rate(k, len(counted)),
        "by_category": _by_category(counted),
        "counted": counted,
        "excluded": excluded,
    }


def _progression_free(subjects: Sequence[_Subject]) -> dict[str, Any]:
    counted: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    for s in subjects:
        why = s.exclusion()
        if why is not None:
            excluded.append({"subject_id": s.subject_id, "reason": why})
            continue
        m6, m6_start = s.month_6_end, s.month_6_start
        progression = s.progression()
        died = s.died_on()
        last = s.last_evaluation()
        if progression is not None and progression["date"] <= m6:
            entry = (False, f"progressed {progression['date']}")
        elif died is not None and died <= m6:
            entry = (False, f"died {died}")
        elif last is not None and last >= m6_start:
            entry = (True, f"evaluated {last} without progression")
        else:
            left = s.left_study_on()
            reason = (
                f"withdrawn before month 6 without progression ({left})"
                if left is not None and left <= m6
                else f"not yet followed to month 6 (last evaluation {last})"
            )
            excluded.append({"subject_id": s.subject_id, "reason": reason})
            continue
        counted.append(
            {"subject_id": s.subject_id, "progression_free": entry[0], "reason": entry[1]}
        )
    k = sum(1 for c in counted if c["progression_free"])
    rate = _rate(k, len(counted))
    return {
        "description": "proportion progression-free at the end of month 6",
        "n": rate["n"],
        "progression_free": k,
        "proportion": rate["rate"],
        "ci95": rate["ci95"],
        "ci_method": rate["ci_method"],
        "counted": counted,
        "excluded": excluded,
    }


def _survival(
    description: str, rows: list[dict[str, Any]], excluded: list[dict[str, Any]]
) -> dict[str, Any]:
    km = kaplan_meier([(r["days"], r["event"]) for r in rows])
    estimate = km.to_json()

    def months(value: float | None) -> float | None:
        return None if value is None else round(value / DAYS_PER_MONTH, 1)

    return {
        "description": description,
        "unit": "days",
        **estimate,
        "median_months": months(km.median),
        "median_ci95_months": [months(km.median_lower), months(km.median_upper)],
        "counted": rows,
        "excluded": excluded,
    }


def _time_to_progression(subjects: Sequence[_Subject]) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    for s in subjects:
        why = s.exclusion()
        if why is not None:
            excluded.append({"subject_id": s.subject_id, "reason": why})
            continue
        ts = s.patient.treatment_start
        assert ts is not None
        progression = s.progression()
        if progression is not None:
            end, event = progression["date"], True
        else:
            end, event = max(s.last_evaluation() or ts, ts), False
        rows.append(
            {
                "subject_id": s.subject_id,
                "from": ts,
                "to": end,
                "days": (day(end) - day(ts)).days,
                "event": event,
            }
        )
    return _survival(
        "time to progression from the treatment start (deaths without progression censored)",
        rows,
        excluded,
    )


def _duration_of_response(subjects: Sequence[_Subject]) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    for s in subjects:
        why = s.exclusion()
        duration = s.response.duration_of_response() if why is None else None
        if duration is None:
            excluded.append(
                {
                    "subject_id": s.subject_id,
                    "reason": why or "no confirmed response (MR or better)",
                }
            )
            continue
        rows.append(
            {
                "subject_id": s.subject_id,
                "from": duration["from"],
                "to": duration["to"],
                "days": duration["days"],
                "event": duration["progressed"],
            }
        )
    return _survival(
        "duration of response, from the first confirmed response (MR or better) to progression",
        rows,
        excluded,
    )


def _adverse_events(subjects: Sequence[_Subject]) -> dict[str, Any]:
    arms = {"anakinra_alone": ANAKINRA_ALONE, "with_dexamethasone": WITH_DEXAMETHASONE}
    worst: dict[str, dict[str, dict[str, int]]] = {arm: {} for arm in arms}
    events: dict[str, dict[str, int]] = {arm: {} for arm in arms}
    exposed: dict[str, list[str]] = {arm: [] for arm in arms}
    excluded: list[dict[str, Any]] = []
    for s in subjects:
        timeline = s.patient.timeline
        for arm, regimens in arms.items():
            if s.patient.first_anakinra() is not None and timeline.ever(regimens):
                exposed[arm].append(s.subject_id)
        for ae in sorted(s.patient.aes.values(), key=lambda a: a["ae_id"]):
            if "term" not in ae:
                continue
            regimen = timeline.regimen_on(ae["onset"])[0]
            onset_arm = next((a for a, r in arms.items() if regimen in r), None)
            if onset_arm is None:
                excluded.append(
                    {
                        "subject_id": s.subject_id,
                        "ae_id": ae["ae_id"],
                        "term": ae["term"],
                        "reason": f"onset {ae['onset']} while {regimen} (no study drug)",
                    }
                )
                continue
            per_term = worst[onset_arm].setdefault(ae["term"], {})
            per_term[s.subject_id] = max(per_term.get(s.subject_id, 0), int(ae["worst_grade"]))
            events[onset_arm][ae["term"]] = events[onset_arm].get(ae["term"], 0) + 1
    result: dict[str, Any] = {
        "description": "adverse events by term and worst grade (CTCAE) per subject, split by "
        "the regimen on the onset date",
    }
    for arm, regimens in arms.items():
        terms = []
        for term in sorted(worst[arm]):
            grades = worst[arm][term]
            terms.append(
                {
                    "term": term,
                    "subjects": len(grades),
                    "events": events[arm][term],
                    "by_worst_grade": {
                        str(g): sum(1 for v in grades.values() if v == g) for g in range(1, 6)
                    },
                    "subject_ids": sorted(grades),
                }
            )
        result[arm] = {
            "regimens": sorted(regimens),
            "exposed_subjects": len(exposed[arm]),
            "exposed_subject_ids": exposed[arm],
            "terms": terms,
        }
    result["excluded"] = excluded
    return result


def trial_summary(
    patients: Sequence[PatientFold], responses: dict[str, ResponseFold], position: int
) -> dict[str, Any]:
    """The documented ``summary`` JSON."""
    subjects = [
        _Subject(p, responses.get(p.subject_id) or ResponseFold(p.subject_id))
        for p in sorted(patients, key=lambda p: p.subject_id)
    ]
    treated = [s.subject_id for s in subjects if s.exclusion() is None]
    return {
        "trial_id": "NCT00635154",
        "position": position,
        "populations": {
            "screened": len(subjects),
            "enrolled": sum(1 for s in subjects if s.patient.enrolled_on is not None),
            "treated": len(treated),
            "treated_subject_ids": treated,
            "not_treated": [
                {"subject_id": s.subject_id, "reason": why}
                for s in subjects
                if (why := s.exclusion()) is not None
            ],
        },
        "primary_response_rate": _primary(subjects),
        "dexamethasone_response_rate": _dexamethasone(subjects),
        "progression_free_at_6_months": _progression_free(subjects),
        "time_to_progression": _time_to_progression(subjects),
        "duration_of_response": _duration_of_response(subjects),
        "adverse_events": _adverse_events(subjects),
    }
