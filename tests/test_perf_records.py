"""parse_perf.py with run records (issue 17): the record decides chips and label, a CPU run never shows a card
figure, runs of different datasets or models are refused in one table, rows sort by batch size; latency
percentiles and pure-inference rows (issue 20); nonsense figures refused (issue 18)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from test_parse_perf import GUIDE_PERF_FILES, PURE_INFER_BS1, ais_bench_summary

from shufflenet_ascend import perf
from shufflenet_ascend.formats.run_record import Device, RunRecord, record_path, write_run_record

CPU_RUN = RunRecord(
    tool="stand-in",
    backend="onnxruntime",
    device=Device("cpu", "Test CPU 3000", cores=2),
    streams=2,
    threads=1,
    model_file="shufflenetv2_bs1.onnx",
    model_sha256="ab" * 32,
    weights="random weights, seed 0",
    batch_size=1,
    mode="dataset",
    images=40,
    dataset="sha256:" + "cd" * 32,
    dataset_source="shufflenetv2_prep_bin.info",
    started="2026-11-30T08:00:00+00:00",
    project_version="0123456789ab",
    latency_ms={"min": 1.0, "mean": 2.0, "median": 1.75, "p90": 3.0, "p99": 3.5, "max": 4.0, "count": 10},
)
ASCEND_310 = replace(
    CPU_RUN,
    tool="benchmark",
    backend=None,
    streams=None,
    threads=None,
    latency_ms=None,
    device=Device("ascend", "Ascend310", device_ids=(0,), chips_per_card=4),
)


def write_perf(folder: Path, batch: int, record: RunRecord | None, rate: str | None = None, device: int = 0) -> Path:
    folder.mkdir(exist_ok=True)
    source = GUIDE_PERF_FILES[f"perf_vision_batchsize_{batch}_device_{1 if batch == 16 else 0}.txt"]
    if rate is not None:
        source = source.replace(source.split("Interface throughputRate: ")[1].split(",")[0], rate)
    path = folder / f"perf_vision_batchsize_{batch}_device_{device}.txt"
    path.write_text(source)
    if record is not None:
        recorded = replace(record, batch_size=batch, model_file=f"shufflenetv2_bs{batch}.onnx")
        write_run_record(record_path(path), recorded)
    return path


def test_a_cpu_run_with_its_record_is_never_shown_as_card_throughput(tmp_path: Path, run_script) -> None:
    result_dir = tmp_path / "result"
    for batch in (1, 16, 4, 32, 8):
        write_perf(result_dir, batch, CPU_RUN)
    # README section 7, verbatim: no --chips, no --label.
    result = run_script("parse_perf.py", "result/", "--plot", "perf.png", "--json", "perf.json")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "measured on: CPU stand-in (onnxruntime) on Test CPU 3000, 2 cores, 2 streams x 1 thread"
    assert "card" not in result.stdout and re.search(r"\bx4\b", result.stdout) is None
    assert [line.split()[0] for line in lines[3:8]] == ["1", "4", "8", "16", "32"]  # by batch size, not glob order
    assert lines[1].split()[-3:] == ["median", "ms", "p99"] or "median ms" in lines[1]
    assert "1.750" in lines[3] and "3.500" in lines[3]
    document = json.loads((tmp_path / "perf.json").read_text())
    assert {row["tool"] for row in document["rows"]} == {"stand-in"}
    assert all(row["card_fps"] is None and row["chips"] is None for row in document["rows"])
    assert document["rows"][0]["run"]["device_kind"] == "cpu"
    assert document["rows"][0]["latency_ms"]["p99"] == 3.5
    assert "no run record" not in result.stderr
    # Even --chips 4 asked for explicitly: the record decides, and a note says so.
    forced = run_script("parse_perf.py", "result/", "--chips", "4")
    assert "card" not in forced.stdout and "--chips 4 not used" in forced.stderr
    # The plot: no published Ascend line for a CPU run, a caption naming images, batches, tool and device.
    files = perf.read_perf_files([result_dir])
    series = perf.plot_series(files)
    assert not any(published for _, published in series.values())
    assert not any("x 4" in name for name in series)
    caption = perf.plot_caption(files)
    assert "batch sizes 1, 4, 8, 16, 32" in caption and "40 images per run" in caption
    assert "CPU stand-in (onnxruntime) on Test CPU 3000" in caption and "not drawn: this run was on a CPU" in caption
    assert (tmp_path / "perf.png").read_bytes().startswith(b"\x89PNG")


def test_ascend_records_give_their_cards_chips_and_files_without_one_read_as_before(tmp_path: Path, run_script) -> None:
    result_dir = tmp_path / "result"
    write_perf(result_dir, 1, ASCEND_310)
    p3 = replace(ASCEND_310, device=Device("ascend", "Ascend310P3", device_ids=(0,), chips_per_card=None))
    write_perf(result_dir, 4, p3)
    write_perf(result_dir, 8, None)  # the guide's file, no record
    result = run_script("parse_perf.py", "result/", "--json")
    rows = {row["batch_size"]: row for row in json.loads(result.stdout)["rows"]}
    assert (rows[1]["chips"], rows[1]["card_fps"]) == (4, 591.72)
    assert (rows[4]["chips"], rows[4]["card_fps"]) == (None, None)  # an Atlas 300I Pro is not 4 chips
    assert (rows[8]["chips"], rows[8]["card_fps"]) == (4, 1748.352)  # as before
    assert rows[8]["run"] is None and rows[1]["run"]["device"] == "Ascend310 device 0"
    assert "no run record beside 1 perf file(s) (perf_vision_batchsize_8_device_0.txt)" in result.stderr
    table = run_script("parse_perf.py", "result/").stdout.splitlines()
    body = {line.split()[0]: line.split() for line in table[3:6]}
    assert body["1"][5] == "591.72" and body["4"][5] == "-" and body["8"][5] == "1748.352"


def test_runs_of_different_datasets_or_models_are_refused_in_one_table(tmp_path: Path, run_script) -> None:
    result_dir = tmp_path / "result"
    write_perf(result_dir, 1, CPU_RUN)
    other = replace(CPU_RUN, dataset="sha256:" + "ef" * 32, images=50, dataset_source="photos.info")
    write_perf(result_dir, 16, other)
    for script in (["parse_perf.py", "result/"], ["write_report.py", "report.md", "--perf", "result/"]):
        result = run_script(*script)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert "perf_vision_batchsize_1_device_0.txt and " in result.stderr
        assert "perf_vision_batchsize_16_device_0.txt: runs of different datasets" in result.stderr
        assert "40 images" in result.stderr and "50 images" in result.stderr and "--allow-mixed" in result.stderr
        mixed = run_script(*script, "--allow-mixed")
        assert mixed.returncode == 0, mixed.stderr
    assert "runs of different datasets" in run_script("parse_perf.py", "result/", "--allow-mixed").stderr
    assert "Mixed runs (--allow-mixed): " in (tmp_path / "report.md").read_text()
    # Other weights: another model. The same weights at every batch size: one model.
    write_run_record(
        record_path(result_dir / "perf_vision_batchsize_16_device_0.txt"),
        replace(CPU_RUN, batch_size=16, weights="sha256:" + "12" * 32),
    )
    result = run_script("parse_perf.py", "result/")
    assert result.returncode == 2 and "runs of different models (random weights, seed 0 vs sha256:1212" in result.stderr
    write_run_record(
        record_path(result_dir / "perf_vision_batchsize_16_device_0.txt"),
        replace(CPU_RUN, batch_size=16, model_file="shufflenetv2_bs16.onnx", model_sha256="99" * 32),
    )
    assert run_script("parse_perf.py", "result/").returncode == 0


@pytest.mark.parametrize("value", ["-5", "nan", "1e400", "0"])
def test_nonsense_perf_figures_are_refused(tmp_path: Path, run_script, value: str) -> None:
    path = write_perf(tmp_path / "result", 1, None, rate=value)
    for script in (["parse_perf.py", path], ["parse_perf.py", path, "--chips", "1"]):
        result = run_script(*script)
        assert result.returncode == 2 and result.stderr.count("\n") == 1
        assert f"{path}: Interface throughputRate" in result.stderr and "not a positive number" in result.stderr
    report = run_script("write_report.py", "report.md", "--perf", path)
    text = (tmp_path / "report.md").read_text()
    # (-20 as a figure, not inside a temporary folder's name such as pytest-20.)
    assert report.returncode == 0 and "Not shown" in text and re.search(r"(?<![\w-])-20\b", text) is None
    assert "x |" not in text


def test_latency_percentiles_and_pure_inference_rows(tmp_path: Path, run_script) -> None:
    result_dir = tmp_path / "result"
    result_dir.mkdir()
    (result_dir / "bs16_summary.json").write_text(json.dumps(ais_bench_summary(16, 0, 32.5)))
    pure = ais_bench_summary(16, 0, 30.0, pure=True) | {
        "NPU_compute_time": {"min": 29.0, "max": 31.5, "mean": 30.0, "median": 29.875, "percentile(99%)": 31.25}
    }
    (result_dir / "bs16_pure_summary.json").write_text(json.dumps(pure))
    (result_dir / PURE_INFER_BS1[0]).write_text(PURE_INFER_BS1[1])
    (result_dir / "perf_vision_batchsize_1_device_0.txt").write_text(
        GUIDE_PERF_FILES["perf_vision_batchsize_1_device_0.txt"]
    )
    result = run_script("parse_perf.py", result_dir)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "median ms" in lines[0] and "p99 ms" in lines[0]
    rows = [line.split() for line in lines[2:] if line.strip()]
    assert [(row[0], row[2], row[-1]) for row in rows] == [
        ("1", "dataset", "perf_vision_batchsize_1_device_0.txt"),
        ("1", "pure", PURE_INFER_BS1[0]),
        ("16", "dataset", "bs16_summary.json"),
        ("16", "pure", "bs16_pure_summary.json"),
    ]
    assert rows[3][-3:-1] == ["29.875", "31.250"]
    files = perf.read_perf_files([result_dir / "bs16_pure_summary.json"])
    assert files[0].latency_ms == {"min": 29.0, "max": 31.5, "mean": 30.0, "median": 29.875, "p99": 31.25}


def test_the_plot_is_scaled_to_the_run_and_says_what_is_clipped() -> None:
    legacy = [perf.PerfFile(Path(f"perf_vision_batchsize_{b}_device_0.txt"), perf.PerfRow(b, 0, 20.0, 30.0 * b, None),
                            chips=None) for b in (1, 4)]  # fmt: skip
    series = perf.plot_series(legacy, "CPU")
    top, clipped = perf.y_range(series)
    assert top == pytest.approx(1.15 * 120.0)  # this run's highest rate, not the published 1966.672
    assert clipped == [
        "published Ascend 310 (guide): Interface fps, 1 chip reaches 491.668 fps (above the plot)",
        "published Ascend 310 card (guide): Interface x 4 reaches 1966.67 fps (above the plot)",
    ]


def test_the_stand_ins_pure_inference_row_beside_its_dataset_row(tmp_path: Path, run_script) -> None:
    result_dir = tmp_path / "result"
    write_perf(result_dir, 16, CPU_RUN)
    pure_file = result_dir / "PureInfer_perf_of_shufflenetv2_bs16_in_device_0.txt"
    pure_file.write_text("ave_throughputRate = 150.5samples/s, ave_latency = 106.312ms\n")
    pure = replace(CPU_RUN, mode="pure", batch_size=16, images=1600, latency_ms={"median": 104.5, "p99": 120.25})
    write_run_record(record_path(pure_file), pure)
    result = run_script("parse_perf.py", "result/")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[3:] if line.strip()]
    assert [(row[0], row[2], row[4]) for row in rows] == [("16", "dataset", "491.668"), ("16", "pure", "150.5")]
    assert rows[1][5:7] == ["104.500", "120.250"] and rows[0][5:7] == ["1.750", "3.500"]
