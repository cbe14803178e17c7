"""report.md: one page a person reads instead of the run's log (written by write_report.py).

Sections, in this order: a RANDOM WEIGHTS warning when the model had no checkpoint; what was run (dataset, labels
and subset, model files and weights, tool/backend/device, streams x threads, command, date and commit: from the
run records beside the perf files and the accuracy records beside the JSONs); the machine and tool (Ascend chip or
CPU model, tool, backend, devices, versions of CANN, onnxruntime, OpenVINO, PyTorch, Python); accuracy per batch
size against the guide's published figures with the 1-point verdict (``metrics.judge``, Wilson intervals on fewer
than 50,000 images); the ten worst classes and the most frequent confusions with links to the predictions and
per-class files; the precision comparisons (compare_outputs.py's JSON files); layer by layer, when a layer
comparison ran (compare_layers.py's or msit's CSV: the first layer below cosine 0.99, the worst layers, a plot of
cosine per layer drawn beside the report); for an int8 model its section
(``quantization_report``: calibration images, the guard, the drop against fp32); performance per batch size (beside
the published Ascend 310 figures with a ratio only for a run on an Ascend device; for a CPU run they are a
reference table of their own); the plot. Rows are sorted by batch size; runs of different datasets or models are
refused unless allowed (``runs.refuse_mixed``, over the whole page).

Every input may be absent or unreadable: the report then says what it lacks, in its place, instead of failing
(write_report.py refuses a file named that does not exist, before any work).
The text depends only on the inputs and the machine (the date is the run's, from its records), so the same run
writes the same report.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shufflenet_ascend.accuracy import batch_order, row_label, top1_top5
from shufflenet_ascend.bounds import COSINE, ERROR, IMAGES, PERCENT, Bound, OutOfBounds
from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import (
    ACCURACY_TOLERANCE_POINTS,
    CHIPS_PER_310_CARD,
    FULL_VALIDATION_IMAGES,
    PUBLISHED_OM_ACCURACY,
    PUBLISHED_OPEN_SOURCE_ACCURACY,
)
from shufflenet_ascend.formats.accuracy_json import read_accuracy_json
from shufflenet_ascend.formats.predictions import (
    PER_CLASS_SUFFIX,
    PREDICTIONS_SUFFIX,
    beside,
    confusions,
    read_per_class,
    worst_classes,
)
from shufflenet_ascend.host import available_cores, cpu_name
from shufflenet_ascend.layers import DEFAULT_MIN_COSINE, first_layer_line, format_worst, plot_cosine, read_layer_csv
from shufflenet_ascend.metrics import interval_points, judge
from shufflenet_ascend.perf import (
    PerfFile,
    card_header,
    has_latency,
    measured_cards,
    measured_on,
    published_rates,
    read_perf_files,
    row_cells,
)
from shufflenet_ascend.quantization_report import INT8_MIN_MEDIAN_COSINE, int8_guard_text, int8_section, int8_verdict
from shufflenet_ascend.runs import AccuracyRun, accuracy_run, refuse_mixed, short_identity

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
    chips: int | None = None  # --chips: for perf files without a run record (None: not given, see perf.card_chips)
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
    dataset: str | None = None  # what the dataset is, in words (run_all: its path and image count)
    random_labels: bool = False  # the labels are random (the demo dataset's)
    command: str | None = None  # the command that made the run
    predictions: Sequence[Path] = ()  # imagenet_acc_eval.py --predictions files (else found beside the JSONs)
    per_class: Sequence[Path] = ()
    allow_mixed: bool = False
    layers: Sequence[Path] = ()  # layer CSVs: compare_layers.py's, or msit debug compare's result CSV
    precision: str | None = None  # "int8": the int8 section (calibration, the drop against fp32)
    calibration: str | None = None  # which images calibrated the int8 model, in words


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


def accuracy_runs(paths: Sequence[Path]) -> dict[Path, AccuracyRun]:
    """The records behind each accuracy JSON (none for one that cannot be read: its section says why)."""
    runs = {}
    for path in paths:
        try:
            runs[Path(path)] = accuracy_run(path)
        except PipelineError:
            runs[Path(path)] = AccuracyRun(None, ())  # the accuracy table says what is wrong with it
    return runs


def accuracy_section(
    paths: Sequence[Path],
    random_weights: bool,
    lacking: list[str],
    runs: dict[Path, AccuracyRun] | None = None,
) -> list[str]:
    lines = ["## Accuracy (guide 6)", ""]
    if not paths:
        return lines + [_lack(lacking, "No accuracy files were given: accuracy not shown in this report.")]
    runs = runs or {}
    reference = PUBLISHED_OPEN_SOURCE_ACCURACY
    rows, problems = [], []
    for path in sorted(paths, key=batch_order):
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
        record = runs.get(Path(path), AccuracyRun(None, ())).record
        images = f"{result.images}" + (f" ({record.subset_text()})" if record is not None and record.subset else "")
        rows.append(
            f"| {row_label(Path(path))} | {images} | {top1:.2f} | {intervals[0]} | {top5:.2f} | "
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
    if any(run.record is not None and run.record.subset for run in runs.values()):
        lines.append(
            "Subset: the run was given N of the label file's M labelled images; the figures and intervals are over "
            "those N (labels of images that were not run are not misses)."
        )
    if random_weights:
        lines.append("Random weights: chance-level accuracy is expected; the rule does not apply.")
    return lines + _problems(problems, lacking)


def per_image_files(
    accuracy: Sequence[Path], predictions: Sequence[Path], per_class: Sequence[Path], runs: dict[Path, AccuracyRun]
) -> list[tuple[str, Path | None, Path | None]]:
    """(row label, predictions file, per-class file) of each accuracy JSON: given (--predictions/--per-class, in
    the order of --accuracy), else named by its record, else found beside it (result_bs<B>_predictions.csv)."""
    given_predictions, given_per_class = list(predictions), list(per_class)
    found = []
    for index, path in enumerate(sorted(accuracy, key=batch_order)):
        record = runs.get(Path(path), AccuracyRun(None, ())).record
        folder = Path(path).parent
        pair = []
        for given, from_record, suffix in (
            (given_predictions, record.predictions if record else None, PREDICTIONS_SUFFIX),
            (given_per_class, record.per_class if record else None, PER_CLASS_SUFFIX),
        ):
            candidates = []
            if index < len(given):
                candidates.append(Path(given[index]))
            if from_record:
                candidates.append(folder / from_record)
            candidates.append(Path(beside(path, suffix)))
            pair.append(next((candidate for candidate in candidates if candidate.is_file()), None))
        if pair[0] or pair[1]:
            found.append((row_label(Path(path)), pair[0], pair[1]))
    return found


def _target(path: Path, report_path: Path) -> str:
    """A link's target: the path relative to the report's folder (in <> when it holds a blank)."""
    folder = report_path.parent if str(report_path.parent) else Path(".")
    link = Path(os.path.relpath(Path(path).resolve(), folder.resolve())).as_posix()
    return f"<{link}>" if " " in link else link


def _link(path: Path, report_path: Path) -> str:
    return f"[{_cell(Path(path).name)}]({_target(path, report_path)})"


def per_image_section(files: Sequence[tuple[str, Path | None, Path | None]], report_path: Path) -> list[str]:
    """The ten worst classes and the most frequent confusions (of the first run that has the files), and links to
    every run's predictions and per-class files."""
    lines = ["## Per image and per class", ""]
    if not files:
        return lines + [
            "No predictions or per-class files (imagenet_acc_eval.py --predictions FILE.csv --per-class FILE.csv)."
        ]
    for label, predictions, per_class in files:
        links = [f"{what}: {_link(path, report_path)}" for what, path in (("predictions", predictions),
                 ("per class", per_class)) if path is not None]  # fmt: skip
        lines.append(f"- {label}: " + ", ".join(links))
    label, predictions, per_class = next(
        (entry for entry in files if entry[2] is not None), next(entry for entry in files)
    )
    problems = []
    if per_class is not None:
        try:
            worst = worst_classes(read_per_class(per_class))
            lines += [
                "",
                f"Ten worst classes ({label}, by top-1):",
                "",
                "| class | name | images | top-1 % | top-5 % |",
                "|---|---|---|---|---|",
                *(
                    f"| {f.index} | {_cell(f.name)} | {f.images} | {f.top1_percent:.2f} | {f.top5_percent:.2f} |"
                    for f in worst
                ),
            ]
        except PipelineError as exc:
            problems.append(str(exc))
    predictions = next((entry[1] for entry in files if entry[0] == label and entry[1] is not None), predictions)
    if predictions is not None:
        try:
            pairs = confusions(predictions)
            lines += ["", f"Most frequent confusions ({label}, true -> predicted top-1):", ""]
            if pairs:
                lines += [
                    "| true class | predicted class | images |",
                    "|---|---|---|",
                    *(
                        f"| {true} {_cell(true_name)} | {predicted} {_cell(predicted_name)} | {count} |"
                        for true, true_name, predicted, predicted_name, count in pairs
                    ),
                ]
            else:
                lines.append("None: every image's top-1 is its label.")
        except PipelineError as exc:
            problems.append(str(exc))
    return lines + [f"- Not read: {problem}" for problem in problems]


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


