"""How far one inference path's outputs are from another's, image by image (the guide's step 6.4, "Precision").

Both arguments are dump folders in any of the formats every inference path here writes: the benchmark tool's
``<key>_1.txt|.bin`` (also benchmark_ort.py's, the stand-in and the PyTorch reference) and ais_bench's
``<key>_0.txt|.bin|.npy``. Outputs are paired by image key, and the figures are computed in float64:

    python compare_outputs.py result/reference/ result/onnx_bs1/
    python compare_outputs.py result/onnx_bs1/ result/dumpOutput_device0/ --labels val_label.txt --json cmp.json

- images paired, and the images only in one folder (how many, and the first few names);
- cosine similarity of each image's two output vectors: the minimum, the mean and the 1st percentile (numpy's
  linear interpolation) over the images;
- max absolute error: the largest |reference - candidate| over all values of all images;
- max relative error: per image max |reference - candidate| / max |reference|, then the worst image's;
- top-1 agreement: % of images whose highest score is the same class on both sides (the first one on a tie);
- top-5 set agreement: % of images whose five highest classes are the same set (order ignored; ties broken by
  class index, as a stable sort does);
- the ``--worst N`` images by cosine (default 10);
- with ``--labels val_label.txt``: each side's top-1 and top-5 accuracy over the paired images and the top-1 flips
  (reference right and candidate wrong, and the reverse). 1001 outputs: class 0 is the background.

``--min-cosine C`` (default 0.99, the usual acceptance bar of an fp16 deployment) applies to the minimum cosine:
every image must reach it. ``--min-top1-agreement P`` (percent) is checked when given. A missed threshold prints
a FAIL line naming the figure and exits with status 1. ``--json OUT`` writes every figure for machines
(written atomically). Bad input (a folder without outputs, no common image, outputs of different lengths, NaN or
infinite values) is one line on stderr and exit status 2.

The files are read by several processes at once (``--jobs``, default: every core); text files in the two forms
the tools write (the benchmark tool's "%.8e", ais_bench's "%f") are parsed with array operations, many files at
a time, into exactly the float32 values ``formats.dump.read_dump`` reads (50,000 pairs of text dumps: measured in
the README).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shufflenet_ascend.cli import PipelineError, run_cli, setup_logging
from shufflenet_ascend.contract import NUM_CLASSES
from shufflenet_ascend.fileio import atomic_write_text, check_output_file
from shufflenet_ascend.formats.dump import list_dump_outputs, read_dump
from shufflenet_ascend.formats.labels import read_labels
from shufflenet_ascend.keys import name_some

LOG = logging.getLogger(Path(__file__).stem)

DEFAULT_MIN_COSINE = 0.99
DEFAULT_WORST = 10
TOP_K = 5
NAMES_KEPT = 10  # names of images only in one side / flipped, in the JSON and the printout
CHUNK = 256  # pairs per task of a worker process
SERIAL_BELOW = 2 * CHUNK  # fewer pairs than this are read in this process: a pool would cost more than it saves


@dataclass
class PerImage:
    """Per-image figures of the paired images, row i for keys[i]."""

    keys: list[str]
    cosine: np.ndarray  # float64
    max_abs_error: np.ndarray  # float64: max |ref - cand| of the image
    reference_max_abs: np.ndarray  # float64: max |ref| of the image
    reference_top: np.ndarray  # int64 [n, k]: the k highest classes, highest first (stable: lower class on ties)
    candidate_top: np.ndarray
    values_per_image: int

    @property
    def relative_error(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = self.max_abs_error / self.reference_max_abs
        return np.where(self.max_abs_error == 0, 0.0, ratio)  # 0/0: identical all-zero outputs


# --------------------------------------------------------------------------------------------------------------
# Reading and per-image figures


def read_checked(path: str | os.PathLike[str], expected: int | None) -> np.ndarray:
    """One output as float64, with the length of the others and finite values; else a PipelineError naming it."""
    return check_values(path, read_dump(path), expected)


def check_values(path: str | os.PathLike[str], values: np.ndarray, expected: int | None) -> np.ndarray:
    if values.size == 0:
        raise PipelineError(f"{path}: empty output")
    if expected is not None and values.size != expected:
        raise PipelineError(f"{path}: {values.size} values, expected {expected} like the other outputs")
    if not np.isfinite(values).all():
        raise PipelineError(f"{path}: contains NaN or infinite values")
    return values.astype(np.float64)


# ----- Text dumps, parsed many files at a time -----------------------------------------------------------------
# Parsing decimal text is the cost of a comparison (two files of 1000 values per image). The two forms the tools
# write are parsed with numpy array operations over all the values of many files at once: the old tool's and
# benchmark_ort.py's "%.8e" (-d.dddddddde+XX) and ais_bench's "%f" (-ddd.dddddd). Each value becomes the
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
    """Rows of ``expected`` float32 values, one per text (its first line, as read_dump reads it); None when a
    text is not exactly ``expected`` numbers (the caller then reads the files one by one for the message)."""
    lines = [text.partition(b"\n")[0] for text in texts]
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


def read_side(paths: Sequence[str], expected: int) -> np.ndarray:
    """Checked float64 rows of one side's outputs: text files parsed a group at a time (a group that does not
    parse is read file by file, for the message), binary files by read_dump."""
    rows = np.empty((len(paths), expected), dtype=np.float64)
    for first in range(0, len(paths), _FILES_PER_PARSE):
        group = range(first, min(first + _FILES_PER_PARSE, len(paths)))
        parsed = None
        if all(paths[row].endswith(".txt") for row in group):
            try:
                texts = []
                for row in group:
                    with open(paths[row], "rb") as handle:
                        texts.append(handle.read())
                parsed = parse_text_dumps(texts, expected)
            except OSError:
                parsed = None
        for row in group:
            if parsed is None:
                rows[row] = read_checked(paths[row], expected)
            else:
                rows[row] = check_values(paths[row], parsed[row - first], expected)
    return rows


def top_classes(scores: np.ndarray, k: int = TOP_K) -> np.ndarray:
    """The k highest classes of each row, highest first; equal scores in class order: the first k of a stable
    ``argsort(-scores)``, found without sorting whole rows (a partition, then a sort of k values)."""
    rows, classes = scores.shape
    if k >= classes:
        return np.argsort(-scores, axis=1, kind="stable")[:, :k]
    kth = np.partition(scores, classes - k, axis=1)[:, classes - k, None]  # the k-th highest score of each row
    above = scores > kth
    tied = scores == kth
    wanted = k - above.sum(axis=1, keepdims=True)  # how many of the tied scores belong to the top k: the first
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= wanted))
    top = np.nonzero(chosen)[1].reshape(rows, k)  # exactly k per row, in class order
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


def pair_figures(pairs: Sequence[tuple[str, str]], expected: int) -> tuple[np.ndarray, ...]:
    """Cosine, max abs error, max |ref|, reference and candidate top-k of each (reference, candidate) pair."""
    reference = read_side([pair[0] for pair in pairs], expected)
    candidate = read_side([pair[1] for pair in pairs], expected)
    dot = np.einsum("ij,ij->i", reference, candidate)
    norms = np.sqrt(np.einsum("ij,ij->i", reference, reference) * np.einsum("ij,ij->i", candidate, candidate))
    identical = (reference == candidate).all(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cosine = np.where(norms > 0, dot / norms, 0.0)
    cosine = np.where(identical, 1.0, np.clip(cosine, -1.0, 1.0))  # two zero vectors are the same output
    max_abs_error = np.abs(reference - candidate).max(axis=1)
    reference_max_abs = np.abs(reference).max(axis=1)
    k = min(TOP_K, expected)
    return cosine, max_abs_error, reference_max_abs, top_classes(reference, k), top_classes(candidate, k)


def _pair_figures_task(task: tuple[list[tuple[str, str]], int]) -> tuple[np.ndarray, ...]:
    return pair_figures(*task)


def read_pairs(reference: dict[str, Path], candidate: dict[str, Path], keys: Sequence[str], jobs: int = 0) -> PerImage:
    """Per-image figures of ``keys`` (present on both sides), read by ``jobs`` processes (0: every core)."""
    pairs = [(str(reference[key]), str(candidate[key])) for key in keys]
    expected = read_checked(pairs[0][0], None).size
    workers = jobs or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    tasks = [(pairs[start : start + CHUNK], expected) for start in range(0, len(pairs), CHUNK)]
    if workers <= 1 or len(pairs) < SERIAL_BELOW:
        results = [_pair_figures_task(task) for task in tasks]
    else:
        # fork: the workers need nothing but this module's functions; results come back in task order, and the
        # first failing task's PipelineError is raised here.
        with ProcessPoolExecutor(
            max_workers=min(workers, len(tasks)), mp_context=multiprocessing.get_context("fork")
        ) as pool:
            results = list(pool.map(_pair_figures_task, tasks))
    cosine, max_abs_error, reference_max_abs, reference_top, candidate_top = (
        np.concatenate(parts) for parts in zip(*results, strict=False)
    )
    return PerImage(list(keys), cosine, max_abs_error, reference_max_abs, reference_top, candidate_top, expected)


# --------------------------------------------------------------------------------------------------------------
# Figures


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _percent(count: int, total: int) -> float:
    return 100.0 * count / total if total else 0.0


def label_figures(figures: PerImage, labels: dict[str, int], labels_path: str) -> dict[str, Any]:
    """Each side's top-1/top-5 accuracy over the paired images and the top-1 flips, as in the JSON."""
    unlabelled = [key for key in figures.keys if key not in labels]
    if unlabelled:
        raise PipelineError(f"{labels_path}: no label for {len(unlabelled)} paired images: {name_some(unlabelled)}")
    offset = 1 if figures.values_per_image == NUM_CLASSES + 1 else 0  # class 0 of 1001 is the background
    truth = np.array([labels[key] for key in figures.keys], dtype=np.int64) + offset
    out_of_range = np.flatnonzero(truth >= figures.values_per_image)
    if out_of_range.size:
        key = figures.keys[out_of_range[0]]
        raise PipelineError(
            f"{labels_path}: class index {labels[key]} of {key!r} is out of range for outputs of "
            f"{figures.values_per_image} values"
        )
    reference_top1 = figures.reference_top[:, 0] == truth
    candidate_top1 = figures.candidate_top[:, 0] == truth
    reference_top5 = (figures.reference_top == truth[:, None]).any(axis=1)
    candidate_top5 = (figures.candidate_top == truth[:, None]).any(axis=1)
    lost = [figures.keys[i] for i in np.flatnonzero(reference_top1 & ~candidate_top1)]
    gained = [figures.keys[i] for i in np.flatnonzero(candidate_top1 & ~reference_top1)]
    images = len(figures.keys)
    return {
        "path": labels_path,
        "images": images,
        "reference_top1_percent": _percent(int(reference_top1.sum()), images),
        "reference_top5_percent": _percent(int(reference_top5.sum()), images),
        "candidate_top1_percent": _percent(int(candidate_top1.sum()), images),
        "candidate_top5_percent": _percent(int(candidate_top5.sum()), images),
        "reference_right_candidate_wrong": {"count": len(lost), "keys": lost[:NAMES_KEPT]},
        "candidate_right_reference_wrong": {"count": len(gained), "keys": gained[:NAMES_KEPT]},
    }


