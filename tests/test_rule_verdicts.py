"""Issue 25, verdicts that cannot fail: a comparison whose reference lacks images, and thresholds no figure can miss
(``nan``), were a PASS. A partial reference now fails (exit status 1, naming how many images lack a reference);
a threshold that is not a number of its range is refused where it enters (exit status 2). Each case ends in one line
on stderr, no traceback, and the work folder byte-identical."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import assert_one_line, snapshot
from shufflenet_ascend.formats.dump import write_dumps

KEYS = [f"ILSVRC2012_val_{number:08d}" for number in range(1, 7)]


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A candidate dump of six images, a reference dump of the first four, labels, an accuracy JSON."""
    rows = np.random.default_rng(1).normal(size=(len(KEYS), 1000)).astype(np.float32)
    for name, count in (("candidate", 6), ("reference", 4), ("complete", 6)):
        (tmp_path / name).mkdir()
        write_dumps(tmp_path / name, KEYS[:count], rows[:count], False, 1)
    labels = "".join(f"{key}.JPEG {int(np.argmax(row))}\n" for key, row in zip(KEYS, rows, strict=True))
    (tmp_path / "val_label.txt").write_text(labels)
    return tmp_path


CASES: dict[str, tuple[list[str], int, str]] = {
    "a reference missing images": (
        ["compare_outputs.py", "reference", "candidate"],
        1,
        "2 images are only in the candidate folder",  # the warning; the FAIL line is on stdout
    ),
    "--min-cosine nan": (["compare_outputs.py", "complete", "candidate", "--min-cosine", "nan"], 2, "--min-cosine"),
    "--min-cosine 2": (["compare_outputs.py", "complete", "candidate", "--min-cosine", "2"], 2, "from -1 to 1"),
    "--min-top1-agreement nan": (
        ["compare_outputs.py", "complete", "candidate", "--min-top1-agreement", "nan"],
        2,
        "--min-top1-agreement: 'nan': expected a number from 0 to 100",
    ),
    "compare_layers --min-cosine nan": (
        ["compare_layers.py", "random", "--fp16", "--input", "x.bin", "--csv", "l.csv", "--min-cosine", "nan"],
        2,
        "--min-cosine: 'nan': expected a number from -1 to 1",
    ),
    "compare_accuracy --reference nan nan": (
        ["compare_accuracy.py", "r.json", "--reference", "nan", "nan"],
        2,
        "--reference: 'nan': expected a number from 0 to 100",
    ),
    "compare_accuracy --tolerance inf": (["compare_accuracy.py", "r.json", "--tolerance", "inf"], 2, "--tolerance"),
    "acc_eval --reference nan nan": (
        ["imagenet_acc_eval.py", "complete", "val_label.txt", "./", "r.json", "--reference", "nan", "nan"],
        2,
        "--reference: 'nan'",
    ),
    "acc_eval --tolerance -1": (
        ["imagenet_acc_eval.py", "complete", "val_label.txt", "./", "r.json", "--tolerance", "-1"],
        2,
        "--tolerance: '-1'",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_verdict_can_fail(work: Path, run_script, case: str) -> None:
    args, status, fragment = CASES[case]
    before = snapshot(work)
    result = run_script(*args, cwd=work)
    assert_one_line(result, status, fragment)
    assert "PASS" not in result.stdout
    assert snapshot(work) == before


def test_a_partial_reference_names_how_many_images_lack_one(work: Path, run_script) -> None:
    result = run_script("compare_outputs.py", "reference", "candidate", "--json", "cmp.json", cwd=work)
    assert result.returncode == 1
    assert "FAIL: partial reference: 2 of the candidate's 6 images have no reference output" in result.stdout
    accepted = run_script("compare_outputs.py", "reference", "candidate", "--allow-partial", cwd=work)
    assert accepted.returncode == 0
    assert (
        "PARTIAL (accepted by --allow-partial): covers 4 of the reference's 4 images; 2 of the candidate's have no "
        "reference" in accepted.stdout
    )
    complete = run_script("compare_outputs.py", "complete", "candidate", cwd=work)
    assert complete.returncode == 0 and "PASS: min cosine >= 0.99" in complete.stdout
