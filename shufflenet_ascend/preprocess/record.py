"""What each bin was made from: the images of the source folder and the record ``DST_DIR/.prep_sources.json``.

The record (hidden: the info step and the Ascend tools read only ``.bin`` files) holds, for every image, its name,
size and modification time (ns) and the modification time of its bin, with the transform and the Pillow/OpenCV
versions. A bin is kept only when both still match; the bins of changed images are redone, missing ones made,
those whose image is gone deleted. A folder whose bins were mostly not made from the images now in the source
folder holds another dataset.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from shufflenet_ascend.cli import EXIT_CANNOT_WRITE, PipelineError
from shufflenet_ascend.contract import BIN_BYTES
from shufflenet_ascend.fileio import atomic_write_text
from shufflenet_ascend.keys import file_key, is_image_file
from shufflenet_ascend.preprocess.names import display_path, is_utf8

RECORD_NAME = ".prep_sources.json"
RECORD_FORMAT = "imagenet_torch_preprocess source record 1"


class Failure(NamedTuple):
    image: str  # display_path of the image
    reason: str

    def format(self) -> str:
        return f"{self.image}: {self.reason}"


class SourceImage(NamedTuple):
    """An image of the source folder and its identity: size and modification time (ns), taken before it is read."""

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
    """The images of ``src_dir`` that the preprocessor takes, in sorted name order with their identities (one
    stat each, no reading).

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
        elif not is_utf8(entry.name):
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


def dataset_identity(images: Sequence[SourceImage]) -> str:
    """The images as the record knows them, one ``name<TAB>size<TAB>mtime_ns`` line each, in the given (sorted)
    order: an image replaced, added or removed changes it; moving the folder does not."""
    return "".join(f"{image.name}\t{image.size}\t{image.mtime_ns}\n" for image in images)


# --------------------------------------------------------------------------------------------------------------
# The record.


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
            raise PipelineError(f"{path}: cannot write: {exc.strerror or exc}", EXIT_CANNOT_WRITE) from None
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


# --------------------------------------------------------------------------------------------------------------
# What to keep, redo and delete.


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
