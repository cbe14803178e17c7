"""The stand-in's runs know what they are (issues 17, 19, 20): the run record holds the values of the run, one run
per result folder and device at a time, no silent replacement of another run's outputs, uint8 bins give the
float32 route's outputs, warm-up batches are not timed, the latency figures are those of the recorded times."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from shufflenet_ascend.fileio import sha256_file
from shufflenet_ascend.formats.dump import read_dump
from shufflenet_ascend.formats.info import InfoEntry, write_info
from shufflenet_ascend.formats.run_record import dataset_identity, read_run_record
from shufflenet_ascend.model_labels import read_onnx_labels
from shufflenet_ascend.standin import guard, pipeline
from shufflenet_ascend.standin.backends import Concurrency, InFlightClock, _ThreadedBackend
from shufflenet_ascend.standin.latency import latency_figures
from tiny_model import HEIGHT, WIDTH, TinyClassifier, export_tiny

IMAGES = 7


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dynamic-batch model on 32x24 inputs with real spread (seeded weights)."""
    path = tmp_path_factory.mktemp("models") / "tiny.onnx"
    torch.manual_seed(1)
    export_tiny(TinyClassifier(), path, dynamic_batch=True)
    return path


@pytest.fixture(scope="module")
def shufflenet_bs2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ShuffleNetV2+ Small on seeded random weights, exported by the project's script (metadata and all)."""
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    folder = tmp_path_factory.mktemp("shufflenet")
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "shufflenetv2_pth2onnx.py"), "random", "shufflenetv2_bs2.onnx", "2"],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return folder / "shufflenetv2_bs2.onnx"


def write_bins(folder: Path, images: np.ndarray, name: str, dtype: str) -> Path:
    """The images (float32 CHW, integer values 0..255) as bins of ``dtype`` under folder/<name>/ and their info
    file <name>.info; uint8 bins are HWC, as the preprocessor's uint8 route writes them."""
    (folder / name).mkdir()
    entries = []
    for index, image in enumerate(images):
        relative = f"./{name}/img_{index:03d}.bin"
        data = image if dtype == "float32" else image.transpose(1, 2, 0).astype(np.uint8)
        data.tofile(folder / relative)
        entries.append(InfoEntry(index, relative, image.shape[2], image.shape[1]))
    write_info(folder / f"{name}.info", entries)
    return folder / f"{name}.info"


def integer_images(count: int, height: int = HEIGHT, width: int = WIDTH, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(count, 3, height, width)).astype(np.float32)


def flags(model: Path, info: str, *extra: str, batch: int = 3) -> list[str]:
    return [f"-om_path={model}", f"-input_text_path={info}", f"-batch_size={batch}", *extra]


# --------------------------------------------------------------------------------------------------------------
# The run record.


def test_the_record_holds_the_values_of_the_run(tmp_path: Path, run_script, shufflenet_bs2: Path) -> None:
    info = write_bins(tmp_path, integer_images(5, 224, 224), "prep", "float32")
    argv = flags(shufflenet_bs2, "./prep.info", "-streams=2", "-threads=1", batch=2)
    result = run_script("benchmark_ort.py", *argv)
    assert result.returncode == 0, result.stderr
    record = read_run_record(tmp_path / "result" / "perf_vision_batchsize_2_device_0.json")
    assert record == read_run_record(tmp_path / "result" / "dumpOutput_device0.json")
    assert record.tool == "stand-in" and record.backend == "onnxruntime" and record.mode == "dataset"
    assert record.model_file == str(shufflenet_bs2)
    assert record.model_sha256 == sha256_file(shufflenet_bs2)
    assert record.weights == "random weights, seed 0" == read_onnx_labels(shufflenet_bs2)["weights"]
    assert record.model_size == "Small"
    assert record.images == 5 == len(list((tmp_path / "result" / "dumpOutput_device0").iterdir()))
    assert record.batch_size == 2 and (record.streams, record.threads) == (2, 1)
    assert record.input_dtype == "float32"
    assert record.dataset == dataset_identity(info, tmp_path / "prep" / "img_000.bin")
    assert record.dataset_source == "./prep.info"
    assert record.device.kind == "cpu" and record.device.cores == len(os.sched_getaffinity(0))
    assert record.command == ("benchmark_ort.py", *argv)
    assert record.started.endswith("+00:00")
    # 3 batches (2 + 2 + 1 padded), each timed once; the figures are those of the recorded times.
    assert len(record.batch_latencies_ms) == 3 and all(value > 0 for value in record.batch_latencies_ms)
    assert record.latency_ms == latency_figures(record.batch_latencies_ms)
    times = np.array(record.batch_latencies_ms)
    assert record.latency_ms["p90"] == round(float(np.percentile(times, 90)), 4)
    assert record.latency_ms["max"] == times.max() and record.latency_ms["count"] == 3
    assert "latency per batch of 2 (ms, 3 batches" in result.stderr
    # The 2021 perf file keeps its five lines.
    assert (tmp_path / "result" / "perf_vision_batchsize_2_device_0.txt").read_text().count("\n") == 5