def summarize(
    figures: PerImage,
    reference_folder: str,
    candidate_folder: str,
    only_in_reference: Sequence[str],
    only_in_candidate: Sequence[str],
    worst: int = DEFAULT_WORST,
    labels: dict[str, int] | None = None,
    labels_path: str | None = None,
) -> dict[str, Any]:
    """Every figure of the comparison, as written by --json (thresholds not yet applied)."""
    images = len(figures.keys)
    relative = figures.relative_error
    top1_same = figures.reference_top[:, 0] == figures.candidate_top[:, 0]
    top5_same = (np.sort(figures.reference_top, axis=1) == np.sort(figures.candidate_top, axis=1)).all(axis=1)
    worst_abs, worst_relative = int(np.argmax(figures.max_abs_error)), int(np.argmax(relative))
    lowest = int(np.argmin(figures.cosine))
    order = sorted(range(images), key=lambda i: (figures.cosine[i], figures.keys[i]))[: max(worst, 0)]
    return {
        "reference": reference_folder,
        "candidate": candidate_folder,
        "images_paired": images,
        "values_per_image": figures.values_per_image,
        "only_in_reference": {"count": len(only_in_reference), "keys": list(only_in_reference[:NAMES_KEPT])},
        "only_in_candidate": {"count": len(only_in_candidate), "keys": list(only_in_candidate[:NAMES_KEPT])},
        "cosine": {
            "min": float(figures.cosine[lowest]),
            "min_key": figures.keys[lowest],
            "mean": float(figures.cosine.mean()),
            "p1": float(np.percentile(figures.cosine, 1)),
        },
        "max_abs_error": {"value": float(figures.max_abs_error[worst_abs]), "key": figures.keys[worst_abs]},
        "max_relative_error": {"value": _finite_or_none(relative[worst_relative]), "key": figures.keys[worst_relative]},
        "top1_agreement_percent": _percent(int(top1_same.sum()), images),
        "top1_disagreements": int(images - top1_same.sum()),
        "top5_set_agreement_percent": _percent(int(top5_same.sum()), images),
        "top5_set_disagreements": int(images - top5_same.sum()),
        "worst": [
            {
                "key": figures.keys[i],
                "cosine": float(figures.cosine[i]),
                "max_abs_error": float(figures.max_abs_error[i]),
                "relative_error": _finite_or_none(relative[i]),
                "reference_top1": int(figures.reference_top[i, 0]),
                "candidate_top1": int(figures.candidate_top[i, 0]),
            }
            for i in order
        ],
        "labels": None if labels is None else label_figures(figures, labels, labels_path or ""),
    }


