"""What each bin was made from: the images of the source folder and the record ``DST_DIR/.prep_sources.json``.

The record (hidden: the info step and the Ascend tools read only ``.bin`` files) holds, for every image, its name,
size, modification time (ns), inode and inode change time (ctime, ns) and the modification time of its bin, with
the transform, the Pillow/OpenCV versions and the bins' dtype (the input route). A bin is kept only when all of
these (``identity.FileIdentity``, which run_all.sh's freshness uses too) still match: an image replaced by another
of the same size under its old modification time (``touch -r``, ``mv``) has another inode or a newer ctime, so its
bin is redone. The bins of changed images are redone, missing
ones made, those whose image is gone deleted.

A folder holds another dataset when its bins were mostly not made from the images now in the source folder, judged
by name, size and modification time (what a copy with ``cp -a`` or ``rsync -a`` keeps: a copied dataset is the
same dataset, its bins are redone, not refused), or when its bins are of the other route (dtype).

Records of format 1 (before the inode and ctime were recorded) are read: they are float32 bins, the folder is
this dataset's when the names, sizes and modification times say so, and every bin is redone once, since nothing in
such a record tells a swapped image.
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
from shufflenet_ascend.contract import BIN_BYTES_BY_DTYPE, DEFAULT_INPUT_DTYPE, INPUT_DTYPES
from shufflenet_ascend.fileio import atomic_write_text
from shufflenet_ascend.identity import FileIdentity, identity_of
from shufflenet_ascend.keys import file_key, is_image_file
from shufflenet_ascend.preprocess.names import WHITESPACE_RULE, display_path, entry_problem, has_whitespace, is_utf8

RECORD_NAME = ".prep_sources.json"
RECORD_FORMAT = "imagenet_torch_preprocess source record 2"
# Format 1: entries [size, mtime_ns, bin_mtime_ns], float32 bins; read, never written.
RECORD_FORMAT_1 = "imagenet_torch_preprocess source record 1"
ENTRY_FIELDS = ("size", "mtime_ns", "inode", "ctime_ns", "bin_mtime_ns")
# Said after every refusal of an output folder; the overwrite path logs the reason without it.
OTHER_DATASET_ADVICE = "use another output folder, or --overwrite to delete them and start afresh"


class Failure(NamedTuple):
    image: str  # display_path of the image
    reason: str

    def format(self) -> str:
        return f"{self.image}: {self.reason}"


class SourceImage(NamedTuple):
    """An image of the source folder and its identity, taken before it is read: size, modification time (ns),
    inode and inode change time (ns) of the file (of its target, for a symbolic link)."""

    path: Path
    size: int
    mtime_ns: int
    inode: int
    ctime_ns: int

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def bin_name(self) -> str:
        return f"{file_key(self.path)}.bin"

    @property
    def identity(self) -> FileIdentity:
        return FileIdentity(self.size, self.mtime_ns, self.inode, self.ctime_ns)


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

    An entry named like an image that cannot be one of the pipeline's inputs is a failure, named, and the others
    go on: a broken symbolic link or a loop of them, a non-regular file, a name that is not UTF-8 or that holds
    whitespace (the info file's fields are space-separated). Two images with the same stem would write the same
    bin: a PipelineError before any work.
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
        except OSError as exc:  # a broken symbolic link, a loop of them, an unreadable entry: named, not fatal
            failures.append(Failure(display_path(path), entry_problem(path, exc)))
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
        elif has_whitespace(entry.name):
            failures.append(Failure(display_path(path), f"file name holds whitespace ({WHITESPACE_RULE}): rename it"))
        else:
            images.append(SourceImage(path, *identity_of(info)))
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
    """The images as the record knows them, one ``name<TAB>size<TAB>mtime_ns<TAB>inode<TAB>ctime_ns`` line each,
    in the given (sorted) order: an image replaced (even under its old size and modification time), added or
    removed changes it; moving the folder within its file system does not."""
    return "".join(f"{image.name}\t" + "\t".join(map(str, image.identity)) + "\n" for image in images)


# --------------------------------------------------------------------------------------------------------------
# The record.


class RecordEntry(NamedTuple):
    """What the record knows of one image: its identity when it was read (``inode`` and ``ctime_ns`` None in a
    format-1 record) and the modification time of its bin (None: no bin made yet)."""

    size: int
    mtime_ns: int
    inode: int | None
    ctime_ns: int | None
    bin_mtime_ns: int | None

    @classmethod
    def of(cls, image: SourceImage, bin_mtime_ns: int | None = None) -> RecordEntry:
        return cls(*image.identity, bin_mtime_ns)

    def same_file(self, image: SourceImage) -> bool:
        """Whether this entry was made from the file as it is now (name apart): every field of its identity."""
        return (self.size, self.mtime_ns, self.inode, self.ctime_ns) == image.identity

    def same_version(self, image: SourceImage) -> bool:
        """Whether the file has the size and modification time recorded: the same version of the dataset's image
        (a copy kept them), though perhaps not the same file."""
        return (self.size, self.mtime_ns) == (image.size, image.mtime_ns)


@dataclass
class SourceRecord:
    """``entries``: image file name -> its RecordEntry; ``dtype``: the input route of the bins."""

    transform: str
    source_folder: str
    entries: dict[str, RecordEntry]
    dtype: str = DEFAULT_INPUT_DTYPE


def _json_int(value: int | None) -> str:
    return "null" if value is None else str(value)


def format_record(record: SourceRecord) -> str:
    """JSON, one image per line, deterministic (the same state gives the same bytes)."""
    head = (
        f'{{"record": {json.dumps(RECORD_FORMAT)},\n"transform": {json.dumps(record.transform)},\n'
        f'"dtype": {json.dumps(record.dtype)},\n"source_folder": {json.dumps(record.source_folder)},\n'
        f'"fields": {json.dumps(list(ENTRY_FIELDS))},\n"images": {{'
    )
    lines = [f"\n{json.dumps(name)}: [{', '.join(map(_json_int, entry))}]" for name, entry in record.entries.items()]
    return head + ",".join(lines) + "\n}}\n"


def _parse_entry(name: str, values: object, version: int) -> RecordEntry:
    if version == 1:
        # [size, mtime_ns, bin_mtime_ns]: no inode nor ctime, so no bin of it is ever up to date.
        if isinstance(values, list) and len(values) == 3:
            values = [*values[:2], None, None, values[2]]
        identity_fields = 2
    else:
        identity_fields = 4
    if not (
        isinstance(values, list)
        and len(values) == len(ENTRY_FIELDS)
        and all(type(value) is int for value in values[:identity_fields])
        and all(value is None or type(value) is int for value in values[identity_fields:])
    ):
        raise ValueError(f"bad entry for {name!r}")
    return RecordEntry(*values)


def parse_record(text: str) -> SourceRecord:
    """The record written by format_record, or one of format 1 (read compatibly); ValueError for anything else."""
    document = json.loads(text)
    if not isinstance(document, dict) or document.get("record") not in (RECORD_FORMAT, RECORD_FORMAT_1):
        raise ValueError(f"not a {RECORD_FORMAT!r}")
    version = 1 if document["record"] == RECORD_FORMAT_1 else 2
    transform, source_folder, images = (document.get(key) for key in ("transform", "source_folder", "images"))
    if not (isinstance(transform, str) and isinstance(source_folder, str) and isinstance(images, dict)):
        raise ValueError("missing transform, source_folder or images")
    dtype = document.get("dtype") if version == 2 else DEFAULT_INPUT_DTYPE
    if dtype not in INPUT_DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}")
    if version == 2 and document.get("fields") != list(ENTRY_FIELDS):
        raise ValueError(f"fields are not {list(ENTRY_FIELDS)}")
    entries = {name: _parse_entry(name, values, version) for name, values in images.items()}
    return SourceRecord(transform, source_folder, entries, dtype)


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
            f"{OTHER_DATASET_ADVICE}"
        ) from None
    try:
        return parse_record(text), text
    except ValueError as exc:
        raise PipelineError(f"{path}: not a record of this script ({exc}); {OTHER_DATASET_ADVICE}") from None


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
    keep: dict[str, RecordEntry]
    stale: list[str]
    orphans: list[str]
    transform_changed: bool


def other_dataset_reason(
    dst_dir: Path,
    src_dir: Path,
    bins: dict[str, tuple[int, int]],
    images: Sequence[SourceImage],
    record: SourceRecord | None,
    dtype: str = DEFAULT_INPUT_DTYPE,
) -> str | None:
    """Why ``dst_dir`` holds bins of another dataset or of the other route, or None (the advice not included).

    The rule: a bin is this dataset's when the record names its image with the size and modification time that
    image has now in ``src_dir``. A folder whose bins are not at least half this dataset's is another dataset's.
    Bins of the other dtype are never resumed: a folder holds one route's bins.
    """
    if not bins:
        return None
    if record is None:
        return (
            f"{dst_dir}: holds {len(bins)} .bin files without a record of their images ({RECORD_NAME}): "
            "made by another tool, an older version of this script or from another dataset"
        )
    if record.dtype != dtype:
        return (
            f"{dst_dir}: holds {record.dtype} bins ({len(bins)} .bin files, {BIN_BYTES_BY_DTYPE[record.dtype]} "
            f"bytes each) and this run makes {dtype} bins ({BIN_BYTES_BY_DTYPE[dtype]} bytes each); a folder holds "
            "the bins of one route"
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
        elif not entry.same_version(image):
            changed += 1
        else:
            ours += 1
    if 2 * ours >= len(bins):
        return None
    return (
        f"{dst_dir}: holds bins of another dataset: {len(bins) - ours} of its {len(bins)} .bin files were not "
        f"made from the images now in {src_dir} ({changed} from other versions of these files, {orphans} of "
        f"images not there, {unrecorded} not recorded; made from {record.source_folder})"
    )


def plan_work(
    images: Sequence[SourceImage],
    bins: dict[str, tuple[int, int]],
    record: SourceRecord | None,
    transform: str,
    overwrite: bool,
    dtype: str = DEFAULT_INPUT_DTYPE,
) -> Plan:
    """Keep a bin only when the record says it was made with ``transform`` from the image as it is now (same
    name, size, modification time, inode and ctime) and the bin is the one recorded (the dtype's size, same
    modification time)."""
    entries = {} if record is None or overwrite else record.entries
    transform_changed = record is not None and (record.transform != transform or record.dtype != dtype)
    bin_bytes = BIN_BYTES_BY_DTYPE[dtype]
    keep: dict[str, RecordEntry] = {}
    todo = []
    for image in images:
        entry = entries.get(image.name)
        up_to_date = (
            entry is not None
            and not transform_changed
            and entry.same_file(image)
            and entry.bin_mtime_ns is not None
            and bins.get(image.bin_name) == (bin_bytes, entry.bin_mtime_ns)
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
