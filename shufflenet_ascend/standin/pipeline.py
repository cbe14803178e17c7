"""The stand-in's runs: dataset mode (the info file's inputs -> dump files and the perf file) and pure inference.

Reading, inference and writing overlap: a reader thread fills batch arrays straight from the .bin files, the
backend keeps several batches in flight, a writer thread writes the dump files; the first failure stops every
stage. The output folders are checked, and the dump folder emptied of an earlier run's outputs, before any
inference. What each perf figure measures is told in ``benchmark_ort.py -help`` (``flags.DESCRIPTION``).
"""

from __future__ import annotations

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
from shufflenet_ascend.fileio import atomic_write_text
from shufflenet_ascend.formats.dump import dump_dir, dump_file_name, parse_dump_file_name, write_dumps
from shufflenet_ascend.formats.info import read_info
from shufflenet_ascend.formats.perf import DatasetPerf, PureInferPerf, perf_file_name, pure_infer_perf_file_name
from shufflenet_ascend.keys import file_key
from shufflenet_ascend.standin.backends import Backend, ModelInput, open_backend
from shufflenet_ascend.standin.flags import BenchmarkFlags, check_flags

LOG = logging.getLogger(__name__)

RESULT_DIR = Path("result")
PREFETCH_BATCHES = 4
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


@dataclass(frozen=True)
class Sample:
    key: str
    path: Path


def load_samples(info_path: str | os.PathLike[str], sample_bytes: int, shape_text: str) -> list[Sample]:
    """The info file's inputs, each checked up front: present, the right size, one key per input."""
    entries = read_info(info_path)
    if not entries:
        raise PipelineError(f"{info_path}: no inputs listed")
    samples = []
    seen: dict[str, str] = {}
    for entry in entries:
        path = Path(entry.path)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise PipelineError(f"{info_path}: input {entry.path} (index {entry.index}) not found") from None
        except OSError as exc:
            raise PipelineError(f"{info_path}: input {entry.path} (index {entry.index}): {exc.strerror}") from None
        if not path.is_file():
            raise PipelineError(f"{info_path}: input {entry.path} (index {entry.index}) is not a file")
        if size != sample_bytes:
            raise PipelineError(_size_message(path, size, sample_bytes, shape_text))
        key = file_key(path)
        if key in seen:
            raise PipelineError(
                f"{info_path}: inputs {seen[key]} and {entry.path} have the same key {key!r}, "
                "their outputs would overwrite each other"
            )
        seen[key] = entry.path
        samples.append(Sample(key, path))
    return samples


def _size_message(path: Path, size: int, expected: int, shape_text: str) -> str:
    return (
        f"{path}: {size} bytes, expected {shape_text} float32 values = {expected} bytes "
        "(check -input_height/-input_width and the preprocessing)"
    )


def read_sample_into(sample: Sample, destination: np.ndarray, shape_text: str) -> None:
    """Read one input straight into its slot of the batch array (no intermediate copy)."""
    view = memoryview(destination).cast("B")
    try:
        with open(sample.path, "rb", buffering=0) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size != len(view):
                raise PipelineError(_size_message(sample.path, size, len(view), shape_text))
            filled = 0
            while filled < len(view) and (count := handle.readinto(view[filled:])):
                filled += count
    except OSError as exc:
        raise PipelineError(f"{sample.path}: cannot read the input: {exc.strerror or exc}") from None
    if filled != len(view):
        raise PipelineError(_size_message(sample.path, filled, len(view), shape_text))


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
    """Reader thread -> inference (the calling thread submits, the backend's streams compute) -> writer thread,
    joined by queues. The first failure stops every stage; it is re-raised in the calling thread."""

    _END = object()

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.errors: list[BaseException] = []

    def put(self, channel: queue.Queue, item: object) -> bool:
        while not self.stop.is_set():
            try:
                channel.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

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


def inference_error(backend: Backend, error: BaseException) -> BaseException:
    """A backend's failure as one line naming the model (a PipelineError passes through)."""
    if isinstance(error, PipelineError):
        return error
    text = str(error).strip()
    first_line = text.splitlines()[0] if text else type(error).__name__
    return PipelineError(f"{backend.model}: inference failed ({backend.name}): {first_line}")


