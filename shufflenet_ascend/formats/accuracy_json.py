"""The accuracy JSON of the guide's accuracy script: ``{"title": ..., "value": [{"key": ..., "value": ...}]}``."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

from shufflenet_ascend.cli import PipelineError


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
