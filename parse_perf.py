"""Performance table of the inference tools' perf files (the guide's section 7).

    python parse_perf.py result/ --plot perf.png --json perf.json

The reading, card figures, table, JSON and plot are ``shufflenet_ascend.perf``; the files ``formats.perf``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from shufflenet_ascend.cli import PipelineError, add_label_flag, make_parser, run_cli, setup_logging
from shufflenet_ascend.contract import CHIPS_PER_310_CARD
from shufflenet_ascend.fileio import atomic_write_text, check_output_file, write_errors_named
from shufflenet_ascend.perf import format_json, format_table, plot_throughput, read_perf_files

LOG = logging.getLogger(Path(__file__).stem)

DESCRIPTION = """\
Performance table of the inference tools' perf files (the guide's section 7).

Reads, given one by one or as result folders (not searched recursively):

- perf_vision_batchsize_<B>_device_<D>.txt: the benchmark tool's dataset mode (five lines), also written by this
  project's CPU stand-in (benchmark_ort.py);
- PureInfer_perf_of_<model>_in_device_<D>.txt: its pure-inference mode (batch size from bs<N> in the model name,
  else unknown; no e2e figure);
- <name>_summary.json: ais_bench's summary (throughput: images per second of one device, the counterpart of the
  Interface throughputRate; batch size from its args (batchsize) or from bs<N> in the name or the model's name;
  device from args.device; pure inference when it ran without --input; no e2e figure).

It prints one row per file, sorted by batch size: e2e throughput, the Interface throughputRate of one device, and
the card throughput the guide reports: Interface x --chips (the chips of a card: 4 on an Ascend 310 card). That
multiplication is an extrapolation and means something only for an Ascend device: for the CPU stand-in pass
--chips 1 (the column is left out) and --label naming the machine. When several devices of one batch size were
run (several files of distinct devices: ..._device_0.txt, ..._device_1.txt, or several summaries), it also prints
the measured card throughput, the sum of the devices' Interface rates, beside the guide's extrapolation (their
mean x chips).

    python parse_perf.py result/
    python parse_perf.py result/perf_vision_batchsize_16_device_{0,1}.txt
    python parse_perf.py result/ --plot perf.png --json perf.json
    python parse_perf.py result/ --chips 1 --label "CPU stand-in: AMD EPYC 7B13, 2 cores"
    python parse_perf.py result/ --json          # the JSON on stdout instead of the table

The plot draws the measured rates beside the guide's published Ascend 310 figures (Interface of one chip, and card
= Interface x 4), each line labelled with what it is."""


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(DESCRIPTION)
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="perf files or ais_bench summaries, or result folders holding them"
    )
    parser.add_argument(
        "--chips",
        type=int,
        default=CHIPS_PER_310_CARD,
        help="chips per card: card fps = Interface throughputRate x chips (default: %(default)s, "
        "an Ascend 310 card); 1 for anything that is not an Ascend device (the stand-in)",
    )
    add_label_flag(parser)
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="FILE",
        help="write rows, measured card figures and the published figures as JSON to FILE (its name ending in "
        ".json); without a file name, print the JSON instead of the table",
    )
    parser.add_argument("--plot", type=Path, metavar="FILE.png", help="also draw throughput against batch size")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    if args.chips < 1:
        raise PipelineError(f"--chips {args.chips}: must be at least 1")
    json_path = None if args.json in (None, "-") else Path(args.json)
    if json_path is not None:
        if json_path.suffix.lower() != ".json":
            raise PipelineError(
                f"--json {json_path}: the JSON file's name must end in .json (a guard against "
                "writing over a perf file given after --json)"
            )
        check_output_file(json_path)
    if args.plot is not None:
        check_output_file(args.plot)

    files = read_perf_files(args.paths, args.chips)
    document = format_json(files, args.chips, args.label)
    if json_path is not None:
        with write_errors_named(json_path, "perf JSON"):
            atomic_write_text(json_path, document)
        LOG.info("wrote %s", json_path)
    sys.stdout.write(document if args.json == "-" else format_table(files, args.chips, args.label))
    if args.plot is not None:
        plot_throughput(files, args.chips, args.plot, args.label)
        LOG.info("wrote %s", args.plot)
    return 0


if __name__ == "__main__":
    run_cli(main)
