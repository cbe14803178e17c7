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
    size = _size_of(first.path, first.path)
    for dtype in DTYPE_ITEM_BYTES:
        if size == input_bytes(shape, dtype):
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
        size = _size_of(sample.path, sample.path)
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
    """The .bin files directly in ``folder``, in ais_bench's order (sorted, then naturally sorted), keyed as
    ais_bench keys them; .npy inputs (which ais_bench also reads) are refused, as are two inputs of one key."""
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
    npy = [name for name in names if name.lower().endswith(".npy")]
    if npy:
        raise PipelineError(f"{folder / npy[0]}: the stand-in reads .bin inputs only (raw float32 or uint8 bytes)")
    if not names:
        raise PipelineError(f"{folder}: no .bin inputs in the folder")
    samples, seen = [], {}
    for name in names:
        key = ais_bench_key(name)
        if key in seen:
            raise PipelineError(
                f"{folder}: inputs {seen[key]} and {name} have the same output name {key}_0 (ais_bench cuts a "
                "name at its first '.'), their outputs would overwrite each other"
            )
        seen[key] = name
        samples.append(Sample(key, folder / name))
    return samples


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
            if size != len(view):
                raise PipelineError(size_message(sample.path, size, shape, dtype))
            filled = 0
            while filled < len(view) and (count := handle.readinto(view[filled:])):
                filled += count
    except OSError as exc:
        raise PipelineError(f"{sample.path}: cannot read the input: {exc.strerror or exc}") from None
    if filled != len(view):
        raise PipelineError(size_message(sample.path, filled, shape, dtype))
