"""Compare measured top-1/top-5 accuracy with the published figures (the guide's step 6.3).

    python compare_accuracy.py result_bs1.json result_bs16.json

The table and the rule are ``shufflenet_ascend.accuracy`` and ``shufflenet_ascend.metrics``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from shufflenet_ascend.accuracy import batch_order, format_reference_table, read_results, row_label
from shufflenet_ascend.bounds import PERCENT
from shufflenet_ascend.cli import add_reference_flag, make_parser, run_cli, setup_logging
from shufflenet_ascend.contract import ACCURACY_TOLERANCE_POINTS, PUBLISHED_OPEN_SOURCE_ACCURACY
from shufflenet_ascend.runs import accuracy_run, add_allow_mixed_flag, refuse_mixed

DESCRIPTION = """\
Compare measured top-1/top-5 accuracy with the published figures (the guide's step 6.3).

Reads the accuracy JSON files written by imagenet_acc_eval.py (one per batch size, e.g. result_bs1.json) and prints
them beside the guide's published accuracy: 74.06 / 91.67 for the OM model, 74.1 / 91.7 for the open-source
checkpoint. The guide's rule: the offline model passes when neither figure is more than 1 point below the
open-source reference.

Each figure is shown with its 95% interval (Wilson score interval from the file's number of images): what the
accuracy of the whole population could be, given the images measured. On the full validation set (50,000 images)
the rule is applied to the figures as the guide does. On fewer images a figure a point or two low may be chance:
such a run FAILs only when the whole interval of top-1 or top-5 lies more than the tolerance below the reference;
otherwise it is "consistent on N images (+-x points)", x being the interval's half-width.

    python compare_accuracy.py result_bs1.json result_bs16.json
    python compare_accuracy.py --random-weights result_bs*.json   # a table only: no rule applies

Rows are sorted by batch size. A JSON's accuracy record (result_bs<B>.json.record, written beside it by
imagenet_acc_eval.py) says what it was computed from: a subset of the label file is shown ("subset: N of M
labelled images"), and JSONs of runs of different datasets (other inputs or another label file) or models (other
weights) are refused in one table, one line naming both files (exit status 2), unless --allow-mixed. A JSON without
a record is shown as before.

A file that is missing, not an accuracy JSON, or holds a figure outside 0..100 is exit status 2; a file missing the
rule is exit status 1 (never with --random-weights)."""


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(DESCRIPTION)
    parser.add_argument(
        "accuracy_files", nargs="+", type=Path, metavar="JSON", help="accuracy files written by imagenet_acc_eval.py"
    )
    add_reference_flag(parser, PUBLISHED_OPEN_SOURCE_ACCURACY, "reference accuracy in %%, the open-source figures")
    parser.add_argument(
        "--tolerance",
        type=PERCENT.arg(),
        default=ACCURACY_TOLERANCE_POINTS,
        help="largest allowed drop below the reference, in points, 0..100 (default: %(default)s)",
    )
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="the model ran on random weights: print the table, do not apply the rule",
    )
    add_allow_mixed_flag(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    results = read_results(args.accuracy_files)
    runs = {path: accuracy_run(path) for path in args.accuracy_files}
    notes = refuse_mixed(accuracy=runs, allow_mixed=args.allow_mixed)
    subsets = {
        row_label(path): run.record.subset_text()
        for path, run in sorted(runs.items(), key=lambda item: batch_order(item[0]))
        if run.record is not None and run.record.subset
    }
    table, all_pass = format_reference_table(
        results, args.reference, args.tolerance, apply_rule=not args.random_weights, subsets=subsets
    )
    sys.stdout.write(table)
    for note in notes:
        sys.stdout.write(f"Mixed runs (--allow-mixed): {note}.\n")
    if args.random_weights:
        sys.stdout.write(
            "Random weights: chance-level accuracy is expected; these figures say nothing about the model.\n"
        )
        return 0
    return 0 if all_pass else 1


if __name__ == "__main__":
    run_cli(main)
