"""ImageNet-1k's class names at their standard indices."""

from __future__ import annotations

from shufflenet_ascend.class_names import class_name, imagenet_class_names


def test_the_standard_names_at_known_indices() -> None:
    names = imagenet_class_names()
    assert len(names) == 1000
    assert (names[0], names[1], names[207], names[999]) == ("tench", "goldfish", "golden retriever", "toilet tissue")
    assert (names[281], names[954]) == ("tabby", "banana")


def test_a_background_class_shifts_the_names() -> None:
    assert class_name(0, classes=1001) == "background"
    assert class_name(1, classes=1001) == "tench"
    assert class_name(1000, classes=1001) == "toilet tissue"
    assert class_name(1000) == "class 1000"
