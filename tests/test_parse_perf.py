"""parse_perf.py on the guide's published perf files (section 7): card fps, table, JSON, plot and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import parse_perf
from ascend_io import PipelineError

# The guide's five perf files, as printed in its section 7. The guide names the device of batch 1 (0) and of
# batch 16 (1); for batches 4, 8 and 32 it does not say, device 0 here.
GUIDE_PERF_FILES = {
    "perf_vision_batchsize_1_device_0.txt": """\
[e2e] throughputRate: 117.471, latency: 425636
[data read] throughputRate: 124.47, moduleLatency: 8.03407
[preprocess] throughputRate: 124.375, moduleLatency: 8.04019
[infer] throughputRate: 117.823, Interface throughputRate: 147.93, moduleLatency: 7.93347
[post] throughputRate: 117.822, moduleLatency: 8.48734
""",
    "perf_vision_batchsize_16_device_1.txt": """\
[e2e] throughputRate: 130.7, latency: 382555
[data read] throughputRate: 131.307, moduleLatency: 7.61574
[preprocess] throughputRate: 131.19, moduleLatency: 7.62255
[infer] throughputRate: 131.175, Interface throughputRate: 491.668, moduleLatency: 3.45377
[post] throughputRate: 8.19833, moduleLatency: 121.976
""",
    "perf_vision_batchsize_4_device_0.txt": """\
[e2e] throughputRate: 189.011, latency: 264534
[data read] throughputRate: 198.271, moduleLatency: 5.0436
[preprocess] throughputRate: 198.037, moduleLatency: 5.04955
[infer] throughputRate: 189.874, Interface throughputRate: 363.812, moduleLatency: 4.18727
[post] throughputRate: 47.4682, moduleLatency: 21.0667
""",
    "perf_vision_batchsize_8_device_0.txt": """\
[e2e] throughputRate: 139.455, latency: 358539
[data read] throughputRate: 139.918, moduleLatency: 7.14704
[preprocess] throughputRate: 139.784, moduleLatency: 7.15391
[infer] throughputRate: 139.734, Interface throughputRate: 437.088, moduleLatency: 3.72351
[post] throughputRate: 17.4666, moduleLatency: 57.2522
""",
    "perf_vision_batchsize_32_device_0.txt": """\
