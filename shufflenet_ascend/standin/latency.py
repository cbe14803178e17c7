"""Per-batch inference times: their figures (min, mean, median, p90, p99, max) as the tools print them.

The times are kept in milliseconds rounded to 0.1 us (what the run record holds), and every figure is computed
from those rounded values, so that a reader recomputing them from the record gets the very same numbers.
Percentiles: numpy's default (linear interpolation between the closest ranks), as ais_bench computes its
``percentile(99%)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shufflenet_ascend.formats.run_record import LATENCY_KEYS

DECIMALS = 4  # ms: 0.1 us


def times_ms(seconds: Sequence[float]) -> list[float]:
    """Call times in seconds -> milliseconds as recorded."""
    return [round(value * 1000.0, DECIMALS) for value in seconds]


def latency_figures(milliseconds: Sequence[float]) -> dict[str, float] | None:
    """min, mean, median, p90, p99, max (ms) and count of the recorded times; None when no batch was timed."""
    if not milliseconds:
        return None
    values = np.asarray(milliseconds, dtype=np.float64)
    figures = {
        "min": float(values.min()),
        "mean": float(values.mean()),
        "median": float(np.percentile(values, 50)),
        "p90": float(np.percentile(values, 90)),
        "p99": float(np.percentile(values, 99)),
        "max": float(values.max()),
    }
    assert tuple(figures) == LATENCY_KEYS
    return {**{key: round(value, DECIMALS) for key, value in figures.items()}, "count": len(values)}


def ais_bench_figures(milliseconds: Sequence[float]) -> dict[str, float]:
    """The same figures under ais_bench's summary keys (min, max, mean, median, percentile(99%), count)."""
    figures = latency_figures(milliseconds) or dict.fromkeys((*LATENCY_KEYS, "count"), 0)
    return {
        "min": figures["min"],
        "max": figures["max"],
        "mean": figures["mean"],
        "median": figures["median"],
        "percentile(99%)": figures["p99"],
        "count": figures["count"],
    }


def describe_latency(
    figures: dict[str, float] | None, batch_size: int, warmup_rounds: int, streams: int, unit: str = "round"
) -> str:
    """One line for the end of a run: the figures, what was timed and what was not (``unit``: what one warm-up
    counts, a round of batches or, with ais_bench's --warmup_count, an inference)."""
    if figures is None:
        return "latency per batch: no batch was timed"
    warm = (
        f"after {warmup_rounds} untimed warm-up {unit}{'s' if warmup_rounds != 1 else ''}"
        if warmup_rounds
        else ("no warm-up")
    )
    values = ", ".join(f"{key} {figures[key]:.3f}" for key in LATENCY_KEYS)
    return (
        f"latency per batch of {batch_size} (ms, {figures['count']} batches, {streams} in flight at once, {warm}): "
        f"{values}"
    )