def test_pure_inference_by_count_and_by_time(tmp_path: Path, run_script, tiny_onnx: Path) -> None:
    result = run_script("benchmark_ort.py", f"-om_path={tiny_onnx}", "-round=4", "-batch_size=2", "-warmup=3")
    assert result.returncode == 0, result.stderr
    record = read_run_record(tmp_path / "result" / "PureInfer_perf_of_tiny_in_device_0.json")
    assert record.mode == "pure" and record.images == 8 and record.latency_ms["count"] == 4
    assert record.dataset is None and "after 3 untimed warm-up rounds" in result.stderr
    result = run_script("benchmark_ort.py", f"-om_path={tiny_onnx}", "-duration=0.3", "-batch_size=2")
    assert result.returncode == 0, result.stderr
    record = read_run_record(tmp_path / "result" / "PureInfer_perf_of_tiny_in_device_0.json")
    assert record.latency_ms["count"] >= 1 and record.images == 2 * record.latency_ms["count"]
    both = run_script("benchmark_ort.py", f"-om_path={tiny_onnx}", "-duration=1", "-round=3")
    assert both.returncode == 2 and "give one (count or time)" in both.stderr


# --------------------------------------------------------------------------------------------------------------
# Warm-up: a backend whose first call is slow, on a clock of the test's own (no timing).


class SlowFirstCall(_ThreadedBackend):
    """Every call takes 2 ms of the test's clock, the very first one 1000 s."""

    name = "slow-first"

    def __init__(self) -> None:
        super().__init__("slow.onnx", Concurrency(1, 1))
        self.now = 0.0
        self.clock = InFlightClock(lambda: self.now)
        self.calls = 0

    def _infer(self, batch: np.ndarray) -> list[np.ndarray]:
        self.now += 1000.0 if self.calls == 0 else 0.002
        self.calls += 1
        return [batch.reshape(len(batch), -1)[:, :10].copy()]


@pytest.mark.parametrize("warmup, slow_batches", [(1, 0), (0, 1), (2, 0)])
def test_warm_up_batches_are_not_timed(warmup: int, slow_batches: int) -> None:
    backend = SlowFirstCall()
    backend.start(2, (3, 4, 4))
    try:
        perf = pipeline.run_pure_inference(backend, 2, (3, 4, 4), rounds=5, warmup=warmup)
    finally:
        backend.close()
    figures = latency_figures([seconds * 1000 for seconds in backend.clock.call_seconds])
    assert backend.calls == 5 + warmup * backend.in_flight and figures["count"] == 5
    assert figures["max"] == pytest.approx(1_000_000.0 if slow_batches else 2.0, rel=1e-6)
    assert figures["median"] == pytest.approx(2.0, rel=1e-6)
    assert perf.latency_ms == pytest.approx((1_000_000.0 * slow_batches + 2.0 * (5 - slow_batches)) / 5, rel=1e-6)


def test_warm_up_in_a_dataset_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = write_bins(tmp_path, integer_images(6, 4, 4), "prep", "float32")
    monkeypatch.chdir(tmp_path)
    samples = pipeline.load_samples(info, 4 * 48, "3*4*4")
    backend = SlowFirstCall()
    backend.start(2, (3, 4, 4))
    try:
        pipeline.run_dataset(backend, samples, 2, (3, 4, 4), tmp_path / "dump", False, progress=False, warmup=1)
    finally:
        backend.close()
    assert [round(seconds * 1000, 6) for seconds in backend.clock.call_seconds] == [2.0, 2.0, 2.0]
    assert len(list((tmp_path / "dump").iterdir())) == 6


# --------------------------------------------------------------------------------------------------------------
# One run per result folder and device.


