"""Performance: the perf files of every inference tool read into one table (the guide's section 7), the card
figures (the guide's extrapolation, and the measured sum of devices run at once), the published rates, the JSON
and the plot. The files' formats are ``formats.perf``."""

from __future__ import annotations

import json
import logging
import math
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from shufflenet_ascend.bounds import BATCH_SIZE, DEVICE_ID
from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import CHIPS_PER_310_CARD, PUBLISHED_INTERFACE_FPS
from shufflenet_ascend.fileio import atomic_output, read_text, write_errors_named
from shufflenet_ascend.formats.perf import (
    PERF_NAME_PATTERN,
    PURE_INFER_NAME_PATTERN,
    SUMMARY_NAME_PATTERN,
    batch_from_model_name,
    check_perf_numbers,
    parse_dataset_perf,
    parse_pure_infer_perf,
    read_ais_bench_summary,
)
from shufflenet_ascend.formats.run_record import RunRecord, find_run_record

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
    card_fps: float | None  # Interface x chips per card; None where no card figure means anything (a CPU)


@dataclass(frozen=True)
class PerfFile:
    path: Path
    row: PerfRow
    tool: str = "benchmark"  # "benchmark": the benchmark tool's text files (or the stand-in's); "ais_bench"
    pure: bool | None = None  # None: pure inference exactly when there is no e2e figure (the benchmark tool)
    record: RunRecord | None = None  # the run record beside the file (None: a file of Huawei's tool from elsewhere)
    chips: int | None = CHIPS_PER_310_CARD  # chips per card used for card_fps (None: no card figure)
    latency_ms: dict[str, float] | None = None  # per batch: min, mean, median, p90, p99, max (those known)

    @property
    def mode(self) -> str:
        if self.record is not None:
            return self.record.mode
        pure = self.row.e2e_fps is None if self.pure is None else self.pure
        return "pure" if pure else "dataset"

    @property
    def on_cpu(self) -> bool:
        return self.record is not None and not self.record.on_ascend

    def describe(self) -> str:
        """Tool, backend and device from the record; for a file without one, what is known of it."""
        if self.record is not None:
            return self.record.describe()
        return f"{self.tool} (no run record: device not known)"


# The most chips an accelerator card holds (Atlas 300I: 4 Ascend 310; 300I Duo: 2 and Pro: 1 Ascend 310P): a
# record's count outside 1..this is no card's, and gives no card figure.
MAX_CHIPS_PER_CARD = 8
# The stand-in's backends that are the PyTorch reference of a precision comparison, not an inference tool's run.
REFERENCE_BACKENDS = ("torch", "torch-fp16")


def card_chips(record: RunRecord | None, chips: int | None, tool: str = "benchmark") -> int | None:
    """Chips per card for a card figure (None: no card figure).

    With a run record: the record's (an Ascend 310 on an Atlas 300I: 4; a chip whose card is not known: None), never
    for a CPU. Without one the chip is not known: ``chips`` when given (--chips), else the guide's 4 for the benchmark
    tool's text files only (the 2021 tool ran only on the Ascend 310), and none for an ais_bench summary (a current
    host: a 310P's card is not known, and a stand-in's summary that lost its record is a CPU's)."""
    if record is None:
        if chips is not None:
            return chips
        return CHIPS_PER_310_CARD if tool == "benchmark" else None
    if not record.on_ascend:
        return None
    value = record.device.chips_per_card
    sane = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_CHIPS_PER_CARD
    return value if sane else None


@dataclass(frozen=True)
class CardFigure:
    """Several devices of one batch size run at once: what the card measured beside the guide's extrapolation."""

    batch_size: int
    mode: str
    devices: tuple[int, ...]
    measured_fps: float  # sum of the devices' Interface rates
    extrapolated_fps: float | None  # their mean x chips: the guide's card figure from one chip's rate (None: CPU)


