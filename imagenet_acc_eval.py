"""Top-1..5 accuracy of the offline model's outputs against the ImageNet labels (the guide's step 6.1).

Reads the inference tool's dump folder -- the benchmark tool's ``<key>_1.txt`` (one line of 1000 or 1001
scores per image) or ``<key>_1.bin`` (raw float32), or ais_bench's ``<key>_0.txt`` (``%f`` text), ``.bin`` or
``.npy`` -- and the label file (``<file name> <class index>`` lines), and writes the guide's accuracy JSON, key
for key and string for string, so that on a complete run the file is byte-identical to the one the guide's own
imagenet_acc_eval.py writes:

    python imagenet_acc_eval.py result/dumpOutput_device0/ /root/datasets/imagenet/val_label.txt ./ result.json
    python imagenet_acc_eval.py result/dumpOutput_device0/ val_label.txt ./ result.json --compare 74.1 91.7
    python imagenet_acc_eval.py result/dumpOutput_device0/ result/dumpOutput_device1/ val_label.txt ./ result.json

Several dump folders (one per device of a multi-device run) are scored together as one run; an image with an
output in two folders is an error naming both files. A folder mixing the old tool's ``_1`` and ais_bench's ``_0``
outputs is refused.

The scores of an image are ranked as the guide's script ranks them (``np.argsort(-scores)``, ties included);
top-k counts an image when its label is among the k first. With 1001 scores, class 0 is the background and the
labels are shifted by one.

Beyond the guide's script:
- Labelled images with no output (an interrupted run, a lost shard) make the exit status 1, with a line naming
  how many and a few of them; the JSON is still written, counting them as misses (its "Number of images", the
  denominator, is the number of labelled images). The guide's script silently leaves such images out.
  ``--allow-missing``: the same JSON, exit status 0 (a run on a subset of the labelled images, on purpose).
  ``--ignore-missing``: the guide's denominator (only the images with an output), exit status 0.
  On a complete run (one output per labelled image) all three give the guide's JSON.
- An output whose key has no label, with NaN or infinite values, or with a number of values other than 1000 or
  1001 (or unlike the other outputs) is an error naming the file (exit status 2); nothing is written.
- ``--compare TOP1 TOP5`` applies the guide's rule (at most ``--tolerance`` points below the published
  accuracy) and exits with status 1 when it fails.
- A JSON file that cannot be written (disk full) is one line naming it, exit status 2, and no file is left.

Exit status: 0 done; 1 labelled images without output (neither option given) or --compare failed; 2 bad input.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shufflenet_ascend.cli import PipelineError, run_cli, setup_logging
from shufflenet_ascend.contract import ACCURACY_TOLERANCE_POINTS, NUM_CLASSES
from shufflenet_ascend.fileio import atomic_write_text, check_output_file, write_errors_named
from shufflenet_ascend.formats.accuracy_json import format_accuracy_json
from shufflenet_ascend.formats.dump import list_dump_outputs, read_dump
from shufflenet_ascend.formats.labels import read_labels
from shufflenet_ascend.keys import name_some
from shufflenet_ascend.metrics import meets_accuracy_rule

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
        raise PipelineError(
            f"{path}: {scores.size} values, expected {NUM_CLASSES} (or {NUM_CLASSES + 1} with a background class)"
        )
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
        ranked = np.argsort(-scores[start : start + _RANK_CHUNK], axis=-1)[:, : len(hits)]
        hits += (ranked == labels[start : start + _RANK_CHUNK, None]).sum(axis=0)
    return hits


PathLike = str | os.PathLike[str]


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


def evaluate(
    dump_folders: PathLike | Sequence[PathLike], labels_path: PathLike, ignore_missing: bool = False
) -> Evaluation:
    """Score the outputs in one or several dump folders against the label file."""
    labels = read_labels(labels_path)
    outputs = collect_outputs(dump_folders)
    unlabelled = [path for key, path in outputs.items() if key not in labels]
    if unlabelled:
        raise PipelineError(
            f"{unlabelled[0]}: no label for its key in {labels_path}"
            + (f" ({len(unlabelled)} such outputs)" if len(unlabelled) > 1 else "")
        )
    missing = tuple(sorted(key for key in labels if key not in outputs))
    scores = read_scores(list(outputs.values()))
    classes = scores.shape[1]
    offset = 1 if classes == NUM_CLASSES + 1 else 0
    truth = np.array([labels[key] for key in outputs], dtype=np.int64) + offset
    out_of_range = next((key for key, label in zip(outputs, truth, strict=False) if label >= classes), None)
    if out_of_range is not None:
        raise PipelineError(
            f"{labels_path}: class index {labels[out_of_range]} of {out_of_range!r} is out of range "
            f"for outputs of {classes} values"
        )
    hits = hits_at_rank(scores, truth)
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


USAGE = "%(prog)s DUMP [DUMP ...] LABELS OUT_DIR OUT_JSON [options]"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, usage=USAGE
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="DUMP ... LABELS OUT_DIR OUT_JSON",
        help="one or more dump folders of the inference tool (e.g. result/dumpOutput_device0/), "
        "the label file ('<file name> <class index>' per line, val_label.txt), the folder to "
        "write the JSON into (must exist) and the JSON's file name (e.g. result.json)",
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        type=float,
        metavar=("TOP1", "TOP5"),
        help="published top-1 and top-5 accuracy in %%: exit 1 when ours is more than --tolerance "
        "points below either (the guide's rule, e.g. --compare 74.1 91.7)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=ACCURACY_TOLERANCE_POINTS,
        help="allowed drop below the published accuracy, in points (default: %(default)s)",
    )
    missing = parser.add_mutually_exclusive_group()
    missing.add_argument(
        "--ignore-missing",
        action="store_true",
        help="leave labelled images without output out of the denominator (the guide's script) and exit 0",
    )
    missing.add_argument(
        "--allow-missing",
        action="store_true",
        help="count labelled images without output as misses and exit 0 (a run on a subset)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="more logging")
    args = parser.parse_args(argv)
    if len(args.paths) < 4:
        parser.error("expected DUMP [DUMP ...] LABELS OUT_DIR OUT_JSON")
    dump_dirs = [Path(path) for path in args.paths[:-3]]
    labels, out_dir, json_name = Path(args.paths[-3]), Path(args.paths[-2]), args.paths[-1]
    setup_logging(args.verbose)

    json_path = check_output_file(out_dir / json_name)
    evaluation = evaluate(dump_dirs, labels, args.ignore_missing)
    missing_verb = "left out" if args.ignore_missing else "counted as misses"
    where = " ".join(map(str, dump_dirs))
    if evaluation.missing and (args.ignore_missing or args.allow_missing):
        LOG.warning(
            "%d labelled images have no output in %s, %s: %s",
            len(evaluation.missing),
            where,
            missing_verb,
            name_some(evaluation.missing),
        )
    with write_errors_named(json_path, "accuracy JSON"):
        atomic_write_text(json_path, accuracy_json(evaluation))
    sys.stdout.write(summary(evaluation, json_path, missing_verb))
    status = 0
    if args.compare is not None:
        percent, strings = evaluation.top_k_percent(), evaluation.top_k_strings()
        passed = meets_accuracy_rule((percent[0], percent[TOP_N - 1]), args.compare, args.tolerance)
        sys.stdout.write(
            f"{'PASS' if passed else 'FAIL'}: top-1 {strings[0]} / top-5 {strings[TOP_N - 1]} against "
            f"published {args.compare[0]:g}% / {args.compare[1]:g}% (at most {args.tolerance:g} below)\n"
        )
        status = 0 if passed else 1
    if evaluation.missing and not (args.ignore_missing or args.allow_missing):
        raise PipelineError(
            f"{labels}: {len(evaluation.missing)} of {evaluation.images} labelled images have no output in {where}: "
            f"{name_some(evaluation.missing, 5)}; {json_path} counts them as misses (--allow-missing accepts "
            "that, --ignore-missing leaves them out as the guide's script does)",
            exit_code=1,
        )
    return status


if __name__ == "__main__":
    run_cli(main)
