"""How an image is known across the pipeline: by its file name without the extension (its key)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

IMAGE_EXTENSIONS = frozenset({".jpeg", ".jpg", ".png", ".bmp", ".webp"})
NAMES_SHOWN = 10


def file_key(name: str | os.PathLike[str]) -> str:
    """``ILSVRC2012_val_00000001.JPEG`` -> ``ILSVRC2012_val_00000001`` (also for .bin files and full paths)."""
    return Path(name).stem


def is_image_file(path: str | os.PathLike[str]) -> bool:
    name = Path(path).name
    return not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS


def name_some(names: Sequence[str], shown: int = NAMES_SHOWN) -> str:
    """The first few of many names, comma-separated, with how many more there are."""
    text = ", ".join(names[:shown])
    return text if len(names) <= shown else f"{text}, ... ({len(names) - shown} more)"
