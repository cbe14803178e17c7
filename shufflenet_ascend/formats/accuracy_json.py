"""The accuracy JSON of the guide's accuracy script: ``{"title": ..., "value": [{"key": ..., "value": ...}]}``."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from shufflenet_ascend.bounds import IMAGES
from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import NUM_CLASSES
from shufflenet_ascend.fileio import sha256_file


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
    if not IMAGES.accepts(result.images) or result.images < 1:
        raise PipelineError(f"{path}: Number of images is {result.images}, expected at least 1")
    if not 0 <= result.classes <= NUM_CLASSES + 1:  # the model's outputs: 1000, or 1001 with a background class
        raise PipelineError(f"{path}: Number of classes is {result.classes}, expected at most {NUM_CLASSES + 1}")
    for rank, percent in enumerate(result.top_k_percent, start=1):
        if not (math.isfinite(percent) and 0.0 <= percent <= 100.0):
            raise PipelineError(
                f"{path}: Top{rank} accuracy {values[f'Top{rank} accuracy']!r} is not a percentage between 0 and 100"
            )
    return result


# ----------------------------------------------------------------------------------------------------------------
# The accuracy record: what the JSON was computed from. The guide's JSON stays byte for byte the guide's, so what it
# cannot say sits beside it, in ``<json>.record`` (``result_bs1.json.record``: a name that ``result_bs*.json`` does
# not match, so a shell glob of the accuracy files never takes it for one).

ACCURACY_RECORD_FORMAT = "shufflenet_ascend accuracy record 1"
ACCURACY_RECORD_SUFFIX = ".record"


def accuracy_record_path(accuracy_json: str | os.PathLike[str]) -> Path:
    return Path(os.fspath(accuracy_json) + ACCURACY_RECORD_SUFFIX)


@dataclass(frozen=True)
class AccuracyRecord:
    """Beside an accuracy JSON: its hash (a record of another JSON is stale), the dumps, labels and dataset it was
    computed from, whether it is a subset of the label file, and the run records of the inference behind it."""

    accuracy_sha256: str
    dumps: tuple[str, ...]
    labels: str
    labels_sha256: str
    labelled_images: int  # lines of the label file (M)
    dataset_images: int | None  # labelled images of the dataset given with --inputs (N); None: not given
    inputs: str | None
    images_scored: int
    missing: int
    run_records: tuple[str, ...]  # the inference runs' records (paths as seen from the JSON's folder)
    run_records_sha256: tuple[str, ...]
    predictions: str | None = None
    per_class: str | None = None
    started: str = ""
    project_version: str = "unknown"
    command: tuple[str, ...] = ()

    @property
    def subset(self) -> bool:
        return self.dataset_images is not None and self.dataset_images < self.labelled_images

    def subset_text(self) -> str:
        return f"subset: {self.dataset_images} of {self.labelled_images} labelled images" if self.subset else ""


def format_accuracy_record(record: AccuracyRecord) -> str:
    return json.dumps({"format": ACCURACY_RECORD_FORMAT, **asdict(record)}, indent=1) + "\n"


def read_accuracy_record(accuracy_json: str | os.PathLike[str]) -> AccuracyRecord | None:
    """The record beside an accuracy JSON; None when there is none, or when it is not this JSON's (the JSON was
    written again by another script, or copied over): then nothing is known of the run behind it."""
    path = accuracy_record_path(accuracy_json)
    if not path.exists():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.pop("format") != ACCURACY_RECORD_FORMAT:
            raise ValueError
        for key in ("dumps", "run_records", "run_records_sha256", "command"):
            document[key] = tuple(document.get(key) or ())
        known = {entry.name for entry in fields(AccuracyRecord)}
        record = AccuracyRecord(**{key: value for key, value in document.items() if key in known})
        counts = (record.labelled_images, record.images_scored, record.missing, record.dataset_images or 0)
        if not all(IMAGES.accepts(count) for count in counts):
            raise ValueError  # a count no evaluation writes: the file was edited
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise PipelineError(
            f"{path}: not an accuracy record of imagenet_acc_eval.py ({ACCURACY_RECORD_FORMAT})"
        ) from None
    try:
        current = sha256_file(accuracy_json)
    except OSError:
        return None
    return record if current == record.accuracy_sha256 else None
