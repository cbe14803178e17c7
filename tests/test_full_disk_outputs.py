"""A full disk under compare_outputs.py --json, write_report.py and imagenet_acc_eval.py's per-image files (issue 18):
one line naming the file, exit status 3, no traceback, nothing half-written (and no JSON without its files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from test_acc_eval import crafted_160, write_case

from conftest import needs_private_tmpfs, run_on_full_disk


@needs_private_tmpfs
def test_compare_outputs_json_on_a_full_disk(tmp_path: Path) -> None:
    scores, labels = crafted_160(np.random.default_rng(8))
    dump, _ = write_case(tmp_path, scores, labels)
    full = tmp_path / "full"
    result, listing = run_on_full_disk(
        "compare_outputs.py", full, dump, dump, "--json", full / "cmp.json", cwd=tmp_path
    )
    assert result.returncode == 3 and "Traceback" not in result.stderr
    assert result.stderr.endswith(
        f"compare_outputs.py: error: {full / 'cmp.json'}: cannot write comparison JSON: No space left on device\n"
    )
    assert listing == ["filler"]


@needs_private_tmpfs
def test_write_report_on_a_full_disk(tmp_path: Path) -> None:
    full = tmp_path / "full"
    result, listing = run_on_full_disk("write_report.py", full, full / "report.md", cwd=tmp_path)
    assert result.returncode == 3 and "Traceback" not in result.stderr
    assert result.stderr.endswith(
        f"write_report.py: error: {full / 'report.md'}: cannot write report: No space left on device\n"
    )
    assert listing == ["filler"]


@needs_private_tmpfs
def test_no_json_is_left_without_its_predictions(tmp_path: Path) -> None:
    scores, labels = crafted_160(np.random.default_rng(9))
    dump, label_file = write_case(tmp_path, scores, labels)
    full = tmp_path / "full"
    result, listing = run_on_full_disk(
        "imagenet_acc_eval.py", full, dump, label_file, tmp_path, "result.json", "--predictions", full / "p.csv",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 3 and "Traceback" not in result.stderr
    assert f"{full / 'p.csv'}: cannot write predictions file: No space left on device" in result.stderr
    assert listing == ["filler"]
    assert not (tmp_path / "result.json").exists() and not (tmp_path / "result.json.record").exists()
