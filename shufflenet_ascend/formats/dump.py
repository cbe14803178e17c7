"""The inference tools' dump files: one file per image and output, text (one line of values) or binary.

``result/dumpOutput_device<id>/<key>_<k>.txt`` (one line of values) or ``.bin`` (raw float32). The old benchmark
tool numbers outputs from 1 (``<key>_1.txt``); ais_bench numbers them from 0 (``<key>_0.txt``, also ``.bin`` and
``.npy``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.fileio import atomic_write_bytes, atomic_write_text
from shufflenet_ascend.keys import name_some

LOG = logging.getLogger(__name__)

DUMP_NAME_PATTERN = re.compile(r"^(?P<key>.+)_(?P<output>\d+)\.(?P<ext>txt|bin|npy)$")
FIRST_OUTPUT_NUMBERS = (1, 0)  # the old tool's, then ais_bench's


def dump_dir(result_dir: str | os.PathLike[str], device_id: int) -> Path:
    return Path(result_dir) / f"dumpOutput_device{device_id}"


def dump_file_name(key: str, binary: bool, output_number: int = 1) -> str:
    return f"{key}_{output_number}.{'bin' if binary else 'txt'}"


def parse_dump_file_name(name: str) -> tuple[str, int, bool] | None:
    """``<key>_<k>.txt`` -> (key, k, binary); None for a name that is not a dump file (``.npy`` counts as binary)."""
    match = DUMP_NAME_PATTERN.match(name)
    if match is None:
        return None
    return match["key"], int(match["output"]), match["ext"] != "txt"


def list_dump_outputs(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """{key: path} of the first output of every image in a dump folder, sorted by key.

    Reads the old benchmark tool's ``<key>_1.txt|.bin`` and ais_bench's ``<key>_0.txt|.bin|.npy``. A folder that
    holds both numberings (outputs of two tools, or a model's second output beside another's first) is refused,
    as is a key with two files; hidden files (atomic writes in progress) are passed over.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise PipelineError(
            f"{folder}: dump folder not found"
            if not folder.exists()
            else f"{folder}: not a folder, expected the inference tool's dump folder"
        )
    by_number: dict[int, dict[str, Path]] = {number: {} for number in FIRST_OUTPUT_NUMBERS}
    foreign: list[str] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            parsed = parse_dump_file_name(entry.name)
            if parsed is None or not entry.is_file():
                foreign.append(entry.name)
                continue
            key, output_number, _binary = parsed
            if output_number not in by_number:
                continue
            outputs = by_number[output_number]
            if key in outputs:
                raise PipelineError(f"{folder}: {outputs[key].name} and {entry.name} are both outputs of {key!r}")
            outputs[key] = folder / entry.name
    if foreign:
        LOG.warning(
            "%s: ignoring %d entries that are not dump files: %s", folder, len(foreign), name_some(sorted(foreign))
        )
    old_tool, ais_bench = (by_number[number] for number in FIRST_OUTPUT_NUMBERS)
    if old_tool and ais_bench:
        raise PipelineError(
            f"{folder}: mixes outputs numbered _1 (benchmark tool, e.g. "
            f"{next(iter(old_tool.values())).name}) and _0 (ais_bench, e.g. "
            f"{next(iter(ais_bench.values())).name}); use one tool's folder"
        )
    outputs = old_tool or ais_bench
    if not outputs:
        raise PipelineError(
            f"{folder}: no outputs (<key>_1.txt|.bin of the benchmark tool or <key>_0.txt|.bin|.npy of ais_bench)"
        )
    return dict(sorted(outputs.items()))


def format_dump_line(values: np.ndarray) -> str:
    """One line of space-separated values that read back as the very same float32 (``np.float32(token)``)."""
    return encode_dump_lines(np.asarray(values, dtype=np.float32).reshape(1, -1))[0].decode("ascii")