def is_perf_file_name(name: str) -> bool:
    return any(pattern.match(name) for pattern in (PERF_NAME_PATTERN, PURE_INFER_NAME_PATTERN, SUMMARY_NAME_PATTERN))


def read_perf_file(path: str | os.PathLike[str], chips: int | None = None) -> PerfFile:
    """One perf file of any kind, with the run record beside it when there is one; anything else is a
    PipelineError naming it. ``chips`` (--chips; None: not given) applies only to a file without a record (see
    ``card_chips``)."""
    path = Path(path)
    if SUMMARY_NAME_PATTERN.match(path.name):
        summary = read_ais_bench_summary(path)
        record = find_run_record(path)
        used = card_chips(record, chips, "ais_bench")
        card = None if used is None else round(summary.throughput * used, _DECIMALS)
        # Interface fps: ais_bench's throughput (1000 x batch / mean NPU_compute_time, the stand-in's too); e2e fps:
        # only the stand-in's dataset runs measure it (their wall-clock rate), ais_bench does not.
        e2e = None if summary.pure else summary.wall_clock_throughput
        row = PerfRow(summary.batch_size, summary.device_id, e2e, summary.throughput, card)
        latency = summary.latency_ms or (record.latency_ms if record else None)
        return PerfFile(path, row, "ais_bench", summary.pure, record, used, latency)
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
        check_perf_numbers(path, perf)
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
        check_perf_numbers(path, pure)
        batch, device, e2e, interface = (
            batch_from_model_name(pure_name["model"]),
            int(pure_name["device"]),
            None,
            pure.throughput,
        )
    if batch is not None and not BATCH_SIZE.accepts(batch):
        raise PipelineError(f"{path}: batch size {batch} in the file name is not {BATCH_SIZE.describe()}")
    if not DEVICE_ID.accepts(device):
        raise PipelineError(f"{path}: device {device} in the file name is not {DEVICE_ID.describe()}")
    record = find_run_record(path)
    used = card_chips(record, chips, "benchmark")
    card = None if used is None else round(interface * used, _DECIMALS)
    tool = record.tool if record is not None else "benchmark"
    latency = record.latency_ms if record is not None else None
    return PerfFile(path, PerfRow(batch, device, e2e, interface, card), tool, None, record, used, latency)


def is_reference_run(path: str | os.PathLike[str]) -> bool:
    """The perf file of the PyTorch reference (the stand-in's torch backends, a precision comparison's other side),
    as its run record says."""
    try:
        record = find_run_record(path)
    except PipelineError:
        return False
    return record is not None and record.backend in REFERENCE_BACKENDS