def apply_thresholds(
    result: dict[str, Any], min_cosine: float | None, min_top1_agreement: float | None
) -> dict[str, Any]:
    """Add ``thresholds``, ``failures`` (one sentence per missed threshold) and ``passed`` to the result."""
    failures = []
    if min_cosine is not None and result["cosine"]["min"] < min_cosine:
        failures.append(
            f"min cosine {result['cosine']['min']:.8f} < --min-cosine {min_cosine:g} "
            f"(image {result['cosine']['min_key']})"
        )
    if min_top1_agreement is not None and result["top1_agreement_percent"] < min_top1_agreement:
        failures.append(
            f"top-1 agreement {result['top1_agreement_percent']:.2f}% < --min-top1-agreement {min_top1_agreement:g}%"
        )
    result["thresholds"] = {"min_cosine": min_cosine, "min_top1_agreement_percent": min_top1_agreement}
    result["failures"] = failures
    result["passed"] = not failures
    return result


def compare_folders(
    reference_folder: str | os.PathLike[str],
    candidate_folder: str | os.PathLike[str],
    worst: int = DEFAULT_WORST,
    labels_path: str | os.PathLike[str] | None = None,
    jobs: int = 0,
) -> dict[str, Any]:
    """Pair the two dump folders by key and compute every figure (see ``summarize``)."""
    labels = read_labels(labels_path) if labels_path is not None else None
    reference = list_dump_outputs(reference_folder)
    candidate = list_dump_outputs(candidate_folder)
    keys = [key for key in reference if key in candidate]
    only_in_reference = [key for key in reference if key not in candidate]
    only_in_candidate = [key for key in candidate if key not in reference]
    if not keys:
        raise PipelineError(
            f"{candidate_folder}: no image in common with {reference_folder} "
            f"(e.g. {next(iter(reference))!r} against {next(iter(candidate))!r})"
        )
    started = time.perf_counter()
    figures = read_pairs(reference, candidate, keys, jobs)
    LOG.debug("read %d pairs in %.1f s", len(keys), time.perf_counter() - started)
    return summarize(
        figures,
        str(reference_folder),
        str(candidate_folder),
        only_in_reference,
        only_in_candidate,
        worst,
        labels,
        None if labels_path is None else str(labels_path),
    )