def encode_dump_lines(rows: np.ndarray) -> list[bytes]:
    """``format_dump_line`` of every row of a 2-D array (a batch of outputs), in one go, as ASCII bytes.

    Each value is printed as ``%.8e`` would print it (9 significant digits, enough for any float32), built with
    numpy array operations over the whole batch: many times faster than formatting value by value, which matters
    when writing 50,000 dumps while the model runs. Non-finite values fall back to ``%.9g`` (``nan``, ``inf``).
    """
    rows = np.asarray(rows, dtype=np.float32)
    rows = rows.reshape(len(rows), -1)
    if rows.size == 0 or not np.isfinite(rows).all():
        return [(" ".join("%.9g" % value for value in row) + "\n").encode("ascii") for row in rows.tolist()]
    flat = rows.ravel()
    magnitude = np.abs(flat.astype(np.float64))
    nonzero = magnitude > 0
    exponent = np.floor(np.log10(np.where(nonzero, magnitude, 1.0))).astype(np.int64)
    # A 9-digit mantissa rounded in float64 is within 5e-9 (relative) of the value, far inside float32's
    # half-spacing (3e-8): it always reads back exactly. log10 may be off by one near powers of ten: fix it.
    mantissa = np.rint(magnitude * _TEN_TO_8_MINUS[exponent + _EXPONENT_OFFSET])
    adjust = (mantissa >= 1e9).astype(np.int64) - ((mantissa < 1e8) & nonzero)
    if adjust.any():
        exponent += adjust
        mantissa = np.rint(magnitude * _TEN_TO_8_MINUS[exponent + _EXPONENT_OFFSET])
    mantissa = mantissa.astype(np.int64)  # int64 divisions and indices are the fastest in numpy
    high = mantissa // 1000
    first2 = high // 10000
    # 16 bytes per value, as four little-endian words: "-d.d" "dddd" "ddde" "+XX ".
    words = np.empty((flat.size, 4), dtype="<u4")
    words[:, 0] = _SIGN_DIGIT_POINT_DIGIT + ((first2 // 10) << 8) + ((first2 % 10) << 24)
    words[:, 1] = _FOUR_DIGITS[high - first2 * 10000]
    words[:, 2] = _THREE_DIGITS_E[mantissa - high * 1000]
    words[:, 3] = _EXPONENT_WORDS[exponent + _EXPONENT_OFFSET]
    chars = words.view(np.uint8).reshape(*rows.shape, 16)
    chars[:, -1, 15] = ord("\n")  # the space after each row's last value
    negative = np.signbit(rows)
    keep = np.ones(chars.shape, dtype=bool)
    keep[:, :, 0] = negative  # the '-' stays only on negative values (and -0.0)
    text = chars[keep].tobytes()
    ends = np.cumsum(rows.shape[1] * 15 + negative.sum(axis=1)).tolist()
    return [text[start:end] for start, end in zip([0, *ends[:-1]], ends, strict=False)]


_EXPONENT_OFFSET = 50  # float32 decimal exponents lie in -45..38
_TEN_TO_8_MINUS = np.power(10.0, 8 - np.arange(-_EXPONENT_OFFSET, _EXPONENT_OFFSET + 1, dtype=np.float64))
_FOUR_DIGITS = np.frombuffer(b"".join(b"%04d" % number for number in range(10000)), dtype="<u4")
_THREE_DIGITS_E = np.frombuffer(b"".join(b"%03de" % number for number in range(1000)), dtype="<u4")
_EXPONENT_WORDS = np.frombuffer(
    b"".join(b"%+03d " % exponent for exponent in range(-_EXPONENT_OFFSET, _EXPONENT_OFFSET + 1)), dtype="<u4"
)
_SIGN_DIGIT_POINT_DIGIT = int.from_bytes(b"-0.0", "little")


def write_dump(path: str | os.PathLike[str], values: np.ndarray, binary: bool) -> None:
    if binary:
        atomic_write_bytes(path, np.ascontiguousarray(values, dtype=np.float32).tobytes())
    else:
        atomic_write_text(path, format_dump_line(values))


def write_dumps(
    folder: str | os.PathLike[str], keys: Sequence[str], rows: np.ndarray, binary: bool, output_number: int = 1
) -> None:
    """One dump file per image: row i of ``rows`` (one output of a batch) to ``folder/<keys[i]>_<k>.txt|bin``."""
    folder = Path(folder)
    rows = np.asarray(rows, dtype=np.float32).reshape(len(keys), -1)
    contents = [row.tobytes() for row in rows] if binary else encode_dump_lines(rows)
    for key, content in zip(keys, contents, strict=True):
        atomic_write_bytes(folder / dump_file_name(key, binary, output_number), content)


def read_dump(path: str | os.PathLike[str]) -> np.ndarray:
    """One output of one image as float32, from a ``.bin``, ``.npy`` or ``.txt`` dump file (any float notation:
    the old tool's ``%.8e``, ais_bench's ``%f``)."""
    path = Path(path)
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False).astype(np.float32, copy=False).ravel()
        if path.suffix == ".bin":
            data = path.read_bytes()
            if len(data) % 4:
                raise PipelineError(f"{path}: size {len(data)} bytes is not a whole number of float32 values")
            return np.frombuffer(data, dtype=np.float32)
        with open(path, encoding="ascii") as handle:
            text = handle.readline()
        return np.array(text.split(), dtype=np.float32)
    except FileNotFoundError:
        raise PipelineError(f"{path}: dump file not found") from None
    except (ValueError, UnicodeDecodeError):
        raise PipelineError(f"{path}: not a dump file of space-separated numbers") from None
