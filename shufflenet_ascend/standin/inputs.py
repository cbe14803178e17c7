"""The stand-in's inputs: which files (an info file's list, or a folder as ais_bench reads it), their dtype, and
reading each one into its slot of a batch.

Two routes, one tensor (contract.INPUT_DTYPES): float32 CHW bins (the guide's, 4*C*H*W bytes) are read straight
into the float32 NCHW batch; uint8 HWC bins in BGR order (C*H*W bytes, the OM's input with ATC's AIPP stage) are
read and converted to float32 NCHW, which gives the very same values (every preprocessed value is an integer
0..255). Every input's size is checked before any inference: one of another size is one line naming it (Huawei's
tools find it late, "tensorsize != filesize").
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.formats.info import read_info
from shufflenet_ascend.keys import file_key

AUTO = "auto"
DTYPE_ITEM_BYTES = {"float32": 4, "uint8": 1}
BIN_SUFFIXES = (".bin",)
AIS_BENCH_SUFFIXES = (".bin", ".npy")  # what ais_bench reads from a folder (any case)


@dataclass(frozen=True)
class Sample:
    key: str
    path: Path


def input_bytes(shape: tuple[int, int, int], dtype: str) -> int:
    return DTYPE_ITEM_BYTES[dtype] * int(np.prod(shape))


def shape_text(shape: tuple[int, int, int], dtype: str) -> str:
    """How an input of this dtype is laid out: ``3*224*224`` (CHW) for float32, ``224*224*3`` (HWC) for uint8."""
    channels, height, width = shape
    return f"{channels}*{height}*{width}" if dtype == "float32" else f"{height}*{width}*{channels}"


def size_message(path: Path, size: int, shape: tuple[int, int, int], dtype: str) -> str:
    expected = input_bytes(shape, dtype)
    route = "" if dtype == "float32" else " (HWC, the uint8 route)"
    return (
        f"{path}: {size} bytes, expected {shape_text(shape, dtype)} {dtype} values = {expected} bytes{route} "
        "(check -input_height/-input_width and the preprocessing)"
    )


def resolve_input_dtype(requested: str, first: Sample, shape: tuple[int, int, int]) -> str:
    """The dtype asked for, or (``auto``) the one the first input's size says: 4*C*H*W bytes float32, C*H*W uint8
    (a size can never be both); a size that is neither is refused naming the file."""
    if requested != AUTO:
        return requested
    size, npy_dtype = payload(first.path)
    if npy_dtype in DTYPE_ITEM_BYTES:
        return npy_dtype
    if npy_dtype is not None:
        raise PipelineError(f"{first.path}: a .npy of {npy_dtype} values; the inputs are float32 (CHW) or uint8 (HWC)")
    for dtype in DTYPE_ITEM_BYTES:
        if npy_dtype is None and size == input_bytes(shape, dtype):
            return dtype
    raise PipelineError(
        f"{first.path}: {size} bytes, neither {shape_text(shape, 'float32')} float32 values "
        f"({input_bytes(shape, 'float32')} bytes) nor {shape_text(shape, 'uint8')} uint8 values "
        f"({input_bytes(shape, 'uint8')} bytes): not an input of this model (check -input_height/-input_width "
        "and the preprocessing)"
    )


def _size_of(path: Path, named: object) -> int:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise PipelineError(f"{named} not found") from None
    except OSError as exc:
        raise PipelineError(f"{named}: {exc.strerror}") from None
    if not path.is_file():
        raise PipelineError(f"{named} is not a file")
    return size


def check_sizes(samples: Sequence[Sample], shape: tuple[int, int, int], dtype: str) -> None:
    """Every input has the size of one image of ``dtype`` (before any inference)."""
    expected = input_bytes(shape, dtype)
    for sample in samples:
        size, npy_dtype = payload(sample.path)
        if npy_dtype not in (None, dtype):
            raise PipelineError(f"{sample.path}: a .npy of {npy_dtype} values, expected {dtype} (as the first input)")
        if size != expected:
            raise PipelineError(size_message(sample.path, size, shape, dtype))


def info_samples(info_path: str | os.PathLike[str]) -> list[Sample]:
    """The info file's inputs, each present and a file, one key (file name without extension) per input."""
    entries = read_info(info_path)
    if not entries:
        raise PipelineError(f"{info_path}: no inputs listed")
    samples = []
    seen: dict[str, str] = {}
    for entry in entries:
        path = Path(entry.path)
        _size_of(path, f"{info_path}: input {entry.path} (index {entry.index})")
        key = file_key(path)
        if key in seen:
            raise PipelineError(
                f"{info_path}: inputs {seen[key]} and {entry.path} have the same key {key!r}, "
                "their outputs would overwrite each other"
            )
        seen[key] = entry.path
        samples.append(Sample(key, path))
    return samples


def load_samples(
    info_path: str | os.PathLike[str], sample_bytes: int, shape_label: str, dtype: str = "float32"
) -> list[Sample]:
    """The info file's inputs, each checked up front: present, ``sample_bytes`` long, one key per input."""
    samples = info_samples(info_path)
    for sample in samples:
        size = _size_of(sample.path, sample.path)
        if size != sample_bytes:
            raise PipelineError(
                f"{sample.path}: {size} bytes, expected {shape_label} {dtype} values = {sample_bytes} bytes "
                "(check -input_height/-input_width and the preprocessing)"
            )
    return samples


