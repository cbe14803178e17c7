"""parse_perf.py on the guide's published perf files (section 7): card fps, table, JSON, plot and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import needs_private_tmpfs, run_on_full_disk
from shufflenet_ascend import perf
from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.formats.perf import batch_from_model_name

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
PURE_INFER_BS1 = (
    "PureInfer_perf_of_shufflenetv2_bs1_in_device_0.txt",
    "ave_throughputRate = 379.467samples/s, ave_latency = 2.63527ms\n",
)


@pytest.fixture
def result_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "result"
    (folder / "dumpOutput_device0").mkdir(parents=True)
    (folder / "dumpOutput_device0" / "x_1.txt").write_text("1 2 3\n")  # the dump folder beside them is skipped
    for name, text in GUIDE_PERF_FILES.items():
        (folder / name).write_text(text)
    return folder


def test_guide_card_throughput(result_dir: Path) -> None:
    rows = [f.row for f in perf.read_perf_files([result_dir])]
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
    document = json.loads(result.stdout)
    assert (document["label"], document["chips"], document["measured_cards"]) == (None, None, [])
    rows = [
        {key: row[key] for key in ("batch_size", "device_id", "e2e_fps", "interface_fps", "card_fps", "mode")}
        for row in document["rows"]
    ]
    assert all(
        list(row)[:5] == ["batch_size", "device_id", "e2e_fps", "interface_fps", "card_fps"] for row in document["rows"]
    )
    assert rows[0] == {
        "batch_size": 1,
        "device_id": 0,
        "e2e_fps": 117.471,
        "interface_fps": 147.93,
        "card_fps": 591.72,
        "mode": "dataset",
    }
    assert rows[1] == {
        "batch_size": 1,
        "device_id": 0,
        "e2e_fps": None,
        "interface_fps": 379.467,
        "card_fps": 1517.868,
        "mode": "pure",
    }
    assert rows[-1] == {
        "batch_size": None,
        "device_id": 2,
        "e2e_fps": None,
        "interface_fps": 379.467,
        "card_fps": 1517.868,
        "mode": "pure",
    }
    assert document["published_ascend310"][0] == {"batch_size": 1, "interface_fps": 147.93, "card_fps": 591.72}
    assert [row["card_fps"] for row in rows[2:-1]] == [1455.248, 1748.352, 1966.672, 1900.152]

    table = run_script("parse_perf.py", result_dir).stdout
    assert "1517.868" in table and "      -" in table and "pure" in table


def test_chips_and_single_files(result_dir: Path, run_script) -> None:
    file = result_dir / "perf_vision_batchsize_16_device_1.txt"
    result = run_script(
        "parse_perf.py", file, file, result_dir / "perf_vision_batchsize_1_device_0.txt", "--chips", "1", "--json"
    )
    rows = json.loads(result.stdout)["rows"]
    assert [(row["batch_size"], row["card_fps"]) for row in rows] == [(1, 147.93), (16, 491.668)]


def test_plot_is_a_png_written_atomically(result_dir: Path, tmp_path: Path, run_script) -> None:
    (result_dir / PURE_INFER_BS1[0]).write_text(PURE_INFER_BS1[1])
    result = run_script("parse_perf.py", result_dir, "--plot", "perf.png")
    assert result.returncode == 0, result.stderr
    data = (tmp_path / "perf.png").read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    assert sorted(path.name for path in tmp_path.iterdir()) == ["perf.png", "result"]  # no temporary left


@pytest.mark.parametrize(
    "batch, name",
    [(16, "shufflenetv2_bs16"), (1, "bs1"), (4, "resnet50-bs4_fp16"), (None, "shufflenetv2"), (None, "jobs12")],
)
def test_batch_from_model_name(batch: int | None, name: str) -> None:
    assert batch_from_model_name(name) == batch


@pytest.mark.parametrize(
    "name, text, message",
    [
        (
            "perf_vision_batchsize_1_device_0.txt",
            "[e2e] throughputRate: 117.471\n",
            "not in the benchmark tool's five-line form",
        ),
        ("PureInfer_perf_of_m_bs1_in_device_0.txt", "throughput 3\n", "no 'ave_throughputRate = "),
        ("notes.txt", "[e2e] throughputRate: 1, latency: 2\n", "not a perf file of the benchmark tool"),
        ("perf_vision_batchsize_2_device_0.txt", b"\xff\xfe\x00binary", "not a text perf file"),
    ],
)
def test_foreign_files_are_named(tmp_path: Path, run_script, name: str, text: str | bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    result = run_script("parse_perf.py", path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"parse_perf.py: error: {path}: {message}")
    assert result.stderr.count("\n") == 1


def ais_bench_summary(
    batch: int | None, device: object, mean_ms: float, pure: bool = False, model: str = "./shufflenetv2_bs16.om"
) -> dict:
    """A summary as ais_bench writes it (facts: keys, throughput = 1000 x batch / NPU_compute_time mean)."""
    timing = {
        "min": mean_ms * 0.9,
        "max": mean_ms * 1.2,
        "mean": mean_ms,
        "median": mean_ms,
        "percentile(99%)": mean_ms * 1.1,
        "count": 50,
    }
    return {
        "NPU_compute_time": timing,
        "H2D_latency": {**timing, "mean": 0.4},
        "D2H_latency": {**timing, "mean": 0.05},
        "throughput": 1000 * (batch or 16) / mean_ms,
        "npu_compute_time_list": [mean_ms] * 50,
        "pid": 4242,
        "filesinfo": {
            "0": {
                "infiles": ["./prep_dataset/ILSVRC2012_val_00000001.bin"],
                "outfiles": ["./result/bs16/ILSVRC2012_val_00000001_0.txt"],
            }
        },
        "args": {
            "model": model,
            "input": None if pure else "./prep_dataset/",
            "output": "./result/",
            "output_dirname": "bs16",
            "outfmt": "TXT",
            "loop": 1,
            "device": device,
            "batchsize": batch,
        },
    }


def test_ais_bench_summaries_in_the_same_table_and_json(result_dir: Path, run_script) -> None:
    # bs16 on device 3: 32.5 ms per batch of 16 -> 492.307692 images/s on one device.
    (result_dir / "bs16_summary.json").write_text(json.dumps(ais_bench_summary(16, 3, 32.5)))
    # No batch size in args: taken from bs8 in the name; device as a one-element list (newer releases).
    (result_dir / "bs8_summary.json").write_text(json.dumps(ais_bench_summary(None, [2], 20.0) | {"throughput": 400.0}))
    # Pure inference (no --input), batch from the model's name, device as text.
    (result_dir / "2026_11_27-01_02_03_summary.json").write_text(
        json.dumps(ais_bench_summary(None, "1", 4.0, pure=True, model="/om/shufflenetv2_bs4.om"))
    )
    # Without run records the chip is not known: no card figure unless --chips says the card (issue 25).
    result = run_script("parse_perf.py", result_dir)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[-1]: line.split() for line in result.stdout.splitlines()[2:] if line.strip()}
    assert rows["bs16_summary.json"][:6] == ["16", "3", "dataset", "-", "492.307692", "-"]
    assert rows["perf_vision_batchsize_1_device_0.txt"][5] == "591.72"  # the 2021 tool's file: the guide's x4
    result = run_script("parse_perf.py", result_dir, "--chips", "4")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[-1]: line.split() for line in result.stdout.splitlines()[2:] if line.strip()}
    assert rows["bs16_summary.json"][:6] == ["16", "3", "dataset", "-", "492.307692", "1969.230769"]
    assert rows["bs8_summary.json"][:6] == ["8", "2", "dataset", "-", "400.0", "1600.0"]
    assert rows["2026_11_27-01_02_03_summary.json"][:6] == ["4", "1", "pure", "-", "4000.0", "16000.0"]
    document = json.loads(run_script("parse_perf.py", result_dir / "bs16_summary.json", "--json").stdout)
    assert [(row["tool"], row["interface_fps"], row["file"]) for row in document["rows"]] == [
        ("ais_bench", 1000 * 16 / 32.5, str(result_dir / "bs16_summary.json"))
    ]  # the file's value, unrounded
    files = perf.read_perf_files([result_dir / "bs16_summary.json"])
    assert (files[0].mode, files[0].tool, files[0].row.e2e_fps) == ("dataset", "ais_bench", None)


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not JSON (expected ais_bench's summary)"),
        ('{"NPU_compute_time": {}}', "no 'throughput' key: not a summary of ais_bench"),
        ('{"throughput": "fast"}', "throughput 'fast' is not a positive number of images per second"),
        ('{"throughput": NaN}', "throughput nan is not a positive number of images per second"),
        ('{"throughput": -3}', "throughput -3 is not a positive number of images per second"),
        ('{"throughput": 10, "args": {"device": [0, 1]}}', "ran on devices [0, 1]; expected one summary per device"),
        ('{"throughput": 10, "args": {"device": "npu0"}}', "device 'npu0' in args is not a device number"),
    ],
)
def test_bad_ais_bench_summaries_are_named(tmp_path: Path, run_script, content: str, message: str) -> None:
    path = tmp_path / "bs1_summary.json"
    path.write_text(content)
    result = run_script("parse_perf.py", path)
    assert result.returncode == 2
    assert result.stderr == f"parse_perf.py: error: {path}: {message}\n"


def test_devices_run_at_once_give_the_measured_card_beside_the_extrapolation(tmp_path: Path, run_script) -> None:
    result_dir = tmp_path / "result"
    result_dir.mkdir()
    # Four chips of one card at batch 16, each a little slower than the guide's lone chip (491.668).
    rates = [480.5, 478.25, 482.0, 470.125]
    for device, rate in enumerate(rates):
        text = GUIDE_PERF_FILES["perf_vision_batchsize_16_device_1.txt"].replace("491.668", str(rate))
        (result_dir / f"perf_vision_batchsize_16_device_{device}.txt").write_text(text)
    bs1 = "perf_vision_batchsize_1_device_0.txt"
    (result_dir / bs1).write_text(GUIDE_PERF_FILES[bs1])
    # ais_bench on two devices at batch 8: 20 ms and 25 ms per batch -> 400 + 320 images/s.
    for device, mean_ms in ((0, 20.0), (1, 25.0)):
        (result_dir / f"bs8_device{device}_summary.json").write_text(json.dumps(ais_bench_summary(8, device, mean_ms)))
    result = run_script("parse_perf.py", result_dir)
    assert result.returncode == 0, result.stderr
    measured = sum(rates)  # 1910.875
    assert (
        "  batch 16 (dataset): 1910.875 fps measured = sum of the Interface fps of devices 0, 1, 2, 3; "
        f"guide's extrapolation: their mean x 4 = {measured / 4 * 4!r} fps"
    ) in result.stdout
    # ais_bench summaries without a record: the chip is not known, so no extrapolation (issue 25); --chips gives it.
    assert "  batch 8 (dataset): 720.0 fps measured = sum of the Interface fps of devices 0, 1\n" in result.stdout
    assert "batch 1 (" not in result.stdout  # one device: nothing measured for the card
    document = json.loads(run_script("parse_perf.py", result_dir, "--json", "--chips", "4").stdout)
    assert document["measured_cards"] == [
        {"batch_size": 8, "mode": "dataset", "devices": [0, 1], "measured_fps": 720.0, "extrapolated_fps": 1440.0},
        {
            "batch_size": 16,
            "mode": "dataset",
            "devices": [0, 1, 2, 3],
            "measured_fps": 1910.875,
            "extrapolated_fps": 1910.875,
        },
    ]
    series = perf.plot_series(perf.read_perf_files([result_dir]))
    assert series["measured: card fps measured (sum of the devices run at once)"][0] == [(8, 720.0), (16, 1910.875)]
    assert series["measured: Interface fps (per device, mean of the devices)"][0] == [
        (1, 147.93),
        (8, 360.0),
        (16, 477.71875),
    ]


def test_stand_in_figures_are_not_multiplied_and_the_plot_says_what_each_line_is(
    result_dir: Path, tmp_path: Path, run_script
) -> None:
    label = "CPU stand-in: Test CPU 3000, 2 cores, onnxruntime"
    for device in (0, 1):  # the stand-in run on two devices' shards
        (result_dir / f"perf_vision_batchsize_4_device_{device}.txt").unlink(missing_ok=True)
        (result_dir / f"perf_vision_batchsize_4_device_{device}.txt").write_text(
            GUIDE_PERF_FILES["perf_vision_batchsize_4_device_0.txt"].replace("363.812", f"{100 + device}.5")
        )
    result = run_script(
        "parse_perf.py", result_dir, "--chips", "1", "--label", label, "--plot", "perf.png", "--json", "perf.json"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"measured on: {label}"
    assert "card fps" not in lines[1] and lines[1].split()[:5] == ["batch", "device", "mode", "e2e", "fps"]
    assert "x1" not in result.stdout and "extrapolation" not in result.stdout
    assert "  batch 4 (dataset): 202.0 fps measured = sum of the Interface fps of devices 0, 1" in lines
    document = json.loads((tmp_path / "perf.json").read_text())
    assert (document["label"], document["chips"]) == (label, 1)
    assert all(row["card_fps"] == row["interface_fps"] for row in document["rows"])
    assert (tmp_path / "perf.png").read_bytes().startswith(b"\x89PNG")

    series = perf.plot_series(perf.read_perf_files([result_dir], chips=1), label)
    assert list(series) == [
        f"{label}: e2e fps (per device, mean of the devices)",
        f"{label}: Interface fps (per device, mean of the devices)",
        f"{label}: card fps measured (sum of the devices run at once)",
        "published Ascend 310 (guide): Interface fps, 1 chip",
        "published Ascend 310 card (guide): Interface x 4",
    ]
    assert series["published Ascend 310 (guide): Interface fps, 1 chip"] == (
        [(1, 147.93), (4, 363.812), (8, 437.088), (16, 491.668), (32, 475.038)],
        True,
    )
    assert series["published Ascend 310 card (guide): Interface x 4"][0] == [
        (1, 591.72),
        (4, 1455.248),
        (8, 1748.352),
        (16, 1966.672),
        (32, 1900.152),
    ]
    assert series[f"{label}: Interface fps (per device, mean of the devices)"][0][1] == (4, 101.0)
    # On an Ascend device (default --chips 4) the extrapolation is a line of its own, named as such.
    ascend = perf.plot_series(perf.read_perf_files([result_dir]))
    assert ascend["measured: Interface x 4 (guide's card extrapolation)"][0][0] == (1, 591.72)


def test_json_file_name_must_end_in_json(result_dir: Path, run_script) -> None:
    victim = result_dir / "perf_vision_batchsize_1_device_0.txt"
    before = victim.read_bytes()
    result = run_script("parse_perf.py", result_dir, "--json", victim)
    assert result.returncode == 2 and "must end in .json" in result.stderr
    assert victim.read_bytes() == before


@needs_private_tmpfs
@pytest.mark.parametrize("option, name, what", [("--json", "perf.json", "perf JSON"), ("--plot", "perf.png", "plot")])
def test_a_full_disk_is_one_line_naming_the_output_and_leaves_nothing(
    result_dir: Path, tmp_path: Path, option: str, name: str, what: str
) -> None:
    full = tmp_path / "full"
    result, listing = run_on_full_disk("parse_perf.py", full, result_dir, option, full / name, cwd=tmp_path)
    assert result.returncode == 3  # cannot write: the one exit status of a full disk
    assert result.stderr.endswith(
        f"parse_perf.py: error: {full / name}: cannot write {what}: No space left on device\n"
    )
    assert result.stderr.count("error") == 1 and "Traceback" not in result.stderr
    assert listing == ["filler"]


def test_missing_paths_and_empty_folders(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="nowhere: no such file or folder"):
        perf.read_perf_files([tmp_path / "nowhere"])
    with pytest.raises(PipelineError, match="no perf files"):
        perf.read_perf_files([tmp_path])
