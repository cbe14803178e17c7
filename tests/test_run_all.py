"""run_all.sh end to end: on the demo with the real CPU stand-in, and on faked Ascend hosts (tests/fakes: atc,
benchmark.<arch>, npu-smi on PATH; ais_bench on PYTHONPATH).

Full runs are few (each takes up to a minute on 2 cores): module fixtures run them once, and scenarios that
start from a finished run work on a copy of its work folder (mtimes kept, so the stamps stay valid)."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO_ROOT
from shufflenet_ascend.formats.accuracy_json import read_accuracy_json
from shufflenet_ascend.formats.dump import list_dump_outputs, read_dump
from shufflenet_ascend.formats.labels import read_labels
from shufflenet_ascend.formats.run_record import read_run_record
from shufflenet_ascend.layers import read_layer_csv

BATCH_SIZES = "1 16"  # 16 does not divide the demo's 40 images: the last batch's padding is on the path too
DEMO_IMAGES = 40
FAKES = REPO_ROOT / "tests" / "fakes"
ARCH = os.uname().machine

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
# The current guide's ais_bench command (issue 9), after `python3 -m ais_bench`.
GUIDE_AIS_BENCH = (
    "--model ./shufflenetv2_bs1.om --input ./prep_dataset/ --output ./result/ --output_dirname bs1 "
    "--outfmt TXT --batchsize 1 --device 0"
)


def guide_command(template: str, batch_size: int) -> list[str]:
    """The guide's batch-1 command for another batch size, split as the shell would (program name dropped)."""
    text = (
        template.replace("bs1", f"bs{batch_size}")
        .replace("image:1,", f"image:{batch_size},")
        .replace("-batch_size=1", f"-batch_size={batch_size}")
        .replace("--batchsize 1", f"--batchsize {batch_size}")
    )
    return shlex.split(text)[1:] if not text.startswith("--") else shlex.split(text)


def clone_working_tree(dst: Path) -> Path:
    """A git repository holding the working tree's files (tracked and new), as a user's fresh clone would."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_symlink():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            (dst / name).symlink_to(os.readlink(source))
        elif source.is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dst / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git + ["init", "-q"], cwd=dst, check=True)
    subprocess.run(git + ["add", "-A"], cwd=dst, check=True)
    subprocess.run(git + ["commit", "-qm", "clone"], cwd=dst, check=True)
    return dst


MIRRORED = {
    "CHECKPOINT",
    "DATASET",
    "LABELS",
    "BATCH_SIZES",
    "WORKDIR",
    "DEVICE_ID",
    "DEVICES",
    "SOC_VERSION",
    "TOOL",
    "BACKEND",
    "COMPARE",
    "FAKE_LOG",
    "FAKE_LABELS",
    "FAKE_FAIL_DEVICE",
    "PRECISION",
    "CALIBRATION_IMAGES",
    "CALIBRATION_DATASET",
    "CALIBRATION_CONFIG",
}


def run_env(cwd: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    # The options' environment variables of the caller must not leak into the run under test.
    full_env = {name: value for name, value in os.environ.items() if name not in MIRRORED}
    full_env.update({"PYTHON": sys.executable, "ASCEND_ROOT": str(cwd / "no-cann"), **(env or {})})
    return full_env


def run_all(
    *args: str, cwd: Path, env: dict[str, str] | None = None, script: Path = REPO_ROOT / "run_all.sh"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *args], cwd=cwd, env=run_env(cwd, env), capture_output=True, text=True, timeout=1200
    )


def skipped_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip().startswith("skipped:")]


def commands_run(output: str) -> list[list[str]]:
    """The command lines run_all.sh announced ("    $ ..."), split as the shell would (the devices' too)."""
    found = []
    for line in output.splitlines():
        match = re.match(r"^    (?:\[device \d+\] )?\$ (.*)$", line)
        if match:
            found.append(shlex.split(match.group(1)))
    return found


def scripts_run(output: str) -> list[str]:
    return [Path(command[1] if command[0] == sys.executable else command[0]).name for command in commands_run(output)]


def copy_workdir(src: Path, dst: Path) -> Path:
    """A copy of a finished work folder, mtimes kept (copy2), so its stamps stay valid."""
    shutil.copytree(src, dst, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    return dst


def tools_dir(root: Path, *names: str) -> Path:
    """A folder of links to the chosen fake tools, for PATH."""
    folder = root / ("tools-" + "-".join(names) if names else "tools-none")
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        link = folder / name
        if not link.exists():
            link.symlink_to(FAKES / "bin" / name)
    return folder


def fake_cann(root: Path) -> Path:
    """A CANN 5.0.1 tree whose atc/bin holds the fake atc (env.sh puts it on PATH); returns ASCEND_ROOT."""
    atc_bin = root / "Ascend" / "ascend-toolkit" / "latest" / "atc" / "bin"
    atc_bin.mkdir(parents=True, exist_ok=True)
    if not (atc_bin / "atc").exists():
        (atc_bin / "atc").symlink_to(FAKES / "bin" / "atc")
    return root / "Ascend"


def fake_env(
    root: Path, log: Path, labels: Path, tools: Path, cann: bool = True, ais_bench: bool = False, **extra: str
) -> dict[str, str]:
    env = {
        "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}",
        "FAKE_LOG": str(log),
        "FAKE_LABELS": str(labels),
        **extra,
    }
    if cann:
        env["ASCEND_ROOT"] = str(fake_cann(root))
    if ais_bench:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(FAKES / "python"), os.environ.get("PYTHONPATH")]))
    return env


def read_calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def planted_accuracy(labels: Path) -> tuple[float, ...]:
    """What the fakes plant: each image's label at rank (its line number in the label file modulo 6)."""
    ranks = np.arange(len([line for line in labels.read_text().splitlines() if line.strip()])) % 6
    return tuple(round(100 * float(np.mean(ranks < k)), 2) for k in range(1, 6))


def dump_keys(folder: Path) -> set[str]:
    return set(list_dump_outputs(folder))


# ---------------------------------------------------------------------------------------------------------------
# The quick start on the demo, with the CPU stand-in.


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The quick start, in place in a fresh clone: ``bash run_all.sh`` with the demo and random weights."""
    clone = clone_working_tree(tmp_path_factory.mktemp("clone"))
    result = run_all("--batch-sizes", BATCH_SIZES, cwd=clone, script=clone / "run_all.sh")
    assert result.returncode == 0, result.stdout + result.stderr
    return clone, result


def test_demo_run_writes_every_output_of_the_guide(demo_run):
    clone, result = demo_run
    assert "RANDOM weights" in result.stderr and "MEANINGLESS" in result.stderr
    assert "inference tool: stand-in" in result.stdout and "no OM files" in result.stdout
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
        # Each batch size's outputs are kept (a label change re-scores them without inference): one per image.
        assert len(list((clone / "result" / f"dumpOutput_device0_bs{batch_size}").glob("*_1.txt"))) == DEMO_IMAGES
    assert not (clone / "result" / "dumpOutput_device0").exists()
    assert (clone / "perf.png").stat().st_size > 0
    # The summary: the perf table of the stand-in (1 chip, labelled with the machine) and the accuracy table.
    parse_perf = [c for c in commands_run(result.stdout) if c[1].endswith("parse_perf.py")][0]
    assert parse_perf[parse_perf.index("--chips") + 1] == "1" and "--label" in parse_perf
    assert "cores, onnxruntime" in result.stdout
    assert "not checked (random weights)" in result.stdout
    assert "open source" in result.stdout and "74.10" in result.stdout
    assert result.stdout.count("==> [inference bs") == len(BATCH_SIZES.split())
    # Not a subset: missing outputs would fail the accuracy step.
    assert "--allow-missing" not in result.stdout


def test_demo_run_compares_the_stand_in_with_the_pytorch_reference(demo_run):
    clone, result = demo_run
    for folder in ("reference", "reference_fp16"):
        assert dump_keys(clone / "result" / folder) == dump_keys(clone / "result" / "dumpOutput_device0_bs1")
    onnx = json.loads((clone / "compare_bs1_onnx_vs_torch.json").read_text())
    assert onnx["images_paired"] == DEMO_IMAGES and onnx["top1_agreement_percent"] == 100.0
    fp16 = json.loads((clone / "compare_fp16_vs_torch.json").read_text())
    assert fp16["images_paired"] == DEMO_IMAGES
    assert not (clone / "compare_bs16_onnx_vs_torch.json").exists()  # --compare first: the first batch size
    torch_runs = [
        c
        for c in commands_run(result.stdout)
        if c[1].endswith("benchmark_ort.py") and any(a.startswith("-backend=torch") for a in c)
    ]
    assert [
        sorted(a for a in c if a.startswith(("-backend", "-om_path", "-model_size", "-seed"))) for c in torch_runs
    ] == [
        ["-backend=torch", "-model_size=Small", "-om_path=random", "-seed=0"],
        ["-backend=torch-fp16", "-model_size=Small", "-om_path=random", "-seed=0"],
    ]


def test_demo_run_writes_the_report(demo_run):
    clone, result = demo_run
    report = (clone / "report.md").read_text()
    assert report.strip()
    command = [c for c in commands_run(result.stdout) if c[1].endswith("write_report.py")][0]
    assert "--random-weights" in command and "compare_bs1_onnx_vs_torch.json" in command
    assert "result_bs1.json" in command and "result_bs16.json" in command


def test_demo_run_compares_layer_by_layer_in_float16(demo_run):
    clone, result = demo_run
    first_bin = (clone / "shufflenetv2_prep_bin.info").read_text().split()[1].removeprefix("./")
    runs = [c[2:] for c in commands_run(result.stdout) if c[1].endswith("compare_layers.py")]
    csv_file = "layers_bs1_fp16_vs_onnx.csv"
    assert runs == [["shufflenetv2_bs1.onnx", "--fp16", "--input", first_bin, "--csv", csv_file]]
    rows = read_layer_csv(clone / csv_file)
    assert len(rows) > 400 and sum(row.paired for row in rows) > 400
    assert "msit" not in result.stdout  # the stand-in's run: no OM to compare
    report = (clone / "report.md").read_text()
    assert "## Layer by layer" in report and f"[{csv_file}]({csv_file})" in report
    assert "every compared layer has cosine >= 0.99" in report or "first layer below cosine 0.99" in report
    assert "(report_layers_bs1_fp16_vs_onnx.png)" in report
    assert (clone / "report_layers_bs1_fp16_vs_onnx.png").stat().st_size > 0
    command = [c for c in commands_run(result.stdout) if c[1].endswith("write_report.py")][0]
    assert command[command.index("--layers") + 1] == csv_file


README_SAMPLE_START = "<!-- sample output of: bash run_all.sh -->"
README_SAMPLE_END = "<!-- end of sample output -->"


def line_shape(line: str) -> str:
    """A printed line with what changes from run to run made generic: paths, numbers, the CPU's name, spacing."""
    line = re.sub(r"(?<!\S)(?:\S*/)?python[0-9.]*(?!\S)", "<python>", line)  # python3, or the tests' interpreter
    line = re.sub(r"\S*/\S*", "<path>", line)
    line = re.sub(r"\d+(?:[.,]\d+)*", "<n>", line)
    line = re.sub(r"-{3,}", "---", line)  # a table's rule is as wide as its columns
    line = re.sub(r"(--label '?|measured on: |runs on )[^,']*?, <n> cores", r"\1<cpu>, <n> cores", line)
    return re.sub(r"(?<!\S)(\S+)(?: \1)+(?!\S)", r"\1", " ".join(line.split()))  # one batch size or five


