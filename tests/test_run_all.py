"""run_all.sh end to end: on the demo with the real onnxruntime stand-in, and on a faked Ascend host."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ascend_io import read_accuracy_json, read_labels
from conftest import REPO_ROOT

BATCH_SIZES = "1 16"  # 16 does not divide the demo's 40 images: the stand-in's padding is on the path too
DEMO_IMAGES = 40

# The guide's command lines (sections 3.2 and 5.2), for batch size 1.
GUIDE_ATC = (
    'atc --framework=5 --model=./shufflenetv2_bs1.onnx --input_format=NCHW --input_shape="image:1,3,224,224" '
    "--output=shufflenetv2_bs1 --log=debug --soc_version=Ascend310"
)
GUIDE_BENCHMARK = (
    "./benchmark.x86_64 -model_type=vision -device_id=0 -batch_size=1 -om_path=shufflenetv2_bs1.om "
    "-input_text_path=./shufflenetv2_prep_bin.info -input_width=224 -input_height=224 -output_binary=False "
    "-useDvpp=False"
)


def guide_command(template: str, batch_size: int) -> list[str]:
    """The guide's batch-1 command for another batch size, split as the shell would."""
    text = (template.replace("bs1", f"bs{batch_size}").replace("image:1,", f"image:{batch_size},")
            .replace("-batch_size=1", f"-batch_size={batch_size}"))
    return shlex.split(text)[1:]


def clone_working_tree(dst: Path) -> Path:
    """A git repository holding the working tree's files (tracked and new), as a user's fresh clone would."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO_ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (REPO_ROOT / name).is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, dst / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git + ["init", "-q"], cwd=dst, check=True)
    subprocess.run(git + ["add", "-A"], cwd=dst, check=True)
    subprocess.run(git + ["commit", "-qm", "clone"], cwd=dst, check=True)
    return dst


def run_all(*args: str, cwd: Path, env: dict[str, str] | None = None,
            script: Path = REPO_ROOT / "run_all.sh") -> subprocess.CompletedProcess[str]:
    # The options' environment variables of the caller must not leak into the run under test.
    mirrored = {"CHECKPOINT", "DATASET", "LABELS", "BATCH_SIZES", "WORKDIR", "DEVICE_ID", "SOC_VERSION"}
    full_env = {name: value for name, value in os.environ.items() if name not in mirrored}
    full_env.update({"PYTHON": sys.executable, "ASCEND_ROOT": str(cwd / "no-cann"), **(env or {})})
    return subprocess.run(["bash", str(script), *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=1200)


def skipped_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip().startswith("skipped:")]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The quick start, in place in a fresh clone: ``bash run_all.sh`` with the demo and random weights."""
    clone = clone_working_tree(tmp_path_factory.mktemp("clone"))
    result = run_all("--batch-sizes", BATCH_SIZES, cwd=clone, script=clone / "run_all.sh")
    return clone, result


def test_demo_run_writes_every_output_of_the_guide(demo_run):
    clone, result = demo_run
    assert result.returncode == 0, result.stdout + result.stderr
    assert "RANDOM weights" in result.stderr and "MEANINGLESS" in result.stderr
    assert len(list((clone / "demo" / "val").iterdir())) == DEMO_IMAGES
    assert len(list((clone / "prep_dataset").glob("*.bin"))) == DEMO_IMAGES
    assert all(path.stat().st_size == 602112 for path in (clone / "prep_dataset").glob("*.bin"))
    info_lines = (clone / "shufflenetv2_prep_bin.info").read_text().splitlines()
    assert len(info_lines) == DEMO_IMAGES and info_lines[0].endswith(" 224 224")
    for batch_size in BATCH_SIZES.split():
        assert (clone / f"shufflenetv2_bs{batch_size}.onnx").stat().st_size > 1_000_000
        assert (clone / "result" / f"perf_vision_batchsize_{batch_size}_device_0.txt").is_file()
        accuracy = read_accuracy_json(clone / f"result_bs{batch_size}.json")
        assert (accuracy.images, accuracy.classes, len(accuracy.top_k_percent)) == (DEMO_IMAGES, 1000, 5)
    # Only the last batch size's dump is left, complete: one output per image.
    assert len(list((clone / "result" / "dumpOutput_device0").glob("*_1.txt"))) == DEMO_IMAGES
    assert (clone / "perf.png").stat().st_size > 0
    # The summary: the perf table and the accuracy table, with the random-weights caveat.
    assert "not checked (random weights)" in result.stdout
    assert "open source" in result.stdout and "74.10" in result.stdout
    assert result.stdout.count("==> [inference bs") == len(BATCH_SIZES.split())