def find_perf_files(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The perf files among ``paths``: files as given, folders searched (not recursively) for all kinds.

    A folder gives the inference runs only: the PyTorch reference's files (``is_reference_run``) are left out, with
    a note (given by name, they are shown, labelled by their record). A file named twice (or given and also found
    in a folder) is read once."""
    found: dict[Path, Path] = {}
    for given in map(Path, paths):
        if given.is_dir():
            matches = sorted(entry for entry in given.iterdir() if entry.is_file() and is_perf_file_name(entry.name))
            references = [path for path in matches if is_reference_run(path)]
            if references and len(references) < len(matches):
                LOG.info(
                    "note: %s left out: the PyTorch reference of a precision comparison, not an inference run (give "
                    "it by name to show it)",
                    ", ".join(str(path) for path in references),
                )
                matches = [path for path in matches if path not in references]
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


def read_perf_files(paths: Sequence[str | os.PathLike[str]], chips: int | None = None) -> list[PerfFile]:
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


def _common_chips(files: Sequence[PerfFile]) -> int | None:
    """The chips per card of files that share one figure (None when they have none, or differ)."""
    values = {f.chips for f in files}
    return values.pop() if len(values) == 1 else None


def measured_cards(files: Sequence[PerfFile], warn: bool = False) -> list[CardFigure]:
    """Per batch size and mode with files of two or more devices: the sum of their Interface rates (what the
    devices did together) and the guide's extrapolation from them (their mean x the files' chips per card, see
    ``card_chips``; None when no card figure means anything: a CPU, a chip whose card is not known). ``warn``: say
    which groups hold several files of one device (no figure for them); the table says it, the other readers do
    not repeat it."""
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
            if not warn:
                continue
            LOG.warning(
                "batch %d (%s): several files of one device (%s): no measured card figure",
                batch,
                mode,
                ", ".join(f.path.name for f in group),
            )
            continue
        rates = [f.row.interface_fps for f in group]
        per_card = _common_chips(group)
        figures.append(
            CardFigure(
                batch,
                mode,
                tuple(sorted(devices)),
                round(math.fsum(rates), _DECIMALS),
                None if per_card is None else round(math.fsum(rates) / len(rates) * per_card, _DECIMALS),
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


def latency_cell(f: PerfFile, key: str) -> str:
    value = (f.latency_ms or {}).get(key)
    return "-" if value is None else f"{value:.3f}"


def row_cells(
    f: PerfFile, card_column: bool, latency: bool, rate: Callable[[float | None], str] = _number
) -> list[str]:
    """A perf file's cells in the table's column order: batch, device, mode, e2e fps, Interface fps, [card fps],
    [median ms, p99 ms], each rate printed by ``rate`` (the table and report.md show the same columns)."""
    cells = [
        "?" if f.row.batch_size is None else str(f.row.batch_size),
        str(f.row.device_id),
        f.mode,
        rate(f.row.e2e_fps),
        rate(f.row.interface_fps),
    ]
    if card_column:
        cells.append(rate(f.row.card_fps if f.chips and f.chips > 1 else None))
    if latency:
        cells += [latency_cell(f, "median"), latency_cell(f, "p99")]
    return cells


def has_latency(files: Sequence[PerfFile]) -> bool:
    return any(f.latency_ms and ("median" in f.latency_ms or "p99" in f.latency_ms) for f in files)


def card_header(files: Sequence[PerfFile]) -> str | None:
    """The card column's title (``card fps (x4)``), or None when no file has a card figure."""
    carded = [f for f in files if f.chips is not None and f.chips > 1]
    if not carded:
        return None
    common = _common_chips(carded)
    return f"card fps (x{common})" if common else "card fps (x chips per card)"


def measured_on(files: Sequence[PerfFile], label: str | None) -> str | None:
    """What the figures were measured on: --label, else the records' tool and device (one line)."""
    if label:
        return label
    described = list(dict.fromkeys(f.record.describe() for f in files if f.record is not None))
    return "; ".join(described) if described else None


def record_notes(files: Sequence[PerfFile], chips: int | None) -> list[str]:
    """What a reader should know about the records: files without one (the chip is not known: what card figure
    each gets, see ``card_chips``), and a --chips (``chips``, None: not given) the records overrule."""
    notes = []

    def figure(f: PerfFile) -> str:
        if chips is not None:
            return f"card fps = Interface x {chips} (--chips)" if chips > 1 else "no card figure (--chips 1)"
        if f.chips:
            return f"card fps = Interface x {f.chips}, the guide's (its benchmark tool ran only on the Ascend 310)"
        return "no card figure (an ais_bench summary: the chip is not known; --chips N gives one)"

    for text, group in _group_by([f for f in files if f.record is None], figure).items():
        names = [f.path.name for f in group]
        notes.append(
            f"no run record beside {len(names)} perf file(s) ({', '.join(names[:3])}"
            f"{', ...' if len(names) > 3 else ''}): tool and device not known, {text}"
        )
    if chips is not None:
        overruled = [f.path.name for f in files if f.record is not None and (f.chips or 1) != chips]
        if overruled:
            notes.append(
                f"--chips {chips} not used for {', '.join(overruled[:3])}{', ...' if len(overruled) > 3 else ''}: "
                "the run record says the device (no card figure for a CPU; chips per card of the Ascend card)"
            )
    return notes


