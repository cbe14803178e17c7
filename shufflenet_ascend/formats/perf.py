"""The performance files of Huawei's benchmark tool: the dataset run's five lines and the pure-inference line."""

from __future__ import annotations

import re
from dataclasses import dataclass

PERF_NAME_PATTERN = re.compile(r"^perf_vision_batchsize_(?P<batch>\d+)_device_(?P<device>\d+)\.txt$")
PURE_INFER_NAME_PATTERN = re.compile(r"^PureInfer_perf_of_(?P<model>.+)_in_device_(?P<device>\d+)\.txt$")


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
