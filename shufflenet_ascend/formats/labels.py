"""The label file ``val_label.txt``: ``<file name> <class index>``, one line per image."""

from __future__ import annotations

import os
import re

from shufflenet_ascend.bounds import CLASS_INDEX
from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.fileio import read_text
from shufflenet_ascend.keys import file_key

_CLASS_INDEX = re.compile(r"[0-9]+", re.ASCII)


def read_labels(path: str | os.PathLike[str]) -> dict[str, int]:
    """Read val_label.txt into {key: class index}; a line that is not exactly what it should be is refused.

    Refused, as a PipelineError naming the file and line: a line without two fields; a class index that is not
    plain ASCII digits (``int()`` would read "\uff14" as 4, "1_0" as 10, "+5" as 5: guessing a label is worse than
    stopping); a class index outside ImageNet's 0..999 (``bounds.CLASS_INDEX``); two lines giving one image (key)
    different classes (the guide's script silently keeps the last).
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
        if not CLASS_INDEX.accepts(label):
            raise PipelineError(
                f"{path}:{line_number}: class index {fields[1]} of {fields[0]} is not an ImageNet class "
                f"({CLASS_INDEX.describe()})"
            )
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
