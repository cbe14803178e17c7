"""The accuracy step's per-image and per-class files (imagenet_acc_eval.py --predictions, --per-class).

``result_bs<B>_predictions.csv``: one row per scored image, in key order::

    key,true_class,true_name,top1_class,top1_name,top1_score,...,top5_class,top5_name,top5_score,correct_top1,correct_top5

``result_bs<B>_per_class.csv``: one row per class that has images, in class order::

    class,name,images,top1_correct,top1_percent,top5_correct,top5_percent

Class indices are the label file's (0..999; -1 is the background class of a model with 1001 outputs), names
ImageNet-1k's (``class_names``). The top five are the accuracy's ranking (the guide's ``np.argsort(-scores)``
order on ties), so that correct_top1/correct_top5 summed are the JSON's hits; scores are the output's float32
values, printed with 9 significant digits (they read back as the same float32). Percentages have 2 decimals.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.fileio import read_text

TOP_N = 5
PREDICTIONS_SUFFIX = "_predictions.csv"  # result_bs<B>.json -> result_bs<B>_predictions.csv
PER_CLASS_SUFFIX = "_per_class.csv"
PREDICTIONS_HEADER = (
    ["key", "true_class", "true_name"]
    + [f"top{rank}_{field}" for rank in range(1, TOP_N + 1) for field in ("class", "name", "score")]
    + ["correct_top1", "correct_top5"]
)
PER_CLASS_HEADER = ["class", "name", "images", "top1_correct", "top1_percent", "top5_correct", "top5_percent"]


def beside(accuracy_json: str | os.PathLike[str], suffix: str) -> str:
    """``result_bs1.json`` -> ``result_bs1<suffix>``: where run_all keeps the files of one accuracy JSON."""
    path = os.fspath(accuracy_json)
    return (path[: -len(".json")] if path.endswith(".json") else path) + suffix


def _score(value: float) -> str:
    return "%.9g" % value


def _rows_to_csv(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _csv_cell(text: str) -> str:
    """One CSV cell as csv.writer writes it (quoted when it holds a comma, quote or line break)."""
    return _rows_to_csv([text], []).rstrip("\n")


def format_predictions(
    keys: Sequence[str],
    truth: np.ndarray,
    top_classes: np.ndarray,
    top_scores: np.ndarray,
    name: Callable[[int], str],
) -> str:
    """The predictions CSV of ``len(keys)`` images (``name``: class index -> name). Rows are joined by hand with
    every name quoted once, as csv.writer would (50,000 rows: a fifth of csv.writer's time); the same bytes."""
    truth = np.asarray(truth)
    correct = top_classes == truth[:, None]
    top1, top5 = correct[:, 0].astype(int).tolist(), correct.any(axis=1).astype(int).tolist()
    indices = np.unique(np.concatenate([truth, top_classes.ravel()])).tolist()
    cells = {index: f"{index},{_csv_cell(name(index))}" for index in indices}
    scores = ["%.9g" % value for value in top_scores.astype(np.float64).ravel().tolist()]
    ranks = top_classes.shape[1]
    lines = [",".join(PREDICTIONS_HEADER)]
    for row, (key, true_class, classes) in enumerate(zip(keys, truth.tolist(), top_classes.tolist(), strict=True)):
        ranked = ",".join(f"{cells[index]},{scores[row * ranks + rank]}" for rank, index in enumerate(classes))
        lines.append(f"{_csv_cell(key)},{cells[true_class]},{ranked},{top1[row]},{top5[row]}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ClassFigures:
    index: int
    name: str
    images: int
    top1_correct: int
    top5_correct: int

    @property
    def top1_percent(self) -> float:
        return 100.0 * self.top1_correct / self.images

    @property
    def top5_percent(self) -> float:
        return 100.0 * self.top5_correct / self.images


def per_class_figures(truth: np.ndarray, top_classes: np.ndarray, name: Callable[[int], str]) -> list[ClassFigures]:
    """Images, top-1 and top-5 hits of every class that has images, in class order."""
    truth = np.asarray(truth)
    correct = top_classes == truth[:, None]
    classes, inverse = np.unique(truth, return_inverse=True)
    images = np.bincount(inverse, minlength=len(classes))
    top1 = np.bincount(inverse, weights=correct[:, 0], minlength=len(classes))
    top5 = np.bincount(inverse, weights=correct.any(axis=1), minlength=len(classes))
    return [
        ClassFigures(int(index), name(int(index)), int(count), int(hit1), int(hit5))
        for index, count, hit1, hit5 in zip(classes, images, top1, top5, strict=True)
    ]


def format_per_class(figures: Sequence[ClassFigures]) -> str:
    rows = [
        [f.index, f.name, f.images, f.top1_correct, f"{f.top1_percent:.2f}", f.top5_correct, f"{f.top5_percent:.2f}"]
        for f in figures
    ]
    return _rows_to_csv(PER_CLASS_HEADER, rows)


# ----------------------------------------------------------------------------------------------------------------
# Read back (the report's worst classes and confusions)


def _read_csv(path: str | os.PathLike[str], header: Sequence[str], what: str) -> list[dict[str, str]]:
    rows = list(csv.reader(io.StringIO(read_text(path, what))))
    if not rows or rows[0] != list(header) or any(len(row) != len(header) for row in rows[1:]):
        raise PipelineError(f"{path}: not a {what} of imagenet_acc_eval.py (header {','.join(header[:3])},...)")
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def read_per_class(path: str | os.PathLike[str]) -> list[ClassFigures]:
    """A per-class CSV; anything else is a PipelineError naming it."""
    try:
        return [
            ClassFigures(int(r["class"]), r["name"], int(r["images"]), int(r["top1_correct"]), int(r["top5_correct"]))
            for r in _read_csv(path, PER_CLASS_HEADER, "per-class file")
        ]
    except (ValueError, TypeError):
        raise PipelineError(f"{path}: not a per-class file of imagenet_acc_eval.py (a cell is not a number)") from None


def worst_classes(figures: Sequence[ClassFigures], count: int = 10) -> list[ClassFigures]:
    """The ``count`` classes of lowest top-1 accuracy (then lowest top-5, more images, lower index first)."""
    return sorted(figures, key=lambda f: (f.top1_percent, f.top5_percent, -f.images, f.index))[:count]


def confusions(path: str | os.PathLike[str], count: int = 10) -> list[tuple[int, str, int, str, int]]:
    """The most frequent top-1 errors of a predictions CSV: (true class, name, predicted class, name, images),
    most frequent first (then by class indices)."""
    pairs: Counter[tuple[int, int]] = Counter()
    names: dict[int, str] = {}
    try:
        for row in _read_csv(path, PREDICTIONS_HEADER, "predictions file"):
            true, predicted = int(row["true_class"]), int(row["top1_class"])
            names[true], names[predicted] = row["true_name"], row["top1_name"]
            if true != predicted:
                pairs[(true, predicted)] += 1
    except (ValueError, TypeError):
        raise PipelineError(
            f"{path}: not a predictions file of imagenet_acc_eval.py (a cell is not a number)"
        ) from None
    ranked = sorted(pairs.items(), key=lambda item: (-item[1], item[0]))[:count]
    return [(true, names[true], predicted, names[predicted], number) for (true, predicted), number in ranked]
