"""Inference backends of the benchmark stand-in: the model run with several batches in flight at once.

``standin.pipeline`` reads the inputs and writes the tool's files; this module only runs the model. Four
backends take the same batches (float32 NCHW) and return the same outputs (float32, one array per model output):

    onnxruntime   the ONNX file the OM was converted from, onnxruntime CPU (the reference numerics)
    openvino      the same ONNX file, OpenVINO CPU: THROUGHPUT performance hint, a ring of infer requests, inference
                  precision f32 set explicitly (on CPUs with bf16/AMX support OpenVINO otherwise computes in bf16)
    torch         the PyTorch model itself (a checkpoint or seeded random weights), standin.torch_reference
    torch-fp16    the same in fp16 emulation (standin.torch_reference: weights and each layer's output rounded to
                  float16, sums in float32); an emulation of the Ascend's fp16, not the chip

Concurrency: ``streams`` batches are computed at once, each with ``threads`` intra-op threads, and as many again
wait queued (``IN_FLIGHT_PER_STREAM``: a stream then has its next batch while the last one's outputs are taken).
onnxruntime: one session (intra-op threads = ``threads``, idle ones not spinning) whose ``run`` is called from
``streams`` worker threads at once (``run`` releases the GIL and is thread-safe). torch: ``streams`` worker
threads, ``torch.set_num_threads(threads)``. openvino: ``NUM_STREAMS = streams``, ``INFERENCE_NUM_THREADS =
streams x threads`` and two infer requests per stream, used in turn by the submitting thread; with both left
automatic, its THROUGHPUT hint decides the streams.

Defaults (0 = automatic; measured on a 2-core machine, ShuffleNetV2+ Small, img/s, see docs/development.md):
one stream per core with one thread each, i.e. streams x threads = the cores this process may run on
(``os.sched_getaffinity``: ``taskset`` gives each of several processes its share). onnxruntime's intra-op threads
scale badly on this small network: 2 streams x 1 thread ran 1.3-1.5x a single run with 2 threads at batch 1 and
1.1-1.3x at batch 16; 2 streams x 2 threads oversubscribes the cores and was the slowest.

The in-flight clock (``InFlightClock``) measures the wall time during which at least one inference call was in
flight: the time base of the Interface throughputRate, which stays true when calls overlap (a sum of the calls'
own times would count overlapping time twice). It also keeps each call's own time (``call_seconds``: from a stream
taking the batch to its outputs; for OpenVINO its request latency less the wait for a stream), from which the
run's latency figures come; the warm-up calls are not in it.
"""

from __future__ import annotations

import heapq
import logging
import math
import os
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shufflenet_ascend import signals
from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import CHANNELS, DEFAULT_MODEL_SIZE, IMAGE_SIZE, INPUT_NAME, RANDOM_WEIGHTS

LOG = logging.getLogger(__name__)

ONNX_BACKENDS = ("onnxruntime", "openvino")
TORCH_BACKENDS = ("torch", "torch-fp16")
BACKENDS = ONNX_BACKENDS + TORCH_BACKENDS
DEFAULT_BACKEND = "onnxruntime"
# Batches in flight per stream. With one, a stream idles from the end of each batch until the Python callback has
# taken the outputs and the next batch is handed over; a second one queued keeps it busy. Measured on 2 cores at
# batch 1: OpenVINO 336-341 img/s with 2 infer requests, 362-372 with 4; the onnxruntime stand-in 352-363 with
# one batch per stream, 380-399 with two (at batch 16 the same within the noise).
IN_FLIGHT_PER_STREAM = 2

# Called once per submitted batch: (outputs, None) or (None, the error). From a worker thread (onnxruntime, torch)
# or, for OpenVINO, from the submitting thread, in a later ``submit`` or in ``wait_all``.
DoneCallback = Callable[[list[np.ndarray] | None, BaseException | None], None]