def write_output_group(output_dir: Path, keys: Sequence[str], outputs: Sequence[np.ndarray], binary: bool) -> None:
    """One dump file per image and output (formats.dump.write_dumps); a failure names the file that failed."""
    for number, output in enumerate(outputs, start=1):
        try:
            write_dumps(output_dir, keys, output, binary, number)
        except OSError as exc:
            # write_dumps writes the keys in order, each under a temporary name renamed when complete (and the
            # folder was emptied first): the first key without its file is the one that failed. The error's own
            # file name is at best the temporary one (os.write's ENOSPC names no file at all).
            failed = next(
                (
                    output_dir / dump_file_name(key, binary, number)
                    for key in keys
                    if not (output_dir / dump_file_name(key, binary, number)).is_file()
                ),
                exc.filename2 or exc.filename,
            )
            raise PipelineError(
                f"{failed}: cannot write the dump file: {exc.strerror or exc}", EXIT_CANNOT_WRITE
            ) from None


def run_dataset(
    backend: Backend,
    samples: Sequence[Sample],
    batch_size: int,
    shape: tuple[int, int, int],
    output_dir: Path,
    binary: bool,
    progress: bool = True,
) -> DatasetPerf:
    """Infer every sample with ``backend.streams`` batches in flight, write one dump file per image and output,
    and measure each stage (flags.DESCRIPTION defines every figure)."""
    from tqdm import tqdm

    shape_text = "*".join(map(str, shape))
    batches = [list(samples[start : start + batch_size]) for start in range(0, len(samples), batch_size)]
    output_dir.mkdir(parents=True, exist_ok=True)
    pipeline = _Pipeline()
    to_infer: queue.Queue = queue.Queue(maxsize=PREFETCH_BATCHES)
    finished: queue.Queue = queue.Queue()  # holds at most the batch arrays in circulation
    # Batch arrays go round: reader -> inference -> back to the reader, so none is allocated per batch.
    free_arrays: queue.Queue = queue.Queue()
    for _ in range(PREFETCH_BATCHES + backend.streams + 1):
        free_arrays.put(np.empty((batch_size, *shape), dtype=np.float32))
    read_clock, preprocess_clock, infer_clock, post_clock = (_StageClock() for _ in range(4))
    infer_lock = threading.Lock()

    def read_batches() -> None:
        for chunk in batches:
            data = pipeline.get(free_arrays)
            if data is _Pipeline._END:
                return
            started = time.perf_counter()
            for slot, sample in enumerate(chunk):
                read_sample_into(sample, data[slot], shape_text)
            read_done = time.perf_counter()
            data[len(chunk) :] = 0.0  # the last batch is padded; its padded outputs are dropped
            read_clock.busy += read_done - started
            preprocess_clock.busy += time.perf_counter() - read_done
            if not pipeline.put(to_infer, _Batch([sample.key for sample in chunk], data)):
                return
        pipeline.put(to_infer, _Pipeline._END)

    bar = tqdm(total=len(samples), unit="img", desc="inference", disable=None if progress else True)

    def write_outputs() -> None:
        pending_keys: list[str] = []
        pending_outputs: list[list[np.ndarray]] = []
        while True:
            item = pipeline.get(finished)
            if item is not _Pipeline._END:
                keys, outputs = item
                pending_keys.extend(keys)
                pending_outputs.append(outputs)
                if len(pending_keys) < WRITE_GROUP_IMAGES:
                    continue
            if pending_keys:  # one formatting pass for the whole group
                started = time.perf_counter()
                outputs = [np.concatenate(parts) for parts in zip(*pending_outputs, strict=True)]
                write_output_group(output_dir, pending_keys, outputs, binary)
                post_clock.busy += time.perf_counter() - started
                bar.update(len(pending_keys))
                pending_keys, pending_outputs = [], []
            if item is _Pipeline._END:
                return

    def done_callback(batch: _Batch, started: list[float]) -> Callable[[Any, Any], None]:
        def done(outputs: list[np.ndarray] | None, error: BaseException | None) -> None:
            now = time.perf_counter()
            free_arrays.put(batch.data)  # the backend has finished with it; outputs are separate arrays
            if error is not None or outputs is None:
                pipeline.fail(inference_error(backend, error or RuntimeError("no outputs")))
                return
            with infer_lock:
                infer_clock.busy += now - started[-1]
                infer_clock.last = max(infer_clock.last, now)
            count = len(batch.keys)
            finished.put((batch.keys, [np.asarray(output[:count], dtype=np.float32) for output in outputs]))

        return done

    reader = pipeline.thread(read_batches, "bin-reader")
    writer = pipeline.thread(write_outputs, "dump-writer")
    backend.warm_up(np.zeros((batch_size, *shape), dtype=np.float32))  # untimed: allocation and planning
    wall_start = time.perf_counter()
    reader.start()
    writer.start()
    try:
        while (item := pipeline.get(to_infer)) is not _Pipeline._END:
            # A batch's latency counts from when a stream took it: submit waits while every stream is busy.
            started = [time.perf_counter()]
            if not infer_clock.first:
                infer_clock.first = started[0]
            backend.submit(item.data, done_callback(item, started))
            with infer_lock:
                started.append(time.perf_counter())  # unless its outputs came first (then: when it was handed over)
        backend.wait_all()
        pipeline.put(finished, _Pipeline._END)
        writer.join()
    except BaseException as error:
        pipeline.fail(error)
        raise
    finally:
        pipeline.stop.set()
        backend.wait_all()
        bar.close()
        reader.join()
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


