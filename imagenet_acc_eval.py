"""Top-1..5 accuracy of the offline model's outputs against the ImageNet labels (the guide's step 6.1).

Reads the benchmark tool's dump folder (``<key>_1.txt``: one line of 1000 or 1001 scores per image, or
``<key>_1.bin``: raw float32) and the label file (``<file name> <class index>`` lines), and writes the guide's
accuracy JSON, key for key and string for string, so that on a complete run the file is byte-identical to the
one the guide's own imagenet_acc_eval.py writes:

    python imagenet_acc_eval.py result/dumpOutput_device0/ /root/datasets/imagenet/val_label.txt ./ result.json
    python imagenet_acc_eval.py result/dumpOutput_device0/ val_label.txt ./ result.json --compare 74.1 91.7

The scores of an image are ranked as the guide's script ranks them (``np.argsort(-scores)``, ties included);
top-k counts an image when its label is among the k first. With 1001 scores, class 0 is the background and the
labels are shifted by one.

Beyond the guide's script:
- An image in the label file with no output counts as a miss, and the JSON's "Number of images" (the
  denominator) is the number of labelled images; the guide's script silently leaves such images out. The missing
  images are named in a warning and in the summary. ``--ignore-missing`` restores the guide's denominator. On a
  complete run (one output per labelled image) both are the number of outputs, so the JSON is the guide's.
- An output whose key has no label, with NaN or infinite values, or with a number of values other than 1000 or
  1001 (or unlike the other outputs) is an error naming the file (exit status 2); nothing is written.
- ``--compare TOP1 TOP5`` applies the guide's rule (at most ``--tolerance`` points below the published
  accuracy) and exits with status 1 when it fails.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ascend_io import (
    ACCURACY_TOLERANCE_POINTS,
    NUM_CLASSES,
    PipelineError,
    atomic_write_text,
    check_output_file,
    format_accuracy_json,
    meets_accuracy_rule,
    list_dump_outputs,
    name_some,
    read_dump,
    read_labels,
    run_cli,
    setup_logging,
)

LOG = logging.getLogger(Path(__file__).stem)

TOP_N = 5
ACCEPTED_CLASS_COUNTS = (NUM_CLASSES, NUM_CLASSES + 1)  # 1001: class 0 is the background
_RANK_CHUNK = 4096  # rows ranked at a time: bounds the argsort's int64 scratch to a few tens of MB


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


def _check_scores(path: Path, scores: np.ndarray, expected: int | None) -> None:
    if expected is None and scores.size not in ACCEPTED_CLASS_COUNTS:
        raise PipelineError(f"{path}: {scores.size} values, expected {NUM_CLASSES} (or {NUM_CLASSES + 1} with a "
                            "background class)")
    if expected is not None and scores.size != expected:
        raise PipelineError(f"{path}: {scores.size} values, expected {expected} like the other outputs")
    if not np.isfinite(scores).all():
        raise PipelineError(f"{path}: contains NaN or infinite values")


def read_scores(paths: Sequence[Path], workers: int = 8) -> np.ndarray:
    """All outputs as one float32 matrix (one row per path, in order), each checked."""
    first = read_dump(paths[0])
    _check_scores(paths[0], first, None)
    scores = np.empty((len(paths), first.size), dtype=np.float32)

    def fill(start: int, stop: int) -> None:
        for row in range(start, stop):
            values = read_dump(paths[row])
            _check_scores(paths[row], values, first.size)
            scores[row] = values

    step = 512
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # list() re-raises the first error of any chunk.
        list(pool.map(lambda start: fill(start, min(start + step, len(paths))), range(0, len(paths), step)))
    return scores


def hits_at_rank(scores: np.ndarray, labels: np.ndarray, top_n: int = TOP_N) -> np.ndarray:
    """Per rank r < top_n, how many rows have their label at rank r of ``np.argsort(-row)`` (the guide's ranking:
    the same sort, so the same order among tied scores)."""
    hits = np.zeros(min(top_n, scores.shape[1]), dtype=np.int64)
    for start in range(0, len(scores), _RANK_CHUNK):
        ranked = np.argsort(-scores[start:start + _RANK_CHUNK], axis=-1)[:, :len(hits)]
        hits += (ranked == labels[start:start + _RANK_CHUNK, None]).sum(axis=0)
    return hits


def evaluate(dump_folder: str | os.PathLike[str], labels_path: str | os.PathLike[str],
             ignore_missing: bool = False) -> Evaluation:
    labels = read_labels(labels_path)
    outputs = list_dump_outputs(dump_folder)
    unlabelled = [path.name for key, path in outputs.items() if key not in labels]
    if unlabelled:
        raise PipelineError(f"{Path(dump_folder) / unlabelled[0]}: no label for its key in {labels_path}"
                            + (f" ({len(unlabelled)} such outputs)" if len(unlabelled) > 1 else ""))
    missing = tuple(sorted(key for key in labels if key not in outputs))
    scores = read_scores(list(outputs.values()))
    classes = scores.shape[1]
    offset = 1 if classes == NUM_CLASSES + 1 else 0
    truth = np.array([labels[key] for key in outputs], dtype=np.int64) + offset
    out_of_range = next((key for key, label in zip(outputs, truth) if label >= classes), None)
    if out_of_range is not None:
        raise PipelineError(f"{labels_path}: class index {labels[out_of_range]} of {out_of_range!r} is out of range "
                            f"for outputs of {classes} values")
    hits = hits_at_rank(scores, truth)
    images = len(outputs) if ignore_missing else len(outputs) + len(missing)
    return Evaluation(images, classes, tuple(int(h) for h in hits), missing)


def accuracy_json(evaluation: Evaluation) -> str:
    return format_accuracy_json(evaluation.images, evaluation.classes, evaluation.top_k_strings())


def summary(evaluation: Evaluation, json_path: Path, missing_verb: str) -> str:
    figures = "  ".join(f"top-{rank}: {text}" for rank, text in enumerate(evaluation.top_k_strings(), start=1))
    lines = [f"{figures}  ({evaluation.images} images, {evaluation.classes} classes) -> {json_path}"]
    if evaluation.missing:
        lines.append(f"{len(evaluation.missing)} labelled images have no output, {missing_verb}: "
                     f"{name_some(evaluation.missing)}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dump_dir", type=Path, help="the benchmark tool's dump folder, e.g. result/dumpOutput_device0/")
    parser.add_argument("labels", type=Path, help="label file: '<file name> <class index>' per line (val_label.txt)")
    parser.add_argument("out_dir", type=Path, help="folder to write the JSON into (must exist)")
    parser.add_argument("json_name", help="file name of the accuracy JSON, e.g. result.json")
    parser.add_argument("--compare", nargs=2, type=float, metavar=("TOP1", "TOP5"),
                        help="published top-1 and top-5 accuracy in %%: exit 1 when ours is more than --tolerance "
                             "points below either (the guide's rule, e.g. --compare 74.1 91.7)")
    parser.add_argument("--tolerance", type=float, default=ACCURACY_TOLERANCE_POINTS,
                        help="allowed drop below the published accuracy, in points (default: %(default)s)")
    parser.add_argument("--ignore-missing", action="store_true",
                        help="leave labelled images without output out of the denominator (the guide's script)")
    parser.add_argument("-v", "--verbose", action="store_true", help="more logging")
    args = parser.parse_args(argv)
    setup_logging(args.verbose)

    json_path = check_output_file(args.out_dir / args.json_name)
    evaluation = evaluate(args.dump_dir, args.labels, args.ignore_missing)
    missing_verb = "left out" if args.ignore_missing else "counted as misses"
    if evaluation.missing:
        LOG.warning("%d labelled images have no output in %s, %s: %s", len(evaluation.missing), args.dump_dir,
                    missing_verb, name_some(evaluation.missing))
    atomic_write_text(json_path, accuracy_json(evaluation))
    sys.stdout.write(summary(evaluation, json_path, missing_verb))
    if args.compare is None:
        return 0
    percent, strings = evaluation.top_k_percent(), evaluation.top_k_strings()
    passed = meets_accuracy_rule((percent[0], percent[TOP_N - 1]), args.compare, args.tolerance)
    sys.stdout.write(f"{'PASS' if passed else 'FAIL'}: top-1 {strings[0]} / top-5 {strings[TOP_N - 1]} against "
                     f"published {args.compare[0]:g}% / {args.compare[1]:g}% (at most {args.tolerance:g} below)\n")
    return 0 if passed else 1


if __name__ == "__main__":
    run_cli(main)
