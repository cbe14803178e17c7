"""Issue 25, rule 2: freshness by identity. A stage re-uses an output only when it and every input are the same
files (size, mtime_ns, inode, ctime_ns; a copy with its times: the same sha256); an OM replaced under an intact ATC
record is rebuilt or refused; the dataset stamp of run_all is the preprocessor's own identity of the images."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from test_run_all import FAKES, run_all, scripts_run

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.identity import file_identity
from shufflenet_ascend.planning import common, model
from shufflenet_ascend.planning.common import Actions, Run
from shufflenet_ascend.preprocess.record import dataset_identity, scan_source_folder


def swap_same_size(path: Path) -> bytes:
    """Replace PATH by another file of the same size under its old modification time (``cp -p`` then ``mv``, as
    a user may): what a stamp of name, size and mtime cannot tell. Returns the new content."""
    info = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    other = path.with_name(path.name + ".new")
    other.write_bytes(bytes(data))
    os.utime(other, ns=(info.st_atime_ns, info.st_mtime_ns))
    os.replace(other, path)
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (info.st_size, info.st_mtime_ns)
    return bytes(data)


@pytest.mark.parametrize(
    "change, fresh",
    [
        ("nothing", True),
        ("input swapped (same size, old mtime)", False),
        ("output swapped (same size, old mtime)", False),
        ("input removed", False),
        ("the folder copied with its times", True),
        ("the folder copied, an input swapped", False),
    ],
)
def test_an_output_is_fresh_only_for_the_same_files(tmp_path, monkeypatch, change: str, fresh: bool):
    work = tmp_path / "work"
    (work / ".run_all").mkdir(parents=True)
    (work / "in.txt").write_text("input 1\n")
    (work / "out.txt").write_text("output of input 1\n")
    monkeypatch.chdir(work)
    common.made("out.txt", "in.txt")
    assert common.is_fresh("out.txt", "in.txt")
    if "copied" in change:
        shutil.copytree(work, tmp_path / "copy")  # copy2: times kept, new inodes
        monkeypatch.chdir(tmp_path / "copy")
    if "input swapped" in change:
        swap_same_size(Path("in.txt"))
    elif "output swapped" in change:
        swap_same_size(Path("out.txt"))
    elif change == "input removed":
        Path("in.txt").unlink()
    assert common.is_fresh("out.txt", "in.txt") is fresh


def atc_run(tmp_path: Path) -> Run:
    run = Run(str(tmp_path), "", "", "", [1], [0], "auto", "Ascend310", "onnxruntime", "none")
    run.infer_tool = "benchmark"
    Path("shufflenetv2_bs1.onnx").write_bytes(b"an onnx file")
    Path("shufflenetv2_bs1.om").write_bytes(b"the OM that ATC built")
    record = {
        **model.wanted_build(run, 1),
        "om_file": "shufflenetv2_bs1.om",
        "om_sha256": _sha256("shufflenetv2_bs1.om"),
    }
    Path(model.atc_record_file(1)).write_text(json.dumps(record))
    return run


def _sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.mark.parametrize("atc_here", [False, True], ids=["no atc: refused", "atc: rebuilt"])
def test_an_om_replaced_under_its_atc_record_is_not_up_to_date(tmp_path, monkeypatch, atc_here: bool):
    monkeypatch.chdir(tmp_path)
    run = atc_run(tmp_path)
    monkeypatch.setenv("PATH", f"{FAKES / 'bin'}:{os.environ['PATH']}" if atc_here else "/nonexistent")
    actions = Actions()
    model.stage_atc(actions, run)
    assert any("is up to date" in line for line in actions.lines)  # the OM ATC built, untouched
    swap_same_size(Path("shufflenetv2_bs1.om"))
    actions = Actions()
    if not atc_here:
        with pytest.raises(PipelineError, match="shufflenetv2_bs1.om is not the OM that ATC built") as raised:
            model.stage_atc(actions, run)
        assert raised.value.exit_code == 2
    else:
        model.stage_atc(actions, run)
        assert [line.split("\t")[1].split()[0] for line in actions.lines if line.startswith("run\t")] == ["atc"]
        assert not Path(model.atc_record_file(1)).exists()  # made again by the check after atc


def test_the_dataset_stamp_is_the_preprocessors_identity(rule_demo_run):
    clone, _ = rule_demo_run
    stamp = (clone / ".run_all" / "dataset").read_text()
    assert stamp == dataset_identity(scan_source_folder(clone / "demo" / "val").images)
    first = scan_source_folder(clone / "demo" / "val").images[0]
    assert tuple(first.identity) == tuple(file_identity(first.path))


def test_stale_inputs_are_redone(rule_demo_run):
    """An image and an ONNX file each replaced by another of the same size under the old mtime: the image's bin,
    the ONNX file and the inference are redone, and the outputs are the new inputs'."""
    clone, _ = rule_demo_run
    image = sorted((clone / "demo" / "val").iterdir())[0]
    bin_file = clone / "prep_dataset" / f"{image.stem}.bin"
    old_bin = bin_file.read_bytes()
    onnx = clone / "shufflenetv2_bs1.onnx"
    exported = onnx.read_bytes()
    # Another image under the old name: a real JPEG of the same size (another image's pixels, padded).
    other = sorted((clone / "demo" / "val").iterdir())[1].read_bytes()
    size = image.stat().st_size
    replacement = other[:size] if len(other) >= size else other + b"\0" * (size - len(other))
    info = image.stat()
    image.with_name("new.tmp").write_bytes(replacement)
    os.utime(image.with_name("new.tmp"), ns=(info.st_atime_ns, info.st_mtime_ns))
    os.replace(image.with_name("new.tmp"), image)
    swapped_onnx = swap_same_size(onnx)
    result = run_all("--batch-sizes", "1", "--compare", "none", cwd=clone, script=clone / "run_all.sh")
    assert result.returncode == 0, result.stdout + result.stderr
    scripts = scripts_run(result.stdout)
    assert "shufflenetv2_pth2onnx.py" in scripts and "imagenet_torch_preprocess.py" in scripts
    assert "benchmark_ort.py" in scripts
    assert "done 1, skipped 39" in result.stderr  # the preprocessor redid the one image
    assert bin_file.read_bytes() != old_bin
    assert onnx.read_bytes() != swapped_onnx and onnx.read_bytes() == exported  # exported again: the same model
    again = run_all("--batch-sizes", "1", "--compare", "none", cwd=clone, script=clone / "run_all.sh")
    assert again.returncode == 0 and not {"benchmark_ort.py", "imagenet_torch_preprocess.py"} & set(
        scripts_run(again.stdout)
    )
