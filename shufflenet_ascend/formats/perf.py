"""The performance files of the inference tools: the benchmark tool's dataset run (five lines) and pure-inference
line, and ais_bench's ``<name>_summary.json``."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path

from shufflenet_ascend.bounds import BATCH_SIZE, DEVICE_ID, LATENCY_MS, MODULE_RATE, RATE, Bound
from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.fileio import read_text

PERF_NAME_PATTERN = re.compile(r"^perf_vision_batchsize_(?P<batch>\d+)_device_(?P<device>\d+)\.txt$")
PURE_INFER_NAME_PATTERN = re.compile(r"^PureInfer_perf_of_(?P<model>.+)_in_device_(?P<device>\d+)\.txt$")
SUMMARY_NAME_PATTERN = re.compile(r"^(?P<name>.+)_summary\.json$")  # ais_bench: <output_dirname>_summary.json
_BATCH_IN_MODEL_NAME = re.compile(r"(?:^|[^a-z0-9])bs(\d+)(?![0-9])", re.IGNORECASE)


def perf_file_name(batch_size: int, device_id: int) -> str:
    return f"perf_vision_batchsize_{batch_size}_device_{device_id}.txt"


def pure_infer_perf_file_name(model_stem: str, device_id: int) -> str:
    return f"PureInfer_perf_of_{model_stem}_in_device_{device_id}.txt"


def _g(value: float) -> str:
    # The tool prints with C++ ostream defaults: 6 significant digits.
    return f"{value:g}"


@dataclass(frozen=True)
class DatasetPerf:
    """The five lines of ``perf_vision_batchsize_<B>_device_<D>.txt`` (rates per second, latencies in ms)."""

    e2e_throughput: float
    e2e_latency_ms: float
    read_throughput: float
    read_latency_ms: float
    preprocess_throughput: float
    preprocess_latency_ms: float
    infer_throughput: float
    interface_throughput: float
    infer_latency_ms: float
    post_throughput: float
    post_latency_ms: float

    def format(self) -> str:
        return (
            f"[e2e] throughputRate: {_g(self.e2e_throughput)}, latency: {_g(self.e2e_latency_ms)}\n"
            f"[data read] throughputRate: {_g(self.read_throughput)}, moduleLatency: {_g(self.read_latency_ms)}\n"
            f"[preprocess] throughputRate: {_g(self.preprocess_throughput)}, "
            f"moduleLatency: {_g(self.preprocess_latency_ms)}\n"
            f"[infer] throughputRate: {_g(self.infer_throughput)}, "
            f"Interface throughputRate: {_g(self.interface_throughput)}, moduleLatency: {_g(self.infer_latency_ms)}\n"
            f"[post] throughputRate: {_g(self.post_throughput)}, moduleLatency: {_g(self.post_latency_ms)}\n"
        )


_NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)"
_DATASET_PERF_PATTERN = re.compile(
    rf"\[e2e\] throughputRate: {_NUMBER}, latency: {_NUMBER}\s*\n"
    rf"\[data read\] throughputRate: {_NUMBER}, moduleLatency: {_NUMBER}\s*\n"
    rf"\[preprocess\] throughputRate: {_NUMBER}, moduleLatency: {_NUMBER}\s*\n"
    rf"\[infer\] throughputRate: {_NUMBER}, Interface throughputRate: {_NUMBER}, moduleLatency: {_NUMBER}\s*\n"
    rf"\[post\] throughputRate: {_NUMBER}, moduleLatency: {_NUMBER}"
)
_PURE_INFER_PATTERN = re.compile(rf"ave_throughputRate\s*=\s*{_NUMBER}\s*samples/s,\s*ave_latency\s*=\s*{_NUMBER}\s*ms")


@dataclass(frozen=True)
class PureInferPerf:
    """``PureInfer_perf_of_<model>_in_device_<D>.txt``: samples/s on one chip and ms per batch."""

    throughput: float
    latency_ms: float

    def format(self) -> str:
        return f"ave_throughputRate = {_g(self.throughput)}samples/s, ave_latency = {_g(self.latency_ms)}ms\n"


def check_rate(path: str | os.PathLike[str], what: str, value: object, bound: Bound = RATE) -> float:
    """A rate a tool could have measured (``bounds.RATE``): -5, nan, 1e400 and 1e308 are refused, naming the file."""
    if not bound.accepts(value):
        beyond = Bound(bound.high, math.inf, integer=False, low_open=True).accepts(value)
        problem = f"beyond any chip (above {bound.high:g})" if beyond else "not a positive number"
        raise PipelineError(f"{path}: {what} {value!r} is {problem} of images per second")
    return float(value)  # type: ignore[arg-type]


def check_latency(path: str | os.PathLike[str], what: str, value: object) -> float:
    """A latency in ms (``bounds.LATENCY_MS``): -1 or inf is refused, naming the file."""
    if not LATENCY_MS.accepts(value):
        raise PipelineError(f"{path}: {what} {value!r} is not a latency in ms ({LATENCY_MS.describe()})")
    return float(value)  # type: ignore[arg-type]


# Each figure under the name its line gives it.
_FIGURE_NAMES = {
    "e2e_throughput": "[e2e] throughputRate",
    "e2e_latency_ms": "[e2e] latency",
    "read_throughput": "[data read] throughputRate",
    "read_latency_ms": "[data read] moduleLatency",
    "preprocess_throughput": "[preprocess] throughputRate",
    "preprocess_latency_ms": "[preprocess] moduleLatency",
    "infer_throughput": "[infer] throughputRate",
    "interface_throughput": "Interface throughputRate",
    "infer_latency_ms": "[infer] moduleLatency",
    "post_throughput": "[post] throughputRate",
    "post_latency_ms": "[post] moduleLatency",
    "throughput": "ave_throughputRate",
    "latency_ms": "ave_latency",
}


def check_perf_numbers(path: str | os.PathLike[str], perf: DatasetPerf | PureInferPerf) -> None:
    """Every figure of a perf file a number the tool could have printed: rates (fields ending in ``throughput``)
    positive and finite, latencies finite and not negative, each within ``bounds``."""
    for field in fields(perf):
        value = getattr(perf, field.name)
        what = _FIGURE_NAMES[field.name]
        if field.name in ("read_throughput", "preprocess_throughput", "post_throughput"):
            check_rate(path, what, value, MODULE_RATE)
        elif field.name.endswith("throughput"):
            check_rate(path, what, value)
        else:
            check_latency(path, what, value)


def parse_dataset_perf(text: str) -> DatasetPerf | None:
    match = _DATASET_PERF_PATTERN.search(text)
    return None if match is None else DatasetPerf(*map(float, match.groups()))


def parse_pure_infer_perf(text: str) -> PureInferPerf | None:
    match = _PURE_INFER_PATTERN.search(text)
    return None if match is None else PureInferPerf(*map(float, match.groups()))


def batch_from_model_name(model_name: str) -> int | None:
    """``shufflenetv2_bs16`` -> 16; None when the name carries no ``bs<N>``."""
    match = _BATCH_IN_MODEL_NAME.search(model_name)
    return int(match[1]) if match else None


@dataclass(frozen=True)
class AisBenchSummary:
    """What ais_bench's ``<name>_summary.json`` says of a run on one device."""

    throughput: float  # 1000 x batch / mean NPU_compute_time: the counterpart of the Interface throughputRate
    batch_size: int | None  # from args.batchsize, else bs<N> in the file's or the model's name, else unknown
    device_id: int
    pure: bool  # pure inference: it ran without --input
    # NPU_compute_time per batch in ms, the run record's keys: min, mean, median, p99, max, count (those it has)
    latency_ms: dict[str, float] | None = None
    # The CPU stand-in's own key: images per second of wall-clock time, its streams computing at once (a dataset
    # run: from the first read to the last output written, the e2e rate); None in ais_bench's own summaries.
    wall_clock_throughput: float | None = None


