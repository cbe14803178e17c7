"""Write report.md: the run on one page (machine and tool, accuracy, precision, performance, plot).

    python write_report.py report.md --accuracy result_bs1.json result_bs16.json --perf result/ --plot perf.png

The page is ``shufflenet_ascend.report``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from shufflenet_ascend.bounds import CHIPS_PER_CARD
from shufflenet_ascend.cli import PipelineError, add_label_flag, add_verbose_flag, make_parser, run_cli, setup_logging
from shufflenet_ascend.contract import CHIPS_PER_310_CARD
from shufflenet_ascend.fileio import atomic_write_text, check_output_file, write_errors_named
from shufflenet_ascend.formats.accuracy_json import accuracy_record_path
from shufflenet_ascend.formats.run_record import record_path
from shufflenet_ascend.report import ReportInputs, build_report, layer_plot_path, write_layer_plots
from shufflenet_ascend.runs import add_allow_mixed_flag
from shufflenet_ascend.safe_outputs import refuse_unsafe_outputs

LOG = logging.getLogger(Path(__file__).stem)

DESCRIPTION = """\
Write report.md: the run on one page (machine and tool, accuracy, precision, performance, plot).

    python write_report.py report.md --accuracy result_bs1.json result_bs16.json --perf result/ \\
        --comparison compare_bs1_onnx_vs_torch.json --plot perf.png --random-weights