def test_same_model_gives_same_accuracy_at_every_batch_size(demo_run):
    clone, _ = demo_run
    results = {read_accuracy_json(clone / f"result_bs{b}.json") for b in BATCH_SIZES.split()}
    assert len(results) == 1


def test_demo_run_leaves_git_status_clean(demo_run):
    clone, _ = demo_run
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=clone,
                            capture_output=True, text=True, check=True).stdout
    assert status == ""


def test_second_run_skips_completed_stages(demo_run):
    clone, _ = demo_run
    onnx_mtime = (clone / "shufflenetv2_bs1.onnx").stat().st_mtime_ns
    accuracy_mtime = (clone / "result_bs16.json").stat().st_mtime_ns
    again = run_all("--batch-sizes", BATCH_SIZES, cwd=clone, script=clone / "run_all.sh")
    assert again.returncode == 0, again.stdout + again.stderr
    skipped = "\n".join(skipped_lines(again.stdout))
    for expected in ("demo dataset", "shufflenetv2_bs1.onnx", "shufflenetv2_bs16.onnx", "prep_dataset/",
                     "shufflenetv2_prep_bin.info", "result_bs1.json", "result_bs16.json"):
        assert expected in skipped
    commands = [line.split()[2] for line in again.stdout.splitlines() if line.startswith("    $ ")]
    assert [Path(command).name for command in commands] == ["parse_perf.py", "compare_accuracy.py"]
    assert (clone / "shufflenetv2_bs1.onnx").stat().st_mtime_ns == onnx_mtime
    assert (clone / "result_bs16.json").stat().st_mtime_ns == accuracy_mtime


# ---------------------------------------------------------------------------------------------------------------
# The Ascend path, with fake tools that record their command lines.

FAKE_ATC = """#!{python}
import json, os, sys
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps({{"tool": "atc", "cwd": os.getcwd(), "argv": sys.argv[1:]}}) + "\\n")
output = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--output=")][0]
open(output + ".om", "wb").write(b"fake om")
"""

# Puts each image's true label at rank (index % 6): ranks 0..4 count for top-(rank+1), rank 5 is a miss.
# Writes txt outputs with 6 decimals and the guide's perf file, independently of the project's code.
FAKE_BENCHMARK = """#!{python}
import json, os, sys
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps({{"tool": "benchmark", "cwd": os.getcwd(), "argv": sys.argv[1:]}}) + "\\n")
flags = dict(a.lstrip("-").split("=", 1) for a in sys.argv[1:])
labels = {{}}
for line in open(os.environ["FAKE_LABELS"]):
    name, label = line.split()
    labels[name.rsplit(".", 1)[0]] = int(label)
dump = os.path.join("result", "dumpOutput_device" + flags["device_id"])
os.makedirs(dump, exist_ok=True)
for line in open(flags["input_text_path"]):
    index, path, width, height = line.split()
    key = os.path.basename(path).rsplit(".", 1)[0]
    label, rank = labels[key], int(index) % 6
    others = [c for c in range(1000) if c != label]
    order = others[:rank] + [label] + others[rank:]
    scores = [0.0] * 1000
    for position, cls in enumerate(order):
        scores[cls] = 10.0 - position * 0.001
    with open(os.path.join(dump, key + "_1.txt"), "w") as out:
        out.write(" ".join("%.6f" % s for s in scores) + " \\n")
with open(os.path.join("result", "perf_vision_batchsize_%s_device_%s.txt" % (flags["batch_size"], flags["device_id"])), "w") as perf:
    perf.write("[e2e] throughputRate: 117.471, latency: 425636\\n[data read] throughputRate: 124.47, moduleLatency: 8.03407\\n"
               "[preprocess] throughputRate: 124.375, moduleLatency: 8.04019\\n"
               "[infer] throughputRate: 117.823, Interface throughputRate: 147.93, moduleLatency: 7.93347\\n"
               "[post] throughputRate: 117.822, moduleLatency: 8.48734\\n")
"""


