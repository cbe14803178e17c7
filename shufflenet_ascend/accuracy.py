"""Accuracy: the outputs of a run scored against the labels (the guide's JSON), and the figures against the
published ones (the guide's 1-point rule, Wilson intervals on a subset)."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shufflenet_ascend.class_names import class_name
from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import (
    FULL_VALIDATION_IMAGES,
    NUM_CLASSES,
    PUBLISHED_OM_ACCURACY,
    PUBLISHED_OPEN_SOURCE_ACCURACY,
)
from shufflenet_ascend.fileio import atomic_write_text, sha256_file, write_errors_named
from shufflenet_ascend.formats.accuracy_json import (
    AccuracyRecord,
    AccuracyResult,
    accuracy_record_path,
    format_accuracy_json,
    format_accuracy_record,
    read_accuracy_json,
)
from shufflenet_ascend.formats.dump import list_dump_outputs, read_dump, read_dumps
from shufflenet_ascend.formats.info import read_info
from shufflenet_ascend.formats.labels import read_labels
from shufflenet_ascend.formats.predictions import format_per_class, format_predictions, per_class_figures
from shufflenet_ascend.formats.run_record import utc_now
from shufflenet_ascend.host import project_version
from shufflenet_ascend.keys import file_key, name_some
from shufflenet_ascend.metrics import interval_points, judge, top_k
from shufflenet_ascend.parallel import map_tasks
from shufflenet_ascend.runs import dump_run_record
from shufflenet_ascend.safe_outputs import refuse_unsafe_outputs

TOP_N = 5
ACCEPTED_CLASS_COUNTS = (NUM_CLASSES, NUM_CLASSES + 1)  # 1001: class 0 is the background
ROWS_PER_TASK = 1024  # outputs read and ranked at a time by one process (4 MB of scores)

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Ranked:
    """Each scored image's five highest classes, the accuracy step's ranking (the guide's ``np.argsort(-scores)``
    order on ties): what the predictions and per-class files are made of."""

    keys: tuple[str, ...]
    truth: np.ndarray  # int64 [n]: the label file's class index (0..999)
    top_classes: np.ndarray  # int64 [n, 5]: in the label file's indices (-1: the background class of 1001 outputs)
    top_scores: np.ndarray  # float32 [n, 5]: the output's values at those classes


@dataclass(frozen=True)
class Evaluation:
    images: int  # the denominator
    classes: int
    hits_at_rank: tuple[int, ...]  # hits_at_rank[r]: images whose label is the (r+1)-th highest score
    missing: tuple[str, ...]  # labelled keys (of the dataset, with --inputs) without output, sorted
    labelled: int | None = None  # lines of the label file (M); with dataset_images < labelled, a subset
    dataset_images: int | None = None  # labelled images of the dataset (N, with --inputs); None: no dataset given
    ranked: Ranked | None = None  # kept when predictions or per-class figures are asked for

    @property
    def subset(self) -> bool:
        return self.dataset_images is not None and self.labelled is not None and self.dataset_images < self.labelled

    def subset_text(self) -> str:
        """``subset: N of M labelled images`` (or empty when the labels are the dataset's)."""
        return f"subset: {self.dataset_images} of {self.labelled} labelled images" if self.subset else ""

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


def rank_outputs(paths: Sequence[Path], classes: int, workers: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each output's five highest classes (the accuracy's ranking) and their scores, read once, a task of rows at
    a time in ``workers`` processes: 60 bytes per image leave a task (3 MB for 50,000 images)."""
    tasks = [(paths[start : start + ROWS_PER_TASK], classes) for start in range(0, len(paths), ROWS_PER_TASK)]
    parts = map_tasks(_rank_task, tasks, workers)
    return np.concatenate([part[0] for part in parts]), np.concatenate([part[1] for part in parts])


def _rank_task(task: tuple[Sequence[Path], int]) -> tuple[np.ndarray, np.ndarray]:
    paths, classes = task
    scores = read_dumps(paths, classes)
    top = top_k(scores, min(TOP_N, classes), ties="argsort")
    return top, np.take_along_axis(scores, top, axis=1)


def dataset_keys(inputs: PathLike) -> set[str]:
    """The keys of the images a run was given: the info file's bins (the benchmark tool's -input_text_path), or
    the .bin/.npy files of a folder (ais_bench's --input)."""
    inputs = Path(inputs)
    if inputs.is_dir():
        keys = set()
        with os.scandir(inputs) as entries:
            for entry in entries:
                if not entry.name.startswith(".") and Path(entry.name).suffix.lower() in (".bin", ".npy"):
                    keys.add(file_key(entry.name))
        if not keys:
            raise PipelineError(f"{inputs}: no .bin or .npy inputs in this folder (expected the run's input bins)")
        return keys
    entries = read_info(inputs)
    if not entries:
        raise PipelineError(f"{inputs}: empty info file (expected the run's '<index> <path> <width> <height>' lines)")
    return {file_key(entry.path) for entry in entries}


def evaluate(
    dump_folders: PathLike | Sequence[PathLike],
    labels_path: PathLike,
    ignore_missing: bool = False,
    workers: int = 0,
    inputs: PathLike | None = None,
    keep_ranking: bool = False,
) -> Evaluation:
    """Score the outputs in one or several dump folders against the label file (``workers`` processes reading
    them, 0: one per core).

    ``inputs`` (the run's info file or bins folder) says which images the run was given: labels of other images
    are left out (a subset of the label file, not misses of the model). ``keep_ranking`` keeps each image's top-5
    (for the predictions and per-class files) from the same single read of the outputs."""
    labels = read_labels(labels_path)
    labelled = len(labels)
    outputs = collect_outputs(dump_folders)
    unlabelled = [path for key, path in outputs.items() if key not in labels]
    if unlabelled:
        raise PipelineError(
            f"{unlabelled[0]}: no label for its key in {labels_path}"
            + (f" ({len(unlabelled)} such outputs)" if len(unlabelled) > 1 else "")
        )
    dataset_images = None
    if inputs is not None:
        keys = dataset_keys(inputs)
        foreign = [path for key, path in outputs.items() if key not in keys]
        if foreign:
            raise PipelineError(
                f"{foreign[0]}: its image is not among the inputs of {inputs}"
                + (f" ({len(foreign)} such outputs)" if len(foreign) > 1 else "")
                + ": a dump folder of another dataset?"
            )
        labels = {key: label for key, label in labels.items() if key in keys}
        dataset_images = len(labels)
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
    ranked = None
    if keep_ranking:
        top, scores = rank_outputs(paths, classes, workers)
        hits = (top == truth[:, None]).sum(axis=0)
        ranked = Ranked(tuple(outputs), truth - offset, top - offset, scores)
    else:
        hits = count_hits(paths, truth, classes, workers)
    images = len(outputs) if ignore_missing else len(outputs) + len(missing)
    return Evaluation(images, classes, tuple(int(h) for h in hits), missing, labelled, dataset_images, ranked)


def accuracy_json(evaluation: Evaluation) -> str:
    return format_accuracy_json(evaluation.images, evaluation.classes, evaluation.top_k_strings())


def summary(evaluation: Evaluation, json_path: Path, missing_verb: str) -> str:
    figures = "  ".join(f"top-{rank}: {text}" for rank, text in enumerate(evaluation.top_k_strings(), start=1))
    subset = f", {evaluation.subset_text()}" if evaluation.subset else ""
    lines = [f"{figures}  ({evaluation.images} images, {evaluation.classes} classes{subset}) -> {json_path}"]
    if evaluation.missing:
        lines.append(
            f"{len(evaluation.missing)} labelled images have no output, {missing_verb}: {name_some(evaluation.missing)}"
        )
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------------------------
# The files the accuracy step writes


@dataclass(frozen=True)
class OutputFiles:
    json: Path
    predictions: Path | None = None
    per_class: Path | None = None

    @property
    def record(self) -> Path:
        return accuracy_record_path(self.json)

    def all(self) -> list[Path]:
        return [self.json, *(path for path in (self.predictions, self.per_class) if path is not None)]


def refuse_outputs_among_inputs(outputs: OutputFiles, dump_folders: Sequence[Path], inputs: Sequence[Path]) -> None:
    """The outputs rule (``safe_outputs``) for this step, before anything is read: no output (the JSON, its record,
    the predictions and per-class files) inside a dump folder (it would replace an output, or be read as one next
    time), on an input file (the labels, the info file), on another output, or on a device or folder."""
    refuse_unsafe_outputs([*outputs.all(), outputs.record], [*dump_folders, *inputs])


def remove_stale(outputs: OutputFiles) -> list[Path]:
    """Remove the files of these names that an earlier run left (a failed step must leave nothing that a later
    one takes as its result); the ones removed."""
    removed = []
    for path in [*outputs.all(), outputs.record]:
        if path.is_file() or path.is_symlink():
            with write_errors_named(path, "stale output"):
                path.unlink()
            removed.append(path)
    return removed


def class_name_of(index: int) -> str:
    """The name of a label-file class index (-1: the background class of a model with 1001 outputs)."""
    return "background" if index < 0 else class_name(index)


def write_outputs(
    outputs: OutputFiles,
    evaluation: Evaluation,
    dump_folders: Sequence[Path],
    labels: Path,
    inputs: Path | None,
    argv: Sequence[str] | None,
) -> None:
    """The JSON, the predictions and per-class files (when asked for) and the record beside the JSON, each written
    atomically; a write failure is a PipelineError with exit status 3 naming the file."""
    ranked = evaluation.ranked
    documents = [(outputs.json, accuracy_json(evaluation), "accuracy JSON")]
    if outputs.predictions is not None and ranked is not None:
        text = format_predictions(ranked.keys, ranked.truth, ranked.top_classes, ranked.top_scores, class_name_of)
        documents.append((outputs.predictions, text, "predictions file"))
    if outputs.per_class is not None and ranked is not None:
        figures = per_class_figures(ranked.truth, ranked.top_classes, class_name_of)
        documents.append((outputs.per_class, format_per_class(figures), "per-class file"))
    outputs.record.unlink(missing_ok=True)  # a record never describes another JSON, even for a moment
    try:
        for path, text, what in documents:
            with write_errors_named(path, what):
                atomic_write_text(path, text)
        folder = outputs.json.parent
        run_records = [found for found in (dump_run_record(dump) for dump in dump_folders) if found is not None]
        record = AccuracyRecord(
            accuracy_sha256=sha256_file(outputs.json),
            dumps=tuple(str(dump) for dump in dump_folders),
            labels=str(labels),
            labels_sha256=sha256_file(labels),
            labelled_images=evaluation.labelled or evaluation.images,
            dataset_images=evaluation.dataset_images,
            inputs=None if inputs is None else str(inputs),
            images_scored=evaluation.images - len(evaluation.missing),
            missing=len(evaluation.missing),
            run_records=tuple(os.path.relpath(path, folder) for path in run_records),
            run_records_sha256=tuple(sha256_file(path) for path in run_records),
            predictions=None if outputs.predictions is None else os.path.relpath(outputs.predictions, folder),
            per_class=None if outputs.per_class is None else os.path.relpath(outputs.per_class, folder),
            started=utc_now(),
            project_version=project_version(),
            command=("imagenet_acc_eval.py", *(sys.argv[1:] if argv is None else argv)),
        )
        with write_errors_named(outputs.record, "accuracy record"):
            atomic_write_text(outputs.record, format_accuracy_record(record))
    except PipelineError:
        # All of them or none: a JSON without its predictions or record would pass for a complete step.
        with contextlib.suppress(PipelineError):
            remove_stale(outputs)
        raise


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


def batch_order(path: PathLike) -> tuple[int, int, str]:
    """Rows by batch size (``result_bs4.json`` before ``result_bs16.json``, not glob order), other names after."""
    match = _BATCH_IN_NAME.search(Path(path).stem)
    return (0, int(match[1]), str(path)) if match else (1, 0, str(path))


def read_results(paths: Sequence[Path]) -> list[tuple[str, AccuracyResult]]:
    """(row label, figures) of each accuracy JSON, each with top-5 (else a PipelineError naming it), sorted by
    batch size."""
    results = []
    for path in sorted(paths, key=batch_order):
        result = read_accuracy_json(path)
        top1_top5(result, path)
        results.append((row_label(path), result))
    return results


def format_reference_table(
    results: Sequence[tuple[str, AccuracyResult]],
    reference: Sequence[float],
    tolerance: float,
    apply_rule: bool,
    subsets: dict[str, str] | None = None,
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
    for label, text in (subsets or {}).items():
        lines.append(f"{label}: {text} (figures and intervals over the images run)")
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
