"""Time-to-event objectives: progression-free at 6 months, time to progression, duration of
response (Kaplan-Meier estimates from :mod:`projections.statistics`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from projections.objectives.population import Subject, rate
from projections.report import duration_of_response
from projections.statistics import kaplan_meier

DAYS_PER_MONTH = 365.25 / 12


def progression_free(subjects: Sequence[Subject]) -> dict[str, Any]:
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
    found = rate(k, len(counted))
    return {
        "description": "proportion progression-free at the end of month 6",
        "n": found["n"],
        "progression_free": k,
        "proportion": found["rate"],
        "ci95": found["ci95"],
        "ci_method": found["ci_method"],
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


def time_to_progression(subjects: Sequence[Subject]) -> dict[str, Any]:
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


def response_duration(subjects: Sequence[Subject]) -> dict[str, Any]:
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
