"""What keeps two stand-in runs from mixing their outputs: a lock per result folder and device, and the refusal
to replace another run's dump folder or perf file without ``-overwrite``.

The lock: ``<result folder>/.benchmark_ort_device<D>.lock``, held with ``flock`` for the whole run (the kernel
drops it when the process ends, however it ends) and holding the run's pid and command line, so that a second run
on the same device and folder refuses at once, naming the first. Runs on other devices (run_all.sh's several
devices on the CPU) write other files and may run beside it. The file is removed when the run ends.

The outputs: a dump folder holding outputs, or a perf file, is replaced only when its run record names the same
model (weights, or the model file's content where the weights are not known), the same backend and the same
dataset; otherwise, or when it has no record (another tool's outputs, or a run that was interrupted before it
wrote its record), the run is refused with one line naming it, unless ``-overwrite=true``.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.formats.dump import parse_dump_file_name
from shufflenet_ascend.formats.run_record import RunRecord, read_run_record, record_path
from shufflenet_ascend.model_labels import UNKNOWN_WEIGHTS

LOG = logging.getLogger(__name__)

OVERWRITE_HINT = "pass -overwrite=true to replace it"


def lock_path(folder: Path, device_id: int) -> Path:
    return folder / f".benchmark_ort_device{device_id}.lock"


@contextlib.contextmanager
def result_lock(folder: Path, device_id: int, command: Sequence[str]) -> Iterator[None]:
    """Hold the lock of ``folder`` and ``device_id`` for the ``with`` block; a PipelineError naming the holder when
    another run has it."""
    path = lock_path(folder, device_id)
    while True:
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as exc:
            raise PipelineError(f"{path}: cannot create the run's lock file: {exc.strerror or exc}") from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(descriptor)
            os.close(descriptor)
            raise PipelineError(
                f"{folder}: another stand-in run ({holder}) is writing the results of device {device_id} here; "
                "wait for it to end, or run in another folder"
            ) from None
        # The holder before us removes the file when it ends: a lock on a file no longer under the name guards
        # nothing. Take it again under the name.
        try:
            same = os.stat(path).st_ino == os.fstat(descriptor).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(descriptor)
    try:
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n{' '.join(command)}\n".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(descriptor)


def _read_holder(descriptor: int) -> str:
    try:
        text = os.pread(descriptor, 4096, 0).decode("utf-8", "replace")
    except OSError:
        text = ""
    pid, _, command = text.partition("\n")
    if not pid.strip():
        return "pid unknown: it is starting"
    return f"pid {pid.strip()}: {command.strip() or 'command unknown'}"


# ------------------------------------------------------------------------------------------------------------------
# Replacing earlier outputs.


def describe_run(record: RunRecord) -> str:
    weights = "" if record.weights == UNKNOWN_WEIGHTS else f", {record.weights}"
    backend = record.backend if record.tool == "stand-in" else record.tool
    return f"{backend} on {record.model_file}{weights}, dataset {record.dataset or 'none (pure inference)'}"


def same_model(first: RunRecord, second: RunRecord) -> bool:
    """The same weights (and size, where both say), or, where either does not know its weights, the same file."""
    if UNKNOWN_WEIGHTS not in (first.weights, second.weights):
        sizes = {first.model_size, second.model_size} - {None}
        return first.weights == second.weights and len(sizes) <= 1
    return first.model_sha256 == second.model_sha256


def differences(earlier: RunRecord, this_run: RunRecord) -> list[str]:
    """What the earlier run's record names differently: model, backend, dataset (empty: the same run)."""
    found = []
    if not same_model(earlier, this_run):
        found.append("another model")
    if (earlier.tool, earlier.backend) != (this_run.tool, this_run.backend):
        found.append("another backend")
    if earlier.dataset != this_run.dataset:
        found.append("another dataset")
    return found


def dump_outputs_in(folder: Path) -> int:
    """How many dump files (``<key>_<k>.txt|bin|npy``) the folder holds (0 when it is not a folder)."""
    try:
        with os.scandir(folder) as entries:
            return sum(1 for entry in entries if parse_dump_file_name(entry.name) is not None)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    except OSError as exc:
        raise PipelineError(f"{folder}: cannot list the folder: {exc.strerror or exc}") from None


def check_replaceable(target: Path, this_run: RunRecord, overwrite: bool, record_file: Path | None = None) -> None:
    """Refuse to replace ``target`` (a dump folder holding outputs, or a perf file) of another run, or of a run
    with no record, unless ``overwrite``. ``record_file``: the target's record (default: beside it)."""
    if target.is_dir():
        count = dump_outputs_in(target)
        if not count:
            return
        what = f"holds {count} outputs"
    elif target.exists():
        what = "is there"
    else:
        return
    record_file = record_file or record_path(target)
    try:
        earlier = read_run_record(record_file) if record_file.exists() else None
    except PipelineError:
        earlier = None  # a broken record says nothing about the run: as good as none
    if earlier is None:
        reason = f"{what} with no run record ({record_file.name}): another tool's outputs, or an interrupted run's"
    else:
        found = differences(earlier, this_run)
        if not found:
            return
        reason = f"{what} of {' and '.join(found)} ({describe_run(earlier)}; this run: {describe_run(this_run)})"
    if overwrite:
        LOG.warning("warning: %s: %s; replacing it (-overwrite)", target, reason)
        return
    raise PipelineError(f"{target}: {reason}; move it aside (mv {target} <another name>) or {OVERWRITE_HINT}")
