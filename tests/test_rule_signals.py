"""Issue 25, rule 5: SIGINT and SIGTERM at any moment, imports included, end in one line with exit status 130 or
143, locks released; run_all.sh passes the signal on to the running stage and waits for it."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_run_all import clone_working_tree, run_all, run_env

from conftest import REPO_ROOT
from tiny_model import TinyClassifier, export_tiny

STATUS = {"SIGINT": 130, "SIGTERM": 143}
SCRIPTS_IMPORTING_NUMPY = [
    "benchmark_ort.py",
    "compare_accuracy.py",
    "compare_outputs.py",
    "get_info.py",
    "imagenet_acc_eval.py",
    "imagenet_torch_preprocess.py",
    "make_demo_dataset.py",
    "shufflenetv2_pth2onnx.py",
    "write_report.py",
]


@pytest.fixture(scope="module")
def signalling_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """numpy and matplotlib stand-ins that send this process the signal named by $SIG_AT_IMPORT when imported, as a
    user's Ctrl-C or kill lands while a heavy module loads."""
    root = tmp_path_factory.mktemp("signalling")
    for name in ("numpy", "matplotlib"):
        (root / name).mkdir()
        (root / name / "__init__.py").write_text(
            "import os, signal, time\n"
            "os.kill(os.getpid(), getattr(signal, os.environ['SIG_AT_IMPORT']))\n"
            "time.sleep(30)\n"
        )
    return root


def one_line(result: subprocess.CompletedProcess[str], prog: str, name: str) -> None:
    assert result.returncode == STATUS[name], result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == f"{prog}: interrupted ({name})", result.stderr


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("script", SCRIPTS_IMPORTING_NUMPY)
def test_a_signal_while_a_script_imports_is_one_line(tmp_path, signalling_modules, script: str, name: str):
    env = {**os.environ, "PYTHONPATH": str(signalling_modules), "SIG_AT_IMPORT": name}
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / script), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    one_line(result, script, name)
    assert result.stderr.count("\n") == 1 and list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_signal_while_main_runs_is_one_line(tmp_path, signalling_modules, name: str):
    # parse_perf.py imports matplotlib only to plot: the signal lands inside main.
    (tmp_path / "result").mkdir()
    (tmp_path / "result" / "perf_vision_batchsize_1_device_0.txt").write_text(
        "[e2e] throughputRate: 1, latency: 1\n[data read] throughputRate: 1, moduleLatency: 1\n"
        "[preprocess] throughputRate: 1, moduleLatency: 1\n"
        "[infer] throughputRate: 1, Interface throughputRate: 2, moduleLatency: 1\n"
        "[post] throughputRate: 1, moduleLatency: 1\n"
    )
    env = {**os.environ, "PYTHONPATH": str(signalling_modules), "SIG_AT_IMPORT": name}
    command = [sys.executable, str(REPO_ROOT / "parse_perf.py"), "result/", "--plot", "perf.png"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    one_line(result, "parse_perf.py", name)
    assert not (tmp_path / "perf.png").exists()


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_signal_while_run_all_plans_is_its_exit_status(tmp_path, signalling_modules, name: str):
    env = {**os.environ, "PYTHONPATH": f"{signalling_modules}:{REPO_ROOT}", "SIG_AT_IMPORT": name}
    command = [sys.executable, "-m", "shufflenet_ascend.planning", "start", "dataset"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    # Its exit status only: run_all.sh, which called it, says it in one line.
    assert (result.returncode, result.stderr) == (STATUS[name], "")


def wait_for(predicate, process: subprocess.Popen, what: str, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert process.poll() is None, f"ended before {what}"
        assert time.monotonic() < deadline, f"no {what}"
        time.sleep(0.05)


def lock_is_free(path: Path) -> bool:
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_the_stand_in_releases_its_lock(tmp_path, name: str):
    export_tiny(TinyClassifier(), tmp_path / "tiny.onnx")
    lock = tmp_path / "result" / ".benchmark_ort_device0.lock"
    command = [sys.executable, str(REPO_ROOT / "benchmark_ort.py"), "-duration=120", "-om_path=tiny.onnx",
               "-device_id=0", "-batch_size=1"]  # fmt: skip
    process = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        wait_for(lock.exists, process, "lock file")
        process.send_signal(getattr(signal, name))
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    one_line(subprocess.CompletedProcess(command, process.returncode, stdout, stderr), "benchmark_ort.py", name)
    assert not lock.exists()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    clone = clone_working_tree(tmp_path_factory.mktemp("clone"))
    result = run_all("--batch-sizes", "1", "--compare", "none", cwd=clone, script=clone / "run_all.sh")
    assert result.returncode == 0, result.stdout + result.stderr
    return clone


@pytest.mark.parametrize(
    "name, to_group",
    [("SIGTERM", False), ("SIGINT", True)],
    ids=["kill -TERM run_all.sh", "Ctrl-C (the whole foreground group)"],
)
def test_run_all_passes_the_signal_on_and_waits(finished_run: Path, name: str, to_group: bool):
    """The inference stage redone (its marker gone), interrupted while the stand-in runs: the stage gets the signal,
    run_all waits for it, says so in one line; no process is left, and neither lock is held."""
    clone = finished_run
    (clone / ".run_all" / "inference_bs1.done").unlink(missing_ok=True)
    log = clone / "stdout.txt"
    with open(log, "w") as stdout:
        process = subprocess.Popen(
            ["bash", str(clone / "run_all.sh"), "--batch-sizes", "1", "--compare", "none"],
            cwd=clone,
            env=run_env(clone),
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # a group of its own, as a terminal's job: Ctrl-C reaches all of it
        )
    stand_in_lock = clone / "result" / ".benchmark_ort_device0.lock"
    try:
        wait_for(lambda: "benchmark_ort.py -model_type" in log.read_text() and stand_in_lock.exists(), process, "run")
        if to_group:
            os.killpg(process.pid, getattr(signal, name))
        else:
            process.send_signal(getattr(signal, name))
        _, stderr = process.communicate(timeout=120)
        with pytest.raises(ProcessLookupError):
            os.killpg(process.pid, 0)  # nothing of the run is left behind
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == STATUS[name], stderr
    assert "Traceback" not in stderr
    assert stderr.splitlines()[-1] == f'run_all.sh: interrupted ({name}) in stage "inference bs1"', stderr
    assert f"benchmark_ort.py: interrupted ({name})" in stderr  # the stage got it, and ended before run_all
    assert not stand_in_lock.exists() and lock_is_free(clone / ".run_all" / "lock")
