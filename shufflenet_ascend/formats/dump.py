"""The inference tools' dump files: one file per image and output, text (one line of values) or binary.

``result/dumpOutput_device<id>/<key>_<k>.txt`` (one line of values) or ``.bin`` (raw float32). The old benchmark
tool numbers outputs from 1 (``<key>_1.txt``); ais_bench numbers them from 0 (``<key>_0.txt``, also ``.bin`` and
``.npy``).

``read_dump`` reads one file; ``read_dumps`` reads many at once, parsing text with array operations over many files
(the accuracy step and the comparison read 50,000 files each).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import BIN_BYTES_BY_DTYPE
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
    unreadable: list[str] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            parsed = parse_dump_file_name(entry.name)
            try:
                is_file = entry.is_file()
            except OSError as exc:  # a symlink loop (ELOOP), a dead mount: that entry is no output, the rest are
                unreadable.append(f"{entry.name} ({exc.strerror or exc})")
                continue
            if parsed is None or not is_file:
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
    if unreadable:
        LOG.warning(
            "warning: %s: skipping %d entries that cannot be read (their images count as without output): %s",
            folder,
            len(unreadable),
            name_some(sorted(unreadable)),
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
    refuse_input_bins(folder, min(outputs.values()))
    return dict(sorted(outputs.items()))


def refuse_input_bins(folder: Path, sample: Path) -> None:
    """A folder of preprocessed images (``ILSVRC2012_val_00000001.bin``: read as output 1 of the key
    ``ILSVRC2012_val``) given where outputs are wanted is refused as what it is: an input bin is the size of an
    image, 602112 or 150528 bytes, an output a few kB."""
    if sample.suffix != ".bin":
        return
    try:
        size = sample.stat().st_size
    except OSError:
        return  # read later, with its own error
    if size in BIN_BYTES_BY_DTYPE.values():
        raise PipelineError(
            f"{folder}: holds preprocessed input bins ({sample.name} is {size} bytes, one image), not an inference "
            "tool's outputs: give the dump folder the tool wrote (e.g. result/dumpOutput_device0/)"
        )


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
    magnitude = np.abs(flat, dtype=np.float64)
    nonzero = magnitude > 0
    exponent = np.floor(np.log10(magnitude, where=nonzero, out=np.zeros_like(magnitude))).astype(np.intp)
    exponent += _EXPONENT_OFFSET  # from here on an index into the tables
    # A 9-digit mantissa rounded in float64 is within 5e-9 (relative) of the value, far inside float32's
    # half-spacing (3e-8): it always reads back exactly. log10 may be off by one near powers of ten: fix it.
    mantissa = np.rint(magnitude * _TEN_TO_8_MINUS[exponent])
    adjust = (mantissa >= 1e9).astype(np.intp) - ((mantissa < 1e8) & nonzero)
    if adjust.any():
        exponent += adjust
        mantissa = np.rint(magnitude * _TEN_TO_8_MINUS[exponent])
    mantissa = mantissa.astype(np.int32)  # below 1e9; int32 divisions are the fastest in numpy
    high = mantissa // 1000
    first2 = high // 10000
    # 16 bytes per value, as four little-endian words: "?d.d" "dddd" "ddde" "+XX ", where ? is '-' or a NUL
    # byte, removed at the end (bytes.replace: faster than selecting the bytes to keep with a mask).
    words = np.empty((flat.size, 4), dtype="<u4")
    words[:, 0] = _NUL_DIGIT_POINT_DIGIT[first2]
    words[:, 1] = FOUR_DIGIT_WORDS[high - first2 * 10000]
    words[:, 2] = _THREE_DIGITS_E[mantissa - high * 1000]
    words[:, 3] = _EXPONENT_WORDS[exponent]
    chars = words.view(np.uint8).reshape(*rows.shape, 16)
    chars[:, :, 0] = np.signbit(rows).view(np.uint8) * np.uint8(ord("-"))  # also on -0.0, as printf
    chars[:, -1, 15] = ord("\n")  # the space after each row's last value
    text = chars.tobytes()
    step = chars[0].size
    return [text[start : start + step].replace(b"\0", b"") for start in range(0, len(text), step)]


_EXPONENT_OFFSET = 50  # float32 decimal exponents lie in -45..38
_TEN_TO_8_MINUS = np.power(10.0, 8 - np.arange(-_EXPONENT_OFFSET, _EXPONENT_OFFSET + 1, dtype=np.float64))
# "0000" .. "9999" as little-endian 4-byte words (also ais_bench's %f lines, standin.outputs)
FOUR_DIGIT_WORDS = np.frombuffer(b"".join(b"%04d" % number for number in range(10000)), dtype="<u4")
_THREE_DIGITS_E = np.frombuffer(b"".join(b"%03de" % number for number in range(1000)), dtype="<u4")
_EXPONENT_WORDS = np.frombuffer(
    b"".join(b"%+03d " % exponent for exponent in range(-_EXPONENT_OFFSET, _EXPONENT_OFFSET + 1)), dtype="<u4"
)
_NUL_DIGIT_POINT_DIGIT = np.frombuffer(b"".join(b"\0%d.%d" % divmod(number, 10) for number in range(100)), dtype="<u4")


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
            rest = handle.read()
        if rest.strip():
            raise PipelineError(
                f"{path}: holds {1 + len(rest.strip().splitlines())} lines of values, expected one line "
                "(one image's output per file)"
            )
        return np.array(text.split(), dtype=np.float32)
    except FileNotFoundError:
        raise PipelineError(f"{path}: dump file not found") from None
    except (ValueError, UnicodeDecodeError):
        raise PipelineError(f"{path}: not a dump file of space-separated numbers") from None


# ----------------------------------------------------------------------------------------------------------------
# Many dumps at once. Parsing decimal text is the cost of reading outputs (1000 values per image). The two forms
# the tools write are parsed with numpy array operations over all the values of many files at once: the old tool's
# and benchmark_ort.py's "%.8e" (-d.dddddddde+XX) and ais_bench's "%f" (-ddd.dddddd). Each value becomes the
# correctly rounded float64 of its decimal (an integer of at most 15 digits times an exact power of ten: one
# rounding), then float32: exactly what read_dump's np.float32(token) gives (numpy too goes through float64).
# A few tokens in another notation are parsed by float(); a group of files with many of them, a malformed token or
# a wrong number of values is read again file by file by read_dump (with its message for a bad file).

_E_FORM_WIDTH = 14  # d.dddddddde+XX, and a '-' before it
_F_FRACTION = 6  # %f: six decimals
_F_MAX_INTEGER_DIGITS = 9  # all digits of a %f value then form an integer below 2**53 (exact in float64)
_MAX_EXACT_POWER = 22  # 10**0 .. 10**22 are exact in float64
_PAD = 32  # bytes of padding before the text: a column k bytes left of any token's end is always in range
_POWERS_OF_TEN = 10.0 ** np.arange(_MAX_EXACT_POWER + 1)
_BLOCK = 1 << 15  # tokens parsed at a time
_FILES_PER_PARSE = 32  # text files parsed together: their bytes stay in the cache
_COLUMNS = 16  # bytes of a token looked at, from its end: the widest fixed form but its sign, "123456789.123456"


def parse_tokens(buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray | None:
    """float32 values of the tokens buffer[starts[i]:ends[i]]; None when a token is not a number."""
    padded = np.concatenate([np.full(_PAD, 32, dtype=np.uint8), buffer])
    values = np.empty(len(starts), dtype=np.float32)
    for first in range(0, len(starts), _BLOCK):  # blocks that stay in the cache
        block = _parse_block(padded, buffer, starts[first : first + _BLOCK], ends[first : first + _BLOCK])
        if block is None:
            return None
        values[first : first + _BLOCK] = block
    return values


def _parse_block(padded: np.ndarray, buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray | None:
    """parse_tokens on one block. Column k (k = 1: each token's last byte) of all tokens is one gather, and all
    arithmetic is on whole columns: a value's digits form an integer (exact: below 2**53), scaled by an exact
    power of ten in float64 (one rounding: the decimal's correctly rounded float64), then made float32."""
    last = ends + (_PAD - 1)
    width = ends - starts
    negative = buffer[starts] == ord("-")
    count = len(starts)

    # Row k - 1: byte k of every token, counted from its end (k = 1: the last byte); a copy, contiguous.
    columns = np.ascontiguousarray(padded[last[None, :] - np.arange(_COLUMNS)[:, None]])

    def column(k: int) -> np.ndarray:
        return columns[k - 1].copy()

    def digits_into(
        number: np.ndarray, ks: Sequence[int], ok: np.ndarray, inside: Sequence[np.ndarray] | None = None
    ) -> None:
        """number = number * 10 + digit for each column k in turn; ok &= the byte is a digit (where inside)."""
        for index, k in enumerate(ks):
            value = column(k)
            value -= np.uint8(48)  # a byte below '0' wraps far above 9
            is_digit = value <= 9
            if inside is None:
                ok &= is_digit
            else:
                ok &= is_digit | ~inside[index]
                value *= inside[index]
            number *= 10
            number += value

    values = np.zeros(count, dtype=np.float64)
    done = np.zeros(count, dtype=bool)

    # "%.8e": [-]d.dddddddde[+-]XX (k: 14 the first digit, 13 '.', 12..5 decimals, 4 'e', 3 sign, 2..1 exponent)
    sign = column(3)
    e_form = (
        (width == _E_FORM_WIDTH + negative)
        & (column(13) == ord("."))
        & ((column(4) | 0x20) == ord("e"))
        & ((sign == ord("+")) | (sign == ord("-")))
    )
    if e_form.any():
        mantissa = np.zeros(count, dtype=np.uint32)  # 9 digits: below 2**32
        digits_into(mantissa, [14, *range(12, 4, -1)], e_form)
        exponent = np.zeros(count, dtype=np.int32)
        digits_into(exponent, [2, 1], e_form)
        power = np.where(sign == ord("-"), -exponent, exponent) - 8
        e_form &= np.abs(power) <= _MAX_EXACT_POWER
        scale = _POWERS_OF_TEN[np.clip(np.abs(power), 0, _MAX_EXACT_POWER)]
        scaled = mantissa.astype(np.float64)
        np.multiply(scaled, scale, out=values, where=e_form & (power >= 0))
        np.divide(scaled, scale, out=values, where=e_form & (power < 0))
        done |= e_form

    # "%f": [-]d+.dddddd (k: 6..1 decimals, 7 '.', 8.. the integer digits, then the '-')
    integer_digits = width - (_F_FRACTION + 1) - negative
    f_form = (
        ~done
        & (column(_F_FRACTION + 1) == ord("."))
        & (integer_digits >= 1)
        & (integer_digits <= _F_MAX_INTEGER_DIGITS)
    )
    if f_form.any():
        fraction = np.zeros(count, dtype=np.uint32)
        digits_into(fraction, range(_F_FRACTION, 0, -1), f_form)
        integer = np.zeros(count, dtype=np.uint32)  # at most 9 digits
        ks = range(_F_FRACTION + 1 + _F_MAX_INTEGER_DIGITS, _F_FRACTION + 1, -1)
        digits_into(integer, ks, f_form, [integer_digits >= k - (_F_FRACTION + 1) for k in ks])
        whole = integer.astype(np.float64) * 10.0**_F_FRACTION + fraction  # below 2**53: exact
        np.divide(whole, 10.0**_F_FRACTION, out=values, where=f_form)
        done |= f_form

    np.negative(values, out=values, where=negative)
    others = np.flatnonzero(~done)
    if len(others) > count // 100:
        return None  # another notation throughout: read_dump's parser is faster than float() token by token
    for index in others:  # a few in another notation (also nan, inf): Python's own parser
        try:
            values[index] = float(buffer[starts[index] : ends[index]].tobytes())
        except ValueError:
            return None
    return values.astype(np.float32)


def parse_text_dumps(texts: Sequence[bytes], expected: int) -> np.ndarray | None:
    """Rows of ``expected`` float32 values, one per text (its one line, as read_dump reads it); None when a text
    is not exactly one line of ``expected`` numbers (the caller then reads the files one by one for the message)."""
    lines = []
    for text in texts:
        line, _, rest = text.partition(b"\n")
        if rest.strip():
            return None  # a second line of values: read_dump names the file
        lines.append(line)
    buffer = np.frombuffer(b"\n".join(lines) + b"\n", dtype=np.uint8)
    space = buffer <= 32
    if ((buffer < 9) | ((buffer > 13) & (buffer < 32))).any():
        return None  # a control character: only read_dump's split() knows what it makes of it
    edges = np.flatnonzero(space[1:] != space[:-1]) + 1  # the buffer ends with a space: edges pair up
    if not space[0]:
        edges = np.concatenate([[0], edges])
    starts, ends = edges[0::2], edges[1::2]
    tokens_before_line_end = np.searchsorted(starts, np.flatnonzero(buffer == 10))
    if not (np.diff(tokens_before_line_end, prepend=0) == expected).all():
        return None
    values = parse_tokens(buffer, starts, ends)
    return None if values is None else values.reshape(len(lines), expected)


def read_dumps(paths: Sequence[str | os.PathLike[str]], expected: int) -> np.ndarray:
    """Outputs of many images as one float32 matrix, row i from ``paths[i]``: ``read_dump``'s values, each file
    checked to hold ``expected`` finite values (else a PipelineError naming the first bad file).

    Text files are parsed a group at a time by ``parse_text_dumps`` (several times faster than token by token);
    a group that does not parse, and binary files, are read file by file by ``read_dump``."""
    rows = np.empty((len(paths), expected), dtype=np.float32)
    for first in range(0, len(paths), _FILES_PER_PARSE):
        group = [os.fspath(path) for path in paths[first : first + _FILES_PER_PARSE]]
        parsed = None
        if all(path.endswith(".txt") for path in group):
            try:
                texts = []
                for path in group:
                    with open(path, "rb") as handle:
                        texts.append(handle.read())
                parsed = parse_text_dumps(texts, expected)
            except OSError:
                parsed = None  # read_dump names the file
        for offset, path in enumerate(group):
            rows[first + offset] = check_dump_values(
                path, read_dump(path) if parsed is None else parsed[offset], expected
            )
    return rows


def check_dump_values(path: str | os.PathLike[str], values: np.ndarray, expected: int) -> np.ndarray:
    """``values`` when they are ``expected`` finite numbers, else a PipelineError naming ``path``."""
    if values.size != expected:
        raise PipelineError(f"{path}: {values.size} values, expected {expected} like the other outputs")
    if not np.isfinite(values).all():
        raise PipelineError(f"{path}: contains NaN or infinite values")
    return values
