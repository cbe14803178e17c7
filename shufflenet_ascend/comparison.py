"""How far one inference path's outputs are from another's, image by image (precision: beyond the guide's steps).

Outputs are paired by image key and compared in float64: cosine, max absolute and relative error, top-1 and
top-5 agreement (``metrics``), with the labels each side's accuracy and the top-1 flips; then the thresholds. The
files are read by several processes at once, text dumps by the fast parser of ``formats.dump``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shufflenet_ascend.class_names import class_name
from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import NUM_CLASSES
from shufflenet_ascend.formats.dump import list_dump_outputs, read_dump, read_dumps
from shufflenet_ascend.formats.labels import read_labels
from shufflenet_ascend.keys import name_some
from shufflenet_ascend.metrics import cosine_similarity, max_abs_error, relative_error, top_k
from shufflenet_ascend.parallel import map_tasks

LOG = logging.getLogger(__name__)

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
    # float64 [n, 4]: reference at its top-1, candidate at its top-1, reference at the candidate's top-1, candidate
    # at the reference's top-1 (how near a flip was)
    top1_scores: np.ndarray | None = None

    @property
    def relative_error(self) -> np.ndarray:
        return relative_error(self.max_abs_error, self.reference_max_abs)


# ----------------------------------------------------------------------------------------------------------------
# Reading and per-image figures


def first_output_size(path: str | os.PathLike[str]) -> int:
    """The number of values of the first output, which every other output must have."""
    values = read_dump(path)
    if values.size == 0:
        raise PipelineError(f"{path}: empty output")
    if not np.isfinite(values).all():
        raise PipelineError(f"{path}: contains NaN or infinite values")
    return values.size


def pair_figures(pairs: Sequence[tuple[str, str]], expected: int) -> tuple[np.ndarray, ...]:
    """Cosine, max abs error, max |ref|, reference and candidate top-k of each (reference, candidate) pair."""
    reference = read_dumps([pair[0] for pair in pairs], expected).astype(np.float64)
    candidate = read_dumps([pair[1] for pair in pairs], expected).astype(np.float64)
    k = min(TOP_K, expected)
    reference_top, candidate_top = top_k(reference, k), top_k(candidate, k)
    rows = np.arange(len(pairs))
    reference_first, candidate_first = reference_top[:, 0], candidate_top[:, 0]
    scores = np.stack(
        [
            reference[rows, reference_first],
            candidate[rows, candidate_first],
            reference[rows, candidate_first],
            candidate[rows, reference_first],
        ],
        axis=1,
    )
    return (
        cosine_similarity(reference, candidate),
        max_abs_error(reference, candidate),
        np.abs(reference).max(axis=1),
        reference_top,
        candidate_top,
        scores,
    )


def _pair_figures_task(task: tuple[list[tuple[str, str]], int]) -> tuple[np.ndarray, ...]:
    return pair_figures(*task)


def read_pairs(
    reference: dict[str, Path], candidate: dict[str, Path], keys: Sequence[str], workers: int = 0
) -> PerImage:
    """Per-image figures of ``keys`` (present on both sides), read by ``workers`` processes (0: every core)."""
    pairs = [(str(reference[key]), str(candidate[key])) for key in keys]
    expected = first_output_size(pairs[0][0])
    tasks = [(pairs[start : start + CHUNK], expected) for start in range(0, len(pairs), CHUNK)]
    results = map_tasks(_pair_figures_task, tasks, 1 if len(pairs) < SERIAL_BELOW else workers)
    cosine, max_abs, reference_max_abs, reference_top, candidate_top, scores = (
        np.concatenate(parts) for parts in zip(*results, strict=True)
    )
    return PerImage(list(keys), cosine, max_abs, reference_max_abs, reference_top, candidate_top, expected, scores)


# ----------------------------------------------------------------------------------------------------------------
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


def _name(index: int, classes: int) -> str:
    return class_name(index, classes) if classes in (NUM_CLASSES, NUM_CLASSES + 1) else f"class {index}"


def top1_differences(figures: PerImage) -> list[dict[str, Any]]:
    """Every image whose top-1 class differs, in key order: both classes, their names and the scores."""
    differ = np.flatnonzero(figures.reference_top[:, 0] != figures.candidate_top[:, 0])
    classes = figures.values_per_image
    rows = []
    for i in differ:
        reference_class, candidate_class = int(figures.reference_top[i, 0]), int(figures.candidate_top[i, 0])
        row: dict[str, Any] = {
            "key": figures.keys[i],
            "reference_top1": reference_class,
            "reference_top1_name": _name(reference_class, classes),
            "candidate_top1": candidate_class,
            "candidate_top1_name": _name(candidate_class, classes),
        }
        if figures.top1_scores is not None:
            ref_own, cand_own, ref_at_cand, cand_at_ref = (float(v) for v in figures.top1_scores[i])
            row.update(
                reference_score=ref_own,
                candidate_score=cand_own,
                reference_score_of_candidate_top1=ref_at_cand,
                candidate_score_of_reference_top1=cand_at_ref,
            )
        rows.append(row)
    return rows


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
            "median": float(np.median(figures.cosine)),
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
                "reference_top1_name": _name(int(figures.reference_top[i, 0]), figures.values_per_image),
                "candidate_top1_name": _name(int(figures.candidate_top[i, 0]), figures.values_per_image),
            }
            for i in order
        ],
        "top1_differences": top1_differences(figures),
        "labels": None if labels is None else label_figures(figures, labels, labels_path or ""),
    }


def apply_thresholds(
    result: dict[str, Any], min_cosine: float | None, min_top1_agreement: float | None, allow_partial: bool = False
) -> dict[str, Any]:
    """Add ``thresholds``, ``failures`` (one sentence per missed threshold, and, unless ``allow_partial``, a
    comparison that covers only part of the reference or whose reference lacks some of the candidate's images) and
    ``passed`` to the result."""
    failures = []
    missing = result["only_in_reference"]["count"]
    unreferenced = result["only_in_candidate"]["count"]
    reference_images = result["images_paired"] + missing
    result["coverage"] = {
        "reference_images": reference_images,
        "candidate_images": result["images_paired"] + unreferenced,
        "paired": result["images_paired"],
        "without_reference": unreferenced,
        "partial": bool(missing or unreferenced),
        "allowed": allow_partial,
    }
    if missing and not allow_partial:
        failures.append(
            f"partial: covers {result['images_paired']} of the reference's {reference_images} images "
            f"({missing} have no candidate output; --allow-partial accepts that)"
        )
    if unreferenced and not allow_partial:
        failures.append(
            f"partial reference: {unreferenced} of the candidate's {result['coverage']['candidate_images']} images "
            "have no reference output, so they are not compared (--allow-partial accepts that)"
        )
    if min_cosine is not None and result["cosine"]["min"] < min_cosine:
        failures.append(
            f"min cosine {result['cosine']['min']:.8f} < --min-cosine {min_cosine:g} "
            f"(image {result['cosine']['min_key']})"
        )
    if min_top1_agreement is not None and result["top1_agreement_percent"] < min_top1_agreement:
        failures.append(
            f"top-1 agreement {result['top1_agreement_percent']:.2f}% < --min-top1-agreement {min_top1_agreement:g}%"
        )
    result["thresholds"] = {
        "min_cosine": min_cosine,
        "min_top1_agreement_percent": min_top1_agreement,
        "allow_partial": allow_partial,
    }
    result["failures"] = failures
    result["passed"] = not failures
    return result


def compare_folders(
    reference_folder: str | os.PathLike[str],
    candidate_folder: str | os.PathLike[str],
    worst: int = DEFAULT_WORST,
    labels_path: str | os.PathLike[str] | None = None,
    workers: int = 0,
) -> dict[str, Any]:
    """Pair the two dump folders by key and compute every figure (see ``summarize``), reading the files in
    ``workers`` processes (0: one per core)."""
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
    figures = read_pairs(reference, candidate, keys, workers)
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


# ----------------------------------------------------------------------------------------------------------------
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
        *([f"cosine median:          {cosine['median']:.8f}"] if "median" in cosine else []),
        f"max abs error:          {result['max_abs_error']['value']:.6g} ({result['max_abs_error']['key']})",
        f"max relative error:     {_number(result['max_relative_error']['value'], '.6g')} "
        f"({result['max_relative_error']['key']})",
        f"top-1 agreement:        {result['top1_agreement_percent']:.2f}% "
        f"({result['top1_disagreements']} images differ)",
        f"top-5 set agreement:    {result['top5_set_agreement_percent']:.2f}% "
        f"({result['top5_set_disagreements']} images differ)",
    ]
    differences = result.get("top1_differences") or []
    if differences:
        shown = differences[:NAMES_KEPT]
        lines.append(
            f"top-1 differs on {len(differences)} images"
            + (f" (the first {len(shown)}; all in --json)" if len(differences) > len(shown) else "")
            + ":"
        )
        width = max(len(row["key"]) for row in shown)
        for row in shown:
            scores = (
                f"  ({row['reference_score']:.6g} / {row['candidate_score']:.6g})" if "reference_score" in row else ""
            )
            lines.append(
                f"  {row['key']:<{width}}  reference {row['reference_top1']} {row['reference_top1_name']}, "
                f"candidate {row['candidate_top1']} {row['candidate_top1_name']}{scores}"
            )
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
            names = (
                f" ({row['reference_top1_name']} / {row['candidate_top1_name']})"
                if "reference_top1_name" in row
                else ""
            )
            lines.append(
                f"  {row['key']:<{width}}  {row['cosine']:>10.8f}  {row['max_abs_error']:>13.6g}  "
                f"{row['reference_top1']}/{row['candidate_top1']}{names}"
            )
    for failure in result.get("failures", []):
        lines.append(f"FAIL: {failure}")
    coverage = result.get("coverage")
    if coverage and coverage["partial"] and coverage["allowed"]:
        lines.append(
            f"PARTIAL (accepted by --allow-partial): covers {coverage['paired']} of the reference's "
            f"{coverage['reference_images']} images"
            + (
                f"; {coverage['without_reference']} of the candidate's have no reference"
                if coverage.get("without_reference")
                else ""
            )
        )
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
