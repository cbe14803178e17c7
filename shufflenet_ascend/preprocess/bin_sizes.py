"""A bin of the wrong size refused with one line before any inference, naming it.

Huawei's benchmark tool and ais_bench find a bin whose size is not the model input's only when they read it, deep
into a run ("tensorsize != filesize"), and a bin of the other route (float32 for an OM that takes uint8, or the
reverse) is the likeliest: each route's bins have their own size (``contract.BIN_BYTES_BY_DTYPE``).
``check_bin_sizes`` is the check every step that hands bins to a tool makes first.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import CHANNELS, DEFAULT_INPUT_DTYPE, IMAGE_SIZE, INPUT_DTYPES
from shufflenet_ascend.formats.info import InfoEntry
from shufflenet_ascend.preprocess.info_entries import BIN_EXTENSIONS, list_files
from shufflenet_ascend.preprocess.names import display_path
from shufflenet_ascend.preprocess.transform import check_dtype

LAYOUT_WORDS = {
    "float32": "{channels} x {height} x {width} float32, CHW",
    "uint8": "{height} x {width} x {channels} uint8, HWC",
}

Bins = str | os.PathLike[str] | Iterable[str | os.PathLike[str] | InfoEntry]


def expected_bin_bytes(dtype: str, width: int = IMAGE_SIZE, height: int = IMAGE_SIZE) -> int:
    """The size of one image's bin of ``dtype``: 602112 bytes for float32 and 150528 for uint8 at 224 x 224."""
    check_dtype(dtype)
    return CHANNELS * width * height * np.dtype(dtype).itemsize


def bin_paths(bins: Bins) -> list[str]:
    """The bins named by a folder (its ``.bin`` files, as the info step lists them), info entries or paths."""
    if isinstance(bins, (str, os.PathLike)):
        return list_files(os.fspath(bins), BIN_EXTENSIONS)
    return [item.path if isinstance(item, InfoEntry) else os.fspath(item) for item in bins]


def bin_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        raise PipelineError(f"{display_path(path)}: bin not found") from None
    except OSError as exc:
        raise PipelineError(f"{display_path(path)}: cannot read: {exc.strerror or exc}") from None


def wrong_size_message(path: str, size: int, dtype: str, width: int, height: int) -> str:
    expected = expected_bin_bytes(dtype, width, height)
    layout = LAYOUT_WORDS[dtype].format(channels=CHANNELS, height=height, width=width)
    message = f"{display_path(path)}: {size} bytes, not a {dtype} input of the model ({expected} bytes: {layout})"
    others = [other for other in INPUT_DTYPES if other != dtype and expected_bin_bytes(other, width, height) == size]
    if others:
        message += f"; it is the size of a {others[0]} bin: bins of the other route"
    return message


def check_bin_sizes(
    bins: Bins, dtype: str | None = None, *, width: int = IMAGE_SIZE, height: int = IMAGE_SIZE
) -> str | None:
    """Refuse, before any inference, bins that are not all the model input's size; return their dtype.

    ``bins``: a folder (its ``.bin`` files), info entries or paths. With ``dtype`` ("float32" or "uint8"), every
    bin must be ``expected_bin_bytes(dtype, width, height)`` bytes: the first that is not is named with its size
    and the expected one (and the other route's, when it is that). Without, the bins must share one size: bins of
    several sizes are refused, naming one file of each. Raises one PipelineError (exit status 2). Returns
    ``dtype``, or without it the dtype whose bin size the bins have (None when neither's).
    """
    paths = bin_paths(bins)
    if dtype is not None:
        expected = expected_bin_bytes(dtype, width, height)
        for path in paths:
            size = bin_size(path)
            if size != expected:
                raise PipelineError(wrong_size_message(path, size, dtype, width, height))
        return dtype
    first_of_size: dict[int, str] = {}
    for path in paths:
        first_of_size.setdefault(bin_size(path), path)
    if len(first_of_size) > 1:
        folders = {os.path.dirname(path) for path in paths}
        where = f"{display_path(folders.pop())}: " if len(folders) == 1 else ""
        shown = ", ".join(f"{display_path(path)} is {size} bytes" for size, path in first_of_size.items())
        raise PipelineError(
            f"{where}bins of {len(first_of_size)} sizes ({shown}); the inputs of one run are of one route "
            f"({', '.join(f'{name} {expected_bin_bytes(name, width, height)} bytes' for name in INPUT_DTYPES)})"
        )
    sizes = list(first_of_size)
    return next((name for name in INPUT_DTYPES if sizes and expected_bin_bytes(name, width, height) == sizes[0]), None)


def bins_route(bins: Bins, dtype: str | None = None, *, width: int = IMAGE_SIZE, height: int = IMAGE_SIZE) -> str:
    """``check_bin_sizes``, and bins that share a size of neither route at ``width`` x ``height`` (224 bins listed
    as 256 x 256) refused as well, naming the folder and the sizes: the dtype of the bins."""
    paths = bin_paths(bins)
    found = check_bin_sizes(paths, dtype, width=width, height=height)
    if found is not None or not paths:
        return found or DEFAULT_INPUT_DTYPE
    folders = {os.path.dirname(path) for path in paths}
    where = display_path(folders.pop()) if len(folders) == 1 else display_path(paths[0])
    sizes = " or ".join(f"{expected_bin_bytes(name, width, height)} bytes ({name})" for name in INPUT_DTYPES)
    raise PipelineError(
        f"{where}: the bins are {bin_size(paths[0])} bytes, not an input of {width} x {height}, which is {sizes}: "
        "are WIDTH and HEIGHT the size the bins were made at?"
    )
