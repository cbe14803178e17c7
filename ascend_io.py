"""File formats and command-line plumbing shared by the pipeline's scripts.

Every file that crosses a step boundary of the guide (info file, label file, benchmark dump files, perf files)
is named, written and read here, once, so that our scripts and Huawei's tools stay interchangeable.
The formats are those of ``shared/reference/formats.md``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NamedTuple

import numpy as np

LOG = logging.getLogger(__name__)

# The model's contract with ATC and the benchmark tool.
INPUT_NAME = "image"
OUTPUT_NAME = "class"
IMAGE_SIZE = 224
CHANNELS = 3
NUM_CLASSES = 1000
BIN_BYTES = CHANNELS * IMAGE_SIZE * IMAGE_SIZE * 4  # raw float32, CHW: 602112

IMAGE_EXTENSIONS = frozenset({".jpeg", ".jpg", ".png", ".bmp", ".webp"})

SMALL_CHECKPOINT_NAME = "ShuffleNetV2+.Small.pth.tar"
SMALL_CHECKPOINT_MD5 = "1d6611049e6ef03f1d6afa11f6f9023e"

# Published figures from the guide: accuracy of the OM model and of the open-source checkpoint (top-1, top-5, %),
# and the Interface throughputRate of one Ascend 310 chip per batch size. A 310 card has 4 chips.
PUBLISHED_OM_ACCURACY = (74.06, 91.67)
PUBLISHED_OPEN_SOURCE_ACCURACY = (74.1, 91.7)
ACCURACY_TOLERANCE_POINTS = 1.0
PUBLISHED_INTERFACE_FPS = {1: 147.93, 4: 363.812, 8: 437.088, 16: 491.668, 32: 475.038}
CHIPS_PER_310_CARD = 4


class PipelineError(Exception):
    """A user's mistake (bad file, bad argument): reported as one line on stderr, never as a traceback."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def setup_logging(verbose: bool = False) -> None:
    """Scripts report on stderr through logging; stdout stays free for results."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
        force=True,
    )


def run_cli(main: Callable[[Sequence[str] | None], int]) -> None:
    """Run a script's ``main`` and turn a PipelineError into one stderr line and its exit status."""
    prog = Path(sys.argv[0]).name
    try:
        status = main(None)
    except PipelineError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        status = exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        status = 130
    sys.exit(status)


