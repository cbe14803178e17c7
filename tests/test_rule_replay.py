"""Issue 25, rule 6: what run_all prints can be replayed. Every action that changes a file (renames, removals) is
printed as a command; the printed paths are the work folder's (relative), in the output and in report.md; and the
small edges of the driver: a missing aipp.config is exit 2 naming it, a read-only work folder exit 3 (as the help
says), the free-space check counts the model files."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from test_run_all import run_all

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.planning import inputs, model
from shufflenet_ascend.planning.common import Run


@pytest.mark.parametrize(
    "printed",
    [
        "    $ mv result/dumpOutput_device0 result/dumpOutput_device0_bs1",
        "    $ mv result/dumpOutput_device0.json result/dumpOutput_device0_bs1.json",
        "    $ mv .run_all/scratch/reference/result/dumpOutput_device0 result/reference",
        "    $ rm -rf .run_all/scratch/reference",
        "compare_accuracy.py --random-weights result_bs1.json",
        "run_all.sh: done; outputs in . (read report.md)",
    ],
)
def test_every_change_is_printed_as_a_command(rule_demo_run, printed: str):
    _, result = rule_demo_run
    lines = result.stdout.splitlines()
    assert printed in lines or any(line.startswith("    $ ") and line.endswith(" " + printed) for line in lines)


@pytest.mark.parametrize("where", ["stdout", "report.md"])
def test_paths_are_the_work_folders(rule_demo_run, where: str):
    clone, result = rule_demo_run
    text = result.stdout if where == "stdout" else (clone / "report.md").read_text()
    # (The environment stage names the work folder itself, once.)
    text = "\n".join(line for line in text.splitlines() if not line.startswith("    work folder: "))
    assert str(clone) not in text and str(clone.resolve()) not in text


def test_a_printed_command_replays(rule_demo_run):
    """The summary's compare_accuracy.py line, pasted in the work folder, prints the very table of the run."""
    clone, result = rule_demo_run
    line = next(line for line in result.stdout.splitlines() if "compare_accuracy.py --random-weights" in line)
    command = shlex.split(line.split("$ ", 1)[1])
    replayed = subprocess.run([sys.executable, *command[1:]], cwd=clone, capture_output=True, text=True)
    assert replayed.returncode == 0, replayed.stderr
    after = result.stdout.split(line + "\n", 1)[1]
    assert after.startswith(replayed.stdout)


def test_a_missing_aipp_config_is_exit_2_naming_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(model, "aipp_config", lambda: tmp_path / "aipp.config")
    run = Run(str(tmp_path), "", "", "", [1], [0], "auto", "Ascend310", "onnxruntime", "none", input_dtype="uint8")
    Path("shufflenetv2_bs1.onnx").write_bytes(b"onnx")
    with pytest.raises(PipelineError, match=re.escape(f"{tmp_path / 'aipp.config'}: no such file")) as raised:
        model.wanted_build(run, 1)
    assert raised.value.exit_code == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_read_only_work_folder_is_exit_3(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    work.chmod(0o555)
    try:
        result = run_all("--workdir", str(work), cwd=tmp_path)
    finally:
        work.chmod(0o755)
    assert result.returncode == 3 and "not writable" in result.stderr.splitlines()[-1]


def test_the_free_space_check_counts_the_model_files(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".run_all").mkdir()
    images = tmp_path / "val"
    images.mkdir()
    (images / "a.JPEG").write_bytes(b"an image")
    run = Run(str(tmp_path), "", str(images), "", [1, 4], [0], "auto", "Ascend310", "onnxruntime", "none")
    run.infer_tool = "stand-in"
    inputs.check_free_space(run)
    assert "2 model files about" in capsys.readouterr().out
    Path("shufflenetv2_bs1.onnx").write_bytes(b"onnx")
    inputs.check_free_space(run)
    assert "1 model files about" in capsys.readouterr().out