def run_pure_inference(backend: Backend, batch_size: int, shape: tuple[int, int, int], rounds: int) -> PureInferPerf:
    """``rounds`` batches of seeded random input (0..255, like the preprocessed images), ``backend.streams`` in
    flight at once, after one untimed warm-up batch per stream."""
    batch = np.random.default_rng(0).uniform(0.0, 255.0, size=(batch_size, *shape)).astype(np.float32)
    backend.warm_up(batch)
    errors: list[BaseException] = []

    def done(_outputs: Any, error: BaseException | None) -> None:
        if error is not None:
            errors.append(error)

    for _ in range(rounds):
        if errors:
            break
        backend.submit(batch, done)
    backend.wait_all()
    if errors:
        raise inference_error(backend, errors[0])
    busy = backend.clock.seconds
    return PureInferPerf(throughput=_rate(rounds * batch_size, busy), latency_ms=_per_item_ms(busy, rounds))


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


def run(flags: BenchmarkFlags) -> int:
    """What the flags ask for: a dataset run (``-input_text_path``) or pure inference (``-round``); returns the
    exit status. The flags are checked before the model is loaded."""
    check_flags(flags)
    backend = open_backend(flags.backend, flags.om_path, flags.streams, flags.threads, flags.model_size, flags.seed)
    try:
        return _run(flags, backend)
    finally:
        backend.close()


def _run(flags: BenchmarkFlags, backend: Backend) -> int:
    shape = resolve_input_shape(backend.model_input, flags, flags.om_path)

    if not flags.input_text_path:
        perf_path = RESULT_DIR / pure_infer_perf_file_name(Path(flags.om_path).stem, flags.device_id)
        make_output_folder(RESULT_DIR)
        check_perf_path(perf_path)
        backend.start(flags.batch_size, shape)
        LOG.info("pure inference: %d batches of %d, %s", flags.round, flags.batch_size, backend.describe())
        perf = run_pure_inference(backend, flags.batch_size, shape, flags.round)
        write_perf_file(perf_path, perf.format())
        sys.stdout.write(perf.format())
        LOG.info("wrote %s", perf_path)
        return 0

    if flags.round:
        LOG.warning("-round=%d is ignored in dataset mode (-input_text_path given)", flags.round)
    samples = load_samples(flags.input_text_path, 4 * int(np.prod(shape)), "*".join(map(str, shape)))
    output_dir = dump_dir(RESULT_DIR, flags.device_id)
    perf_path = RESULT_DIR / perf_file_name(flags.batch_size, flags.device_id)
    make_output_folder(output_dir)
    check_perf_path(perf_path)
    removed = clear_dump_folder(output_dir)
    if removed:
        LOG.info("%s: removed %d outputs of an earlier run", output_dir, removed)
    backend.start(flags.batch_size, shape)
    LOG.info(
        "%d inputs, batch %d, %s, model %s -> %s",
        len(samples),
        flags.batch_size,
        backend.describe(),
        flags.om_path,
        output_dir,
    )
    perf = run_dataset(backend, samples, flags.batch_size, shape, output_dir, flags.output_binary)
    write_perf_file(perf_path, perf.format())
    sys.stdout.write(perf.format())
    LOG.info("wrote %d outputs to %s and %s", len(samples), output_dir, perf_path)
    return 0