@pytest.fixture(scope="module")
def ascend_host(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A fake CANN tree whose atc env.sh puts on PATH, and a fake benchmark.<arch> on PATH."""
    root = tmp_path_factory.mktemp("ascend")
    atc_bin = root / "Ascend" / "ascend-toolkit" / "latest" / "atc" / "bin"
    tools = root / "tools"
    atc_bin.mkdir(parents=True)
    tools.mkdir()
    (atc_bin / "atc").write_text(FAKE_ATC.format(python=sys.executable))
    benchmark = tools / f"benchmark.{os.uname().machine}"
    benchmark.write_text(FAKE_BENCHMARK.format(python=sys.executable))
    for tool in (atc_bin / "atc", benchmark):
        tool.chmod(0o755)
    workdir = root / "work"
    log = root / "calls.jsonl"
    env = {"ASCEND_ROOT": str(root / "Ascend"), "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}",
           "FAKE_LOG": str(log), "FAKE_LABELS": str(workdir / "demo" / "val_label.txt")}
    first = run_all("--workdir", str(workdir), "--batch-sizes", BATCH_SIZES, cwd=root, env=env)
    calls_after_first = log.read_text().splitlines()
    second = run_all("--workdir", str(workdir), "--batch-sizes", BATCH_SIZES, cwd=root, env=env)
    return {"workdir": workdir, "first": first, "second": second,
            "calls": [json.loads(line) for line in calls_after_first],
            "calls_after_second": log.read_text().splitlines()}


def test_ascend_path_runs_the_guides_command_lines(ascend_host):
    first = ascend_host["first"]
    assert first.returncode == 0, first.stdout + first.stderr
    assert "CANN 5.0.1 environment" in first.stderr
    calls = ascend_host["calls"]
    atc_calls = [call["argv"] for call in calls if call["tool"] == "atc"]
    benchmark_calls = [call["argv"] for call in calls if call["tool"] == "benchmark"]
    assert atc_calls == [guide_command(GUIDE_ATC, b) for b in (1, 16)]
    assert benchmark_calls == [guide_command(GUIDE_BENCHMARK, b) for b in (1, 16)]
    assert all(Path(call["cwd"]) == ascend_host["workdir"] for call in calls)
    assert guide_command(GUIDE_ATC, 1) == shlex.split(GUIDE_ATC)[1:]  # the substitution keeps batch 1 as written


def test_ascend_path_accuracy_from_the_tools_dump(ascend_host):
    workdir = ascend_host["workdir"]
    assert len(read_labels(workdir / "demo" / "val_label.txt")) == DEMO_IMAGES
    # Ranks index % 6 over 40 images: 7 at each of ranks 0..3, 6 at rank 4, 6 misses.
    ranks = np.arange(DEMO_IMAGES) % 6
    expected = tuple(round(100 * float(np.mean(ranks < k)), 2) for k in range(1, 6))
    assert expected == (17.5, 35.0, 52.5, 70.0, 85.0)
    for batch_size in BATCH_SIZES.split():
        accuracy = read_accuracy_json(workdir / f"result_bs{batch_size}.json")
        assert accuracy.top_k_percent == expected
    assert "591.72" in ascend_host["first"].stdout  # the perf table reads what the tool wrote: 147.93 x 4


def test_ascend_path_second_run_calls_no_tool(ascend_host):
    second = ascend_host["second"]
    assert second.returncode == 0, second.stdout + second.stderr
    assert len(ascend_host["calls_after_second"]) == len(ascend_host["calls"])
    skipped = "\n".join(skipped_lines(second.stdout))
    assert "shufflenetv2_bs1.om is up to date" in skipped and "shufflenetv2_bs16.om is up to date" in skipped


# ---------------------------------------------------------------------------------------------------------------
# Failures stop the run and name the stage.


def test_missing_dataset_stops_at_the_dataset_stage(tmp_path):
    result = run_all("--dataset", "no/such/folder", "--batch-sizes", "1", cwd=tmp_path)
    assert result.returncode != 0
    assert 'stage "dataset"' in result.stderr and "no/such/folder" in result.stderr
    assert not list(tmp_path.glob("*.onnx"))


def test_bad_checkpoint_stops_at_the_export_stage(tmp_path):
    checkpoint = tmp_path / "broken.pth.tar"
    checkpoint.write_bytes(b"this is not a checkpoint")
    result = run_all("--checkpoint", str(checkpoint), "--batch-sizes", "1", cwd=tmp_path)
    assert result.returncode != 0
    assert 'stage "export" failed' in result.stderr
    assert "broken.pth.tar" in result.stderr
    assert not list(tmp_path.glob("*.onnx")) and not (tmp_path / "prep_dataset").exists()


@pytest.mark.parametrize("bad_arguments, message", [
    (["--batch-sizes", "1 x"], "'x' is not a positive integer"),
    (["--device-id", "-1"], "not a non-negative integer"),
    (["--frobnicate", "1"], "unknown option --frobnicate"),
    (["stray"], "unexpected argument 'stray'"),
    (["--workdir"], "needs a value"),
])
def test_usage_errors(tmp_path, bad_arguments, message):
    result = run_all(*bad_arguments, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_help_names_every_option(tmp_path):
    result = run_all("--help", cwd=tmp_path)
    assert result.returncode == 0
    for option in ("--checkpoint", "--dataset", "--labels", "--batch-sizes", "--workdir", "--device-id", "SOC_VERSION"):
        assert option in result.stdout