def test_a_second_run_refuses_at_once_naming_the_first(
    tmp_path: Path, run_script, tiny_onnx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_bins(tmp_path, integer_images(IMAGES), "prep", "float32")
    (tmp_path / "result").mkdir()
    monkeypatch.chdir(tmp_path)
    with guard.result_lock(Path("result"), 0, ["benchmark_ort.py", "-backend=torch", "-om_path=random"]):
        assert (tmp_path / "result" / ".benchmark_ort_device0.lock").read_text().startswith(f"{os.getpid()}\n")
        result = run_script("benchmark_ort.py", *flags(tiny_onnx, "./prep.info"))
        assert result.returncode == 2
        assert result.stderr == (
            f"benchmark_ort.py: error: result: another stand-in run (pid {os.getpid()}: benchmark_ort.py "
            "-backend=torch -om_path=random) is writing the results of device 0 here; wait for it to end, or run "
            "in another folder\n"
        )
        assert not (tmp_path / "result" / "dumpOutput_device0").exists()
        # Another device writes other files: it runs beside the first (run_all.sh's several devices).
        other = run_script("benchmark_ort.py", *flags(tiny_onnx, "./prep.info"), "-device_id=1")
        assert other.returncode == 0, other.stderr
    assert not (tmp_path / "result" / ".benchmark_ort_device0.lock").exists()  # removed by its holder
    assert not (tmp_path / "result" / ".benchmark_ort_device1.lock").exists()
    assert run_script("benchmark_ort.py", *flags(tiny_onnx, "./prep.info")).returncode == 0


# --------------------------------------------------------------------------------------------------------------
# Nothing replaced silently.


def test_another_runs_outputs_are_replaced_only_when_asked(tmp_path: Path, run_script, tiny_onnx: Path) -> None:
    write_bins(tmp_path, integer_images(IMAGES), "prep", "float32")
    write_bins(tmp_path, integer_images(IMAGES, seed=1), "other", "float32")
    dump = tmp_path / "result" / "dumpOutput_device0"
    assert run_script("benchmark_ort.py", *flags(tiny_onnx, "./prep.info")).returncode == 0
    first = {path.name: path.read_bytes() for path in dump.iterdir()}

    same = run_script("benchmark_ort.py", *flags(tiny_onnx, "./prep.info"), "-streams=1")  # same run: replaced
    assert same.returncode == 0, same.stderr
    assert "removed 7 outputs of an earlier run" in same.stderr

    refused = run_script("benchmark_ort.py", *flags(tiny_onnx, "./other.info"))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.startswith(
        "benchmark_ort.py: error: result/dumpOutput_device0: holds 7 outputs of another dataset (onnxruntime on "
    )
    assert refused.stderr.endswith(
        "move it aside (mv result/dumpOutput_device0 <another name>) or pass -overwrite=true to replace it\n"
    )
    assert {path.name: path.read_bytes() for path in dump.iterdir()} == first  # untouched

    (tmp_path / "result" / "dumpOutput_device0.json").unlink()  # as if Huawei's tool had written the folder
    no_record = run_script("benchmark_ort.py", *flags(tiny_onnx, "./prep.info"))
    assert no_record.returncode == 2 and "holds 7 outputs with no run record" in no_record.stderr

    replaced = run_script("benchmark_ort.py", *flags(tiny_onnx, "./other.info"), "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert "replacing it (-overwrite)" in replaced.stderr
    record = read_run_record(tmp_path / "result" / "dumpOutput_device0.json")
    assert record.dataset_source == "./other.info"

    # A perf file of Huawei's tool (no record) is not replaced either.
    perf = tmp_path / "result" / "perf_vision_batchsize_3_device_0"
    perf.with_suffix(".json").unlink()
    refused = run_script("benchmark_ort.py", *flags(tiny_onnx, "./other.info"))
    assert refused.returncode == 2 and f"{perf.name}.txt: is there with no run record" in refused.stderr


# --------------------------------------------------------------------------------------------------------------
# uint8 bins (issue 19).


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_uint8_bins_give_the_float32_routes_outputs(tmp_path: Path, run_script, tiny_onnx: Path, backend: str) -> None:
    images = integer_images(IMAGES)
    write_bins(tmp_path, images, "prep_f32", "float32")
    write_bins(tmp_path, images, "prep_u8", "uint8")
    assert (tmp_path / "prep_u8" / "img_000.bin").stat().st_size * 4 == (
        (tmp_path / "prep_f32" / "img_000.bin").stat().st_size
    )
    dumps = {}
    for route, extra in [("prep_f32", ()), ("prep_u8", ("-input_dtype=uint8",)), ("prep_u8", ())]:
        result = run_script(
            "benchmark_ort.py", *flags(tiny_onnx, f"./{route}.info", f"-backend={backend}", *extra), "-overwrite"
        )
        assert result.returncode == 0, result.stderr
        dump = tmp_path / "result" / "dumpOutput_device0"
        dumps[(route, extra)] = {path.name: path.read_bytes() for path in sorted(dump.iterdir())}
        dtype = "float32" if route == "prep_f32" else "uint8"
        assert read_run_record(tmp_path / "result" / "dumpOutput_device0.json").input_dtype == dtype
        assert f"{IMAGES} inputs ({dtype})" in result.stderr
        (tmp_path / "result" / "dumpOutput_device0").rename(tmp_path / f"dump_{route}_{len(extra)}")
    # The converted tensor is the float32 bin byte for byte: the same backend gives the very same dumps.
    reference = dumps[("prep_f32", ())]
    assert len(reference) == IMAGES
    assert dumps[("prep_u8", ("-input_dtype=uint8",))] == reference == dumps[("prep_u8", ())]
    values = np.stack([read_dump(tmp_path / "dump_prep_f32_0" / name) for name in sorted(reference)])
    assert values.std() > 0.01  # outputs with spread: a wrong conversion could not match
    # ... and the same accuracy JSON (labels: the model's own top-1 for half of the images, another class else).
    predicted = values.argmax(axis=1)
    (tmp_path / "labels.txt").write_text(
        "".join(f"img_{index:03d}.JPEG {(label + index % 2) % 1000}\n" for index, label in enumerate(predicted))
    )
    accuracy = []
    for folder in ("dump_prep_f32_0", "dump_prep_u8_1"):
        scored = run_script("imagenet_acc_eval.py", f"{folder}/", "labels.txt", "./", f"{folder}.json")
        assert scored.returncode == 0, scored.stderr
        accuracy.append((tmp_path / f"{folder}.json").read_text())
    assert accuracy[0] == accuracy[1] and '"57.14%"' in accuracy[0], accuracy[0]


def test_a_bin_of_the_wrong_size_is_refused_before_inference(tmp_path: Path, run_script, tiny_onnx: Path) -> None:
    write_bins(tmp_path, integer_images(IMAGES), "prep", "uint8")
    (tmp_path / "prep" / "img_004.bin").write_bytes(b"\0" * 1000)
    result = run_script("benchmark_ort.py", *flags(tiny_onnx, "./prep.info"))
    assert result.returncode == 2
    assert result.stderr == (
        "benchmark_ort.py: error: prep/img_004.bin: 1000 bytes, expected 32*24*3 uint8 values = 2304 bytes (HWC, "
        "the uint8 route) (check -input_height/-input_width and the preprocessing)\n"
    )
    assert not (tmp_path / "result").exists()
    (tmp_path / "prep" / "img_000.bin").write_bytes(b"\0" * 1000)
    result = run_script("benchmark_ort.py", *flags(tiny_onnx, "./prep.info"))
    assert result.returncode == 2 and "prep/img_000.bin: 1000 bytes, neither 3*32*24 float32 values" in result.stderr
    result = run_script("benchmark_ort.py", *flags(tiny_onnx, "./prep.info"), "-input_dtype=float32")
    assert result.returncode == 2 and "expected 3*32*24 float32 values = 9216 bytes" in result.stderr


def test_uint8_route_on_the_torch_backends(tmp_path: Path, run_script) -> None:
    """torch and torch-fp16 take the uint8 bins too: the same dumps as from the float32 bins."""
    images = integer_images(3, 224, 224)
    write_bins(tmp_path, images, "prep_f32", "float32")
    write_bins(tmp_path, images, "prep_u8", "uint8")
    for backend in ("torch", "torch-fp16"):
        dumps = []
        for route in ("prep_f32", "prep_u8"):
            argv = flags(Path("random"), f"./{route}.info", f"-backend={backend}", "-streams=1", "-threads=1", batch=2)
            result = run_script("benchmark_ort.py", *argv, "-overwrite")
            assert result.returncode == 0, result.stderr
            dump = tmp_path / "result" / "dumpOutput_device0"
            dumps.append({path.name: path.read_bytes() for path in sorted(dump.iterdir())})
        assert len(dumps[0]) == 3 and dumps[0] == dumps[1], backend
        record = json.loads((tmp_path / "result" / "dumpOutput_device0.json").read_text())
        assert record["weights"] == "random weights, seed 0" and record["model_sha256"] == ""
        assert record["backend"] == backend and record["input_dtype"] == "uint8"
