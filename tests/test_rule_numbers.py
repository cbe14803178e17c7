"""Issue 25, rule 4 (``shufflenet_ascend.bounds``): every number that enters, as a flag or as a field of a file, is
checked for its type, a finite value and a sane range where it enters.

Each case is what a user (or a corrupt file) could give; each must end in one line on stderr naming the flag or the
file, exit status 2, no traceback (no 23 GB allocation, no ``inf`` printed), and the work folder byte-identical."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from rule_files import KEYS, PERF, a_comparison, a_record, a_work_folder, perf_text, summary_text

from conftest import REPO_ROOT, assert_one_line, snapshot
from shufflenet_ascend.bounds import BATCH_SIZE, CHIPS_PER_CARD, PERCENT, Bound
from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.preprocess.bin_sizes import expected_bin_bytes


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """Perf files, a summary, a dump folder and its labels, bins of 224 x 224 (uint8 and float32)."""
    a_work_folder(tmp_path)
    for dtype in ("uint8", "float32"):
        (tmp_path / f"bins_{dtype}").mkdir()
        for key in KEYS:
            (tmp_path / f"bins_{dtype}" / f"ILSVRC2012_val_0000000{key[-1]}.bin").write_bytes(
                bytes(expected_bin_bytes(dtype))
            )
    return tmp_path


def write(relative: str, text: str) -> Callable[[Path], None]:
    def setup(work: Path) -> None:
        (work / relative).write_text(text)

    return setup


def comparison(**changes: object) -> Callable[[Path], None]:
    """A comparison JSON (compare.json) with ``changes``; json.dumps writes nan and inf as NaN and Infinity."""
    return write("compare.json", json.dumps(a_comparison(**changes)))


def both(*setups: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(work: Path) -> None:
        for one in setups:
            one(work)

    return setup


LAYER_CSV = "Index,OpType,NPUDump,GroundTruth,CosineSimilarity,MaxAbsoluteError\n0,Conv,Conv_0,Conv_0,0.9995,0.01\n"
# msit's own words stay readable: N/A (not compared), NaN (a cosine it could not compute), inf (an overflow's error).
LAYER_MSIT_WORDS = "1,TransData,trans1,*,N/A,N/A\n2,Mul,hs1,Mul_2,NaN,inf\n"
REPORT = ["write_report.py", "report.md"]
NONE = None
CASES: dict[str, tuple[Callable[[Path], None] | None, list[str], str]] = {
    # Flags.
    "pth2onnx batch size 3,000,000,000": (
        NONE,
        ["shufflenetv2_pth2onnx.py", "random", "x.onnx", "3000000000"],
        "BATCH_SIZE: '3000000000': expected a whole number from 1 to 1024",
    ),
    "stand-in -streams=1e20": (
        NONE,
        ["benchmark_ort.py", "-om_path=x.onnx", "-round=1", "-streams=1e20"],
        "-streams=1e20: expected a whole number from 0 to 256",
    ),
    "stand-in -streams=10**20": (
        NONE,
        ["benchmark_ort.py", "-om_path=x.onnx", "-round=1", "-streams=100000000000000000000"],
        "expected a whole number from 0 to 256",
    ),
    "stand-in -batch_size=3000000000": (
        NONE,
        ["benchmark_ort.py", "-om_path=x.onnx", "-round=1", "-batch_size=3000000000"],
        "-batch_size=3000000000: expected a whole number from 1 to 1024",
    ),
    "stand-in --batchsize 99999999999999999999": (
        NONE,
        ["benchmark_ort.py", "--model", "x.onnx", "--batchsize", "99999999999999999999"],
        "--batchsize=99999999999999999999: expected a whole number from 1 to 1024",
    ),
    "stand-in --loop=0 (as -round=0)": (NONE, ["benchmark_ort.py", "--model", "x.onnx", "--loop=0"], "--loop=0"),
    "stand-in -round=0": (NONE, ["benchmark_ort.py", "-om_path=x.onnx", "-round=0"], "-round=0: expected"),
    "stand-in -duration=1e300": (
        NONE,
        ["benchmark_ort.py", "-om_path=x.onnx", "-duration=1e300"],
        "-duration=1e300: expected a number from 0 to 86400",
    ),
    "stand-in -device_id=-1": (NONE, ["benchmark_ort.py", "-om_path=x.onnx", "-round=1", "-device_id=-1"], "-1"),
    "parse_perf --chips 1e30": (NONE, ["parse_perf.py", "result/", "--chips", "1e30"], "--chips: '1e30'"),
    "parse_perf --chips 100": (NONE, ["parse_perf.py", "result/", "--chips", "100"], "from 1 to 8"),
    "write_report --chips 0": (NONE, ["write_report.py", "r.md", "--chips", "0"], "--chips: '0'"),
    "compare_outputs --worst 1e23": (NONE, ["compare_outputs.py", "dump_a", "dump_b", "--worst", "1e23"], "--worst"),
    "compare_outputs --workers 10**9": (
        NONE,
        ["compare_outputs.py", "dump_a", "dump_b", "-j", "1000000000"],
        "expected a whole number from 0 to 1024",
    ),
    "make_demo_dataset --count 3e9": (NONE, ["make_demo_dataset.py", "demo", "--count", "3000000000"], "--count"),
    "make_demo_dataset --seed -1": (NONE, ["make_demo_dataset.py", "demo", "--seed", "-1"], "--seed: '-1'"),
    "quantize --count 0": (NONE, ["quantize.py", "x.onnx", "bins_float32", "--count", "0"], "--count: '0'"),
    "quantize --count 1e9": (NONE, ["quantize.py", "x.onnx", "bins_float32", "--count", "1000000000"], "to 50000"),
    "get_info 256 256 on 224 bins": (
        NONE,
        ["get_info.py", "bin", "bins_uint8", "x.info", "256", "256"],
        "bins_uint8: the bins are 150528 bytes, not an input of 256 x 256",
    ),
    "get_info --dtype float32 on uint8 bins": (
        NONE,
        ["get_info.py", "bin", "bins_uint8", "x.info", "224", "224", "--dtype", "float32"],
        "150528 bytes, not a float32 input",
    ),
    "get_info WIDTH 1e9": (NONE, ["get_info.py", "bin", "bins_uint8", "x.info", "1000000000", "224"], "WIDTH"),
    # Fields of files.
    "labels: class index 1e23": (
        write("val_label.txt", "img_1.JPEG 100000000000000000000000\n"),
        ["imagenet_acc_eval.py", "dump_a", "val_label.txt", "./", "r.json", "--allow-missing"],
        "val_label.txt:1: class index 100000000000000000000000 of img_1.JPEG is not an ImageNet class",
    ),
    "info file: width 1e30": (
        write("x.info", "0 bins_uint8/ILSVRC2012_val_00000001.bin 1000000000000000000000000000000 224\n"),
        ["imagenet_acc_eval.py", "dump_a", "val_label.txt", "./", "r.json", "--inputs", "x.info"],
        "x.info:1: width 1000000000000000000000000000000 is not a whole number from 1 to 4096",
    ),
    "run record: threads '2'": (
        write("result/perf_vision_batchsize_1_device_0.json", a_record(threads="2")),
        ["parse_perf.py", "result/"],
        "impossible threads '2'",
    ),
    "run record: chips_per_card 1e30": (
        write("result/perf_vision_batchsize_1_device_0.json", a_record(kind="ascend", chips_per_card=1e30)),
        ["parse_perf.py", "result/"],
        "chips per card 1e+30",
    ),
    "run record: batch size 3e9": (
        write("result/perf_vision_batchsize_1_device_0.json", a_record(batch_size=3_000_000_000)),
        ["parse_perf.py", "result/"],
        "batch size 3000000000",
    ),
    "run record: latency -1": (
        write("result/perf_vision_batchsize_1_device_0.json", a_record(latency_ms={"median": -1})),
        ["parse_perf.py", "result/"],
        "latency median -1",
    ),
    "perf file: Interface 1e308": (
        write(PERF, perf_text(interface_throughput=1e308)),
        ["parse_perf.py", "result/"],
        "Interface throughputRate 1e+308 is beyond any chip (above 1e+07) of images per second",
    ),
    "perf file: e2e latency inf": (
        write(PERF, perf_text().replace("latency: 400", "latency: inf")),
        ["parse_perf.py", "result/"],
        "[e2e] latency inf is not a latency in ms",
    ),
    "perf file: moduleLatency -1": (
        write(PERF, perf_text(infer_latency_ms=-1)),
        ["parse_perf.py", "result/"],
        "[infer] moduleLatency -1.0 is not a latency in ms",
    ),
    "pure-inference file: latency inf": (
        write(
            "result/PureInfer_perf_of_m_bs1_in_device_0.txt", "ave_throughputRate = 10samples/s, ave_latency = infms\n"
        ),
        ["parse_perf.py", "result/"],
        "ave_latency inf is not a latency in ms",
    ),
    "perf file named for batch 99999999999": (
        write("result/perf_vision_batchsize_99999999999_device_0.txt", perf_text()),
        ["parse_perf.py", "result/"],
        "batch size 99999999999 in the file name",
    ),
    "summary: NPU_compute_time mean -1": (
        write("result/bs1_summary.json", summary_text({"mean": -1})),
        ["parse_perf.py", "result/"],
        "NPU_compute_time mean -1 is not a latency in ms",
    ),
    "summary: NPU_compute_time median Infinity": (
        write("result/bs1_summary.json", summary_text({"median": float("inf")})),
        ["parse_perf.py", "result/"],
        "NPU_compute_time median inf",
    ),
    "summary: throughput 1e308": (
        write("result/bs1_summary.json", summary_text(throughput=1e308)),
        ["parse_perf.py", "result/"],
        "throughput 1e+308",
    ),
    "summary: batchsize 3000000000": (
        write("result/bs1_summary.json", summary_text(args={"batchsize": 3000000000})),
        ["parse_perf.py", "result/"],
        "batchsize 3000000000 in args",
    ),
    "comparison: cosine.min NaN": (
        comparison(**{"cosine.min": float("nan")}),
        [*REPORT, "--comparison", "compare.json"],
        "compare.json: cosine.min nan is not a number from -1 to 1",
    ),
    "comparison: cosine.median 2": (
        comparison(**{"cosine.median": 2}),
        [*REPORT, "--comparison", "compare.json"],
        "compare.json: cosine.median 2 is not a number from -1 to 1",
    ),
    "comparison: max_abs_error Infinity": (
        comparison(**{"max_abs_error.value": float("inf")}),
        [*REPORT, "--comparison", "compare.json"],
        "compare.json: max_abs_error.value inf is not a number from 0 to",
    ),
    "comparison: max_relative_error -1": (
        comparison(**{"max_relative_error.value": -1}),
        [*REPORT, "--comparison", "compare.json"],
        "compare.json: max_relative_error.value -1 is not a number from 0 to",
    ),
    "comparison: images_paired '2'": (
        comparison(images_paired="2"),
        [*REPORT, "--comparison", "compare.json"],
        "compare.json: images_paired '2' is not a whole number from 0 to",
    ),
    "comparison: only_in_candidate count 1e30": (
        comparison(**{"only_in_candidate.count": 1e30}),
        [*REPORT, "--comparison", "compare.json"],
        "compare.json: only_in_candidate.count 1e+30 is not a whole number",
    ),
    "comparison: top1_agreement_percent 101": (
        comparison(top1_agreement_percent=101.0),
        [*REPORT, "--comparison", "compare.json"],
        "compare.json: top1_agreement_percent 101.0 is not a number from 0 to 100",
    ),
    "layer CSV: cosine 2": (
        write("layers.csv", LAYER_CSV + LAYER_MSIT_WORDS + "3,Relu,Relu_3,Relu_3,2,0.1\n"),
        [*REPORT, "--layers", "layers.csv"],
        "layers.csv: row 4: CosineSimilarity 2.0 is not a number from -1 to 1",
    ),
    "layer CSV: cosine inf": (
        write("layers.csv", LAYER_CSV + "1,Relu,Relu_1,Relu_1,inf,0.1\n"),
        [*REPORT, "--layers", "layers.csv"],
        "layers.csv: row 2: CosineSimilarity inf is not a number from -1 to 1",
    ),
    "layer CSV: error -0.5": (
        write("layers.csv", LAYER_CSV + "1,Relu,Relu_1,Relu_1,0.99,-0.5\n"),
        [*REPORT, "--layers", "layers.csv"],
        "layers.csv: row 2: MaxAbsoluteError -0.5 is not a number from 0 to",
    ),
    # A good layer CSV beside a bad input: its plot is not drawn either (the report's inputs are checked first).
    "layer CSV in range, then one out of range": (
        both(write("good.csv", LAYER_CSV), write("layers.csv", LAYER_CSV + "1,Relu,Relu_1,Relu_1,inf,0.1\n")),
        [*REPORT, "--layers", "good.csv", "layers.csv"],
        "layers.csv: row 2: CosineSimilarity inf is not a number from -1 to 1",
    ),
    "layer CSV in range, comparison out of range": (
        both(write("good.csv", LAYER_CSV), comparison(**{"cosine.min": float("nan")})),
        [*REPORT, "--layers", "good.csv", "--comparison", "compare.json"],
        "compare.json: cosine.min nan is not a number from -1 to 1",
    ),
    # An input of the wrong kind, said as what it is.
    "acc_eval on a folder of bins, not dumps": (
        NONE,
        ["imagenet_acc_eval.py", "bins_float32", "val_label.txt", "./", "r.json"],
        "bins_float32: holds preprocessed input bins (ILSVRC2012_val_00000001.bin is 602112 bytes",
    ),
    "compare_outputs on a folder of bins": (
        NONE,
        ["compare_outputs.py", "bins_uint8", "dump_a"],
        "bins_uint8: holds preprocessed input bins",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_number_out_of_range_is_refused_where_it_enters(work: Path, run_script, case: str) -> None:
    setup, args, fragment = CASES[case]
    if setup is not None:
        setup(work)
    before = snapshot(work)
    result = run_script(*args, cwd=work)
    assert_one_line(result, 2, fragment)
    assert "inf" not in result.stdout and not result.stdout.strip()
    assert snapshot(work) == before


@pytest.mark.parametrize("batch_sizes", ["99999999999999999999", "3000000000", "1 2048"])
def test_run_all_refuses_a_batch_size_beyond_a_real_run(tmp_path: Path, batch_sizes: str) -> None:
    env = {key: value for key, value in os.environ.items() if key != "BATCH_SIZES"}
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "run_all.sh"), "--batch-sizes", batch_sizes],
        cwd=tmp_path,
        env={**env, "PYTHON": sys.executable, "ASCEND_ROOT": str(tmp_path / "no-cann")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert_one_line(result, 2, "is not a whole number from 1 to 1024")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("bound", "value", "accepted"),
    [
        (BATCH_SIZE, 1, True),
        (BATCH_SIZE, 1024, True),
        (BATCH_SIZE, 1025, False),
        (BATCH_SIZE, 0, False),
        (BATCH_SIZE, True, False),  # a JSON true is no batch size
        (BATCH_SIZE, 2.0, False),  # nor is a float
        (BATCH_SIZE, "2", False),  # nor a string
        (PERCENT, float("nan"), False),
        (PERCENT, float("inf"), False),
        (PERCENT, 100, True),
        (PERCENT, 100.5, False),
        (CHIPS_PER_CARD, 1e30, False),
        (Bound(0, 1, integer=False, low_open=True), 0.0, False),
    ],
)
def test_a_bound_checks_type_finiteness_and_range(bound: Bound, value: object, accepted: bool) -> None:
    assert bound.accepts(value) is accepted
    if not accepted:
        with pytest.raises(PipelineError, match="is not a"):
            bound.check(value, "the figure")


def test_the_stand_in_help_states_the_ranges(run_script) -> None:
    printed = run_script("benchmark_ort.py", "-help").stdout
    assert "-batch_size (int, default 1, from 1 to 1024)" in printed
    assert "-streams (int, default 0, from 0 to 256)" in printed


def test_a_comparison_and_msits_layer_words_in_range_are_reported(work: Path, run_script) -> None:
    """The bounds refuse only what no tool writes: msit's N/A, NaN and inf and a good comparison make a report."""
    comparison()(work)
    write("layers.csv", LAYER_CSV + LAYER_MSIT_WORDS)(work)
    result = run_script(*REPORT, "--comparison", "compare.json", "--layers", "layers.csv", cwd=work)
    assert result.returncode == 0, result.stderr
    text = (work / "report.md").read_text()
    assert "| compare | result/torch_bs1/ | result/onnx_bs1/ | 3 | 0 | 0.95000000 |" in text
    assert "row 2, Mul hs1" in text
    assert (work / "report_layers.png").stat().st_size > 0 and "(report_layers.png)" in text