def natural_key(name: str) -> list[object]:
    """ais_bench's natural order: digit runs compared as numbers, the rest case-insensitively."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def ais_bench_key(name: str) -> str:
    """ais_bench names an input's outputs after its file name cut at the first '.'."""
    return name.split(".", 1)[0]


def folder_samples(folder: str | os.PathLike[str]) -> list[Sample]:
    """The .bin and .npy files directly in ``folder``, in ais_bench's order (sorted, then naturally sorted),
    keyed as ais_bench keys them; two inputs of one key are refused."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PipelineError(f"{folder}: " + ("input folder not found" if not folder.exists() else "not a folder"))
    try:
        names = sorted(
            entry.name
            for entry in os.scandir(folder)
            if entry.name.lower().endswith(AIS_BENCH_SUFFIXES) and not entry.name.startswith(".")
        )
    except OSError as exc:
        raise PipelineError(f"{folder}: cannot list the input folder: {exc.strerror or exc}") from None
    names.sort(key=natural_key)
    if not names:
        raise PipelineError(f"{folder}: no .bin or .npy inputs in the folder")
    return _keyed([folder / name for name in names], str(folder))


def ais_bench_samples(spec: str) -> list[Sample]:
    """ais_bench's ``--input``: a folder (``folder_samples``), one ``.bin`` or ``.npy`` file, or a comma-separated
    list of such files, in the order given; one output per file, named after it."""
    parts = spec.split(",")
    if len(parts) == 1 and Path(spec).is_dir():
        return folder_samples(spec)
    paths = []
    for part in parts:
        path = Path(part)
        if not part:
            raise PipelineError(f"--input={spec}: an empty name in the comma-separated list")
        if path.is_dir():
            raise PipelineError(
                f"--input={spec}: {path} is a folder; a list names files (ais_bench takes a list of folders only "
                "for a model of several inputs, and this model has one)"
            )
        _size_of(path, f"{path}: input" if len(parts) > 1 or path.suffix else f"{path}: input folder or file")
        if not path.name.lower().endswith(AIS_BENCH_SUFFIXES):
            raise PipelineError(f"{path}: not a .bin or .npy input")
        paths.append(path)
    return _keyed(paths, f"--input={spec}")


def _keyed(paths: Sequence[Path], where: str) -> list[Sample]:
    samples, seen = [], {}
    for path in paths:
        key = ais_bench_key(path.name)
        if key in seen:
            raise PipelineError(
                f"{where}: inputs {seen[key]} and {path.name} have the same output name {key}_0 (ais_bench cuts a "
                "name at its first '.'), their outputs would overwrite each other"
            )
        seen[key] = path.name
        samples.append(Sample(key, path))
    return samples


def _npy_header(path: Path, handle: BinaryIO) -> tuple[np.dtype, int]:
    """(dtype, values) of a ``.npy`` file, the handle left at its data; not a C-order .npy: one line naming it."""
    try:
        version = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(handle)
    except (ValueError, OSError) as exc:
        raise PipelineError(f"{path}: not a .npy file numpy can read: {exc}") from None
    if fortran and len(shape) > 1:
        raise PipelineError(f"{path}: a Fortran-order array; ais_bench's inputs are C order")
    return dtype, int(np.prod(shape))


def payload(path: Path) -> tuple[int, str | None]:
    """(bytes of the input's values, their dtype): a .bin's size and no dtype (raw bytes), or a .npy's values."""
    if path.suffix.lower() != ".npy":
        return _size_of(path, path), None
    _size_of(path, path)
    try:
        with open(path, "rb") as handle:
            dtype, count = _npy_header(path, handle)
    except OSError as exc:
        raise PipelineError(f"{path}: cannot read the input: {exc.strerror or exc}") from None
    return count * dtype.itemsize, dtype.name if dtype.byteorder in "=<|" else f"big-endian {dtype.name}"


class SampleReader:
    """Reads one input into its slot of a float32 NCHW batch: float32 bins straight in, uint8 HWC bins through a
    scratch buffer, converted (one reader per thread: the scratch buffer is its own)."""

    def __init__(self, shape: tuple[int, int, int], dtype: str) -> None:
        self.shape = shape
        self.dtype = dtype
        channels, height, width = shape
        self._scratch = np.empty((height, width, channels), dtype=np.uint8) if dtype == "uint8" else None

    def read_into(self, sample: Sample, destination: np.ndarray) -> None:
        if self._scratch is None:
            _read_exactly(sample, memoryview(destination).cast("B"), self.shape, self.dtype)
            return
        _read_exactly(sample, memoryview(self._scratch).cast("B"), self.shape, self.dtype)
        np.copyto(destination, self._scratch.transpose(2, 0, 1), casting="unsafe")


def _read_exactly(sample: Sample, view: memoryview, shape: tuple[int, int, int], dtype: str) -> None:
    try:
        with open(sample.path, "rb", buffering=0) as handle:
            size = os.fstat(handle.fileno()).st_size
            if sample.path.suffix.lower() == ".npy":  # checked before the run: its values are all that follows
                with open(sample.path, "rb") as header:
                    _npy_header(sample.path, header)
                    handle.seek(header.tell())
                size -= handle.tell()
            if size != len(view):
                raise PipelineError(size_message(sample.path, size, shape, dtype))
            filled = 0
            while filled < len(view) and (count := handle.readinto(view[filled:])):
                filled += count
    except OSError as exc:
        raise PipelineError(f"{sample.path}: cannot read the input: {exc.strerror or exc}") from None
    if filled != len(view):
        raise PipelineError(size_message(sample.path, filled, shape, dtype))
