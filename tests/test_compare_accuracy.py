"""compare_accuracy.py (guide 6.3) and make_demo_dataset.py."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from ascend_io import read_labels

GUIDE_JSON = {"title": "Overall statistical evaluation", "value": [
    {"key": "Number of images", "value": "50000"}, {"key": "Number of classes", "value": "1000"},
    {"key": "Top1 accuracy", "value": "74.06%"}, {"key": "Top2 accuracy", "value": "84.21%"},
    {"key": "Top3 accuracy", "value": "88.11%"}, {"key": "Top4 accuracy", "value": "90.3%"},
    {"key": "Top5 accuracy", "value": "91.67%"}]}


def write_accuracy(path: Path, top1: str, top5: str) -> Path:
    document = json.loads(json.dumps(GUIDE_JSON))
    document["value"][2]["value"], document["value"][6]["value"] = top1, top5
    path.write_text(json.dumps(document))
    return path


def test_guide_figures_pass_and_a_drop_over_one_point_fails(tmp_path, run_script):
    good = write_accuracy(tmp_path / "result_bs1.json", "74.06%", "91.67%")
    edge = write_accuracy(tmp_path / "result_bs4.json", "73.1%", "90.7%")
    bad = write_accuracy(tmp_path / "result_bs16.json", "72.9%", "91.67%")
    result = run_script("compare_accuracy.py", good, edge)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert rows["bs1"].split()[1:6] == ["50000", "74.06", "91.67", "-0.04", "-0.03"] and rows["bs1"].endswith("PASS")
    assert rows["bs4"].split()[4:6] == ["-1.00", "-1.00"] and rows["bs4"].endswith("PASS")
    result = run_script("compare_accuracy.py", good, bad)
    assert result.returncode == 1
    assert "FAIL" in [line for line in result.stdout.splitlines() if line.startswith("bs16")][0]


def test_random_weights_report_without_verdict(tmp_path, run_script):
    bad = write_accuracy(tmp_path / "result_bs16.json", "0.1%", "0.5%")
    result = run_script("compare_accuracy.py", "--random-weights", bad)
    assert result.returncode == 0
    assert "not checked (random weights)" in result.stdout and "chance-level" in result.stdout


def test_bad_files_are_named(tmp_path, run_script):
    (tmp_path / "empty.json").write_text("{}")
    for name, message in (("missing.json", "accuracy file not found"), ("empty.json", "not an accuracy JSON")):
        result = run_script("compare_accuracy.py", tmp_path / name)
        assert result.returncode == 2
        assert result.stderr.strip() == f"compare_accuracy.py: error: {tmp_path / name}: {message}" + (
            " of imagenet_acc_eval.py" if name == "empty.json" else "")


def test_demo_dataset_is_deterministic_and_varied(tmp_path, run_script):
    for name in ("a", "b"):
        assert run_script("make_demo_dataset.py", tmp_path / name, "--count", "12").returncode == 0
    files = sorted(p.name for p in (tmp_path / "a" / "val").iterdir())
    assert len(files) == 12
    assert all((tmp_path / "a" / "val" / f).read_bytes() == (tmp_path / "b" / "val" / f).read_bytes() for f in files)
    assert (tmp_path / "a" / "val_label.txt").read_text() == (tmp_path / "b" / "val_label.txt").read_text()
    modes = {Image.open(tmp_path / "a" / "val" / f).mode for f in files}
    assert modes == {"RGB", "L", "CMYK", "P", "RGBA", "I;16"}
    labels = read_labels(tmp_path / "a" / "val_label.txt")
    assert sorted(labels) == sorted(Path(f).stem for f in files)
    assert all(0 <= label < 1000 for label in labels.values())
    again = run_script("make_demo_dataset.py", tmp_path / "a")
    assert again.returncode == 2 and "already holds a demo dataset" in again.stderr
