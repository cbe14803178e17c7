"""shufflenet_ascend.metrics: the Wilson interval from its definition, the guide's 1-point rule, the tie orders of
the single top-k."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from shufflenet_ascend import metrics
from shufflenet_ascend.metrics import meets_accuracy_rule, top_k


def wilson_by_bisection(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson interval from its definition: every p0 with |p - p0| <= z * sqrt(p0 (1 - p0) / n)."""
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / trials

    def inside(p0: float) -> bool:
        return abs(p - p0) <= z * math.sqrt(p0 * (1 - p0) / trials)

    def edge(outside: float, within: float) -> float:
        for _ in range(200):
            middle = (outside + within) / 2
            outside, within = (outside, middle) if inside(middle) else (middle, within)
        return within

    return edge(0.0, p) if successes else 0.0, edge(1.0, p) if successes < trials else 1.0


@pytest.mark.parametrize(
    "successes, trials", [(37030, 50000), (45835, 50000), (148, 200), (0, 40), (40, 40), (1, 3), (23, 160)]
)
def test_wilson_interval_matches_its_definition(successes, trials):
    low, high = metrics.wilson_interval(successes / trials, trials)
    expected_low, expected_high = wilson_by_bisection(successes, trials)
    assert low == pytest.approx(expected_low, abs=1e-12) and high == pytest.approx(expected_high, abs=1e-12)
    assert 0 <= low <= successes / trials <= high <= 1


def test_wilson_interval_textbook_values():
    # Worked by hand with z = 1.96: 74% of 200: centre (0.74 + 0.0096) / 1.0192 = 0.7355, half-width
    # 1.9231 * sqrt(0.000962 + 0.000024) = 0.0604 -> 67.51 .. 79.59. 74.06% of 50,000: +-0.38 points.
    low, high = metrics.wilson_interval(0.7406, 50000)
    assert (round(100 * low, 2), round(100 * high, 2)) == (73.67, 74.44)
    low, high = metrics.wilson_interval(0.74, 200)
    assert (round(100 * low, 2), round(100 * high, 2)) == (67.51, 79.59)
    with pytest.raises(ValueError):
        metrics.wilson_interval(0.5, 0)


def test_accuracy_rule_is_one_point_below_the_reference():
    assert meets_accuracy_rule((74.06, 91.67))
    assert meets_accuracy_rule((73.1, 90.7))  # exactly 1 point below still passes
    assert not meets_accuracy_rule((73.09, 91.7))
    assert not meets_accuracy_rule((74.1, 90.69))
    assert meets_accuracy_rule((80.0, 95.0))


def test_top_k_argsort_ties_are_numpys_default_order_and_stable_ties_class_order():
    """ties="argsort" is the guide's np.argsort(-row) ranking row by row, ties included; "stable" the class order."""
    rng = np.random.default_rng(5)
    scores = rng.integers(-2, 3, size=(400, 1000)).astype(np.float32)  # ties everywhere
    scores[:100] = rng.normal(size=(100, 1000)).astype(np.float32)  # and rows without a tie
    guide = np.array([np.argsort(-row)[:5] for row in scores])
    assert np.array_equal(top_k(scores, 5, ties="argsort"), guide)
    assert np.array_equal(top_k(scores, 5), np.argsort(-scores, axis=1, kind="stable")[:, :5])
    assert np.array_equal(top_k(scores[:100], 5), guide[:100])  # without ties the two orders agree
    with pytest.raises(ValueError, match="ties must be one of"):
        top_k(scores, 5, ties="random")