def test_readme_sample_output_has_the_shape_of_what_run_all_prints(demo_run):
    _, result = demo_run
    readme = (REPO_ROOT / "README.md").read_text()
    assert README_SAMPLE_START in readme and README_SAMPLE_END in readme, (
        f"README.md has no sample output of run_all.sh between {README_SAMPLE_START!r} and {README_SAMPLE_END!r}"
    )
    block = readme.split(README_SAMPLE_START, 1)[1].split(README_SAMPLE_END, 1)[0]
    sample = [line for line in block.strip().splitlines() if line.strip() and not line.startswith("```")]
    assert sample, "README.md's sample output block is empty"
    printed = [line_shape(line) for line in result.stdout.splitlines()]
    # In order; a table's rows (one or two per batch size: the dataset run, the pure run) may stand for any printed
    # row of their shape after the table's header, since the demo runs other batch sizes than the sample shows.
    start = end = 0
    for line in sample:
        shape = line_shape(line)
        row = re.match(r"\s*\d", line) is not None
        begin = start if row else end
        assert shape in printed[begin:], (
            f"README.md's sample line {line!r} (shape {shape!r}) is not printed by run_all.sh in this order; "
            "the demo run printed:\n" + result.stdout
        )
        found = printed.index(shape, begin)
        end = max(end, found)
        if not row:
            start = found


def test_same_model_gives_same_accuracy_at_every_batch_size(demo_run):
    clone, _ = demo_run
    results = {read_accuracy_json(clone / f"result_bs{b}.json") for b in BATCH_SIZES.split()}
    assert len(results) == 1


def test_demo_run_leaves_git_status_clean(demo_run):
    clone, _ = demo_run
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=clone, capture_output=True, text=True, check=True
    ).stdout
    assert status == ""


def test_second_run_skips_completed_stages(demo_run, tmp_path):
    clone, _ = demo_run
    onnx_mtime = (clone / "shufflenetv2_bs1.onnx").stat().st_mtime_ns
    accuracy_mtime = (clone / "result_bs16.json").stat().st_mtime_ns
    again = run_all("--batch-sizes", BATCH_SIZES, cwd=clone, script=clone / "run_all.sh")
    assert again.returncode == 0, again.stdout + again.stderr
    skipped = "\n".join(skipped_lines(again.stdout))
    for expected in (
        "demo dataset",
        "shufflenetv2_bs1.onnx",
        "shufflenetv2_bs16.onnx",
        "prep_dataset/",
        "shufflenetv2_prep_bin.info",
        "result_bs1.json",
        "result_bs16.json",
        "result/reference/",
        "compare_bs1_onnx_vs_torch.json",
    ):
        assert expected in skipped
    assert scripts_run(again.stdout) == ["parse_perf.py", "write_report.py", "compare_accuracy.py"]
    assert (clone / "shufflenetv2_bs1.onnx").stat().st_mtime_ns == onnx_mtime
    assert (clone / "result_bs16.json").stat().st_mtime_ns == accuracy_mtime


def test_label_only_change_rescores_without_inference(demo_run, tmp_path):
    clone, _ = demo_run
    work = copy_workdir(clone, tmp_path / "work")
    # Labels = the model's own top-1 on half of the images: a real figure that the old labels did not give.
    dump = clone / "result" / "dumpOutput_device0_bs1"
    lines = []
    for number, line in enumerate((clone / "demo" / "val_label.txt").read_text().splitlines()):
        name, label = line.split()
        predicted = int(np.argmax(read_dump(dump / f"{name.rsplit('.', 1)[0]}_1.txt")))
        lines.append(f"{name} {predicted if number % 2 == 0 else label}")
    new_labels = tmp_path / "val_label.txt"
    new_labels.write_text("\n".join(lines) + "\n")
    result = run_all(
        "--batch-sizes",
        BATCH_SIZES,
        "--dataset",
        str(clone / "demo" / "val"),
        "--labels",
        str(new_labels),
        cwd=work,
        script=clone / "run_all.sh",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    scripts = scripts_run(result.stdout)
    assert "benchmark_ort.py" not in scripts and "imagenet_torch_preprocess.py" not in scripts
    assert scripts.count("imagenet_acc_eval.py") == 2 and "compare_outputs.py" in scripts
    expected = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "imagenet_acc_eval.py"),
            str(dump),
            str(new_labels),
            str(tmp_path),
            "expected.json",
        ],
        capture_output=True,
        text=True,
    )
    assert expected.returncode == 0, expected.stderr
    assert (work / "result_bs1.json").read_text() == (tmp_path / "expected.json").read_text()
    assert read_accuracy_json(work / "result_bs1.json").top_k_percent[0] >= 50.0