@dataclass(frozen=True)
class ModelInput:
    """The model's single input: name and NCHW dimensions (None where the model leaves a dimension dynamic)."""

    name: str
    batch: int | None
    channels: int | None
    height: int | None
    width: int | None


@dataclass(frozen=True)
class Concurrency:
    streams: int  # batches computed at once
    threads: int  # intra-op threads of each


def available_cores() -> int:
    """The cores this process may run on (its affinity mask: ``taskset`` narrows it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve_concurrency(streams: int = 0, threads: int = 0, cores: int | None = None) -> Concurrency:
    """Fill in automatic (0) values so that streams x threads = cores (at least 1 each); given values are kept."""
    cores = cores or available_cores()
    if streams < 0 or threads < 0:
        raise PipelineError(f"-streams={streams} -threads={threads}: must be 0 (automatic) or more")
    if not streams and not threads:
        threads = 1
    if not streams:
        streams = max(1, cores // threads)
    if not threads:
        threads = max(1, cores // streams)
    return Concurrency(streams, threads)


class InFlightClock:
    """Wall time during which at least one inference call was in flight, and each call's own time (thread-safe).

    ``now`` is the clock read (``time.perf_counter``; tests give a clock of their own)."""

    def __init__(self, now: Callable[[], float] | None = None) -> None:
        self.now = now or (lambda: time.perf_counter())  # looked up at each call: tests may replace it
        self._lock = threading.Lock()
        self._in_flight = 0
        self._since = 0.0
        self.seconds = 0.0
        self.call_seconds: list[float] = []  # every call's time since the last reset, in completion order

    def begin(self) -> None:
        with self._lock:
            if self._in_flight == 0:
                self._since = self.now()
            self._in_flight += 1

    def end(self, at: float | None = None) -> None:
        """One call done, ``at`` that clock time (default now)."""
        with self._lock:
            self._in_flight -= 1
            if self._in_flight == 0:
                self.seconds += (self.now() if at is None else at) - self._since

    def record_call(self, seconds: float) -> None:
        with self._lock:
            self.call_seconds.append(seconds)

    def reset(self) -> None:
        with self._lock:
            self.seconds = 0.0
            self.call_seconds = []


def stream_seconds(submitted: Sequence[float], completed: Sequence[float], streams: int) -> list[float]:
    """Each job's time on a stream, from when it was submitted and when it completed (same clock, submission
    order), when ``streams`` streams take the submitted jobs first come, first served (OpenVINO's CPU streams
    do): a job starts at its submission or when a stream is free, whichever is later. A request's own latency
    counts from its submission, so with more requests than streams it would include the wait for a stream."""
    free_at = [-math.inf] * streams  # when each stream is free: a heap
    seconds = []
    for submitted_at, completed_at in zip(submitted, completed, strict=True):
        started = max(submitted_at, heapq.heappop(free_at))
        heapq.heappush(free_at, max(completed_at, started))
        seconds.append(max(completed_at - started, 0.0))
    return seconds


def _static(dimension: object) -> int | None:
    return dimension if isinstance(dimension, int) and dimension > 0 else None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class Backend(ABC):
    """A model run with ``streams`` batches computed at once and ``in_flight`` submitted. ``open`` (the
    constructor) loads and checks the model, ``start`` prepares it for one batch shape, ``submit`` hands over one
    batch (blocking while ``in_flight`` are), ``wait_all`` waits for every submitted batch. The batch array must
    stay unchanged until its callback."""

    name = ""

    def __init__(self, model: str, concurrency: Concurrency) -> None:
        self.model = model
        self.concurrency = concurrency
        self.clock = InFlightClock()
        self.warmup_seconds: list[float] = []  # the last warm-up's calls, each call's own time
        self.model_input: ModelInput = ModelInput(INPUT_NAME, None, CHANNELS, IMAGE_SIZE, IMAGE_SIZE)

    @property
    def streams(self) -> int:
        return self.concurrency.streams

    @property
    def in_flight(self) -> int:
        """Batches submitted and not yet done, at most (``streams`` computing, the others queued): ``submit``
        blocks beyond it."""
        return self.concurrency.streams * IN_FLIGHT_PER_STREAM

    @abstractmethod
    def start(self, batch_size: int, shape: tuple[int, int, int]) -> None: ...

    @abstractmethod
    def submit(self, batch: np.ndarray, on_done: DoneCallback) -> None: ...

    @abstractmethod
    def wait_all(self) -> None: ...

    def close(self) -> None:  # noqa: B027 -- optional
        pass

    def describe(self) -> str:
        return f"{self.name}, {self.streams} streams x {self.concurrency.threads} threads"

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """One batch, synchronously (tests, warm-up)."""
        result: list[Any] = []
        self.submit(batch, lambda outputs, error: result.append((outputs, error)))
        self.wait_all()
        outputs, error = result[0]
        if error is not None:
            raise error
        return outputs

    def warm_up(self, batch: np.ndarray, rounds: int = 1, per_round: int | None = None) -> None:
        """``rounds`` untimed rounds of ``per_round`` batches (default ``in_flight``: allocation, planning, each
        worker's or request's first call), each round all at once; the clock starts afresh after them, and the
        warm-up calls' own times are kept in ``warmup_seconds``."""
        errors: list[BaseException] = []
        for _ in range(rounds):
            for _ in range(self.in_flight if per_round is None else per_round):
                self.submit(batch, lambda _outputs, error: errors.append(error) if error is not None else None)
            self.wait_all()
            if errors:
                raise errors[0]
        self.warmup_seconds = list(self.clock.call_seconds)
        self.clock.reset()


