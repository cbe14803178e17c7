"""Step 4.2 of the guide: turn every image of a folder into the model's input, one raw float32 ``.bin`` each.

    python imagenet_torch_preprocess.py /root/datasets/imagenet/val ./prep_dataset

Each image becomes ``DST_DIR/<stem>.bin``: 3 x 224 x 224 float32 (602112 bytes, CHW, BGR, values 0..255),
byte-identical to Megvii's validation transform that the checkpoints were evaluated with: PIL decode,
``.convert('RGB')``, OpenCV INTER_LINEAR resize so the short side is 256, torchvision centre crop 224, BGR, CHW.
Unlike the guide's script it makes no needless copies (the resize works on the RGB array: it treats channels
independently, so swapping channels before or after it gives the same bytes) and uses every core.

Resumable: bins are written under a hidden temporary name and renamed when complete, so a reader listing
``*.bin`` never sees a partial one; a re-run skips bins that already have the right size, redoes the others and
removes temporary files a killed run left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, NamedTuple, Sequence

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from ascend_io import (
    BIN_BYTES,
    IMAGE_EXTENSIONS,
    IMAGE_SIZE,
    PipelineError,
    atomic_output,
    atomic_write_text,
    check_output_file,
    file_key,
    is_image_file,
    run_cli,
    setup_logging,
)

LOG = logging.getLogger(Path(__file__).stem)

RESIZE_SHORT_SIDE = 256
FAILED_LIST_NAME = "failed.txt"
# atomic_output's temporary names: ".<target name>.<random>.tmp".
STALE_TEMP_PATTERNS = (".*.bin.*.tmp", f".{FAILED_LIST_NAME}.*.tmp")


# --------------------------------------------------------------------------------------------------------------
# The transform.


def resized_size(height: int, width: int) -> tuple[int, int]:
    """OpenCV's (width, height) target: short side 256, long side rounded with the reference's float operations."""
    # The reference's operation order (256 / H * W, not 256 * W / H), so that float rounding matches by construction.
    if height < width:
        return int(RESIZE_SHORT_SIDE / height * width + 0.5), RESIZE_SHORT_SIDE
    return RESIZE_SHORT_SIDE, int(RESIZE_SHORT_SIDE / width * height + 0.5)


def center_crop_origin(height: int, width: int) -> tuple[int, int]:
    """(top, left) of torchvision's CenterCrop(224): Python's round, halves to even."""
    return int(round((height - IMAGE_SIZE) / 2.0)), int(round((width - IMAGE_SIZE) / 2.0))


def preprocess_image(path: str | os.PathLike[str]) -> np.ndarray:
    """The model input for one image: float32, C-contiguous, shape (3, 224, 224), BGR, 0..255.

    ``preprocess_image(path).tobytes()`` is the content of its ``.bin``. Raises whatever PIL raises for a file
    that is not a readable image.
    """
    with Image.open(path) as image:
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
# One folder.


class Failure(NamedTuple):
    image: str
    reason: str

    def format(self) -> str:
        return f"{self.image}: {self.reason}"


@dataclass
class PreprocessSummary:
    """What a run did. ``skipped``: bins already complete; ``ignored``: entries of SRC_DIR that are no images."""

    done: int = 0
    skipped: int = 0
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
            f"done {self.done}, skipped {self.skipped} (bin already complete), failed {self.failed}, "
            f"ignored {self.ignored} (not images), {self.seconds:.1f} s, {self.images_per_second:.1f} images/s"
        )


def list_images(src_dir: Path) -> tuple[list[Path], int]:
    """Image files of ``src_dir`` in sorted name order, and how many other entries (hidden, other) there are.

    Two images with the same stem would write the same bin: a PipelineError before any work.
    """
    images, ignored = [], 0
    for entry in sorted(os.scandir(src_dir), key=lambda e: e.name):
        if is_image_file(entry.name) and entry.is_file():
            images.append(Path(src_dir, entry.name))
        else:
            ignored += 1
    first_by_key: dict[str, Path] = {}
    duplicates = []
    for image in images:
        first = first_by_key.setdefault(file_key(image), image)
        if first is not image:
            duplicates.append(f"{first.name} and {image.name}")
    if duplicates:
        shown = "; ".join(duplicates[:5]) + (f"; ... ({len(duplicates)} in all)" if len(duplicates) > 5 else "")
        raise PipelineError(f"{src_dir}: images with the same name would write the same .bin: {shown}")
    return images, ignored


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


def is_complete_bin(path: Path) -> bool:
    try:
        return path.stat().st_size == BIN_BYTES
    except FileNotFoundError:
        return False


def remove_stale_temp_files(dst_dir: Path) -> int:
    """Remove temporary files a killed run left in ``dst_dir``; return how many."""
    stale = [path for pattern in STALE_TEMP_PATTERNS for path in dst_dir.glob(pattern)]
    for path in stale:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return len(stale)


def describe_unreadable(image: Path, exc: Exception) -> str:
    if isinstance(exc, UnidentifiedImageError):
        empty = image.exists() and image.stat().st_size == 0
        return "empty file" if empty else "not an image (PIL cannot identify it)"
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot read: {exc.strerror}"
    return f"cannot decode: {exc or type(exc).__name__}"


def process_one(task: tuple[Path, Path]) -> str | None:
    """Worker: write one bin; return None, or the reason the image failed."""
    image, bin_path = task
    try:
        model_input = preprocess_image(image)
    except Exception as exc:  # whatever PIL raises for a bad file: reported, and the other images go on
        return describe_unreadable(image, exc)
    try:
        write_bin(model_input, bin_path)
    except OSError as exc:
        return f"cannot write {bin_path}: {exc.strerror or exc}"
    return None


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


def run_tasks(tasks: list[tuple[Path, Path]], workers: int, progress: bool) -> Iterator[str | None]:
    """Yield each task's result, in order, from ``workers`` processes (in this process for 1)."""
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


