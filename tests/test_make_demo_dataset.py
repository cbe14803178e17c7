"""make_demo_dataset.py and shufflenet_ascend.demo: a deterministic demo, made whole or not at all."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from conftest import fill_disk, small_disk
from shufflenet_ascend.formats.labels import read_labels


def listing(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def test_demo_is_deterministic_and_labelled(run_script, tmp_path: Path) -> None:
    for name in ("a", "b"):
        result = run_script("make_demo_dataset.py", name, "--count", 12, "--seed", 3)
        assert result.returncode == 0, result.stderr
    assert listing(tmp_path / "a") == listing(tmp_path / "b")
    assert all(
        (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        for name in listing(tmp_path / "a")
        if name != "val"
    )
    labels = read_labels(tmp_path / "a" / "val_label.txt")
    assert sorted(labels) == sorted(path.stem for path in (tmp_path / "a" / "val").iterdir())
    modes = {Image.open(path).mode for path in (tmp_path / "a" / "val").iterdir()}
    assert {"RGB", "L", "CMYK", "P", "RGBA"} <= modes
    assert [path.name for path in (tmp_path / "a").iterdir() if path.name.startswith(".")] == []


def test_another_seed_gives_other_pictures_under_the_same_names(run_script, tmp_path: Path) -> None:
    for name, seed in (("X", 1), ("Y", 2)):
        assert run_script("make_demo_dataset.py", name, "--seed", seed, "--count", 5).returncode == 0
    x_files, y_files = (sorted((tmp_path / name / "val").iterdir()) for name in ("X", "Y"))
    assert [path.name for path in x_files] == [path.name for path in y_files]
    assert all(x.read_bytes() != y.read_bytes() for x, y in zip(x_files, y_files, strict=False))


def test_an_existing_demo_is_refused(run_script, tmp_path: Path) -> None:
    assert run_script("make_demo_dataset.py", "d", "--count", 2).returncode == 0
    before = listing(tmp_path / "d")
    result = run_script("make_demo_dataset.py", "d", "--count", 2)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "make_demo_dataset.py: error: d: already holds a demo dataset (val/ or val_label.txt); remove it first"
    ]
    assert listing(tmp_path / "d") == before


def test_a_full_disk_is_one_line_and_leaves_nothing(run_script, tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", size="1m") as disk:
        result = run_script("make_demo_dataset.py", "disk/demo", "--count", 40)
        assert result.returncode == 3  # cannot write: the one exit status of a full disk
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("make_demo_dataset.py: error: disk/demo/val/demo_val_000000")
        assert lines[0].endswith(": cannot write: No space left on device; the demo dataset was not made")
        assert listing(disk) == []

        fill_disk(disk)
        (disk / "demo").mkdir()
        result = run_script("make_demo_dataset.py", "disk/demo", "--count", 1)
        assert result.returncode == 3
        assert len(result.stderr.splitlines()) == 1 and "No space left on device" in result.stderr
        assert listing(disk) == ["demo", "filler"]