class _ThreadedBackend(Backend):
    """``streams`` worker threads, each running one batch at a time through ``_infer`` (which must release the
    GIL while it computes: onnxruntime's ``run`` and torch's operators do)."""

    def __init__(self, model: str, concurrency: Concurrency) -> None:
        super().__init__(model, concurrency)
        self._jobs: queue.Queue = queue.Queue()
        self._slots = threading.Semaphore(self.in_flight)
        self._idle = threading.Condition()
        self._pending = 0
        self._workers: list[threading.Thread] = []

    @abstractmethod
    def _infer(self, batch: np.ndarray) -> list[np.ndarray]: ...

    def start(self, batch_size: int, shape: tuple[int, int, int]) -> None:
        if self._workers:
            return
        self._workers = [
            threading.Thread(target=self._work, name=f"{self.name}-stream-{index}", daemon=True)
            for index in range(self.streams)
        ]
        for worker in self._workers:
            worker.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            batch, on_done = job
            outputs: list[np.ndarray] | None = None
            failure: BaseException | None = None
            self.clock.begin()
            started = self.clock.now()
            try:
                outputs = self._infer(batch)
            except BaseException as error:  # handed to the callback, which stops the run
                failure = error
            finally:
                self.clock.record_call(self.clock.now() - started)
                self.clock.end()
            try:
                on_done(outputs, failure)
            finally:
                self._slots.release()
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def submit(self, batch: np.ndarray, on_done: DoneCallback) -> None:
        with signals.deferred():  # Ctrl-C or SIGTERM raised after, not inside, the semaphore's and queue's code
            self._slots.acquire()
            with self._idle:
                self._pending += 1
            self._jobs.put((batch, on_done))

    def wait_all(self) -> None:
        with signals.deferred(), self._idle:
            self._idle.wait_for(lambda: self._pending == 0)

    def close(self) -> None:
        # The workers finish the batches queued before their stop marks (the queue is first in, first out). No
        # wait_all, and a stop mark given again to a worker still alive: Ctrl-C or SIGTERM in the middle of ``submit``
        # or of the queue's own code can leave the count of pending batches, or a mark, wrong.
        for worker in self._workers:
            while worker.is_alive():
                self._jobs.put(None)
                worker.join(0.1)
        self._workers = []


