"""Accuracy: the outputs of a run scored against the labels (the guide's JSON), and the figures against the
published ones (the guide's 1-point rule, Wilson intervals on a subset)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import (
    FULL_VALIDATION_IMAGES,
    NUM_CLASSES,
    PUBLISHED_OM_ACCURACY,
    PUBLISHED_OPEN_SOURCE_ACCURACY,
)
from shufflenet_ascend.formats.accuracy_json import AccuracyResult, format_accuracy_json, read_accuracy_json
from shufflenet_ascend.formats.dump import list_dump_outputs, read_dump, read_dumps
from shufflenet_ascend.formats.labels import read_labels
from shufflenet_ascend.keys import name_some
from shufflenet_ascend.metrics import interval_points, judge, top_k
from shufflenet_ascend.parallel import map_tasks

TOP_N = 5
ACCEPTED_CLASS_COUNTS = (NUM_CLASSES, NUM_CLASSES + 1)  # 1001: class 0 is the background
ROWS_PER_TASK = 1024  # outputs read and ranked at a time by one process (4 MB of scores)

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Evaluation:
    images: int  # the denominator
    classes: int
    hits_at_rank: tuple[int, ...]  # hits_at_rank[r]: images whose label is the (r+1)-th highest score
    missing: tuple[str, ...]  # labelled keys without output, sorted

    def top_k_percent(self) -> list[float]:
        return [100.0 * hits / self.images for hits in np.cumsum(self.hits_at_rank)]

    def top_k_strings(self) -> list[str]:
        """The guide's strings, with the guide's arithmetic: hits / images * 100 in numpy float64, rounded by
        numpy (23 of 160 images gives "14.37%", where round(100 * 23 / 160, 2) would give 14.38)."""
        accuracy = np.cumsum(np.array(self.hits_at_rank, dtype=np.float64)) / self.images
        return [str(round(accuracy[rank] * 100, 2)) + "%" for rank in range(len(accuracy))]


def hits_at_rank(scores: np.ndarray, labels: np.ndarray, top_n: int = TOP_N) -> np.ndarray:
    """Per rank r < top_n, how many rows have their label at rank r of ``np.argsort(-row)``: the guide's ranking,
    tied scores included (``metrics.top_k`` with ``ties="argsort"``)."""
    ranked = top_k(scores, min(top_n, scores.shape[1]), ties="argsort")
    return (ranked == np.asarray(labels)[:, None]).sum(axis=0)


def collect_outputs(dump_folders: PathLike | Sequence[PathLike]) -> dict[str, Path]:
    """{key: output file} over one or several dump folders, sorted by key; a key in two folders is an error."""
    folders = [dump_folders] if isinstance(dump_folders, (str, os.PathLike)) else list(dump_folders)
    outputs: dict[str, Path] = {}
    seen: set[Path] = set()
    for folder in folders:
        if Path(folder).resolve() in seen:
            raise PipelineError(f"{folder}: dump folder given twice")
        seen.add(Path(folder).resolve())
        for key, path in list_dump_outputs(folder).items():
            if key in outputs:
                raise PipelineError(
                    f"{outputs[key]} and {path}: two outputs of image {key!r} (the dump folders overlap)"
                )
            outputs[key] = path
    return dict(sorted(outputs.items()))


def class_count(path: Path) -> int:
    """The number of scores of the first output, which every other output must have."""
    scores = read_dump(path)
    if scores.size not in ACCEPTED_CLASS_COUNTS:
        raise PipelineError(
            f"{path}: {scores.size} values, expected {NUM_CLASSES} (or {NUM_CLASSES + 1} with a background class)"
        )
    if not np.isfinite(scores).all():
        raise PipelineError(f"{path}: contains NaN or infinite values")
    return scores.size


def count_hits(paths: Sequence[Path], truth: np.ndarray, classes: int, workers: int = 0) -> np.ndarray:
    """hits_at_rank over every output, a task of rows at a time in ``workers`` processes (0: one per core); the
    first bad file is named. Only hit counts leave a task: memory stays bounded whatever the number of images."""
    tasks = [
        (paths[start : start + ROWS_PER_TASK], truth[start : start + ROWS_PER_TASK], classes)
        for start in range(0, len(paths), ROWS_PER_TASK)
    ]
    return sum(map_tasks(_hits_task, tasks, workers), np.zeros(min(TOP_N, classes), dtype=np.int64))


def _hits_task(task: tuple[Sequence[Path], np.ndarray, int]) -> np.ndarray:
    paths, truth, classes = task
    return hits_at_rank(read_dumps(paths, classes), truth)


def evaluate(
    dump_folders: PathLike | Sequence[PathLike], labels_path: PathLike, ignore_missing: bool = False, workers: int = 0
) -> Evaluation:
    """Score the outputs in one or several dump folders against the label file (``workers`` processes reading
    them, 0: one per core)."""
    labels = read_labels(labels_path)
    outputs = collect_outputs(dump_folders)
    unlabelled = [path for key, path in outputs.items() if key not in labels]
    if unlabelled:
        raise PipelineError(
            f"{unlabelled[0]}: no label for its key in {labels_path}"
            + (f" ({len(unlabelled)} such outputs)" if len(unlabelled) > 1 else "")
        )
    missing = tuple(sorted(key for key in labels if key not in outputs))
    paths = list(outputs.values())
    classes = class_count(paths[0])
    offset = 1 if classes == NUM_CLASSES + 1 else 0
    truth = np.array([labels[key] for key in outputs], dtype=np.int64) + offset
    out_of_range = next((key for key, label in zip(outputs, truth, strict=True) if label >= classes), None)
    if out_of_range is not None:
        raise PipelineError(
            f"{labels_path}: class index {labels[out_of_range]} of {out_of_range!r} is out of range "
            f"for outputs of {classes} values"
        )
    hits = count_hits(paths, truth, classes, workers)
    images = len(outputs) if ignore_missing else len(outputs) + len(missing)
    return Evaluation(images, classes, tuple(int(h) for h in hits), missing)


def accuracy_json(evaluation: Evaluation) -> str:
    return format_accuracy_json(evaluation.images, evaluation.classes, evaluation.top_k_strings())


def summary(evaluation: Evaluation, json_path: Path, missing_verb: str) -> str:
    figures = "  ".join(f"top-{rank}: {text}" for rank, text in enumerate(evaluation.top_k_strings(), start=1))
    lines = [f"{figures}  ({evaluation.images} images, {evaluation.classes} classes) -> {json_path}"]
    if evaluation.missing:
        lines.append(
            f"{len(evaluation.missing)} labelled images have no output, {missing_verb}: {name_some(evaluation.missing)}"
        )
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------------------------
# Measured against published (the guide's step 6.3)

_BATCH_IN_NAME = re.compile(r"_bs(\d+)\b")


def row_label(path: Path) -> str:
    """``result_bs16.json`` -> ``bs16``; other names stand for themselves."""
    match = _BATCH_IN_NAME.search(path.stem)
    return f"bs{match[1]}" if match else path.name


def top1_top5(result: AccuracyResult, source: object) -> tuple[float, float]:
    """The two figures the rule judges; a file without top-5 is a PipelineError naming ``source``."""
    if len(result.top_k_percent) < 5:
        raise PipelineError(f"{source}: accuracy file has only top-{len(result.top_k_percent)}, needs top-5")
    return result.top_k_percent[0], result.top_k_percent[4]


def read_results(paths: Sequence[Path]) -> list[tuple[str, AccuracyResult]]:
    """(row label, figures) of each accuracy JSON, each with top-5 (else a PipelineError naming it)."""
    results = []
    for path in paths:
        result = read_accuracy_json(path)
        top1_top5(result, path)
        results.append((row_label(path), result))
    return results


def format_reference_table(
    results: Sequence[tuple[str, AccuracyResult]],
    reference: Sequence[float],
    tolerance: float,
    apply_rule: bool,
) -> tuple[str, bool]:
    """The comparison table as text, and whether every row meets the rule."""
    header = (
        f"{'model':<16} {'images':>7} {'top-1 %':>8} {'95% interval':>16} {'top-5 %':>8} "
        f"{'95% interval':>16} {'d top-1':>8} {'d top-5':>8}  verdict"
    )
    lines = [header, "-" * len(header)]
    all_pass = True
    for label, result in results:
        measured = top1_top5(result, label)
        verdict = judge(measured, result.images, reference, tolerance)
        all_pass &= verdict.passed
        text = verdict.text if apply_rule else "not checked (random weights)"
        intervals = ["[{:.2f}, {:.2f}]".format(*interval_points(value, result.images)) for value in measured]
        lines.append(
            f"{label:<16} {result.images:>7} {measured[0]:>8.2f} {intervals[0]:>16} {measured[1]:>8.2f} "
            f"{intervals[1]:>16} {measured[0] - reference[0]:>+8.2f} {measured[1] - reference[1]:>+8.2f}  {text}"
        )
    for name, figures, note in (
        ("published OM", PUBLISHED_OM_ACCURACY, ""),
        ("open source", PUBLISHED_OPEN_SOURCE_ACCURACY, "  (reference of the rule: d = measured - reference)"),
    ):
        intervals = ["[{:.2f}, {:.2f}]".format(*interval_points(value, FULL_VALIDATION_IMAGES)) for value in figures]
        lines.append(
            f"{name:<16} {FULL_VALIDATION_IMAGES:>7} {figures[0]:>8.2f} {intervals[0]:>16} "
            f"{figures[1]:>8.2f} {intervals[1]:>16}{note}".rstrip()
        )
    return "\n".join(lines) + "\n", all_pass
