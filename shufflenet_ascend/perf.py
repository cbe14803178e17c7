"""Performance: the perf files of every inference tool read into one table (the guide's section 7), the card
figures (the guide's extrapolation, and the measured sum of devices run at once), the published rates, the JSON
and the plot. The files' formats are ``formats.perf``."""

from __future__ import annotations

import json
import logging
import math
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import CHIPS_PER_310_CARD, PUBLISHED_INTERFACE_FPS
from shufflenet_ascend.fileio import atomic_output, read_text, write_errors_named
from shufflenet_ascend.formats.perf import (
    PERF_NAME_PATTERN,
    PURE_INFER_NAME_PATTERN,
    SUMMARY_NAME_PATTERN,
    batch_from_model_name,
    parse_dataset_perf,
    parse_pure_infer_perf,
    read_ais_bench_summary,
)

LOG = logging.getLogger(__name__)

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
    tool: str = "benchmark"  # "benchmark": the benchmark tool's text files (or the stand-in's); "ais_bench"
    pure: bool | None = None  # None: pure inference exactly when there is no e2e figure (the benchmark tool)

    @property
    def mode(self) -> str:
        pure = self.row.e2e_fps is None if self.pure is None else self.pure
        return "pure" if pure else "dataset"


@dataclass(frozen=True)
class CardFigure:
    """Several devices of one batch size run at once: what the card measured beside the guide's extrapolation."""

    batch_size: int
    mode: str
    devices: tuple[int, ...]
    measured_fps: float  # sum of the devices' Interface rates
    extrapolated_fps: float  # their mean x chips: the guide's card figure from one chip's rate


def is_perf_file_name(name: str) -> bool:
    return any(pattern.match(name) for pattern in (PERF_NAME_PATTERN, PURE_INFER_NAME_PATTERN, SUMMARY_NAME_PATTERN))


def read_perf_file(path: str | os.PathLike[str], chips: int = CHIPS_PER_310_CARD) -> PerfFile:
    """One perf file of any kind; anything else is a PipelineError naming it."""
    path = Path(path)
    if SUMMARY_NAME_PATTERN.match(path.name):
        summary = read_ais_bench_summary(path)
        card = round(summary.throughput * chips, _DECIMALS)
        row = PerfRow(summary.batch_size, summary.device_id, None, summary.throughput, card)
        return PerfFile(path, row, tool="ais_bench", pure=summary.pure)
    dataset_name = PERF_NAME_PATTERN.match(path.name)
    pure_name = PURE_INFER_NAME_PATTERN.match(path.name)
    if dataset_name is None and pure_name is None:
        raise PipelineError(
            f"{path}: not a perf file of the benchmark tool or ais_bench (expected "
            "perf_vision_batchsize_<B>_device_<D>.txt, PureInfer_perf_of_<model>_in_device_<D>.txt "
            "or <name>_summary.json)"
        )
    text = read_text(path, "perf file")
    if dataset_name is not None:
        perf = parse_dataset_perf(text)
        if perf is None:
            raise PipelineError(f"{path}: not in the benchmark tool's five-line form ([e2e] ... [post])")
        batch, device, e2e, interface = (
            int(dataset_name["batch"]),
            int(dataset_name["device"]),
            perf.e2e_throughput,
            perf.interface_throughput,
        )
    else:
        pure = parse_pure_infer_perf(text)
        if pure is None:
            raise PipelineError(f"{path}: no 'ave_throughputRate = ...samples/s, ave_latency = ...ms' line")
        batch, device, e2e, interface = (
            batch_from_model_name(pure_name["model"]),
            int(pure_name["device"]),
            None,
            pure.throughput,
        )
    return PerfFile(path, PerfRow(batch, device, e2e, interface, round(interface * chips, _DECIMALS)))


