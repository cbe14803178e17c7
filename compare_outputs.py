"""How far one inference path's outputs are from another's, image by image (precision: beyond the guide's steps).

    python compare_outputs.py result/reference/ result/dumpOutput_device0/ --labels val_label.txt --json cmp.json

The comparison is ``shufflenet_ascend.comparison``; its figures are ``shufflenet_ascend.metrics``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from shufflenet_ascend.bounds import LIST_LENGTH, PERCENT, WORKERS
from shufflenet_ascend.cli import (
    add_json_flag,
    add_min_cosine_flag,
    add_verbose_flag,
    add_workers_flag,
    make_parser,
    run_cli,
    setup_logging,
)
from shufflenet_ascend.comparison import (
    DEFAULT_MIN_COSINE,
    DEFAULT_WORST,
    apply_thresholds,
    compare_folders,
    format_json,
    format_summary,
)
from shufflenet_ascend.fileio import atomic_write_text, check_output_file, write_errors_named
from shufflenet_ascend.keys import name_some
from shufflenet_ascend.safe_outputs import refuse_unsafe_outputs

LOG = logging.getLogger(Path(__file__).stem)

DESCRIPTION = """\
How far one inference path's outputs are from another's, image by image (precision: beyond the guide's steps).

Both arguments are dump folders in any of the formats every inference path here writes: the benchmark tool's
<key>_1.txt or .bin (also benchmark_ort.py's, the stand-in and the PyTorch reference) and ais_bench's <key>_0.txt,
.bin or .npy. Outputs are paired by image key, and the figures are computed in float64:

    python compare_outputs.py result/reference/ result/onnx_bs1/
    python compare_outputs.py result/onnx_bs1/ result/dumpOutput_device0/ --labels val_label.txt

- images paired, and the images only in one folder (how many, and the first few names);
- cosine similarity of each image's two output vectors: the minimum, the mean, the 1st percentile (numpy's
  linear interpolation) and the median over the images;
- max absolute error: the largest |reference - candidate| over all values of all images;
- max relative error: per image max |reference - candidate| / max |reference|, then the worst image's;
- top-1 agreement: % of images whose highest score is the same class on both sides (the first one on a tie);
- top-5 set agreement: % of images whose five highest classes are the same set (order ignored; ties broken by
  class index, as a stable sort does);
- the images whose top-1 class differs: all of them in the JSON (top1_differences: both classes, their ImageNet
  names, each side's top-1 score and its score of the other's class), the first 10 printed;
- the --worst N images by cosine (default 10), with both top-1 classes and names;
- with --labels val_label.txt: each side's top-1 and top-5 accuracy over the paired images and the top-1 flips
  (reference right and candidate wrong, and the reverse). 1001 outputs: class 0 is the background.

--min-cosine C (default 0.99, the usual acceptance bar of an fp16 deployment) applies to the minimum cosine: every
image must reach it. --min-top1-agreement P (percent) is checked when given. A missed threshold prints a FAIL line
naming the figure and exits with status 1. A comparison that covers only part of the reference (images of the
reference without a candidate output) fails the same way ("partial: covers N of the reference's M images"), and so
does a partial reference (images of the candidate without a reference output: "partial reference: N of the
candidate's M images have no reference output"), unless --allow-partial accepts it. --min-cosine must be -1..1 and
--min-top1-agreement 0..100 (nan or 2 are refused, exit 2: a threshold that nothing can miss is no check). --json
FILE writes every figure for machines (atomically; a full disk is one line and exit status 3); it may not be an
input (the label file) or lie inside a dump folder. Bad input (a folder without outputs, no
common image, outputs of different lengths, NaN or infinite values, a dump of two lines) is one line on stderr and
exit status 2.

The files are read by several processes at once (--workers, default: every core); text dumps in the two forms the
tools write (the benchmark tool's "%.8e", ais_bench's "%f") are parsed with array operations, many files at a
time, into exactly the float32 values the one-file reader gives (the accuracy step's parser: its rate on
50,000 text dumps is in docs/development.md)."""


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(DESCRIPTION)
    parser.add_argument(
        "reference",
        type=Path,
        metavar="REFERENCE_DUMP",
        help="dump folder of the reference (e.g. the PyTorch reference or the ONNX stand-in)",
    )
    parser.add_argument(
        "candidate",
        type=Path,
        metavar="CANDIDATE_DUMP",
        help="dump folder compared with it (e.g. the OM's result/dumpOutput_device0/)",
    )
    parser.add_argument(
        "--labels",
        type=Path,
        metavar="FILE",
        help="the label file (val_label.txt): also each side's top-1/top-5 accuracy and the top-1 flips",
    )
    parser.add_argument(
        "--worst",
        type=LIST_LENGTH.arg(),
        default=DEFAULT_WORST,
        metavar="N",
        help="list the N images of lowest cosine (default: %(default)s)",
    )
    add_min_cosine_flag(parser, DEFAULT_MIN_COSINE, "an image's")
    parser.add_argument(
        "--min-top1-agreement",
        type=PERCENT.arg(),
        metavar="P",
        help="exit 1 when fewer than P %% (0..100) of the images have the same top-1 class",
    )
    parser.add_argument(
        "--allow-partial",
        action="store_true",
        help="accept a comparison that covers only part of the reference's images, or a reference that lacks some "
        "of the candidate's (exit 0 when the thresholds hold; the verdict still says PARTIAL)",
    )
    add_json_flag(parser)
    add_workers_flag(parser, 0, "processes reading the files")
    parser.add_argument(  # the older name of --workers
        "--jobs", type=WORKERS.arg(), dest="workers", help=argparse.SUPPRESS
    )
    add_verbose_flag(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    refuse_unsafe_outputs([] if args.json is None else [args.json], [args.reference, args.candidate, args.labels])
    if args.json is not None:
        check_output_file(args.json)

    result = compare_folders(args.reference, args.candidate, args.worst, args.labels, args.workers)
    for side in ("reference", "candidate"):
        only = result[f"only_in_{side}"]
        if only["count"]:
            LOG.warning(
                "warning: %d images are only in the %s folder %s: %s",
                only["count"],
                side,
                getattr(args, side),
                name_some(only["keys"]),
            )
    apply_thresholds(result, args.min_cosine, args.min_top1_agreement, args.allow_partial)
    if args.json is not None:
        with write_errors_named(args.json, "comparison JSON"):
            atomic_write_text(args.json, format_json(result))
        LOG.info("wrote %s", args.json)
    sys.stdout.write(format_summary(result))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    run_cli(main)