[e2e] throughputRate: 221.683, latency: 225547
[data read] throughputRate: 235.234, moduleLatency: 4.25108
[preprocess] throughputRate: 234.935, moduleLatency: 4.2565
[infer] throughputRate: 222.362, Interface throughputRate: 475.038, moduleLatency: 3.51711
[post] throughputRate: 6.95087, moduleLatency: 143.867
""",
}
PURE_INFER_BS1 = ("PureInfer_perf_of_shufflenetv2_bs1_in_device_0.txt",
                  "ave_throughputRate = 379.467samples/s, ave_latency = 2.63527ms\n")


@pytest.fixture
def result_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "result"
    (folder / "dumpOutput_device0").mkdir(parents=True)
    (folder / "dumpOutput_device0" / "x_1.txt").write_text("1 2 3\n")  # the dump folder beside them is skipped
    for name, text in GUIDE_PERF_FILES.items():
        (folder / name).write_text(text)
    return folder


def test_guide_card_throughput(result_dir: Path) -> None:
    rows = [f.row for f in parse_perf.read_perf_files([result_dir])]
    assert [(row.batch_size, row.device_id) for row in rows] == [(1, 0), (4, 0), (8, 0), (16, 1), (32, 0)]
    assert [row.card_fps for row in rows] == [591.72, 1455.248, 1748.352, 1966.672, 1900.152]
    assert [row.e2e_fps for row in rows] == [117.471, 189.011, 139.455, 130.7, 221.683]


def test_table_prints_the_guide_figures_without_float_noise(result_dir: Path, run_script) -> None:
    result = run_script("parse_perf.py", result_dir)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["batch", "device", "mode"]
    body = [line.split() for line in lines[2:]]
    assert [(cells[0], cells[1], cells[3], cells[4], cells[5]) for cells in body] == [
        ("1", "0", "117.471", "147.93", "591.72"),
        ("4", "0", "189.011", "363.812", "1455.248"),
        ("8", "0", "139.455", "437.088", "1748.352"),
        ("16", "1", "130.7", "491.668", "1966.672"),
        ("32", "0", "221.683", "475.038", "1900.152"),
    ]


def test_json_rows(result_dir: Path, run_script) -> None:
    (result_dir / PURE_INFER_BS1[0]).write_text(PURE_INFER_BS1[1])
    (result_dir / "PureInfer_perf_of_mymodel_in_device_2.txt").write_text(PURE_INFER_BS1[1])
    result = run_script("parse_perf.py", result_dir, "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert all(list(row) == ["batch_size", "device_id", "e2e_fps", "interface_fps", "card_fps"] for row in rows)
    assert rows[0] == {"batch_size": 1, "device_id": 0, "e2e_fps": 117.471, "interface_fps": 147.93,
                       "card_fps": 591.72}
    assert rows[1] == {"batch_size": 1, "device_id": 0, "e2e_fps": None, "interface_fps": 379.467,
                       "card_fps": 1517.868}
    assert rows[-1] == {"batch_size": None, "device_id": 2, "e2e_fps": None, "interface_fps": 379.467,
                        "card_fps": 1517.868}
    assert [row["card_fps"] for row in rows[2:-1]] == [1455.248, 1748.352, 1966.672, 1900.152]

    table = run_script("parse_perf.py", result_dir).stdout
    assert "1517.868" in table and "      -" in table and "pure" in table


def test_chips_and_single_files(result_dir: Path, run_script) -> None:
    file = result_dir / "perf_vision_batchsize_16_device_1.txt"
    result = run_script("parse_perf.py", file, file, result_dir / "perf_vision_batchsize_1_device_0.txt",
                        "--chips", "1", "--json")
    rows = json.loads(result.stdout)
    assert [(row["batch_size"], row["card_fps"]) for row in rows] == [(1, 147.93), (16, 491.668)]


def test_plot_is_a_png_written_atomically(result_dir: Path, tmp_path: Path, run_script) -> None:
    (result_dir / PURE_INFER_BS1[0]).write_text(PURE_INFER_BS1[1])
    result = run_script("parse_perf.py", result_dir, "--plot", "perf.png")
    assert result.returncode == 0, result.stderr
    data = (tmp_path / "perf.png").read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    assert sorted(path.name for path in tmp_path.iterdir()) == ["perf.png", "result"]  # no temporary left


@pytest.mark.parametrize("batch, name", [(16, "shufflenetv2_bs16"), (1, "bs1"), (4, "resnet50-bs4_fp16"),
                                         (None, "shufflenetv2"), (None, "jobs12")])
def test_batch_from_model_name(batch: int | None, name: str) -> None:
    assert parse_perf.batch_from_model_name(name) == batch


@pytest.mark.parametrize("name, text, message", [
    ("perf_vision_batchsize_1_device_0.txt", "[e2e] throughputRate: 117.471\n", "not in the benchmark tool's "
                                                                                 "five-line form"),
    ("PureInfer_perf_of_m_bs1_in_device_0.txt", "throughput 3\n", "no 'ave_throughputRate = "),
    ("notes.txt", "[e2e] throughputRate: 1, latency: 2\n", "not a perf file of the benchmark tool"),
    ("perf_vision_batchsize_2_device_0.txt", b"\xff\xfe\x00binary", "not a text perf file"),
])
def test_foreign_files_are_named(tmp_path: Path, run_script, name: str, text: str | bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    result = run_script("parse_perf.py", path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"parse_perf.py: error: {path}: {message}")
    assert result.stderr.count("\n") == 1


def test_missing_paths_and_empty_folders(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="nowhere: no such file or folder"):
        parse_perf.read_perf_files([tmp_path / "nowhere"])
    with pytest.raises(PipelineError, match="no perf files"):
        parse_perf.read_perf_files([tmp_path])
