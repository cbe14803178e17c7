"""Compare measured top-1/top-5 accuracy with the published figures (the guide's step 6.3).

Reads the accuracy JSON files written by imagenet_acc_eval.py (one per batch size, e.g. result_bs1.json) and
prints them beside the guide's published accuracy: 74.06 / 91.67 for the OM model, 74.1 / 91.7 for the
open-source checkpoint. The guide's rule: the offline model passes when neither figure is more than 1 point
below the open-source reference.

Each figure is shown with its 95% interval (Wilson score interval from the file's number of images): what the
accuracy of the whole population could be, given the images measured. On the full validation set (50,000
images) the rule is applied to the figures as the guide does. On fewer images a figure a point or two low may
be chance: such a run FAILs only when the whole interval of top-1 or top-5 lies more than the tolerance below
the reference; otherwise it is "consistent on N images (+-x points)", x being the interval's half-width.

    python compare_accuracy.py result_bs1.json result_bs16.json
    python compare_accuracy.py --random-weights result_bs*.json     # report only: the rule cannot apply

Exit status: 0 all pass or are consistent (or --random-weights), 1 a file misses the rule, 2 a file is missing,
not an accuracy JSON, or holds a figure outside 0..100.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shufflenet_ascend.cli import PipelineError, run_cli
from shufflenet_ascend.contract import (
    ACCURACY_TOLERANCE_POINTS,
    FULL_VALIDATION_IMAGES,
    PUBLISHED_OM_ACCURACY,
    PUBLISHED_OPEN_SOURCE_ACCURACY,
)
from shufflenet_ascend.formats.accuracy_json import AccuracyResult, read_accuracy_json
from shufflenet_ascend.metrics import meets_accuracy_rule, wilson_interval

_BATCH_IN_NAME = re.compile(r"_bs(\d+)\b")
_EPSILON = 1e-9  # the figures are printed with 2 decimals: a drop of exactly 1.00 point is within the rule


def row_label(path: Path) -> str:
    """``result_bs16.json`` -> ``bs16``; other names stand for themselves."""
    match = _BATCH_IN_NAME.search(path.stem)
    return f"bs{match[1]}" if match else path.name


def interval_points(percent: float, images: int) -> tuple[float, float]:
    """95% Wilson interval of an accuracy figure, in percent."""
    low, high = wilson_interval(percent / 100.0, images)
    return 100.0 * low, 100.0 * high


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


def format_table(
    results: Sequence[tuple[str, AccuracyResult]],
    reference: Sequence[float],
    tolerance: float,
    apply_rule: bool,
) -> tuple[str, bool]:
    """The comparison table as text, and whether every row meets the rule."""
    header = (
        f"{'model':<16} {'images':>7} {'top-1 %':>8} {'95% interval':>16} {'top-5 %':>8} "
        f"{'95% interval':>16} {'d top-1':>8} {'d top-5':>8}  verdict"
    )
    lines = [header, "-" * len(header)]
    all_pass = True
    for label, result in results:
        if len(result.top_k_percent) < 5:
            raise PipelineError(f"{label}: accuracy file has only top-{len(result.top_k_percent)}, needs top-5")
        measured = (result.top_k_percent[0], result.top_k_percent[4])
        verdict = judge(measured, result.images, reference, tolerance)
        all_pass &= verdict.passed
        text = verdict.text if apply_rule else "not checked (random weights)"
        intervals = ["[{:.2f}, {:.2f}]".format(*interval_points(value, result.images)) for value in measured]
        lines.append(
            f"{label:<16} {result.images:>7} {measured[0]:>8.2f} {intervals[0]:>16} {measured[1]:>8.2f} "
            f"{intervals[1]:>16} {measured[0] - reference[0]:>+8.2f} {measured[1] - reference[1]:>+8.2f}  {text}"
        )
    for name, figures, note in (
        ("published OM", PUBLISHED_OM_ACCURACY, ""),
        ("open source", PUBLISHED_OPEN_SOURCE_ACCURACY, "  (reference of the rule: d = measured - reference)"),
    ):
        intervals = ["[{:.2f}, {:.2f}]".format(*interval_points(value, FULL_VALIDATION_IMAGES)) for value in figures]
        lines.append(
            f"{name:<16} {FULL_VALIDATION_IMAGES:>7} {figures[0]:>8.2f} {intervals[0]:>16} "
            f"{figures[1]:>8.2f} {intervals[1]:>16}{note}".rstrip()
        )
    return "\n".join(lines) + "\n", all_pass


def read_results(paths: Sequence[Path]) -> list[tuple[str, AccuracyResult]]:
    results = []
    for path in paths:
        result = read_accuracy_json(path)
        if len(result.top_k_percent) < 5:
            raise PipelineError(f"{path}: accuracy file has only top-{len(result.top_k_percent)}, needs top-5")
        results.append((row_label(path), result))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "accuracy_files", nargs="+", type=Path, metavar="JSON", help="accuracy files written by imagenet_acc_eval.py"
    )
    parser.add_argument(
        "--reference",
        nargs=2,
        type=float,
        metavar=("TOP1", "TOP5"),
        default=PUBLISHED_OPEN_SOURCE_ACCURACY,
        help="reference accuracy in %% (default: the open-source figures %(default)s)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=ACCURACY_TOLERANCE_POINTS,
        help="largest allowed drop below the reference, in points (default: %(default)s)",
    )
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="the model ran on random weights: print the table, do not apply the rule",
    )
    args = parser.parse_args(argv)

    results = read_results(args.accuracy_files)
    table, all_pass = format_table(results, args.reference, args.tolerance, apply_rule=not args.random_weights)
    sys.stdout.write(table)
    if args.random_weights:
        sys.stdout.write(
            "Random weights: chance-level accuracy is expected; these figures say nothing about the model.\n"
        )
        return 0
    return 0 if all_pass else 1


if __name__ == "__main__":
    run_cli(main)
