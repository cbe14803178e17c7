"""Compare measured top-1/top-5 accuracy with the published figures (the guide's step 6.3).

Reads the accuracy JSON files written by imagenet_acc_eval.py (one per batch size, e.g. result_bs1.json) and
prints them beside the guide's published accuracy: 74.06 / 91.67 for the OM model, 74.1 / 91.7 for the
open-source checkpoint. The guide's rule: the offline model passes when neither figure is more than 1 point
below the open-source reference.

    python compare_accuracy.py result_bs1.json result_bs16.json
    python compare_accuracy.py --random-weights result_bs*.json     # report only: the rule cannot apply

Exit status: 0 all pass (or --random-weights), 1 a file misses the rule, 2 a file is missing or not an accuracy JSON.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Sequence

from ascend_io import (
    ACCURACY_TOLERANCE_POINTS,
    PUBLISHED_OM_ACCURACY,
    PUBLISHED_OPEN_SOURCE_ACCURACY,
    AccuracyResult,
    PipelineError,
    meets_accuracy_rule,
    read_accuracy_json,
    run_cli,
)

_BATCH_IN_NAME = re.compile(r"_bs(\d+)\b")


def row_label(path: Path) -> str:
    """``result_bs16.json`` -> ``bs16``; other names stand for themselves."""
    match = _BATCH_IN_NAME.search(path.stem)
    return f"bs{match[1]}" if match else path.name


def format_table(
    results: Sequence[tuple[str, AccuracyResult]],
    reference: Sequence[float],
    tolerance: float,
    apply_rule: bool,
) -> tuple[str, bool]:
    """The comparison table as text, and whether every row meets the rule."""
    header = f"{'model':<16} {'images':>7} {'top-1 %':>8} {'top-5 %':>8} {'d top-1':>8} {'d top-5':>8}  verdict"
    lines = [header, "-" * len(header)]
    all_pass = True
    for label, result in results:
        if len(result.top_k_percent) < 5:
            raise PipelineError(f"{label}: accuracy file has only top-{len(result.top_k_percent)}, needs top-5")
        measured = (result.top_k_percent[0], result.top_k_percent[4])
        passed = meets_accuracy_rule(measured, reference, tolerance)
        all_pass &= passed
        if not apply_rule:
            verdict = "not checked (random weights)"
        else:
            verdict = "PASS" if passed else f"FAIL (more than {tolerance:g} point below)"
        lines.append(
            f"{label:<16} {result.images:>7} {measured[0]:>8.2f} {measured[1]:>8.2f} "
            f"{measured[0] - reference[0]:>+8.2f} {measured[1] - reference[1]:>+8.2f}  {verdict}"
        )
    lines.append(
        f"{'published OM':<16} {50000:>7} {PUBLISHED_OM_ACCURACY[0]:>8.2f} {PUBLISHED_OM_ACCURACY[1]:>8.2f}"
    )
    lines.append(
        f"{'open source':<16} {50000:>7} {PUBLISHED_OPEN_SOURCE_ACCURACY[0]:>8.2f} "
        f"{PUBLISHED_OPEN_SOURCE_ACCURACY[1]:>8.2f}  (reference of the rule: d = measured - reference)"
    )
    return "\n".join(lines) + "\n", all_pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("accuracy_files", nargs="+", type=Path, metavar="JSON",
                        help="accuracy files written by imagenet_acc_eval.py")
    parser.add_argument("--reference", nargs=2, type=float, metavar=("TOP1", "TOP5"),
                        default=PUBLISHED_OPEN_SOURCE_ACCURACY,
                        help="reference accuracy in %% (default: the open-source figures %(default)s)")
    parser.add_argument("--tolerance", type=float, default=ACCURACY_TOLERANCE_POINTS,
                        help="largest allowed drop below the reference, in points (default: %(default)s)")
    parser.add_argument("--random-weights", action="store_true",
                        help="the model ran on random weights: print the table, do not apply the rule")
    args = parser.parse_args(argv)

    results = [(row_label(path), read_accuracy_json(path)) for path in args.accuracy_files]
    table, all_pass = format_table(results, args.reference, args.tolerance, apply_rule=not args.random_weights)
    sys.stdout.write(table)
    if args.random_weights:
        sys.stdout.write("Random weights: chance-level accuracy is expected; these figures say nothing about the model.\n")
        return 0
    return 0 if all_pass else 1


if __name__ == "__main__":
    run_cli(main)