def test_deleted_prep_dataset_is_redone_and_summary_shows_this_run_only(demo_run, tmp_path):
    clone, _ = demo_run
    work = copy_workdir(clone, tmp_path / "work")
    shutil.rmtree(work / "prep_dataset")  # .run_all/preprocess.done stays
    result = run_all(
        "--batch-sizes",
        "1",
        "--compare",
        "none",
        "--dataset",
        str(clone / "demo" / "val"),
        cwd=work,
        script=clone / "run_all.sh",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "imagenet_torch_preprocess.py" in scripts_run(result.stdout)
    for name in os.listdir(clone / "prep_dataset"):
        if name.endswith(".bin"):
            assert (work / "prep_dataset" / name).read_bytes() == (clone / "prep_dataset" / name).read_bytes()
    assert (work / "result_bs1.json").read_text() == (clone / "result_bs1.json").read_text()
    # bs16's files of the earlier run are still in result/, but this run's summary holds bs1 only.
    assert (work / "result" / "perf_vision_batchsize_16_device_0.txt").exists()
    parse_perf = [c for c in commands_run(result.stdout) if c[1].endswith("parse_perf.py")][0]
    assert [a for a in parse_perf if "perf_vision" in a] == ["result/perf_vision_batchsize_1_device_0.txt"]
    assert "perf_vision_batchsize_16" not in result.stdout
    assert [c[-1] for c in commands_run(result.stdout) if c[1].endswith("compare_accuracy.py")] == ["result_bs1.json"]


def test_two_runs_in_one_work_folder_one_refuses(demo_run, tmp_path):
    clone, _ = demo_run
    work = copy_workdir(clone, tmp_path / "work")
    for batch_size in BATCH_SIZES.split():
        (work / f"result_bs{batch_size}.json").unlink()  # the first run has some work to do
    args = [
        "bash",
        str(clone / "run_all.sh"),
        "--batch-sizes",
        BATCH_SIZES,
        "--compare",
        "none",
        "--dataset",
        str(clone / "demo" / "val"),
    ]
    first = subprocess.Popen(
        args, cwd=work, env=run_env(work), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lock = work / ".run_all" / "lock"
    while first.poll() is None and not (lock.exists() and lock.read_text().startswith(f"pid {first.pid}:")):
        time.sleep(0.05)
    second = subprocess.run(args, cwd=work, env=run_env(work), capture_output=True, text=True, timeout=600)
    out, err = first.communicate(timeout=1200)
    assert first.returncode == 0, out + err
    assert second.returncode != 0
    assert len(second.stderr.strip().splitlines()) == 1
    assert str(work) in second.stderr and f"pid {first.pid}" in second.stderr and "in use" in second.stderr
    for batch_size in BATCH_SIZES.split():
        assert (work / f"result_bs{batch_size}.json").read_text() == (clone / f"result_bs{batch_size}.json").read_text()


def test_a_held_lock_names_its_holder(tmp_path):
    (tmp_path / ".run_all").mkdir()
    lock = tmp_path / ".run_all" / "lock"
    lock.write_text("pid 4242: bash run_all.sh --batch-sizes 1\n")
    with open(lock) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = run_all("--batch-sizes", "1", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"run_all.sh: error: work folder {tmp_path} is in use by another run of "
        "run_all.sh (pid 4242: bash run_all.sh --batch-sizes 1); wait for it to end"
    )
    assert sorted(os.listdir(tmp_path)) == [".run_all"] and os.listdir(tmp_path / ".run_all") == ["lock"]


def test_subset_run_is_judged_over_the_images_run(demo_run, tmp_path):
    clone, _ = demo_run
    work = copy_workdir(clone, tmp_path / "work")
    subset = tmp_path / "subset" / "val"
    subset.mkdir(parents=True)
    for name in sorted(os.listdir(clone / "demo" / "val"))[:30]:
        shutil.copy2(clone / "demo" / "val" / name, subset / name)
    labels = clone / "demo" / "val_label.txt"
    result = run_all(
        "--batch-sizes",
        "1",
        "--compare",
        "none",
        "--dataset",
        str(subset),
        "--labels",
        str(labels),
        cwd=work,
        script=clone / "run_all.sh",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "subset: 30 of 40 labelled images" in result.stdout
    assert "removed 10" in result.stderr  # the bins of the 10 images not in the subset
    acc_eval = [c for c in commands_run(result.stdout) if c[1].endswith("imagenet_acc_eval.py")]
    assert len(acc_eval) == 1 and acc_eval[0][acc_eval[0].index("--inputs") + 1] == "./shufflenetv2_prep_bin.info"
    assert "--allow-missing" not in acc_eval[0]
    # Issue 18, case 2: the figure is over the 30 images run, not the 40 labelled (the others are no misses).
    assert read_accuracy_json(work / "result_bs1.json").images == 30
    assert "subset: 30 of 40 labelled images" in (work / "report.md").read_text()
    assert len(list((work / "prep_dataset").glob("*.bin"))) == 30
    assert dump_keys(work / "result" / "dumpOutput_device0_bs1") == {n.rsplit(".", 1)[0] for n in os.listdir(subset)}


def test_two_devices_with_the_stand_in(demo_run, tmp_path):
    clone, _ = demo_run
    work = copy_workdir(clone, tmp_path / "work")
    result = run_all(
        "--batch-sizes",
        "1",
        "--compare",
        "none",
        "--devices",
        "0 1",
        "--dataset",
        str(clone / "demo" / "val"),
        cwd=work,
        script=clone / "run_all.sh",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    runs = [c for c in commands_run(result.stdout) if c[1].endswith("benchmark_ort.py")]
    cores = len(os.sched_getaffinity(0))
    assert sorted(a for c in runs for a in c if a.startswith("-device_id")) == ["-device_id=0", "-device_id=1"]
    for command in runs:  # each process gets its share of the cores
        assert f"-streams={max(1, cores // 2)}" in command and "-threads=1" in command
    shards = [set(dump_keys(work / "result" / f"dumpOutput_device{d}_bs1")) for d in (0, 1)]
    assert not shards[0] & shards[1] and len(shards[0]) + len(shards[1]) == DEMO_IMAGES
    assert shards[0] | shards[1] == dump_keys(clone / "result" / "dumpOutput_device0_bs1")
    assert (work / "result_bs1.json").read_text() == (clone / "result_bs1.json").read_text()
    assert "measured card throughput (2 devices at once: 0 1)" in result.stdout
    assert "extrapolation" not in result.stdout  # a CPU has no card (issue 17)
    assert re.search(
        r"bs1: [0-9.]+ img/s \(sum of the 2 devices' Interface rates\); [0-9.]+ img/s \(40 images", result.stdout
    )


def test_backend_openvino_is_passed_to_the_stand_in(demo_run, tmp_path):
    clone, _ = demo_run
    work = copy_workdir(clone, tmp_path / "work")
    result = run_all(
        "--batch-sizes",
        "1",
        "--compare",
        "none",
        "--backend",
        "openvino",
        "--dataset",
        str(clone / "demo" / "val"),
        cwd=work,
        script=clone / "run_all.sh",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    runs = [c for c in commands_run(result.stdout) if c[1].endswith("benchmark_ort.py")]
    assert len(runs) == 2 and all("-backend=openvino" in run for run in runs)  # the dataset run and the pure run
    parse_perf = [c for c in commands_run(result.stdout) if c[1].endswith("parse_perf.py")][0]
    assert parse_perf[-1].endswith(", openvino") and "cores," in parse_perf[-1]
    assert dump_keys(work / "result" / "dumpOutput_device0_bs1") == dump_keys(
        clone / "result" / "dumpOutput_device0_bs1"
    )


# ---------------------------------------------------------------------------------------------------------------
# Changed datasets: the interrupted run of another dataset, then an in-place change.


def _predictions(onnx_file: Path, bins: Path) -> dict[str, int]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    found = {}
    for path in sorted(bins.glob("*.bin")):
        image = np.fromfile(path, dtype=np.float32).reshape(1, 3, 224, 224)
        found[path.stem] = int(np.argmax(session.run(None, {"image": image})[0]))
    return found


def _clean_accuracy(work: Path, images: Path, labels: Path, scratch: Path) -> str:
    """The accuracy JSON of a clean run's steps on IMAGES (fresh bins, info, stand-in, accuracy) with WORK's ONNX."""
    scratch.mkdir()
    steps = [
        ["imagenet_torch_preprocess.py", str(images), "./prep_dataset"],
        ["get_info.py", "bin", "./prep_dataset", "./clean.info", "224", "224"],
        [
            "benchmark_ort.py",
            "-batch_size=1",
            f"-om_path={work / 'shufflenetv2_bs1.onnx'}",
            "-input_text_path=./clean.info",
        ],
        ["imagenet_acc_eval.py", "result/dumpOutput_device0/", str(labels), "./", "clean.json"],
    ]
    for script, *args in steps:
        done = subprocess.run(
            [sys.executable, str(REPO_ROOT / script), *args], cwd=scratch, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    return (scratch / "clean.json").read_text()


@pytest.fixture(scope="module")
def changed_datasets(demo_run, tmp_path_factory: pytest.TempPathFactory) -> dict:
    clone, _ = demo_run
    root = tmp_path_factory.mktemp("changes")
    # D: the demo (mtimes kept, so it is the very dataset of the demo run); X: another one, same file names.
    dataset = root / "D"
    shutil.copytree(clone / "demo", dataset)
    other = root / "X"
    made = subprocess.run(
        [sys.executable, str(REPO_ROOT / "make_demo_dataset.py"), str(other), "--seed", "1"],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    x_bins = root / "x_bins"
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "imagenet_torch_preprocess.py"), str(other / "val"), str(x_bins)],
        capture_output=True,
        check=True,
    )
    onnx_file = clone / "shufflenetv2_bs1.onnx"
    predicted_d = _predictions(onnx_file, clone / "prep_dataset")
    predicted_x = _predictions(onnx_file, x_bins)
    # Labels that make the accuracy discriminating: the model's own top-1 on D (a clean run scores 100%).
    names = {path.stem: path.name for path in (dataset / "val").iterdir()}
    (dataset / "val_label.txt").write_text("".join(f"{names[k]} {v}\n" for k, v in sorted(predicted_d.items())))

    # 1. What an interrupted first run on X leaves (its bins), then run_all on D in the same work folder.
    work = root / "work"
    work.mkdir()
    shutil.copytree(x_bins, work / "prep_dataset")
    first = run_all(
        "--dataset", str(dataset / "val"), "--batch-sizes", "1", "--compare", "none", "--workdir", str(work), cwd=root
    )
    first_json = (work / "result_bs1.json").read_text() if first.returncode == 0 else None
    first_bins = {p.name: p.read_bytes() for p in (work / "prep_dataset").glob("*.bin")}

    # 2. In place: one image replaced by X's image of the same name (a different top-1), one removed, one added.
    replaced = next(k for k in sorted(predicted_d) if predicted_x.get(k, predicted_d[k]) != predicted_d[k])
    removed = next(k for k in sorted(predicted_d) if k != replaced)
    x_names = {path.stem: path for path in (other / "val").iterdir()}
    target = dataset / "val" / names[replaced]
    target.unlink()
    shutil.copyfile(x_names[replaced], target)  # new content, new mtime, same name
    (dataset / "val" / names[removed]).unlink()
    added = "added_00000001" + x_names[replaced].suffix
    shutil.copyfile(x_names[replaced], dataset / "val" / added)
    labels = {k: v for k, v in predicted_d.items() if k != removed}
    labels[replaced] = predicted_x[replaced]
    labels["added_00000001"] = predicted_x[replaced]
    file_names = {**names, "added_00000001": added}
    (dataset / "val_label.txt").write_text("".join(f"{file_names[k]} {v}\n" for k, v in sorted(labels.items())))
    second = run_all(
        "--dataset", str(dataset / "val"), "--batch-sizes", "1", "--compare", "none", "--workdir", str(work), cwd=root
    )
    clean = _clean_accuracy(work, dataset / "val", dataset / "val_label.txt", root / "clean")
    return {
        "clone": clone,
        "work": work,
        "first": first,
        "first_json": first_json,
        "first_bins": first_bins,
        "second": second,
        "clean_json": clean,
        "replaced": replaced,
        "removed": removed,
        "dataset": dataset,
    }


def test_bins_of_an_interrupted_run_on_another_dataset_are_not_reused(changed_datasets):
    first = changed_datasets["first"]
    assert first.returncode == 0, first.stdout + first.stderr
    assert "prep_dataset: holds bins of another dataset" in first.stderr
    clone = changed_datasets["clone"]
    expected_bins = {p.name: p.read_bytes() for p in (clone / "prep_dataset").glob("*.bin")}
    assert changed_datasets["first_bins"] == expected_bins
    # A clean run on D with these labels: the model's own top-1, so 100% everywhere.
    assert changed_datasets["first_json"] == (
        '{"title": "Overall statistical evaluation", "value": [{"key": "Number of images", "value": "40"}, '
        '{"key": "Number of classes", "value": "1000"}, {"key": "Top1 accuracy", "value": "100.0%"}, '
        '{"key": "Top2 accuracy", "value": "100.0%"}, {"key": "Top3 accuracy", "value": "100.0%"}, '
        '{"key": "Top4 accuracy", "value": "100.0%"}, {"key": "Top5 accuracy", "value": "100.0%"}]}'
    )


def test_an_in_place_change_of_the_dataset_is_noticed(changed_datasets):
    second, work = changed_datasets["second"], changed_datasets["work"]
    assert second.returncode == 0, second.stdout + second.stderr
    assert "done 2, skipped 38" in second.stderr and "removed 1" in second.stderr  # replaced and added; removed
    assert (work / "result_bs1.json").read_text() == changed_datasets["clean_json"]
    assert read_accuracy_json(work / "result_bs1.json").top_k_percent[0] == 100.0
    keys = {p.stem for p in (work / "prep_dataset").glob("*.bin")}
    assert changed_datasets["removed"] not in keys and "added_00000001" in keys and len(keys) == DEMO_IMAGES
    fresh = work.parent / "clean" / "prep_dataset"
    for path in fresh.glob("*.bin"):
        assert (work / "prep_dataset" / path.name).read_bytes() == path.read_bytes()


# ---------------------------------------------------------------------------------------------------------------
# The seed guide's Ascend host: fake atc (in a CANN 5.0.1 tree) and fake benchmark.<arch>, no npu-smi.


@pytest.fixture(scope="module")
def ascend_host(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("ascend")
    workdir = root / "work"
    log = root / "calls.jsonl"
    labels = workdir / "demo" / "val_label.txt"
    env = fake_env(root, log, labels, tools_dir(root, f"benchmark.{ARCH}", "msit"))
    first = run_all("--workdir", str(workdir), "--batch-sizes", BATCH_SIZES, cwd=root, env=env)
    calls_after_first = read_calls(log)
    second = run_all("--workdir", str(workdir), "--batch-sizes", BATCH_SIZES, cwd=root, env=env)
    return {
        "root": root,
        "workdir": workdir,
        "first": first,
        "second": second,
        "calls": calls_after_first,
        "calls_after_second": read_calls(log),
        "env": env,
        "log": log,
        "labels": labels,
    }


def test_ascend_path_runs_the_guides_command_lines(ascend_host):
    first = ascend_host["first"]
    assert first.returncode == 0, first.stdout + first.stderr
    assert "CANN 5.0.1 environment" in first.stderr
    assert "soc version: Ascend310 (npu-smi not found" in first.stdout
    assert "inference tool: benchmark:" in first.stdout
    calls = ascend_host["calls"]
    atc_calls = [call["argv"] for call in calls if call["tool"] == "atc"]
    benchmark_calls = [call["argv"] for call in calls if call["tool"] == "benchmark" and call.get("mode") != "pure"]
    assert atc_calls == [guide_command(GUIDE_ATC, b) for b in (1, 16)]
    assert benchmark_calls == [guide_command(GUIDE_BENCHMARK, b) for b in (1, 16)]
    assert all(Path(call["cwd"]) == ascend_host["workdir"] for call in calls)
    assert guide_command(GUIDE_ATC, 1) == shlex.split(GUIDE_ATC)[1:]  # the substitution keeps batch 1 as written


def test_ascend_path_accuracy_from_the_tools_dump(ascend_host):
    workdir = ascend_host["workdir"]
    assert len(read_labels(workdir / "demo" / "val_label.txt")) == DEMO_IMAGES
    expected = planted_accuracy(ascend_host["labels"])
    assert expected == (17.5, 35.0, 52.5, 70.0, 85.0)  # 40 images: 7 at each of ranks 0..3, 6 at rank 4, 6 misses
    for batch_size in BATCH_SIZES.split():
        assert read_accuracy_json(workdir / f"result_bs{batch_size}.json").top_k_percent == expected
    assert "591.72" in ascend_host["first"].stdout  # the perf table reads what the tool wrote: 147.93 x 4


def test_ascend_path_compares_the_om_outputs_with_the_onnx_stand_in(ascend_host):
    workdir, first = ascend_host["workdir"], ascend_host["first"]
    assert dump_keys(workdir / "result" / "onnx_bs1") == dump_keys(workdir / "result" / "dumpOutput_device0_bs1")
    comparison = json.loads((workdir / "compare_bs1_om_vs_onnx.json").read_text())
    assert comparison["images_paired"] == DEMO_IMAGES
    assert comparison["reference"].rstrip("/") == "result/onnx_bs1"
    assert comparison["candidate"].rstrip("/") == "result/dumpOutput_device0_bs1"
    assert not comparison["passed"]  # the fake's planted scores are not the model's
    assert "misses a threshold" in first.stdout
    report = [c for c in commands_run(first.stdout) if c[1].endswith("write_report.py")][0]
    assert report[report.index("--soc-version") + 1] == "Ascend310" and "compare_bs1_om_vs_onnx.json" in report
    assert (workdir / "report.md").is_file()
    # The stand-in's own perf file did not replace the tool's.
    assert (
        "Interface throughputRate: 147.93" in (workdir / "result" / "perf_vision_batchsize_1_device_0.txt").read_text()
    )


def test_ascend_path_compares_the_om_layer_by_layer_with_msit(ascend_host):
    workdir, first = ascend_host["workdir"], ascend_host["first"]
    first_bin = (workdir / "shufflenetv2_prep_bin.info").read_text().split()[1].removeprefix("./")
    msit = [call for call in ascend_host["calls"] if call["tool"] == "msit"]
    assert [call["argv"] for call in msit] == [
        ["debug", "compare", "-gm", "./shufflenetv2_bs1.onnx", "-om", "./shufflenetv2_bs1.om", "-i", first_bin,
         "-o", "result/msit_bs1"]
    ]  # fmt: skip
    assert Path(msit[0]["cwd"]) == workdir
    # msit's result CSV (OUT/<timestamp>/result_<timestamp>.csv) is read back into the same first-layer line.
    planted = "row 3, Conv2D /features/features.0/branch_main/branch_main.0/Conv (PyTorch module "
    line = next(
        line for line in first.stdout.splitlines() if "layers_bs1_om_vs_onnx.csv (from result/msit_bs1/" in line
    )
    assert f"first layer below cosine 0.99: {planted}features.0.branch_main.0): cosine 0.950000" in line
    assert (workdir / "layers_bs1_fp16_vs_onnx.csv").is_file()  # the CPU's float16 prediction runs here too
    command = [c for c in commands_run(first.stdout) if c[1].endswith("write_report.py")][0]
    assert command[command.index("--layers") + 1 :][:2] == ["layers_bs1_fp16_vs_onnx.csv", "layers_bs1_om_vs_onnx.csv"]
    report = (workdir / "report.md").read_text()
    assert "the OM on the NPU against its ONNX file (msit debug compare)" in report and planted in report
    assert (workdir / "report_layers_bs1_om_vs_onnx.png").stat().st_size > 0


def test_a_failing_msit_is_said_and_the_run_goes_on(ascend_host, tmp_path):
    work = copy_workdir(ascend_host["workdir"], tmp_path / "work")
    (work / "layers_bs1_om_vs_onnx.csv").unlink()  # msit's comparison is made again
    tools = tools_dir(tmp_path, f"benchmark.{ARCH}")
    (tools / "msit").write_text('#!/bin/sh\necho "[ERROR] msit: no NPU answered" >&2\nexit 3\n')
    (tools / "msit").chmod(0o755)
    env = {**ascend_host["env"], "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}", "FAKE_LOG": str(tmp_path / "log")}
    done = run_all("--workdir", str(work), "--batch-sizes", BATCH_SIZES, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "msit: no NPU answered" in done.stderr
    assert "NOTE: msit debug compare failed (see above): the OM is not compared layer by layer (exit status 3)" in (
        done.stdout
    )
    assert "NOTE: msit wrote no result CSV under result/msit_bs1/" in done.stdout
    report = [c for c in commands_run(done.stdout) if c[1].endswith("write_report.py")][0]
    assert report[report.index("--layers") + 1] == "layers_bs1_fp16_vs_onnx.csv"
    assert "layers_bs1_om_vs_onnx.csv" not in report
    assert (work / "report.md").is_file()


def test_ascend_path_second_run_calls_no_tool(ascend_host):
    second = ascend_host["second"]
    assert second.returncode == 0, second.stdout + second.stderr
    assert len(ascend_host["calls_after_second"]) == len(ascend_host["calls"])
    skipped = "\n".join(skipped_lines(second.stdout))
    assert "shufflenetv2_bs1.om is up to date" in skipped and "shufflenetv2_bs16.om is up to date" in skipped
    assert "benchmark_ort.py" not in scripts_run(second.stdout)


@pytest.fixture(scope="module")
def ascend_two_devices(ascend_host, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("two")
    work = copy_workdir(ascend_host["workdir"], root / "work")
    log = root / "calls.jsonl"
    env = {**ascend_host["env"], "FAKE_LOG": str(log), "FAKE_LABELS": str(work / "demo" / "val_label.txt")}
    # (The images of the first run, not the copy's: copied images are other files, whose bins would be redone.)
    dataset = str(ascend_host["workdir"] / "demo" / "val")
    result = run_all("--workdir", str(work), "--batch-sizes", BATCH_SIZES, "--devices", "0 1", "--dataset", dataset,
                     cwd=root, env=env)  # fmt: skip
    return {"work": work, "result": result, "calls": read_calls(log), "root": root, "env": env}


def test_two_devices_with_the_old_tool(ascend_two_devices, ascend_host):
    result, work = ascend_two_devices["result"], ascend_two_devices["work"]
    assert result.returncode == 0, result.stdout + result.stderr
    calls = [call for call in ascend_two_devices["calls"] if call["tool"] == "benchmark" and call.get("mode") != "pure"]
    assert len(calls) == 4
    all_keys = sorted(dump_keys(ascend_host["workdir"] / "result" / "dumpOutput_device0_bs1"))
    for batch_size in BATCH_SIZES.split():
        mine = [c for c in calls if f"-batch_size={batch_size}" in c["argv"]]
        by_device = {}
        for call in mine:
            flags = dict(a.lstrip("-").split("=", 1) for a in call["argv"])
            assert flags["input_text_path"] == f"./shufflenetv2_prep_bin_device{flags['device_id']}.info"
            by_device[flags["device_id"]] = call["keys"]
        assert sorted(by_device) == ["0", "1"]
        assert by_device["0"] + by_device["1"] == all_keys  # contiguous, disjoint, every image once
        assert abs(len(by_device["0"]) - len(by_device["1"])) <= 1
        assert (work / f"result_bs{batch_size}.json").read_text() == (
            ascend_host["workdir"] / f"result_bs{batch_size}.json"
        ).read_text()
    assert "measured card throughput (2 devices at once: 0 1)" in result.stdout
    assert "bs1: 295.86 img/s (sum of the 2 devices' Interface rates)" in result.stdout
    assert "guide's extrapolation 591.72 img/s (one device's mean rate x 4)" in result.stdout


def test_two_devices_outputs_are_compared_together(ascend_two_devices):
    work = ascend_two_devices["work"]
    assert "result/onnx_bs1/ is up to date" in ascend_two_devices["result"].stdout  # same bins, same ONNX file
    comparison = json.loads((work / "compare_bs1_om_vs_onnx.json").read_text())
    assert comparison["images_paired"] == DEMO_IMAGES
    assert comparison["candidate"].rstrip("/") == "result/all_devices_bs1"
    assert comparison["only_in_reference"]["count"] == comparison["only_in_candidate"]["count"] == 0


def test_a_device_that_leaves_outputs_missing_stops_the_run(ascend_two_devices, tmp_path):
    work = copy_workdir(ascend_two_devices["work"], tmp_path / "work")
    (work / ".run_all" / "inference_bs1.done").unlink()
    tools = tmp_path / "tools"
    tools.mkdir()
    # A tool that exits 0 but drops device 1's last output.
    (tools / f"benchmark.{ARCH}").write_text(
        f'#!/bin/sh\n{shlex.quote(str(FAKES / "bin" / "benchmark.x86_64"))} "$@" || exit $?\n'
        'case "$*" in *-device_id=1*) rm -f "$(ls result/dumpOutput_device1/* | tail -n 1)" ;; esac\n'
    )
    (tools / f"benchmark.{ARCH}").chmod(0o755)
    env = {
        **ascend_two_devices["env"],
        "FAKE_LOG": str(tmp_path / "log"),
        "FAKE_LABELS": str(work / "demo" / "val_label.txt"),
        "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}",
    }
    result = run_all(
        "--workdir", str(work), "--batch-sizes", "1", "--devices", "0 1", "--compare", "none", cwd=tmp_path, env=env
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        'run_all.sh: error: stage "inference bs1": device 1: result/dumpOutput_device1_bs1/ holds 19 outputs '
        "for 20 images"
    )
    assert not (work / "result_bs1.json").exists()


def test_a_failing_device_stops_the_run_and_is_named(ascend_two_devices, tmp_path):
    work = copy_workdir(ascend_two_devices["work"], tmp_path / "work")
    (work / ".run_all" / "inference_bs1.done").unlink()
    env = {
        **ascend_two_devices["env"],
        "FAKE_LOG": str(tmp_path / "log"),
        "FAKE_FAIL_DEVICE": "1",
        "FAKE_LABELS": str(work / "demo" / "val_label.txt"),
    }
    result = run_all(
        "--workdir", str(work), "--batch-sizes", "1", "--devices", "0 1", "--compare", "none", cwd=tmp_path, env=env
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        'run_all.sh: error: stage "inference bs1": inference failed on device 1 (exit status 3); '
        "see the lines marked [device <D>] above"
    )
    assert "[device 1] [ERROR] fake benchmark: device 1 is broken" in result.stdout
    assert not (work / "result_bs1.json").exists()


# ---------------------------------------------------------------------------------------------------------------
# Today's Ascend host: ais_bench and npu-smi (310P3), no benchmark.<arch>.


@pytest.fixture(scope="module")
def ais_bench_host(ascend_host, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("ais")
    work = copy_workdir(ascend_host["workdir"], root / "work")
    log = root / "calls.jsonl"
    labels = work / "demo" / "val_label.txt"
    env = fake_env(root, log, labels, tools_dir(root, "npu-smi"), ais_bench=True)
    one = run_all("--workdir", str(work), "--batch-sizes", BATCH_SIZES, "--compare", "none", cwd=root, env=env)
    calls_one = read_calls(log)
    two = run_all(
        "--workdir", str(work), "--batch-sizes", "16", "--devices", "0 1", "--compare", "none", cwd=root, env=env
    )
    return {
        "work": work,
        "one": one,
        "calls_one": calls_one,
        "two": two,
        "calls_two": read_calls(log)[len(calls_one) :],
        "labels": labels,
    }


def test_ais_bench_is_chosen_and_run_as_the_current_guide_writes(ais_bench_host):
    one = ais_bench_host["one"]
    assert one.returncode == 0, one.stdout + one.stderr
    assert "soc version: Ascend310P3 (the first device in 'npu-smi info')" in one.stdout
    assert "inference tool: ais_bench" in one.stdout and "no benchmark." in one.stdout
    calls = ais_bench_host["calls_one"]
    atc = [call["argv"] for call in calls if call["tool"] == "atc"]
    assert atc == [[a.replace("Ascend310", "Ascend310P3") for a in guide_command(GUIDE_ATC, b)] for b in (1, 16)]
    ais = [call["argv"] for call in calls if call["tool"] == "ais_bench" and call.get("mode") != "pure"]
    assert ais == [guide_command(GUIDE_AIS_BENCH, b) for b in (1, 16)]
    announced = [c for c in commands_run(one.stdout) if c[1:3] == ["-m", "ais_bench"]]
    assert [c[:3] for c in announced] == [[sys.executable, "-m", "ais_bench"]] * 4  # dataset and pure, per batch


def test_ais_bench_outputs_are_read_by_every_later_step(ais_bench_host):
    work = ais_bench_host["work"]
    calls = [call for call in ais_bench_host["calls_one"] if call["tool"] == "ais_bench" and call.get("mode") != "pure"]
    keys = sorted(dump_keys(work / "result" / "bs1"))
    assert len(keys) == DEMO_IMAGES
    # bs16 over 40 files: 16 + 16 + 8, the last batch padded with copies of its own first file.
    batches = calls[1]["batches"]
    assert [b["saved"] for b in batches] == [16, 16, 8]
    assert batches[2]["files"][8:] == [batches[2]["files"][0]] * 8
    # (bs16's single-device outputs were replaced by the two-device run of the fixture.)
    folder = work / "result" / "bs1"
    names = sorted(os.listdir(folder))
    assert names == sorted(f"{k}_0.txt" for k in keys)
    assert re.fullmatch(r"(\d+\.\d{6} ){1000}\n", (folder / names[0]).read_text())
    assert json.loads((work / "result" / "bs1_summary.json").read_text())["throughput"] == 500.0
    for batch_size in BATCH_SIZES.split():
        assert read_accuracy_json(work / f"result_bs{batch_size}.json").top_k_percent == planted_accuracy(
            ais_bench_host["labels"]
        )
    parse_perf = [c for c in commands_run(ais_bench_host["one"].stdout) if c[1].endswith("parse_perf.py")][0]
    assert "result/bs1_summary.json" in parse_perf and "result/bs16_summary.json" in parse_perf
    # A 310P3 host: no card extrapolation (an Atlas 300I Pro holds one 310P3, a Duo two: not known from the chip).
    # (As words: a temporary folder's name such as /tmp/tmp.7laYN8wx4f may hold the letters.)
    assert re.search(r"\b(x4|2000)\b", ais_bench_host["one"].stdout) is None
    report = (ais_bench_host["work"] / "report.md").read_text()
    assert re.search(r"(?<!published )card fps", report) is None  # only the guide's published 310 card column


def test_ais_bench_on_two_devices_reads_shard_folders(ais_bench_host):
    two, work = ais_bench_host["two"], ais_bench_host["work"]
    assert two.returncode == 0, two.stdout + two.stderr
    calls = [call for call in ais_bench_host["calls_two"] if call["tool"] == "ais_bench" and call.get("mode") != "pure"]
    by_device = {}
    for call in calls:
        argv = call["argv"]
        device = argv[argv.index("--device") + 1]
        assert argv[argv.index("--input") + 1] == f"./prep_dataset_device{device}/"
        assert argv[argv.index("--output_dirname") + 1] == f"bs16_device{device}"
        by_device[device] = [name for batch in call["batches"] for name in batch["files"][: batch["saved"]]]
    assert sorted(by_device) == ["0", "1"]
    assert not set(by_device["0"]) & set(by_device["1"])
    assert sorted(by_device["0"] + by_device["1"]) == sorted(f"{k}.bin" for k in dump_keys(work / "result" / "bs1"))
    assert (work / "result_bs16.json").read_text() == (work / "result_bs1.json").read_text()
    assert "bs16: 1000.00 img/s (sum of the 2 devices' Interface rates)" in two.stdout
    assert not list(work.glob("prep_dataset_device*"))  # the folders of links are removed after the run


# ---------------------------------------------------------------------------------------------------------------
# The environment stage: tool choice and chip name (each run stops at the dataset stage: no such folder).


@pytest.mark.parametrize(
    "tools, om, ais, tool_option, expected",
    [
        (
            (),
            False,
            False,
            "auto",
            "inference tool: stand-in: benchmark_ort.py (CPU stand-in, onnxruntime, ONNX file); why: auto: no OM files",
        ),
        (
            (),
            True,
            False,
            "auto",
            "inference tool: stand-in: benchmark_ort.py (CPU stand-in, onnxruntime, ONNX file); "
            "why: auto: OM files but no tool able to run them",
        ),
        ((f"benchmark.{ARCH}",), True, True, "auto", "inference tool: benchmark:"),
        ((), True, True, "auto", "inference tool: ais_bench:"),
        ((f"benchmark.{ARCH}",), False, True, "auto", "inference tool: stand-in:"),
        ((f"benchmark.{ARCH}",), True, True, "ais_bench", "inference tool: ais_bench: "),
        ((f"benchmark.{ARCH}",), True, False, "stand-in", "why: given (--tool stand-in)"),
    ],
)
def test_tool_choice(tmp_path, tools, om, ais, tool_option, expected):
    if om:
        (tmp_path / "shufflenetv2_bs1.om").write_text("{}")
    env = fake_env(
        tmp_path, tmp_path / "log", tmp_path / "labels", tools_dir(tmp_path, *tools), cann=False, ais_bench=ais
    )
    result = run_all("--batch-sizes", "1", "--tool", tool_option, "--dataset", "nothing", cwd=tmp_path, env=env)
    assert result.returncode == 2 and 'stage "dataset"' in result.stderr
    assert expected in result.stdout
    loud = "the NPU is NOT used" in result.stderr
    assert loud == ("no tool able to run them" in expected)


@pytest.mark.parametrize(
    "tools, om, ais, tool_option, message",
    [
        ((), True, True, "benchmark", f"--tool benchmark: benchmark.{ARCH} not found in the work folder"),
        ((f"benchmark.{ARCH}",), True, False, "ais_bench", "--tool ais_bench: "),
        (
            (f"benchmark.{ARCH}",),
            False,
            False,
            "benchmark",
            "--tool benchmark needs the OM files: atc not found and shufflenetv2_bs1.om missing",
        ),
        ((), False, True, "ais_bench", "--tool ais_bench needs the OM files"),
    ],
)
def test_a_forced_tool_that_is_not_there_is_an_error(tmp_path, tools, om, ais, tool_option, message):
    if om:
        (tmp_path / "shufflenetv2_bs1.om").write_text("{}")
    env = fake_env(
        tmp_path, tmp_path / "log", tmp_path / "labels", tools_dir(tmp_path, *tools), cann=False, ais_bench=ais
    )
    result = run_all("--batch-sizes", "1", "--tool", tool_option, cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith('run_all.sh: error: stage "environment": ' + message)
    assert not list(tmp_path.glob("*.onnx")) and not (tmp_path / "demo").exists()


@pytest.mark.parametrize(
    "npu_smi, name, option, expected",
    [
        (True, "310P3", None, "soc version: Ascend310P3 (the first device in 'npu-smi info')"),
        (True, "310", None, "soc version: Ascend310 (the first device in 'npu-smi info')"),
        (False, None, None, "soc version: Ascend310 (npu-smi not found: the seed guide's chip)"),
        (True, "310P3", "Ascend310B1", "soc version: Ascend310B1 (given)"),
    ],
)
def test_soc_version(tmp_path, npu_smi, name, option, expected):
    tools = tools_dir(tmp_path, *(["npu-smi"] if npu_smi else []))
    env = fake_env(tmp_path, tmp_path / "log", tmp_path / "labels", tools, cann=False, FAKE_NPU_NAME=name or "")
    result = run_all("--dataset", "nothing", *(["--soc-version", option] if option else []), cwd=tmp_path, env=env)
    assert expected in result.stdout


def test_npu_smi_without_a_device_is_an_error(tmp_path):
    env = fake_env(
        tmp_path, tmp_path / "log", tmp_path / "labels", tools_dir(tmp_path, "npu-smi"), cann=False, FAKE_NPU_COUNT="0"
    )
    result = run_all("--dataset", "nothing", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        'run_all.sh: error: stage "environment": npu-smi info lists no device (give --soc-version, e.g. Ascend310)'
    )


def test_atc_gets_the_chip_name_of_npu_smi(ais_bench_host):
    # (The ais_bench host has the fake npu-smi showing 310P3 devices: see test_ais_bench_is_chosen...; this checks
    # that a changed chip name redoes the OM files.)
    calls = ais_bench_host["calls_one"]
    assert [c["argv"][-1] for c in calls if c["tool"] == "atc"] == ["--soc_version=Ascend310P3"] * 2


# ---------------------------------------------------------------------------------------------------------------
# Failures stop the run and name the stage.


def test_missing_dataset_stops_at_the_dataset_stage(tmp_path):
    result = run_all("--dataset", "no/such/folder", "--batch-sizes", "1", cwd=tmp_path)
    assert result.returncode != 0
    assert 'stage "dataset"' in result.stderr and "no/such/folder" in result.stderr
    assert not list(tmp_path.glob("*.onnx"))


def test_the_parent_of_val_is_refused_before_exporting(tmp_path):
    (tmp_path / "imagenet" / "val").mkdir(parents=True)
    (tmp_path / "imagenet" / "val" / "x.JPEG").write_bytes(b"")
    (tmp_path / "imagenet" / "val_label.txt").write_text("x.JPEG 1\n")
    result = run_all("--dataset", "imagenet", "--batch-sizes", "1", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f'run_all.sh: error: stage "dataset": dataset folder {tmp_path}/imagenet holds no images '
        f"(.bmp .jpeg .jpg .png .webp); it has a val/ folder: did you mean --dataset {tmp_path}/imagenet/val?"
    )
    assert not list(tmp_path.glob("*.onnx"))


def test_not_enough_free_space_is_said_before_any_work(tmp_path):
    made = subprocess.run(
        [sys.executable, str(REPO_ROOT / "make_demo_dataset.py"), str(tmp_path / "d"), "--count", "3"],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "df").write_text(
        "#!/bin/sh\necho 'Filesystem 1-blocks Used Available Capacity Mounted on'\n"
        "echo '/dev/x 100000000 99000000 1000000 99% /'\n"
    )
    (tools / "df").chmod(0o755)
    result = run_all(
        "--dataset",
        "d/val",
        "--batch-sizes",
        "1 16",
        "--compare",
        "none",
        cwd=tmp_path,
        env={"PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"},
    )
    assert result.returncode == 2
    needed = 3 * 602112 + 3 * 2 * 16000 + 2 * 30_000_000  # bins, text outputs, two ONNX files (issue 25)
    assert result.stderr.strip().splitlines()[-1] == (  # sizes as fileio.format_bytes prints them
        f'run_all.sh: error: stage "dataset": not enough free space in {tmp_path}: this run needs about '
        f"{needed / 1e6:.1f} MB (3 float32 bins x 602,112 bytes = 1.8 MB, text outputs for 2 runs about 96 kB, "
        "2 model files about 60.0 MB); 1.0 MB free"
    )
    assert not list(tmp_path.glob("*.onnx")) and not (tmp_path / "prep_dataset").exists()


def test_bad_checkpoint_stops_at_the_export_stage(tmp_path):
    checkpoint = tmp_path / "broken.pth.tar"
    checkpoint.write_bytes(b"this is not a checkpoint")
    result = run_all("--checkpoint", str(checkpoint), "--batch-sizes", "1", cwd=tmp_path)
    assert result.returncode != 0
    assert 'stage "export" failed' in result.stderr
    assert "broken.pth.tar" in result.stderr
    assert not list(tmp_path.glob("*.onnx")) and not (tmp_path / "prep_dataset").exists()


@pytest.mark.parametrize(
    "bad_arguments, message",
    [
        (["--batch-sizes", "1 x"], "'x' is not a whole number from 1 to 1024"),
        (["--batch-sizes", "*"], "--batch-sizes: '*' is not a whole number from 1 to 1024"),
        (["--batch-sizes", " "], "--batch-sizes: no batch size given"),
        (["--device-id", "-1"], "--device-id: '-1' is not a whole number from 0 to 255"),
        (["--devices", "0 *"], "--devices: '*' is not a whole number from 0 to 255"),
        (["--devices", "0 1 0"], "--devices: '0 1 0' names a device twice"),
        (["--tool", "npu"], "--tool: 'npu' is not one of auto, benchmark, ais_bench, stand-in"),
        (["--backend", "tensorrt"], "--backend: 'tensorrt' is not one of onnxruntime, openvino"),
        (["--compare", "some"], "--compare: 'some' is not one of none, first, all"),
        (["--soc-version", "Ascend 310"], "--soc-version: 'Ascend 310' is not a chip name"),
        (["--frobnicate", "1"], "unknown option --frobnicate"),
        (["stray"], "unexpected argument 'stray'"),
        (["--workdir"], "needs a value"),
        (["--precision", "int4"], "--precision: 'int4' is not one of float, int8"),
        (["--calibration-images", "8"], "--calibration-images is for --precision int8"),
        (["--precision", "int8", "--input-dtype", "uint8"], "--input-dtype uint8 is not supported with it"),
        (["--precision", "int8", "--calibration-images", "0"], "'0' is not a whole number from 1 to 50000"),
        (["--precision", "int8", "--calibration-dataset", "nowhere"], "--calibration-dataset: nowhere: no such"),
    ],
)
def test_usage_errors(tmp_path, bad_arguments, message):
    (tmp_path / "1").write_text("")  # a file a glob of '*' would expand to (a valid batch size)
    result = run_all(*bad_arguments, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == [tmp_path / "1"]


def test_help_names_every_option(tmp_path):
    result = run_all("--help", cwd=tmp_path)
    assert result.returncode == 0
    for option in (
        "--checkpoint",
        "--dataset",
        "--labels",
        "--batch-sizes",
        "--workdir",
        "--device-id",
        "--devices",
        "--tool",
        "--soc-version",
        "--backend",
        "--compare",
        "DEVICES",
        "TOOL",
        "SOC_VERSION",
        "BACKEND",
        "COMPARE",
    ):
        assert option in result.stdout
    assert "ATC's benchmark run" not in result.stdout
    assert "the Ascend device (NPU) that runs inference" in result.stdout


# ---------------------------------------------------------------------------------------------------------------
# Issues 17-21: the input routes, pure inference, run records, the OM's model, and the faults of the audit.


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def ascend_uint8(ascend_host, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The seed guide's host on the uint8 route: ATC with the AIPP config, uint8 bins, the fake tool reading them."""
    root = tmp_path_factory.mktemp("uint8")
    work = copy_workdir(ascend_host["workdir"], root / "work")
    log = root / "calls.jsonl"
    env = {**ascend_host["env"], "FAKE_LOG": str(log), "FAKE_LABELS": str(work / "demo" / "val_label.txt")}
    result = run_all(
        "--workdir", str(work), "--batch-sizes", "1", "--input-dtype", "uint8", "--compare", "none", cwd=root, env=env
    )
    return {"root": root, "work": work, "result": result, "calls": read_calls(log), "env": env}


def test_uint8_route_gives_atc_the_aipp_config_and_the_same_accuracy(ascend_uint8, ascend_host):
    result, work = ascend_uint8["result"], ascend_uint8["work"]
    assert result.returncode == 0, result.stdout + result.stderr
    atc = [call["argv"] for call in ascend_uint8["calls"] if call["tool"] == "atc"]
    assert atc == [
        guide_command(GUIDE_ATC, 1) + [f"--insert_op_conf={REPO_ROOT / 'aipp.config'}", "--enable_small_channel=1"]
    ]
    om = json.loads((work / "shufflenetv2_bs1.om").read_text())
    assert om["aipp"] == {"aipp_mode": "static", "input_format": "RGB888_U8", "src_image_size_w": "224",
                          "src_image_size_h": "224", "crop": "false"}  # fmt: skip
    benchmark = [c for c in ascend_uint8["calls"] if c["tool"] == "benchmark" and c.get("mode") != "pure"]
    assert len(benchmark) == 1 and benchmark[0]["aipp"] is True
    bins = list((work / "prep_dataset").glob("*.bin"))
    assert len(bins) == DEMO_IMAGES and {b.stat().st_size for b in bins} == {150528}  # a quarter of 602,112
    preprocess = [c for c in commands_run(result.stdout) if c[1].endswith("imagenet_torch_preprocess.py")][0]
    assert preprocess[preprocess.index("--dtype") + 1] == "uint8"
    info = [c for c in commands_run(result.stdout) if c[1].endswith("get_info.py")][0]
    assert info[info.index("--dtype") + 1] == "uint8"
    assert (work / "result_bs1.json").read_text() == (ascend_host["workdir"] / "result_bs1.json").read_text()
    record = read_run_record(work / "result" / "perf_vision_batchsize_1_device_0.json")
    assert record.input_dtype == "uint8" and "uint8 bins" in result.stdout
    assert "uint8 bins (the AIPP stage of ATC, aipp.config)" in (work / "report.md").read_text()


def test_a_bin_of_the_wrong_size_is_refused_before_inference(ascend_uint8, tmp_path):
    work = copy_workdir(ascend_uint8["work"], tmp_path / "work")
    (work / ".run_all" / "inference_bs1.done").unlink()
    victim = sorted((work / "prep_dataset").glob("*.bin"))[3]
    victim.write_bytes(b"\0" * 602112)  # a float32 bin among uint8 ones
    log = tmp_path / "log"
    env = {**ascend_uint8["env"], "FAKE_LOG": str(log), "FAKE_LABELS": str(work / "demo" / "val_label.txt")}
    result = run_all(
        "--dataset",  # the first run's images (copied ones are other files, whose bins would all be redone)
        str(ascend_uint8["work"] / "demo" / "val"),
        "--workdir",
        str(work),
        "--batch-sizes",
        "1",
        "--input-dtype",
        "uint8",
        "--compare",
        "none",
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith('run_all.sh: error: stage "inference bs1": ') and victim.name in last
    assert "602112 bytes, not a uint8 input of the model (150528 bytes" in last
    assert not [c for c in read_calls(log) if c["tool"] == "benchmark"]


def test_the_fake_atc_refuses_a_malformed_aipp_config(tmp_path):
    config = tmp_path / "bad.config"
    config.write_text("aipp_op{\n    aipp_mode:static\n    input_format : YUV420SP_U8\n}\n")
    done = subprocess.run(
        [str(FAKES / "bin" / "atc"), "--framework=5", "--model=./x.onnx", "--input_shape=image:1,3,224,224",
         f"--output={tmp_path / 'x'}", "--soc_version=Ascend310", f"--insert_op_conf={config}"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 1 and "E10001" in done.stderr and not (tmp_path / "x.om").exists()


def test_uint8_route_on_the_stand_in_gives_the_same_accuracy(demo_run, tmp_path):
    clone, _ = demo_run
    work = copy_workdir(clone, tmp_path / "work")
    result = run_all(
        "--batch-sizes", "1", "--compare", "none", "--input-dtype", "uint8", "--dataset", str(clone / "demo" / "val"),
        cwd=work, script=clone / "run_all.sh",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    stand_in = [c for c in commands_run(result.stdout) if c[1].endswith("benchmark_ort.py")]
    assert all("-input_dtype=uint8" in c for c in stand_in) and len(stand_in) == 2  # dataset and pure runs
    size = sum(p.stat().st_size for p in (work / "prep_dataset").glob("*.bin"))
    assert size * 4 == sum(p.stat().st_size for p in (clone / "prep_dataset").glob("*.bin"))
    assert (work / "result_bs1.json").read_text() == (clone / "result_bs1.json").read_text()
    assert read_run_record(work / "result" / "perf_vision_batchsize_1_device_0.json").input_dtype == "uint8"


def test_huawei_tools_runs_get_a_run_record(ascend_host):
    work = ascend_host["workdir"]
    record = read_run_record(work / "result" / "perf_vision_batchsize_16_device_0.json")
    assert (record.tool, record.device.kind, record.device.name) == ("benchmark", "ascend", "Ascend310")
    assert record.device.chips_per_card == 4 and record.device.device_ids == (0,)
    assert record.model_file == "shufflenetv2_bs16.om" and record.model_sha256 == _sha256(work / "shufflenetv2_bs16.om")
    assert (record.batch_size, record.mode, record.images, record.input_dtype) == (
        16,
        "dataset",
        DEMO_IMAGES,
        "float32",
    )
    assert record.weights == "random weights, seed 0"
    assert record.dataset == "sha256:" + _sha256(work / "prep_dataset" / ".prep_sources.json")
    atc = json.loads((work / "shufflenetv2_bs16_atc.json").read_text())
    assert atc["onnx_sha256"] == _sha256(work / "shufflenetv2_bs16.onnx")
    pure = read_run_record(work / "result" / "PureInfer_perf_of_shufflenetv2_bs16_in_device_0.json")
    assert (pure.mode, pure.images) == ("pure", 100 * 16)
    assert "155.975" in ascend_host["first"].stdout  # the pure-inference row of the perf table


def test_pure_inference_on_ais_bench_as_the_current_guides_measure(ais_bench_host):
    calls = [c for c in ais_bench_host["calls_one"] if c["tool"] == "ais_bench" and c.get("mode") == "pure"]
    assert [c["argv"] for c in calls] == [
        [f"--model=./shufflenetv2_bs{b}.om", "--loop=100", f"--batchsize={b}", "--device=0", "--output=./result/",
         f"--output_dirname=pure_bs{b}"]
        for b in (1, 16)
    ]  # fmt: skip
    table = ais_bench_host["one"].stdout.split("==> [summary]", 1)[1]
    assert re.search(r"\n\s+1\s+0\s+pure\s+-\s+625(?:\.0+)?\s", table), table
    assert re.search(r"\n\s+16\s+0\s+pure\s+-\s+625(?:\.0+)?\s", table), table


def test_an_om_of_another_onnx_is_rebuilt_or_refused(ascend_host, tmp_path):
    work = copy_workdir(ascend_host["workdir"], tmp_path / "work")
    onnx = work / "shufflenetv2_bs1.onnx"
    onnx.write_bytes(onnx.read_bytes() + b"\n")  # another model file, newer than the checkpoint's stamp
    # ... taken as the export's (as another checkpoint's export would be): else the export makes it again.
    made = (
        "from shufflenet_ascend.planning import common, model\n"
        "common.made('shufflenetv2_bs1.onnx', *model.EXPORT_INPUTS)"
    )
    subprocess.run([sys.executable, "-c", made], cwd=work, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, check=True)
    no_atc = {**ascend_host["env"], "ASCEND_ROOT": str(tmp_path / "no-cann"), "FAKE_LOG": str(tmp_path / "log")}
    refused = run_all("--workdir", str(work), "--batch-sizes", "1", "--compare", "none", cwd=tmp_path, env=no_atc)
    assert refused.returncode == 2
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith('run_all.sh: error: stage "atc": shufflenetv2_bs1.om was built from another model')
    assert "onnx_sha256" in last and "atc not found" in last
    assert not [c for c in read_calls(tmp_path / "log") if c["tool"] == "benchmark"]
    env = {
        **ascend_host["env"],
        "FAKE_LOG": str(tmp_path / "log2"),
        "FAKE_LABELS": str(work / "demo" / "val_label.txt"),
    }
    rebuilt = run_all("--workdir", str(work), "--batch-sizes", "1", "--compare", "none", cwd=tmp_path, env=env)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert [c["argv"] for c in read_calls(tmp_path / "log2") if c["tool"] == "atc"] == [guide_command(GUIDE_ATC, 1)]
    assert json.loads((work / "shufflenetv2_bs1_atc.json").read_text())["onnx_sha256"] == _sha256(onnx)


def test_a_lost_output_fails_every_rerun_until_it_is_made_again(demo_run, tmp_path):
    clone, _ = demo_run
    work = copy_workdir(clone, tmp_path / "work")
    args = ["--batch-sizes", "1", "--compare", "none", "--dataset", str(clone / "demo" / "val")]
    labels = clone / "demo" / "val_label.txt"
    dump = work / "result" / "dumpOutput_device0_bs1"
    sorted(dump.iterdir())[0].unlink()
    os.utime(labels)  # the user's sequence: one output lost, the labels touched
    for _ in range(2):
        again = run_all(*args, cwd=work, script=clone / "run_all.sh")
        assert again.returncode == 1, again.stdout + again.stderr
        assert "holds 39 outputs for 40 images" in again.stdout and not (work / "result_bs1.json").exists()
    shutil.rmtree(dump)  # as the note says: the inference is redone
    redone = run_all(*args, cwd=work, script=clone / "run_all.sh")
    assert redone.returncode == 0, redone.stdout + redone.stderr
    assert (work / "result_bs1.json").read_text() == (clone / "result_bs1.json").read_text()


def test_demo_run_writes_predictions_and_per_class_files(demo_run):
    clone, result = demo_run
    for b in BATCH_SIZES.split():
        assert len((clone / f"result_bs{b}_predictions.csv").read_text().splitlines()) == DEMO_IMAGES + 1
        assert (clone / f"result_bs{b}_per_class.csv").is_file()
    report = [c for c in commands_run(result.stdout) if c[1].endswith("write_report.py")][0]
    assert report[report.index("--predictions") + 1] == "result_bs1_predictions.csv"
    assert report[report.index("--per-class") + 1] == "result_bs1_per_class.csv"
    assert "--random-labels" in report
    parse_perf = [c for c in commands_run(result.stdout) if c[1].endswith("parse_perf.py")][0]
    assert "result/PureInfer_perf_of_shufflenetv2_bs1_in_device_0.txt" in parse_perf


def test_dotted_stems_are_refused_on_the_ais_bench_route(tmp_path):
    (tmp_path / "shufflenetv2_bs1.om").write_text("{}")
    (tmp_path / "val").mkdir()
    (tmp_path / "val" / "n01440764.tench.JPEG").write_bytes(b"")
    (tmp_path / "val_label.txt").write_text("n01440764.tench.JPEG 0\n")
    env = fake_env(tmp_path, tmp_path / "log", tmp_path / "labels", tools_dir(tmp_path), cann=False, ais_bench=True)
    result = run_all("--batch-sizes", "1", "--tool", "ais_bench", "--dataset", "val", cwd=tmp_path, env=env)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "n01440764.tench.JPEG: ais_bench names each output after its input's name cut at the first '.'" in last
    assert "(n01440764_0.txt)" in last and not list(tmp_path.glob("*.onnx"))


def test_a_symlink_loop_in_the_dataset_is_named_and_left_out(tmp_path):
    made = subprocess.run(
        [sys.executable, str(REPO_ROOT / "make_demo_dataset.py"), str(tmp_path / "d"), "--count", "3"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    (tmp_path / "d" / "val" / "a.JPEG").symlink_to("b.JPEG")
    (tmp_path / "d" / "val" / "b.JPEG").symlink_to("a.JPEG")
    result = run_all("--dataset", "d/val", "--workdir", "w", "--soc-version", "x y", cwd=tmp_path)
    assert result.returncode == 2  # (a usage error stops it before any work; the listing is checked below)
    env = fake_env(tmp_path, tmp_path / "log", tmp_path / "labels", tools_dir(tmp_path), cann=False)
    df = tmp_path / "tools-none" / "df"  # stop at the free-space check, after the listing
    df.write_text("#!/bin/sh\necho 'F 1 2 3 4 5'\necho '/dev/x 1 1 0 100% /'\n")
    df.chmod(0o755)
    result = run_all("--dataset", "d/val", "--batch-sizes", "1", cwd=tmp_path, env=env)
    assert "a.JPEG" in result.stderr and "left out of the run" in result.stderr
    assert "images: " in result.stdout and "(3 images)" in result.stdout
    assert "cannot be listed" not in result.stderr and "not enough free space" in result.stderr


def test_an_interpreter_without_the_packages_is_one_line(tmp_path):
    python = tmp_path / "python3"
    python.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -S "$@"\n')  # no site-packages: no numpy
    python.chmod(0o755)
    result = run_all("--batch-sizes", "1", cwd=tmp_path, env={"PYTHON": str(python)})
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "lacks numpy, torch" in result.stderr and "requirements.txt" in result.stderr
    assert not list(tmp_path.glob("*.onnx"))


def test_model_size_reaches_the_export_and_batch_sizes_are_deduplicated(tmp_path):
    checkpoint = tmp_path / "broken.pth.tar"
    checkpoint.write_bytes(b"this is not a checkpoint")
    result = run_all("--checkpoint", str(checkpoint), "--batch-sizes", "1 1", "--model-size", "Medium", cwd=tmp_path)
    assert 'stage "export" failed' in result.stderr
    exports = [c for c in commands_run(result.stdout) if c[1].endswith("shufflenetv2_pth2onnx.py")]
    assert len(exports) == 1 and exports[0][-2:] == ["--model-size", "Medium"]
    assert "model size: Medium" in result.stdout


def test_the_fake_ais_bench_takes_uint8_inputs_of_an_aipp_om_only(tmp_path):
    om = tmp_path / "m.om"
    om.write_text(json.dumps({"fake_om": True, "input_shape": "image:1,3,224,224", "soc_version": "Ascend310P3",
                              "aipp": {"input_format": "RGB888_U8"}}))  # fmt: skip
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.bin").write_bytes(bytes(range(256)) * 588)  # 150,528 bytes: HWC uint8
    (tmp_path / "labels.txt").write_text("a.JPEG 3\n")
    env = {**os.environ, "PYTHONPATH": str(FAKES / "python"), "FAKE_LABELS": str(tmp_path / "labels.txt")}
    args = [sys.executable, "-m", "ais_bench", "--model", str(om), "--input", str(tmp_path / "in"), "--output",
            str(tmp_path / "out"), "--output_dirname", "r", "--outfmt", "TXT"]  # fmt: skip
    done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "r" / "a_0.txt").is_file()
    (tmp_path / "in" / "a.bin").write_bytes(b"\0" * 602112)  # a float32 bin for an OM that takes uint8
    done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 1 and "arg0 tensorsize: 150528 filesize: 602112 not match" in done.stderr


# ---------------------------------------------------------------------------------------------------------------
# The int8 route (issue 28): the default route is unchanged, byte for byte.

DEFAULT_ROUTE = REPO_ROOT / "tests" / "data" / "default_route_commands.txt"


def route_lines(stdout: str, repo: Path, python: str) -> list[str]:
    """The stage headers and the command lines a run printed, with what differs between machines and folders
    made generic: the interpreter, the clone's path, the CPU's name and cores."""
    from shufflenet_ascend.host import available_cores, cpu_name

    machine = f"{cpu_name()}, {available_cores()} cores"
    lines = []
    for line in stdout.splitlines():
        if re.match(r"^(==> \[|    (\[device \d+\] )?\$ |    in )", line):
            lines.append(line.replace(python, "<python>").replace(str(repo), "<repo>").replace(machine, "<cpu>"))
    return lines


def test_the_default_route_prints_the_very_commands_it_printed_before_int8(demo_run):
    """tests/data/default_route_commands.txt: what `bash run_all.sh --batch-sizes "1 16"` printed on the demo without
    the int8 route (main with issue 27's layer comparison; the stage headers and every command, made generic by
    route_lines; since issue 25 with paths relative to the work folder and its renames and removals printed)."""
    clone, result = demo_run
    assert route_lines(result.stdout, clone, sys.executable) == DEFAULT_ROUTE.read_text().splitlines()


@pytest.fixture(scope="module")
def int8_demo(demo_run, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """``--precision int8`` on the demo at batch 1, in a copy of the finished demo run, calibrated on 8 images of
    another generated set (apart from the images judged)."""
    clone, _ = demo_run
    root = tmp_path_factory.mktemp("int8")
    work = copy_workdir(clone, root / "work")
    made = subprocess.run([sys.executable, str(REPO_ROOT / "make_demo_dataset.py"), str(root / "other"), "--count",
                           "8", "--seed", "1"], capture_output=True, text=True)  # fmt: skip
    assert made.returncode == 0, made.stderr
    result = run_all("--batch-sizes", "1", "--precision", "int8", "--calibration-images", "8",
                     "--calibration-dataset", str(root / "other" / "val"), cwd=work,
                     script=work / "run_all.sh")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return work, result


def test_int8_route_quantizes_runs_compares_and_reports(int8_demo):
    work, result = int8_demo
    import onnx

    model = onnx.load(work / "shufflenetv2_bs1_int8.onnx")
    assert {"QuantizeLinear", "DequantizeLinear"} <= {node.op_type for node in model.graph.node}
    quantize = [c for c in commands_run(result.stdout) if c[1].endswith("quantize.py")]
    assert quantize == [[sys.executable, "quantize.py", "shufflenetv2_bs1.onnx", "./calibration_prep",
                         "--tool", "nncf", "--count", "8"]]  # fmt: skip
    assert len(list((work / "calibration_prep").glob("*.bin"))) == 8
    inference = [c for c in commands_run(result.stdout) if c[1].endswith("benchmark_ort.py")]
    assert "-om_path=shufflenetv2_bs1_int8.onnx" in inference[0]
    # The exported fp32 file was up to date in the copy: not exported again, not replaced.
    assert "skipped: shufflenetv2_bs1.onnx is up to date" in result.stdout
    accuracy = read_accuracy_json(work / "result_bs1.json")
    assert accuracy.images == DEMO_IMAGES
    record = read_run_record(work / "result" / "perf_vision_batchsize_1_device_0.json")
    assert record.precision == "int8" and record.model_file == "shufflenetv2_bs1_int8.onnx"
    assert "the first 8 images by name of ./calibration_prep" in record.calibration
    comparison = json.loads((work / "compare_bs1_int8_vs_fp32_torch.json").read_text())
    assert comparison["images_paired"] == DEMO_IMAGES and comparison["cosine"]["median"] >= 0.98
    assert comparison["cosine"]["median"] < 1.0  # int8 arithmetic, not the fp32 model
    report = (work / "report.md").read_text()
    assert report.startswith("# ShuffleNetV2+ offline inference: run report (int8 model)")
    assert "## int8: calibration and what it costs against fp32" in report
    assert "apart from the images judged" in report and "median cosine" in report
    # Layer by layer: the fp32 file against the int8 one on the first image, the first layer below 0.98 said.
    layers = [c for c in commands_run(result.stdout) if c[1].endswith("compare_layers.py") and "--fp16" not in c]
    assert layers == [[sys.executable, "compare_layers.py", "shufflenetv2_bs1.onnx",
                       "shufflenetv2_bs1_int8.onnx", "--input", "prep_dataset/demo_val_00000001.bin", "--csv",
                       "layers_bs1_int8_vs_fp32.csv", "--min-cosine", "0.98"]]  # fmt: skip
    assert (work / "layers_bs1_int8_vs_fp32.csv").stat().st_size > 0
    assert "| first layer int8 cannot carry | " in report
    assert "cores, onnxruntime, int8" in result.stdout  # the perf table's label


def test_int8_figures_do_not_share_a_table_with_float_ones(int8_demo, demo_run):
    work, _ = int8_demo
    clone, _ = demo_run
    int8_perf = work / "result" / "perf_vision_batchsize_1_device_0.txt"
    float_perf = clone / "result" / "perf_vision_batchsize_16_device_0.txt"
    command = [sys.executable, str(REPO_ROOT / "parse_perf.py"), str(int8_perf), str(float_perf)]
    refused = subprocess.run(command, capture_output=True, text=True, env=run_env(work))
    assert refused.returncode == 2 and "different precisions (int8 vs float)" in refused.stderr
    mixed = subprocess.run([*command, "--allow-mixed"], capture_output=True, text=True, env=run_env(work))
    assert mixed.returncode == 0, mixed.stderr


@pytest.fixture(scope="module")
def ascend_int8(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A faked Ascend 310 host with AMCT: --precision int8 at batch sizes 1 and 16, calibrated on 16 images."""
    root = tmp_path_factory.mktemp("ascend_int8")
    workdir = root / "work"
    log = root / "calls.jsonl"
    labels = workdir / "demo" / "val_label.txt"
    env = fake_env(root, log, labels, tools_dir(root, f"benchmark.{ARCH}", "amct_onnx"))
    result = run_all("--workdir", str(workdir), "--batch-sizes", BATCH_SIZES, "--precision", "int8",
                     "--calibration-images", "16", cwd=root, env=env)  # fmt: skip
    return {"workdir": workdir, "result": result, "calls": read_calls(log)}


def test_ascend_int8_runs_amct_as_the_guides_then_atc_on_the_deploy_model(ascend_int8):
    result, calls, workdir = ascend_int8["result"], ascend_int8["calls"], ascend_int8["workdir"]
    assert result.returncode == 0, result.stdout + result.stderr
    amct = [call["argv"] for call in calls if call["tool"] == "amct_onnx"]
    assert amct == [
        ["calibration", "--model", f"shufflenetv2_bs{b}.onnx", "--save_path", f"amct_model/shufflenetv2_bs{b}",
         "--input_shape", f"image:{b},3,224,224", "--data_dir", f"shufflenetv2_bs{b}_calibration", "--data_types",
         "float32", "--batch_num", str(16 // b)]
        for b in (1, 16)
    ]  # fmt: skip
    for b in (1, 16):  # each calibration bin holds exactly one batch
        packed = sorted((workdir / f"shufflenetv2_bs{b}_calibration").iterdir())
        assert len(packed) == 16 // b and {p.stat().st_size for p in packed} == {b * 602112}
    atc = [call["argv"] for call in calls if call["tool"] == "atc"]
    deploy = {f"--model=./shufflenetv2_bs{b}.onnx": f"--model=./amct_model/shufflenetv2_bs{b}_deploy_model.onnx"
              for b in (1, 16)}  # fmt: skip
    output = {f"--output=shufflenetv2_bs{b}": f"--output=shufflenetv2_bs{b}_int8" for b in (1, 16)}
    assert atc == [[deploy.get(arg, output.get(arg, arg)) for arg in guide_command(GUIDE_ATC, b)] for b in (1, 16)]
    om = json.loads((workdir / "shufflenetv2_bs1_int8.om").read_text())
    assert om["int8"] and om["model"] == "./amct_model/shufflenetv2_bs1_deploy_model.onnx"
    benchmark = [call["argv"] for call in calls if call["tool"] == "benchmark" and call.get("mode") != "pure"]
    assert [a for a in benchmark[0] if a.startswith("-om_path")] == ["-om_path=shufflenetv2_bs1_int8.om"]
    record = read_run_record(workdir / "result" / "perf_vision_batchsize_1_device_0.json")
    assert record.precision == "int8" and "16 batches of 1" in record.calibration
    assert (workdir / "compare_bs1_int8_om_vs_fp32_onnx.json").is_file()
    report = (workdir / "report.md").read_text()
    assert "(int8 model)" in report and "among the images judged" in report
    assert (workdir / "layers_bs1_int8_vs_fp32.csv").is_file()  # against AMCT's fake-quant model, on the CPU
