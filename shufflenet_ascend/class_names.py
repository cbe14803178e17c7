"""The names of ImageNet-1k's 1,000 classes, in the index order of the labels (0 tench ... 999 toilet tissue).

Taken from torchvision (already installed for the model's preprocessing tests; never downloaded): the categories
of its ImageNet-1k weights, the standard list that val_label.txt's indices follow. A model with 1,001 outputs
(class 0 the background) shifts them by one.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from pathlib import Path

from shufflenet_ascend.contract import NUM_CLASSES


def _names_from_torchvision_source() -> tuple[str, ...] | None:
    """The list torchvision's weights metadata is built from (``torchvision/models/_meta.py``,
    ``_IMAGENET_CATEGORIES``), read as a literal from the installed file: 3 ms, where importing torchvision (and
    torch) takes seconds, which the accuracy step would pay once per batch size. None when the file is not laid out
    so (another torchvision release): the caller imports it instead."""
    try:
        spec = importlib.util.find_spec("torchvision")
        if spec is None or spec.origin is None:
            return None
        tree = ast.parse((Path(spec.origin).parent / "models" / "_meta.py").read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError, ImportError):
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_IMAGENET_CATEGORIES" for t in node.targets):
            try:
                names = ast.literal_eval(node.value)
            except ValueError:
                return None
            return tuple(names) if isinstance(names, list) and all(isinstance(n, str) for n in names) else None
    return None


@functools.cache
def imagenet_class_names() -> tuple[str, ...]:
    """The 1,000 names (read from torchvision's source on the first call; torchvision imported only if that fails)."""
    names = _names_from_torchvision_source()
    if names is None:
        from torchvision.models import ResNet50_Weights

        names = tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])
    if len(names) != NUM_CLASSES:
        raise RuntimeError(f"torchvision lists {len(names)} ImageNet classes, expected {NUM_CLASSES}")
    return names


def class_name(index: int, classes: int = NUM_CLASSES) -> str:
    """The name of class ``index`` of a model with ``classes`` outputs (1,001: index 0 is the background)."""
    offset = classes - NUM_CLASSES
    if offset and index < offset:
        return "background"
    position = index - offset
    return imagenet_class_names()[position] if 0 <= position < NUM_CLASSES else f"class {index}"
