"""Kaplan-Meier curves of time to progression and duration of response, as ``summary`` has
them: the subjects and their (days, event) rows are the summary's own
(:func:`projections.objectives.time_to_event.time_to_progression` and
:func:`~projections.objectives.time_to_event.response_duration`) and the estimate is
:func:`projections.statistics.kaplan_meier` of exactly those rows, so every step, the events,
the censored count and the median equal ``summary --json``'s figures. Drawn over months since
the start (treatment start, or the first confirmed response), with a tick at every censored
time and the numbers at risk below the axis every :data:`RISK_EVERY_MONTHS` months.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from ledger.subject.history import SubjectHistory
from projections.objectives import DAYS_PER_MONTH
from projections.objectives.population import Subject
from projections.objectives.time_to_event import response_duration, time_to_progression
from projections.statistics import KaplanMeier, kaplan_meier

ENDPOINTS = ("ttp", "dor")
RISK_EVERY_MONTHS = 6
_ENDPOINT = {
    "ttp": (
        time_to_progression,
        "Time to progression",
        "Treated subjects",
        "Months since the treatment start (a month: 365.25 / 12 days)",
        "Proportion without progression",
    ),
    "dor": (
        response_duration,
        "Duration of response",
        "Subjects with a confirmed response (MR or better)",
        "Months since the first confirmed response (a month: 365.25 / 12 days)",
        "Proportion still in response",
    ),
}


@dataclass(frozen=True)
class KMCurve:
    """One endpoint's estimate and what the picture shows of it."""

    endpoint: str
    title: str
    population: str
    x_label: str
    y_label: str
    rows: tuple[dict[str, Any], ...]  # the summary's ``counted`` rows (subject, days, event)
    excluded: tuple[dict[str, str], ...]
    estimate: KaplanMeier

    @property
    def n(self) -> int:
        return self.estimate.n

    @property
    def events(self) -> int:
        return self.estimate.events

    @property
    def censored(self) -> int:
        return self.estimate.n - self.estimate.events

    @property
    def median(self) -> float | None:
        return self.estimate.median

    def steps(self) -> list[tuple[int, float]]:
        """(day, survival from that day on), starting at (0, 1.0) (then the drop of any event
        on day 0)."""
        steps = self.estimate.steps
        found = [(s.time, s.survival) for s in steps]
        starts = bool(steps) and steps[0].time == 0 and steps[0].events == 0
        return found if starts else [(0, 1.0), *found]

    def censor_times(self) -> list[int]:
        """Every censored observation's day (a day repeated for each censored there)."""
        return [s.time for s in self.estimate.steps for _ in range(s.censored)]

    def risk_days(self) -> list[int]:
        """The days of the numbers-at-risk table: every 6 months up to the longest follow-up."""
        longest = max((int(r["days"]) for r in self.rows), default=0)
        count = math.floor(longest / (RISK_EVERY_MONTHS * DAYS_PER_MONTH)) + 1
        return [round(k * RISK_EVERY_MONTHS * DAYS_PER_MONTH) for k in range(count)]

    def at_risk(self, day: int) -> int:
        """Subjects still followed, without the event, at ``day`` (time >= day)."""
        return sum(1 for r in self.rows if int(r["days"]) >= day)

    def figures(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "n": self.n,
            "events": self.events,
            "censored": self.censored,
            "median_days": self.median,
            "median_months": None
            if self.median is None
            else round(self.median / DAYS_PER_MONTH, 1),
            "steps": [{"day": d, "survival": round(s, 4)} for d, s in self.steps()],
            "censored_days": self.censor_times(),
            "at_risk": [{"day": d, "at_risk": self.at_risk(d)} for d in self.risk_days()],
        }


def km_of(histories: Iterable[SubjectHistory], endpoint: str) -> KMCurve:
    if endpoint not in _ENDPOINT:
        raise ValueError(f"endpoint {endpoint!r}: expected one of {', '.join(ENDPOINTS)}")
    fold, title, population, x_label, y_label = _ENDPOINT[endpoint]
    subjects = [Subject(h) for h in sorted(histories, key=lambda h: h.subject_id)]
    found = fold(subjects)
    rows = tuple(found["counted"])
    estimate = kaplan_meier([(r["days"], r["event"]) for r in rows])
    word = "progressed" if endpoint == "ttp" else "progressed after responding"
    return KMCurve(
        endpoint=endpoint,
        title=title,
        population=(
            f"{population}, n={estimate.n} ({estimate.events} {word}, "
            f"{estimate.n - estimate.events} censored)"
        ),
        x_label=x_label,
        y_label=y_label,
        rows=rows,
        excluded=tuple(found["excluded"]),
        estimate=estimate,
    )


def draw_km(figure: Figure, curve: KMCurve) -> None:
    ax = figure.add_axes((0.11, 0.27, 0.85, 0.61))
    steps = curve.steps()
    xs = [d / DAYS_PER_MONTH for d, _ in steps]
    ys = [s for _, s in steps]
    longest = max([0, *(int(r["days"]) for r in curve.rows)]) / DAYS_PER_MONTH
    ax.step([*xs, longest], [*ys, ys[-1]], where="post", color="#4c72b0", lw=1.8)
    censored = curve.censor_times()
    ax.plot(
        [d / DAYS_PER_MONTH for d in censored],
        [curve.estimate.survival_at(d) for d in censored],
        ls="none",
        marker="|",
        ms=9,
        mew=1.2,
        color="#4c72b0",
        label="censored",
    )
    if curve.median is not None:
        m = curve.median / DAYS_PER_MONTH
        ax.plot([0, m, m], [0.5, 0.5, 0], color="#888888", ls=":", lw=1)
        ax.text(m, 0.02, f" median {m:.1f} months", fontsize=8)
    else:
        ax.text(0.99, 0.02, "median not reached", fontsize=8, ha="right", transform=ax.transAxes)
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlim(0, max(longest, 1.0) * 1.02)
    ax.set_xlabel(curve.x_label)
    ax.set_ylabel(curve.y_label)
    ax.grid(color="#eeeeee")
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    days = curve.risk_days()
    ax.set_xticks([d / DAYS_PER_MONTH for d in days], [f"{d / DAYS_PER_MONTH:.0f}" for d in days])
    under = blended_transform_factory(ax.transData, ax.transAxes)
    ax.text(
        0,
        -0.15,
        "Number at risk",
        transform=ax.transAxes,
        fontsize=8.5,
        ha="left",
        fontweight="bold",
    )
    for d in days:
        ax.text(
            d / DAYS_PER_MONTH,
            -0.22,
            str(curve.at_risk(d)),
            transform=under,
            ha="center",
            fontsize=8.5,
        )
