"""Performance table of the benchmark tool's perf files (the guide's section 7).

Reads ``perf_vision_batchsize_<B>_device_<D>.txt`` (dataset mode, five lines) and
``PureInfer_perf_of_<model>_in_device_<D>.txt`` (pure-inference mode) files, given one by one or as result
folders, and prints one row per file sorted by batch size: e2e throughput, the Interface throughputRate of one
chip, and the card throughput the guide reports (Interface x the chips of a card: 4 on an Ascend 310 card).

    python parse_perf.py result/
    python parse_perf.py result/perf_vision_batchsize_16_device_1.txt --json
    python parse_perf.py result/ --plot perf.png

A pure-inference file has no e2e figure (null in --json, "-" in the table); its batch size is read from the
model name's ``bs<N>`` (the guide's models are shufflenetv2_bs<N>), else unknown.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from ascend_io import (
    CHIPS_PER_310_CARD,
    PERF_NAME_PATTERN,
    PURE_INFER_NAME_PATTERN,
    PipelineError,
    atomic_output,
    check_output_file,
    parse_dataset_perf,
    parse_pure_infer_perf,
    read_text,
    run_cli,
    setup_logging,
)

LOG = logging.getLogger(Path(__file__).stem)

_BATCH_IN_MODEL_NAME = re.compile(r"(?:^|[^a-z0-9])bs(\d+)(?![0-9])", re.IGNORECASE)
# The tool prints 6 significant digits; rounding the product to 6 decimals removes float noise
# (147.93 * 4 -> 591.72, not 591.7200000000001) and keeps every digit that means anything.
_DECIMALS = 6


@dataclass(frozen=True)
class PerfRow:
    batch_size: int | None
    device_id: int
    e2e_fps: float | None  # None for pure inference
    interface_fps: float
    card_fps: float


@dataclass(frozen=True)
class PerfFile:
    path: Path
    row: PerfRow

    @property
    def mode(self) -> str:
        return "pure" if self.row.e2e_fps is None else "dataset"


def batch_from_model_name(model_name: str) -> int | None:
    """``shufflenetv2_bs16`` -> 16; None when the name carries no ``bs<N>``."""
    match = _BATCH_IN_MODEL_NAME.search(model_name)
    return int(match[1]) if match else None


def read_perf_file(path: str | os.PathLike[str], chips: int = CHIPS_PER_310_CARD) -> PerfFile:
    """One perf file of either kind; anything else is a PipelineError naming it."""
    path = Path(path)
    dataset_name = PERF_NAME_PATTERN.match(path.name)
    pure_name = PURE_INFER_NAME_PATTERN.match(path.name)
    if dataset_name is None and pure_name is None:
        raise PipelineError(f"{path}: not a perf file of the benchmark tool (expected "
                            "perf_vision_batchsize_<B>_device_<D>.txt or PureInfer_perf_of_<model>_in_device_<D>.txt)")
    text = read_text(path, "perf file")
    if dataset_name is not None:
        perf = parse_dataset_perf(text)
        if perf is None:
            raise PipelineError(f"{path}: not in the benchmark tool's five-line form ([e2e] ... [post])")
        batch, device, e2e, interface = (int(dataset_name["batch"]), int(dataset_name["device"]),
                                         perf.e2e_throughput, perf.interface_throughput)
    else:
        pure = parse_pure_infer_perf(text)
        if pure is None:
            raise PipelineError(f"{path}: no 'ave_throughputRate = ...samples/s, ave_latency = ...ms' line")
        batch, device, e2e, interface = (batch_from_model_name(pure_name["model"]), int(pure_name["device"]),
                                         None, pure.throughput)
    return PerfFile(path, PerfRow(batch, device, e2e, interface, round(interface * chips, _DECIMALS)))


def find_perf_files(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The perf files among ``paths``: files as given, folders searched (not recursively) for both kinds.

    A file named twice (or given and also found in a folder) is read once."""
    found: dict[Path, Path] = {}
    for given in map(Path, paths):
        if given.is_dir():
            matches = sorted(entry for entry in given.iterdir() if entry.is_file() and (
                PERF_NAME_PATTERN.match(entry.name) or PURE_INFER_NAME_PATTERN.match(entry.name)))
            if not matches:
                raise PipelineError(f"{given}: no perf files (perf_vision_batchsize_<B>_device_<D>.txt or "
                                    "PureInfer_perf_of_<model>_in_device_<D>.txt) in this folder")
        elif given.exists():
            matches = [given]
        else:
            raise PipelineError(f"{given}: no such file or folder")
        for path in matches:
            found.setdefault(path.resolve(), path)
    return list(found.values())


