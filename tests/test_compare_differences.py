"""compare_outputs.py names what differs (issues 17, 21): exactly the planted top-1 disagreements with both classes,
names and scores, the lowest-cosine images; a comparison covering part of the reference is no PASS (issue 18)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from shufflenet_ascend.class_names import imagenet_class_names
from shufflenet_ascend.formats.dump import dump_file_name, write_dump


def write_folder(folder: Path, outputs: dict[str, np.ndarray]) -> Path:
    folder.mkdir(parents=True)
    for key, values in outputs.items():
        write_dump(folder / dump_file_name(key, False), values, False)
    return folder


def planted(tmp_path: Path, count: int = 59, flips: tuple[int, ...] = (3, 17, 18, 40)) -> tuple[Path, Path, dict]:
    """COUNT images; the candidate's top-1 moved to another class on FLIPS, small noise elsewhere."""
    rng = np.random.default_rng(17)
    reference, candidate, planted_rows = {}, {}, {}
    for number in range(count):
        key = f"img_{number:03d}"
        values = rng.normal(size=1000).astype(np.float32)
        top = int(rng.integers(0, 1000))
        values[top] = 8.0
        other = values.copy() + rng.normal(scale=1e-4, size=1000).astype(np.float32)
        if number in flips:
            new = (top + 200 + number) % 1000
            other[new] = 9.0
            planted_rows[key] = (top, new, float(values[top]), float(other[new]))
        reference[key], candidate[key] = values, other
    return write_folder(tmp_path / "ref", reference), write_folder(tmp_path / "cand", candidate), planted_rows


def test_the_planted_disagreements_are_listed_exactly(tmp_path: Path, run_script) -> None:
    ref, cand, planted_rows = planted(tmp_path)
    result = run_script("compare_outputs.py", ref, cand, "--min-cosine", "-1", "--json", "cmp.json")
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "cmp.json").read_text())
    names = imagenet_class_names()
    differences = document["top1_differences"]
    assert [row["key"] for row in differences] == sorted(planted_rows)
    assert document["top1_disagreements"] == len(planted_rows) == 4
    for row in differences:
        reference_class, candidate_class, reference_score, candidate_score = planted_rows[row["key"]]
        assert (row["reference_top1"], row["candidate_top1"]) == (reference_class, candidate_class)
        assert (row["reference_top1_name"], row["candidate_top1_name"]) == (
            names[reference_class],
            names[candidate_class],
        )
        assert row["reference_score"] == reference_score and row["candidate_score"] == candidate_score
        assert row["reference_score_of_candidate_top1"] < reference_score
    assert "top-1 differs on 4 images:" in result.stdout
    for key, (reference_class, candidate_class, *_scores) in planted_rows.items():
        line = next(line for line in result.stdout.splitlines() if line.strip().startswith(key) and "reference" in line)
        assert f"reference {reference_class} {names[reference_class]}" in line
        assert f"candidate {candidate_class} {names[candidate_class]}" in line
    # The ten lowest-cosine images: the four flips first.
    worst = document["worst"]
    assert len(worst) == 10 and {row["key"] for row in worst[:4]} == set(planted_rows)
    assert [row["cosine"] for row in worst] == sorted(row["cosine"] for row in worst)


def test_only_the_first_ten_differences_are_printed_all_are_in_the_json(tmp_path: Path, run_script) -> None:
    flips = tuple(range(0, 48, 4))  # 12
    ref, cand, planted_rows = planted(tmp_path, flips=flips)
    result = run_script("compare_outputs.py", ref, cand, "--min-cosine", "-1", "--json", "cmp.json")
    assert "top-1 differs on 12 images (the first 10; all in --json):" in result.stdout
    listed = [
        key
        for key in planted_rows
        if any(line.startswith(f"  {key}  reference") for line in result.stdout.splitlines())
    ]
    assert listed == sorted(planted_rows)[:10]
    assert len(json.loads((tmp_path / "cmp.json").read_text())["top1_differences"]) == 12


def test_a_comparison_of_part_of_the_reference_is_not_a_pass(tmp_path: Path, run_script) -> None:
    """Issue 18: 1 of 59 images paired printed PASS with exit 0."""
    ref, cand, _ = planted(tmp_path, flips=())
    for path in sorted(cand.iterdir())[1:]:
        path.unlink()
    result = run_script("compare_outputs.py", ref, cand, "--json", "cmp.json")
    assert result.returncode == 1
    assert "FAIL: partial: covers 1 of the reference's 59 images" in result.stdout
    assert "PASS" not in result.stdout
    document = json.loads((tmp_path / "cmp.json").read_text())
    assert document["passed"] is False and document["coverage"]["partial"] is True
    accepted = run_script("compare_outputs.py", ref, cand, "--allow-partial")
    assert accepted.returncode == 0, accepted.stderr
    assert "PARTIAL (accepted by --allow-partial): covers 1 of the reference's 59 images" in accepted.stdout
    # Issue 25: the other way round, a reference missing 58 of the candidate's images is no pass either.
    lacking = run_script("compare_outputs.py", cand, ref)
    assert lacking.returncode == 1 and "only in the candidate" in lacking.stderr
    assert "FAIL: partial reference: 58 of the candidate's 59 images have no reference output" in lacking.stdout
    assert "PASS" not in lacking.stdout
    accepted = run_script("compare_outputs.py", cand, ref, "--allow-partial")
    assert accepted.returncode == 0 and "58 of the candidate's have no reference" in accepted.stdout
