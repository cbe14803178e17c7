"""standin.backends: every backend computes the same outputs as the reference, whatever the concurrency.

ShuffleNetV2+ Small on seeded random weights with real logit spread (shufflenet_ascend.model.randomize_weights_:
logits of standard deviation ~4), so that a wrong computation cannot pass. Tolerances: fp32 sums over this
network differ by about 1e-6 of the largest logit between kernels that order them differently (measured 2e-6
between OpenVINO and onnxruntime); 1e-4 leaves a margin of 50 and still catches bf16 (about 1e-2, which
OpenVINO uses by default on CPUs with bf16 support) and any mix-up of images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from shufflenet_ascend import export
from shufflenet_ascend import model as shufflenet
from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import IMAGE_SIZE
from shufflenet_ascend.standin import backends, torch_reference
from shufflenet_ascend.standin.backends import (
    Concurrency,
    InFlightClock,
    open_backend,
    resolve_concurrency,
    run_batches,
    stream_seconds,
)

BATCH = 4
SHAPE = (3, IMAGE_SIZE, IMAGE_SIZE)
MAX_RELATIVE_ERROR = 1e-4


@pytest.fixture(scope="module")
def random_model() -> torch.nn.Module:
    return shufflenet.prepare_model("random", "Small", 0)


@pytest.fixture(scope="module")
def onnx_bs4(random_model: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "shufflenetv2_bs4.onnx"
    path.write_bytes(export.export_onnx(random_model, BATCH))
    return path


@pytest.fixture(scope="module")
def batches() -> list[np.ndarray]:
    """Three different batches of 0..255 images (as the preprocessed bins hold)."""
    rng = np.random.default_rng(5)
    return [rng.uniform(0, 255, size=(BATCH, *SHAPE)).astype(np.float32) for _ in range(3)]


def relative_errors(reference: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """Per image: the largest absolute difference over the largest absolute reference value."""
    return np.abs(candidate - reference).max(axis=1) / np.abs(reference).max(axis=1)


def top5(logits: np.ndarray) -> np.ndarray:
    return np.argsort(-logits, axis=1, kind="stable")[:, :5]


def outputs_of(kind: str, model: Path, batches: list[np.ndarray], streams: int = 0, threads: int = 0) -> np.ndarray:
    backend = open_backend(kind, str(model), streams, threads)
    try:
        backend.start(BATCH, SHAPE)
        return np.concatenate([outputs[0] for outputs in run_batches(backend, batches)])
    finally:
        backend.close()


@pytest.mark.parametrize(
    "streams, threads, cores, expected",
    [
        (0, 0, 2, (2, 1)),
        (0, 0, 48, (48, 1)),
        (0, 0, 1, (1, 1)),  # default: one stream of one thread per core
        (1, 0, 2, (1, 2)),
        (4, 0, 16, (4, 4)),
        (3, 0, 2, (3, 1)),  # streams given: the cores shared among them
        (0, 2, 8, (4, 2)),
        (0, 4, 2, (1, 4)),  # threads given: as many streams as fit
        (3, 5, 2, (3, 5)),  # both given: as given
    ],
)
def test_concurrency_defaults_fill_the_cores(streams: int, threads: int, cores: int, expected: tuple[int, int]) -> None:
    assert resolve_concurrency(streams, threads, cores) == Concurrency(*expected)


def test_in_flight_clock_counts_overlapping_calls_once(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(backends.time, "perf_counter", lambda: now[0])
    clock = InFlightClock()
    for moment, event in [
        (0.0, clock.begin),
        (1.0, clock.begin),
        (2.0, clock.end),
        (3.0, clock.end),
        (5.0, clock.begin),
        (6.0, clock.end),
    ]:
        now[0] = moment
        event()
    # In flight 0..3 and 5..6: 4 s (the calls' own times would sum to 3 + 1 + 1 = 5).
    assert clock.seconds == 4.0
    now[0] = 7.0
    clock.begin()
    now[0] = 9.5
    clock.end(at=8.0)  # a call whose end is known afterwards (OpenVINO's request latency)
    assert clock.seconds == 5.0


def simulate_fifo_streams(submitted: list[float], service: list[float], streams: int) -> list[float]:
    """Completion times of jobs served first come, first served by ``streams`` streams (an event-by-event
    simulation, written apart from stream_seconds' heap)."""
    free = [0.0] * streams
    completed = []
    for arrival, duration in zip(submitted, service, strict=True):
        stream = min(range(streams), key=lambda index: free[index])
        start = max(arrival, free[stream])
        free[stream] = start + duration
        completed.append(start + duration)
    return completed


@pytest.mark.parametrize("streams", [1, 2, 3])
def test_stream_seconds_recover_each_jobs_time_on_a_stream(streams: int) -> None:
    # Jobs submitted faster than the streams serve them (the second request of each stream waits), then slower.
    rng = np.random.default_rng(streams)
    service = rng.uniform(2.0, 8.0, size=60).tolist()
    submitted = np.cumsum(np.r_[rng.uniform(0.0, 1.0, size=30), rng.uniform(5.0, 12.0, size=30)]).tolist()
    completed = simulate_fifo_streams(submitted, service, streams)
    latencies = [done - arrival for done, arrival in zip(completed, submitted, strict=True)]
    assert max(np.subtract(latencies, service)) > 5.0  # the requests' own latencies include the wait
    np.testing.assert_allclose(stream_seconds(submitted, completed, streams), service, rtol=1e-12)


def test_onnxruntime_outputs_do_not_depend_on_the_concurrency(onnx_bs4: Path, batches: list[np.ndarray]) -> None:
    """1 stream of 2 threads, 2 of 1, 3 of 1: bit-identical (onnxruntime's CPU kernels split work by output,
    never a sum, across threads), and each image's output is its own (no batch mix-up across streams)."""
    reference = outputs_of("onnxruntime", onnx_bs4, batches, streams=1, threads=2)
    for streams, threads in [(2, 1), (3, 1)]:
        np.testing.assert_array_equal(outputs_of("onnxruntime", onnx_bs4, batches, streams, threads), reference)
    assert reference.std() > 1.0  # real spread
    assert not np.array_equal(reference[:BATCH], reference[BATCH : 2 * BATCH])


def test_openvino_agrees_with_onnxruntime(onnx_bs4: Path, batches: list[np.ndarray]) -> None:
    """More batches than infer requests (the ring of requests goes round), each image's outputs its own."""
    many = batches * 3
    reference = outputs_of("onnxruntime", onnx_bs4, many, streams=1, threads=1)
    for streams, threads in [(0, 0), (2, 1), (1, 2)]:
        candidate = outputs_of("openvino", onnx_bs4, many, streams, threads)
        assert relative_errors(reference, candidate).max() <= MAX_RELATIVE_ERROR, (streams, threads)
        np.testing.assert_array_equal(top5(candidate), top5(reference))


def test_openvino_reads_a_refilled_batch_array_afresh(onnx_bs4: Path, batches: list[np.ndarray]) -> None:
    """OpenVINO keeps a tensor on each batch array it is given (the pipeline refills the same few arrays): an array
    refilled between batches gives each batch's own outputs, and arrays made per batch (pure inference's random
    input) do not pile up."""
    reference = outputs_of("onnxruntime", onnx_bs4, batches, streams=1, threads=1)
    backend = open_backend("openvino", str(onnx_bs4), streams=2, threads=1)
    try:
        backend.start(BATCH, SHAPE)
        array = np.empty((BATCH, *SHAPE), dtype=np.float32)
        outputs = []
        for batch in batches:
            array[...] = batch
            outputs.append(backend.run(array)[0])
        assert relative_errors(reference, np.concatenate(outputs)).max() <= MAX_RELATIVE_ERROR
        for number in range(3 * backend.in_flight):
            backend.run(batches[number % len(batches)].copy())
        assert len(backend._tensors) <= 2 * backend.in_flight  # noqa: SLF001
    finally:
        backend.close()


def test_openvino_is_compiled_for_f32_throughput(onnx_bs4: Path) -> None:
    backend = open_backend("openvino", str(onnx_bs4), streams=2, threads=1)
    backend.start(BATCH, SHAPE)
    requests = backend._ring  # noqa: SLF001 -- the infer requests of the one compiled model
    assert backend.concurrency == Concurrency(2, 1)
    assert backend._requests >= 2 and len(requests) == backend._requests  # noqa: SLF001
    assert "precision f32" in backend.describe()
    backend.close()


def test_model_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    for kind, text in [
        ("onnxruntime", "not a model onnxruntime can load"),
        ("openvino", "not a model OpenVINO can load"),
    ]:
        with pytest.raises(PipelineError, match=f"broken.onnx: {text}"):
            open_backend(kind, str(tmp_path / "broken.onnx"))
        with pytest.raises(PipelineError, match="missing.onnx: model file not found"):
            open_backend(kind, str(tmp_path / "missing.onnx"))
    with pytest.raises(PipelineError, match="missing.pth.tar: checkpoint not found"):
        open_backend("torch", str(tmp_path / "missing.pth.tar"))
    with pytest.raises(PipelineError, match="-backend=tensorrt: expected one of onnxruntime, openvino"):
        open_backend("tensorrt", str(tmp_path / "broken.onnx"))


@pytest.fixture
def torch_threads() -> None:
    """The torch backend sets torch's intra-op threads of the process: restored afterwards."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_torch_backends_call_load_reference_model(
    monkeypatch: pytest.MonkeyPatch, random_model: torch.nn.Module, torch_threads: None
) -> None:
    """Plumbing (with a stand-in load_reference_model): the checkpoint, size, seed and fp16 reach
    load_reference_model; the outputs are the module's, float32, from worker threads in inference mode."""
    calls = []

    def load_reference_model(
        checkpoint: str, model_size: str = "Small", seed: int = 0, fp16: bool = False
    ) -> torch.nn.Module:
        calls.append((checkpoint, model_size, seed, fp16))
        return random_model

    monkeypatch.setattr(torch_reference, "load_reference_model", load_reference_model)
    batch = np.random.default_rng(1).uniform(0, 255, size=(2, *SHAPE)).astype(np.float32)
    for kind, fp16 in [("torch", False), ("torch-fp16", True)]:
        backend = open_backend(kind, "random", streams=2, threads=1, model_size="Medium", seed=7)
        backend.start(2, SHAPE)
        outputs = backend.run(batch)
        backend.close()
        assert calls[-1] == ("random", "Medium", 7, fp16)
        assert outputs[0].dtype == np.float32 and outputs[0].shape == (2, 1000)
    torch.set_num_threads(1)
    with torch.inference_mode():
        np.testing.assert_array_equal(outputs[0], random_model(torch.from_numpy(batch)).numpy())


def test_torch_backend_is_the_reference_model(onnx_bs4: Path, batches: list[np.ndarray], torch_threads: None) -> None:
    """The real torch_reference: outputs equal the model's own forward (same threads: PyTorch's kernels sum in
    another order with another thread count), and onnxruntime on the ONNX export of the same weights agrees."""
    outputs = outputs_of("torch", Path("random"), batches, streams=2, threads=1)
    model = torch_reference.load_reference_model("random", "Small", 0, False)
    torch.set_num_threads(1)
    with torch.inference_mode():
        expected = np.concatenate([model(torch.from_numpy(batch)).numpy() for batch in batches])
    np.testing.assert_array_equal(outputs, expected)
    onnx = outputs_of("onnxruntime", onnx_bs4, batches)
    assert relative_errors(outputs, onnx).max() <= MAX_RELATIVE_ERROR
    np.testing.assert_array_equal(top5(onnx), top5(outputs))
    fp16 = outputs_of("torch-fp16", Path("random"), batches, streams=1, threads=1)
    cosine = (fp16 * outputs).sum(1) / np.linalg.norm(fp16, axis=1) / np.linalg.norm(outputs, axis=1)
    assert 0.99 < cosine.min() and not np.array_equal(fp16, outputs)  # fp16 moves the outputs, but not far
