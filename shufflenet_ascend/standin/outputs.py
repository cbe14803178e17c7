"""The stand-in's output files in the two tools' layouts: the 2021 benchmark tool's dump files (``<key>_1.txt`` in
``%.8e``, or raw ``.bin``) and ais_bench's (``<key>_0.txt`` in printf ``%f`` with a trailing space, ``.bin`` raw
float32, ``.npy``), and ais_bench's ``<dirname>_summary.json``.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shufflenet_ascend import fileio
from shufflenet_ascend.cli import EXIT_CANNOT_WRITE, PipelineError
from shufflenet_ascend.formats.dump import FOUR_DIGIT_WORDS, encode_dump_lines, write_dumps

_FIXED_LIMIT = 1e9  # |value| below it takes the array path: at most 9 digits before the point
_TEN_TO = 10 ** np.arange(1, 9, dtype=np.int32)  # 10 .. 10**8: how many integer digits a value has
# A value's 20 bytes, as five little-endian words: "-ddd" "dddd" "dd.d" "dddd" "d   " (sign, nine integer
# digits, point, six decimals, a space, two bytes of padding); _KEEP says which are printed.
_SIGN_THREE_DIGITS = np.frombuffer(b"".join(b"-%03d" % number for number in range(1000)), dtype="<u4")
_TWO_DIGITS_POINT_DIGIT = np.frombuffer(b"".join(b"%02d.%d" % divmod(number, 10) for number in range(1000)), "<u4")
_DIGIT_SPACE = np.frombuffer(b"".join(b"%d   " % number for number in range(10)), dtype="<u4")
_FIELD = 20
# By sign and number of integer digits (pattern = digits + 10 x negative): the bytes printed, and how many.
_KEEP = np.array(
    [
        [negative] + [position >= 9 - digits for position in range(9)] + [True] * 8 + [False] * 2
        for negative in (False, True)
        for digits in range(10)
    ]
)
_KEPT_BYTES = _KEEP.sum(axis=1)
_KEEP_RECORDS = _KEEP.view(np.dtype((np.void, _FIELD))).ravel()  # one item per pattern: gathered in one go


def encode_fixed_lines(rows: np.ndarray) -> list[bytes]:
    """Each row as ais_bench's TXT writes a float output: printf ``%f`` (six decimals), single spaces, a trailing
    space, a newline.

    Built with array operations (faster than formatting value by value, which matters when writing every image's
    scores while the model runs): a float32 times 10**6 is exact in float64 (24 + 20 bits), so its rounding to an
    integer (half to even, as printf rounds an exact tie) gives the six decimals exactly. Rows with a value that is
    not finite or not below 1e9 in magnitude are formatted by Python's ``%f``."""
    rows = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)
    if rows.size == 0 or not (np.abs(rows) < _FIXED_LIMIT).all():  # NaN compares False: also this path
        line = "%f " * rows.shape[1] + "\n"
        return [(line % tuple(row)).encode("ascii") for row in rows.tolist()]
    flat = rows.ravel()
    scaled = np.rint(np.abs(flat, dtype=np.float64) * 1e6).astype(np.int64)
    integer, fraction = (part.astype(np.int32) for part in np.divmod(scaled, 1_000_000))
    words = np.empty((flat.size, 5), dtype="<u4")
    words[:, 0] = _SIGN_THREE_DIGITS[integer // 1_000_000]
    words[:, 1] = FOUR_DIGIT_WORDS[integer // 100 % 10_000]
    words[:, 2] = _TWO_DIGITS_POINT_DIGIT[integer % 100 * 10 + fraction // 100_000]
    words[:, 3] = FOUR_DIGIT_WORDS[fraction // 10 % 10_000]
    words[:, 4] = _DIGIT_SPACE[fraction % 10]
    pattern = np.searchsorted(_TEN_TO, integer, side="right") + 1  # integer digits, 1..9 ("0" below one)
    pattern += 10 * np.signbit(flat)  # printf keeps the sign of -0.0 and of negatives that round to zero
    text = words.view(np.uint8).ravel()[_KEEP_RECORDS[pattern].view(bool)].tobytes()
    ends = np.cumsum(_KEPT_BYTES[pattern].reshape(rows.shape).sum(axis=1)).tolist()
    return [text[start:end] + b"\n" for start, end in zip([0, *ends[:-1]], ends, strict=True)]


def encode_npy(rows: np.ndarray) -> list[bytes]:
    """Each row as the ``.npy`` file ``np.save`` writes (float32, 1-D)."""
    contents = []
    for row in np.asarray(rows, dtype=np.float32).reshape(len(rows), -1):
        buffer = io.BytesIO()
        np.save(buffer, row, allow_pickle=False)
        contents.append(buffer.getvalue())
    return contents


def encode_raw(rows: np.ndarray) -> list[bytes]:
    return [row.tobytes() for row in np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)]


@dataclass(frozen=True)
class DumpLayout:
    """One tool's dump files: ``<key>_<number>.<extension>``, numbered from ``first_number`` per model output."""

    extension: str
    first_number: int
    encode: Callable[[np.ndarray], list[bytes]]

    def name(self, key: str, output_index: int) -> str:
        return f"{key}_{self.first_number + output_index}.{self.extension}"

    def write(self, folder: Path, keys: Sequence[str], rows: np.ndarray, output_index: int) -> None:
        if self.first_number == 1 and self.extension in ("txt", "bin"):  # the 2021 tool's: formats.dump's writer
            write_dumps(folder, keys, rows, self.extension == "bin", self.first_number + output_index)
            return
        for key, content in zip(keys, self.encode(rows), strict=True):
            fileio.atomic_write_bytes(folder / self.name(key, output_index), content)


def benchmark_layout(binary: bool) -> DumpLayout:
    """The 2021 tool's (and the stand-in's): ``<key>_1.txt`` (``%.8e``) or ``<key>_1.bin``."""
    return DumpLayout("bin", 1, encode_raw) if binary else DumpLayout("txt", 1, encode_dump_lines)


def ais_bench_layout(outfmt: str) -> DumpLayout:
    """ais_bench's ``--outfmt TXT|BIN|NPY``: ``<key>_0.txt`` (``%f``), ``.bin`` or ``.npy``."""
    encoders = {"TXT": encode_fixed_lines, "BIN": encode_raw, "NPY": encode_npy}
    return DumpLayout(outfmt.lower(), 0, encoders[outfmt.upper()])


def write_output_group(folder: Path, keys: Sequence[str], outputs: Sequence[np.ndarray], layout: DumpLayout) -> None:
    """One dump file per image and model output; a failure names the file that failed."""
    for index, output in enumerate(outputs):
        try:
            layout.write(folder, keys, output, index)
        except OSError as exc:
            # Keys are written in order, each under a temporary name renamed when complete (and the folder was
            # emptied first): the first key without its file is the one that failed. The error's own file name is
            # at best the temporary one (os.write's ENOSPC names no file at all).
            failed = next(
                (folder / layout.name(key, index) for key in keys if not (folder / layout.name(key, index)).is_file()),
                exc.filename2 or exc.filename,
            )
            raise PipelineError(
                f"{failed}: cannot write the dump file: {exc.strerror or exc}", EXIT_CANNOT_WRITE
            ) from None


def write_whole_output(path: Path, output: np.ndarray, layout: DumpLayout) -> None:
    """One batch's output in one file (ais_bench's pure inference): TXT one line per row, BIN raw, NPY the array."""
    array = np.asarray(output, dtype=np.float32)
    if layout.extension == "npy":
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        content = buffer.getvalue()
    else:
        content = b"".join(layout.encode(array.reshape(len(array), -1)))
    try:
        fileio.atomic_write_bytes(path, content)
    except OSError as exc:
        raise PipelineError(f"{path}: cannot write the output: {exc.strerror or exc}", EXIT_CANNOT_WRITE) from None


SUMMARY_RULE = "[INFO] -----------------Performance Summary------------------\n"
END_RULE = "[INFO] " + "-" * 54 + "\n"


def ais_bench_throughput(batch_size: int, compute_ms: dict[str, float]) -> float:
    """ais_bench's throughput: 1000 x batch size / the mean NPU_compute_time (ms): images per second of one
    device computing one batch at a time."""
    return 1000.0 * batch_size / compute_ms["mean"] if compute_ms["mean"] > 0 else 0.0


def ais_bench_block(
    compute_ms: dict[str, float], batch_size: int, throughput: float, copies_ms: dict[str, float] | None = None
) -> str:
    """ais_bench's printed summary, line for line; ``copies_ms`` (--display_all_summary): the H2D_latency line
    before the NPU_compute_time line and the D2H_latency line after it."""

    def stats(name: str, figures: dict[str, float]) -> str:
        return (
            f"[INFO] {name} (ms): min = {figures['min']}, max = {figures['max']}, mean = {figures['mean']}, "
            f"median = {figures['median']}, percentile(99%) = {figures['percentile(99%)']}\n"
        )

    lines = [SUMMARY_RULE]
    lines += [stats("H2D_latency", copies_ms)] if copies_ms else []
    lines.append(stats("NPU_compute_time", compute_ms))
    lines += [stats("D2H_latency", copies_ms)] if copies_ms else []
    lines.append(
        f"[INFO] throughput 1000*batchsize.mean({batch_size})/NPU_compute_time.mean({compute_ms['mean']}): "
        f"{throughput}\n"
    )
    lines.append(END_RULE)
    return "".join(lines)


def ais_bench_summary(
    compute_ms: dict[str, float],
    copies_ms: dict[str, float],
    times_ms: Sequence[float],
    throughput: float,
    wall_clock_throughput: float,
    files: Sequence[tuple[Sequence[str], Sequence[str]]],
    args: dict[str, object],
) -> dict[str, object]:
    """ais_bench's summary keys, and one of the stand-in's own. NPU_compute_time: each batch's inference time on
    the CPU; H2D_latency and D2H_latency: 0 (nothing is copied to a device), counted as ais_bench counts them;
    throughput: ais_bench's, 1000 x batch size / mean NPU_compute_time; wall_clock_throughput (the stand-in's):
    images per second of wall-clock time with its streams computing at once; filesinfo: per batch, its input
    files and output files."""
    return {
        "NPU_compute_time": compute_ms,
        "H2D_latency": copies_ms,
        "D2H_latency": copies_ms,
        "throughput": throughput,
        "wall_clock_throughput": wall_clock_throughput,
        "npu_compute_time_list": list(times_ms),
        "pid": os.getpid(),
        "filesinfo": {
            str(number): {"infiles": list(infiles), "outfiles": list(outfiles)}
            for number, (infiles, outfiles) in enumerate(files)
        },
        "args": args,
    }


def write_json(path: Path, document: dict[str, object], what: str) -> None:
    with fileio.write_errors_named(path, what):
        fileio.atomic_write_text(path, json.dumps(document, indent=1) + "\n")
