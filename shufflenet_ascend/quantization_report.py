"""report.md's int8 section: which images calibrated the model, how far its outputs are from the fp32 model's (image
by image, and layer by layer where compare_layers.py ran), and the accuracy it costs against fp32 and against the
published figure."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import PUBLISHED_OPEN_SOURCE_ACCURACY

# The int8 guard: the median over the images of the cosine between the int8 and the fp32 model's outputs. (The fp16
# bar, a cosine of 0.99 on every image, is not int8's: a few images always lose more.) 0.98 is the threshold Huawei's
# porting guide sets for a layer's cosine.
INT8_MIN_MEDIAN_COSINE = 0.98
# Huawei's ModelZoo ResNet50 on an Ascend 310P3, the published example of AMCT's int8: top-1 75.31% against 76.13%.
PUBLISHED_INT8_EXAMPLE = ("ResNet50 (ModelZoo, Ascend 310P3)", 76.13, 75.31)


def int8_verdict(median: float) -> str:
    """PASS or FAIL of an int8-vs-fp32 comparison's median cosine against the int8 guard (here and in the precision
    table, one bar)."""
    return "PASS" if median >= INT8_MIN_MEDIAN_COSINE else "FAIL"


def int8_guard_text() -> str:
    """The int8 guard in words, as the tables say it."""
    return f"the int8 guard: median cosine >= {INT8_MIN_MEDIAN_COSINE}"


def comparison_lines(name: str, doc: dict[str, Any]) -> list[tuple[str, str]]:
    """The rows one int8-vs-fp32 comparison gives: the median cosine against the guard, and the accuracy drop."""
    cosine = doc["cosine"]
    rows = []
    median = cosine.get("median")
    if median is not None:
        rows.append(
            (
                f"outputs against fp32 ({name})",
                f"median cosine {median:.6f} over {doc['images_paired']} images ({int8_verdict(median)}, "
                f"{int8_guard_text()}); min {cosine['min']:.6f} ({cosine['min_key']}); top-1 agreement "
                f"{doc['top1_agreement_percent']:.2f}%",
            )
        )
    labels = doc.get("labels")
    if labels:
        drop1 = labels["candidate_top1_percent"] - labels["reference_top1_percent"]
        drop5 = labels["candidate_top5_percent"] - labels["reference_top5_percent"]
        rows.append(
            (
                f"accuracy against fp32 ({name})",
                f"top-1 {labels['reference_top1_percent']:.2f}% (fp32) -> {labels['candidate_top1_percent']:.2f}% "
                f"(int8): {drop1:+.2f} points; top-5 {labels['reference_top5_percent']:.2f}% -> "
                f"{labels['candidate_top5_percent']:.2f}%: {drop5:+.2f} points, over {labels['images']} labelled "
                f"images; {labels['reference_right_candidate_wrong']['count']} images right in fp32 and wrong in int8, "
                f"{labels['candidate_right_reference_wrong']['count']} the reverse",
            )
        )
    return rows


def first_layer_below(path: Path, min_cosine: float = INT8_MIN_MEDIAN_COSINE) -> str:
    """The first layer of a layer CSV (compare_layers.py's or msit's) whose cosine is below ``min_cosine``."""
    from shufflenet_ascend.layers import first_layer_line, read_layer_csv

    return f"{first_layer_line(read_layer_csv(path), min_cosine)} ({path.name})"


def int8_section(
    calibration: str | None,
    comparisons: Sequence[tuple[str, dict[str, Any]]],
    accuracy_top1: float | None,
    random_weights: bool,
    layers: Sequence[Path] = (),
) -> list[str]:
    """The section's lines: calibration, the comparisons with the fp32 model, the published figures."""
    rows = [("precision", "int8 (post-training quantization: the model's weights and activations in int8)")]
    rows.append(("calibration images", calibration or "not known"))
    for name, doc in comparisons:
        rows += comparison_lines(name, doc)
    if not comparisons:
        rows.append(("outputs against fp32", "not compared (run with --compare first or all)"))
    for path in layers:
        try:
            rows.append(("first layer int8 cannot carry", first_layer_below(Path(path))))
        except PipelineError as exc:
            rows.append(("first layer int8 cannot carry", f"not known: {exc}"))
    published = PUBLISHED_OPEN_SOURCE_ACCURACY[0]
    if accuracy_top1 is None:
        against = "no accuracy figure"
    elif random_weights:
        against = "not applicable (random weights: chance-level accuracy)"
    else:
        against = f"top-1 {accuracy_top1:.2f}% (int8) against the published {published:.2f}% (fp32): " + (
            f"{accuracy_top1 - published:+.2f} points"
        )
    name, fp32, int8 = PUBLISHED_INT8_EXAMPLE
    rows.append(
        (
            "against the published figure",
            f"{against}. For scale, Huawei's published int8 example, {name}: {fp32:.2f}% fp32 -> {int8:.2f}% "
            f"int8 ({int8 - fp32:+.2f} points)",
        )
    )
    cell = [f"| {key} | {str(value).replace('|', '/')} |" for key, value in rows]
    note = (
        "The precision table above judges an int8 comparison by this guard too (the median cosine, at least "
        f"{INT8_MIN_MEDIAN_COSINE}), not by the fp16 bar (a cosine of at least 0.99 on every image); int8 is also "
        "judged by its accuracy drop."
    )
    return ["## int8: calibration and what it costs against fp32", "", "| | |", "|---|---|", *cell, "", note]