# --------------------------------------------------------------------------------------------------------------
# Printout


def _number(value: float | None, digits: str) -> str:
    return "inf" if value is None else format(value, digits)


def format_summary(result: dict[str, Any]) -> str:
    """The printed table: every figure of the JSON but the worst images' relative errors."""
    lines = [
        f"reference: {result['reference']}",
        f"candidate: {result['candidate']}",
        f"images paired:          {result['images_paired']} ({result['values_per_image']} values each)",
    ]
    for side in ("reference", "candidate"):
        only = result[f"only_in_{side}"]
        if only["count"]:
            lines.append(
                f"only in {side + ':':<15}{only['count']} ({name_some(only['keys'])}"
                + (", ..." if only["count"] > len(only["keys"]) else "")
                + ")"
            )
        else:
            lines.append(f"only in {side + ':':<15}0")
    cosine = result["cosine"]
    lines += [
        f"cosine min:             {cosine['min']:.8f} ({cosine['min_key']})",
        f"cosine mean:            {cosine['mean']:.8f}",
        f"cosine 1st percentile:  {cosine['p1']:.8f}",
        f"max abs error:          {result['max_abs_error']['value']:.6g} ({result['max_abs_error']['key']})",
        f"max relative error:     {_number(result['max_relative_error']['value'], '.6g')} "
        f"({result['max_relative_error']['key']})",
        f"top-1 agreement:        {result['top1_agreement_percent']:.2f}% "
        f"({result['top1_disagreements']} images differ)",
        f"top-5 set agreement:    {result['top5_set_agreement_percent']:.2f}% "
        f"({result['top5_set_disagreements']} images differ)",
    ]
    labelled = result["labels"]
    if labelled is not None:
        lines += [
            f"reference accuracy:     top-1 {labelled['reference_top1_percent']:.2f}%  "
            f"top-5 {labelled['reference_top5_percent']:.2f}%  ({labelled['images']} labelled images)",
            f"candidate accuracy:     top-1 {labelled['candidate_top1_percent']:.2f}%  "
            f"top-5 {labelled['candidate_top5_percent']:.2f}%",
        ]
        for name, text in (
            ("reference_right_candidate_wrong", "reference right, candidate wrong"),
            ("candidate_right_reference_wrong", "candidate right, reference wrong"),
        ):
            flips = labelled[name]
            names = f" ({name_some(flips['keys'])}{', ...' if flips['count'] > len(flips['keys']) else ''})"
            lines.append(f"top-1 flips, {text}: {flips['count']}{names if flips['count'] else ''}")
    if result["worst"]:
        lines.append(f"worst {len(result['worst'])} images by cosine:")
        width = max(len(row["key"]) for row in result["worst"])
        lines.append(f"  {'image':<{width}}  {'cosine':>10}  {'max abs error':>13}  top-1 ref/cand")
        for row in result["worst"]:
            lines.append(
                f"  {row['key']:<{width}}  {row['cosine']:>10.8f}  {row['max_abs_error']:>13.6g}  "
                f"{row['reference_top1']}/{row['candidate_top1']}"
            )
    for failure in result.get("failures", []):
        lines.append(f"FAIL: {failure}")
    if result.get("passed") and result["thresholds"]["min_cosine"] is not None:
        lines.append(
            "PASS: "
            + ", ".join(
                [f"min cosine >= {result['thresholds']['min_cosine']:g}"]
                + (
                    [f"top-1 agreement >= {result['thresholds']['min_top1_agreement_percent']:g}%"]
                    if result["thresholds"]["min_top1_agreement_percent"] is not None
                    else []
                )
            )
        )
    return "\n".join(lines) + "\n"


