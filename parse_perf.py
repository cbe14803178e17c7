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

from shufflenet_ascend.bounds import CHIPS_PER_CARD
from shufflenet_ascend.cli import PipelineError, add_label_flag, make_parser, run_cli, setup_logging
from shufflenet_ascend.contract import CHIPS_PER_310_CARD
from shufflenet_ascend.fileio import atomic_write_text, check_output_file, write_errors_named
from shufflenet_ascend.formats.run_record import record_path
from shufflenet_ascend.perf import format_json, format_table, plot_throughput, read_perf_files, record_notes
from shufflenet_ascend.runs import add_allow_mixed_flag, refuse_mixed
from shufflenet_ascend.safe_outputs import refuse_unsafe_outputs

LOG = logging.getLogger(Path(__file__).stem)

DESCRIPTION = """\
Performance table of the inference tools' perf files (the guide's section 7).

Reads, given one by one or as result folders (not searched recursively; a folder's files of the PyTorch reference,
the other side of a precision comparison, are left out with a note: give them by name to show them):

- perf_vision_batchsize_<B>_device_<D>.txt: the benchmark tool's dataset mode (five lines), also written by this
  project's CPU stand-in (benchmark_ort.py);
- PureInfer_perf_of_<model>_in_device_<D>.txt: its pure-inference mode (batch size from bs<N> in the model name,
  else unknown; no e2e figure);
- <name>_summary.json: ais_bench's summary (throughput: images per second of one device, the counterpart of the
  Interface throughputRate; batch size from its args (batchsize) or from bs<N> in the name or the model's name;
  device from args.device; pure inference when it ran without --input; no e2e figure).

It prints one row per file, sorted by batch size (dataset run, then pure inference): e2e throughput, the Interface
throughputRate of one device, the card throughput the guide reports where it means something, and the median and
p99 latency per batch where the files have them (ais_bench's NPU_compute_time; the stand-in's run record).

The run record beside a perf file (perf_vision_batchsize_<B>_device_<D>.json, <name>_record.json beside ais_bench's
summary: written by the stand-in and by run_all.sh) says what ran: the tool, its backend and the device. The
table's "measured on" line and the card figure come from it: card = Interface x the chips of the device's card (4
for an Ascend 310 on an Atlas 300I; none for a chip whose card is not known), and never for a CPU, whatever
--chips says. Without a record the chip is not known (a note on stderr says so): the benchmark tool's files keep
the guide's card = Interface x 4 (that 2021 tool ran only on the Ascend 310), an ais_bench summary gets no card
figure (a 310P's card, or a CPU stand-in's summary that lost its record); --chips N sets it for both. When several
devices of one batch size were run (..._device_0.txt, ..._device_1.txt, or several summaries), it also prints the
measured card throughput, the sum of the devices' Interface rates, beside the guide's extrapolation (their mean x
chips).

Runs of different datasets or models (their records' dataset identity or weights differ) are refused in one table,
with one line naming both files, unless --allow-mixed. Batch sizes are one model (one file per batch size, the same
weights). A perf figure that is not a positive finite number (-5, nan, 1e400) or beyond any chip (a rate above
1e7 images/s, a latency below 0 or above 1e9 ms) is refused, naming the file. The --json and --plot files may not
be an input, nor lie inside a folder given (nor be a device or a folder): nothing read is ever written over.

    python parse_perf.py result/
    python parse_perf.py result/perf_vision_batchsize_16_device_{0,1}.txt
    python parse_perf.py result/ --plot perf.png --json perf.json
    python parse_perf.py result/ --chips 1 --label "CPU stand-in: AMD EPYC 7B13, 2 cores"
    python parse_perf.py result/ --json          # the JSON on stdout instead of the table

The plot draws the measured rates with a y range of their own (a published line above them is clipped, and a note
says how high it goes), beside the guide's published Ascend 310 figures (Interface of one chip, and card =
Interface x 4) unless a record says the run was on a CPU; a caption says the images, batch sizes, tool/backend
and device."""


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(DESCRIPTION)
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="perf files or ais_bench summaries, or result folders holding them"
    )
    parser.add_argument(
        "--chips",
        type=CHIPS_PER_CARD.arg(),
        help=f"chips per card for perf files without a run record: card fps = Interface throughputRate x chips "
        f"(default: {CHIPS_PER_310_CARD} for the benchmark tool's files, which ran only on an Ascend 310; none for "
        f"ais_bench summaries, whose chip is not known; 1..{CHIPS_PER_CARD.high:g}); a record's device always decides",
    )
    add_label_flag(parser)
    add_allow_mixed_flag(parser)
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
    chips = args.chips  # (None: not given; see perf.card_chips)
    json_path = None if args.json in (None, "-") else Path(args.json)
    if json_path is not None and json_path.suffix.lower() != ".json":
        raise PipelineError(
            f"--json {json_path}: the JSON file's name must end in .json (a guard against "
            "writing over a perf file given after --json)"
        )
    refuse_unsafe_outputs(
        [path for path in (json_path, args.plot) if path is not None],
        [*args.paths, *(record_path(path) for path in args.paths if not Path(path).is_dir())],
    )
    if json_path is not None:
        check_output_file(json_path)
    if args.plot is not None:
        check_output_file(args.plot)

    files = read_perf_files(args.paths, chips)
    for note in refuse_mixed([f.path for f in files], allow_mixed=args.allow_mixed):
        LOG.warning("warning: %s (--allow-mixed)", note)
    for note in record_notes(files, chips):
        LOG.info("note: %s", note)
    document = format_json(files, chips, args.label)
    if json_path is not None:
        with write_errors_named(json_path, "perf JSON"):
            atomic_write_text(json_path, document)
        LOG.info("wrote %s", json_path)
    sys.stdout.write(document if args.json == "-" else format_table(files, args.label))
    if args.plot is not None:
        plot_throughput(files, args.plot, args.label)
        LOG.info("wrote %s", args.plot)
    return 0


if __name__ == "__main__":
    run_cli(main)
