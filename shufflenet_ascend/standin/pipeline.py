"""The stand-in's runs: dataset mode (the info file's inputs -> dump files and the perf file) and pure inference.

Reading, inference and writing overlap: the calling thread reads each batch straight from the .bin files into
an array while the backend computes the batches in flight, a writer thread writes the dump files; the first
failure stops every stage. The output folders are checked, and the dump folder emptied of an earlier run's
outputs, before any inference. What each perf figure measures is told in ``benchmark_ort.py -help``
(``flags.DESCRIPTION``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shufflenet_ascend.cli import EXIT_CANNOT_WRITE, PipelineError
from shufflenet_ascend.contract import RANDOM_WEIGHTS
from shufflenet_ascend.fileio import atomic_write_text, sha256_file, write_errors_named
from shufflenet_ascend.formats.dump import dump_dir, parse_dump_file_name
from shufflenet_ascend.formats.perf import DatasetPerf, PureInferPerf, perf_file_name, pure_infer_perf_file_name
from shufflenet_ascend.formats.run_record import (
    Device,
    RunRecord,
    dataset_identity,
    record_path,
    utc_now,
    write_run_record,
)
from shufflenet_ascend.host import available_cores, cpu_name, project_version
from shufflenet_ascend.model_labels import (
    MODEL_SIZE_KEY,
    UNKNOWN_WEIGHTS,
    WEIGHTS_KEY,
    checkpoint_weights,
    random_weights,
    read_onnx_labels,
)
from shufflenet_ascend.safe_outputs import Output, refuse_unsafe_outputs
from shufflenet_ascend.standin.backends import TORCH_BACKENDS, Backend, ModelInput, open_backend
from shufflenet_ascend.standin.flags import BenchmarkFlags, check_flags
from shufflenet_ascend.standin.guard import check_replaceable, result_lock
from shufflenet_ascend.standin.inputs import (
    AUTO,
    Sample,
    SampleReader,
    ais_bench_samples,
    check_sizes,
    info_samples,
    load_samples,
    resolve_input_dtype,
)
from shufflenet_ascend.standin.latency import ais_bench_figures, describe_latency, latency_figures, times_ms
from shufflenet_ascend.standin.outputs import (
    DumpLayout,
    ais_bench_block,
    ais_bench_layout,
    ais_bench_summary,
    ais_bench_throughput,
    benchmark_layout,
    write_json,
    write_output_group,
    write_whole_output,
)

__all__ = ["load_samples", "run", "run_dataset", "run_pure_inference"]

LOG = logging.getLogger(__name__)

RESULT_DIR = Path("result")
# The writer formats and writes outputs in groups: fewer thread switches, one numpy formatting pass per group.
WRITE_GROUP_IMAGES = 32


def resolve_input_shape(model_input: ModelInput, flags: BenchmarkFlags, model_path: str) -> tuple[int, int, int]:
    """(C, H, W) of one input; the flags must agree with the model, and the batch with a static batch."""
    if model_input.batch is not None and model_input.batch != flags.batch_size:
        raise PipelineError(
            f"{model_path}: the model has a static batch of {model_input.batch} but -batch_size={flags.batch_size}; "
            f"pass -batch_size={model_input.batch} or export the model for batch {flags.batch_size}"
        )
    height = flags.input_height or model_input.height
    width = flags.input_width or model_input.width
    if height is None or width is None:
        raise PipelineError(f"{model_path}: the model's input size is dynamic: give -input_height and -input_width")
    if (model_input.height not in (None, height)) or (model_input.width not in (None, width)):
        raise PipelineError(
            f"-input_height={height} -input_width={width} disagree with the model {model_path}, whose input "
            f"{model_input.name!r} is {model_input.height}x{model_input.width} (height x width)"
        )
    return model_input.channels or 3, height, width


# --------------------------------------------------------------------------------------------------------------
# Dataset mode.


@dataclass
class _Batch:
    keys: list[str]
    data: np.ndarray


@dataclass
class _StageClock:
    """Seconds a stage spent on its own work; wall-clock span where the stage waits on others."""

    busy: float = 0.0
    first: float = 0.0
    last: float = 0.0


class _Pipeline:
    """The calling thread (reads a batch, submits it; the backend's streams compute) -> writer thread. The first
    failure stops every stage; it is re-raised in the calling thread."""

    _END = object()

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.errors: list[BaseException] = []

    def get(self, channel: queue.Queue) -> object:
        while not self.stop.is_set():
            try:
                return channel.get(timeout=0.1)
            except queue.Empty:
                continue
        return self._END

    def fail(self, error: BaseException) -> None:
        self.errors.append(error)
        self.stop.set()

    def thread(self, target: Callable[[], None], name: str) -> threading.Thread:
        def guarded() -> None:
            try:
                target()
            except BaseException as error:  # handed to the calling thread, which re-raises it
                self.fail(error)

        return threading.Thread(target=guarded, name=name, daemon=True)


class _Outbox:
    """Finished batches' outputs, handed to the writer a group of images at a time: the writer wakes once per
    group, not once per batch (at batch 1, waking it for every image cost it 0.14 ms of CPU per image, against
    0.09 ms woken once per group)."""

    def __init__(self, group_images: int) -> None:
        self._ready = threading.Condition()
        self._batches: list[tuple[list[str], list[np.ndarray]]] = []
        self._images = 0
        self._closed = False
        self._group_images = group_images

    def put(self, keys: list[str], outputs: list[np.ndarray]) -> None:
        with self._ready:
            self._batches.append((keys, outputs))
            self._images += len(keys)
            if self._images >= self._group_images:
                self._ready.notify()

    def close(self) -> None:
        """No more batches: the writer takes what is left."""
        with self._ready:
            self._closed = True
            self._ready.notify()

    def take(self, stop: threading.Event) -> tuple[list[tuple[list[str], list[np.ndarray]]], bool]:
        """The batches put since the last take, once they hold a group's images or the outbox is closed, and
        whether it is closed (the last take); nothing and True once ``stop`` is set."""
        with self._ready:
            while self._images < self._group_images and not self._closed:
                if stop.is_set():
                    return [], True
                self._ready.wait(0.1)
            batches, self._batches, self._images = self._batches, [], 0
            return batches, self._closed


PAGE_BYTES = 4096


def aligned_empty(shape: tuple[int, ...]) -> np.ndarray:
    """A float32 array starting on a page boundary: a backend can then use it in place (OpenVINO shares an
    input's memory only when it is aligned, else it copies the batch)."""
    count = int(np.prod(shape))
    raw = np.empty(count * 4 + PAGE_BYTES, dtype=np.uint8)
    offset = -raw.ctypes.data % PAGE_BYTES
    return raw[offset : offset + count * 4].view(np.float32).reshape(shape)


def inference_error(backend: Backend, error: BaseException) -> BaseException:
    """A backend's failure as one line naming the model (a PipelineError passes through)."""
    if isinstance(error, PipelineError):
        return error
    text = str(error).strip()
    first_line = text.splitlines()[0] if text else type(error).__name__
    return PipelineError(f"{backend.model}: inference failed ({backend.name}): {first_line}")


def run_dataset(
    backend: Backend,
    samples: Sequence[Sample],
    batch_size: int,
    shape: tuple[int, int, int],
    output_dir: Path | None,
    binary: bool,
    progress: bool = True,
    input_dtype: str = "float32",
    layout: DumpLayout | None = None,
    warmup: int = 1,
    warmup_per_round: int | None = None,
) -> DatasetPerf:
    """Infer every sample with ``backend.in_flight`` batches in flight, write one dump file per image and output
    (``layout``: the 2021 tool's, by default; ``output_dir`` None: nothing written, as ais_bench without
    --output), and measure each stage (flags.DESCRIPTION defines every figure). ``warmup`` untimed rounds first;
    each batch's inference time is in ``backend.clock.call_seconds`` afterwards (``warmup_per_round``: batches per
    warm-up round, default ``backend.in_flight``)."""
    from tqdm import tqdm

    layout = layout or benchmark_layout(binary)
    batches = [list(samples[start : start + batch_size]) for start in range(0, len(samples), batch_size)]
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
    pipeline = _Pipeline()
    outbox = _Outbox(WRITE_GROUP_IMAGES)
    # Batch arrays go round: read -> inference -> back, so none is allocated per batch. One more than the batches
    # in flight: the next batch is read while they compute (a stream's second batch waits queued, so no stream
    # idles while it is read). Last in, first out: the array the model finished with last is the likeliest to be
    # still in the CPU's cache.
    free_arrays: queue.LifoQueue = queue.LifoQueue()
    for _ in range(backend.in_flight + 1):
        free_arrays.put(aligned_empty((batch_size, *shape)))
    read_clock, preprocess_clock, infer_clock, post_clock = (_StageClock() for _ in range(4))
    infer_lock = threading.Lock()
    reader_of_samples = SampleReader(shape, input_dtype)

    def read_batch(chunk: list[Sample]) -> _Batch | None:
        """The chunk's images in a free batch array; None once the run is stopping."""
        data = pipeline.get(free_arrays)
        if data is _Pipeline._END:
            return None
        assert isinstance(data, np.ndarray)
        started = time.perf_counter()
        for slot, sample in enumerate(chunk):
            reader_of_samples.read_into(sample, data[slot])
        read_done = time.perf_counter()
        data[len(chunk) :] = 0.0  # the last batch is padded; its padded outputs are dropped
        read_clock.busy += read_done - started
        preprocess_clock.busy += time.perf_counter() - read_done
        return _Batch([sample.key for sample in chunk], data)

    bar = tqdm(total=len(samples), unit="img", desc="inference", disable=None if progress else True)

    def write_outputs() -> None:
        closed = False
        while not closed:
            group, closed = outbox.take(pipeline.stop)
            if group:  # one formatting pass for the whole group
                started = time.perf_counter()
                keys = [key for batch_keys, _ in group for key in batch_keys]
                outputs = [np.concatenate(parts) for parts in zip(*(outputs for _, outputs in group), strict=True)]
                if output_dir is not None:
                    write_output_group(output_dir, keys, outputs, layout)
                post_clock.busy += time.perf_counter() - started
                bar.update(len(keys))

    def done_callback(batch: _Batch) -> Callable[[Any, Any], None]:
        def done(outputs: list[np.ndarray] | None, error: BaseException | None) -> None:
            now = time.perf_counter()
            free_arrays.put(batch.data)  # the backend has finished with it; outputs are separate arrays
            if error is not None or outputs is None:
                pipeline.fail(inference_error(backend, error or RuntimeError("no outputs")))
                return
            with infer_lock:
                infer_clock.last = max(infer_clock.last, now)
            count = len(batch.keys)
            outbox.put(batch.keys, [np.asarray(output[:count], dtype=np.float32) for output in outputs])

        return done

    writer = pipeline.thread(write_outputs, "dump-writer")
    # untimed: allocation, planning
    backend.warm_up(np.zeros((batch_size, *shape), dtype=np.float32), warmup, warmup_per_round)
    wall_start = time.perf_counter()
    writer.start()
    try:
        # Read here, not in a thread of its own: the batches in flight keep the streams busy while the next one is
        # read, and every hand-over between threads costs CPU the model could use (at batch 1, a reader thread
        # and this one took 0.31 ms of CPU per image together, this one alone 0.23 ms).
        for chunk in batches:
            batch = read_batch(chunk)
            if batch is None:
                break
            if not infer_clock.first:
                infer_clock.first = time.perf_counter()
            backend.submit(batch.data, done_callback(batch))
        backend.wait_all()
        infer_clock.busy = sum(backend.clock.call_seconds)  # each batch's time on a stream
        outbox.close()
        writer.join()
    except BaseException as error:
        pipeline.fail(error)
        raise
    finally:
        pipeline.stop.set()
        backend.wait_all()
        bar.close()
        writer.join()
    if pipeline.errors:
        raise pipeline.errors[0]
    wall = time.perf_counter() - wall_start
    images = len(samples)
    samples_run = len(batches) * batch_size
    return DatasetPerf(
        e2e_throughput=images / wall,
        e2e_latency_ms=wall * 1000.0,
        read_throughput=_rate(images, read_clock.busy),
        read_latency_ms=_per_item_ms(read_clock.busy, images),
        preprocess_throughput=_rate(images, preprocess_clock.busy),
        preprocess_latency_ms=_per_item_ms(preprocess_clock.busy, images),
        infer_throughput=_rate(images, infer_clock.last - infer_clock.first),
        interface_throughput=_rate(samples_run, backend.clock.seconds),
        infer_latency_ms=_per_item_ms(infer_clock.busy, images),
        post_throughput=_rate(len(batches), post_clock.busy),
        post_latency_ms=_per_item_ms(post_clock.busy, len(batches)),
    )


def _rate(count: int, seconds: float) -> float:
    return count / max(seconds, 1e-9)


def _per_item_ms(seconds: float, count: int) -> float:
    return 1000.0 * seconds / max(count, 1)


# --------------------------------------------------------------------------------------------------------------
# Pure-inference mode.


def run_pure_inference(
    backend: Backend,
    batch_size: int,
    shape: tuple[int, int, int],
    rounds: int,
    warmup: int = 1,
    duration: float = 0.0,
    warmup_per_round: int | None = None,
    make_batch: Callable[[int], np.ndarray] | None = None,
    on_outputs: Callable[[int, list[np.ndarray]], None] | None = None,
) -> PureInferPerf:
    """``rounds`` batches (or, with ``duration``, as many as are started in that many seconds, at least one),
    ``backend.in_flight`` at once, after ``warmup`` untimed rounds of ``warmup_per_round`` batches (default
    ``backend.in_flight``). The input: ``make_batch(number)`` for each batch, else one batch of seeded random values
    (0..255, like the preprocessed images). ``on_outputs(number, outputs)`` gets each batch's outputs (from a
    stream's thread). Each batch's time is in ``backend.clock.call_seconds``."""
    fixed = np.random.default_rng(0).uniform(0.0, 255.0, size=(batch_size, *shape)).astype(np.float32)
    batch_for = make_batch or (lambda _number: fixed)
    backend.warm_up(batch_for(0), warmup, warmup_per_round)
    errors: list[BaseException] = []

    def done_for(number: int) -> Callable[[Any, BaseException | None], None]:
        def done(outputs: Any, error: BaseException | None) -> None:
            if error is None and on_outputs is not None:
                try:
                    on_outputs(number, outputs)
                except BaseException as failure:  # re-raised by the calling thread
                    error = failure
            if error is not None:
                errors.append(error)

        return done

    submitted = 0
    started = backend.clock.now()
    while not errors:
        if duration:
            if submitted and backend.clock.now() - started >= duration:
                break
        elif submitted >= rounds:
            break
        backend.submit(batch_for(submitted), done_for(submitted))
        submitted += 1
    backend.wait_all()
    if errors:
        raise inference_error(backend, errors[0])
    busy = backend.clock.seconds
    return PureInferPerf(throughput=_rate(submitted * batch_size, busy), latency_ms=_per_item_ms(busy, submitted))


# --------------------------------------------------------------------------------------------------------------
# Output folders: checked (and emptied of an earlier run's dump) before any inference.


def make_output_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents); anything in the way is one line naming it."""
    for part in reversed([folder, *folder.parents]):
        if str(part) in ("", ".") or part.is_dir():
            continue
        if part.exists() or part.is_symlink():
            raise PipelineError(f"{part}: is a file, expected a folder for the results")
        try:
            part.mkdir()
        except FileExistsError:  # created meanwhile by someone else: fine if it is a folder
            if not part.is_dir():
                raise PipelineError(f"{part}: is a file, expected a folder for the results") from None
        except OSError as exc:
            raise PipelineError(f"{part}: cannot create the results folder: {exc.strerror or exc}") from None
    try:
        with tempfile.TemporaryFile(dir=folder):  # a real write probe: os.access says yes to root on a read-only fs
            pass
    except OSError as exc:
        raise PipelineError(f"{folder}: results folder is not writable: {exc.strerror or exc}") from None


def check_perf_path(path: Path) -> None:
    if path.is_dir():
        raise PipelineError(f"{path}: is a folder, expected the perf file's name (remove or rename the folder)")


def clear_dump_folder(folder: Path) -> int:
    """Remove an earlier run's outputs (``<key>_<k>.txt|bin|npy`` files and temporaries of interrupted writes)
    from the dump folder, so that it holds this run's outputs only; other entries are left alone.
    Returns how many outputs were removed."""
    removed = 0
    try:
        with os.scandir(folder) as entries:
            names = [(entry.name, entry.is_file(follow_symlinks=False) or entry.is_symlink()) for entry in entries]
    except OSError as exc:
        raise PipelineError(f"{folder}: cannot list the dump folder: {exc.strerror or exc}") from None
    for name, is_file in names:
        temporary = (
            name.startswith(".")
            and name.endswith(".tmp")
            and parse_dump_file_name(name[1:].split(".tmp")[0].rsplit(".", 1)[0]) is not None
        )
        if not is_file or (parse_dump_file_name(name) is None and not temporary):
            continue
        try:
            (folder / name).unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise PipelineError(
                f"{folder / name}: cannot remove an earlier run's output: {exc.strerror or exc}"
            ) from None
        removed += not temporary
    return removed


def write_perf_file(path: Path, text: str) -> None:
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise PipelineError(f"{path}: cannot write the perf file: {exc.strerror or exc}", EXIT_CANNOT_WRITE) from None


# --------------------------------------------------------------------------------------------------------------


def resolve_model_path(flags: BenchmarkFlags) -> str:
    """The model file the backend runs: -om_path, or ais_bench's --model, whose .om runs as the .onnx beside it."""
    if not flags.ais_bench_style:
        return flags.om_path
    model = Path(flags.model)
    if model.suffix.lower() != ".om":
        return flags.model
    onnx_path = model.with_suffix(".onnx")
    if not onnx_path.is_file():
        raise PipelineError(
            f"{model}: an OM model runs only on an Ascend device with ais_bench, and there is no {onnx_path} beside "
            "it (the ONNX file it was converted from) for the stand-in to run"
        )
    LOG.info(
        "%s: an OM model runs only on an Ascend device; the stand-in runs the ONNX file beside it, %s", model, onnx_path
    )
    return str(onnx_path)


@dataclass(frozen=True)
class _Outputs:
    """Where a run writes: the result folder (locked), the dump folder, the perf file or summary, the records;
    ``guarded``: (earlier output, its record) pairs that this run replaces."""

    result_dir: Path | None
    dump: Path | None
    perf: Path | None
    records: tuple[Path, ...]
    guarded: tuple[tuple[Path, Path], ...]


def _plan_outputs(flags: BenchmarkFlags, model_path: str, dataset: bool) -> _Outputs:
    if flags.ais_bench_style:
        if not flags.output:
            return _Outputs(None, None, None, (), ())  # as ais_bench without --output: nothing is saved
        result_dir = Path(flags.output)
        dirname = flags.output_dirname or time.strftime("%Y_%m_%d-%H_%M_%S")
        summary = result_dir / f"{dirname}_summary.json"
        record = record_path(summary)
        dump = result_dir / dirname  # pure inference too: each loop's outputs
        guarded = ((summary, record), (dump, record))
        return _Outputs(result_dir, dump, summary, (record,), guarded)
    if not dataset:
        perf = RESULT_DIR / pure_infer_perf_file_name(Path(model_path).stem, flags.device_id)
        return _Outputs(RESULT_DIR, None, perf, (record_path(perf),), ((perf, record_path(perf)),))
    dump = dump_dir(RESULT_DIR, flags.device_id)
    perf = RESULT_DIR / perf_file_name(flags.batch_size, flags.device_id)
    records = (record_path(perf), record_path(dump))
    return _Outputs(RESULT_DIR, dump, perf, records, ((dump, record_path(dump)), (perf, record_path(perf))))


def _describe_model(flags: BenchmarkFlags, model_path: str) -> tuple[str, str, str | None, dict[str, str]]:
    """(sha256 of the model file, its weights, its size, its quantization: precision and calibration, when it is
    quantized): from the ONNX file's metadata, or for the torch backends from the checkpoint (its sha256) or the
    seed."""
    if flags.backend in TORCH_BACKENDS:
        if model_path == RANDOM_WEIGHTS:
            return "", random_weights(flags.seed), flags.model_size, {}
        sha256 = sha256_file(model_path)
        return sha256, checkpoint_weights(sha256), flags.model_size, {}
    labels = read_onnx_labels(model_path)
    quantized = {key: labels[key] for key in ("precision", "calibration") if key in labels}
    return sha256_file(model_path), labels.get(WEIGHTS_KEY, UNKNOWN_WEIGHTS), labels.get(MODEL_SIZE_KEY), quantized


def run(flags: BenchmarkFlags, command: Sequence[str] | None = None, samples: Sequence[Sample] | None = None) -> int:
    """What the flags ask for: a dataset run (``-input_text_path`` or ``--input``) or pure inference; returns the
    exit status. The flags are checked before the model is loaded, the inputs and the outputs before any
    inference. ``command``: the command line, for the run record (default: this process's); ``samples``: the
    inputs of one device's shard (``standin.devices``) instead of ``--input``'s. Several devices (``--device
    0,1``): one process per device, ``standin.devices``."""
    check_flags(flags)
    devices = flags.device_ids
    if len(devices) > 1:
        from shufflenet_ascend.standin.devices import run_devices  # it runs this module in each device's process

        return run_devices(flags, tuple(sys.argv if command is None else command))
    flags = dataclasses.replace(flags, device_id=devices[0])
    started = utc_now()
    model_path = resolve_model_path(flags)
    backend = open_backend(flags.backend, model_path, flags.streams, flags.threads, flags.model_size, flags.seed)
    try:
        return _run(flags, backend, model_path, tuple(sys.argv if command is None else command), started, samples)
    finally:
        backend.close()


def read_inputs(flags: BenchmarkFlags) -> list[Sample]:
    """The inputs of a dataset run: the info file's, or ``--input``'s as ais_bench reads it."""
    return info_samples(flags.input_text_path) if flags.input_text_path else ais_bench_samples(flags.input)


def _run(
    flags: BenchmarkFlags,
    backend: Backend,
    model_path: str,
    command: tuple[str, ...],
    started: str,
    given: Sequence[Sample] | None = None,
) -> int:
    static_batch = backend.model_input.batch
    if flags.ais_bench_style and static_batch is not None and flags.batch_size == 1:
        flags = dataclasses.replace(flags, batch_size=static_batch)  # ais_bench takes the batch from the model
    shape = resolve_input_shape(backend.model_input, flags, model_path)
    dataset = bool(flags.input_text_path or flags.input)
    if dataset:
        if flags.round and not flags.ais_bench_style:
            LOG.warning("-round=%d is ignored in dataset mode (-input_text_path given)", flags.round)
        source = flags.input_text_path or flags.input
        samples = list(given) if given is not None else read_inputs(flags)
        input_dtype = resolve_input_dtype(flags.input_dtype, samples[0], shape)
        check_sizes(samples, shape, input_dtype)
        dataset_id: str | None = dataset_identity(source, samples[0].path)
    else:
        samples, source, dataset_id = [], None, None
        input_dtype = "float32" if flags.input_dtype == AUTO else flags.input_dtype
    rounds = flags.round or (1 if flags.ais_bench_style and not flags.duration else 0)  # ais_bench's --loop: 1

    sha256, weights, model_size, quantized = _describe_model(flags, model_path)
    record = RunRecord(
        tool="stand-in",
        device=Device("cpu", cpu_name(), cores=available_cores()),
        model_file=model_path,
        model_sha256=sha256,
        batch_size=flags.batch_size,
        mode="dataset" if dataset else "pure",
        images=0,
        weights=weights,
        backend=flags.backend,
        streams=backend.concurrency.streams,
        threads=backend.concurrency.threads,
        input_dtype=input_dtype,
        dataset=dataset_id,
        dataset_source=source,
        started=started,
        project_version=project_version(),
        command=command,
        model_size=model_size,
        **quantized,
    )
    outputs = _plan_outputs(flags, model_path, dataset)
    refuse_unsafe_outputs(
        [
            *([] if outputs.dump is None else [Output(outputs.dump, folder=True, under=outputs.result_dir)]),
            *([] if outputs.perf is None else [Output(outputs.perf, under=outputs.result_dir)]),
            *outputs.records,
        ],
        [None if model_path == RANDOM_WEIGHTS else model_path, flags.input_text_path, *flags.input.split(",")],
        sorted({os.path.dirname(sample.path) or "." for sample in samples}),  # 0.3 s per 50,000 (Path.parent: 0.6)
    )
    if outputs.result_dir is None:
        LOG.info("no --output: nothing is written (as ais_bench), the figures are printed")
        _infer(flags, backend, samples, shape, input_dtype, rounds, outputs, record)
        return 0
    make_output_folder(outputs.result_dir)
    with result_lock(outputs.result_dir, flags.device_id, command):
        if outputs.dump is not None:
            make_output_folder(outputs.dump)
        if outputs.perf is not None:
            check_perf_path(outputs.perf)
        for target, target_record in outputs.guarded:
            check_replaceable(target, record, flags.overwrite, target_record)
        if outputs.dump is not None:
            # The dump folder's record goes first: a run interrupted from here leaves a folder with no record,
            # which the next run does not take for this one.
            for path in outputs.records:
                if path == record_path(outputs.dump) or flags.ais_bench_style:
                    _remove(path)
            removed = clear_dump_folder(outputs.dump)
            if removed:
                LOG.info("%s: removed %d outputs of an earlier run", outputs.dump, removed)
        _infer(flags, backend, samples, shape, input_dtype, rounds, outputs, record)
    return 0


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise PipelineError(f"{path}: cannot remove an earlier run's record: {exc.strerror or exc}") from None


def _infer(
    flags: BenchmarkFlags,
    backend: Backend,
    samples: Sequence[Sample],
    shape: tuple[int, int, int],
    input_dtype: str,
    rounds: int,
    outputs: _Outputs,
    record: RunRecord,
) -> None:
    """Run the model, then write the perf file (or summary) and the records, and print the figures."""
    batch_size = flags.batch_size
    backend.start(batch_size, shape)
    ais_bench = flags.ais_bench_style
    layout = ais_bench_layout(flags.outfmt) if ais_bench else benchmark_layout(flags.output_binary)
    # ais_bench's --warmup_count counts inferences (one batch each); the stand-in's -warmup counts rounds of
    # backend.in_flight batches (every stream's first calls).
    per_round = 1 if ais_bench else None
    if samples:
        LOG.info(
            "%d inputs (%s), batch %d, %s, model %s -> %s",
            len(samples),
            input_dtype,
            batch_size,
            backend.describe(),
            record.model_file,
            outputs.dump or "nothing written",
        )
        perf: DatasetPerf | PureInferPerf = run_dataset(
            backend,
            samples,
            batch_size,
            shape,
            outputs.dump,
            flags.output_binary,
            input_dtype=input_dtype,
            layout=layout,
            warmup=flags.warmup,
            warmup_per_round=per_round,
        )
        wall_clock = perf.e2e_throughput
        plural = "s" if len(samples) != 1 else ""
        wall_clock_what = f"{len(samples)} image{plural} from the first read to the last output"
    else:
        amount = f"{flags.duration:g} seconds" if flags.duration else f"{rounds} batches"
        LOG.info("pure inference: %s of %d, %s", amount, batch_size, backend.describe())
        make_batch = on_outputs = None
        if ais_bench:
            make_batch = pure_input(flags.pure_data_type, (batch_size, *shape))
            if outputs.dump is not None:
                on_outputs = pure_output_writer(outputs.dump, layout)
        perf = run_pure_inference(
            backend, batch_size, shape, rounds, flags.warmup, flags.duration, per_round, make_batch, on_outputs
        )
        wall_clock = perf.throughput
        wall_clock_what = "batches of generated input, with a batch in flight"
    times = times_ms(backend.clock.call_seconds)
    figures = latency_figures(times)
    record = dataclasses.replace(
        record,
        images=len(samples) if samples else len(times) * batch_size,
        streams=backend.concurrency.streams,
        threads=backend.concurrency.threads,
        latency_ms=figures,
        batch_latencies_ms=tuple(times),
        wall_clock_throughput=wall_clock,
    )
    if flags.debug:
        for kind, milliseconds in (("warm-up", times_ms(backend.warmup_seconds)), ("timed", times)):
            for number, value in enumerate(milliseconds, 1):
                LOG.info("[DEBUG] %s inference %d (batch of %d) cost : %.4f ms", kind, number, batch_size, value)

    if ais_bench:
        compute = ais_bench_figures(times)
        # No copy to a device is made: 0 ms, counted as ais_bench counts them (each batch; pure inference: one).
        copies = {**dict.fromkeys(compute, 0.0), "count": compute["count"] if samples else 1}
        throughput = ais_bench_throughput(batch_size, compute)
        text = ais_bench_block(compute, batch_size, throughput, copies if flags.display_all_summary else None)
        text += (
            f"[INFO] stand-in wall-clock throughput: {wall_clock:g} images/s ({wall_clock_what}; "
            f"{backend.describe()}, the streams computing at once; not ais_bench's figure, which is the throughput "
            "line above)\n"
        )
        if outputs.perf is not None:
            args = {
                "model": flags.model,
                "input": flags.input or None,
                "output": flags.output or None,
                "output_dirname": flags.output_dirname or None,
                "outfmt": flags.outfmt.upper(),
                "loop": rounds,
                "warmup_count": flags.warmup,
                "device": flags.device_id,
                "batchsize": batch_size,
                "debug": flags.debug,
                "pure_data_type": flags.pure_data_type,
                "display_all_summary": flags.display_all_summary,
            }
            summary = ais_bench_summary(
                compute,
                copies,
                times,
                throughput,
                wall_clock,
                summary_files(samples, batch_size, outputs, layout, len(times)),
                args,
            )
            write_json(outputs.perf, summary, "the summary")
    else:
        text = perf.format()
        assert outputs.perf is not None
        write_perf_file(outputs.perf, text)
    for path in outputs.records:
        with write_errors_named(path, "the run record"):
            write_run_record(path, record)
    sys.stdout.write(text)
    if isinstance(perf, PureInferPerf):  # said where it is printed: it is not any batch's latency
        LOG.info(
            "ave_latency: the tool's figure, wall time / batches (= batch size / ave_throughputRate); with %d "
            "batches in flight at once it is below each batch's own time (the latency per batch below)",
            backend.in_flight,
        )
    unit = "inference" if ais_bench else "round"
    LOG.info("%s", describe_latency(figures, batch_size, flags.warmup, backend.in_flight, unit))
    if outputs.perf is not None:
        count = len(samples) if samples else len(times)
        written = f"{count} outputs to {outputs.dump}, " if outputs.dump else ""
        LOG.info("wrote %s%s and its record %s", written, outputs.perf, outputs.records[0])


PURE_INPUT_KEY = "pure_infer_data"  # ais_bench's name for the generated input of pure inference


def pure_input(kind: str, shape: tuple[int, ...]) -> Callable[[int], np.ndarray]:
    """ais_bench's --pure_data_type: ``zero`` (one array of zeros) or ``random`` (each batch its own random
    values 0..255, seeded by the batch's number: a run is repeatable)."""
    if kind == "zero":
        zeros = np.zeros(shape, dtype=np.float32)
        return lambda _number: zeros
    return lambda number: np.random.default_rng(number).integers(0, 256, shape, dtype=np.uint8).astype(np.float32)


def pure_output_key(number: int) -> str:
    return f"{PURE_INPUT_KEY}_{number}"


def pure_output_writer(folder: Path, layout: DumpLayout) -> Callable[[int, list[np.ndarray]], None]:
    """Writes each pure-inference batch's outputs as one file per model output: ``pure_infer_data_<n>_<k>``."""

    def write(number: int, batch_outputs: list[np.ndarray]) -> None:
        for index, output in enumerate(batch_outputs):
            write_whole_output(folder / layout.name(pure_output_key(number), index), output, layout)

    return write


def summary_files(
    samples: Sequence[Sample], batch_size: int, outputs: _Outputs, layout: DumpLayout, batches: int
) -> list[tuple[list[str], list[str]]]:
    """ais_bench's filesinfo: per batch, its input files and its output files (pure inference: the generated
    input, one output file per batch)."""
    if not samples:
        names = [
            [str(outputs.dump / layout.name(pure_output_key(n), 0))] if outputs.dump else [] for n in range(batches)
        ]
        return [([PURE_INPUT_KEY], written) for written in names]
    chunks = [samples[start : start + batch_size] for start in range(0, len(samples), batch_size)]
    return [
        (
            [str(sample.path) for sample in chunk],
            [str(outputs.dump / layout.name(sample.key, 0)) for sample in chunk] if outputs.dump else [],
        )
        for chunk in chunks
    ]
