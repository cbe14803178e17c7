"""The performance files of the inference tools: the benchmark tool's dataset run (five lines) and pure-inference
line, and ais_bench's ``<name>_summary.json``."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

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
    throughput = document["throughput"]
    if not _positive_number(throughput):
        raise PipelineError(f"{path}: throughput {throughput!r} is not a positive number of images per second")
    args = document.get("args") or {}
    if not isinstance(args, dict):
        raise PipelineError(f"{path}: 'args' is not an object")
    batch = _non_negative_int(args.get("batchsize")) or None
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
    if device is None:
        raise PipelineError(f"{path}: device {device_value!r} in args is not a device number")
    pure = "input" in args and not args["input"]
    wall_clock = document.get("wall_clock_throughput")
    if not _positive_number(wall_clock):
        wall_clock = None
    latency = _latency(document.get("NPU_compute_time"))
    return AisBenchSummary(float(throughput), batch, device, pure, latency, wall_clock)


def _positive_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


_AIS_BENCH_LATENCY_KEYS = {"min": "min", "mean": "mean", "median": "median", "percentile(99%)": "p99", "max": "max"}


def _latency(stats: object) -> dict[str, float] | None:
    """ais_bench's NPU_compute_time statistics under the run record's names; values that are not finite
    non-negative numbers are left out (the throughput is what is checked strictly)."""
    if not isinstance(stats, dict):
        return None
    latency = {}
    for key, name in _AIS_BENCH_LATENCY_KEYS.items():
        value = stats.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
            latency[name] = float(value)
    count = stats.get("count")
    if latency and isinstance(count, int) and not isinstance(count, bool):
        latency["count"] = count
    return latency or None
