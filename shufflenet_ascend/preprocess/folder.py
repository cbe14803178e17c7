"""A whole folder of images to bins: what a run would do, the worker processes, failures and the summary.

Bins are written under a hidden temporary name and renamed when complete; the record is rewritten the same way,
every few seconds: a killed run leaves only complete bins, and those it made after the last record are redone.
A failed write (disk full, quota) stops the run at once. Ctrl-C and ``kill -TERM`` of the main process stop it the
same way: the workers end quietly and the record is saved for the bins made.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.pool
import os
import shutil
import signal
import stat
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from shufflenet_ascend.cli import EXIT_CANNOT_WRITE, PipelineError
from shufflenet_ascend.contract import BIN_BYTES_BY_DTYPE, DEFAULT_INPUT_DTYPE
from shufflenet_ascend.fileio import atomic_output, atomic_write_text, check_output_file, format_bytes
from shufflenet_ascend.keys import IMAGE_EXTENSIONS
from shufflenet_ascend.preprocess.names import display_path, entry_problem
from shufflenet_ascend.preprocess.record import (
    OTHER_DATASET_ADVICE,
    RECORD_NAME,
    Failure,
    Plan,
    RecordEntry,
    SourceImage,
    SourceListing,
    SourceRecord,
    other_dataset_reason,
    plan_work,
    read_record,
    save_record,
    scan_bins,
    scan_source_folder,
)
from shufflenet_ascend.preprocess.transform import ImageRefused, check_dtype, preprocess_image, transform_identity
from shufflenet_ascend.safe_outputs import Output, refuse_unsafe_outputs
from shufflenet_ascend.signals import Terminated

LOG = logging.getLogger(__name__)

FAILED_LIST_NAME = "failed.txt"
RECORD_SAVE_SECONDS = 5.0  # a killed run redoes at most the bins of its last few seconds
# Temporary names of atomic_output and atomic_write_text: ".<target name>.<unique>.tmp".
STALE_TEMP_PATTERNS = (".*.bin.*.tmp", f".{FAILED_LIST_NAME}.*.tmp", f".{RECORD_NAME}.*.tmp")
OTHER_DATASET_CHOICES = ("refuse", "overwrite")


# --------------------------------------------------------------------------------------------------------------
# What a run would do: decided before anything is written.


def check_folders(src_dir: Path, dst_dir: Path) -> None:
    """Refuse a SRC_DIR that is not a folder, a DST_DIR that exists and is not one (a symbolic link that leads
    nowhere or back to itself among them), and a DST_DIR in SRC_DIR."""
    try:
        src_is_folder = stat.S_ISDIR(os.stat(src_dir).st_mode)
    except OSError as exc:
        missing = isinstance(exc, FileNotFoundError) and not os.path.islink(src_dir)
        problem = "source folder not found" if missing else entry_problem(src_dir, exc)
        raise PipelineError(f"{src_dir}: {problem}") from None
    if not src_is_folder:
        raise PipelineError(f"{src_dir}: is not a folder")
    try:
        dst_is_folder = stat.S_ISDIR(os.stat(dst_dir).st_mode)
    except FileNotFoundError as exc:
        if os.path.islink(dst_dir):
            raise PipelineError(f"{dst_dir}: {entry_problem(dst_dir, exc)}") from None
        dst_is_folder = True  # made later
    except OSError as exc:
        raise PipelineError(f"{dst_dir}: {entry_problem(dst_dir, exc)}") from None
    if not dst_is_folder:
        raise PipelineError(f"{dst_dir}: exists and is not a folder")
    refuse_unsafe_outputs([Output(dst_dir, folder=True)], [src_dir])


@dataclass
class Survey:
    """The folders as a run finds them and what it will do. ``overwrite``: every bin goes (asked for, or the
    bins are another dataset's, ``other_dataset`` saying why); ``deleted``: the bins removed before starting."""

    listing: SourceListing
    bins: dict[str, tuple[int, int]]
    record: SourceRecord | None
    record_text: str
    transform: str
    dtype: str
    overwrite: bool
    other_dataset: str | None
    plan: Plan

    @property
    def deleted(self) -> list[str]:
        return sorted(self.bins) if self.overwrite else self.plan.stale + self.plan.orphans

    @property
    def needed_bytes(self) -> int:
        """What the run adds to its disk: the bins still to make, less the bins it deletes first."""
        return len(self.plan.todo) * BIN_BYTES_BY_DTYPE[self.dtype] - sum(self.bins[name][0] for name in self.deleted)


def survey(
    src_dir: Path,
    dst_dir: Path,
    overwrite: bool = False,
    if_other_dataset: str = "refuse",
    dtype: str = DEFAULT_INPUT_DTYPE,
) -> Survey:
    """Read the folders and the record and decide what to keep, redo and delete; write nothing.

    Raises PipelineError for bad folders, a folder without images, duplicate stems, and (``if_other_dataset``
    "refuse") a ``dst_dir`` of another dataset's bins, of the other dtype's bins or with an unreadable record."""
    if if_other_dataset not in OTHER_DATASET_CHOICES:
        raise PipelineError(f"if_other_dataset must be one of {OTHER_DATASET_CHOICES}, got {if_other_dataset!r}")
    check_dtype(dtype)
    check_folders(src_dir, dst_dir)
    listing = scan_source_folder(src_dir)
    if not listing.images and not listing.failures:
        extensions = ", ".join(sorted(ext.lstrip(".") for ext in IMAGE_EXTENSIONS))
        raise PipelineError(f"{src_dir}: no image files ({extensions}) in this folder")
    bins: dict[str, tuple[int, int]] = {}
    record, record_text, other_dataset = None, "", None
    if dst_dir.is_dir():
        bins = scan_bins(dst_dir)
        if bins and not overwrite:  # without bins, whatever record there is will be replaced
            try:
                record, record_text = read_record(dst_dir)
                reason = other_dataset_reason(dst_dir, src_dir, bins, listing.images, record, dtype)
            except PipelineError as exc:  # a record that cannot be read: the bins are as good as unrecorded
                reason = str(exc).removesuffix(f"; {OTHER_DATASET_ADVICE}")
            if reason and if_other_dataset == "refuse":
                raise PipelineError(f"{reason}; {OTHER_DATASET_ADVICE}")
            if reason:
                other_dataset = reason
                overwrite, record, record_text = True, None, ""
    transform = transform_identity(dtype)
    plan = plan_work(listing.images, bins, record, transform, overwrite, dtype)
    return Survey(listing, bins, record, record_text, transform, dtype, overwrite, other_dataset, plan)


def bins_needed_bytes(
    src_dir: str | os.PathLike[str],
    dst_dir: str | os.PathLike[str],
    if_other_dataset: str = "refuse",
    dtype: str = DEFAULT_INPUT_DTYPE,
) -> int:
    """The bytes a run of the preprocessor from ``src_dir`` into ``dst_dir`` would add to the disk of
    ``dst_dir``: one bin of ``dtype`` (602112 bytes for float32, 150528 for uint8) per bin still to make, less
    the bins it would delete (negative when it frees space). The estimate the preprocessor checks against the free
    space before starting; PipelineError as it raises."""
    return survey(Path(src_dir), Path(dst_dir), if_other_dataset=if_other_dataset, dtype=dtype).needed_bytes


def check_free_space(dst_dir: Path, new_bins: int, needed: int, dtype: str = DEFAULT_INPUT_DTYPE) -> None:
    """Refuse at once when the disk of ``dst_dir`` cannot hold the bins still to write."""
    free = shutil.disk_usage(dst_dir).free
    if needed > free:
        raise PipelineError(
            f"{dst_dir}: not enough free space: {new_bins} bins need {format_bytes(needed)} more "
            f"({BIN_BYTES_BY_DTYPE[dtype]} bytes each), {format_bytes(free)} free on its disk; free some space or use "
            "another folder",
            EXIT_CANNOT_WRITE,
        )


def remove_stale_temp_files(dst_dir: Path) -> int:
    """Remove temporary files a killed run left in ``dst_dir``; return how many."""
    stale = [path for pattern in STALE_TEMP_PATTERNS for path in dst_dir.glob(pattern)]
    for path in stale:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return len(stale)


def remove_bins(dst_dir: Path, names: Sequence[str]) -> None:
    for name in names:
        try:
            (dst_dir / name).unlink(missing_ok=True)
        except OSError as exc:
            raise PipelineError(f"{dst_dir / name}: cannot delete: {exc.strerror or exc}") from None


# --------------------------------------------------------------------------------------------------------------
# One image, in a worker.


class TaskResult(NamedTuple):
    """One image's outcome: ``reason`` it failed, or the new bin's modification time; warnings raised while
    decoding it; ``write_error``: its bin could not be written (disk full...): the run stops."""

    reason: str | None = None
    bin_mtime_ns: int | None = None
    warnings: tuple[str, ...] = ()
    write_error: str | None = None


def describe_unreadable(image: Path, exc: Exception) -> str:
    if isinstance(exc, ImageRefused):
        return str(exc)
    if isinstance(exc, Image.DecompressionBombError):
        return f"refused by Pillow as a possible decompression bomb: {exc}"
    if isinstance(exc, UnidentifiedImageError):
        empty = image.exists() and image.stat().st_size == 0
        return "empty file" if empty else "not an image (PIL cannot identify it)"
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot read: {exc.strerror}"
    return f"cannot decode: {exc or type(exc).__name__}"


def write_bin(model_input: np.ndarray, bin_path: Path) -> None:
    """Write one model input as its raw bytes (hidden temporary name, renamed when complete)."""
    with atomic_output(bin_path) as handle:
        handle.write(memoryview(model_input).cast("B"))


class Task(NamedTuple):
    image: Path
    bin_path: Path
    dtype: str = DEFAULT_INPUT_DTYPE


def process_one(task: Task) -> TaskResult:
    """Worker: write one bin. Warnings (Pillow's DecompressionBombWarning...) come back to be logged with the
    image's name."""
    image, bin_path, dtype = task
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model_input = preprocess_image(image, dtype)
        except Exception as exc:  # whatever PIL raises for a bad file: reported, and the other images go on
            reason = describe_unreadable(image, exc)
            model_input = None
    messages = tuple(f"{warning.category.__name__}: {warning.message}" for warning in caught)
    if model_input is None:
        return TaskResult(reason=reason, warnings=messages)
    try:
        write_bin(model_input, bin_path)
        bin_mtime_ns = os.stat(bin_path).st_mtime_ns
    except OSError as exc:
        return TaskResult(
            warnings=messages, write_error=f"{display_path(bin_path)}: cannot write: {exc.strerror or exc}"
        )
    return TaskResult(bin_mtime_ns=bin_mtime_ns, warnings=messages)


# --------------------------------------------------------------------------------------------------------------
# The worker processes.


@contextlib.contextmanager
def single_cv2_thread() -> Iterator[None]:
    """OpenCV on one thread for the run, in this process and (inherited) in the workers forked meanwhile.

    One worker per core: OpenCV's own threads would only compete with the other workers (INTER_LINEAR gives the
    same bytes with any number of threads: the tests check it). Set in the parent before forking, never in a
    worker: cv2.setNumThreads in a forked child of a process whose OpenCV thread pool has run never returns.
    """
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


def quiet_worker_signals() -> None:
    """In each worker: Ctrl-C (sent to the whole process group) is the parent's to handle, and SIGTERM (what the
    parent's pool sends its workers when it stops) ends the worker at once, without a traceback. Forked workers
    would otherwise inherit the parent's SIGTERM handler, which raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # blocked by start_pool while forking


def raise_terminated(signal_number: int, frame: object) -> None:
    raise Terminated(signal.Signals(signal_number).name)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the run lasts, ``kill -TERM`` of this process stops it as Ctrl-C does: the workers are terminated
    (quietly) and the record is saved, instead of dying at once and leaving the workers to fail on a closed pipe.
    Only the main thread can set handlers: elsewhere SIGTERM keeps its handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def start_pool(workers: int) -> multiprocessing.pool.Pool:
    """A pool of forked workers that ignore Ctrl-C and die quietly on SIGTERM.

    SIGTERM is blocked while the workers are forked, and each unblocks it once its own handler is the default: a
    SIGTERM in between would otherwise run the parent's handler in a worker (a traceback). A SIGTERM the parent
    receives meanwhile waits for the unblocking, then stops the run."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        return multiprocessing.get_context("fork").Pool(workers, initializer=quiet_worker_signals)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def chunk_size(tasks: int, workers: int) -> int:
    # Large enough to keep inter-process overhead small, small enough to balance the load and move the bar.
    return max(1, min(32, tasks // (workers * 8)))


def run_tasks(tasks: list[Task], workers: int, progress: bool) -> Iterator[TaskResult]:
    """Yield each task's result, in order, from ``workers`` processes (in this process for 1).

    Closing the generator early (a write error) terminates the workers at once."""
    with single_cv2_thread():
        if workers == 1:
            with progress_bar(len(tasks), progress) as bar:
                for task in tasks:
                    yield process_one(task)
                    bar.update()
            return
        # fork: workers start in milliseconds and import nothing. forkserver and spawn re-import the caller's
        # main module in every worker (seconds when it imports torch) and hang when it is not a file. The workers
        # use none of the parent's threads: OpenCV is single-threaded (above), torch is not used, and the pool is
        # forked before the progress bar starts its monitor thread.
        with start_pool(workers) as pool:
            with progress_bar(len(tasks), progress) as bar:
                for result in pool.imap(process_one, tasks, chunksize=chunk_size(len(tasks), workers)):
                    yield result
                    bar.update()


def progress_bar(total: int, progress: bool) -> tqdm:
    # disable=None: a bar (with images/s) only on a terminal.
    return tqdm(total=total, unit="img", desc="preprocess", disable=None if progress else True)


# --------------------------------------------------------------------------------------------------------------
# The run.


@dataclass
class PreprocessSummary:
    """What a run did. ``skipped``: bins already up to date; ``removed``: bins deleted because their image is
    gone; ``ignored``: entries of SRC_DIR that are no images; ``dtype``: the route of the bins."""

    dtype: str = DEFAULT_INPUT_DTYPE
    done: int = 0
    skipped: int = 0
    removed: int = 0
    ignored: int = 0
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def images_per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def format(self) -> str:
        return (
            f"done {self.done}, skipped {self.skipped} (bin up to date), removed {self.removed} (image gone), "
            f"failed {self.failed}, ignored {self.ignored} (not images), {self.seconds:.1f} s, "
            f"{self.images_per_second:.1f} images/s ({self.dtype} bins, {BIN_BYTES_BY_DTYPE[self.dtype]} bytes each)"
        )


def preprocess_folder(
    src_dir: str | os.PathLike[str],
    dst_dir: str | os.PathLike[str],
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    if_other_dataset: str = "refuse",
    dtype: str = DEFAULT_INPUT_DTYPE,
) -> PreprocessSummary:
    """Write ``dst_dir/<stem>.bin`` for every image of ``src_dir`` not already up to date; return what was done.

    ``dtype``: the input route, "float32" (the guide's CHW float32 bins) or "uint8" (HWC uint8 BGR bins for ATC's
    AIPP). Failed images are logged as they happen and listed in ``dst_dir/failed.txt`` (removed when nothing
    failed). ``workers``: processes (default: all cores; 1 works in this process). ``overwrite``: delete every bin
    of ``dst_dir`` and redo all. ``if_other_dataset``: "refuse" a folder of another dataset's bins or of the other
    dtype's, or "overwrite" it (as ``overwrite``; a folder of this dataset's bins is resumed). Raises PipelineError
    for bad folders, duplicate stems or a folder of another dataset before anything is written, and (exit status 3)
    when an output cannot be written: at once. SIGTERM raises Terminated (a KeyboardInterrupt) as Ctrl-C would.
    """
    src_dir, dst_dir = Path(src_dir), Path(dst_dir)
    if workers is None:
        workers = os.cpu_count() or 1
    if workers < 1:
        raise PipelineError(f"number of workers must be at least 1, got {workers}")
    with sigterm_as_interrupt():
        return run_folder(src_dir, dst_dir, workers, overwrite, progress, if_other_dataset, dtype)


def run_folder(
    src_dir: Path,
    dst_dir: Path,
    workers: int,
    overwrite: bool,
    progress: bool,
    if_other_dataset: str,
    dtype: str,
) -> PreprocessSummary:
    found = survey(src_dir, dst_dir, overwrite, if_other_dataset, dtype)
    plan, record, deleted = found.plan, found.record, found.deleted
    if found.other_dataset:
        LOG.info("%s; --if-other-dataset overwrite: deleting them and starting afresh", found.other_dataset)
    try:
        dst_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PipelineError(f"{dst_dir}: cannot create the output folder: {exc.strerror}") from None
    failed_list = check_output_file(dst_dir / FAILED_LIST_NAME)
    check_free_space(dst_dir, len(plan.todo), found.needed_bytes, dtype)

    removed_temps = remove_stale_temp_files(dst_dir)
    if removed_temps:
        LOG.info("removed %d temporary file(s) left by an interrupted run in %s", removed_temps, dst_dir)
    if plan.transform_changed and record is not None:
        LOG.info(
            "%s: the bins were made with another transform or library version (%r, now %r); redoing them all",
            dst_dir,
            record.transform,
            found.transform,
        )
    elif record is not None and plan.todo and all(entry.inode is None for entry in record.entries.values()):
        LOG.info(
            "%s: the record is of an older version of this script (no inode nor ctime of the images, which tell "
            "an image replaced under its old size and time); redoing its bins once",
            dst_dir,
        )
    if found.overwrite and deleted:
        LOG.info("deleting all %d bins of %s before redoing them", len(deleted), dst_dir)
    elif plan.orphans:
        LOG.info(
            "deleting %d bin(s) whose image is no longer in %s: %s",
            len(plan.orphans),
            src_dir,
            ", ".join(plan.orphans[:5]) + (" ..." if len(plan.orphans) > 5 else ""),
        )
    remove_bins(dst_dir, deleted)

    listing = found.listing
    summary = PreprocessSummary(
        dtype=dtype,
        skipped=len(plan.keep),
        removed=0 if found.overwrite else len(plan.orphans),
        ignored=listing.ignored,
        failures=list(listing.failures),
    )
    for failure in listing.failures:
        LOG.warning("%s", failure.format())
    # The record before any work: the bins kept, and every other image of SRC_DIR without a bin yet.
    entries = {image.name: plan.keep.get(image.name) or RecordEntry.of(image) for image in listing.images}
    new_record = SourceRecord(found.transform, str(src_dir.resolve()), entries, dtype)
    record_text = save_record(dst_dir, new_record, found.record_text)

    started = time.perf_counter()
    if plan.todo:
        run_plan(plan.todo, dst_dir, new_record, record_text, workers, progress, summary, dtype)
    summary.seconds = time.perf_counter() - started

    summary.failures.sort(key=lambda failure: failure.image)
    try:
        if summary.failures:
            atomic_write_text(failed_list, "".join(f"{failure.format()}\n" for failure in summary.failures))
        else:
            failed_list.unlink(missing_ok=True)
    except OSError as exc:
        raise PipelineError(f"{failed_list}: cannot write: {exc.strerror or exc}", EXIT_CANNOT_WRITE) from None
    return summary


def stopped_message(error: str, made: int, recorded: int) -> str:
    """What a run stopped by ``error`` leaves, truthfully: ``made`` bins in this run, ``recorded`` of them in the
    record as last saved (a re-run keeps those and redoes the others)."""
    if recorded == made:
        return f"{error}; stopped ({made} bins made in this run are kept, a re-run goes on from there)"
    if recorded == 0:
        return (
            f"{error}; stopped, and the record of the bins could not be saved: a re-run redoes the {made} bins "
            "made in this run"
        )
    return (
        f"{error}; stopped, and the record of the bins could not be saved: a re-run keeps the {recorded} bins "
        f"recorded earlier in this run and redoes the {made - recorded} made since"
    )


def record_finished_bins(todo: list[SourceImage], dst_dir: Path, record: SourceRecord, dtype: str) -> int:
    """Record the bins the workers finished but had not reported when the run stopped (results travel in chunks);
    return how many. Every bin of ``todo`` there was deleted before the run and bins appear only complete (renamed
    from a temporary name), so one there now was made by this run from the image as it was surveyed."""
    try:
        bins = scan_bins(dst_dir)
    except OSError:
        return 0  # they are redone by a re-run
    recovered = 0
    for image in todo:
        entry = record.entries[image.name]
        made = bins.get(image.bin_name)
        if entry.bin_mtime_ns is None and made is not None and made[0] == BIN_BYTES_BY_DTYPE[dtype]:
            record.entries[image.name] = RecordEntry.of(image, made[1])
            recovered += 1
    return recovered


def run_plan(
    todo: list[SourceImage],
    dst_dir: Path,
    record: SourceRecord,
    record_text: str,
    workers: int,
    progress: bool,
    summary: PreprocessSummary,
    dtype: str = DEFAULT_INPUT_DTYPE,
) -> str:
    """Make the bins of ``todo``, saving the record every RECORD_SAVE_SECONDS and at the end; return its text.

    The record names a bin only after the bin is complete: a killed run leaves bins the record does not know
    (redone next time), never a record entry for a bin that is not there. A write that fails (a bin, or the
    record itself) stops the run with a PipelineError (exit status 3) saying which bins a re-run keeps."""
    tasks = [Task(image.path, dst_dir / image.bin_name, dtype) for image in todo]
    results = run_tasks(tasks, min(workers, len(tasks)), progress)
    last_save = time.monotonic()
    recorded = 0  # bins made in this run that the record, as last saved, holds
    write_error: str | None = None
    finished = False
    try:
        with logging_redirect_tqdm():
            for image, result in zip(todo, results, strict=False):
                for message in result.warnings:
                    LOG.warning("%s: %s", display_path(image.path), message)
                if result.write_error:
                    write_error = result.write_error
                    break
                if result.reason is not None:
                    failure = Failure(display_path(image.path), result.reason)
                    summary.failures.append(failure)
                    LOG.warning("%s", failure.format())
                    continue
                summary.done += 1
                record.entries[image.name] = RecordEntry.of(image, result.bin_mtime_ns)
                if time.monotonic() - last_save >= RECORD_SAVE_SECONDS:
                    try:
                        record_text = save_record(dst_dir, record, record_text)
                    except PipelineError as exc:
                        write_error = str(exc)
                        break
                    recorded, last_save = summary.done, time.monotonic()
        finished = write_error is None
    finally:
        if not finished:  # interrupted or stopped: keep what was made; if even that fails, the older record holds
            results.close()  # terminates the workers: no bin is written after this
            remove_stale_temp_files(dst_dir)  # the temporary files of the bins the workers were writing
            summary.done += record_finished_bins(todo, dst_dir, record, dtype)
            with contextlib.suppress(PipelineError):
                record_text = save_record(dst_dir, record, record_text)
                recorded = summary.done
    if write_error is not None:
        raise PipelineError(stopped_message(write_error, summary.done, recorded), EXIT_CANNOT_WRITE)
    try:
        return save_record(dst_dir, record, record_text)
    except PipelineError as exc:
        raise PipelineError(stopped_message(str(exc), summary.done, recorded), EXIT_CANNOT_WRITE) from None