def format_json(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=1, allow_nan=False) + "\n"


# --------------------------------------------------------------------------------------------------------------
# Command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "reference",
        type=Path,
        metavar="REFERENCE_DUMP",
        help="dump folder of the reference (e.g. the PyTorch reference or the ONNX stand-in)",
    )
    parser.add_argument(
        "candidate",
        type=Path,
        metavar="CANDIDATE_DUMP",
        help="dump folder compared with it (e.g. the OM's result/dumpOutput_device0/)",
    )
    parser.add_argument(
        "--labels", type=Path, metavar="val_label.txt", help="also each side's top-1/top-5 accuracy and the top-1 flips"
    )
    parser.add_argument(
        "--worst",
        type=int,
        default=DEFAULT_WORST,
        metavar="N",
        help="list the N images of lowest cosine (default: %(default)s)",
    )
    parser.add_argument(
        "--min-cosine",
        type=float,
        default=DEFAULT_MIN_COSINE,
        metavar="C",
        help="exit 1 when an image's cosine is below C (default: %(default)s; -1 accepts any)",
    )
    parser.add_argument(
        "--min-top1-agreement",
        type=float,
        metavar="P",
        help="exit 1 when fewer than P %% of the images have the same top-1 class",
    )
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="write every figure as JSON")
    parser.add_argument(
        "-j", "--jobs", type=int, default=0, help="processes reading the files (default: 0, one per core)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="more logging")
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    if args.worst < 0:
        raise PipelineError(f"--worst {args.worst}: must be 0 or more")
    if args.jobs < 0:
        raise PipelineError(f"--jobs {args.jobs}: must be 0 or more")
    if args.json is not None:
        check_output_file(args.json)

    result = compare_folders(args.reference, args.candidate, args.worst, args.labels, args.jobs)
    for side in ("reference", "candidate"):
        only = result[f"only_in_{side}"]
        if only["count"]:
            LOG.warning(
                "warning: %d images are only in the %s folder %s: %s",
                only["count"],
                side,
                getattr(args, side),
                name_some(only["keys"]),
            )
    apply_thresholds(result, args.min_cosine, args.min_top1_agreement)
    if args.json is not None:
        atomic_write_text(args.json, format_json(result))
        LOG.info("wrote %s", args.json)
    sys.stdout.write(format_summary(result))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    run_cli(main)
