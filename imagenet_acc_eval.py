"""Top-1..5 accuracy of the offline model's outputs against the ImageNet labels (the guide's step 6.1).

    python imagenet_acc_eval.py result/dumpOutput_device0/ /root/datasets/imagenet/val_label.txt ./ result.json

The scoring is ``shufflenet_ascend.accuracy``; the dumps are read by ``shufflenet_ascend.formats.dump``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from shufflenet_ascend.accuracy import (
    TOP_N,
    OutputFiles,
    evaluate,
    refuse_outputs_among_inputs,
    remove_stale,
    summary,
    write_outputs,
)
from shufflenet_ascend.bounds import PERCENT
from shufflenet_ascend.cli import (
    PipelineError,
    add_verbose_flag,
    add_workers_flag,
    make_parser,
    run_cli,
    setup_logging,
)
from shufflenet_ascend.contract import ACCURACY_TOLERANCE_POINTS
from shufflenet_ascend.fileio import check_output_file
from shufflenet_ascend.keys import name_some
from shufflenet_ascend.metrics import meets_accuracy_rule

LOG = logging.getLogger(Path(__file__).stem)

DESCRIPTION = """\
Top-1..5 accuracy of the offline model's outputs against the ImageNet labels (the guide's step 6.1).

Reads the inference tool's dump folders (the benchmark tool's <key>_1.txt or .bin, ais_bench's <key>_0.txt, .bin or
.npy: one output of 1000 or 1001 scores per image) and the label file ('<file name> <class index>' lines), and
writes the guide's accuracy JSON, key for key and string for string: on a complete run the file is byte-identical
to the one the guide's own imagenet_acc_eval.py writes, ties among scores ranked as its np.argsort(-scores) ranks
them. With 1001 scores, class 0 is the background and the labels are shifted by one.

    python imagenet_acc_eval.py result/dumpOutput_device0/ val_label.txt ./ result.json
    python imagenet_acc_eval.py result/dumpOutput_device{0,1}/ val_label.txt ./ result.json

Several dump folders (one per device of a multi-device run) are scored together as one run; an image with an
output in two folders is an error naming both files. A folder mixing the old tool's _1 and ais_bench's _0 outputs
is refused.

Beyond the guide's script:

- Labelled images with no output (an interrupted run, a lost shard) make the exit status 1, with a line naming how
  many and a few of them, and nothing is written: a JSON (and its predictions, per-class and record files) of the
  same names left by an earlier run is removed, so that no later step takes it as up to date. --allow-missing
  counts them as misses and writes the JSON (exit 0); --ignore-missing leaves them out, as the guide's script does.
- --inputs FILE|FOLDER (the run's info file, or the folder of bins given to ais_bench's --input) says which images
  the run was given: labels of other images are not misses of the model but outside the run. The figures are over
  the dataset's labelled images, and the summary says "subset: N of M labelled images"; an image of the dataset
  without output is still a failure (exit 1), an output of an image that is not in the dataset an error (exit 2).
- --predictions FILE.csv: one row per scored image (key, true class index and name, the five highest classes with
  names and scores, correct@1, correct@5); --per-class FILE.csv: images, top-1 and top-5 per class. Both come from
  the same single read of the outputs as the accuracy, ranked as the JSON ranks them; names are ImageNet-1k's
  (from torchvision, installed). run_all.sh writes them as result_bs<B>_predictions.csv and
  result_bs<B>_per_class.csv beside result_bs<B>.json.
