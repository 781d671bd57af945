"""Clopper-Pearson and Kaplan-Meier against exact sums, closed forms and R's survfit."""

from __future__ import annotations

import math
from math import comb

import pytest

from projections.statistics import (
    Z_95,
    beta_quantile,
    clopper_pearson,
    kaplan_meier,
    regularized_beta,
)

AML_MAINTAINED = [(9, 1), (13, 1), (13, 0), (18, 1), (23, 1), (28, 0), (31, 1), (34, 1)]
AML_MAINTAINED += [(45, 0), (48, 1), (161, 0)]
AML_NONMAINTAINED = [(5, 1), (5, 1), (8, 1), (8, 1), (12, 1), (16, 0), (23, 1), (27, 1)]
AML_NONMAINTAINED += [(30, 1), (33, 1), (43, 1), (45, 1)]


def binomial_cdf(k: int, n: int, p: float) -> float:
    return sum(comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def test_three_of_forty_seven_gives_the_exact_interval() -> None:
    lower, upper = clopper_pearson(3, 47)
    assert (round(lower, 4), round(upper, 4)) == (0.0134, 0.1754)


@pytest.mark.parametrize(("k", "n"), [(1, 3), (3, 47), (9, 25), (24, 25), (5, 100)])
def test_interval_limits_solve_the_binomial_tail_equations(k: int, n: int) -> None:
    lower, upper = clopper_pearson(k, n)
    assert 1 - binomial_cdf(k - 1, n, lower) == pytest.approx(0.025, abs=1e-9)
    assert binomial_cdf(k, n, upper) == pytest.approx(0.025, abs=1e-9)


def test_no_or_all_successes_have_closed_form_limits() -> None:
    assert clopper_pearson(0, 10)[0] == 0.0
    assert clopper_pearson(0, 10)[1] == pytest.approx(1 - 0.025 ** (1 / 10))
    assert clopper_pearson(10, 10)[0] == pytest.approx(0.025 ** (1 / 10))
    assert clopper_pearson(10, 10)[1] == 1.0
    assert clopper_pearson(0, 0) == (0.0, 1.0)


def test_impossible_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="impossible"):
        clopper_pearson(4, 3)


def test_regularised_beta_matches_known_values() -> None:
    assert regularized_beta(0.5, 2, 2) == pytest.approx(0.5)
    assert regularized_beta(0.3, 1, 1) == pytest.approx(0.3)
    assert regularized_beta(0.2, 2, 3) == pytest.approx(0.1808)  # 1 - 0.8^4 - 4*0.2*0.8^3
    assert beta_quantile(0.1808, 2, 3) == pytest.approx(0.2, abs=1e-9)


def test_kaplan_meier_median_and_log_interval_match_r_survfit_on_aml() -> None:
    # R: survfit(Surv(time, status) ~ x, data = aml): median 31 (18, NA) and 23 (8, NA)
    maintained = kaplan_meier([(t, bool(e)) for t, e in AML_MAINTAINED], transform="log")
    nonmaintained = kaplan_meier([(t, bool(e)) for t, e in AML_NONMAINTAINED], transform="log")
    assert (maintained.median, maintained.median_lower, maintained.median_upper) == (
        31.0,
        18.0,
        None,
    )
    assert (nonmaintained.median, nonmaintained.median_lower, nonmaintained.median_upper) == (
        23.0,
        8.0,
        None,
    )
    assert maintained.survival_at(31) == pytest.approx(10 / 11 * 9 / 10 * 7 / 8 * 6 / 7 * 4 / 5)


def test_log_log_interval_follows_its_formula() -> None:
    km = kaplan_meier([(t, bool(e)) for t, e in AML_MAINTAINED])
    step = next(s for s in km.steps if s.time == 18)
    greenwood = 1 / (11 * 10) + 1 / (10 * 9) + 1 / (8 * 7)
    se = math.sqrt(greenwood) / abs(math.log(step.survival))
    assert step.lower == pytest.approx(step.survival ** math.exp(Z_95 * se))
    assert step.upper == pytest.approx(step.survival ** math.exp(-Z_95 * se))
    assert km.median_lower is not None
    assert km.median_lower <= 31.0


def test_median_is_the_midpoint_when_the_curve_sits_at_one_half() -> None:
    km = kaplan_meier([(10, True), (20, True), (30, True), (40, True)])
    assert km.median == 25.0  # S = 0.5 from day 20 until the next event on day 30 (as R)
    assert kaplan_meier([(5, False)]).median is None


def test_unknown_transform_is_refused() -> None:
    with pytest.raises(ValueError, match="transform 'arcsine'"):
        kaplan_meier([(1, True)], transform="arcsine")
