"""compare_accuracy.py (guide 6.3) and make_demo_dataset.py."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest
from PIL import Image

from shufflenet_ascend.formats.labels import read_labels

GUIDE_JSON = {
    "title": "Overall statistical evaluation",
    "value": [
        {"key": "Number of images", "value": "50000"},
        {"key": "Number of classes", "value": "1000"},
        {"key": "Top1 accuracy", "value": "74.06%"},
        {"key": "Top2 accuracy", "value": "84.21%"},
        {"key": "Top3 accuracy", "value": "88.11%"},
        {"key": "Top4 accuracy", "value": "90.3%"},
        {"key": "Top5 accuracy", "value": "91.67%"},
    ],
}


def write_accuracy(path: Path, top1: str, top5: str, images: int = 50000) -> Path:
    document = json.loads(json.dumps(GUIDE_JSON))
    document["value"][2]["value"], document["value"][6]["value"] = top1, top5
    document["value"][0]["value"] = str(images)
    path.write_text(json.dumps(document))
    return path


def wilson_roots(percent: float, images: int) -> tuple[float, float]:
    """The 95% Wilson interval in percent, as the two roots of its quadratic
    (1 + z^2/n) q^2 - (2p + z^2/n) q + p^2 = 0 -- another derivation than metrics.wilson_interval's centre
    +- half-width."""
    z = statistics.NormalDist().inv_cdf(0.975)
    p, k = percent / 100, z * z / images
    a, b, c = 1 + k, -(2 * p + k), p * p
    root = math.sqrt(b * b - 4 * a * c)
    return 100 * (-b - root) / (2 * a), 100 * (-b + root) / (2 * a)


def table_rows(stdout: str) -> dict[str, str]:
    return {line.split()[0]: line for line in stdout.splitlines() if line.strip()}


def test_guide_figures_pass_and_a_drop_over_one_point_fails(tmp_path, run_script):
    good = write_accuracy(tmp_path / "result_bs1.json", "74.06%", "91.67%")
    edge = write_accuracy(tmp_path / "result_bs4.json", "73.1%", "90.7%")
    bad = write_accuracy(tmp_path / "result_bs16.json", "72.9%", "91.67%")
    result = run_script("compare_accuracy.py", good, edge)
    assert result.returncode == 0, result.stderr
    rows = table_rows(result.stdout)
    low1, high1 = wilson_roots(74.06, 50000)
    low5, high5 = wilson_roots(91.67, 50000)
    assert rows["bs1"].split()[1:10] == [
        "50000",
        "74.06",
        f"[{low1:.2f},",
        f"{high1:.2f}]",
        "91.67",
        f"[{low5:.2f},",
        f"{high5:.2f}]",
        "-0.04",
        "-0.03",
    ]
    assert (f"{low1:.2f}", f"{high1:.2f}") == ("73.67", "74.44")
    assert rows["bs1"].endswith("PASS")
    assert rows["bs4"].split()[8:10] == ["-1.00", "-1.00"] and rows["bs4"].endswith("PASS")
    result = run_script("compare_accuracy.py", good, bad)
    assert result.returncode == 1
    assert "FAIL (more than 1 point below)" in table_rows(result.stdout)["bs16"]


def test_a_subset_fails_only_when_the_whole_interval_is_over_a_point_below(tmp_path, run_script):
    # 200 images, top-1 70%: 4.1 points below 74.1, but the interval reaches above 73.1: consistent.
    subset = write_accuracy(tmp_path / "result_bs1.json", "70.0%", "90.0%", images=200)
    result = run_script("compare_accuracy.py", subset)
    assert result.returncode == 0, result.stderr
    (low1, high1), (low5, high5) = wilson_roots(70.0, 200), wilson_roots(90.0, 200)
    assert high1 > 73.1 and low1 < 70 - 5  # the case is what it claims to be
    row = table_rows(result.stdout)["bs1"]
    assert f"[{low1:.2f}, {high1:.2f}]" in row and f"[{low5:.2f}, {high5:.2f}]" in row
    assert row.endswith(f"consistent on 200 images (+-{(high1 - low1) / 2:.2f} / +-{(high5 - low5) / 2:.2f} points)")

    # 60% of 200: the whole interval lies more than a point below 74.1.
    low = write_accuracy(tmp_path / "result_bs16.json", "60.0%", "90.0%", images=200)
    assert wilson_roots(60.0, 200)[1] < 73.1
    result = run_script("compare_accuracy.py", subset, low)
    assert result.returncode == 1
    assert table_rows(result.stdout)["bs16"].endswith("FAIL on 200 images (whole 95% interval more than 1 point below)")

    # The same 72.9% top-1: FAIL on all 50,000 images, consistent on one image fewer (interval reaches 73.1+).
    assert wilson_roots(72.9, 49999)[1] > 73.1
    almost = write_accuracy(tmp_path / "result_bs8.json", "72.9%", "91.67%", images=49999)
    result = run_script("compare_accuracy.py", almost)
    assert result.returncode == 0 and "consistent on 49999 images" in result.stdout


@pytest.mark.parametrize("top1", ["nan%", "inf%", "-infinity%", "100.01%", "-3%"])
def test_impossible_figures_are_refused(tmp_path, run_script, top1):
    path = write_accuracy(tmp_path / "result_bs1.json", top1, "91.67%")
    result = run_script("compare_accuracy.py", path)
    assert result.returncode == 2
    assert result.stderr == (
        f"compare_accuracy.py: error: {path}: Top1 accuracy {top1!r} is not a percentage between 0 and 100\n"
    )
    assert result.stdout == ""


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
            " of imagenet_acc_eval.py" if name == "empty.json" else ""
        )


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