def read_perf_files(paths: Sequence[str | os.PathLike[str]], chips: int = CHIPS_PER_310_CARD) -> list[PerfFile]:
    """Every perf file under ``paths``, sorted by batch size (unknown last), device, dataset before pure, name."""
    files = [read_perf_file(path, chips) for path in find_perf_files(paths)]
    return sorted(files, key=lambda f: (f.row.batch_size is None, f.row.batch_size or 0, f.row.device_id,
                                        f.mode != "dataset", f.path.name))


def _number(value: float | None) -> str:
    return "-" if value is None else repr(round(value, _DECIMALS))


def format_table(files: Sequence[PerfFile], chips: int) -> str:
    header = ("batch", "device", "mode", "e2e fps", "Interface fps (1 chip)", f"card fps (x{chips})", "file")
    rows = [header] + [(
        "?" if f.row.batch_size is None else str(f.row.batch_size), str(f.row.device_id), f.mode,
        _number(f.row.e2e_fps), _number(f.row.interface_fps), _number(f.row.card_fps), f.path.name,
    ) for f in files]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = []
    for row in rows:
        cells = [cell.rjust(width) if column < 6 else cell for column, (cell, width) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines) + "\n"


def format_json(files: Sequence[PerfFile]) -> str:
    return json.dumps([asdict(f.row) for f in files], indent=1) + "\n"


def plot_throughput(files: Sequence[PerfFile], chips: int, path: str | os.PathLike[str]) -> None:
    """Throughput against batch size, one line per kind of figure, written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    series = {
        "dataset: e2e fps": [(f.row.batch_size, f.row.e2e_fps) for f in files if f.mode == "dataset"],
        f"dataset: card fps (Interface x {chips})": [(f.row.batch_size, f.row.card_fps)
                                                      for f in files if f.mode == "dataset"],
        f"pure inference: card fps (x {chips})": [(f.row.batch_size, f.row.card_fps)
                                                  for f in files if f.mode == "pure"],
    }
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=100)
    try:
        for label, points in series.items():
            points = sorted((batch, fps) for batch, fps in points if batch is not None and fps is not None)
            if points:
                axes.plot(*zip(*points), marker="o", label=label)
        batches = sorted({f.row.batch_size for f in files if f.row.batch_size is not None})
        if not batches:
            raise PipelineError("nothing to plot: no perf file has a known batch size")
        axes.set_xscale("log", base=2)
        axes.set_xticks(batches, [str(batch) for batch in batches])
        axes.set_xlabel("batch size")
        axes.set_ylabel("images per second")
        axes.set_title("Throughput by batch size")
        axes.grid(True, alpha=0.3)
        axes.legend()
        figure.tight_layout()
        with atomic_output(path, "wb") as handle:
            figure.savefig(handle, format="png", metadata={"Software": None})
    finally:
        plt.close(figure)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", metavar="PATH", help="perf files, or result folders holding them")
    parser.add_argument("--chips", type=int, default=CHIPS_PER_310_CARD,
                        help="chips per card: card fps = Interface throughputRate x chips (default: %(default)s, "
                             "an Ascend 310 card)")
    parser.add_argument("--json", action="store_true",
                        help="print the rows as a JSON list (keys batch_size, device_id, e2e_fps, interface_fps, "
                             "card_fps; e2e_fps and an unknown batch_size are null) instead of the table")
    parser.add_argument("--plot", type=Path, metavar="FILE.png", help="also draw throughput against batch size")
    args = parser.parse_args(argv)
    setup_logging()
    if args.chips < 1:
        raise PipelineError(f"--chips {args.chips}: must be at least 1")
    if args.plot is not None:
        check_output_file(args.plot)

    files = read_perf_files(args.paths, args.chips)
    sys.stdout.write(format_json(files) if args.json else format_table(files, args.chips))
    if args.plot is not None:
        plot_throughput(files, args.chips, args.plot)
        LOG.info("wrote %s", args.plot)
    return 0


if __name__ == "__main__":
    run_cli(main)