# The numbers of a comparison JSON and their bounds (rule 4): each is checked where the report reads it.
_COMPARISON_NUMBERS: tuple[tuple[tuple[str, ...], Bound], ...] = (
    (("images_paired",), IMAGES),
    (("only_in_reference", "count"), IMAGES),
    (("only_in_candidate", "count"), IMAGES),
    (("cosine", "min"), COSINE),
    (("cosine", "mean"), COSINE),
    (("cosine", "p1"), COSINE),
    (("max_abs_error", "value"), ERROR),
    (("top1_agreement_percent",), PERCENT),
    (("top5_set_agreement_percent",), PERCENT),
)
_OPTIONAL_NUMBERS: tuple[tuple[tuple[str, ...], Bound], ...] = (
    (("cosine", "median"), COSINE),  # older files have none
    (("max_relative_error", "value"), ERROR),  # None: infinite (a reference of all zeros)
    (("labels", "images"), IMAGES),
    (("labels", "reference_top1_percent"), PERCENT),
    (("labels", "candidate_top1_percent"), PERCENT),
    (("labels", "reference_top5_percent"), PERCENT),
    (("labels", "candidate_top5_percent"), PERCENT),
    (("labels", "reference_right_candidate_wrong", "count"), IMAGES),
    (("labels", "candidate_right_reference_wrong", "count"), IMAGES),
)