def find_perf_files(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The perf files among ``paths``: files as given, folders searched (not recursively) for all kinds.

    A file named twice (or given and also found in a folder) is read once."""
    found: dict[Path, Path] = {}
    for given in map(Path, paths):
        if given.is_dir():
            matches = sorted(entry for entry in given.iterdir() if entry.is_file() and is_perf_file_name(entry.name))
            if not matches:
                raise PipelineError(
                    f"{given}: no perf files (perf_vision_batchsize_<B>_device_<D>.txt, "
                    "PureInfer_perf_of_<model>_in_device_<D>.txt or ais_bench's <name>_summary.json) "
                    "in this folder"
                )
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
    return sorted(
        files,
        key=lambda f: (
            f.row.batch_size is None,
            f.row.batch_size or 0,
            f.row.device_id,
            f.mode != "dataset",
            f.path.name,
        ),
    )


def measured_cards(files: Sequence[PerfFile], chips: int = CHIPS_PER_310_CARD) -> list[CardFigure]:
    """Per batch size and mode with files of two or more devices: the sum of their Interface rates (what the
    devices did together) and the guide's extrapolation from them (their mean x chips)."""
    groups: dict[tuple[int, str], list[PerfFile]] = defaultdict(list)
    for f in files:
        if f.row.batch_size is not None:
            groups[(f.row.batch_size, f.mode)].append(f)
    figures = []
    for (batch, mode), group in sorted(groups.items()):
        if len(group) < 2:
            continue
        devices = [f.row.device_id for f in group]
        if len(set(devices)) < len(devices):
            LOG.warning(
                "batch %d (%s): several files of one device (%s): no measured card figure",
                batch,
                mode,
                ", ".join(f.path.name for f in group),
            )
            continue
        rates = [f.row.interface_fps for f in group]
        figures.append(
            CardFigure(
                batch,
                mode,
                tuple(sorted(devices)),
                round(math.fsum(rates), _DECIMALS),
                round(math.fsum(rates) / len(rates) * chips, _DECIMALS),
            )
        )
    return figures


def published_rates() -> list[tuple[int, float, float]]:
    """The guide's Ascend 310 figures: (batch, Interface fps of one chip, card fps = Interface x 4)."""
    return [
        (batch, fps, round(fps * CHIPS_PER_310_CARD, _DECIMALS))
        for batch, fps in sorted(PUBLISHED_INTERFACE_FPS.items())
    ]


def _number(value: float | None) -> str:
    return "-" if value is None else repr(round(value, _DECIMALS))


def format_table(files: Sequence[PerfFile], chips: int, label: str | None = None) -> str:
    """One row per file (the card column only when chips > 1), then the measured card figures, if any."""
    with_card = chips > 1
    header = ("batch", "device", "mode", "e2e fps", "Interface fps (1 device)", f"card fps (x{chips})", "file")
    rows = [header] + [
        (
            "?" if f.row.batch_size is None else str(f.row.batch_size),
            str(f.row.device_id),
            f.mode,
            _number(f.row.e2e_fps),
            _number(f.row.interface_fps),
            _number(f.row.card_fps),
            f.path.name,
        )
        for f in files
    ]
    if not with_card:
        rows = [row[:5] + row[6:] for row in rows]
    numeric = len(rows[0]) - 1
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if column < numeric else cell
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "-" * len(lines[0]))
    if label:
        lines.insert(0, f"measured on: {label}")
    cards = measured_cards(files, chips)
    if cards:
        lines.append("")
        lines.append(
            "several devices of one batch size: their sum is the card's measured throughput (when they ran at once):"
        )
        for card in cards:
            devices = ", ".join(map(str, card.devices))
            line = (
                f"  batch {card.batch_size} ({card.mode}): {_number(card.measured_fps)} fps measured = sum of "
                f"the Interface fps of devices {devices}"
            )
            if with_card:
                line += f"; guide's extrapolation: their mean x {chips} = {_number(card.extrapolated_fps)} fps"
            lines.append(line)
    return "\n".join(lines) + "\n"


def format_json(files: Sequence[PerfFile], chips: int = CHIPS_PER_310_CARD, label: str | None = None) -> str:
    """Rows (one per file), measured card figures and the guide's published figures, as one JSON object."""
    document = {
        "label": label,
        "chips": chips,
        "rows": [{**asdict(f.row), "mode": f.mode, "tool": f.tool, "file": str(f.path)} for f in files],
        "measured_cards": [{**asdict(card), "devices": list(card.devices)} for card in measured_cards(files, chips)],
        "published_ascend310": [
            {"batch_size": batch, "interface_fps": fps, "card_fps": card} for batch, fps, card in published_rates()
        ],
    }
    return json.dumps(document, indent=1) + "\n"