# --------------------------------------------------------------------------------------------------------------
# Atomic output: write to a temporary name beside the target, rename when complete.


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success rename it to ``path``, on any error remove it.

    A reader never sees a half-written ``path``, and an interrupted run leaves no file under that name.
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """``atomic_output`` for content already in memory, with a quarter of its system calls and Python objects:
    the dump writer writes 50,000 of these while the model runs. Same temporary name pattern
    (``.<name>.<unique>.tmp``: process and thread ids, so concurrent writers never share one), same 0o644 mode."""
    target = os.fspath(path)
    folder, name = os.path.split(target)
    temporary = os.path.join(folder, f".{name}.{os.getpid()}-{threading.get_native_id()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        try:
            os.fchmod(descriptor, 0o644)  # as atomic_output: whatever the umask
            remaining = memoryview(data)
            while remaining:
                remaining = remaining[os.write(descriptor, remaining) :]
        finally:
            os.close(descriptor)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def check_output_file(path: str | os.PathLike[str]) -> Path:
    """Fail early, naming the file, when an output file's folder is missing or not writable."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise PipelineError(f"{target}: output folder {folder} does not exist")
    if target.is_dir():
        raise PipelineError(f"{target}: is a folder, expected a file name")
    # A real write probe: os.access says yes to root even on a read-only mount.
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise PipelineError(f"{target}: output folder {folder} is not writable ({exc.strerror or exc})") from None
    return target


@contextlib.contextmanager
def write_errors_named(path: str | os.PathLike[str], what: str = "output file") -> Iterator[None]:
    """Turn an OSError while writing ``path`` (disk full, quota, I/O error) into one PipelineError naming it.

    Use around an atomic write: the atomic writer has already removed its temporary file, so nothing
    half-written is left under any name."""
    try:
        yield
    except OSError as exc:
        raise PipelineError(f"{path}: cannot write {what}: {exc.strerror or exc}") from None


# --------------------------------------------------------------------------------------------------------------
# Keys: an image is known everywhere by its file name without extension.


def file_key(name: str | os.PathLike[str]) -> str:
    """``ILSVRC2012_val_00000001.JPEG`` -> ``ILSVRC2012_val_00000001`` (also for .bin files and full paths)."""
    return Path(name).stem


def is_image_file(path: str | os.PathLike[str]) -> bool:
    name = Path(path).name
    return not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS


# --------------------------------------------------------------------------------------------------------------
# Info file: "<index> <path> <width> <height>", one line per input.


class InfoEntry(NamedTuple):
    index: int
    path: str
    width: int
    height: int


def format_info(entries: Iterable[InfoEntry]) -> str:
    return "".join(f"{e.index} {e.path} {e.width} {e.height}\n" for e in entries)


def write_info(path: str | os.PathLike[str], entries: Iterable[InfoEntry]) -> None:
    atomic_write_text(path, format_info(entries))


def read_info(path: str | os.PathLike[str]) -> list[InfoEntry]:
    """Read an info file; a malformed line is a PipelineError naming the file and line number."""
    entries = []
    for line_number, line in enumerate(_read_text_lines(path, "info file"), start=1):
        if not line.strip():
            continue
        fields = line.split()
        try:
            if len(fields) != 4:
                raise ValueError
            entry = InfoEntry(int(fields[0]), fields[1], int(fields[2]), int(fields[3]))
        except ValueError:
            raise PipelineError(
                f"{path}:{line_number}: malformed info line {line.strip()!r}, "
                "expected '<index> <path> <width> <height>'"
            ) from None
        entries.append(entry)
    return entries


# --------------------------------------------------------------------------------------------------------------
# Labels: "<file name> <class index>", one line per image.


_CLASS_INDEX = re.compile(r"[0-9]+", re.ASCII)


def read_labels(path: str | os.PathLike[str]) -> dict[str, int]:
    """Read val_label.txt into {key: class index}; a line that is not exactly what it should be is refused.

    Refused, as a PipelineError naming the file and line: a line without two fields; a class index that is not
    plain ASCII digits (``int()`` would read "\uff14" as 4, "1_0" as 10, "+5" as 5: guessing a label is worse than
    stopping); two lines giving one image (key) different classes (the guide's script silently keeps the last).
    Accepted: blank lines, a UTF-8 byte-order mark at the start (Windows editors write one), and a line repeated
    with the same class (it says nothing new, so nothing can be wrong).
    """
    labels: dict[str, int] = {}
    first_line: dict[str, int] = {}
    text = read_text(path, "label file").removeprefix("\ufeff")
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2 or _CLASS_INDEX.fullmatch(fields[1]) is None:
            raise PipelineError(
                f"{path}:{line_number}: malformed label line {line.strip()!r}, expected '<file name> <class index>' "
                "(class index in ASCII digits 0-9)"
            )
        key, label = file_key(fields[0]), int(fields[1])
        if key in labels and labels[key] != label:
            raise PipelineError(
                f"{path}:{line_number}: {fields[0]} has class {label} here but class {labels[key]} "
                f"on line {first_line[key]}"
            )
        labels[key] = label
        first_line.setdefault(key, line_number)
    return labels


def format_labels(labels_by_file_name: dict[str, int]) -> str:
    return "".join(f"{name} {label}\n" for name, label in labels_by_file_name.items())


def _read_text_lines(path: str | os.PathLike[str], what: str) -> list[str]:
    return read_text(path, what).splitlines()


def read_text(path: str | os.PathLike[str], what: str) -> str:
    """A whole UTF-8 text file; a missing, unreadable or binary file is a PipelineError naming it and ``what``."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        raise PipelineError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise PipelineError(f"{path}: is a folder, expected a {what}") from None
    except UnicodeDecodeError:
        raise PipelineError(f"{path}: not a text {what}") from None
    except OSError as exc:
        raise PipelineError(f"{path}: cannot read {what}: {exc.strerror}") from None


# --------------------------------------------------------------------------------------------------------------
# Benchmark dump: result/dumpOutput_device<id>/<key>_<k>.txt (one line of values) or .bin (raw float32).
# The old benchmark tool numbers outputs from 1 (<key>_1.txt); ais_bench numbers them from 0 (<key>_0.txt, also
# .bin and .npy).

DUMP_NAME_PATTERN = re.compile(r"^(?P<key>.+)_(?P<output>\d+)\.(?P<ext>txt|bin|npy)$")
FIRST_OUTPUT_NUMBERS = (1, 0)  # the old tool's, then ais_bench's
_NAMES_SHOWN = 10


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


def name_some(names: Sequence[str], shown: int = _NAMES_SHOWN) -> str:
    """The first few of many names, comma-separated, with how many more there are."""
    text = ", ".join(names[:shown])
    return text if len(names) <= shown else f"{text}, ... ({len(names) - shown} more)"


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


# --------------------------------------------------------------------------------------------------------------
# Perf files of the benchmark tool.

PERF_NAME_PATTERN = re.compile(r"^perf_vision_batchsize_(?P<batch>\d+)_device_(?P<device>\d+)\.txt$")
PURE_INFER_NAME_PATTERN = re.compile(r"^PureInfer_perf_of_(?P<model>.+)_in_device_(?P<device>\d+)\.txt$")


def perf_file_name(batch_size: int, device_id: int) -> str:
    return f"perf_vision_batchsize_{batch_size}_device_{device_id}.txt"


def pure_infer_perf_file_name(model_stem: str, device_id: int) -> str:
    return f"PureInfer_perf_of_{model_stem}_in_device_{device_id}.txt"


def _g(value: float) -> str:
    # The tool prints with C++ ostream defaults: 6 significant digits.
    return f"{value:g}"


@dataclass(frozen=True)
class DatasetPerf:
    """The five lines of ``perf_vision_batchsize_<B>_device_<D>.txt`` (rates per second, latencies in ms)."""

    e2e_throughput: float
    e2e_latency_ms: float
    read_throughput: float
    read_latency_ms: float
    preprocess_throughput: float
    preprocess_latency_ms: float
    infer_throughput: float
    interface_throughput: float
    infer_latency_ms: float
    post_throughput: float
    post_latency_ms: float

    def format(self) -> str:
        return (
            f"[e2e] throughputRate: {_g(self.e2e_throughput)}, latency: {_g(self.e2e_latency_ms)}\n"
            f"[data read] throughputRate: {_g(self.read_throughput)}, moduleLatency: {_g(self.read_latency_ms)}\n"
            f"[preprocess] throughputRate: {_g(self.preprocess_throughput)}, "
            f"moduleLatency: {_g(self.preprocess_latency_ms)}\n"
            f"[infer] throughputRate: {_g(self.infer_throughput)}, "
            f"Interface throughputRate: {_g(self.interface_throughput)}, moduleLatency: {_g(self.infer_latency_ms)}\n"
            f"[post] throughputRate: {_g(self.post_throughput)}, moduleLatency: {_g(self.post_latency_ms)}\n"
        )


_NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)"
_DATASET_PERF_PATTERN = re.compile(
    rf"\[e2e\] throughputRate: {_NUMBER}, latency: {_NUMBER}\s*\n"
    rf"\[data read\] throughputRate: {_NUMBER}, moduleLatency: {_NUMBER}\s*\n"
    rf"\[preprocess\] throughputRate: {_NUMBER}, moduleLatency: {_NUMBER}\s*\n"
    rf"\[infer\] throughputRate: {_NUMBER}, Interface throughputRate: {_NUMBER}, moduleLatency: {_NUMBER}\s*\n"
    rf"\[post\] throughputRate: {_NUMBER}, moduleLatency: {_NUMBER}"
)
_PURE_INFER_PATTERN = re.compile(rf"ave_throughputRate\s*=\s*{_NUMBER}\s*samples/s,\s*ave_latency\s*=\s*{_NUMBER}\s*ms")


@dataclass(frozen=True)
class PureInferPerf:
    """``PureInfer_perf_of_<model>_in_device_<D>.txt``: samples/s on one chip and ms per batch."""

    throughput: float
    latency_ms: float

    def format(self) -> str:
        return f"ave_throughputRate = {_g(self.throughput)}samples/s, ave_latency = {_g(self.latency_ms)}ms\n"


def parse_dataset_perf(text: str) -> DatasetPerf | None:
    match = _DATASET_PERF_PATTERN.search(text)
    return None if match is None else DatasetPerf(*map(float, match.groups()))


def parse_pure_infer_perf(text: str) -> PureInferPerf | None:
    match = _PURE_INFER_PATTERN.search(text)
    return None if match is None else PureInferPerf(*map(float, match.groups()))


# --------------------------------------------------------------------------------------------------------------
# Accuracy JSON of imagenet_acc_eval.py: {"title": ..., "value": [{"key": "Number of images", "value": "50000"}, ...]}


@dataclass(frozen=True)
class AccuracyResult:
    images: int
    classes: int
    top_k_percent: tuple[float, ...]  # cumulative: top_k_percent[0] is top-1


def format_accuracy_json(images: int, classes: int, top_k_strings: Sequence[str]) -> str:
    """The guide's JSON: same keys, same strings ("74.06%"), json.dump's default separators, no trailing newline."""
    table = {
        "title": "Overall statistical evaluation",
        "value": [
            {"key": "Number of images", "value": str(images)},
            {"key": "Number of classes", "value": str(classes)},
        ],
    }
    for rank, text in enumerate(top_k_strings, start=1):
        table["value"].append({"key": f"Top{rank} accuracy", "value": text})
    return json.dumps(table)


def read_accuracy_json(path: str | os.PathLike[str]) -> AccuracyResult:
    """Read the guide's accuracy JSON; anything else is a PipelineError naming the file."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
        values = {item["key"]: item["value"] for item in document["value"]}
        top_k = []
        while f"Top{len(top_k) + 1} accuracy" in values:
            top_k.append(float(values[f"Top{len(top_k) + 1} accuracy"].rstrip("%")))
        result = AccuracyResult(int(values["Number of images"]), int(values["Number of classes"]), tuple(top_k))
    except FileNotFoundError:
        raise PipelineError(f"{path}: accuracy file not found") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise PipelineError(f"{path}: not an accuracy JSON of imagenet_acc_eval.py") from None
    # A figure no evaluation can produce means the file was edited or corrupted: refuse it, never judge it.
    if result.images < 1:
        raise PipelineError(f"{path}: Number of images is {result.images}, expected at least 1")
    for rank, percent in enumerate(result.top_k_percent, start=1):
        if not (math.isfinite(percent) and 0.0 <= percent <= 100.0):
            raise PipelineError(
                f"{path}: Top{rank} accuracy {values[f'Top{rank} accuracy']!r} is not a percentage between 0 and 100"
            )
    return result


FULL_VALIDATION_IMAGES = 50_000  # ImageNet val: the published figures are on all of it
Z_95 = 1.959963984540054  # two-sided 95% quantile of the normal distribution


def wilson_interval(proportion: float, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval (95% by default) of a success proportion (0..1) observed over ``trials``.

    For an accuracy figure: ``wilson_interval(percent / 100, images)`` -> (low, high) as proportions. Unlike the
    normal approximation it stays inside 0..1 and is sensible at 0% and 100% and on a few hundred images.
    """
    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}")
    if not 0.0 <= proportion <= 1.0:
        raise ValueError(f"proportion must lie in 0..1, got {proportion}")
    z2_n = z * z / trials
    centre = (proportion + z2_n / 2) / (1 + z2_n)
    half = z / (1 + z2_n) * math.sqrt(proportion * (1 - proportion) / trials + z2_n / (4 * trials))
    return max(0.0, centre - half), min(1.0, centre + half)


def meets_accuracy_rule(
    measured: Sequence[float],
    reference: Sequence[float] = PUBLISHED_OPEN_SOURCE_ACCURACY,
    tolerance_points: float = ACCURACY_TOLERANCE_POINTS,
) -> bool:
    """The guide's rule: every measured figure (top-1, top-5 in %) at most ``tolerance_points`` below the reference."""
    return all(ref - got <= tolerance_points + 1e-9 for got, ref in zip(measured, reference, strict=True))