def _field(document: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        document = document[key]
    return document


def check_comparison_numbers(path: Path, document: dict[str, Any]) -> None:
    """Each number of the comparison of its type and in its bound; else ``OutOfBounds`` naming the file and field."""
    for keys, bound in _COMPARISON_NUMBERS:
        bound.check(_field(document, keys), f"{path}: {'.'.join(keys)}")
    for keys, bound in _OPTIONAL_NUMBERS:
        try:
            value = _field(document, keys)
        except (KeyError, TypeError):
            continue
        if value is not None:
            bound.check(value, f"{path}: {'.'.join(keys)}")


def read_comparison(path: Path) -> dict[str, Any]:
    """A compare_outputs.py --json file; anything else is a PipelineError naming it, a number out of its bound an
    ``OutOfBounds`` (never "not shown": write_report.py stops, exit status 2)."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        missing = [key for key in _COMPARISON_KEYS if key not in document]
        if missing:
            raise KeyError(missing[0])
        check_comparison_numbers(path, document)
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
    median = doc["cosine"].get("median")
    if "int8" in path.name and median is not None:
        # compare_outputs.py applied the fp16 bar; an int8 model is held to the int8 section's bar (one constant).
        verdict = f"{int8_verdict(median)} ({int8_guard_text()})"
    else:
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
    lines = ["## Precision: outputs compared image by image", ""]
    if not paths:
        return lines + [_lack(lacking, "No comparison files were given: outputs not compared in this report.")]
    rows, label_rows, problems, names = [], [], [], []
    for path in map(Path, paths):
        try:
            doc = read_comparison(path)
            row, label_row = comparison_rows(path, doc)
        except OutOfBounds:
            raise
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
            "The usual acceptance bar of an fp16 deployment is a cosine of at least 0.99 on every image; a "
            f"comparison whose file name says int8 is judged by the int8 guard (median cosine >= "
            f"{INT8_MIN_MEDIAN_COSINE}), as its verdict says.",
        ]
        if any("fp16" in name for name in names):
            lines.append(
                "The fp16 preview is an EMULATION of the Ascend 310's float16 arithmetic in PyTorch on the "
                "CPU (torch_reference.py), not the NPU itself."
            )
    return lines + _problems(problems, lacking)


# --------------------------------------------------------------------------------------------------------------
# Layer by layer


def layer_plot_path(csv_path: Path, report_path: Path) -> Path:
    """Where the cosine plot of a layer CSV goes: beside the report, named after both."""
    folder = report_path.parent if str(report_path.parent) else Path(".")
    return folder / f"{report_path.stem}_{Path(csv_path).stem}.png"


def _layer_what(path: Path) -> str:
    name = Path(path).name
    if "om_vs_onnx" in name:
        return "the OM on the NPU against its ONNX file (msit debug compare)"
    if "fp16" in name:
        return (
            "the ONNX file in float16 against itself in float32, both on the CPU (onnxruntime): a prediction of "
            "what ATC's default float16 OM loses, not the NPU itself"
        )
    return "compare_layers.py"


def write_layer_plots(paths: Sequence[Path], report_path: Path) -> None:
    """Draw the cosine plot of each readable layer CSV beside the report (the section links them).

    Called once the report is built: by then every input has passed its checks, so a bad one (exit 2) leaves no
    plot behind. A CSV that cannot be read is said by the layer section, not again here."""
    for path in paths:
        try:
            rows = read_layer_csv(path)
        except PipelineError:
            continue
        title = f"{Path(path).name}: {_layer_what(path)}"
        plot_cosine(rows, layer_plot_path(path, report_path), title, DEFAULT_MIN_COSINE)


def layers_section(paths: Sequence[Path], report_path: Path, lacking: list[str]) -> list[str]:
    """Per layer CSV: what it compares, the first layer below the threshold, the worst layers and the plot."""
    lines = ["## Layer by layer: where the candidate parts from the golden model", ""]
    problems = []
    for path in map(Path, paths):
        try:
            rows = read_layer_csv(path)
        except OutOfBounds:
            raise
        except PipelineError as exc:
            problems.append(str(exc))
            continue
        paired = sum(1 for row in rows if row.paired)
        lines += [
            f"{_link(path, report_path)}: {_layer_what(path)}; {paired} tensors compared, {len(rows) - paired} "
            "of one side only.",
            "",
            f"- {first_layer_line(rows, DEFAULT_MIN_COSINE)}",
            "",
            "```",
            *format_worst(rows, 5),
            "```",
            "",
        ]
        plot = layer_plot_path(path, report_path)  # drawn by write_layer_plots once the report is built
        lines += [f"![Cosine per layer, {_cell(path.name)}]({_target(plot, report_path)})", ""]
    if len(lines) == 2 and not problems:
        return []
    lines.append(
        f"Read top down: the first row whose cosine similarity falls below {DEFAULT_MIN_COSINE:g} is where the "
        "candidate parts from the golden model (docs/accuracy.md)."
    )
    return lines + _problems(problems, lacking)


# --------------------------------------------------------------------------------------------------------------
# Performance


def _fps(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def read_perf(paths: Sequence[Path], chips: int | None) -> tuple[list[PerfFile], list[str]]:
    """Every readable perf file under ``paths`` (in ``read_perf_files``' order) and the problems met on the others."""
    readable, problems = [], []
    for path in paths:
        try:
            read_perf_files([path], chips=chips)
            readable.append(path)
        except PipelineError as exc:
            problems.append(str(exc))
    return (read_perf_files(readable, chips=chips) if readable else []), problems


def _ascend(f: PerfFile) -> bool:
    """On an Ascend device as far as is known: its record says so, or (no record) it has a card figure (the benchmark
    tool's file, or --chips above 1)."""
    return f.record.on_ascend if f.record is not None else (f.chips or 0) > 1


def performance_section(
    paths: Sequence[Path],
    files: Sequence[PerfFile],
    problems: Sequence[str],
    label: str | None,
    card_text: str | None,
    lacking: list[str],
) -> list[str]:
    """The perf table of ``files`` (read from ``paths`` by ``read_perf``, with the ``problems`` met)."""
    lines = ["## Performance (guide 7)", ""]
    published = {batch: (chip, card) for batch, chip, card in published_rates()}
    if not paths:
        lines.append(_lack(lacking, "No perf files were given: performance not shown in this report."))
    who = measured_on(files, label)
    if who:
        lines += [f"Measured on: {who}.", ""]
    if files:
        on_ascend = all(_ascend(f) for f in files)
        card_title = card_header(files)
        latency = has_latency(files)
        header = ["batch", "device", "mode", "e2e fps", "Interface fps (one device)"]
        header += [card_title] if card_title else []
        header += ["median ms per batch", "p99 ms per batch"] if latency else []
        if on_ascend:
            header += [
                "published Interface fps (one 310 chip)",
                f"published card fps (x{CHIPS_PER_310_CARD})",
                "Interface / published Interface",
            ]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for f in files:
            cells = row_cells(f, bool(card_title), latency, _fps)
            if on_ascend:
                chip, card = published.get(f.row.batch_size, (None, None))
                ratio = "-" if chip is None else f"{f.row.interface_fps / chip:.2f}x"
                cells += [_fps(chip), _fps(card), ratio]
            lines.append("| " + " | ".join(cells) + " |")
        cards = measured_cards(files)
        if cards:
            lines += ["", "Several devices at once (measured card = sum of the devices' Interface rates):", ""]
            for c in cards:
                line = (
                    f"- batch {c.batch_size} ({c.mode}), devices {' '.join(map(str, c.devices))}: measured "
                    f"{c.measured_fps:.2f} fps"
                )
                group = [f for f in files if f.row.batch_size == c.batch_size and f.mode == c.mode]
                per_card = {f.chips for f in group}
                if c.extrapolated_fps is not None and len(per_card) == 1 and (per_card.pop() or 0) > 1:
                    line += f"; extrapolated from their mean x {group[0].chips}: {c.extrapolated_fps:.2f} fps"
                lines.append(line)
        if on_ascend:
            lines += [
                "",
                (
                    f"{card_title} = Interface fps x the chips of a card (as the guide reports it). "
                    if card_title
                    else ""
                )
                + "Published: the guide's Ascend 310 runs on the full validation set (Interface fps of one chip; "
                f"card = x{CHIPS_PER_310_CARD}).",
            ]
        else:
            where = (
                "This run was not on an Ascend device"
                if any(f.on_cpu for f in files)
                else "The device of these rates is not known (no run record)"
            )
            lines += [
                "",
                f"{where}: its rates are not compared with the Ascend figures (no ratio, no card figure). The guide's "
                "published Ascend 310 figures, for reference only:",
                "",
                f"| batch | published Interface fps (one 310 chip) | published card fps (x{CHIPS_PER_310_CARD}) |",
                "|---|---|---|",
                *(f"| {batch} | {chip:.2f} | {card:.2f} |" for batch, (chip, card) in sorted(published.items())),
            ]
        if latency:
            lines += ["", "Latency: per batch, in ms (ais_bench's NPU_compute_time; the stand-in's inference time)."]
    elif paths:
        lines.append("No perf file could be read.")
    if card_text:
        lines += ["", f"Measured card throughput: {card_text}"]
    return lines + _problems(problems, lacking)


# --------------------------------------------------------------------------------------------------------------
# What was run


def _distinct(values: Iterable[object]) -> list[str]:
    return list(dict.fromkeys(str(value) for value in values if value not in (None, "")))


def what_was_run_section(inputs: ReportInputs, runs: dict[Path, AccuracyRun], notes: Sequence[str] = ()) -> list[str]:
    """Dataset, labels, model files and weights, tool and device, streams x threads, command, date and commit,
    from the run records (and what write_report.py was told); ``notes``: what differs between the page's runs
    (--allow-mixed)."""
    records = []
    for path in inputs.perf:
        try:
            for f in read_perf_files([path], chips=inputs.chips):
                if f.record is not None:
                    records.append(f.record)
        except PipelineError:
            continue
    for run in runs.values():
        records += list(run.runs)
    accuracy_records = [run.record for run in runs.values() if run.record is not None]
    unknown = "not known (no run record)"
    datasets = _distinct(
        f"{r.images} images" + (f" from {r.dataset_source}" if r.dataset_source else "")
        + (f" ({short_identity(r.dataset)})" if r.dataset else "")
        for r in records if r.mode == "dataset"
    )  # fmt: skip
    dataset = "; ".join(filter(None, [inputs.dataset, "; ".join(datasets)])) or unknown
    labels = _distinct(
        f"{r.labels} (sha256:{r.labels_sha256[:12]}, {r.labelled_images} lines)" for r in accuracy_records
    )
    label_text = "; ".join(labels) or (NOT_GIVEN if not inputs.accuracy else unknown)
    if inputs.random_labels:
        label_text = "RANDOM labels (the demo dataset's): accuracy figures mean nothing; " + label_text
    subsets = _distinct(
        f"{row_label(path)}: {run.record.subset_text()}"
        for path, run in runs.items()
        if run.record and run.record.subset
    )
    models = _distinct(f"{r.model_file} (sha256:{r.model_sha256[:12]})" for r in records)
    weights = _distinct(r.weights for r in records if r.weights != "unknown")
    if inputs.random_weights and not weights:
        weights = ["random weights (--random-weights)"]
    tools = _distinct(r.describe() for r in records)
    concurrency = _distinct(f"{r.streams} x {r.threads}" for r in records if r.streams and r.threads)
    commands = _distinct([inputs.command] if inputs.command else [" ".join(r.command) for r in records if r.command])
    dates = sorted(r.started for r in records if r.started)
    commits = _distinct(r.project_version for r in records)
    rows = [
        ("dataset", dataset),
        ("labels", label_text),
        *([("subset", "; ".join(subsets))] if subsets else []),
        ("model files", "; ".join(models) or unknown),
        ("weights", "; ".join(weights) or unknown),
        ("tool, backend, device", "; ".join(tools) or unknown),
        ("streams x threads", "; ".join(concurrency) or "-"),
        (
            "command",
            "; ".join(commands[:3]) + (f" (and {len(commands) - 3} more)" if len(commands) > 3 else "")
            if commands
            else unknown,
        ),  # fmt: skip
        ("date", (dates[0] if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}") if dates else unknown),
        ("commit", "; ".join(commits) or unknown),
    ]
    lines = ["## What was run", "", "| | |", "|---|---|", *(f"| {name} | {_cell(value)} |" for name, value in rows)]
    return lines + ([""] if notes else []) + [f"Mixed runs (--allow-mixed): {note}." for note in notes]


def quantized_section(inputs: ReportInputs) -> list[str]:
    """The int8 section: its comparisons are those whose file names say int8."""

    comparisons = []
    for path in map(Path, inputs.comparisons):
        if "int8" in path.name:
            try:
                comparisons.append((path.name, read_comparison(path)))
            except PipelineError:
                continue  # the precision section says what is wrong with it
    top1 = None
    for path in sorted(inputs.accuracy, key=batch_order)[:1]:
        try:
            top1 = top1_top5(read_accuracy_json(path), path)[0]
        except PipelineError:
            top1 = None
    layers = [path for path in map(Path, inputs.layers) if "int8" in path.name]
    return int8_section(inputs.calibration, comparisons, top1, inputs.random_weights, layers)


def plot_section(plot: Path | None, report_path: Path, lacking: list[str]) -> list[str]:
    lines = ["## Throughput plot", ""]
    if plot is None:
        return lines + [_lack(lacking, "No plot was given.")]
    if not Path(plot).is_file():
        return lines + [_lack(lacking, f"Plot not found: {plot}")]
    return lines + [f"![Throughput by batch size]({_target(plot, report_path)})"]


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
    title = "# ShuffleNetV2+ offline inference: run report"
    sections = [[title + (f" ({inputs.precision} model)" if inputs.precision else "")]]
    if inputs.random_weights:
        sections[0] += ["", RANDOM_WEIGHTS_WARNING]
    runs = accuracy_runs(inputs.accuracy)
    perf_files, perf_problems = read_perf(inputs.perf, inputs.chips)
    # One check over the whole page: an accuracy and a performance of other datasets or models are refused too.
    notes = refuse_mixed([f.path for f in perf_files], runs, inputs.allow_mixed)
    sections += [
        what_was_run_section(inputs, runs, notes),
        machine_section(inputs),
        accuracy_section(inputs.accuracy, inputs.random_weights, lacking, runs),
        per_image_section(per_image_files(inputs.accuracy, inputs.predictions, inputs.per_class, runs), report_path),
        precision_section(inputs.comparisons, lacking),
        layers_section(inputs.layers, report_path, lacking),
        *([quantized_section(inputs)] if inputs.precision == "int8" else []),
        performance_section(inputs.perf, perf_files, perf_problems, inputs.perf_label, inputs.card_throughput, lacking),
        plot_section(inputs.plot, report_path, lacking),
    ]
    return "\n\n".join("\n".join(section) for section in sections if section) + "\n"