class OnnxRuntimeBackend(_ThreadedBackend):
    name = "onnxruntime"

    def __init__(self, model: str, concurrency: Concurrency) -> None:
        super().__init__(model, concurrency)
        self.session = open_session(model, concurrency.threads)
        self.model_input = describe_onnxruntime_input(self.session, model)
        self._input_name = self.model_input.name

    def _infer(self, batch: np.ndarray) -> list[np.ndarray]:
        return [np.asarray(output, dtype=np.float32) for output in self.session.run(None, {self._input_name: batch})]


def open_session(model_path: str | os.PathLike[str], threads: int = 0) -> Any:
    """An onnxruntime CPU session: all graph optimisations, sequential execution, ``threads`` intra-op threads
    (0: one per available core; the calling thread counts as one) that do not spin while idle."""
    import onnxruntime as ort

    path = Path(model_path)
    if not path.is_file():
        raise PipelineError(f"{path}: model file not found")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads or available_cores()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Idle intra-op threads sleep instead of spinning: with several threads per stream, spinning ones take the
    # cores from the reading and writing threads and from other processes (measured on a loaded 2-core machine:
    # 1 stream x 2 threads ran about twice as fast without spinning); with one thread per stream there is no pool.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
        raise PipelineError(f"{path}: not a model onnxruntime can load: {_first_line(exc)}") from None


def describe_onnxruntime_input(session: Any, model_path: str | os.PathLike[str]) -> ModelInput:
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise PipelineError(f"{model_path}: has {len(inputs)} inputs; a vision model has one (NCHW image)")
    model_input = inputs[0]
    if model_input.type != "tensor(float)":
        raise PipelineError(f"{model_path}: input {model_input.name!r} is {model_input.type}, expected float32")
    if len(model_input.shape) != 4:
        raise PipelineError(f"{model_path}: input {model_input.name!r} has shape {model_input.shape}, expected NCHW")
    return ModelInput(model_input.name, *(_static(d) for d in model_input.shape))


