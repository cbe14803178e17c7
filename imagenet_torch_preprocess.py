"""Step 4.2 of the guide: turn every image of a folder into the model's input, one raw float32 ``.bin`` each.

    python imagenet_torch_preprocess.py /root/datasets/imagenet/val ./prep_dataset

Each image becomes ``DST_DIR/<stem>.bin``: 3 x 224 x 224 float32 (602112 bytes, CHW, BGR, values 0..255),
byte-identical to Megvii's validation transform that the checkpoints were evaluated with: PIL decode,
``.convert('RGB')``, OpenCV INTER_LINEAR resize so the short side is 256, torchvision centre crop 224, BGR, CHW.
Unlike the guide's script it makes no needless copies (the resize works on the RGB array: it treats channels
independently, so swapping channels before or after it gives the same bytes) and uses every core.

The bins know their images: ``DST_DIR/.prep_sources.json`` (hidden: the info step and the Ascend tools read only
``.bin`` files) records, for every image, its name, size and modification time (ns) and the time of its bin, with
the transform and the Pillow/OpenCV versions. A re-run keeps a bin only when both still match; it redoes bins of
changed images, makes the missing ones and deletes bins whose image is gone. A folder whose bins were mostly not
made from the images of SRC_DIR (another dataset) is refused; ``--overwrite`` deletes its bins and starts afresh.
Bins are written under a hidden temporary name and renamed when complete; the record is rewritten the same way,
every few seconds: a killed run leaves only complete bins, and those it made after the last record are redone.
A failed write (disk full, quota) stops the run at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import multiprocessing
import os
import shutil
import signal
import stat
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import PIL
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from shufflenet_ascend.cli import PipelineError, run_cli, setup_logging
from shufflenet_ascend.contract import BIN_BYTES, IMAGE_SIZE
from shufflenet_ascend.fileio import atomic_output, atomic_write_text, check_output_file
from shufflenet_ascend.keys import IMAGE_EXTENSIONS, file_key, is_image_file

LOG = logging.getLogger(Path(__file__).stem)

RESIZE_SHORT_SIDE = 256
# The resize makes the short side 256, so the long side grows with the aspect ratio: a 40000 x 1 picture would be
# resized to 256 x 10,240,000 pixels (8 GB). Photographs, panoramas included, stay far below 32:1; images whose
# resized long side would exceed 32 x 256 = 8192 pixels (6 MB) are refused as failures.
MAX_RESIZED_LONG_SIDE = 32 * RESIZE_SHORT_SIDE
FAILED_LIST_NAME = "failed.txt"
RECORD_NAME = ".prep_sources.json"
RECORD_FORMAT = "imagenet_torch_preprocess source record 1"
TRANSFORM = (
    "megvii-val-v1: PIL decode, convert('RGB'), OpenCV INTER_LINEAR resize to short side 256 "
    "(long side int(256 / short * long + 0.5)), torchvision CenterCrop(224), BGR, CHW, float32"
)
RECORD_SAVE_SECONDS = 5.0  # a killed run redoes at most the bins of its last few seconds
# Temporary names of atomic_output and atomic_write_text: ".<target name>.<unique>.tmp".
STALE_TEMP_PATTERNS = (".*.bin.*.tmp", f".{FAILED_LIST_NAME}.*.tmp", f".{RECORD_NAME}.*.tmp")
WRITE_FAILED_EXIT = 3
OTHER_DATASET_CHOICES = ("refuse", "overwrite")


def transform_identity() -> str:
    """The transform and the libraries that decode and resize: bins made with other versions are redone."""
    return f"{TRANSFORM}; Pillow {PIL.__version__}; OpenCV {cv2.__version__}"


# --------------------------------------------------------------------------------------------------------------
# The transform.


class ImageRefused(Exception):
    """An image this transform will not take (its resize would be unbounded)."""


def resized_size(height: int, width: int) -> tuple[int, int]:
    """OpenCV's (width, height) target: short side 256, long side rounded with the reference's float operations."""
    # The reference's operation order (256 / H * W, not 256 * W / H), so that float rounding matches by construction.
    if height < width:
        return int(RESIZE_SHORT_SIDE / height * width + 0.5), RESIZE_SHORT_SIDE
    return RESIZE_SHORT_SIDE, int(RESIZE_SHORT_SIDE / width * height + 0.5)


def check_resize_bound(width: int, height: int) -> None:
    """Raise ImageRefused when the resized long side would exceed MAX_RESIZED_LONG_SIDE."""
    long_side = max(resized_size(height, width))
    if long_side > MAX_RESIZED_LONG_SIDE:
        raise ImageRefused(
            f"refused: {width} x {height} pixels, aspect ratio {max(width, height) / min(width, height):.0f}:1; the "
            f"resize to short side {RESIZE_SHORT_SIDE} would make the long side {long_side} pixels (limit "
            f"{MAX_RESIZED_LONG_SIDE}, aspect ratio {MAX_RESIZED_LONG_SIDE // RESIZE_SHORT_SIDE}:1)"
        )


def center_crop_origin(height: int, width: int) -> tuple[int, int]:
    """(top, left) of torchvision's CenterCrop(224): Python's round, halves to even."""
    return int(round((height - IMAGE_SIZE) / 2.0)), int(round((width - IMAGE_SIZE) / 2.0))


def preprocess_image(path: str | os.PathLike[str]) -> np.ndarray:
    """The model input for one image: float32, C-contiguous, shape (3, 224, 224), BGR, 0..255.

    ``preprocess_image(path).tobytes()`` is the content of its ``.bin``. Raises whatever PIL raises for a file
    that is not a readable image, and ImageRefused (before decoding) for an image whose resize would be unbounded.
    """
    with Image.open(path) as image:
        check_resize_bound(*image.size)  # from the header: before the pixels are decoded
        rgb_image = image if image.mode == "RGB" else image.convert("RGB")
        rgb = np.asarray(rgb_image)
    height, width = rgb.shape[:2]
    resized = cv2.resize(rgb, resized_size(height, width), interpolation=cv2.INTER_LINEAR)
    top, left = center_crop_origin(*resized.shape[:2])
    crop = resized[top : top + IMAGE_SIZE, left : left + IMAGE_SIZE]
    chw_bgr = np.empty((3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    chw_bgr[...] = crop[:, :, ::-1].transpose(2, 0, 1)
    return chw_bgr


def write_bin(model_input: np.ndarray, bin_path: Path) -> None:
    """Write one model input as raw float32 (hidden temporary name, renamed when complete)."""
    with atomic_output(bin_path) as handle:
        handle.write(memoryview(model_input).cast("B"))


# --------------------------------------------------------------------------------------------------------------
# The source folder.


def display_path(path: str | os.PathLike[str]) -> str:
    """A path as one printable line of UTF-8 text: bytes that are not UTF-8 as ``\\xff``, control characters
    (a newline in a name) through repr."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    return text if text.isprintable() else repr(text)


