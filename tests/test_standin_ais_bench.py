"""The stand-in under ais_bench's command line (issue 20): a current guide's command, program name changed, runs
on the CPU and writes ais_bench's files, read back by imagenet_acc_eval.py and parse_perf.py exactly as the fake
ais_bench's (tests/fakes, written from Huawei's ais_bench documentation).

The model here outputs the first 1000 values of its input, and each bin holds the scores the fake ais_bench plants
for its image: the stand-in and the fake must then write the very same files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from shufflenet_ascend.contract import INPUT_NAME, NUM_CLASSES, OUTPUT_NAME
from shufflenet_ascend.formats.run_record import read_run_record
from tests.conftest import REPO_ROOT

FAKES = REPO_ROOT / "tests" / "fakes"
sys.path.insert(0, str(FAKES))
from common import planted_scores  # noqa: E402

IMAGES = 9  # with bs4: a padded last batch
NAMES = [f"ILSVRC2012_val_{index:08d}" for index in (1, 2, 3, 10, 11, 12, 20, 100, 101)]


def scores_model(path: Path, batch: int) -> None:
    """image [B,3,224,224] -> class [B,1000]: the first 1000 values of each image."""
    nodes = [
        helper.make_node("Flatten", [INPUT_NAME], ["flat"], axis=1),
        helper.make_node("Slice", ["flat", "starts", "ends", "axes"], [OUTPUT_NAME]),
    ]
    initializers = [
        helper.make_tensor(name, TensorProto.INT64, [1], [value])
        for name, value in (("starts", 0), ("ends", NUM_CLASSES), ("axes", 1))
    ]
    graph = helper.make_graph(
        nodes,
        "scores",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [batch, 3, 224, 224])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [batch, NUM_CLASSES])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 7
    onnx.save(model, path)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A work folder as on an ais_bench host after ATC: shufflenetv2_bs<B>.om (the fake's) beside the ONNX file,
    prep_dataset/ holding the planted scores, the labels; the environment of the fake tools."""
    work = tmp_path_factory.mktemp("ais_host")
    labels = work / "val_label.txt"
    labels.write_text("".join(f"{name}.JPEG {(index * 37) % 1000}\n" for index, name in enumerate(NAMES)))
    env = {
        **os.environ,
        "FAKE_LABELS": str(labels),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(FAKES / "python"), os.environ.get("PYTHONPATH")])),
    }
    (work / "prep_dataset").mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FAKE_LABELS", str(labels))  # planted_scores reads it
        for name in NAMES:
            image = np.zeros((3, 224, 224), dtype=np.float32)
            image.reshape(-1)[:NUM_CLASSES] = planted_scores(name)
            image.tofile(work / "prep_dataset" / f"{name}.bin")
    for batch in (1, 4):
        scores_model(work / f"shufflenetv2_bs{batch}.onnx", batch)
        (work / f"shufflenetv2_bs{batch}.om").write_text(
            json.dumps({"fake_om": True, "input_shape": f"image:{batch},3,224,224", "soc_version": "Ascend310P3"})
        )
    return {"work": work, "env": env, "labels": labels}


def run(host: dict, *argv: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *map(str, argv)], cwd=host["work"], env=host["env"], capture_output=True, text=True
    )


