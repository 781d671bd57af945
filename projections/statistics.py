"""Exact binomial intervals and Kaplan-Meier estimates, in plain Python (no SciPy).

Clopper-Pearson (Clopper & Pearson, Biometrika 1934;26:404): the exact two-sided
``1 - alpha`` interval for k successes in n trials is ``[B(alpha/2; k, n-k+1),
B(1-alpha/2; k+1, n-k)]`` with ``B(q; a, b)`` the q-quantile of the Beta(a, b) distribution
(lower limit 0 when k = 0, upper 1 when k = n). The quantile is found by bisection on the
regularised incomplete beta function ``I_x(a, b)``, evaluated by its continued fraction
(modified Lentz; Numerical Recipes 3rd ed., section 6.4) to ~1e-14.

Kaplan-Meier (product limit) with Greenwood's variance. Pointwise intervals on the
complementary log-log scale by default (``log-log``: ``S^exp(+-z * se / |log S|)``, se the
Greenwood standard error of ``log S``; SAS's default) or on the log scale (``log``:
``S * exp(+-z * se)`` capped at 1; R survfit's default). The median is the first time the
curve reaches 0.5 or below (the midpoint to the next event time when it equals 0.5 exactly,
as R does); its confidence interval is Brookmeyer & Crowley (Biometrics 1982;38:29) as
computed by inverting the pointwise intervals (as R's survfit does): the lower limit is the
first time the lower curve is <= 0.5, the upper limit the first time the upper curve is
<= 0.5 (None: not reached). Times are whole days.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Z_95 = 1.959963984540054
_EPS = 1e-15
_TINY = 1e-300


def _beta_cf(x: float, a: float, b: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def regularized_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b), the Beta(a, b) distribution function at x (a, b > 0)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_cf(x, a, b) / a
    return 1.0 - front * _beta_cf(1.0 - x, b, a) / b


def beta_quantile(q: float, a: float, b: float) -> float:
    """The x with I_x(a, b) = q, by bisection (to 1e-13)."""
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if regularized_beta(mid, a, b) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13:
            break
    return (lo + hi) / 2.0


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact two-sided interval for a proportion k/n; (0.0, 1.0) when n = 0."""
    if not 0 <= k <= n:
        raise ValueError(f"k={k} successes out of n={n} trials is impossible")
    if n == 0:
        return 0.0, 1.0
    alpha = 1.0 - confidence
    lower = 0.0 if k == 0 else beta_quantile(alpha / 2.0, k, n - k + 1)
    upper = 1.0 if k == n else beta_quantile(1.0 - alpha / 2.0, k + 1, n - k)
    return lower, upper


@dataclass(frozen=True)
class KMStep:
    time: int
    at_risk: int
    events: int
    censored: int
    survival: float
    lower: float
    upper: float


@dataclass(frozen=True)
class KaplanMeier:
    steps: tuple[KMStep, ...]
    n: int
    events: int
    median: float | None
    median_lower: float | None
    median_upper: float | None
    method: str

    def survival_at(self, time: int) -> float:
        s = 1.0
        for step in self.steps:
            if step.time > time:
                break
            s = step.survival
        return s

    def to_json(self, digits: int = 4) -> dict[str, Any]:
        return {
            "n": self.n,
            "events": self.events,
            "censored": self.n - self.events,
            "median": self.median,
            "median_ci95": [self.median_lower, self.median_upper],
            "method": self.method,
            "curve": [
                {
                    "time": s.time,
                    "at_risk": s.at_risk,
                    "events": s.events,
                    "censored": s.censored,
                    "survival": round(s.survival, digits),
                    "lower": round(s.lower, digits),
                    "upper": None if math.isnan(s.upper) else round(s.upper, digits),
                }
                for s in self.steps
            ],
        }


def _interval(s: float, greenwood: float, transform: str) -> tuple[float, float]:
    if s <= 0.0:  # Greenwood's variance is infinite: no upper limit (R gives NA)
        return 0.0, math.nan
    se = math.sqrt(greenwood)
    if transform == "log":
        return s * math.exp(-Z_95 * se), min(1.0, s * math.exp(Z_95 * se))
    if s >= 1.0 or se == 0.0:
        return s, s
    se2 = se / abs(math.log(s))
    return s ** math.exp(Z_95 * se2), s ** math.exp(-Z_95 * se2)


def _first_at_or_below(points: Sequence[tuple[int, float]], level: float) -> float | None:
    """First time the curve is <= level; the midpoint to the next time if exactly level."""
    for i, (time, value) in enumerate(points):
        if not math.isnan(value) and value <= level + 1e-12:
            if abs(value - level) <= 1e-12 and i + 1 < len(points):
                return (time + points[i + 1][0]) / 2.0
            return float(time)
    return None


def kaplan_meier(data: Sequence[tuple[int, bool]], transform: str = "log-log") -> KaplanMeier:
    """Product-limit estimate of (time, event) pairs; ``transform`` "log-log" or "log"."""
    if transform not in ("log-log", "log"):
        raise ValueError(f"transform {transform!r}: expected 'log-log' or 'log'")
    times = sorted({t for t, _ in data})
    at_risk = len(data)
    s, greenwood = 1.0, 0.0
    steps: list[KMStep] = []
    for t in times:
        d = sum(1 for time, event in data if time == t and event)
        c = sum(1 for time, event in data if time == t and not event)
        if d:
            s *= 1.0 - d / at_risk
            if at_risk > d:
                greenwood += d / (at_risk * (at_risk - d))
        lower, upper = _interval(s, greenwood, transform)
        steps.append(KMStep(t, at_risk, d, c, s, lower, upper))
        at_risk -= d + c
    event_steps = [st for st in steps if st.events]
    method = (
        "Kaplan-Meier; Greenwood variance; median CI by Brookmeyer-Crowley, "
        f"{transform} transformed pointwise 95% intervals"
    )
    return KaplanMeier(
        steps=tuple(steps),
        n=len(data),
        events=sum(st.events for st in steps),
        median=_first_at_or_below([(st.time, st.survival) for st in event_steps], 0.5),
        median_lower=_first_at_or_below([(st.time, st.lower) for st in event_steps], 0.5),
        median_upper=_first_at_or_below([(st.time, st.upper) for st in event_steps], 0.5),
        method=method,
    )
