"""report.md: one page a person reads instead of the run's log (written by write_report.py).

Sections, in this order: a RANDOM WEIGHTS warning when the model had no checkpoint; the machine and tool (Ascend
chip or CPU model, tool, backend, devices, versions of CANN, onnxruntime, OpenVINO, PyTorch, Python); accuracy
per batch size against the guide's published figures with the 1-point verdict (``metrics.judge``, Wilson
intervals on fewer than 50,000 images); the precision comparisons (compare_outputs.py's JSON files); performance
per batch size beside the published Ascend 310 figures (the perf files as ``perf`` reads them); the plot.

Every input may be absent or unreadable: the report then says what it lacks, in its place, instead of failing.
The text depends only on the inputs and the machine (no date), so the same run writes the same report.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shufflenet_ascend.accuracy import row_label, top1_top5
from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import (
    ACCURACY_TOLERANCE_POINTS,
    CHIPS_PER_310_CARD,
    FULL_VALIDATION_IMAGES,
    PUBLISHED_OM_ACCURACY,
    PUBLISHED_OPEN_SOURCE_ACCURACY,
)
from shufflenet_ascend.formats.accuracy_json import read_accuracy_json
from shufflenet_ascend.host import available_cores, cpu_name
from shufflenet_ascend.metrics import interval_points, judge
from shufflenet_ascend.perf import PerfFile, measured_cards, published_rates, read_perf_files

DEFAULT_TOOLKIT_ROOTS = ("/usr/local/Ascend/ascend-toolkit/latest",)
TOOLKIT_ENVIRONMENT = ("ASCEND_TOOLKIT_HOME", "ASCEND_HOME_PATH")
VERSION_FILES = ("version.info", "*/version.info", "ascend_toolkit_install.info", "*/ascend_toolkit_install.info")
_VERSION_LINE = re.compile(r"^\s*version\s*[=:]\s*(\S+)", re.IGNORECASE | re.MULTILINE)
# Distribution names under which each package may be installed.
PACKAGES = {
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino"),
    "OpenVINO": ("openvino",),
    "PyTorch": ("torch",),
}
NOT_INSTALLED = "not installed"
NOT_GIVEN = "not given"


@dataclass
class ReportInputs:
    """What write_report.py was given (every field may be empty)."""

    accuracy: Sequence[Path] = ()
    perf: Sequence[Path] = ()
    chips: int = CHIPS_PER_310_CARD
    perf_label: str | None = None
    comparisons: Sequence[Path] = ()
    plot: Path | None = None
    tool: str | None = None
    backend: str | None = None
    soc_version: str | None = None
    devices: str | None = None
    random_weights: bool = False
    card_throughput: str | None = None
    toolkit_roots: Sequence[str] | None = None  # where to look for CANN (None: environment, then the default)
    cpuinfo: Path = field(default=Path("/proc/cpuinfo"))


# --------------------------------------------------------------------------------------------------------------
# Machine and versions


def package_version(names: Sequence[str]) -> str:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return NOT_INSTALLED


def toolkit_roots() -> list[str]:
    """Where CANN may be: $ASCEND_TOOLKIT_HOME, $ASCEND_HOME_PATH (set by its env scripts), the default path."""
    roots = [os.environ[name] for name in TOOLKIT_ENVIRONMENT if os.environ.get(name)]
    return roots + [root for root in DEFAULT_TOOLKIT_ROOTS if root not in roots]


def cann_version(roots: Sequence[str]) -> str:
    """``<version> (<file>)`` from the first version file of the first toolkit folder that has one."""
    for root in roots:
        folder = Path(root)
        if not folder.is_dir():
            continue
        for pattern in VERSION_FILES:
            for path in sorted(folder.glob(pattern)):
                try:
                    match = _VERSION_LINE.search(path.read_text(encoding="utf-8", errors="replace"))
                except OSError:
                    continue
                if match:
                    return f"{match[1]} ({path})"
    return NOT_INSTALLED


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name, its architecture and core count."""
    return f"{cpu_name(cpuinfo)} ({platform.machine()}, {available_cores()} cores)"