def _group_by(files: Sequence[PerfFile], key: Callable[[PerfFile], str]) -> dict[str, list[PerfFile]]:
    groups: dict[str, list[PerfFile]] = defaultdict(list)
    for f in files:
        groups[key(f)].append(f)
    return groups


def format_table(files: Sequence[PerfFile], label: str | None = None) -> str:
    """One row per file (the card column only where a card figure means something; median and p99 latency when
    a file has them), then the measured card figures, if any."""
    card_title = card_header(files)
    latency = has_latency(files)
    header = ("batch", "device", "mode", "e2e fps", "Interface fps (1 device)")
    header += (card_title,) if card_title else ()
    header += ("median ms", "p99 ms") if latency else ()
    rows = [(*header, "file")]
    for f in files:
        rows.append((*row_cells(f, bool(card_title), latency), f.path.name))
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
    who = measured_on(files, label)
    if who:
        lines.insert(0, f"measured on: {who}")
    cards = measured_cards(files, warn=True)
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
            group = [f for f in files if f.row.batch_size == card.batch_size and f.mode == card.mode]
            per_card = _common_chips(group)
            if card.extrapolated_fps is not None and per_card and per_card > 1:
                line += f"; guide's extrapolation: their mean x {per_card} = {_number(card.extrapolated_fps)} fps"
            lines.append(line)
    return "\n".join(lines) + "\n"


def _run_fields(record: RunRecord | None) -> dict[str, object] | None:
    if record is None:
        return None
    return {
        "describe": record.describe(),
        "tool": record.tool,
        "backend": record.backend,
        "device": record.device.describe(),
        "device_kind": record.device.kind,
        "model_file": record.model_file,
        "model_sha256": record.model_sha256,
        "weights": record.weights,
        "images": record.images,
        "dataset": record.dataset,
        "dataset_source": record.dataset_source,
        "streams": record.streams,
        "threads": record.threads,
        "started": record.started,
        "project_version": record.project_version,
    }


def format_json(files: Sequence[PerfFile], chips: int | None = None, label: str | None = None) -> str:
    """Rows (one per file), measured card figures and the guide's published figures, as one JSON object."""
    document = {
        "label": measured_on(files, label),
        "chips": chips,
        "rows": [
            {
                **asdict(f.row),
                "mode": f.mode,
                "tool": f.tool,
                "file": str(f.path),
                "chips": f.chips,
                "latency_ms": f.latency_ms,
                "run": _run_fields(f.record),
            }
            for f in files
        ],
        "measured_cards": [{**asdict(card), "devices": list(card.devices)} for card in measured_cards(files)],
        "published_ascend310": [
            {"batch_size": batch, "interface_fps": fps, "card_fps": card} for batch, fps, card in published_rates()
        ],
    }
    return json.dumps(document, indent=1) + "\n"


def draws_published(files: Sequence[PerfFile]) -> bool:
    """The published Ascend 310 figures are drawn beside this run's unless a record says it ran on a CPU."""
    return not any(f.on_cpu for f in files)


def plot_series(files: Sequence[PerfFile], label: str | None = None) -> dict[str, tuple[list[tuple[int, float]], bool]]:
    """What the plot draws: {line label: (points (batch, fps), published?)}, measured lines first.

    Measured rates of several devices of one batch size are averaged (the label says so); the card lines are
    the guide's extrapolation (x chips, only where a card figure means something) and the measured sum of devices
    run at once. The published Ascend 310 lines are left out when a record says the run was on a CPU."""
    who = label or measured_on(files, None) or "measured"
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
        carded = [f for f in rows if f.chips is not None and f.chips > 1]
        if carded:
            per_card = _common_chips(carded) or "chips per card"
            series[f"{who}: {kind}Interface x {per_card} (guide's card extrapolation)"] = (
                by_batch(carded, lambda f: f.row.card_fps),
                False,
            )
        cards = [card for card in measured_cards(files) if card.mode == mode]
        series[f"{who}: {kind}card fps measured (sum of the devices run at once)"] = (
            [(card.batch_size, card.measured_fps) for card in cards],
            False,
        )
    if draws_published(files):
        published = published_rates()
        series["published Ascend 310 (guide): Interface fps, 1 chip"] = ([(b, fps) for b, fps, _ in published], True)
        series[f"published Ascend 310 card (guide): Interface x {CHIPS_PER_310_CARD}"] = (
            [(b, card) for b, _, card in published],
            True,
        )
    return {name: line for name, line in series.items() if line[0]}