@pytest.mark.parametrize("batch", [1, 4])
def test_the_guides_ais_bench_command_runs_on_the_stand_in(host: dict, batch: int) -> None:
    work = host["work"]
    guide = ["--model", f"./shufflenetv2_bs{batch}.om", "--input", "./prep_dataset/", "--output", "./result/"]
    guide += ["--outfmt", "TXT", "--batchsize", batch]
    fake = run(host, "-m", "ais_bench", *guide, "--output_dirname", f"fake_bs{batch}")
    assert fake.returncode == 0, fake.stderr
    ours = run(host, REPO_ROOT / "benchmark_ort.py", *guide, "--output_dirname", f"ours_bs{batch}")
    assert ours.returncode == 0, ours.stderr
    assert f"shufflenetv2_bs{batch}.om: an OM model runs only on an Ascend device; the stand-in runs the ONNX" in (
        ours.stderr
    )
    first, second = ours.stdout.splitlines()[:2]
    assert first == "[INFO] -----------------Performance Summary------------------"
    assert second.startswith("[INFO] NPU_compute_time (ms): min = ")

    # The same files, byte for byte: <key>_0.txt in printf %f with a trailing space.
    fake_files = {path.name: path.read_bytes() for path in (work / "result" / f"fake_bs{batch}").iterdir()}
    our_files = {path.name: path.read_bytes() for path in (work / "result" / f"ours_bs{batch}").iterdir()}
    assert sorted(our_files) == [f"{name}_0.txt" for name in NAMES]
    assert our_files == fake_files

    # The summary: ais_bench's keys, read by parse_perf.py as the fake's.
    fake_summary = json.loads((work / "result" / f"fake_bs{batch}_summary.json").read_text())
    our_summary = json.loads((work / "result" / f"ours_bs{batch}_summary.json").read_text())
    assert set(our_summary) == set(fake_summary) | {"wall_clock_throughput"}  # the stand-in's own, named
    assert set(our_summary["NPU_compute_time"]) == set(fake_summary["NPU_compute_time"])
    batches = -(-IMAGES // batch)
    assert our_summary["NPU_compute_time"]["count"] == batches == len(our_summary["npu_compute_time_list"])
    assert our_summary["H2D_latency"]["mean"] == 0 and our_summary["args"]["batchsize"] == batch
    assert [len(entry["outfiles"]) for entry in our_summary["filesinfo"].values()] == [
        len(entry["outfiles"]) for entry in fake_summary["filesinfo"].values()
    ]
    tables = {}
    for name in (f"fake_bs{batch}", f"ours_bs{batch}"):
        parsed = run(host, REPO_ROOT / "parse_perf.py", f"result/{name}_summary.json", "--json", f"{name}_perf.json")
        assert parsed.returncode == 0, parsed.stderr
        tables[name] = json.loads((work / f"{name}_perf.json").read_text())
    for name, summary in ((f"fake_bs{batch}", fake_summary), (f"ours_bs{batch}", our_summary)):
        (row,) = tables[name]["rows"]
        assert (row["batch_size"], row["device_id"], row["mode"]) == (batch, 0, "dataset")
        assert row["interface_fps"] == pytest.approx(summary["throughput"], rel=1e-9)

    # The accuracy JSON of the two folders: the same.
    accuracy = {}
    for name in (f"fake_bs{batch}", f"ours_bs{batch}"):
        scored = run(
            host, REPO_ROOT / "imagenet_acc_eval.py", f"result/{name}/", host["labels"], "./", f"{name}_acc.json"
        )
        assert scored.returncode == 0, scored.stderr
        accuracy[name] = (work / f"{name}_acc.json").read_text()
    assert accuracy[f"ours_bs{batch}"] == accuracy[f"fake_bs{batch}"]

    record = read_run_record(work / "result" / f"ours_bs{batch}_record.json")
    assert record.tool == "stand-in" and record.images == IMAGES and record.batch_size == batch
    assert record.model_file == f"shufflenetv2_bs{batch}.onnx" and record.latency_ms["count"] == batches


def test_the_guides_pure_inference_command(host: dict) -> None:
    """--loop=N --batchsize=B without --input: pure inference; without --output nothing is written."""
    work = host["work"]
    before = sorted(path.name for path in work.rglob("*"))
    printed = run(host, REPO_ROOT / "benchmark_ort.py", "--model=./shufflenetv2_bs4.om", "--loop=3", "--batchsize=4")
    assert printed.returncode == 0, printed.stderr
    assert "[INFO] throughput " in printed.stdout and "no --output: nothing is written" in printed.stderr
    assert sorted(path.name for path in work.rglob("*")) == before
    saved = run(
        host,
        REPO_ROOT / "benchmark_ort.py",
        "-m",
        "./shufflenetv2_bs4.om",
        "-l",
        "5",
        "--warmup_count=2",
        "-o",
        "./pure/",
        "--output_dirname=loop5",
        "-d",
        "3",
    )
    assert saved.returncode == 0, saved.stderr
    summary = json.loads((work / "pure" / "loop5_summary.json").read_text())
    assert summary["args"]["input"] is None and summary["args"]["device"] == 3 and summary["args"]["loop"] == 5
    assert summary["NPU_compute_time"]["count"] == 5 and summary["throughput"] > 0
    # Each loop's outputs, as ais_bench writes them with --output (a batch of 4 per file, raw float32).
    written = sorted(path.name for path in (work / "pure" / "loop5").iterdir())
    assert written == [f"pure_infer_data_{loop}_0.bin" for loop in range(5)]
    assert (work / "pure" / "loop5" / written[0]).stat().st_size == 4 * NUM_CLASSES * 4
    record = read_run_record(work / "pure" / "loop5_record.json")
    assert record.mode == "pure" and record.images == 20
    parsed = run(host, REPO_ROOT / "parse_perf.py", "pure/loop5_summary.json", "--json", "pure.json")
    assert parsed.returncode == 0, parsed.stderr
    (row,) = json.loads((work / "pure.json").read_text())["rows"]
    assert (row["batch_size"], row["device_id"]) == (4, 3) and row["mode"] != "dataset"
    assert row["interface_fps"] == pytest.approx(summary["throughput"], rel=1e-9)


def test_timestamped_dirname_and_mixed_flags(host: dict, tmp_path: Path) -> None:
    result = run(
        host,
        REPO_ROOT / "benchmark_ort.py",
        "--model",
        "./shufflenetv2_bs1.onnx",
        "--input",
        "./prep_dataset",
        "--output",
        str(tmp_path),
        "--outfmt",
        "BIN",
    )
    assert result.returncode == 0, result.stderr
    folders = [path for path in tmp_path.iterdir() if path.is_dir()]
    assert len(folders) == 1 and len(folders[0].name) == len("2026_01_01-00_00_00")
    assert (tmp_path / f"{folders[0].name}_summary.json").is_file()
    assert sorted(path.name for path in folders[0].iterdir()) == [f"{name}_0.bin" for name in NAMES]
    assert (folders[0] / f"{NAMES[0]}_0.bin").stat().st_size == 4000

    mixed = run(host, REPO_ROOT / "benchmark_ort.py", "--model", "./shufflenetv2_bs1.om", "-input_text_path=x.info")
    assert mixed.returncode == 2 and "use one tool's names" in mixed.stderr
    missing = run(host, REPO_ROOT / "benchmark_ort.py", "--model", "./nothing_bs1.om", "--loop", "1")
    assert missing.returncode == 2 and "there is no nothing_bs1.onnx beside it" in missing.stderr


def test_fixed_point_text_is_printf_percent_f() -> None:
    """outputs.encode_fixed_lines (array operations) writes what printf's %f writes, value for value: random
    float32 bit patterns, values next to powers of ten and to rounding ties, signed zeros; non-finite and huge
    values through Python's %f."""
    from shufflenet_ascend.standin.outputs import encode_fixed_lines

    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2**32, size=60_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    powers = np.float32(10.0 ** np.arange(-8, 9))
    values = np.concatenate(
        [
            bits[np.abs(bits) < 1e9][:40_000],
            powers,
            np.nextafter(powers, np.float32(0)),
            np.nextafter(powers, np.float32(1e10)),
            np.float32([0.0, -0.0, 5e-7, -5e-7, 1.5e-6, -2.5e-6, 0.5, 99999999.0, 999999936.0, -123456.789]),
            (rng.standard_normal(20_000) * 4).astype(np.float32),
        ]
    )
    rows = values[: len(values) // 100 * 100].reshape(-1, 100)
    expected = [("".join("%f " % value for value in row.tolist()) + "\n").encode() for row in rows]
    assert encode_fixed_lines(rows) == expected
    assert encode_fixed_lines(np.float32([[np.nan, -np.inf, 1e10, -0.0]])) == [
        b"nan -inf 10000000000.000000 -0.000000 \n"
    ]
