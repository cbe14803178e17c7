"""The names of ImageNet-1k's 1,000 classes, in the index order of the labels (0 tench ... 999 toilet tissue).

Taken from torchvision (already installed for the model's preprocessing tests; never downloaded): the categories
of its ImageNet-1k weights, the standard list that val_label.txt's indices follow. A model with 1,001 outputs
(class 0 the background) shifts them by one.
"""

from __future__ import annotations

import functools

from shufflenet_ascend.contract import NUM_CLASSES


@functools.cache
def imagenet_class_names() -> tuple[str, ...]:
    """The 1,000 names (torchvision is imported on the first call only: it takes a few seconds)."""
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