def machine_section(inputs: ReportInputs) -> list[str]:
    hardware = [("Ascend chip", f"{inputs.soc_version} (--soc-version)")] if inputs.soc_version else []
    roots = toolkit_roots() if inputs.toolkit_roots is None else inputs.toolkit_roots
    rows = [
        *hardware,
        ("CPU" if not inputs.soc_version else "host CPU", cpu_model(inputs.cpuinfo)),
        ("inference tool", inputs.tool or NOT_GIVEN),
        ("backend", inputs.backend or NOT_GIVEN),
        ("devices", inputs.devices or NOT_GIVEN),
        ("CANN", cann_version(roots)),
        *((name, package_version(dists)) for name, dists in PACKAGES.items()),
        ("Python", platform.python_version()),
        ("operating system", platform.platform()),
    ]
    return ["## Machine and tool", "", "| | |", "|---|---|", *(f"| {name} | {_cell(value)} |" for name, value in rows)]


# --------------------------------------------------------------------------------------------------------------
# Accuracy


def accuracy_section(paths: Sequence[Path], random_weights: bool, lacking: list[str]) -> list[str]:
    lines = ["## Accuracy (guide 6)", ""]
    if not paths:
        return lines + [_lack(lacking, "No accuracy files were given: accuracy not shown in this report.")]
    reference = PUBLISHED_OPEN_SOURCE_ACCURACY
    rows, problems = [], []
    for path in paths:
        try:
            result = read_accuracy_json(path)
            top1, top5 = top1_top5(result, path)
        except PipelineError as exc:
            problems.append(str(exc))
            continue
        verdict = (
            "not checked (random weights)"
            if random_weights
            else judge((top1, top5), result.images, reference, ACCURACY_TOLERANCE_POINTS).text
        )
        intervals = ["[{:.2f}, {:.2f}]".format(*interval_points(value, result.images)) for value in (top1, top5)]
        rows.append(
            f"| {row_label(Path(path))} | {result.images} | {top1:.2f} | {intervals[0]} | {top5:.2f} | "
            f"{intervals[1]} | {top1 - reference[0]:+.2f} | {top5 - reference[1]:+.2f} | {verdict} |"
        )
    lines += [
        "| run | images | top-1 % | 95% interval | top-5 % | 95% interval | d top-1 | d top-5 | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        f"| published OM (guide) | {FULL_VALIDATION_IMAGES} | {PUBLISHED_OM_ACCURACY[0]:.2f} | | "
        f"{PUBLISHED_OM_ACCURACY[1]:.2f} | | | | |",
        f"| open source (reference of the rule) | {FULL_VALIDATION_IMAGES} | {reference[0]:.2f} | | "
        f"{reference[1]:.2f} | | | | |",
        "",
        f"d = measured - open-source reference. The guide's rule: PASS when neither figure is more than "
        f"{ACCURACY_TOLERANCE_POINTS:g} point below the reference; on fewer than {FULL_VALIDATION_IMAGES} images a "
        "run FAILs only when a whole 95% Wilson interval lies beyond that.",
    ]
    if random_weights:
        lines.append("Random weights: chance-level accuracy is expected; the rule does not apply.")
    return lines + _problems(problems, lacking)


# --------------------------------------------------------------------------------------------------------------
# Precision


_COMPARISON_KEYS = (
    "reference",
    "candidate",
    "images_paired",
    "only_in_reference",
    "only_in_candidate",
    "cosine",
    "max_abs_error",
    "max_relative_error",
    "top1_agreement_percent",
    "top5_set_agreement_percent",
)


