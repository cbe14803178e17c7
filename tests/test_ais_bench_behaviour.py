"""ais_bench's behaviours, as its own test suite checks them for a static single-input model, stated as tests and
run against the CPU stand-in (``python benchmark_ort.py``) and, where they apply, against the fake ais_bench
(``python -m ais_bench``, tests/fakes/python): the same command line, only the program changed, so that the two
cannot drift apart. The stand-in runs the tiny ONNX model beside the fake OM (tests/tiny_model.py)."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from shufflenet_ascend.formats.run_record import read_run_record
from shufflenet_ascend.perf import read_perf_file
from tests.conftest import REPO_ROOT
from tests.tiny_model import HEIGHT, WIDTH, TinyClassifier, export_tiny

FAKES = REPO_ROOT / "tests" / "fakes"
TOOLS = {
    "stand-in": (str(REPO_ROOT / "benchmark_ort.py"),),
    "ais_bench": ("-m", "ais_bench"),
}
BOTH = pytest.mark.parametrize("tool", list(TOOLS))
NAMES = [f"ILSVRC2012_val_{index:08d}" for index in (1, 2, 3, 10, 11)]
SUMMARY_RULE = "[INFO] -----------------Performance Summary------------------"
END_RULE = "[INFO] ------------------------------------------------------"
# Some releases print 1000*batchsize(B) without .mean: a reader accepts both.
THROUGHPUT_LINE = re.compile(
    r"^\[INFO\] throughput 1000\*batchsize(?:\.mean)?\((?P<batch>\d+)\)/NPU_compute_time\.mean\((?P<mean>[^)]+)\): "
    r"(?P<value>\S+)$"
)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny_bs<B>.onnx with the fake OM beside it (input image:B,3,32,24), five .bin inputs in bins/, one .npy,
    and the labels the fake plants its scores from."""
    folder = tmp_path_factory.mktemp("ais_bench_behaviour")
    torch.manual_seed(0)
    model = TinyClassifier()
    for batch in (1, 2):
        export_tiny(model, folder / f"tiny_bs{batch}.onnx", batch)
        shape = f"image:{batch},3,{HEIGHT},{WIDTH}"
        (folder / f"tiny_bs{batch}.om").write_text(json.dumps({"fake_om": True, "input_shape": shape}))
    rng = np.random.default_rng(3)
    (folder / "bins").mkdir()
    for name in NAMES:
        rng.uniform(0, 255, (3, HEIGHT, WIDTH)).astype(np.float32).tofile(folder / "bins" / f"{name}.bin")
    np.save(folder / "ILSVRC2012_val_00000020.npy", rng.uniform(0, 255, (3, HEIGHT, WIDTH)).astype(np.float32))
    np.save(folder / "float64.npy", rng.uniform(0, 255, (3, HEIGHT, WIDTH)))
    labels = [*NAMES, "ILSVRC2012_val_00000020"]
    (folder / "val_label.txt").write_text("".join(f"{name}.JPEG {index * 7}\n" for index, name in enumerate(labels)))
    return folder


@functools.cache
def _run(folder: str, tool: str, argv: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FAKE_LABELS": str(Path(folder) / "val_label.txt"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(FAKES / "python"), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [sys.executable, *TOOLS[tool], *argv], cwd=folder, env=env, capture_output=True, text=True, timeout=300
    )