Every option may be absent: the report then says what it lacks in its place (and a warning is logged). A given
file that does not exist is exit status 2, one line naming it, nothing written; one that cannot be read as what it
should be is said in its place, and the report is still written, atomically; a number outside its range (a comparison
JSON's cosine of 2 or NaN, its negative or infinite error, a count "2"; a layer CSV's cosine outside -1..1 or
negative error, where msit's N/A, NaN and inf stay readable) is exit status 2, one line naming the file and the
field, nothing written. run_all.sh writes it at the end of a run.

What was run (dataset, model files and weights, tool, backend and device, streams x threads, command, date and
commit) comes from the run records beside the perf files and from the accuracy records beside the JSONs
(result_bs<B>.json.record, written by imagenet_acc_eval.py), with --dataset, --random-labels and --command for
what they cannot know. A subset run says "subset: N of M labelled images". The ten worst classes and the most
frequent confusions come from the predictions and per-class files (--predictions/--per-class, else the ones the
accuracy record names, else result_bs<B>_predictions.csv and result_bs<B>_per_class.csv beside result_bs<B>.json),
which the report links. Rows are sorted by batch size. The published Ascend 310 figures stand beside a run's
rates with a ratio only when it ran on an Ascend device (a record's device; without one, the benchmark tool's perf
files, or --chips above 1); for a CPU run, or one whose device is not known, they are a reference table of their
own. Runs of different datasets or models (their records say so), among the accuracy JSONs and the perf files
together, are refused, one line naming both files (exit status 2), unless --allow-mixed. OUT.md may not be one
of the files it reads, nor lie inside a folder given to --perf."""


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(DESCRIPTION)
    parser.add_argument("output", type=Path, metavar="OUT.md", help="the report to write, e.g. report.md")
    parser.add_argument(
        "--accuracy",
        nargs="*",
        type=Path,
        default=[],
        metavar="JSON",
        help="accuracy files of imagenet_acc_eval.py, one per batch size (result_bs<B>.json)",
    )
    parser.add_argument(
        "--perf",
        nargs="*",
        type=Path,
        default=[],
        metavar="FILE_OR_DIR",
        help="perf files (or folders holding them), as parse_perf.py reads them",
    )
    parser.add_argument(
        "--chips",
        type=CHIPS_PER_CARD.arg(),
        help=f"chips per card for perf files without a run record: card fps = Interface fps x chips (default: "
        f"{CHIPS_PER_310_CARD} for the benchmark tool's files, none for ais_bench summaries; 1 on a CPU; at most "
        f"{CHIPS_PER_CARD.high:g})",
    )
    add_label_flag(parser)
    parser.add_argument("--perf-label", dest="label", help=argparse.SUPPRESS)  # the older name of --label
    parser.add_argument(
        "--comparison", nargs="*", type=Path, default=[], metavar="JSON", help="JSON files of compare_outputs.py --json"
    )
    parser.add_argument(
        "--layers",
        nargs="*",
        type=Path,
        default=[],
        metavar="CSV",
        help="layer CSVs (compare_layers.py --csv, or msit debug compare's result CSV): the first layer below "
        "cosine 0.99, the worst layers, and a plot of cosine per layer drawn beside the report (<report>_<csv>.png)",
    )
    parser.add_argument("--plot", type=Path, metavar="PNG", help="throughput plot (parse_perf.py --plot) to link")
    parser.add_argument("--tool", metavar="TEXT", help="the inference tool that ran")
    parser.add_argument("--backend", metavar="TEXT", help="the stand-in's backend (onnxruntime, openvino)")
    parser.add_argument(
        "--soc-version", metavar="TEXT", help="the Ascend chip (e.g. Ascend310); without it the report names the CPU"
    )
    parser.add_argument("--devices", metavar='"0 1"', help="the devices used")
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="the model had seeded random weights: flagged at the top, accuracy not judged",
    )
    parser.add_argument("--card-throughput", metavar="TEXT", help="measured card throughput, as a sentence")
    parser.add_argument(
        "--dataset", metavar="TEXT", help="what the dataset is, in words (e.g. 'demo: 40 generated images in ./demo')"
    )
    parser.add_argument(
        "--random-labels",
        action="store_true",
        help="the labels are random (the demo dataset's): said in the report, accuracy means nothing",
    )
    parser.add_argument("--command", metavar="TEXT", help="the command that made the run (default: the records')")
    parser.add_argument(
        "--predictions",
        nargs="*",
        type=Path,
        default=[],
        metavar="CSV",
        help="imagenet_acc_eval.py --predictions files, in the order of --accuracy (default: found beside them)",
    )
    parser.add_argument(
        "--per-class",
        nargs="*",
        type=Path,
        default=[],
        metavar="CSV",
        help="imagenet_acc_eval.py --per-class files, in the order of --accuracy (default: found beside them)",
    )
    parser.add_argument(
        "--precision",
        choices=("int8",),
        help="int8: the model was quantized; the report gets an int8 section (calibration images, the outputs and "
        "the accuracy against the fp32 model: the comparisons whose file names say int8)",
    )
    parser.add_argument("--calibration", metavar="TEXT", help="int8: which images calibrated the model, in words")
    add_allow_mixed_flag(parser)
    add_verbose_flag(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    refuse_unsafe_outputs(
        [args.output, *(layer_plot_path(path, args.output) for path in args.layers)],
        [
            *args.accuracy,
            *map(accuracy_record_path, args.accuracy),
            *args.perf,
            *(record_path(path) for path in args.perf if not path.is_dir()),
            *args.comparison,
            args.plot,
            *args.predictions,
            *args.per_class,
            *args.layers,
        ],
    )
    output = check_output_file(args.output)
    for flag, paths in (("--accuracy", args.accuracy), ("--perf", args.perf), ("--comparison", args.comparison),
                        ("--plot", [args.plot] if args.plot else []), ("--predictions", args.predictions),
                        ("--per-class", args.per_class)):  # fmt: skip
        missing = next((path for path in paths if not path.exists()), None)
        if missing is not None:
            raise PipelineError(f"{flag} {missing}: no such file")

    inputs = ReportInputs(
        accuracy=args.accuracy,
        perf=args.perf,
        chips=args.chips,
        perf_label=args.label,
        comparisons=args.comparison,
        plot=args.plot,
        tool=args.tool,
        backend=args.backend,
        soc_version=args.soc_version,
        devices=args.devices,
        random_weights=args.random_weights,
        card_throughput=args.card_throughput,
        dataset=args.dataset,
        random_labels=args.random_labels,
        command=args.command,
        predictions=args.predictions,
        per_class=args.per_class,
        allow_mixed=args.allow_mixed,
        precision=args.precision,
        calibration=args.calibration,
        layers=args.layers,
    )
    lacking: list[str] = []
    text = build_report(inputs, output, lacking)
    write_layer_plots(args.layers, output)
    for sentence in lacking:
        LOG.warning("warning: %s: %s", output, sentence.removeprefix("- "))
    with write_errors_named(output, "report"):
        atomic_write_text(output, text)
    LOG.info("wrote %s", output)
    return 0


if __name__ == "__main__":
    run_cli(main)