- Beside the JSON, <OUT_JSON>.record (e.g. result_bs1.json.record) says what it was computed from: the JSON's hash,
  the dumps, the label file and its hash, the subset, the predictions and per-class files, and the run records of
  the inference that wrote the dumps (found beside them: result/perf_vision_batchsize_<B>_device_<D>.json, or
  result/<name>_record.json for ais_bench's result/<name>/). compare_accuracy.py and write_report.py read it.
- An output that would overwrite an input (OUT_DIR/OUT_JSON inside a dump folder or the --inputs folder, or the
  label or info file), another output, or a device, FIFO or folder (--predictions /dev/null) is refused before
  anything is read. A folder of preprocessed bins given as DUMP is said to be one. An entry of a dump folder that
  cannot be read (a symbolic link loop) is skipped with a warning naming it: its image counts as without output.
- An output whose key has no label, with NaN or infinite values, with more than one line of values, or with a
  number of values other than 1000 or 1001 (or unlike the other outputs) is an error naming the file (exit status
  2); nothing is written.
- --reference TOP1 TOP5 applies the guide's rule (at most --tolerance points below the published accuracy) and
  exits with status 1 when it fails; the JSON is written either way.

On a complete run, with or without any option above, the JSON is the guide's, byte for byte."""

USAGE = "%(prog)s DUMP [DUMP ...] LABELS OUT_DIR OUT_JSON [options]"


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(DESCRIPTION, usage=USAGE)
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="DUMP ... LABELS OUT_DIR OUT_JSON",
        help="one or more dump folders of the inference tool (e.g. result/dumpOutput_device0/), "
        "the label file ('<file name> <class index>' per line, val_label.txt), the folder to "
        "write the JSON into (must exist) and the JSON's file name (e.g. result.json)",
    )
    parser.add_argument(
        "--reference",
        nargs=2,
        type=PERCENT.arg(),
        metavar=("TOP1", "TOP5"),
        help="published top-1 and top-5 accuracy in %% (0..100): exit 1 when ours is more than --tolerance "
        "points below either (the guide's rule, e.g. --reference 74.1 91.7)",
    )
    parser.add_argument(  # the older name of --reference
        "--compare", nargs=2, type=PERCENT.arg(), dest="reference", help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--tolerance",
        type=PERCENT.arg(),
        default=ACCURACY_TOLERANCE_POINTS,
        help="allowed drop below the published accuracy, in points, 0..100 (default: %(default)s)",
    )
    parser.add_argument(
        "--inputs",
        type=Path,
        metavar="FILE|FOLDER",
        help="the images the run was given: its info file (e.g. shufflenetv2_prep_bin.info) or its folder of "
        "bins; labels of other images are left out (subset: N of M labelled images)",
    )
    parser.add_argument(
        "--predictions",
        type=Path,
        metavar="FILE.csv",
        help="also write one row per image: true class, the five highest classes with names and scores, "
        "correct@1, correct@5",
    )
    parser.add_argument(
        "--per-class", type=Path, metavar="FILE.csv", help="also write images, top-1 and top-5 accuracy per class"
    )
    missing = parser.add_mutually_exclusive_group()
    missing.add_argument(
        "--ignore-missing",
        action="store_true",
        help="leave labelled images without output out of the denominator (the guide's script) and exit 0",
    )
    missing.add_argument(
        "--allow-missing",
        action="store_true",
        help="count labelled images without output as misses and exit 0 (a run on a subset)",
    )
    add_workers_flag(parser, 0, "processes reading the outputs")
    add_verbose_flag(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if len(args.paths) < 4:
        parser.error("expected DUMP [DUMP ...] LABELS OUT_DIR OUT_JSON")
    dump_dirs = [Path(path) for path in args.paths[:-3]]
    labels, out_dir, json_name = Path(args.paths[-3]), Path(args.paths[-2]), args.paths[-1]
    setup_logging(args.verbose)
    json_path = out_dir / json_name
    outputs = OutputFiles(json_path, args.predictions, args.per_class)
    refuse_outputs_among_inputs(outputs, dump_dirs, [labels, *([args.inputs] if args.inputs else [])])
    for path in outputs.all():
        check_output_file(path)
    keep_ranking = args.predictions is not None or args.per_class is not None
    evaluation = evaluate(dump_dirs, labels, args.ignore_missing, args.workers, args.inputs, keep_ranking)
    missing_verb = "left out" if args.ignore_missing else "counted as misses"
    where = " ".join(map(str, dump_dirs))
    if evaluation.missing and not (args.ignore_missing or args.allow_missing):
        removed = remove_stale(outputs)
        raise PipelineError(
            f"{labels}: {len(evaluation.missing)} of {evaluation.images} labelled images have no output in {where}: "
            f"{name_some(evaluation.missing, 5)}; nothing written"
            + (f" ({', '.join(map(str, removed))} of an earlier run removed)" if removed else "")
            + " (--allow-missing counts them as misses, --ignore-missing leaves them out as the guide's script does)",
            exit_code=1,
        )
    if evaluation.missing:
        LOG.warning(
            "%d labelled images have no output in %s, %s: %s",
            len(evaluation.missing),
            where,
            missing_verb,
            name_some(evaluation.missing),
        )
    write_outputs(outputs, evaluation, dump_dirs, labels, args.inputs, argv)
    sys.stdout.write(summary(evaluation, json_path, missing_verb))
    status = 0
    if args.reference is not None:
        percent, strings = evaluation.top_k_percent(), evaluation.top_k_strings()
        passed = meets_accuracy_rule((percent[0], percent[TOP_N - 1]), args.reference, args.tolerance)
        subset = f" ({evaluation.subset_text()})" if evaluation.subset else ""
        sys.stdout.write(
            f"{'PASS' if passed else 'FAIL'}: top-1 {strings[0]} / top-5 {strings[TOP_N - 1]} against "
            f"published {args.reference[0]:g}% / {args.reference[1]:g}% (at most {args.tolerance:g} below) on "
            f"{evaluation.images} images{subset}\n"
        )
        status = 0 if passed else 1
    return status


if __name__ == "__main__":
    run_cli(main)
