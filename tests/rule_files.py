"""The files of the rules' audit (tests/test_rule_*.py): a perf file, an ais_bench summary and a run record that
are valid, to be spoiled one field at a time."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from shufflenet_ascend.formats.dump import write_dumps
from shufflenet_ascend.formats.perf import DatasetPerf
from shufflenet_ascend.formats.run_record import Device, RunRecord, format_run_record

KEYS = ["img_1", "img_2", "img_3"]
PERF = "result/perf_vision_batchsize_1_device_0.txt"
PERF_FIGURES = DatasetPerf(100.0, 400.0, 120.0, 8.0, 5000.0, 0.2, 110.0, 150.0, 7.0, 100.0, 9.0)


def perf_text(**changes: float) -> str:
    """The five lines of a dataset run's perf file, with ``changes`` to its figures."""
    return dataclasses.replace(PERF_FIGURES, **changes).format()


def summary_text(stats: dict[str, object] | None = None, **document: object) -> str:
    """ais_bench's summary of a batch-1 run on device 0, with ``stats`` changed in NPU_compute_time and ``document``
    at the top."""
    compute = {"min": 5.0, "max": 9.0, "mean": 6.0, "median": 6.0, "percentile(99%)": 8.9, "count": 3}
    return json.dumps(
        {
            "throughput": 166.7,
            "NPU_compute_time": {**compute, **(stats or {})},
            "args": {"batchsize": 1, "device": 0},
            **document,
        }  # fmt: skip
    )


def a_comparison(**changes: object) -> dict[str, object]:
    """compare_outputs.py --json's document of 3 images (the fp16 bar applied: cosine min below 0.99, so FAIL), with
    ``changes``: a top-level key, or "cosine.median"-style for one field inside."""
    document: dict[str, object] = {
        "reference": "result/torch_bs1/", "candidate": "result/onnx_bs1/", "images_paired": 3, "values_per_image": 1000,
        "only_in_reference": {"count": 0, "keys": []}, "only_in_candidate": {"count": 0, "keys": []},
        "cosine": {"min": 0.95, "min_key": "img_2", "mean": 0.99, "p1": 0.951, "median": 0.995},
        "max_abs_error": {"value": 0.25, "key": "img_2"}, "max_relative_error": {"value": 0.01, "key": "img_2"},
        "top1_agreement_percent": 100.0, "top5_set_agreement_percent": 100.0,
        "passed": False, "failures": ["cosine min 0.95 < 0.99 (img_2)"],
    }  # fmt: skip
    for name, value in changes.items():
        *parents, key = name.split(".")
        inner = document
        for parent in parents:
            inner = inner[parent]  # type: ignore[assignment,index]
        inner[key] = value  # type: ignore[index]
    return document


def a_record(**changes: object) -> str:
    """A stand-in run's record, with ``changes`` (``kind`` and ``chips_per_card`` go to its device)."""
    record = RunRecord("stand-in", Device("cpu", "a CPU", cores=2), "m.onnx", "0" * 64, 1, "dataset", 3, streams=1,
                       threads=2, backend="onnxruntime")  # fmt: skip
    document = json.loads(format_run_record(record))
    for key, value in changes.items():
        (document["device"] if key in ("chips_per_card", "kind") else document)[key] = value
    return json.dumps(document)


def a_work_folder(folder: Path) -> Path:
    """``folder`` with result/ (a perf file and a summary), two dump folders of three images, their labels."""
    (folder / "result").mkdir()
    (folder / PERF).write_text(perf_text())
    (folder / "result/bs1_summary.json").write_text(summary_text())
    rows = np.random.default_rng(0).normal(size=(len(KEYS), 1000)).astype(np.float32)
    for name in ("dump_a", "dump_b"):
        (folder / name).mkdir()
        write_dumps(folder / name, KEYS, rows, False, 1)
    (folder / "val_label.txt").write_text("".join(f"{key}.JPEG {n}\n" for n, key in enumerate(KEYS)))
    return folder
