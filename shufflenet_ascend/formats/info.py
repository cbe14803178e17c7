"""The info file of Huawei's benchmark tool: ``<index> <path> <width> <height>``, one line per input."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import NamedTuple

from shufflenet_ascend.bounds import IMAGE_SIDE, IMAGES
from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.fileio import atomic_write_text, read_text


class InfoEntry(NamedTuple):
    index: int
    path: str
    width: int
    height: int


def format_info(entries: Iterable[InfoEntry]) -> str:
    return "".join(f"{e.index} {e.path} {e.width} {e.height}\n" for e in entries)


def write_info(path: str | os.PathLike[str], entries: Iterable[InfoEntry]) -> None:
    atomic_write_text(path, format_info(entries))


def read_info(path: str | os.PathLike[str]) -> list[InfoEntry]:
    """Read an info file; a malformed line is a PipelineError naming the file and line number."""
    entries = []
    for line_number, line in enumerate(read_text(path, "info file").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        try:
            if len(fields) != 4:
                raise ValueError
            entry = InfoEntry(int(fields[0]), fields[1], int(fields[2]), int(fields[3]))
        except ValueError:
            raise PipelineError(
                f"{path}:{line_number}: malformed info line {line.strip()!r}, "
                "expected '<index> <path> <width> <height>'"
            ) from None
        for name, value, bound in (("index", entry.index, IMAGES), ("width", entry.width, IMAGE_SIDE),
                                   ("height", entry.height, IMAGE_SIDE)):  # fmt: skip
            if not bound.accepts(value):
                raise PipelineError(f"{path}:{line_number}: {name} {value} is not {bound.describe()}")
        entries.append(entry)
    return entries