def plot_caption(files: Sequence[PerfFile]) -> str:
    """Images, batches, tool/backend and device of the run, for the plot's foot."""
    batches = sorted({f.row.batch_size for f in files if f.row.batch_size is not None})
    parts = [f"batch sizes {', '.join(map(str, batches))}"]
    images = {}
    for f in files:
        if f.record is not None and f.row.batch_size is not None:
            images.setdefault(f"bs{f.row.batch_size} {f.mode}", 0)
            images[f"bs{f.row.batch_size} {f.mode}"] += f.record.images
    if len(set(images.values())) == 1:
        parts.append(f"{next(iter(images.values()))} images per run")
    elif images:
        parts.append("images: " + ", ".join(f"{count} ({name})" for name, count in images.items()))
    described = list(dict.fromkeys(f.describe() for f in files))
    parts.append("; ".join(described))
    if not draws_published(files):
        parts.append("published Ascend 310 figures not drawn: this run was on a CPU")
    return " | ".join(parts)


def y_range(series: dict[str, tuple[list[tuple[int, float]], bool]]) -> tuple[float, list[str]]:
    """The plot's top: 15% above this run's highest measured rate (so that its lines fill the plot, whatever the
    published figures); and a note for each published line that goes above it (drawn clipped)."""
    measured = [fps for points, published in series.values() if not published for _, fps in points]
    top = 1.15 * max(measured or [fps for points, _ in series.values() for _, fps in points])
    clipped = [
        f"{name} reaches {max(fps for _, fps in points):g} fps (above the plot)"
        for name, (points, published) in series.items()
        if published and max(fps for _, fps in points) > top
    ]
    return top, clipped


def plot_throughput(files: Sequence[PerfFile], path: str | os.PathLike[str], label: str | None = None) -> None:
    """Throughput against batch size, written atomically as PNG. The y range is this run's (its measured lines
    fill the plot); a published line above it is clipped, and a note says how high it goes."""
    import textwrap

    import matplotlib  # here: a second of import time that only the plot needs (the driver imports this module)

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    if not any(f.row.batch_size is not None for f in files):
        raise PipelineError("nothing to plot: no perf file has a known batch size")
    series = plot_series(files, label)
    caption = textwrap.fill(plot_caption(files), 110)
    figure, axes = plt.subplots(figsize=(10, 6.5 + 0.25 * len(series)), dpi=100)
    try:
        top, clipped = y_range(series)
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
        axes.set_ylim(0, top)
        axes.set_xlabel("batch size")
        axes.set_ylabel("images per second")
        who = measured_on(files, label)
        axes.set_title("Throughput by batch size" + (f"\n{who}" if who else ""), fontsize=11)
        axes.grid(True, alpha=0.3)
        if clipped:
            axes.text(
                0.99, 0.98, "\n".join(clipped), transform=axes.transAxes, ha="right", va="top", fontsize=8, alpha=0.8
            )
        axes.legend(fontsize=9, loc="upper left", bbox_to_anchor=(0.0, -0.12), frameon=False)
        figure.text(0.01, 0.005, caption, fontsize=8, va="bottom", ha="left")
        figure.tight_layout(rect=(0, 0.04 + 0.012 * caption.count("\n"), 1, 1))
        with write_errors_named(path, "plot"), atomic_output(path, "wb") as handle:
            figure.savefig(handle, format="png", metadata={"Software": None})
    finally:
        plt.close(figure)