def plot_series(
    files: Sequence[PerfFile], chips: int, label: str | None = None
) -> dict[str, tuple[list[tuple[int, float]], bool]]:
    """What the plot draws: {line label: (points (batch, fps), published?)}, measured lines first.

    Measured rates of several devices of one batch size are averaged (the label says so); the card lines are
    the guide's extrapolation (x chips, only when chips > 1) and the measured sum of devices run at once."""
    who = label or "measured"
    known = [f for f in files if f.row.batch_size is not None]

    def by_batch(rows: Sequence[PerfFile], value) -> list[tuple[int, float]]:
        values: dict[int, list[float]] = defaultdict(list)
        for f in rows:
            if value(f) is not None:
                values[f.row.batch_size].append(value(f))
        return [(batch, round(math.fsum(v) / len(v), _DECIMALS)) for batch, v in sorted(values.items())]

    series: dict[str, tuple[list[tuple[int, float]], bool]] = {}
    for mode, kind in (("dataset", ""), ("pure", "pure inference ")):
        rows = [f for f in known if f.mode == mode]
        several = any(
            len({f.row.device_id for f in rows if f.row.batch_size == b}) > 1 for b in {f.row.batch_size for f in rows}
        )
        per = "per device, mean of the devices" if several else "1 device"
        if mode == "dataset":
            series[f"{who}: e2e fps ({per})"] = (by_batch(rows, lambda f: f.row.e2e_fps), False)
        series[f"{who}: {kind}Interface fps ({per})"] = (by_batch(rows, lambda f: f.row.interface_fps), False)
        if chips > 1:
            series[f"{who}: {kind}Interface x {chips} (guide's card extrapolation)"] = (
                by_batch(rows, lambda f: f.row.card_fps),
                False,
            )
        cards = [card for card in measured_cards(files, chips) if card.mode == mode]
        series[f"{who}: {kind}card fps measured (sum of the devices run at once)"] = (
            [(card.batch_size, card.measured_fps) for card in cards],
            False,
        )
    published = published_rates()
    series["published Ascend 310 (guide): Interface fps, 1 chip"] = ([(b, fps) for b, fps, _ in published], True)
    series[f"published Ascend 310 card (guide): Interface x {CHIPS_PER_310_CARD}"] = (
        [(b, card) for b, _, card in published],
        True,
    )
    return {name: line for name, line in series.items() if line[0]}


def plot_throughput(
    files: Sequence[PerfFile], chips: int, path: str | os.PathLike[str], label: str | None = None
) -> None:
    """Throughput against batch size, measured beside published, written atomically as PNG."""
    import matplotlib  # here: a second of import time that only the plot needs (the driver imports this module)

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    if not any(f.row.batch_size is not None for f in files):
        raise PipelineError("nothing to plot: no perf file has a known batch size")
    series = plot_series(files, chips, label)
    figure, axes = plt.subplots(figsize=(9, 5.5 + 0.16 * len(series)), dpi=100)
    try:
        for name, (points, published) in series.items():
            axes.plot(
                *zip(*points, strict=False),
                marker="o",
                label=name,
                linestyle="--" if published else "-",
                alpha=0.6 if published else 1.0,
            )
        batches = sorted({batch for points, _ in series.values() for batch, _ in points})
        axes.set_xscale("log", base=2)
        axes.set_xticks(batches, [str(batch) for batch in batches])
        axes.set_xlabel("batch size")
        axes.set_ylabel("images per second")
        axes.set_title("Throughput by batch size" + (f"\n{label}" if label else ""), fontsize=10)
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.13), frameon=False)
        figure.tight_layout()
        with write_errors_named(path, "plot"), atomic_output(path, "wb") as handle:
            figure.savefig(handle, format="png", metadata={"Software": None})
    finally:
        plt.close(figure)