def preprocess_folder(
    src_dir: str | os.PathLike[str],
    dst_dir: str | os.PathLike[str],
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> PreprocessSummary:
    """Write ``dst_dir/<stem>.bin`` for every image of ``src_dir``; return what was done.

    Failed images are logged as they happen and listed in ``dst_dir/failed.txt`` (removed when nothing failed).
    ``workers``: processes (default: all cores; 1 works in this process).
    Raises PipelineError for bad folders or duplicate stems, before anything is written.
    """
    src_dir, dst_dir = Path(src_dir), Path(dst_dir)
    if workers is None:
        workers = os.cpu_count() or 1
    if workers < 1:
        raise PipelineError(f"number of workers must be at least 1, got {workers}")
    check_folders(src_dir, dst_dir)
    images, ignored = list_images(src_dir)
    if not images:
        extensions = ", ".join(sorted(ext.lstrip(".") for ext in IMAGE_EXTENSIONS))
        raise PipelineError(f"{src_dir}: no image files ({extensions}) in this folder")
    try:
        dst_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PipelineError(f"{dst_dir}: cannot create the output folder: {exc.strerror}") from None
    check_output_file(dst_dir / FAILED_LIST_NAME)
    removed = remove_stale_temp_files(dst_dir)
    if removed:
        LOG.info("removed %d temporary file(s) left by an interrupted run in %s", removed, dst_dir)

    started = time.perf_counter()
    tasks = [(image, bin_path_for(image, dst_dir)) for image in images]
    todo = tasks if overwrite else [task for task in tasks if not is_complete_bin(task[1])]
    summary = PreprocessSummary(skipped=len(tasks) - len(todo), ignored=ignored)
    if todo:
        with logging_redirect_tqdm():
            for (image, _), reason in zip(todo, run_tasks(todo, min(workers, len(todo)), progress)):
                if reason is None:
                    summary.done += 1
                else:
                    failure = Failure(str(image), reason)
                    summary.failures.append(failure)
                    LOG.warning("%s", failure.format())
    summary.seconds = time.perf_counter() - started

    failed_list = dst_dir / FAILED_LIST_NAME
    if summary.failures:
        atomic_write_text(failed_list, "".join(f"{failure.format()}\n" for failure in summary.failures))
    else:
        failed_list.unlink(missing_ok=True)
    return summary


# --------------------------------------------------------------------------------------------------------------
# Command line.


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "Exit status: 0 all images done (or already done); 1 some images failed (they are named on stderr "
            f"and listed in DST_DIR/{FAILED_LIST_NAME}; a later run without failures removes that list); "
            "2 bad arguments or folders, or two images with the same name (nothing is written then)."
        ),
    )
    parser.add_argument("src_dir", metavar="SRC_DIR", type=Path,
                        help="folder of images (.jpeg .jpg .png .bmp .webp, any case); other and hidden files "
                             "are ignored and counted")
    parser.add_argument("dst_dir", metavar="DST_DIR", type=Path,
                        help="folder for the .bin files, created if missing; must not be SRC_DIR or inside it")
    parser.add_argument("-j", "--workers", type=int, default=os.cpu_count() or 1,
                        help="worker processes (default: all %(default)s cores; 1 works in the main process)")
    parser.add_argument("--overwrite", action="store_true",
                        help="redo every bin (default: skip bins that exist with the right size, 602112 bytes)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="exit 0 even when some images failed (they are still reported and listed)")
    parser.add_argument("-v", "--verbose", action="store_true", help="more detail on stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    summary = preprocess_folder(args.src_dir, args.dst_dir, workers=args.workers, overwrite=args.overwrite)
    LOG.info("%s", summary.format())
    if summary.failures:
        LOG.error("%d image(s) failed (listed in %s):", summary.failed, args.dst_dir / FAILED_LIST_NAME)
        for failure in summary.failures:
            LOG.error("  %s", failure.format())
        return 0 if args.skip_bad else 1
    return 0


if __name__ == "__main__":
    run_cli(main)
