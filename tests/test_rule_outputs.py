"""Issue 25, rule 1 (``shufflenet_ascend.safe_outputs``): an output may not be, or lie inside, an input of the same
command, nor be an existing device, FIFO or folder where a file is wanted, nor escape the folder it is named under.

Every case is a command a user could type; each must end in one line on stderr, exit status 2, no traceback, and
every file of the work folder byte-identical afterwards (nothing written, nothing replaced)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from rule_files import KEYS, PERF, a_record, a_work_folder

from conftest import REPO_ROOT, assert_one_line, snapshot
from shufflenet_ascend.preprocess.bin_sizes import expected_bin_bytes
from tiny_model import HEIGHT, WIDTH, TinyClassifier, export_tiny


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_tiny(TinyClassifier(), tmp_path_factory.mktemp("model") / "tiny_bs1.onnx")


@pytest.fixture
def work(tmp_path: Path, tiny_onnx: Path) -> Path:
    """A work folder as a user has it: a checkpoint, perf files, two dump folders, labels, bins, images, a FIFO."""
    a_work_folder(tmp_path)
    (tmp_path / "CK").write_bytes(b"a checkpoint's bytes")
    (tmp_path / "result/perf_vision_batchsize_1_device_0.json").write_text(a_record())
    (tmp_path / "result_bs1.json").write_text("{}")
    (tmp_path / "bins").mkdir()
    for key in KEYS:
        (tmp_path / "bins" / f"{key}.bin").write_bytes(bytes(expected_bin_bytes("uint8")))
    (tmp_path / "val").mkdir()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(tmp_path / "val" / "a.png")
    (tmp_path / "tiny_bs1.onnx").write_bytes(tiny_onnx.read_bytes())
    (tmp_path / "tinybins").mkdir()
    for key in KEYS:
        (tmp_path / "tinybins" / f"{key}.bin").write_bytes(bytes(3 * HEIGHT * WIDTH * 4))
    (tmp_path / "result/dumpOutput_device0").mkdir()
    for key in KEYS:
        (tmp_path / "result/dumpOutput_device0" / f"{key}.bin").write_bytes(bytes(3 * HEIGHT * WIDTH * 4))
    (tmp_path / "dumpbins.info").write_text(
        "".join(f"{n} result/dumpOutput_device0/{key}.bin {WIDTH} {HEIGHT}\n" for n, key in enumerate(KEYS))
    )
    os.mkfifo(tmp_path / "fifo.csv")
    return tmp_path


CASES = {
    # The list.
    "pth2onnx CK CK 1": (["shufflenetv2_pth2onnx.py", "CK", "CK", "1"], "CK: is an input of this command"),
    "parse_perf --plot onto a perf file": (
        ["parse_perf.py", "result/", "--plot", PERF],
        f"{PERF}: lies inside result, a folder this command reads",
    ),
    "parse_perf --json onto a perf file": (
        ["parse_perf.py", "result/", "--json", PERF],
        "the JSON file's name must end in .json",
    ),
    "parse_perf --json onto a summary": (
        ["parse_perf.py", "result/", "--json", "result/bs1_summary.json"],
        "result/bs1_summary.json: lies inside result,",
    ),
    "parse_perf --json onto a perf file's record": (
        ["parse_perf.py", PERF, "--json", "result/perf_vision_batchsize_1_device_0.json"],
        "is an input of this command",
    ),
    "parse_perf --plot into the folder it reads": (
        ["parse_perf.py", "result/", "--plot", "result/perf.png"],
        "result/perf.png: lies inside result, a folder this command reads",
    ),
    "compare_outputs --json LABELS": (
        ["compare_outputs.py", "dump_a", "dump_b", "--labels", "val_label.txt", "--json", "val_label.txt"],
        "val_label.txt: is an input of this command",
    ),
    "compare_outputs --json into a dump folder": (
        ["compare_outputs.py", "dump_a", "dump_b", "--json", "dump_b/cmp.json"],
        "dump_b/cmp.json: lies inside dump_b",
    ),
    "compare_outputs --json /dev/null": (
        ["compare_outputs.py", "dump_a", "dump_b", "--json", "/dev/null"],
        "/dev/null: is a device, not a regular file",
    ),
    "get_info into its own bin folder": (
        ["get_info.py", "bin", "bins", "bins/prep.info", "224", "224"],
        "bins/prep.info: lies inside bins",
    ),
    "get_info onto its bin folder": (["get_info.py", "bin", "bins", "bins", "224", "224"], "is an input"),
    "acc_eval --predictions /dev/null": (
        ["imagenet_acc_eval.py", "dump_a", "val_label.txt", "./", "r.json", "--predictions", "/dev/null"],
        "/dev/null: is a device",
    ),
    "acc_eval --per-class onto a FIFO": (
        ["imagenet_acc_eval.py", "dump_a", "val_label.txt", "./", "r.json", "--per-class", "fifo.csv"],
        "fifo.csv: is a FIFO",
    ),
    "acc_eval OUT_JSON onto the labels": (
        ["imagenet_acc_eval.py", "dump_a", "val_label.txt", "./", "val_label.txt"],
        "val_label.txt: is an input of this command",
    ),
    "acc_eval JSON and predictions in one file": (
        ["imagenet_acc_eval.py", "dump_a", "val_label.txt", "./", "r.json", "--predictions", "r.json"],
        "r.json: given as two outputs at once",
    ),
    "acc_eval --per-class into its dump folder": (
        ["imagenet_acc_eval.py", "dump_a", "val_label.txt", "./", "r.json", "--per-class", "dump_a/c.csv"],
        "dump_a/c.csv: lies inside dump_a",
    ),
    "acc_eval --predictions onto its --inputs": (
        [
            "imagenet_acc_eval.py",
            "dump_a",
            "val_label.txt",
            "./",
            "r.json",
            "--inputs",
            "bins",
            "--predictions",
            "bins/p.csv",
        ],
        "bins/p.csv: lies inside bins",
    ),  # fmt: skip
    "compare_accuracy has no output; write_report onto an accuracy file": (
        ["write_report.py", "result_bs1.json", "--accuracy", "result_bs1.json"],
        "result_bs1.json: is an input of this command",
    ),
    "write_report into the perf folder it reads": (
        ["write_report.py", "result/report.md", "--perf", "result/"],
        "result/report.md: lies inside result,",
    ),
    "write_report onto a perf file's record": (
        ["write_report.py", "result/perf_vision_batchsize_1_device_0.json", "--perf", PERF],
        "is an input of this command",
    ),
    "compare_layers --csv onto its input bin": (
        ["compare_layers.py", "random", "--fp16", "--input", "bins/img_1.bin", "--csv", "bins/img_1.bin"],
        "bins/img_1.bin: is an input of this command",
    ),
    "write_report's layer plot onto the plot it links": (
        ["write_report.py", "r.md", "--plot", "r_perf.png", "--layers", "perf.csv"],
        "r_perf.png: is an input of this command",
    ),
    "quantize --output onto its model": (
        ["quantize.py", "tiny_bs1.onnx", "tinybins", "--tool", "onnxruntime", "--output", "tiny_bs1.onnx"],
        "tiny_bs1.onnx: is an input of this command",
    ),
    "quantize --output into its calibration bins": (
        ["quantize.py", "tiny_bs1.onnx", "tinybins", "--tool", "onnxruntime", "--output", "tinybins/q.onnx"],
        "tinybins/q.onnx: lies inside tinybins",
    ),
    "preprocess into its source folder": (["imagenet_torch_preprocess.py", "val", "val/out"], "lies inside val"),
    "preprocess onto its source folder": (["imagenet_torch_preprocess.py", "val", "val"], "is an input"),
    "make_demo_dataset onto a file": (["make_demo_dataset.py", "CK"], "CK: is a file, expected a folder"),
    "stand-in --output_dirname ../../x": (
        [
            "benchmark_ort.py",
            "--model",
            "tiny_bs1.onnx",
            "--input",
            "tinybins",
            "--output",
            "result",
            "--output_dirname",
            "../../x",
        ],
        "escapes result, the folder it is named under",
    ),  # fmt: skip
    "stand-in dump folder onto its input folder": (
        [
            "benchmark_ort.py",
            "--model",
            "tiny_bs1.onnx",
            "--input",
            "tinybins",
            "--output",
            ".",
            "--output_dirname",
            "tinybins",
            "--outfmt",
            "BIN",
        ],
        "tinybins: is an input of this command",
    ),  # fmt: skip
    "stand-in summary inside its input folder": (
        [
            "benchmark_ort.py",
            "--model",
            "tiny_bs1.onnx",
            "--input",
            "tinybins",
            "--output",
            "tinybins",
            "--output_dirname",
            "out",
        ],
        "lies inside tinybins",
    ),  # fmt: skip
    # The 2021 tool's layout: bins kept in result/dumpOutput_device0/ (img_1.bin reads as a dump file: the run
    # would have emptied the folder of them before inferring).
    "stand-in dump folder onto the bins of its info file": (
        ["benchmark_ort.py", "-om_path=tiny_bs1.onnx", "-input_text_path=dumpbins.info", "-batch_size=1"],
        "result/dumpOutput_device0: holds inputs of this command",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_an_output_over_an_input_is_refused_before_any_work(work: Path, run_script, case: str) -> None:
    args, fragment = CASES[case]
    before = snapshot(work)
    result = run_script(*args, cwd=work)
    assert_one_line(result, 2, fragment)
    assert snapshot(work) == before


def test_the_same_commands_with_safe_outputs_still_run(work: Path, run_script) -> None:
    """The rule refuses only what it must: the outputs beside the inputs are written."""
    assert run_script("parse_perf.py", "result/", "--json", "perf.json", cwd=work).returncode == 0
    assert run_script("get_info.py", "bin", "bins", "prep.info", "224", "224", cwd=work).returncode == 0
    ran = run_script("compare_outputs.py", "dump_a", "dump_b", "--json", "cmp.json", cwd=work)
    assert ran.returncode == 0, ran.stderr
    assert {"perf.json", "prep.info", "cmp.json"} <= set(snapshot(work))


def test_run_all_refuses_a_work_folder_inside_its_dataset(tmp_path: Path) -> None:
    """The driver's planning calls the same rule before any stage: prep_dataset/ would be made among the images."""
    images = tmp_path / "val"
    images.mkdir()
    Image.new("RGB", (40, 30)).save(images / "a.JPEG")
    before = snapshot(tmp_path)
    env = {key: value for key, value in os.environ.items() if key not in ("DATASET", "WORKDIR")}
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "run_all.sh"), "--dataset", str(images), "--workdir", str(images / "work")],
        cwd=tmp_path,
        env={**env, "PYTHON": sys.executable, "ASCEND_ROOT": str(tmp_path / "no-cann")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert_one_line(result, 2, "work/prep_dataset: lies inside", "a folder this command reads")
    assert snapshot(tmp_path) == before
