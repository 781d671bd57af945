"""Trial objectives of NCT00635154, each figure with the subjects it counts and why not others.

Computed from the subject view (one :class:`~ledger.subject.history.SubjectHistory` per
subject; no table of its own), with the same derivation the recording rules use
(:mod:`ledger.subject.evaluation`: categories derived on corrected values, confirmation,
progression dated when its criteria were first met), so a summary reflects exactly the
position the view is at. Categories are the rule-derived ones (``basis: derived``); where the
investigator's categories would classify a subject differently the primary figure lists it
under ``investigator_disagreements``. A response is attributed to the regimen in force the day
before its assessment (the treatment whose effect it measures).

Populations, in order of the first exclusion that applies:

* not enrolled (screened only, or not eligible);
* off study before treatment: went off study (or withdrew) before the treatment start, the
  reason recorded shown (the registry's "progressed before treatment");
* progressed before treatment: a progression dated before the treatment start;
* no dose recorded: enrolled and past the treatment start without any ``DoseAdministered``
  of anakinra;
* treated: everyone else (the population of every figure below).

Primary, response rate to anakinra alone at month 6: responder = best confirmed response of MR
or better among the assessments attributed to induction. Treated subjects are counted as
non-responders when they progressed or died on or before the last day of month 6 or have a
month-6 assessment (``protocol_month`` >= induction months) without a confirmed response;
excluded when they went off study before month 6 without either ("withdrawn before month 6"),
when their last recorded date is before the end of month 6 ("not yet at month 6"), or when no
month-6 assessment was recorded although the date has passed. Exact (Clopper-Pearson) 95%
interval.

Response with dexamethasone, one figure per course, each with its own population:

* low-dose dexamethasone (stable disease at month 6, REG-M6-SD / REG-M6-NOT-ASSESSED /
  REG-M6-UNCONFIRMED): treated subjects who started low_dose_dex; responder = best confirmed
  response of MR or better among the assessments attributed to low_dose_dex, measured from the
  enrolment baseline;
* high-dose dexamethasone (progression at any time, REG-M6-PD / REG-PD-ANYTIME): treated
  subjects who started high_dose_dex; responder = best confirmed MR or better among the
  assessments attributed to high_dose_dex, measured from the new baseline at the progression.

In each, a subject is counted once assessed on that course, or when it progressed, died or left
study after the course started; otherwise excluded ("not yet assessed on ...").

Progression-free at 6 months: treated subjects; not progression-free when progression (dated
when its criteria were first met) or death is on or before the last day of month 6;
progression-free when a disease evaluation (assessment, lab, follow-up visit) is dated on or
after the first day of month 6 without either; otherwise excluded (withdrawn, or not yet
followed to month 6). Exact 95% interval.

Time to progression: treated subjects, days from the treatment start to progression (event,
dated when its criteria were first met) or to the last disease evaluation (censored; deaths
without progression are censored). Kaplan-Meier with the median's Brookmeyer-Crowley 95%
interval (``projections.statistics``).

Duration of response: subjects with a confirmed response of MR or better at any time, days
from the first assessment of the first confirmed response to progression (event) or the last
disease evaluation (censored).

Adverse events: by term and worst grade (per subject, the worst grade of that term), split by
the regimen on the onset date: anakinra alone (induction, continuation) or with dexamethasone
(low_dose_dex, high_dose_dex). AEs with onset in any other regimen are listed as excluded.
Exposure: subjects with a recorded anakinra dose who started a regimen of that group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from ledger.protocol.parameters import ProtocolParameters
from ledger.protocol.response import Category
from ledger.protocol.schedule import ON_TREATMENT, Regimen, month_6_decision_date, month_start
from ledger.subject import evaluation
from ledger.subject.evaluation import RESPONSES, Evaluation, Progression
from ledger.subject.history import SubjectHistory
from ledger.subject.timeline import Timeline
from projections.report import best_confirmed, duration_of_response, last_evaluation, params_of
from projections.statistics import clopper_pearson, kaplan_meier

DAYS_PER_MONTH = 365.25 / 12
INDUCTION_ONLY = frozenset({Regimen.INDUCTION})
ANAKINRA_ALONE = frozenset({Regimen.INDUCTION, Regimen.CONTINUATION})
WITH_DEXAMETHASONE = frozenset({Regimen.LOW_DOSE_DEX, Regimen.HIGH_DOSE_DEX})


def _rate(k: int, n: int) -> dict[str, Any]:
    lower, upper = clopper_pearson(k, n)
    return {
        "n": n,
        "responders": k,
        "rate": round(k / n, 4) if n else None,
        "ci95": [round(lower, 4), round(upper, 4)],
        "ci_method": "Clopper-Pearson exact binomial, two-sided 95%",
    }


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


@dataclass
class _Subject:
    h: SubjectHistory
    params: ProtocolParameters = field(init=False)
    evaluations: list[Evaluation] = field(init=False)
    progressions: list[Progression] = field(init=False)
    progression: Progression | None = field(init=False)

    def __post_init__(self) -> None:
        self.params = params_of(self.h)
        self.evaluations = evaluation.evaluate(self.h, self.params)
        self.progressions = evaluation.progressions(self.h, self.params, self.evaluations)
        self.progression = next((p for p in self.progressions if p.supported), None)

    @property
    def subject_id(self) -> str:
        return self.h.subject_id

    @property
    def progressed_on(self) -> date | None:
        return self.progression.on if self.progression else None

    def exclusion(self) -> str | None:
        """Why the subject is not in the treated population (None: treated)."""
        h = self.h
        start = h.treatment_start
        if h.enrolment is None or start is None:
            return (
                "not eligible" if h.eligibility and not h.eligibility.eligible else "not enrolled"
            )
        left = self.left_study_on()
        if left is not None and left < start:
            why = h.off_study.reason if h.off_study else "withdrawn"
            return f"off study before treatment ({left}: {why})"
        if self.progressed_on is not None and self.progressed_on < start:
            return f"progressed before treatment ({self.progressed_on})"
        if h.first_dose("anakinra") is None:
            return "no anakinra dose recorded"
        return None

    @property
    def month_6_end(self) -> date:
        assert self.h.treatment_start is not None
        return month_6_decision_date(self.h.treatment_start, self.params)

    @property
    def month_6_start(self) -> date:
        assert self.h.treatment_start is not None
        months = self.params.schedule.induction_months
        return month_start(self.h.treatment_start, months, self.params)

    def left_study_on(self) -> date | None:
        h = self.h
        dates = [e.effective_date for e in (h.consent_withdrawal, h.off_study) if e]
        return min(dates) if dates else None

    def died_on(self) -> date | None:
        return self.h.death.effective_date if self.h.death else None

    def last_evaluation(self) -> date | None:
        return last_evaluation(self.h)

    def best(self, regimens: frozenset[Regimen] | None, basis: str = "derived") -> Any:
        return best_confirmed(self.evaluations, self.params, regimens, basis)


def _primary(subjects: Sequence[_Subject]) -> dict[str, Any]:
    counted: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    disagreements: list[dict[str, Any]] = []
    for s in subjects:
        why = s.exclusion()
        if why is not None:
            excluded.append({"subject_id": s.subject_id, "reason": why})
            continue
        months = s.params.schedule.induction_months
        best = s.best(INDUCTION_ONLY)
        by_investigator = s.best(INDUCTION_ONLY, basis="investigator")
        m6 = s.month_6_end
        progressed = s.progressed_on
        responder = best is not None and best.category in RESPONSES
        reached = any(e.protocol_month >= months and e.line == 0 for e in s.evaluations)
        left = s.left_study_on()
        reason: str | None = None
        if responder:
            reason = f"confirmed {best.category} during induction (from {best.first_on})"
        elif progressed is not None and progressed <= m6:
            reason = f"progressed during induction ({progressed})"
        elif (died := s.died_on()) is not None and died <= m6:
            reason = f"died during induction ({died})"
        elif left is not None and left <= m6 and not reached:
            excluded.append(
                {"subject_id": s.subject_id, "reason": f"withdrawn before month 6 ({left})"}
            )
            continue
        elif not reached:
            last = s.h.last_date
            ended = s.h.timeline.treatment_end()
            if ended is not None and ended <= m6:
                why = f"treatment ended before month 6 ({ended}) without a month-6 assessment"
            elif last is None or last < m6:
                why = f"not yet at month 6 (last recorded date {last}, month 6 ends {m6})"
            else:
                why = "no month-6 response assessment recorded"
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


COURSES: dict[str, tuple[Regimen, str]] = {
    "low_dose": (
        Regimen.LOW_DOSE_DEX,
        "response rate on anakinra + low-dose dexamethasone (stable disease at month 6; best "
        "confirmed response MR or better on low_dose_dex, from the enrolment baseline)",
    ),
    "high_dose": (
        Regimen.HIGH_DOSE_DEX,
        "response rate on anakinra + high-dose dexamethasone (after progression; best "
        "confirmed response MR or better on high_dose_dex, from the baseline at progression)",
    ),
}


def _course(subjects: Sequence[_Subject], regimen: Regimen, description: str) -> dict[str, Any]:
    counted: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    only = frozenset({regimen})
    for s in subjects:
        why = s.exclusion()
        if why is not None:
            excluded.append({"subject_id": s.subject_id, "reason": why})
            continue
        started = s.h.timeline.entered(only)
        if started is None:
            excluded.append({"subject_id": s.subject_id, "reason": f"never started {regimen}"})
            continue
        best = s.best(only)
        assessed = any(e.regimen is regimen for e in s.evaluations)
        ended = [
            d
            for d in (s.progressed_on, s.died_on(), s.left_study_on(), s.h.timeline.left(only))
            if d is not None and d >= started
        ]
        if not assessed and not ended:
            excluded.append(
                {
                    "subject_id": s.subject_id,
                    "reason": f"not yet assessed on {regimen} (started {started})",
                }
            )
            continue
        responder = best is not None and best.category in RESPONSES
        period = next(p for p in s.h.periods if p.regimen is regimen)
        counted.append(
            {
                "subject_id": s.subject_id,
                "responder": responder,
                "best_confirmed": best.category.value if best else None,
                "started": started.isoformat(),
                "rule_id": period.rule_id,
            }
        )
    k = sum(1 for c in counted if c["responder"])
    return {
        "description": description,
        "regimen": regimen.value,
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
        progressed = s.progressed_on
        died = s.died_on()
        last = s.last_evaluation()
        if progressed is not None and progressed <= m6:
            entry = (False, f"progressed {progressed}")
        elif died is not None and died <= m6:
            entry = (False, f"died {died}")
        elif last is not None and last >= m6_start:
            entry = (True, f"evaluated {last} without progression")
        else:
            left = s.left_study_on()
            ended = s.h.timeline.treatment_end()
            if left is not None and left <= m6:
                reason = f"withdrawn before month 6 without progression ({left})"
            elif ended is not None and ended <= m6:
                reason = (
                    f"treatment ended {ended}, no disease evaluation from month 6 on "
                    f"(last evaluation {last})"
                )
            else:
                reason = f"not yet followed to month 6 (last evaluation {last})"
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
        ts = s.h.treatment_start
        if why is not None or ts is None:
            excluded.append({"subject_id": s.subject_id, "reason": why or "not enrolled"})
            continue
        if s.progressed_on is not None:
            end, event = s.progressed_on, True
        else:
            end, event = max(s.last_evaluation() or ts, ts), False
        rows.append(
            {
                "subject_id": s.subject_id,
                "from": ts.isoformat(),
                "to": end.isoformat(),
                "days": (end - ts).days,
                "event": event,
            }
        )
    return _survival(
        "time to progression from the treatment start (progression dated when its criteria "
        "were first met; deaths without progression censored)",
        rows,
        excluded,
    )


def _duration_of_response(subjects: Sequence[_Subject]) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    for s in subjects:
        why = s.exclusion()
        duration = (
            duration_of_response(s.h, s.evaluations, s.params, s.progressions)
            if why is None
            else None
        )
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
        timeline = s.h.timeline
        for arm, regimens in arms.items():
            if s.h.first_dose("anakinra") is not None and timeline.entered(regimens):
                exposed[arm].append(s.subject_id)
        for ae_id in sorted(s.h.adverse_events):
            ae = s.h.adverse_events[ae_id]
            regimen = _onset_regimen(timeline, ae.onset)
            onset_arm = next((a for a, r in arms.items() if regimen in r), None)
            term = ae.report.term
            if onset_arm is None:
                excluded.append(
                    {
                        "subject_id": s.subject_id,
                        "ae_id": ae_id,
                        "term": term,
                        "reason": f"onset {ae.onset} while {regimen} (no study drug)",
                    }
                )
                continue
            per_term = worst[onset_arm].setdefault(term, {})
            per_term[s.subject_id] = max(per_term.get(s.subject_id, 0), ae.worst_grade)
            events[onset_arm][term] = events[onset_arm].get(term, 0) + 1
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
            "regimens": sorted(r.value for r in regimens),
            "exposed_subjects": len(exposed[arm]),
            "exposed_subject_ids": exposed[arm],
            "terms": terms,
        }
    result["excluded"] = excluded
    return result


def _onset_regimen(timeline: Timeline, onset: date) -> Regimen:
    """The regimen an AE is attributed to: the one in force on its onset date, or, when study
    treatment ended or participation ended that very day, the treatment given until then (an
    AE on the day the drug was stopped, or on the day of death, counts with the treatment)."""
    regimen = timeline.regimen_on(onset)
    if regimen in ON_TREATMENT:
        return regimen
    before = timeline.regimen_on(onset - timedelta(days=1))
    started_today = any(p.starts_on == onset for p in timeline.periods)
    return before if before in ON_TREATMENT and started_today else regimen


def trial_summary(histories: Sequence[SubjectHistory], position: int) -> dict[str, Any]:
    """The documented ``summary`` JSON."""
    subjects = [_Subject(h) for h in sorted(histories, key=lambda h: h.subject_id)]
    treated = [s.subject_id for s in subjects if s.exclusion() is None]
    return {
        "trial_id": "NCT00635154",
        "position": position,
        "populations": {
            "screened": len(subjects),
            "enrolled": sum(1 for s in subjects if s.h.enrolment is not None),
            "treated": len(treated),
            "treated_subject_ids": treated,
            "not_treated": [
                {"subject_id": s.subject_id, "reason": why}
                for s in subjects
                if (why := s.exclusion()) is not None
            ],
        },
        "primary_response_rate": _primary(subjects),
        "low_dose_dexamethasone_response_rate": _course(subjects, *COURSES["low_dose"]),
        "high_dose_dexamethasone_response_rate": _course(subjects, *COURSES["high_dose"]),
        "progression_free_at_6_months": _progression_free(subjects),
        "time_to_progression": _time_to_progression(subjects),
        "duration_of_response": _duration_of_response(subjects),
        "adverse_events": _adverse_events(subjects),
    }
