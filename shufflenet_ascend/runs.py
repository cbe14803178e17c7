"""Which run a figure came from, and whether figures of several runs may share one table.

A perf file's run is its run record (``formats.run_record``, beside it). An accuracy JSON's run is its accuracy
record (``formats.accuracy_json``: ``result_bs<B>.json.record``), which names the run records of the inference
that wrote its dumps. Tables that put several runs side by side (parse_perf.py, compare_accuracy.py,
write_report.py) refuse runs of different datasets, models or precisions (an int8 model beside a float one)
unless asked (--allow-mixed): a bs16 figure of 50 photos beside a bs1 figure of 40 synthetic images says nothing
about batch sizes. Batch sizes do not make runs different: one ONNX/OM file per batch size is one model (the
same weights).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.fileio import sha256_file
from shufflenet_ascend.formats.accuracy_json import AccuracyRecord, read_accuracy_record
from shufflenet_ascend.formats.perf import perf_file_name
from shufflenet_ascend.formats.run_record import RunRecord, find_run_record, read_run_record, record_path

LOG = logging.getLogger(__name__)

ALLOW_MIXED_HINT = "--allow-mixed puts them in one table"
_DUMP_FOLDER_NAME = re.compile(r"^dumpOutput_device(?P<device>\d+)(?:_bs(?P<batch>\d+))?$")


def dump_run_record(folder: str | os.PathLike[str]) -> Path | None:
    """The run record of the inference that wrote a dump folder, found by the tools' names:

    - ais_bench's ``result/<name>/`` -> ``result/<name>_record.json`` (beside ``<name>_summary.json``);
    - the benchmark tool's (and the stand-in's) ``result/dumpOutput_device<D>`` (``_bs<B>`` once run_all has
      renamed it) -> ``result/perf_vision_batchsize_<B>_device_<D>.json``; without ``_bs<B>`` the one dataset-run
      record of device D in that folder, if there is exactly one.
    """
    folder = Path(os.path.normpath(folder))
    beside = record_path(folder.parent / f"{folder.name}_summary.json")
    if beside.is_file():
        return beside
    match = _DUMP_FOLDER_NAME.match(folder.name)
    if match is None:
        return None
    device = int(match["device"])
    if match["batch"]:
        path = record_path(folder.parent / perf_file_name(int(match["batch"]), device))
        return path if path.is_file() else None
    candidates = sorted(folder.parent.glob(f"perf_vision_batchsize_*_device_{device}.json"))
    return candidates[0] if len(candidates) == 1 else None


@dataclass(frozen=True)
class RunOf:
    """What one row of a table was measured on: its dataset and model as far as the records say."""

    source: str  # the file the row comes from (named in messages)
    dataset: str | None  # identity (``sha256:...``); None: not known
    dataset_text: str  # for people: "40 images, sha256:1a2b3c4d5e6f (shufflenetv2_prep_bin.info)"
    model: str | None  # the weights (``sha256:<checkpoint>`` or ``random weights, seed 0``); None: not known
    record: RunRecord | None = None
    labels: str | None = None  # the label file's identity (accuracy rows: other labels are another truth)
    labels_text: str = ""

    @property
    def precision(self) -> str | None:
        """The model's precision as the record says: "int8" for a quantized model, "float" for the export's own
        (fp32 on a CPU, the OM as ATC builds it); None without a record."""
        if self.record is None:
            return None
        return getattr(self.record, "precision", None) or "float"

    @property
    def known(self) -> bool:
        return self.dataset is not None or self.model is not None


def short_identity(identity: str) -> str:
    kind, _, value = identity.partition(":")
    return f"{kind}:{value[:12]}" if kind == "sha256" else identity


def run_of_record(source: str, record: RunRecord | None) -> RunOf:
    if record is None:
        return RunOf(source, None, "not known (no run record)", None)
    dataset_text = f"{record.images} images"
    if record.dataset:
        dataset_text += f", {short_identity(record.dataset)}"
    if record.dataset_source:
        dataset_text += f" ({record.dataset_source})"
    model = None if record.weights in ("", "unknown") else record.weights
    size = getattr(record, "model_size", None)  # a field the record may gain: Small, Medium, Large
    if model is not None and size:
        model = f"{size}, {model}"
    return RunOf(source, record.dataset, dataset_text, model, record)


def run_of_perf_file(path: str | os.PathLike[str]) -> RunOf:
    record = find_run_record(path)
    if record is not None and record.mode == "pure":
        # Pure inference reads no dataset: its images are generated, never a different dataset.
        model = run_of_record(str(path), record).model
        return RunOf(str(path), None, "generated inputs (pure inference)", model, record)
    return run_of_record(str(path), record)


@dataclass(frozen=True)
class AccuracyRun:
    """An accuracy JSON's record and the records of the inference runs behind it (empty when not known)."""

    record: AccuracyRecord | None
    runs: tuple[RunRecord, ...]

    def run_of(self, source: str) -> RunOf:
        """The dataset: the inference's dataset identity, and the label file (other labels are another truth);
        the model: the inference's weights."""
        run = self.runs[0] if self.runs else None
        base = run_of_record(source, run)
        if self.record is None:
            return base
        images = self.record.dataset_images if self.record.dataset_images is not None else self.record.images_scored
        text = f"{images} images" + (f", inputs {short_identity(run.dataset)}" if run and run.dataset else "")
        if run and run.dataset_source:
            text += f" ({run.dataset_source})"
        labels_text = f"{self.record.labels} (sha256:{self.record.labels_sha256[:12]})"
        return RunOf(source, base.dataset, text, base.model, run, f"sha256:{self.record.labels_sha256}", labels_text)


