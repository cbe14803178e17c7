"""The run record beside every output set: written and read back whole, refused when broken, its identities."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.formats.run_record import (
    Device,
    RunRecord,
    dataset_identity,
    find_run_record,
    read_run_record,
    record_path,
    write_run_record,
)

CPU_RUN = RunRecord(
    tool="stand-in",
    backend="openvino",
    device=Device("cpu", "AMD EPYC 7B13", cores=2),
    streams=2,
    threads=1,
    model_file="shufflenetv2_bs16.onnx",
    model_sha256="ab" * 32,
    weights="random weights, seed 0",
    batch_size=16,
    mode="dataset",
    images=40,
    dataset="sha256:" + "cd" * 32,
    dataset_source="shufflenetv2_prep_bin.info",
    started="2026-11-30T08:00:00+00:00",
    project_version="0123456789ab",
    command=("python3", "benchmark_ort.py", "-batch_size=16"),
    latency_ms={"min": 1.0, "mean": 2.0, "median": 2.0, "p90": 3.0, "p99": 3.5, "max": 4.0, "count": 3},
)
ASCEND_RUN = replace(
    CPU_RUN,
    tool="benchmark",
    backend=None,
    streams=None,
    threads=None,
    device=Device("ascend", "Ascend310", device_ids=(0, 1), chips_per_card=4),
)


@pytest.mark.parametrize("record", [CPU_RUN, ASCEND_RUN])
def test_a_record_reads_back_as_written(tmp_path: Path, record: RunRecord) -> None:
    path = tmp_path / "perf_vision_batchsize_16_device_0.json"
    write_run_record(path, record)
    assert read_run_record(path) == record
    assert json.loads(path.read_text())["format"] == "shufflenet_ascend run record 1"


def test_descriptions_say_cpu_or_chip() -> None:
    assert CPU_RUN.describe() == "CPU stand-in (openvino) on AMD EPYC 7B13, 2 cores, 2 streams x 1 thread"
    assert ASCEND_RUN.describe() == "benchmark on Ascend310 device 0,1"
    assert not CPU_RUN.on_ascend and ASCEND_RUN.on_ascend


def test_the_record_sits_beside_the_tools_file() -> None:
    assert record_path("result/perf_vision_batchsize_1_device_0.txt") == Path(
        "result/perf_vision_batchsize_1_device_0.json"
    )
    assert record_path("result/bs1_summary.json") == Path("result/bs1_record.json")


def test_no_record_is_none_and_a_broken_one_is_named(tmp_path: Path) -> None:
    perf = tmp_path / "perf_vision_batchsize_1_device_0.txt"
    assert find_run_record(perf) is None
    record_path(perf).write_text('{"format": "something else"}')
    with pytest.raises(PipelineError, match="not a run record of this project"):
        find_run_record(perf)
    write_run_record(record_path(perf), replace(CPU_RUN, device=Device("cpu", "x", chips_per_card=4)))
    with pytest.raises(PipelineError, match="a CPU with chips per card"):
        find_run_record(perf)
    write_run_record(record_path(perf), replace(CPU_RUN, batch_size=0, tool="guess"))
    with pytest.raises(PipelineError, match=r"impossible tool 'guess', batch size 0"):
        find_run_record(perf)


def test_shards_of_one_dataset_share_its_identity(tmp_path: Path) -> None:
    prep = tmp_path / "prep_dataset"
    prep.mkdir()
    (prep / ".prep_sources.json").write_text('{"images": ["a", "b"]}')
    shard_0, shard_1 = tmp_path / "device0.info", tmp_path / "device1.info"
    shard_0.write_text(f"0 {prep}/a.bin 224 224\n")
    shard_1.write_text(f"0 {prep}/b.bin 224 224\n")
    assert dataset_identity(shard_0, prep / "a.bin") == dataset_identity(shard_1, prep / "b.bin")
    assert dataset_identity(prep) == dataset_identity(shard_0, prep / "a.bin")
    # Without the preprocessor's record: the info file's content.
    other = tmp_path / "other.info"
    other.write_text("0 x.bin 224 224\n")
    assert dataset_identity(other) != dataset_identity(shard_0, prep / "a.bin")
    assert dataset_identity(other).startswith("sha256:")