def read_comparison(path: Path) -> dict[str, Any]:
    """A compare_outputs.py --json file; anything else is a PipelineError naming it."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        missing = [key for key in _COMPARISON_KEYS if key not in document]
        if missing:
            raise KeyError(missing[0])
        return document
    except FileNotFoundError:
        raise PipelineError(f"{path}: comparison file not found") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise PipelineError(f"{path}: not a JSON file of compare_outputs.py") from None


def _relative(value: float | None) -> str:
    return "inf" if value is None else f"{value:.3g}"


def comparison_rows(path: Path, doc: dict[str, Any]) -> tuple[str, str | None]:
    """The comparison's row of the precision table, and of the accuracy-and-flips table (None without labels)."""
    only = doc["only_in_reference"]["count"] + doc["only_in_candidate"]["count"]
    failures = doc.get("failures") or []
    verdict = ("FAIL: " + "; ".join(map(str, failures))) if failures else ("PASS" if doc.get("passed") else "-")
    cosine = doc["cosine"]
    row = (
        f"| {_cell(path.stem)} | {_cell(doc['reference'])} | {_cell(doc['candidate'])} | "
        f"{int(doc['images_paired'])} | {int(only)} | {cosine['min']:.8f} | {cosine['mean']:.8f} | "
        f"{cosine['p1']:.8f} | {doc['max_abs_error']['value']:.3g} | "
        f"{_relative(doc['max_relative_error']['value'])} | {doc['top1_agreement_percent']:.2f} | "
        f"{doc['top5_set_agreement_percent']:.2f} | {_cell(verdict)} |"
    )
    lab = doc.get("labels")
    if not lab:
        return row, None
    return row, (
        f"| {_cell(path.stem)} | {int(lab['images'])} | {lab['reference_top1_percent']:.2f} | "
        f"{lab['candidate_top1_percent']:.2f} | {lab['reference_top5_percent']:.2f} | "
        f"{lab['candidate_top5_percent']:.2f} | {int(lab['reference_right_candidate_wrong']['count'])} | "
        f"{int(lab['candidate_right_reference_wrong']['count'])} |"
    )


def precision_section(paths: Sequence[Path], lacking: list[str]) -> list[str]:
    lines = ["## Precision (guide 6.4): outputs compared image by image", ""]
    if not paths:
        return lines + [_lack(lacking, "No comparison files were given: outputs not compared in this report.")]
    rows, label_rows, problems, names = [], [], [], []
    for path in map(Path, paths):
        try:
            doc = read_comparison(path)
            row, label_row = comparison_rows(path, doc)
        except PipelineError as exc:
            problems.append(str(exc))
            continue
        except (KeyError, TypeError, ValueError, AttributeError):
            problems.append(f"{path}: not a JSON file of compare_outputs.py")
            continue
        rows.append(row)
        label_rows += [label_row] if label_row else []
        names.append(f"{doc['reference']} {doc['candidate']} {path.name}")
    if rows:
        lines += [
            "| comparison | reference | candidate | images | only in one side | cosine min | cosine mean | "
            "cosine 1st pct | max abs error | max rel error | top-1 agree % | top-5 set agree % | verdict |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
            *rows,
        ]
        if label_rows:
            lines += [
                "",
                "| comparison | labelled images | reference top-1 % | candidate top-1 % | reference top-5 % | "
                "candidate top-5 % | top-1 flips: reference right, candidate wrong | candidate right, "
                "reference wrong |",
                "|---|---|---|---|---|---|---|---|",
                *label_rows,
            ]
        lines += [
            "",
            "Cosine: of each image's two output vectors (min, mean, 1st percentile over the images); max "
            "rel error: per image max \\|reference - candidate\\| / max \\|reference\\|, the worst image's. "
            "The usual acceptance bar of an fp16 deployment is a cosine of at least 0.99 on every image.",
        ]
        if any("fp16" in name for name in names):
            lines.append(
                "The fp16 preview is an EMULATION of the Ascend 310's float16 arithmetic in PyTorch on the "
                "CPU (torch_reference.py), not the NPU itself."
            )
    return lines + _problems(problems, lacking)


# --------------------------------------------------------------------------------------------------------------
# Performance


