"""The figures the pipeline computes from outputs: confidence intervals and the guide's accuracy rule."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from shufflenet_ascend.contract import ACCURACY_TOLERANCE_POINTS, PUBLISHED_OPEN_SOURCE_ACCURACY

Z_95 = 1.959963984540054  # two-sided 95% quantile of the normal distribution


def wilson_interval(proportion: float, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval (95% by default) of a success proportion (0..1) observed over ``trials``.

    For an accuracy figure: ``wilson_interval(percent / 100, images)`` -> (low, high) as proportions. Unlike the
    normal approximation it stays inside 0..1 and is sensible at 0% and 100% and on a few hundred images.
    """
    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}")
    if not 0.0 <= proportion <= 1.0:
        raise ValueError(f"proportion must lie in 0..1, got {proportion}")
    z2_n = z * z / trials
    centre = (proportion + z2_n / 2) / (1 + z2_n)
    half = z / (1 + z2_n) * math.sqrt(proportion * (1 - proportion) / trials + z2_n / (4 * trials))
    return max(0.0, centre - half), min(1.0, centre + half)


def meets_accuracy_rule(
    measured: Sequence[float],
    reference: Sequence[float] = PUBLISHED_OPEN_SOURCE_ACCURACY,
    tolerance_points: float = ACCURACY_TOLERANCE_POINTS,
) -> bool:
    """The guide's rule: every measured figure (top-1, top-5 in %) at most ``tolerance_points`` below the reference."""
    return all(ref - got <= tolerance_points + 1e-9 for got, ref in zip(measured, reference, strict=True))


def top_k(scores: np.ndarray, k: int = 5) -> np.ndarray:
    """The k highest classes of each row of ``scores`` (..., classes), highest first; equal scores in class order.

    The same as the first k of a stable ``argsort(-scores)``, found without sorting whole rows (a partition, then
    a sort of k values): 50,000 rows of 1,000 classes take a fraction of a full sort's time."""
    scores = np.asarray(scores)
    shape = scores.shape
    scores = scores.reshape(-1, shape[-1])
    rows, classes = scores.shape
    if k >= classes:
        return np.argsort(-scores, axis=1, kind="stable")[:, :k].reshape(*shape[:-1], -1)
    kth = np.partition(scores, classes - k, axis=1)[:, classes - k, None]  # the k-th highest score of each row
    above = scores > kth
    tied = scores == kth
    wanted = k - above.sum(axis=1, keepdims=True)  # how many of the tied scores belong to the top k: the first
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= wanted))
    top = np.nonzero(chosen)[1].reshape(rows, k)  # exactly k per row, in class order
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1).reshape(*shape[:-1], k)
