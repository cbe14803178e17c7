"""The figures the pipeline computes from outputs: the single top-k, the distance between two outputs, confidence
intervals, and the guide's accuracy rule and verdict."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shufflenet_ascend.contract import (
    ACCURACY_TOLERANCE_POINTS,
    FULL_VALIDATION_IMAGES,
    PUBLISHED_OPEN_SOURCE_ACCURACY,
)

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


TIE_ORDERS = ("stable", "argsort")


def top_k(scores: np.ndarray, k: int = 5, ties: str = "stable") -> np.ndarray:
    """The k highest classes of each row of ``scores`` (..., classes), highest first.

    Equal scores, ``ties``:
    - ``"stable"`` (the project's rule): in class order, the lower class first; the first k of a stable
      ``argsort(-scores)``, found without sorting whole rows (a partition, then a sort of k values): 50,000 rows of
      1,000 classes take a fraction of a full sort's time.
    - ``"argsort"``: in the order of numpy's default ``np.argsort(-scores)`` on the same dtype, the ranking of the
      guide's imagenet_acc_eval.py, so that the accuracy JSON is the guide's to the byte even on tied outputs. That
      order is no rule: numpy's introsort or the SIMD sort it picks for the CPU decides it. Ties can change top-k
      counts (a label tied with the k-th score is counted or not by the order), so they cannot be ignored; only the
      rows where a tie touches the k+1 highest scores are sorted whole, the others are the same in both orders.
    """
    if ties not in TIE_ORDERS:
        raise ValueError(f"ties must be one of {TIE_ORDERS}, got {ties!r}")
    scores = np.asarray(scores)
    shape = scores.shape
    scores = scores.reshape(-1, shape[-1])
    classes = scores.shape[1]
    if ties == "argsort":
        if k >= classes:
            return np.argsort(-scores, axis=1)[:, :k].reshape(*shape[:-1], -1)
        top = _stable_top_k(scores, k + 1)
        ranked = np.take_along_axis(scores, top, axis=1)
        tied = np.flatnonzero((ranked[:, :-1] == ranked[:, 1:]).any(axis=1))
        top = top[:, :k]
        if tied.size:
            top[tied] = np.argsort(-scores[tied], axis=1)[:, :k]
        return top.reshape(*shape[:-1], k)
    return _stable_top_k(scores, k).reshape(*shape[:-1], -1)


def _stable_top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """top_k with stable ties of a 2-D array."""
    rows, classes = scores.shape
    if k >= classes:
        return np.argsort(-scores, axis=1, kind="stable")[:, :k]
    kth = np.partition(scores, classes - k, axis=1)[:, classes - k, None]  # the k-th highest score of each row
    above = scores > kth
    tied = scores == kth
    wanted = k - above.sum(axis=1, keepdims=True)  # how many of the tied scores belong to the top k: the first
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= wanted))
    top = np.nonzero(chosen)[1].reshape(rows, k)  # exactly k per row, in class order
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


# ----------------------------------------------------------------------------------------------------------------
# Two outputs of one image compared (rows of two 2-D arrays, float64)


def cosine_similarity(reference: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """Cosine of each pair of rows, in -1..1; identical rows (two zero vectors too) have cosine 1, a zero vector
    against another vector 0."""
    dot = np.einsum("ij,ij->i", reference, candidate)
    norms = np.sqrt(np.einsum("ij,ij->i", reference, reference) * np.einsum("ij,ij->i", candidate, candidate))
    identical = (reference == candidate).all(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cosine = np.where(norms > 0, dot / norms, 0.0)
    return np.where(identical, 1.0, np.clip(cosine, -1.0, 1.0))


def max_abs_error(reference: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """max |reference - candidate| of each pair of rows."""
    return np.abs(reference - candidate).max(axis=1)


def mean_abs_error(reference: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """mean |reference - candidate| of each pair of rows."""
    return np.abs(reference - candidate).mean(axis=1)


def relative_euclidean_distance(reference: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """||reference - candidate|| / ||reference|| of each pair of rows (msit's RelativeEuclideanDistance): 0 for
    identical rows (also all zeros), inf for a zero reference against another row."""
    distance = np.sqrt(np.einsum("ij,ij->i", reference - candidate, reference - candidate))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = distance / np.sqrt(np.einsum("ij,ij->i", reference, reference))
    return np.where(distance == 0, 0.0, ratio)


def relative_error(max_abs_errors: np.ndarray, reference_max_abs: np.ndarray) -> np.ndarray:
    """Per image max |reference - candidate| / max |reference|: 0 for identical outputs (also all zeros), inf for a
    zero reference against another output."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = max_abs_errors / reference_max_abs
    return np.where(max_abs_errors == 0, 0.0, ratio)


# ----------------------------------------------------------------------------------------------------------------
# The verdict on an accuracy figure


def interval_points(percent: float, images: int) -> tuple[float, float]:
    """95% Wilson interval of an accuracy figure, in percent."""
    low, high = wilson_interval(percent / 100.0, images)
    return 100.0 * low, 100.0 * high


_EPSILON = 1e-9  # the figures are printed with 2 decimals: a drop of exactly 1.00 point is within the rule


@dataclass(frozen=True)
class Verdict:
    passed: bool  # counts toward the exit status
    text: str


def judge(measured: Sequence[float], images: int, reference: Sequence[float], tolerance: float) -> Verdict:
    """The guide's rule on a full run; on a subset, FAIL only when a whole interval is beyond the tolerance."""
    if images >= FULL_VALIDATION_IMAGES:
        if meets_accuracy_rule(measured, reference, tolerance):
            return Verdict(True, "PASS")
        return Verdict(False, f"FAIL (more than {tolerance:g} point below)")
    intervals = [interval_points(value, images) for value in measured]
    if any(ref - high > tolerance + _EPSILON for (_low, high), ref in zip(intervals, reference, strict=False)):
        return Verdict(False, f"FAIL on {images} images (whole 95% interval more than {tolerance:g} point below)")
    halves = " / ".join(f"+-{(high - low) / 2:.2f}" for low, high in intervals)
    return Verdict(True, f"consistent on {images} images ({halves} points)")