def _fps(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def read_perf(paths: Sequence[Path], chips: int) -> tuple[list[PerfFile], list[str]]:
    """Every readable perf file under ``paths`` (in ``read_perf_files``' order) and the problems met on the others."""
    readable, problems = [], []
    for path in paths:
        try:
            read_perf_files([path], chips=chips)
            readable.append(path)
        except PipelineError as exc:
            problems.append(str(exc))
    return (read_perf_files(readable, chips=chips) if readable else []), problems


def performance_section(
    paths: Sequence[Path], chips: int, label: str | None, card_text: str | None, lacking: list[str]
) -> list[str]:
    lines = ["## Performance (guide 7)", ""]
    published = {batch: (chip, card) for batch, chip, card in published_rates()}
    if not paths:
        lines.append(_lack(lacking, "No perf files were given: performance not shown in this report."))
        files, problems = [], []
    else:
        files, problems = read_perf(paths, chips)
    if label:
        lines += [f"Measured on: {label}.", ""]
    if files:
        card_header = [f"card fps (x{chips})"] if chips > 1 else []
        header = [
            "batch",
            "device",
            "mode",
            "e2e fps",
            "Interface fps (one device)",
            *card_header,
            "published Interface fps (one 310 chip)",
            f"published card fps (x{CHIPS_PER_310_CARD})",
            "Interface / published Interface",
        ]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for f in files:
            chip, card = published.get(f.row.batch_size, (None, None))
            ratio = "-" if chip is None else f"{f.row.interface_fps / chip:.2f}x"
            card_cell = [_fps(f.row.card_fps)] if chips > 1 else []
            cells = [
                "?" if f.row.batch_size is None else str(f.row.batch_size),
                str(f.row.device_id),
                f.mode,
                _fps(f.row.e2e_fps),
                _fps(f.row.interface_fps),
                *card_cell,
                _fps(chip),
                _fps(card),
                ratio,
            ]
            lines.append("| " + " | ".join(cells) + " |")
        cards = measured_cards(files, chips)
        if cards:
            lines += ["", "Several devices at once (measured card = sum of the devices' Interface rates):", ""]
            lines += [
                f"- batch {c.batch_size} ({c.mode}), devices {' '.join(map(str, c.devices))}: measured "
                f"{c.measured_fps:.2f} fps; extrapolated from their mean x {chips}: {c.extrapolated_fps:.2f} fps"
                for c in cards
            ]
        lines += [
            "",
            (
                f"card fps = Interface fps x {chips} (the chips of a card, as the guide reports it). "
                if chips > 1
                else ""
            )
            + "Published: the guide's Ascend 310 runs on the full validation set (Interface fps of one chip; "
            f"card = x{CHIPS_PER_310_CARD}).",
        ]
    elif paths:
        lines.append("No perf file could be read.")
    if card_text:
        lines += ["", f"Measured card throughput: {card_text}"]
    return lines + _problems(problems, lacking)


def plot_section(plot: Path | None, report_path: Path, lacking: list[str]) -> list[str]:
    lines = ["## Throughput plot", ""]
    if plot is None:
        return lines + [_lack(lacking, "No plot was given.")]
    if not Path(plot).is_file():
        return lines + [_lack(lacking, f"Plot not found: {plot}")]
    folder = report_path.parent if str(report_path.parent) else Path(".")
    link = Path(os.path.relpath(Path(plot).resolve(), folder.resolve())).as_posix()
    return lines + [f"![Throughput by batch size]({f'<{link}>' if ' ' in link else link})"]


# --------------------------------------------------------------------------------------------------------------
# The page


def _cell(value: object) -> str:
    """Text safe inside a markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _lack(lacking: list[str], text: str) -> str:
    """A sentence saying what the report lacks; also kept in ``lacking`` (write_report.py warns about each)."""
    lacking.append(text)
    return text


def _problems(problems: Sequence[str], lacking: list[str]) -> list[str]:
    return ["", *(_lack(lacking, f"- Not shown: {problem}") for problem in problems)] if problems else []


RANDOM_WEIGHTS_WARNING = (
    "> **RANDOM WEIGHTS.** No checkpoint was given: the model ran on seeded random weights. "
    "Its accuracy is chance-level and the accuracy verdicts do not apply; performance and "
    "the output comparisons between inference paths still hold."
)


def build_report(inputs: ReportInputs, report_path: Path, lacking: list[str] | None = None) -> str:
    """The whole report.md as text; what it lacks (missing or unreadable inputs) is added to ``lacking``."""
    lacking = [] if lacking is None else lacking
    sections = [["# ShuffleNetV2+ offline inference: run report"]]
    if inputs.random_weights:
        sections[0] += ["", RANDOM_WEIGHTS_WARNING]
    sections += [
        machine_section(inputs),
        accuracy_section(inputs.accuracy, inputs.random_weights, lacking),
        precision_section(inputs.comparisons, lacking),
        performance_section(inputs.perf, inputs.chips, inputs.perf_label, inputs.card_throughput, lacking),
        plot_section(inputs.plot, report_path, lacking),
    ]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"
