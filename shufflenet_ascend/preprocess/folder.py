"""A whole folder of images to bins: what a run would do, the worker processes, failures and the summary.

Bins are written under a hidden temporary name and renamed when complete; the record is rewritten the same way,
every few seconds: a killed run leaves only complete bins, and those it made after the last record are redone.
A failed write (disk full, quota) stops the run at once.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
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
from shufflenet_ascend.contract import BIN_BYTES
from shufflenet_ascend.fileio import atomic_output, atomic_write_text, check_output_file, format_bytes
from shufflenet_ascend.keys import IMAGE_EXTENSIONS
from shufflenet_ascend.preprocess.names import display_path
from shufflenet_ascend.preprocess.record import (
    RECORD_NAME,
    Failure,
    Plan,
    SourceImage,
    SourceListing,
    SourceRecord,
    other_dataset_message,
    plan_work,
    read_record,
    save_record,
    scan_bins,
    scan_source_folder,
)
from shufflenet_ascend.preprocess.transform import ImageRefused, preprocess_image, transform_identity

LOG = logging.getLogger(__name__)

FAILED_LIST_NAME = "failed.txt"
RECORD_SAVE_SECONDS = 5.0  # a killed run redoes at most the bins of its last few seconds
# Temporary names of atomic_output and atomic_write_text: ".<target name>.<unique>.tmp".
STALE_TEMP_PATTERNS = (".*.bin.*.tmp", f".{FAILED_LIST_NAME}.*.tmp", f".{RECORD_NAME}.*.tmp")
OTHER_DATASET_CHOICES = ("refuse", "overwrite")


# --------------------------------------------------------------------------------------------------------------
# What a run would do: decided before anything is written.


def check_folders(src_dir: Path, dst_dir: Path) -> None:
    if not src_dir.is_dir():
        raise PipelineError(f"{src_dir}: {'is not a folder' if src_dir.exists() else 'source folder not found'}")
    if dst_dir.exists() and not dst_dir.is_dir():
        raise PipelineError(f"{dst_dir}: exists and is not a folder")
    src_real, dst_real = src_dir.resolve(), dst_dir.resolve()
    if dst_real == src_real or src_real in dst_real.parents:
        raise PipelineError(f"{dst_dir}: the output folder must not be the source folder {src_dir} or inside it")


@dataclass
class Survey:
    """The folders as a run finds them and what it will do. ``overwrite``: every bin goes (asked for, or the
    bins are another dataset's, ``other_dataset`` saying why); ``deleted``: the bins removed before starting."""

    listing: SourceListing
    bins: dict[str, tuple[int, int]]
    record: SourceRecord | None
    record_text: str
    transform: str
    overwrite: bool
    other_dataset: str | None
    plan: Plan

    @property
    def deleted(self) -> list[str]:
        return sorted(self.bins) if self.overwrite else self.plan.stale + self.plan.orphans

    @property
    def needed_bytes(self) -> int:
        """What the run adds to its disk: the bins still to make, less the bins it deletes first."""
        return len(self.plan.todo) * BIN_BYTES - sum(self.bins[name][0] for name in self.deleted)


def survey(src_dir: Path, dst_dir: Path, overwrite: bool = False, if_other_dataset: str = "refuse") -> Survey:
    """Read the folders and the record and decide what to keep, redo and delete; write nothing.

    Raises PipelineError for bad folders, a folder without images, duplicate stems, and (``if_other_dataset``
    "refuse") a ``dst_dir`` of another dataset's bins or with an unreadable record."""
    if if_other_dataset not in OTHER_DATASET_CHOICES:
        raise PipelineError(f"if_other_dataset must be one of {OTHER_DATASET_CHOICES}, got {if_other_dataset!r}")
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
                refusal = other_dataset_message(dst_dir, src_dir, bins, listing.images, record)
            except PipelineError as exc:  # a record that cannot be read: the bins are as good as unrecorded
                refusal = str(exc)
            if refusal and if_other_dataset == "refuse":
                raise PipelineError(refusal)
            if refusal:
                other_dataset = refusal.split("; use another output folder")[0]
                overwrite, record, record_text = True, None, ""
    transform = transform_identity()
    plan = plan_work(listing.images, bins, record, transform, overwrite)
    return Survey(listing, bins, record, record_text, transform, overwrite, other_dataset, plan)


def bins_needed_bytes(
    src_dir: str | os.PathLike[str], dst_dir: str | os.PathLike[str], if_other_dataset: str = "refuse"
) -> int:
    """The bytes a run of the preprocessor from ``src_dir`` into ``dst_dir`` would add to the disk of
    ``dst_dir``: 602112 per bin still to make, less the bins it would delete (negative when it frees space).
    The estimate the preprocessor checks against the free space before starting; PipelineError as it raises."""
    return survey(Path(src_dir), Path(dst_dir), if_other_dataset=if_other_dataset).needed_bytes


def check_free_space(dst_dir: Path, new_bins: int, needed: int) -> None:
    """Refuse at once when the disk of ``dst_dir`` cannot hold the bins still to write."""
    free = shutil.disk_usage(dst_dir).free
    if needed > free:
        raise PipelineError(
            f"{dst_dir}: not enough free space: {new_bins} bins need {format_bytes(needed)} more ({BIN_BYTES} bytes "
            f"each), {format_bytes(free)} free on its disk; free some space or use another folder",
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
    """Write one model input as raw float32 (hidden temporary name, renamed when complete)."""
    with atomic_output(bin_path) as handle:
        handle.write(memoryview(model_input).cast("B"))


def process_one(task: tuple[Path, Path]) -> TaskResult:
    """Worker: write one bin. Warnings (Pillow's DecompressionBombWarning...) come back to be logged with the
    image's name."""
    image, bin_path = task
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model_input = preprocess_image(image)
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


def ignore_interrupts() -> None:
    # Ctrl-C goes to the parent, which terminates the pool: no traceback from each worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def chunk_size(tasks: int, workers: int) -> int:
    # Large enough to keep inter-process overhead small, small enough to balance the load and move the bar.
    return max(1, min(32, tasks // (workers * 8)))


def run_tasks(tasks: list[tuple[Path, Path]], workers: int, progress: bool) -> Iterator[TaskResult]:
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
        with multiprocessing.get_context("fork").Pool(workers, initializer=ignore_interrupts) as pool:
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
    gone; ``ignored``: entries of SRC_DIR that are no images."""

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
            f"{self.images_per_second:.1f} images/s"
        )


def preprocess_folder(
    src_dir: str | os.PathLike[str],
    dst_dir: str | os.PathLike[str],
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    if_other_dataset: str = "refuse",
) -> PreprocessSummary:
    """Write ``dst_dir/<stem>.bin`` for every image of ``src_dir`` not already up to date; return what was done.

    Failed images are logged as they happen and listed in ``dst_dir/failed.txt`` (removed when nothing failed).
    ``workers``: processes (default: all cores; 1 works in this process). ``overwrite``: delete every bin of
    ``dst_dir`` and redo all. ``if_other_dataset``: "refuse" a folder of another dataset's bins, or "overwrite" it
    (as ``overwrite``; a folder of this dataset's bins is resumed). Raises PipelineError for bad folders, duplicate
    stems or a folder of another dataset before anything is written, and (exit status 3) when an output cannot be
    written: at once.
    """
    src_dir, dst_dir = Path(src_dir), Path(dst_dir)
    if workers is None:
        workers = os.cpu_count() or 1
    if workers < 1:
        raise PipelineError(f"number of workers must be at least 1, got {workers}")
    found = survey(src_dir, dst_dir, overwrite, if_other_dataset)
    plan, record, deleted = found.plan, found.record, found.deleted
    if found.other_dataset:
        LOG.info("%s; --if-other-dataset overwrite: deleting them and starting afresh", found.other_dataset)
    try:
        dst_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PipelineError(f"{dst_dir}: cannot create the output folder: {exc.strerror}") from None
    failed_list = check_output_file(dst_dir / FAILED_LIST_NAME)
    check_free_space(dst_dir, len(plan.todo), found.needed_bytes)

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
        skipped=len(plan.keep),
        removed=0 if found.overwrite else len(plan.orphans),
        ignored=listing.ignored,
        failures=list(listing.failures),
    )
    for failure in listing.failures:
        LOG.warning("%s", failure.format())
    # The record before any work: the bins kept, and every other image of SRC_DIR without a bin yet.
    entries = {image.name: plan.keep.get(image.name) or [image.size, image.mtime_ns, None] for image in listing.images}
    new_record = SourceRecord(found.transform, str(src_dir.resolve()), entries)
    record_text = save_record(dst_dir, new_record, found.record_text)

    started = time.perf_counter()
    if plan.todo:
        record_text = run_plan(plan.todo, dst_dir, new_record, record_text, workers, progress, summary)
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


def run_plan(
    todo: list[SourceImage],
    dst_dir: Path,
    record: SourceRecord,
    record_text: str,
    workers: int,
    progress: bool,
    summary: PreprocessSummary,
) -> str:
    """Make the bins of ``todo``, saving the record every RECORD_SAVE_SECONDS and at the end; return its text.

    The record names a bin only after the bin is complete: a killed run leaves bins the record does not know
    (redone next time), never a record entry for a bin that is not there."""
    tasks = [(image.path, dst_dir / image.bin_name) for image in todo]
    results = run_tasks(tasks, min(workers, len(tasks)), progress)
    last_save = time.monotonic()
    finished = False
    try:
        with logging_redirect_tqdm():
            for image, result in zip(todo, results, strict=False):
                for message in result.warnings:
                    LOG.warning("%s: %s", display_path(image.path), message)
                if result.write_error:
                    raise PipelineError(
                        f"{result.write_error}; stopped ({summary.done} bins made in this run are kept, "
                        "a re-run goes on from there)",
                        EXIT_CANNOT_WRITE,
                    )
                if result.reason is not None:
                    failure = Failure(display_path(image.path), result.reason)
                    summary.failures.append(failure)
                    LOG.warning("%s", failure.format())
                    continue
                summary.done += 1
                record.entries[image.name] = [image.size, image.mtime_ns, result.bin_mtime_ns]
                if time.monotonic() - last_save >= RECORD_SAVE_SECONDS:
                    record_text = save_record(dst_dir, record, record_text)
                    last_save = time.monotonic()
        finished = True
    finally:
        if not finished:  # interrupted or stopped: keep what was made; if even that fails, the older record holds
            results.close()  # terminates the workers: no bin is written after this
            remove_stale_temp_files(dst_dir)  # the temporary files of the bins the workers were writing
            with contextlib.suppress(PipelineError):
                record_text = save_record(dst_dir, record, record_text)
    return save_record(dst_dir, record, record_text)