def _non_negative_int(value: object) -> int | None:
    """An ais_bench argument that should be a count: an int, or a string of ASCII digits; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip(), re.ASCII):
        return int(value)
    return None


def read_ais_bench_summary(path: str | os.PathLike[str]) -> AisBenchSummary:
    """ais_bench's ``<name>_summary.json``; anything else is a PipelineError naming the file."""
    path = Path(path)
    try:
        document = json.loads(read_text(path, "ais_bench summary"))
    except ValueError:
        raise PipelineError(f"{path}: not JSON (expected ais_bench's summary)") from None
    if not isinstance(document, dict) or "throughput" not in document:
        raise PipelineError(f"{path}: no 'throughput' key: not a summary of ais_bench")
    throughput = check_rate(path, "throughput", document["throughput"])
    args = document.get("args") or {}
    if not isinstance(args, dict):
        raise PipelineError(f"{path}: 'args' is not an object")
    batch = _non_negative_int(args.get("batchsize")) or None
    if batch is not None and not BATCH_SIZE.accepts(batch):
        raise PipelineError(f"{path}: batchsize {batch} in args is not {BATCH_SIZE.describe()}")
    if batch is None:
        name = SUMMARY_NAME_PATTERN.match(path.name)
        batch = batch_from_model_name(name["name"] if name else path.stem) or batch_from_model_name(
            Path(str(args.get("model") or "")).stem
        )
    device_value = args.get("device", 0)
    if isinstance(device_value, list):
        if len(device_value) != 1:
            raise PipelineError(f"{path}: ran on devices {device_value}; expected one summary per device")
        device_value = device_value[0]
    device = _non_negative_int(0 if device_value is None else device_value)
    if device is None or not DEVICE_ID.accepts(device):
        raise PipelineError(f"{path}: device {device_value!r} in args is not a device number")
    pure = "input" in args and not args["input"]
    wall_clock = document.get("wall_clock_throughput")  # the stand-in's own figure (ais_bench writes none)
    if wall_clock is not None:
        wall_clock = check_rate(path, "wall_clock_throughput", wall_clock)
    latency = _latency(path, document.get("NPU_compute_time"))
    return AisBenchSummary(throughput, batch, device, pure, latency, wall_clock)


_AIS_BENCH_LATENCY_KEYS = {"min": "min", "mean": "mean", "median": "median", "percentile(99%)": "p99", "max": "max"}


def _latency(path: Path, stats: object) -> dict[str, float] | None:
    """ais_bench's NPU_compute_time statistics under the run record's names; a value given that is not a latency
    (-1, inf, "2") is refused, naming the file."""
    if not isinstance(stats, dict):
        return None
    latency = {}
    for key, name in _AIS_BENCH_LATENCY_KEYS.items():
        if stats.get(key) is not None:
            latency[name] = check_latency(path, f"NPU_compute_time {key}", stats[key])
    count = stats.get("count")
    if latency and isinstance(count, int) and not isinstance(count, bool):
        latency["count"] = count
    return latency or None