class OpenVinoBackend(Backend):
    """OpenVINO CPU: THROUGHPUT hint, f32 inference precision, a ring of infer requests driven by the submitting
    thread (the callbacks run in it too, see ``submit``)."""

    name = "openvino"

    def __init__(self, model: str, concurrency: Concurrency, automatic_streams: bool = False) -> None:
        super().__init__(model, concurrency)
        import openvino as ov

        path = Path(model)
        if not path.is_file():
            raise PipelineError(f"{path}: model file not found")
        self._core = ov.Core()
        try:
            self._model = self._core.read_model(str(path))
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses with long multi-line texts
            raise PipelineError(f"{path}: not a model OpenVINO can load: {_first_line(exc)}") from None
        inputs = self._model.inputs
        if len(inputs) != 1:
            raise PipelineError(f"{path}: has {len(inputs)} inputs; a vision model has one (NCHW image)")
        model_input = inputs[0]
        if model_input.get_element_type() != ov.Type.f32:
            raise PipelineError(f"{path}: input is {model_input.get_element_type()}, expected float32")
        shape = model_input.get_partial_shape()
        if shape.rank.is_dynamic or shape.rank.get_length() != 4:
            raise PipelineError(f"{path}: input has shape {shape}, expected NCHW")
        dims = [dim.get_length() if dim.is_static else None for dim in shape]
        self.model_input = ModelInput(model_input.get_any_name(), *dims)
        self._automatic_streams = automatic_streams
        self._ring: list[Any] = []  # the infer requests, used in turn (start() makes them)
        self._jobs: list[tuple[DoneCallback, int] | None] = []  # per request: its batch's callback and job number
        self._next = 0  # the request to use next: the one submitted longest ago
        self._tensors: dict[int, tuple[np.ndarray, Any]] = {}  # id(batch) -> (batch, an OpenVINO tensor on it)
        self._requests = concurrency.streams * IN_FLIGHT_PER_STREAM  # until start() compiles the model
        self._submitted: list[float] = []  # each job's submission time, since the last wait_all
        self._latency: dict[int, float] = {}  # job -> OpenVINO's latency of its request, seconds

    def start(self, batch_size: int, shape: tuple[int, int, int]) -> None:
        import openvino as ov

        if self._ring:
            return
        self._model.reshape({0: ov.PartialShape([batch_size, *shape])})
        config: dict[str, str] = {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": "f32"}
        if not self._automatic_streams:
            config["NUM_STREAMS"] = str(self.concurrency.streams)
            config["INFERENCE_NUM_THREADS"] = str(self.concurrency.streams * self.concurrency.threads)
        try:
            compiled = self._core.compile_model(self._model, "CPU", config)
        except Exception as exc:
            raise PipelineError(f"{self.model}: OpenVINO cannot compile the model: {_first_line(exc)}") from None
        precision = compiled.get_property("INFERENCE_PRECISION_HINT")
        if precision != ov.Type.f32:
            raise PipelineError(f"{self.model}: OpenVINO computes in {precision}, not f32")
        streams = int(compiled.get_property("NUM_STREAMS"))
        threads_total = int(compiled.get_property("INFERENCE_NUM_THREADS"))
        self.concurrency = Concurrency(streams, max(1, threads_total // max(streams, 1)))
        optimal = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        requests = max(optimal, streams) * IN_FLIGHT_PER_STREAM
        self._outputs = len(compiled.outputs)
        self._ring = [compiled.create_infer_request() for _ in range(requests)]
        self._jobs = [None] * requests
        self._requests = requests

    @property
    def in_flight(self) -> int:
        return self._requests

    def describe(self) -> str:
        return f"{super().describe()}, {self._requests} infer requests, precision f32"

    def _tensor(self, batch: np.ndarray) -> Any:
        """An OpenVINO tensor on the batch's memory (shared, not copied), made once per batch array: the pipeline
        refills the same few arrays, and a tensor set on a request costs less CPU than an array given to
        ``start_async`` (measured at batch 1: 50-60 against 115-135 us per batch, in the submitting thread)."""
        import openvino as ov

        if batch.dtype != np.float32 or not batch.flags.c_contiguous:
            return ov.Tensor(np.ascontiguousarray(batch, dtype=np.float32))
        known = self._tensors.get(id(batch))
        if known is None or known[0] is not batch:
            if len(self._tensors) >= 2 * len(self._ring):  # arrays made per batch (pure inference's random input)
                self._tensors.clear()
            known = self._tensors[id(batch)] = (batch, ov.Tensor(batch, shared_memory=True))
        return known[1]

    def _collect(self, slot: int) -> None:
        """Wait for the request in ``slot``, then hand its outputs (copied) or its error to its callback."""
        job = self._jobs[slot]
        assert job is not None
        on_done, number = job
        self._jobs[slot] = None
        request = self._ring[slot]
        outputs: list[np.ndarray] | None = None
        failure: BaseException | None = None
        try:
            request.wait()
            outputs = [
                np.array(request.get_output_tensor(index).data, dtype=np.float32, copy=True)
                for index in range(self._outputs)
            ]
        except Exception as error:
            failure = error
        finally:
            # OpenVINO's own time of this request (ms), as benchmark_app reports it: from its start to its outputs,
            # the wait for a stream included (see wait_all). The in-flight clock ends at its outputs, not now.
            self._latency[number] = float(request.latency) / 1000.0
            self.clock.end(self._submitted[number] + self._latency[number])
        on_done(outputs, failure)

    def submit(self, batch: np.ndarray, on_done: DoneCallback) -> None:
        # The requests are used in turn: the one used next, submitted longest ago, is collected first (waiting
        # for it while every request is busy) and its callback runs here. No Python runs in OpenVINO's threads:
        # a stream never waits for the GIL to finish a batch. One thread submits (the pipeline's): the jobs'
        # numbers are their submission order.
        slot = self._next
        self._next = (slot + 1) % len(self._ring)
        if self._jobs[slot] is not None:
            self._collect(slot)
        request = self._ring[slot]
        request.set_input_tensor(self._tensor(batch))
        number = len(self._submitted)
        self._submitted.append(self.clock.now())  # the request's latency counts from about now
        self.clock.begin()
        try:
            request.start_async()
        except BaseException:
            self.clock.end()
            self._submitted.pop()
            raise
        self._jobs[slot] = (on_done, number)

    def wait_all(self) -> None:
        """Wait for every request, oldest first; then each one's time on a stream goes to the clock
        (``stream_seconds``: its latency less the wait for a stream, the queued second request of each stream
        having waited)."""
        for offset in range(len(self._ring)):
            slot = (self._next + offset) % len(self._ring)
            if self._jobs[slot] is not None:
                self._collect(slot)
        jobs = [job for job in range(len(self._submitted)) if job in self._latency]
        completed = [self._submitted[job] + self._latency[job] for job in jobs]
        submitted = [self._submitted[job] for job in jobs]
        for seconds in stream_seconds(submitted, completed, self.concurrency.streams):
            self.clock.record_call(seconds)
        self._submitted, self._latency = [], {}


class TorchBackend(_ThreadedBackend):
    """The PyTorch model (torch_reference.load_reference_model), fp32 or the fp16 emulation."""

    def __init__(
        self,
        checkpoint: str,
        concurrency: Concurrency,
        model_size: str = DEFAULT_MODEL_SIZE,
        seed: int = 0,
        fp16: bool = False,
    ) -> None:
        super().__init__(checkpoint, concurrency)
        self.name = "torch-fp16" if fp16 else "torch"
        if checkpoint != RANDOM_WEIGHTS and not Path(checkpoint).is_file():
            raise PipelineError(
                f"{checkpoint}: checkpoint not found (or give the word {RANDOM_WEIGHTS!r} for seeded random weights)"
            )
        # Imported here, not at the top: torch takes seconds to import, and the ONNX backends do not need it.
        import torch

        from shufflenet_ascend.standin import torch_reference

        torch.set_num_threads(concurrency.threads)
        self._torch = torch
        self.module = torch_reference.load_reference_model(checkpoint, model_size, seed, fp16)

    def _infer(self, batch: np.ndarray) -> list[np.ndarray]:
        with self._torch.inference_mode():
            output = self.module(self._torch.from_numpy(batch))
        return [output.detach().to(self._torch.float32).numpy().copy()]


def open_backend(
    kind: str, model: str, streams: int = 0, threads: int = 0, model_size: str = DEFAULT_MODEL_SIZE, seed: int = 0
) -> Backend:
    """The backend ``kind`` (one of BACKENDS) on ``model`` (an ONNX file; for torch backends a checkpoint or
    ``random``), with ``streams`` x ``threads`` (0 = automatic, see ``resolve_concurrency``)."""
    concurrency = resolve_concurrency(streams, threads)
    if kind == "onnxruntime":
        return OnnxRuntimeBackend(model, concurrency)
    if kind == "openvino":
        return OpenVinoBackend(model, concurrency, automatic_streams=not streams and not threads)
    if kind in TORCH_BACKENDS:
        return TorchBackend(model, concurrency, model_size, seed, fp16=kind == "torch-fp16")
    raise PipelineError(f"-backend={kind}: expected one of {', '.join(BACKENDS)}")


def run_batches(backend: Backend, batches: Sequence[np.ndarray]) -> list[list[np.ndarray]]:
    """Every batch through the backend, all streams busy; outputs in the batches' order (tests, benchmarks)."""
    results: list[Any] = [None] * len(batches)
    errors: list[BaseException] = []

    def done_for(index: int) -> DoneCallback:
        def done(outputs: list[np.ndarray] | None, error: BaseException | None) -> None:
            results[index] = outputs
            if error is not None:
                errors.append(error)

        return done

    for index, batch in enumerate(batches):
        backend.submit(batch, done_for(index))
    backend.wait_all()
    if errors:
        raise errors[0]
    return results