def accuracy_run(accuracy_json: str | os.PathLike[str]) -> AccuracyRun:
    """The records behind an accuracy JSON: a run record that changed since (the dumps were made again) is left
    out with a warning, as is one that is gone."""
    record = read_accuracy_record(accuracy_json)
    if record is None:
        return AccuracyRun(None, ())
    folder = Path(accuracy_json).parent
    runs = []
    for name, digest in zip(record.run_records, record.run_records_sha256, strict=False):
        path = folder / name
        try:
            if sha256_file(path) != digest:
                LOG.warning("warning: %s: changed since %s was computed (a later run): not used", path, accuracy_json)
                continue
            runs.append(read_run_record(path))
        except OSError:
            LOG.warning("warning: %s: the run record named by %s is gone", path, accuracy_json)
        except PipelineError as exc:
            LOG.warning("warning: %s", exc)
    return AccuracyRun(record, tuple(runs))


def add_allow_mixed_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-mixed",
        action="store_true",
        help="put runs of different datasets, models or precisions (as their run records say) in one table, with a "
        "note saying what differs; without it they are refused",
    )


def check_not_mixed(rows: Sequence[RunOf], allow_mixed: bool) -> list[str]:
    """Refuse (a PipelineError naming both files) rows of different datasets or models unless ``allow_mixed``;
    with it, the sentences saying what differs (for a note under the table). Unknown values match anything."""
    notes = []
    for what, attribute, text in (
        ("datasets", "dataset", "dataset_text"),
        ("label files", "labels", "labels_text"),
        ("models", "model", "model"),
        ("precisions", "precision", "precision"),
    ):
        first = next((row for row in rows if getattr(row, attribute) is not None), None)
        if first is None:
            continue
        other = next((row for row in rows if getattr(row, attribute) not in (None, getattr(first, attribute))), None)
        if other is None:
            continue
        sentence = (
            f"{first.source} and {other.source}: runs of different {what} "
            f"({getattr(first, text)} vs {getattr(other, text)})"
        )
        if not allow_mixed:
            raise PipelineError(f"{sentence}; {ALLOW_MIXED_HINT}")
        notes.append(sentence)
    return notes