def run(work: Path, tool: str, *argv: object, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """``tool`` with ``argv`` in the work folder (a run with the same arguments is made once per module)."""
    done = _run(str(work), tool, tuple(map(str, argv)))
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def dirname(tool: str, name: str) -> str:
    return f"{name}_{tool.replace('-', '_')}"


def summary_of(work: Path, name: str) -> dict:
    return json.loads((work / "out" / f"{name}_summary.json").read_text())


def blocks(stdout: str) -> list[list[str]]:
    """The printed summary blocks: the lines from each Performance Summary rule to its closing rule."""
    found, current = [], None
    for line in stdout.splitlines():
        if line == SUMMARY_RULE:
            current = [line]
        elif current is not None:
            current.append(line)
            if line == END_RULE:
                found.append(current)
                current = None
    return found


def folder_run(work: Path, tool: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """The folder of five inputs at batch 1, --debug with two warm-up inferences, every summary line."""
    name = dirname(tool, "folder")
    done = run(work, tool, "--model", "./tiny_bs1.om", "--input", "./bins/", "--output", "./out/", "--output_dirname",
               name, "--debug", "true", "--warmup_count", "2", "--display_all_summary", "true")  # fmt: skip
    return done, name


@BOTH
@pytest.mark.parametrize(
    ("form", "inputs", "stems"),
    [
        ("folder", "bins", NAMES),
        ("bin file", f"bins/{NAMES[3]}.bin", [NAMES[3]]),
        ("npy file", "ILSVRC2012_val_00000020.npy", ["ILSVRC2012_val_00000020"]),
        (
            "comma list",
            f"bins/{NAMES[4]}.bin,ILSVRC2012_val_00000020.npy,bins/{NAMES[0]}.bin",
            [NAMES[4], "ILSVRC2012_val_00000020", NAMES[0]],
        ),
    ],
)
def test_one_output_per_input_file(work: Path, tool: str, form: str, inputs: str, stems: list[str]) -> None:
    """--input: a folder, one .bin or .npy file, or a comma-separated list; one <stem>_0.bin per input file."""
    name = dirname(tool, form.replace(" ", "_"))
    run(work, tool, "--model", "./tiny_bs1.om", "--input", inputs, "--output", "./out/", "--output_dirname", name)
    assert sorted(path.name for path in (work / "out" / name).iterdir()) == sorted(f"{s}_0.bin" for s in stems)
    summary = summary_of(work, name)
    assert summary["NPU_compute_time"]["count"] == len(stems)
    outfiles = [Path(out).name for entry in summary["filesinfo"].values() for out in entry["outfiles"]]
    assert outfiles == [f"{stem}_0.bin" for stem in stems]  # in the order of the inputs


@BOTH
def test_debug_prints_a_cost_line_per_inference_warm_up_included(work: Path, tool: str) -> None:
    """--debug true: N + W lines with 'cost :' (N inputs at batch 1, W warm-up inferences); the summary counts N."""
    done, name = folder_run(work, tool)
    assert sum("cost :" in line for line in (done.stdout + done.stderr).splitlines()) == len(NAMES) + 2
    summary = summary_of(work, name)
    for key in ("NPU_compute_time", "H2D_latency", "D2H_latency"):
        assert summary[key]["count"] == len(NAMES)
    without = run(work, tool, "--model", "./tiny_bs1.om", "--input", "./bins/", "--debug", "true", "--warmup_count", 0)
    assert sum("cost :" in line for line in (without.stdout + without.stderr).splitlines()) == len(NAMES)
    refused = run(work, tool, "--model", "./tiny_bs1.om", "--input", "./bins/", "--warmup_count", "-1", ok=False)
    assert refused.returncode != 0


@BOTH
@pytest.mark.parametrize("data", ["zero", "random"])
def test_pure_inference_writes_each_loops_outputs(work: Path, tool: str, data: str) -> None:
    """Without --input, with --output: each loop's outputs; zeros give identical files, random data different
    ones. NPU_compute_time counts the loops, H2D and D2H one copy."""
    name = dirname(tool, f"pure_{data}")
    run(work, tool, "--model", "./tiny_bs1.om", "--loop", 3, "--pure_data_type", data, "--output", "./out/",
        "--output_dirname", name, "--outfmt", "TXT")  # fmt: skip
    files = sorted((work / "out" / name).iterdir())
    assert [path.name for path in files] == [f"pure_infer_data_{loop}_0.txt" for loop in range(3)]
    contents = {path.read_bytes() for path in files}
    assert len(contents) == (1 if data == "zero" else 3)
    summary = summary_of(work, name)
    assert summary["NPU_compute_time"]["count"] == 3
    assert summary["H2D_latency"]["count"] == summary["D2H_latency"]["count"] == 1


@BOTH
def test_the_printed_summary_block_and_its_throughput(work: Path, tool: str) -> None:
    """The block line for line; the throughput line parsed back: B, T and X = 1000 x B / T (within the printing
    of T), and the summary's throughput equal to X; --display_all_summary: H2D before, D2H after."""
    done, name = folder_run(work, tool)
    (block,) = blocks(done.stdout)
    assert [line.split(" (ms)")[0] for line in block[1:4]] == [
        "[INFO] H2D_latency",
        "[INFO] NPU_compute_time",
        "[INFO] D2H_latency",
    ]
    assert re.fullmatch(
        r"\[INFO\] NPU_compute_time \(ms\): min = \S+, max = \S+, mean = \S+, median = \S+, percentile\(99%\) = \S+",
        block[2],
    )
    match = THROUGHPUT_LINE.match(block[4])
    assert match and len(block) == 6
    batch, mean, value = int(match["batch"]), float(match["mean"]), float(match["value"])
    summary = summary_of(work, name)
    assert batch == 1  # from the model (no --batchsize)
    assert value == pytest.approx(1000 * batch / mean, rel=1e-9)
    assert summary["throughput"] == pytest.approx(value, rel=1e-12)
    assert summary["NPU_compute_time"]["mean"] == pytest.approx(mean, rel=1e-12)
    # Batch 2, without --display_all_summary: the four lines; B read from the model.
    pure = run(work, tool, "--model", "./tiny_bs2.om", "--loop", 4)
    (block,) = blocks(pure.stdout)
    assert len(block) == 4 and block[1].startswith("[INFO] NPU_compute_time (ms): min = ")
    match = THROUGHPUT_LINE.match(block[2])
    assert match and int(match["batch"]) == 2
    assert float(match["value"]) == pytest.approx(2000 / float(match["mean"]), rel=1e-9)


def test_the_stand_ins_own_figure_is_named_apart(work: Path) -> None:
    """The stand-in's wall-clock rate (its streams computing at once) has its own line after the block, its own
    summary key and record field; parse_perf reads ais_bench's throughput as the Interface figure of the device
    and the wall-clock rate as the e2e figure of a dataset run (none for pure inference)."""
    done, name = folder_run(work, "stand-in")
    wall_clock = [line for line in done.stdout.splitlines() if line.startswith("[INFO] stand-in wall-clock")]
    assert len(wall_clock) == 1 and done.stdout.splitlines().index(wall_clock[0]) > done.stdout.splitlines().index(
        END_RULE
    )
    summary = summary_of(work, name)
    assert float(re.search(r"throughput: (\S+) images/s", wall_clock[0])[1]) == pytest.approx(
        summary["wall_clock_throughput"], rel=1e-5
    )
    record = read_run_record(work / "out" / f"{name}_record.json")
    assert record.wall_clock_throughput == summary["wall_clock_throughput"]
    row = read_perf_file(work / "out" / f"{name}_summary.json").row
    assert (row.interface_fps, row.e2e_fps) == (summary["throughput"], summary["wall_clock_throughput"])
    pure = dirname("stand-in", "pure_zero")
    run(work, "stand-in", "--model", "./tiny_bs1.om", "--loop", 3, "--pure_data_type", "zero", "--output", "./out/",
        "--output_dirname", pure, "--outfmt", "TXT")  # fmt: skip
    row = read_perf_file(work / "out" / f"{pure}_summary.json").row
    assert row.e2e_fps is None and row.interface_fps == summary_of(work, pure)["throughput"]


@BOTH
def test_several_devices_in_one_command(work: Path, tool: str) -> None:
    """--device 0,1: one printed block per device. The stand-in splits the images between the devices (one
    contiguous shard each, as run_all.sh's shards): two summaries whose images add up."""
    name = dirname(tool, "two")
    done = run(work, tool, "--model", "./tiny_bs1.om", "--input", "./bins/", "--output", "./out/",
               "--output_dirname", name, "--device", "0,1")  # fmt: skip
    assert len(blocks(done.stdout)) == 2
    summaries = [summary_of(work, f"{name}_device{device}") for device in (0, 1)]
    assert [summary["args"]["device"] for summary in summaries] == [0, 1]
    if tool == "stand-in":
        counts = [summary["NPU_compute_time"]["count"] for summary in summaries]
        assert counts == [2, 3] and sum(counts) == len(NAMES)
        outputs = [sorted(path.name for path in (work / "out" / f"{name}_device{d}").iterdir()) for d in (0, 1)]
        assert outputs[0] + outputs[1] == [f"{stem}_0.bin" for stem in NAMES]
        for device, summary in enumerate(summaries):
            record = read_run_record(work / "out" / f"{name}_device{device}_record.json")
            assert record.images == counts[device] and record.streams == max(1, len(os.sched_getaffinity(0)) // 2)
            assert record.threads == 1
            assert summary["throughput"] == pytest.approx(1000 / summary["NPU_compute_time"]["mean"], rel=1e-12)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dymBatch", "4"], "--dymBatch: ais_bench's flag for a dynamic-batch OM; the stand-in runs a static"),
        (["--aipp_config", "aipp.config"], "--aipp_config: ais_bench's flag for an OM with a dynamic AIPP stage"),
        (["--dymShape=image:1,3,32,24"], "--dymShape: ais_bench's flag for dynamic shapes"),
        (["--device", "0,0"], "--device=0,0: a device is named twice"),
        (["--device", "0,x"], "--device=0,x: expected a device id"),
        (["--pure_data_type", "ones"], "--pure_data_type=ones: expected zero or random"),
        (["--batchsize", "2"], "the model has a static batch of 1 but -batch_size=2"),
        (["--input", "bins,ILSVRC2012_val_00000020.npy"], "bins is a folder; a list names files"),
        (["--input", "bins/missing.bin"], "bins/missing.bin: input not found"),
        (["--input", "float64.npy"], "float64.npy: a .npy of float64 values; the inputs are float32 (CHW) or uint8"),
    ],
)
def test_what_the_stand_in_cannot_do_is_one_line_and_exit_2(work: Path, argv: list[str], message: str) -> None:
    done = run(work, "stand-in", "--model", "./tiny_bs1.om", "--loop", 1, *argv, ok=False)
    assert done.returncode == 2 and message in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2 and "Traceback" not in done.stderr


def test_a_dynamic_image_size_model_is_refused(work: Path, tmp_path: Path) -> None:
    """An ONNX model whose height and width are dynamic (ais_bench's dynamic shapes): one line, exit 2."""
    path = tmp_path / "dynamic.onnx"
    import onnx

    model = onnx.load(work / "tiny_bs1.onnx")
    for axis in (2, 3):
        model.graph.input[0].type.tensor_type.shape.dim[axis].dim_param = f"d{axis}"
    onnx.save(model, path)
    done = run(work, "stand-in", "--model", path, "--loop", 1, ok=False)
    assert done.returncode == 2 and "the model's input size is dynamic" in done.stderr