def is_utf8_name(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # os.scandir gives undecodable bytes as lone surrogates
        return False
    return True


class Failure(NamedTuple):
    image: str  # display_path of the image
    reason: str

    def format(self) -> str:
        return f"{self.image}: {self.reason}"


class SourceImage(NamedTuple):
    """An image of SRC_DIR and its identity: size and modification time (ns), taken before it is read."""

    path: Path
    size: int
    mtime_ns: int

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def bin_name(self) -> str:
        return f"{file_key(self.path)}.bin"


@dataclass
class SourceListing:
    """The image files of a folder; ``failures``: entries named like images that cannot be read as one (broken
    symbolic links, non-regular files, names that are not UTF-8); ``ignored``: other entries."""

    images: list[SourceImage]
    failures: list[Failure]
    ignored: int


def scan_source_folder(src_dir: str | os.PathLike[str]) -> SourceListing:
    """The images of ``src_dir`` in sorted name order with their identities (one stat each, no reading).

    Two images with the same stem would write the same bin: a PipelineError before any work.
    """
    src_dir = Path(src_dir)
    images: list[SourceImage] = []
    failures: list[Failure] = []
    ignored = 0
    try:
        with os.scandir(src_dir) as scan:
            entries = sorted(scan, key=lambda e: e.name)
    except OSError as exc:
        raise PipelineError(f"{display_path(src_dir)}: cannot list the source folder: {exc.strerror}") from None
    for entry in entries:
        if not is_image_file(entry.name):
            ignored += 1
            continue
        path = Path(src_dir, entry.name)
        try:
            if entry.is_dir():  # a folder named like an image
                ignored += 1
                continue
            info = entry.stat()  # follows a symbolic link
        except FileNotFoundError:
            target = os.readlink(path) if os.path.islink(path) else None
            reason = f"broken symbolic link (to {display_path(target)}, not found)" if target else "vanished"
            failures.append(Failure(display_path(path), reason))
            continue
        except OSError as exc:
            failures.append(Failure(display_path(path), f"cannot read: {exc.strerror or exc}"))
            continue
        if not stat.S_ISREG(info.st_mode):
            failures.append(Failure(display_path(path), "not a regular file"))
        elif not is_utf8_name(entry.name):
            failures.append(
                Failure(
                    display_path(path),
                    "file name is not valid UTF-8 (the info file and the label file are UTF-8 text): rename it",
                )
            )
        else:
            images.append(SourceImage(path, info.st_size, info.st_mtime_ns))
    first_by_key: dict[str, SourceImage] = {}
    duplicates = []
    for image in images:
        first = first_by_key.setdefault(file_key(image.path), image)
        if first is not image:
            duplicates.append(f"{first.name} and {image.name}")
    if duplicates:
        shown = "; ".join(duplicates[:5]) + (f"; ... ({len(duplicates)} in all)" if len(duplicates) > 5 else "")
        raise PipelineError(f"{src_dir}: images with the same name would write the same .bin: {shown}")
    return SourceListing(images, failures, ignored)


def list_images(src_dir: str | os.PathLike[str]) -> tuple[list[Path], int]:
    """The readable image files of ``src_dir`` in sorted name order, and how many other entries there are."""
    listing = scan_source_folder(src_dir)
    return [image.path for image in listing.images], listing.ignored


def check_folders(src_dir: Path, dst_dir: Path) -> None:
    if not src_dir.is_dir():
        raise PipelineError(f"{src_dir}: {'is not a folder' if src_dir.exists() else 'source folder not found'}")
    if dst_dir.exists() and not dst_dir.is_dir():
        raise PipelineError(f"{dst_dir}: exists and is not a folder")
    src_real, dst_real = src_dir.resolve(), dst_dir.resolve()
    if dst_real == src_real or src_real in dst_real.parents:
        raise PipelineError(f"{dst_dir}: the output folder must not be the source folder {src_dir} or inside it")


def bin_path_for(image: Path, dst_dir: Path) -> Path:
    return dst_dir / f"{file_key(image)}.bin"


# --------------------------------------------------------------------------------------------------------------
# The record of what each bin was made from: DST_DIR/.prep_sources.json.


@dataclass
class SourceRecord:
    """``entries``: image file name -> [size, mtime_ns, bin mtime_ns or None (no bin made yet)]."""

    transform: str
    source_folder: str
    entries: dict[str, list]


def format_record(record: SourceRecord) -> str:
    """JSON, one image per line, deterministic (the same state gives the same bytes)."""
    head = (
        f'{{"record": {json.dumps(RECORD_FORMAT)},\n"transform": {json.dumps(record.transform)},\n'
        f'"source_folder": {json.dumps(record.source_folder)},\n"images": {{'
    )
    lines = [
        f"\n{json.dumps(name)}: [{size}, {mtime}, {'null' if made is None else made}]"
        for name, (size, mtime, made) in record.entries.items()
    ]
    return head + ",".join(lines) + "\n}}\n"


def parse_record(text: str) -> SourceRecord:
    """The record written by format_record; ValueError for anything else."""
    document = json.loads(text)
    if not isinstance(document, dict) or document.get("record") != RECORD_FORMAT:
        raise ValueError(f"not a {RECORD_FORMAT!r}")
    transform, source_folder, images = (document.get(key) for key in ("transform", "source_folder", "images"))
    if not (isinstance(transform, str) and isinstance(source_folder, str) and isinstance(images, dict)):
        raise ValueError("missing transform, source_folder or images")
    for name, values in images.items():
        if not (
            isinstance(values, list)
            and len(values) == 3
            and all(type(v) is int for v in values[:2])
            and (values[2] is None or type(values[2]) is int)
        ):
            raise ValueError(f"bad entry for {name!r}")
    return SourceRecord(transform, source_folder, images)


def read_record(dst_dir: Path) -> tuple[SourceRecord | None, str]:
    """(the record, its text); (None, "") when there is none. PipelineError when it cannot be read."""
    path = dst_dir / RECORD_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, ""
    except (OSError, UnicodeDecodeError) as exc:
        raise PipelineError(
            f"{path}: cannot read the record of the bins: {getattr(exc, 'strerror', None) or exc}; "
            "use another output folder, or --overwrite to delete the bins and start afresh"
        ) from None
    try:
        return parse_record(text), text
    except ValueError as exc:
        raise PipelineError(
            f"{path}: not a record of this script ({exc}); use another output folder, or "
            "--overwrite to delete the bins and start afresh"
        ) from None


def save_record(dst_dir: Path, record: SourceRecord, previous_text: str) -> str:
    """Write the record atomically unless it holds ``previous_text`` already; return its text."""
    text = format_record(record)
    if text != previous_text:
        path = dst_dir / RECORD_NAME
        try:
            atomic_write_text(path, text)
        except OSError as exc:
            raise PipelineError(f"{path}: cannot write: {exc.strerror or exc}", WRITE_FAILED_EXIT) from None
    return text


def scan_bins(dst_dir: Path) -> dict[str, tuple[int, int]]:
    """{name: (size, mtime_ns)} of the ``*.bin`` files of ``dst_dir`` (hidden temporary files are not bins)."""
    bins = {}
    with os.scandir(dst_dir) as scan:
        for entry in scan:
            if entry.name.endswith(".bin") and not entry.name.startswith(".") and entry.is_file(follow_symlinks=False):
                info = entry.stat(follow_symlinks=False)
                bins[entry.name] = (info.st_size, info.st_mtime_ns)
    return bins


@dataclass
class Plan:
    """What a run does: ``todo`` images to (re)do, ``keep`` record entries of the up-to-date bins, bins to delete
    before starting (``stale``: of images to redo; ``orphans``: of images no longer in SRC_DIR)."""

    todo: list[SourceImage]
    keep: dict[str, list]
    stale: list[str]
    orphans: list[str]
    transform_changed: bool


def other_dataset_message(
    dst_dir: Path,
    src_dir: Path,
    bins: dict[str, tuple[int, int]],
    images: Sequence[SourceImage],
    record: SourceRecord | None,
) -> str | None:
    """Why ``dst_dir`` holds bins of another dataset, or None.

    The rule: a bin is this dataset's when the record names its image with the size and modification time that
    image has now in ``src_dir``. A folder whose bins are not at least half this dataset's is another dataset's.
    """
    if not bins:
        return None
    if record is None:
        return (
            f"{dst_dir}: holds {len(bins)} .bin files without a record of their images ({RECORD_NAME}): "
            "made by another tool, an older version of this script or from another dataset; use another "
            "output folder, or --overwrite to delete them and start afresh"
        )
    by_bin = {image.bin_name: image for image in images}
    ours = changed = unrecorded = orphans = 0
    for bin_name in bins:
        image = by_bin.get(bin_name)
        entry = None if image is None else record.entries.get(image.name)
        if image is None:
            orphans += 1
        elif entry is None:
            unrecorded += 1
        elif entry[:2] != [image.size, image.mtime_ns]:
            changed += 1
        else:
            ours += 1
    if 2 * ours >= len(bins):
        return None
    return (
        f"{dst_dir}: holds bins of another dataset: {len(bins) - ours} of its {len(bins)} .bin files were not "
        f"made from the images now in {src_dir} ({changed} from other versions of these files, {orphans} of "
        f"images not there, {unrecorded} not recorded; made from {record.source_folder}); use another output "
        "folder, or --overwrite to delete them and start afresh"
    )


def plan_work(
    images: Sequence[SourceImage],
    bins: dict[str, tuple[int, int]],
    record: SourceRecord | None,
    transform: str,
    overwrite: bool,
) -> Plan:
    """Keep a bin only when the record says it was made with ``transform`` from the image as it is now (same
    name, size and modification time) and the bin is the one recorded (602112 bytes, same modification time)."""
    entries = {} if record is None or overwrite else record.entries
    transform_changed = record is not None and record.transform != transform
    keep: dict[str, list] = {}
    todo = []
    for image in images:
        entry = entries.get(image.name)
        up_to_date = (
            entry is not None
            and not transform_changed
            and entry[:2] == [image.size, image.mtime_ns]
            and entry[2] is not None
            and bins.get(image.bin_name) == (BIN_BYTES, entry[2])
        )
        if up_to_date:
            keep[image.name] = entry
        else:
            todo.append(image)
    wanted = {image.bin_name for image in images}
    todo_bins = {image.bin_name for image in todo}
    stale = sorted(name for name in bins if name in todo_bins)
    orphans = sorted(name for name in bins if name not in wanted)
    return Plan(todo, keep, stale, orphans, transform_changed)


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


def check_free_space(dst_dir: Path, new_bins: int, freed_bytes: int) -> None:
    """Refuse at once when the disk of ``dst_dir`` cannot hold the bins still to write."""
    needed = new_bins * BIN_BYTES - freed_bytes
    free = shutil.disk_usage(dst_dir).free
    if needed > free:
        raise PipelineError(
            f"{dst_dir}: not enough free space: {new_bins} bins need {format_bytes(needed)} more ({BIN_BYTES} bytes "
            f"each), {format_bytes(free)} free on its disk; free some space or use another folder",
            WRITE_FAILED_EXIT,
        )


def format_bytes(count: int) -> str:
    return f"{count / 1e9:.1f} GB" if count >= 1e9 else f"{count / 1e6:.1f} MB"


# --------------------------------------------------------------------------------------------------------------
# The work.


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
    if if_other_dataset not in OTHER_DATASET_CHOICES:
        raise PipelineError(f"if_other_dataset must be one of {OTHER_DATASET_CHOICES}, got {if_other_dataset!r}")
    check_folders(src_dir, dst_dir)
    listing = scan_source_folder(src_dir)
    if not listing.images and not listing.failures:
        extensions = ", ".join(sorted(ext.lstrip(".") for ext in IMAGE_EXTENSIONS))
        raise PipelineError(f"{src_dir}: no image files ({extensions}) in this folder")
    bins: dict[str, tuple[int, int]] = {}
    record, record_text = None, ""
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
                LOG.info(
                    "%s; --if-other-dataset overwrite: deleting them and starting afresh",
                    refusal.split("; use another output folder")[0],
                )
                overwrite, record, record_text = True, None, ""
    transform = transform_identity()
    plan = plan_work(listing.images, bins, record, transform, overwrite)
    deleted = sorted(bins) if overwrite else plan.stale + plan.orphans
    try:
        dst_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PipelineError(f"{dst_dir}: cannot create the output folder: {exc.strerror}") from None
    failed_list = check_output_file(dst_dir / FAILED_LIST_NAME)
    check_free_space(dst_dir, len(plan.todo), sum(bins[name][0] for name in deleted))

    removed_temps = remove_stale_temp_files(dst_dir)
    if removed_temps:
        LOG.info("removed %d temporary file(s) left by an interrupted run in %s", removed_temps, dst_dir)
    if plan.transform_changed and record is not None:
        LOG.info(
            "%s: the bins were made with another transform or library version (%r, now %r); redoing them all",
            dst_dir,
            record.transform,
            transform,
        )
    if overwrite and deleted:
        LOG.info("deleting all %d bins of %s before redoing them", len(deleted), dst_dir)
    elif plan.orphans:
        LOG.info(
            "deleting %d bin(s) whose image is no longer in %s: %s",
            len(plan.orphans),
            src_dir,
            ", ".join(plan.orphans[:5]) + (" ..." if len(plan.orphans) > 5 else ""),
        )
    remove_bins(dst_dir, deleted)

    summary = PreprocessSummary(
        skipped=len(plan.keep),
        removed=0 if overwrite else len(plan.orphans),
        ignored=listing.ignored,
        failures=list(listing.failures),
    )
    for failure in listing.failures:
        LOG.warning("%s", failure.format())
    # The record before any work: the bins kept, and every other image of SRC_DIR without a bin yet.
    entries = {image.name: plan.keep.get(image.name) or [image.size, image.mtime_ns, None] for image in listing.images}
    new_record = SourceRecord(transform, str(src_dir.resolve()), entries)
    record_text = save_record(dst_dir, new_record, record_text)

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
        raise PipelineError(f"{failed_list}: cannot write: {exc.strerror or exc}", WRITE_FAILED_EXIT) from None
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
                        WRITE_FAILED_EXIT,
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


# --------------------------------------------------------------------------------------------------------------
# Command line.


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "Exit status: 0 all images done (or already done); 1 some images failed (they are named on stderr "
            f"and listed in DST_DIR/{FAILED_LIST_NAME}; a later run without failures removes that list); "
            "2 bad arguments or folders, two images with the same name, or DST_DIR holds bins of another dataset "
            "(nothing is written then); 3 an output could not be written (disk full, quota: the run stops at "
            "once, the bins made so far are kept and a re-run goes on from there; also when the disk is too "
            "small for the bins still to make, checked before starting)."
        ),
    )
    parser.add_argument(
        "src_dir",
        metavar="SRC_DIR",
        type=Path,
        help="folder of images (.jpeg .jpg .png .bmp .webp, any case); other and hidden files are ignored and counted",
    )
    parser.add_argument(
        "dst_dir",
        metavar="DST_DIR",
        type=Path,
        help="folder for the .bin files, created if missing; must not be SRC_DIR or inside it",
    )
    parser.add_argument(
        "-j",
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes (default: all %(default)s cores; 1 works in the main process)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help=f"delete every .bin of DST_DIR, of whatever dataset, and redo all (default: keep the "
        f"bins that {RECORD_NAME} says were made from the images as they are now)",
    )
    parser.add_argument(
        "--if-other-dataset",
        choices=OTHER_DATASET_CHOICES,
        default="refuse",
        help="when DST_DIR holds bins of another dataset (fewer than half of its bins were made "
        "from the images now in SRC_DIR, as they are now): refuse (default, exit 2) or "
        "overwrite (as --overwrite); a folder of this dataset's bins is resumed either way",
    )
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="exit 0 even when some images failed (they are still reported and listed)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="more detail on stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    summary = preprocess_folder(
        args.src_dir,
        args.dst_dir,
        workers=args.workers,
        overwrite=args.overwrite,
        if_other_dataset=args.if_other_dataset,
    )
    LOG.info("%s", summary.format())
    if summary.failures:
        LOG.error("%d image(s) failed (listed in %s):", summary.failed, args.dst_dir / FAILED_LIST_NAME)
        for failure in summary.failures:
            LOG.error("  %s", failure.format())
        return 0 if args.skip_bad else 1
    return 0


if __name__ == "__main__":
    run_cli(main)
