"""imagenet_torch_preprocess.py and shufflenet_ascend.preprocess: bins byte-identical to the guide's transform,
resumable, safe on bad input."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import shufflenet_ascend.preprocess.folder as prep
from conftest import REPO_ROOT, fill_disk, small_disk
from guide_reference import guide_bin_bytes
from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import BIN_BYTES, BIN_BYTES_BY_DTYPE
from shufflenet_ascend.demo import make_picture
from shufflenet_ascend.preprocess.record import (
    RecordEntry,
    SourceRecord,
    dataset_identity,
    format_record,
    list_images,
    parse_record,
    scan_source_folder,
)
from shufflenet_ascend.preprocess.transform import (
    ImageRefused,
    center_crop_origin,
    check_resize_bound,
    preprocess_image,
    resized_size,
    transform_identity,
    uint8_bin_as_float32,
)

# --------------------------------------------------------------------------------------------------------------
# Test images.

# (width, height, PIL mode, extension)
CASES = [
    (500, 375, "RGB", ".JPEG"),  # landscape, the typical ImageNet size
    (375, 500, "RGB", ".JPEG"),  # portrait
    (300, 300, "RGB", ".jpg"),  # square
    (341, 256, "RGB", ".JPEG"),  # short side already 256; crop left (341-224)/2 = 58.5 rounds to even
    (257, 300, "RGB", ".png"),  # crop top (298-224)/2 = 37 after the resize to 256 x 298
    (257, 259, "RGB", ".png"),  # odd sizes both ways
    (225, 225, "RGB", ".bmp"),  # upscaled by a hair
    (200, 150, "RGB", ".JPEG"),  # tiny: shorter side < 224, upscaled
    (31, 97, "RGB", ".png"),  # tiny portrait
    (1000, 120, "RGB", ".webp"),  # very wide
    (500, 333, "L", ".JPEG"),  # grayscale
    (400, 300, "CMYK", ".JPEG"),
    (640, 480, "P", ".png"),  # palette
    (300, 320, "RGBA", ".png"),
    (320, 240, "I;16", ".png"),  # 16-bit grayscale
    (260, 270, "LA", ".png"),
]


def save_picture(path: Path, width: int, height: int, mode: str, seed: int = 0) -> Path:
    picture = make_picture(np.random.default_rng(seed), width, height, mode)
    picture.save(path, quality=90) if path.suffix.lower() in {".jpeg", ".jpg"} else picture.save(path)
    return path


def case_name(case: tuple[int, int, str, str]) -> str:
    width, height, mode, extension = case
    return f"{width}x{height}_{mode.replace(';', '')}{extension}"


@pytest.fixture(scope="module")
def case_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cases")
    return {
        case_name(case): save_picture(folder / f"img_{case_name(case)}", *case[:3], seed=number)
        for number, case in enumerate(CASES)
    }


def test_test_images_have_the_modes_they_claim(case_images: dict[str, Path]) -> None:
    modes = {Image.open(path).mode for path in case_images.values()}
    assert {"L", "CMYK", "P", "RGBA", "LA", "RGB"} <= modes
    assert modes & {"I;16", "I;16B", "I"}


# --------------------------------------------------------------------------------------------------------------
# The transform.


@pytest.mark.parametrize(
    ("height", "width", "expected"),
    [
        (375, 500, (341, 256)),
        (500, 375, (256, 341)),
        (300, 300, (256, 256)),
        (256, 341, (341, 256)),
        (300, 257, (256, 299)),
        (150, 200, (341, 256)),
        (97, 31, (256, 801)),
    ],
)
def test_resized_size(height: int, width: int, expected: tuple[int, int]) -> None:
    assert resized_size(height, width) == expected


@pytest.mark.parametrize(
    ("height", "width", "expected"),
    [(256, 341, (16, 58)), (256, 343, (16, 60)), (299, 256, (38, 16)), (224, 224, (0, 0)), (257, 258, (16, 17))],
)
def test_center_crop_rounds_halves_to_even(height: int, width: int, expected: tuple[int, int]) -> None:
    assert center_crop_origin(height, width) == expected


@pytest.mark.parametrize("case", CASES, ids=case_name)
def test_preprocess_image_is_byte_identical_to_the_guide(
    case: tuple[int, int, str, str], case_images: dict[str, Path], tmp_path: Path
) -> None:
    image = case_images[case_name(case)]
    model_input = preprocess_image(image)
    assert model_input.dtype == np.float32 and model_input.shape == (3, 224, 224)
    assert model_input.flags.c_contiguous
    assert 0 <= model_input.min() and model_input.max() <= 255
    assert model_input.tobytes() == guide_bin_bytes(image, tmp_path)


def test_channels_are_bgr(tmp_path: Path) -> None:
    pure_red = tmp_path / "red.png"
    Image.new("RGB", (300, 260), (255, 0, 0)).save(pure_red)
    model_input = preprocess_image(pure_red)
    assert np.all(model_input[2] == 255) and np.all(model_input[:2] == 0)


def test_opencv_thread_count_does_not_change_the_bytes(case_images: dict[str, Path]) -> None:
    previous = cv2.getNumThreads()
    try:
        results = {}
        for threads in (1, 4):
            cv2.setNumThreads(threads)
            results[threads] = [preprocess_image(path).tobytes() for path in case_images.values()]
    finally:
        cv2.setNumThreads(previous)
    assert results[1] == results[4]


def test_worker_processes_write_the_guides_bytes(case_images: dict[str, Path], tmp_path: Path) -> None:
    src = next(iter(case_images.values())).parent
    summary = prep.preprocess_folder(src, tmp_path / "out", workers=2, progress=False)
    assert (summary.done, summary.skipped, summary.failed) == (len(CASES), 0, 0)
    for image in case_images.values():
        written = (tmp_path / "out" / f"{image.stem}.bin").read_bytes()
        assert written == guide_bin_bytes(image, tmp_path), image.name


def test_workers_start_after_the_callers_opencv_threads_have_run(case_images: dict[str, Path], tmp_path: Path) -> None:
    # Forked workers of a process whose OpenCV thread pool has run can hang in OpenCV: run it apart, with a timeout.
    src = next(iter(case_images.values())).parent
    script = (
        "import sys, cv2\n"
        "import shufflenet_ascend.preprocess.folder as prep\n"
        "from shufflenet_ascend.preprocess.record import list_images\n"
        "from shufflenet_ascend.preprocess.transform import preprocess_image\n"
        "cv2.setNumThreads(4)\n"
        "for image in sorted(list_images(sys.argv[1])[0]): preprocess_image(image)\n"
        "summary = prep.preprocess_folder(sys.argv[1], sys.argv[2], workers=2, progress=False)\n"
        "print(summary.done, cv2.getNumThreads())\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(src), str(tmp_path / "out")],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the hung workers too
        process.communicate()
        pytest.fail("preprocess_folder hung in its worker processes")
    assert process.returncode == 0, stderr
    assert stdout.split() == [str(len(CASES)), "4"]  # the caller's OpenCV setting is restored


# --------------------------------------------------------------------------------------------------------------
# One folder: listing, resume, failures.


def make_folder(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for number, name in enumerate(names):
        save_picture(folder / name, 240 + 7 * number, 230 + 3 * number, "RGB", seed=number)
    return folder


def folder_listing(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_list_images_sorted_any_case_and_counts_the_rest(tmp_path: Path) -> None:
    src = make_folder(tmp_path / "src", ["b.JPEG", "a.jpg", "c.PnG", "d.Bmp", "e.WEBP", ".hidden.jpg"])
    (src / "notes.txt").write_text("not an image")
    (src / "subfolder.jpg").mkdir()
    images, ignored = list_images(src)
    assert [image.name for image in images] == ["a.jpg", "b.JPEG", "c.PnG", "d.Bmp", "e.WEBP"]
    assert ignored == 3


def test_duplicate_stems_are_refused_before_any_work(tmp_path: Path) -> None:
    src = make_folder(tmp_path / "src", ["a.jpg", "x.JPEG", "x.png"])
    with pytest.raises(PipelineError, match=r"x\.JPEG and x\.png"):
        prep.preprocess_folder(src, tmp_path / "out", workers=1, progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["same", "inside", "deeper"])
def test_output_folder_in_source_folder_is_refused(tmp_path: Path, where: str) -> None:
    src = make_folder(tmp_path / "src", ["a.jpg"])
    dst = {"same": src / ".." / "src", "inside": src / "out", "deeper": src / "x" / "y"}[where]
    with pytest.raises(PipelineError, match="is an input of this command|lies inside"):
        prep.preprocess_folder(src, dst, workers=1, progress=False)
    assert folder_listing(src) == ["a.jpg"]


def test_resume_skips_complete_bins_and_redoes_a_truncated_or_replaced_one(tmp_path: Path) -> None:
    names = ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    src, dst = make_folder(tmp_path / "src", names), tmp_path / "dst" / "nested"
    first = prep.preprocess_folder(src, dst, workers=1, progress=False)
    assert (first.done, first.skipped, first.failed) == (4, 0, 0)
    complete = {name: (dst / name).read_bytes() for name in ["a.bin", "b.bin", "c.bin", "d.bin"]}

    # What a killed run leaves: a truncated bin (from another tool) and temporary files.
    (dst / "c.bin").write_bytes(complete["c.bin"][:1000])
    (dst / ".d.bin.k3jd9.tmp").write_bytes(b"partial")
    (dst / ".failed.txt.abc.tmp").write_text("partial")
    (dst / "..prep_sources.json.1-2.tmp").write_text("partial")
    # The right size, but not the bin the record knows (another modification time): redone too.
    bin_mtime = (dst / "a.bin").stat().st_mtime_ns
    (dst / "a.bin").write_bytes(b"\0" * BIN_BYTES)
    os.utime(dst / "a.bin", ns=(bin_mtime + 10**9, bin_mtime + 10**9))

    second = prep.preprocess_folder(src, dst, workers=2, progress=False)
    assert (second.done, second.skipped, second.failed) == (2, 2, 0)
    assert {name: (dst / name).read_bytes() for name in complete} == complete
    assert folder_listing(dst) == [".prep_sources.json", "a.bin", "b.bin", "c.bin", "d.bin"]

    third = prep.preprocess_folder(src, dst, workers=1, overwrite=True, progress=False)
    assert (third.done, third.skipped) == (4, 0)
    assert {name: (dst / name).read_bytes() for name in complete} == complete


def test_bad_images_are_listed_and_the_rest_is_done(tmp_path: Path) -> None:
    src = make_folder(tmp_path / "src", ["good1.jpg", "good2.png", "truncated.jpg"])
    jpeg = (src / "truncated.jpg").read_bytes()
    (src / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (src / "empty.jpg").write_bytes(b"")
    (src / "text.png").write_text("this is not a picture\n")
    summary = prep.preprocess_folder(src, tmp_path / "dst", workers=2, progress=False)
    assert summary.done == 2
    reasons = {Path(failure.image).name: failure.reason for failure in summary.failures}
    assert list(reasons) == ["empty.jpg", "text.png", "truncated.jpg"]
    assert reasons["empty.jpg"] == "empty file"
    assert "not an image" in reasons["text.png"]
    assert reasons["truncated.jpg"].startswith("cannot decode: image file is truncated")
    assert folder_listing(tmp_path / "dst") == [".prep_sources.json", "failed.txt", "good1.bin", "good2.bin"]
    failed_lines = (tmp_path / "dst" / "failed.txt").read_text().splitlines()
    assert failed_lines == [f"{src / name}: {reason}" for name, reason in reasons.items()]


# --------------------------------------------------------------------------------------------------------------
# The command line.


def test_cli_writes_bins_and_a_summary(run_script, tmp_path: Path) -> None:
    src = make_folder(tmp_path / "val", ["x1.JPEG", "x2.JPEG", "x3.png"])
    (src / "readme.txt").write_text("ignored")
    result = run_script("imagenet_torch_preprocess.py", "val", "prep_dataset", "-j", "2")
    assert result.returncode == 0, result.stderr
    assert folder_listing(tmp_path / "prep_dataset") == [".prep_sources.json", "x1.bin", "x2.bin", "x3.bin"]
    assert all((tmp_path / "prep_dataset" / f"x{n}.bin").stat().st_size == BIN_BYTES for n in (1, 2, 3))
    assert "done 3, skipped 0" in result.stderr and "failed 0" in result.stderr and "ignored 1" in result.stderr
    assert "images/s" in result.stderr

    again = run_script("imagenet_torch_preprocess.py", "val", "prep_dataset")
    assert again.returncode == 0, again.stderr
    assert "done 0, skipped 3" in again.stderr


def test_cli_bad_images_exit_1_and_skip_bad_exits_0(run_script, tmp_path: Path) -> None:
    src = make_folder(tmp_path / "val", ["ok.jpg"])
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    result = run_script("imagenet_torch_preprocess.py", "val", "out", "-j", "1")
    assert result.returncode == 1
    assert f"{Path('val') / 'broken.jpg'}: cannot decode: " in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "out" / "failed.txt").read_text().startswith(str(Path("val") / "broken.jpg"))
    assert (tmp_path / "out" / "ok.bin").stat().st_size == BIN_BYTES

    skip_bad = run_script("imagenet_torch_preprocess.py", "val", "out", "-j", "1", "--skip-bad")
    assert skip_bad.returncode == 0
    assert "broken.jpg" in skip_bad.stderr

    (src / "broken.jpg").unlink()
    fixed = run_script("imagenet_torch_preprocess.py", "val", "out")
    assert fixed.returncode == 0
    assert folder_listing(tmp_path / "out") == [".prep_sources.json", "ok.bin"]  # the stale failure list is gone


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing", "out"], "missing: source folder not found"),
        (["val/a.jpg", "out"], "is not a folder"),
        (["val", "val/out"], "lies inside val, a folder this command reads"),
        (["val", "val"], "is an input of this command"),
        (["empty", "out"], "no image files"),
        (["dup", "out"], "same name"),
        (["val", "out", "-j", "0"], "must be at least 1"),
        (["val", "out", "--workers", "two"], "expected a whole number"),
        (["val"], "required"),
    ],
)
def test_cli_usage_errors_exit_2_and_write_nothing(run_script, tmp_path: Path, args: list[str], message: str) -> None:
    make_folder(tmp_path / "val", ["a.jpg"])
    make_folder(tmp_path / "dup", ["a.jpg", "a.png"])
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images")
    before = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*"))
    result = run_script("imagenet_torch_preprocess.py", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*")) == before


# --------------------------------------------------------------------------------------------------------------
# The record of each bin's source: another dataset, in-place changes, killed runs.


def bins_of(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.bin"))}


def demo(run_script, tmp_path: Path, name: str, seed: int, count: int = 12) -> Path:
    """``python make_demo_dataset.py NAME --seed SEED --count COUNT``; returns NAME/val."""
    result = run_script("make_demo_dataset.py", name, "--seed", seed, "--count", count)
    assert result.returncode == 0, result.stderr
    return tmp_path / name / "val"


def clean_run(run_script, tmp_path: Path, src: str) -> dict[str, bytes]:
    """The bins of a run on ``src`` into a fresh folder."""
    out = tmp_path / f"clean_{len(list(tmp_path.glob('clean_*')))}"
    result = run_script("imagenet_torch_preprocess.py", src, out, "-j", "2")
    assert result.returncode in (0, 1), result.stderr
    return bins_of(out)


def test_bins_of_another_dataset_are_refused_and_overwrite_gives_a_clean_run(run_script, tmp_path: Path) -> None:
    demo(run_script, tmp_path, "X", seed=1)
    demo(run_script, tmp_path, "Y", seed=2)
    first = run_script("imagenet_torch_preprocess.py", "X/val", "w/prep_dataset", "-j", "2")
    assert first.returncode == 0, first.stderr
    x_bins = bins_of(tmp_path / "w" / "prep_dataset")
    assert len(x_bins) == 12

    refused = run_script("imagenet_torch_preprocess.py", "Y/val", "w/prep_dataset", "-j", "2")
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [
        "imagenet_torch_preprocess.py: error: w/prep_dataset: holds bins of another dataset: 12 of its 12 .bin "
        "files were not made from the images now in Y/val (12 from other versions of these files, 0 of images "
        f"not there, 0 not recorded; made from {tmp_path / 'X' / 'val'}); use another output folder, or "
        "--overwrite to delete them and start afresh"
    ]
    assert bins_of(tmp_path / "w" / "prep_dataset") == x_bins  # untouched

    overwrite = run_script("imagenet_torch_preprocess.py", "Y/val", "w/prep_dataset", "-j", "2", "--overwrite")
    assert overwrite.returncode == 0, overwrite.stderr
    assert "done 12, skipped 0" in overwrite.stderr
    y_bins = bins_of(tmp_path / "w" / "prep_dataset")
    assert y_bins == clean_run(run_script, tmp_path, "Y/val")
    # Same names, other pictures (but for the demo's 16-bit PNG, which Pillow's convert('RGB') saturates to white).
    assert y_bins.keys() == x_bins.keys() and sum(y_bins[name] != x_bins[name] for name in y_bins) == 11

    again = run_script("imagenet_torch_preprocess.py", "Y/val", "w/prep_dataset")
    assert again.returncode == 0 and "done 0, skipped 12" in again.stderr


def test_if_other_dataset_overwrite_replaces_another_dataset_and_resumes_this_one(run_script, tmp_path: Path) -> None:
    # What run_all.sh passes for its own work folder.
    src = demo(run_script, tmp_path, "X", seed=1)
    donor = demo(run_script, tmp_path, "Y", seed=2)
    assert run_script("imagenet_torch_preprocess.py", "X/val", "prep", "-j", "2").returncode == 0
    replace_image(src / "demo_val_00000002.JPEG", donor / "demo_val_00000002.JPEG")
    resumed = run_script("imagenet_torch_preprocess.py", "X/val", "prep", "-j", "2", "--if-other-dataset", "overwrite")
    assert resumed.returncode == 0, resumed.stderr
    assert "done 1, skipped 11" in resumed.stderr
    assert bins_of(tmp_path / "prep") == clean_run(run_script, tmp_path, "X/val")

    replaced = run_script("imagenet_torch_preprocess.py", "Y/val", "prep", "-j", "2", "--if-other-dataset", "overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert replaced.stderr.splitlines()[0] == (
        "prep: holds bins of another dataset: 12 of its 12 .bin files were not made from the images now in Y/val "
        f"(12 from other versions of these files, 0 of images not there, 0 not recorded; made from {src}); "
        "--if-other-dataset overwrite: deleting them and starting afresh"
    )
    assert "done 12, skipped 0" in replaced.stderr
    assert bins_of(tmp_path / "prep") == clean_run(run_script, tmp_path, "Y/val")


def test_bins_without_a_record_are_refused(run_script, tmp_path: Path) -> None:
    demo(run_script, tmp_path, "X", seed=1, count=3)
    (tmp_path / "prep").mkdir()
    (tmp_path / "prep" / "demo_val_00000001.bin").write_bytes(b"\0" * BIN_BYTES)
    result = run_script("imagenet_torch_preprocess.py", "X/val", "prep")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "imagenet_torch_preprocess.py: error: prep: holds 1 .bin files without a record of their images "
        "(.prep_sources.json): made by another tool, an older version of this script or from another dataset; "
        "use another output folder, or --overwrite to delete them and start afresh"
    ]
    (tmp_path / "prep" / ".prep_sources.json").write_text('{"something": "else"}')
    result = run_script("imagenet_torch_preprocess.py", "X/val", "prep")
    assert result.returncode == 2
    assert "prep/.prep_sources.json: not a record of this script" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    replaced = run_script("imagenet_torch_preprocess.py", "X/val", "prep", "--if-other-dataset", "overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert "not a record of this script" in replaced.stderr and "done 3, skipped 0" in replaced.stderr


def replace_image(image: Path, donor: Path) -> None:
    """Put another picture under ``image``'s name, one second newer (as an edit a moment later would be)."""
    mtime = image.stat().st_mtime_ns
    image.write_bytes(donor.read_bytes())
    os.utime(image, ns=(mtime + 10**9, mtime + 10**9))


def test_in_place_changes_redo_add_and_remove_bins_like_a_clean_run(run_script, tmp_path: Path) -> None:
    src = demo(run_script, tmp_path, "X", seed=1)
    donor = demo(run_script, tmp_path, "Y", seed=2)
    assert run_script("imagenet_torch_preprocess.py", "X/val", "prep", "-j", "2").returncode == 0
    before = bins_of(tmp_path / "prep")

    replace_image(src / "demo_val_00000003.JPEG", donor / "demo_val_00000003.JPEG")  # replaced
    (src / "demo_val_00000005.JPEG").unlink()  # removed
    shutil.copy(donor / "demo_val_00000001.JPEG", src / "added.JPEG")  # added
    result = run_script("imagenet_torch_preprocess.py", "X/val", "prep", "-j", "2")
    assert result.returncode == 0, result.stderr
    assert "done 2, skipped 10 (bin up to date), removed 1 (image gone), failed 0" in result.stderr
    after = bins_of(tmp_path / "prep")
    assert after == clean_run(run_script, tmp_path, "X/val")
    assert sorted(set(before) ^ set(after)) == ["added.bin", "demo_val_00000005.bin"]
    assert [name for name in after if name in before and after[name] != before[name]] == ["demo_val_00000003.bin"]

    record = json.loads((tmp_path / "prep" / ".prep_sources.json").read_text())
    assert sorted(record["images"]) == sorted(path.name for path in src.iterdir())
    replaced = src / "demo_val_00000003.JPEG"
    assert record["fields"] == ["size", "mtime_ns", "inode", "ctime_ns", "bin_mtime_ns"]
    size, mtime, inode, ctime, bin_mtime = record["images"][replaced.name]
    stat = replaced.stat()
    assert (size, mtime, inode, ctime) == (stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns)
    assert bin_mtime == (tmp_path / "prep" / "demo_val_00000003.bin").stat().st_mtime_ns
    assert record["source_folder"] == str(src) and record["transform"] == transform_identity()
    assert record["dtype"] == "float32"


def test_an_image_that_became_unreadable_loses_its_bin(run_script, tmp_path: Path) -> None:
    src = make_folder(tmp_path / "val", ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"])
    assert run_script("imagenet_torch_preprocess.py", "val", "prep", "-j", "1").returncode == 0
    mtime = (src / "b.jpg").stat().st_mtime_ns
    (src / "b.jpg").write_bytes(b"garbage")
    os.utime(src / "b.jpg", ns=(mtime + 10**9, mtime + 10**9))
    (src / "c.jpg").unlink()
    (src / "c.jpg").symlink_to("gone.jpg")
    result = run_script("imagenet_torch_preprocess.py", "val", "prep", "-j", "1")
    assert result.returncode == 1
    assert folder_listing(tmp_path / "prep") == [".prep_sources.json", "a.bin", "d.bin", "e.bin", "failed.txt"]
    assert (tmp_path / "prep" / "failed.txt").read_text() == (
        "val/b.jpg: not an image (PIL cannot identify it)\nval/c.jpg: broken symbolic link (to gone.jpg, not found)\n"
    )


def test_a_killed_run_resumes_to_the_bins_of_a_clean_run(tmp_path: Path) -> None:
    # SIGKILL after 5 bins, at the worst moment: bins made, none of them in the record yet.
    src = make_folder(tmp_path / "val", [f"{n:02d}.png" for n in range(12)])
    script = (
        "import os, sys\n"
        "import shufflenet_ascend.preprocess.folder as prep\n"
        "real, made = prep.process_one, []\n"
        "def dying(task):\n"
        "    if len(made) == 5: os._exit(9)\n"
        "    made.append(task); return real(task)\n"
        "prep.process_one = dying\n"
        "prep.preprocess_folder(sys.argv[1], sys.argv[2], workers=1, progress=False)\n"
    )
    killed = subprocess.run(
        [sys.executable, "-c", script, str(src), str(tmp_path / "prep")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == 9, killed.stderr
    assert len(bins_of(tmp_path / "prep")) == 5
    record = json.loads((tmp_path / "prep" / ".prep_sources.json").read_text())
    assert len(record["images"]) == 12 and all(entry[-1] is None for entry in record["images"].values())

    resumed = prep.preprocess_folder(src, tmp_path / "prep", workers=2, progress=False)
    assert (resumed.done, resumed.skipped) == (12, 0)  # the unrecorded bins are redone
    fresh = prep.preprocess_folder(src, tmp_path / "fresh", workers=1, progress=False)
    assert fresh.done == 12 and bins_of(tmp_path / "prep") == bins_of(tmp_path / "fresh")


def test_an_interrupted_run_records_the_bins_it_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_folder(tmp_path / "val", [f"{n:02d}.png" for n in range(8)])
    real, made = prep.process_one, []

    def interrupted(task):
        if len(made) == 3:
            raise KeyboardInterrupt
        made.append(task)
        return real(task)

    monkeypatch.setattr(prep, "process_one", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prep.preprocess_folder(src, tmp_path / "prep", workers=1, progress=False)
    monkeypatch.setattr(prep, "process_one", real)
    resumed = prep.preprocess_folder(src, tmp_path / "prep", workers=1, progress=False)
    assert (resumed.done, resumed.skipped) == (5, 3)


def test_a_new_transform_or_library_version_redoes_every_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_folder(tmp_path / "val", ["a.jpg", "b.jpg"])
    assert prep.preprocess_folder(src, tmp_path / "prep", workers=1, progress=False).done == 2
    monkeypatch.setattr(prep, "transform_identity", lambda dtype: "megvii-val-v1; Pillow 99; OpenCV 99")
    again = prep.preprocess_folder(src, tmp_path / "prep", workers=1, progress=False)
    assert (again.done, again.skipped) == (2, 0)
    assert json.loads((tmp_path / "prep" / ".prep_sources.json").read_text())["transform"].endswith("OpenCV 99")


def test_an_unchanged_folder_leaves_the_record_untouched(tmp_path: Path) -> None:
    src = make_folder(tmp_path / "val", ["a.jpg", "b.jpg"])
    (src / "bad.jpg").write_text("bad")
    prep.preprocess_folder(src, tmp_path / "prep", workers=1, progress=False)
    record = tmp_path / "prep" / ".prep_sources.json"
    stamp = (record.read_bytes(), record.stat().st_mtime_ns, record.stat().st_ino)
    again = prep.preprocess_folder(src, tmp_path / "prep", workers=1, progress=False)
    assert (again.done, again.skipped, again.failed) == (0, 2, 1)
    assert (record.read_bytes(), record.stat().st_mtime_ns, record.stat().st_ino) == stamp


def test_bins_needed_bytes_is_what_the_run_adds_to_its_disk(tmp_path: Path) -> None:
    # The driver's free-space estimate: the bins still to make, less the bins the run deletes first.
    src = make_folder(tmp_path / "val", ["a.jpg", "b.jpg", "c.jpg"])
    assert prep.bins_needed_bytes(src, tmp_path / "prep") == 3 * BIN_BYTES  # no output folder yet
    assert not (tmp_path / "prep").exists()
    prep.preprocess_folder(src, tmp_path / "prep", workers=1, progress=False)
    assert prep.bins_needed_bytes(src, tmp_path / "prep") == 0
    (src / "c.jpg").unlink()  # its bin goes
    assert prep.bins_needed_bytes(src, tmp_path / "prep") == -BIN_BYTES

    other = make_folder(tmp_path / "other", ["a.jpg", "b.jpg", "x.jpg", "y.jpg"])
    with pytest.raises(PipelineError, match="holds bins of another dataset"):
        prep.bins_needed_bytes(other, tmp_path / "prep")
    # As the preprocessor would with --if-other-dataset overwrite: all three bins go, four are made.
    assert prep.bins_needed_bytes(other, tmp_path / "prep", if_other_dataset="overwrite") == BIN_BYTES
    assert sorted(path.name for path in (tmp_path / "prep").glob("*.bin")) == ["a.bin", "b.bin", "c.bin"]


def test_dataset_identity_follows_the_images_not_the_folder(tmp_path: Path) -> None:
    src = make_folder(tmp_path / "val", ["b.jpg", "a.png"])
    (src / "notes.txt").write_text("not an image")
    images = scan_source_folder(src).images
    identity = dataset_identity(images)
    assert identity.splitlines() == [
        f"{image.name}\t{stat.st_size}\t{stat.st_mtime_ns}\t{stat.st_ino}\t{stat.st_ctime_ns}"
        for image in images
        for stat in [image.path.stat()]
    ]
    assert [line.split("\t")[0] for line in identity.splitlines()] == ["a.png", "b.jpg"]
    moved = src.rename(tmp_path / "moved")
    assert dataset_identity(scan_source_folder(moved).images) == identity
    replace_image(moved / "b.jpg", make_folder(tmp_path / "donor", ["b.jpg", "c.jpg"]) / "c.jpg")
    assert dataset_identity(scan_source_folder(moved).images) != identity


def test_record_round_trips_any_file_name() -> None:
    record = SourceRecord(
        "t",
        "/data/\udcffval",
        {
            "a.JPEG": RecordEntry(1, 2, 3, 4, None),
            'quote"tab\tnew\nline.png': RecordEntry(3, 4, 5, 6, 7),
            "\u00e9t\u00e9.jpg": RecordEntry(6, 7, 8, 9, 10),
        },
        "uint8",
    )
    text = format_record(record)
    assert text.isascii() and len(text.splitlines()) == 6 + 3 + 1  # one line per image
    assert parse_record(text) == record


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        '{"record": "x"}',
        '{"record": "imagenet_torch_preprocess source '
        'record 1", "transform": "t", "source_folder": "s", "images": '
        '{"a": [1, "2", null]}}',
    ],
)
def test_parse_record_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError):
        parse_record(text)


# --------------------------------------------------------------------------------------------------------------
# Odd files: broken links, names that are not UTF-8, extreme aspect ratios, decompression bombs.


def test_a_broken_symlink_is_a_failure(run_script, tmp_path: Path) -> None:
    make_folder(tmp_path / "val", ["a.jpg"])
    (tmp_path / "val" / "b.JPEG").symlink_to("/nonexistent/b.JPEG")
    result = run_script("imagenet_torch_preprocess.py", "val", "prep", "-j", "1")
    assert result.returncode == 1
    assert "val/b.JPEG: broken symbolic link (to /nonexistent/b.JPEG, not found)" in result.stderr
    assert "done 1, skipped 0 (bin up to date), removed 0 (image gone), failed 1, ignored 0" in result.stderr
    assert (tmp_path / "prep" / "failed.txt").read_text() == (
        "val/b.JPEG: broken symbolic link (to /nonexistent/b.JPEG, not found)\n"
    )


def test_a_file_name_that_is_not_utf8_is_a_failure_named_in_failed_txt(run_script, tmp_path: Path) -> None:
    src = make_folder(tmp_path / "val", ["a.jpg"])
    os.rename(src / "a.jpg", os.fsencode(src) + b"/caf\xe9.jpg")  # Latin-1 "cafe" with an accent
    make_folder(src, ["b.jpg"])
    result = run_script("imagenet_torch_preprocess.py", "val", "prep", "-j", "2")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    reason = "file name is not valid UTF-8 (the info file and the label file are UTF-8 text): rename it"
    assert f"val/caf\\xe9.jpg: {reason}" in result.stderr
    assert (tmp_path / "prep" / "failed.txt").read_text(encoding="utf-8") == f"val/caf\\xe9.jpg: {reason}\n"
    assert folder_listing(tmp_path / "prep") == [".prep_sources.json", "b.bin", "failed.txt"]


@pytest.mark.parametrize(
    ("width", "height", "refused"),
    [
        (8192, 256, False),
        (256, 8192, False),
        (8193, 256, True),
        (40000, 1, True),
        (1, 40000, True),
        (64, 2, False),
        (65, 2, True),
    ],
)
def test_resize_bound(width: int, height: int, refused: bool) -> None:
    if refused:
        with pytest.raises(ImageRefused, match="aspect ratio"):
            check_resize_bound(width, height)
    else:
        check_resize_bound(width, height)


def test_an_extreme_aspect_ratio_is_refused_before_decoding(run_script, tmp_path: Path) -> None:
    src = make_folder(tmp_path / "val", ["a.jpg"])
    Image.new("RGB", (40000, 1), (10, 20, 30)).save(src / "line.png")
    assert (src / "line.png").stat().st_size < 1000
    result = run_script("imagenet_torch_preprocess.py", "val", "prep", "-j", "1")
    assert result.returncode == 1
    expected = (
        "val/line.png: refused: 40000 x 1 pixels, aspect ratio 40000:1; the resize to short side 256 would "
        "make the long side 10240000 pixels (limit 8192, aspect ratio 32:1)\n"
    )
    assert (tmp_path / "prep" / "failed.txt").read_text() == expected
    assert folder_listing(tmp_path / "prep") == [".prep_sources.json", "a.bin", "failed.txt"]


def test_decompression_bombs_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    src = tmp_path / "val"
    src.mkdir()
    Image.new("RGB", (300, 300)).save(src / "big.png")  # 90,000 pixels: a warning above 50,000
    Image.new("RGB", (400, 300)).save(src / "huge.png")  # 120,000: an error above twice the limit
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)
    with caplog.at_level("WARNING"):
        summary = prep.preprocess_folder(src, tmp_path / "prep", workers=1, progress=False)
    assert summary.done == 1
    assert [failure.image for failure in summary.failures] == [str(src / "huge.png")]
    assert summary.failures[0].reason.startswith(
        "refused by Pillow as a possible decompression bomb: Image size (120000 pixels) exceeds limit of 100000 pixels"
    )
    assert any(
        record.getMessage().startswith(
            f"{src / 'big.png'}: DecompressionBombWarning: Image size (90000 pixels) exceeds limit of 50000 pixels"
        )
        for record in caplog.records
    )


# --------------------------------------------------------------------------------------------------------------
# A full disk: one line naming the file, exit status 3, at once; nothing half-written; a re-run goes on.


def test_a_full_disk_stops_at_once_with_one_line(run_script, tmp_path: Path) -> None:
    make_folder(tmp_path / "val", [f"{n:02d}.png" for n in range(12)])
    with small_disk(tmp_path / "disk", size="64m", inodes=8) as disk:  # room for a few files only
        result = run_script("imagenet_torch_preprocess.py", "val", "disk/prep", "-j", "2")
        assert result.returncode == 3
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        # No inode is left for the record either: the message says so, and that the re-run redoes these bins
        # (it said "kept, a re-run goes on from there" before, which was not true).
        stopped = re.fullmatch(
            r"imagenet_torch_preprocess.py: error: disk/prep/\d\d\.bin: cannot write: No space left "
            r"on device; stopped, and the record of the bins could not be saved: a re-run redoes the (\d+) bins made "
            r"in this run",
            lines[0],
        )
        assert stopped, lines[0]
        made = bins_of(disk / "prep")
        assert 0 < len(made) < 12 and all(len(content) == BIN_BYTES for content in made.values())
        assert int(stopped[1]) == len(made)
        assert [path.name for path in (disk / "prep").glob(".*") if path.name != ".prep_sources.json"] == []

        subprocess.run(["mount", "-o", "remount,nr_inodes=100", str(disk)], check=True)
        resumed = run_script("imagenet_torch_preprocess.py", "val", "disk/prep", "-j", "2")
        assert resumed.returncode == 0, resumed.stderr
        assert "done 12, skipped 0" in resumed.stderr  # what the message said: all of them redone
        assert bins_of(disk / "prep") == clean_run(run_script, tmp_path, "val")


def test_too_little_space_is_refused_before_starting(run_script, tmp_path: Path) -> None:
    make_folder(tmp_path / "val", [f"{n:02d}.png" for n in range(12)])
    with small_disk(tmp_path / "disk", size="2m") as disk:
        result = run_script("imagenet_torch_preprocess.py", "val", "disk/prep")
        assert result.returncode == 3
        assert result.stderr.splitlines() == [
            "imagenet_torch_preprocess.py: error: disk/prep: not enough free space: 12 bins need 7.2 MB more "
            "(602112 bytes each), 2.1 MB free on its disk; free some space or use another folder"
        ]
        assert folder_listing(disk / "prep") == []


def test_failed_txt_on_a_full_disk_is_named(run_script, tmp_path: Path) -> None:
    make_folder(tmp_path / "val", ["a.png"])
    (tmp_path / "val" / "b.png").symlink_to("missing.png")
    with small_disk(tmp_path / "disk", size="2m") as disk:
        assert run_script("imagenet_torch_preprocess.py", "val", "disk/prep").returncode == 1
        failed = (disk / "prep" / "failed.txt").read_text()
        fill_disk(disk)
        result = run_script("imagenet_torch_preprocess.py", "val", "disk/prep")
        assert result.returncode == 3
        assert result.stderr.splitlines()[-1] == (
            "imagenet_torch_preprocess.py: error: disk/prep/failed.txt: cannot write: No space left on device"
        )
        assert folder_listing(disk / "prep") == [".prep_sources.json", "a.bin", "failed.txt"]
        assert (disk / "prep" / "failed.txt").read_text() == failed  # the last complete one
    assert failed == "val/b.png: broken symbolic link (to missing.png, not found)\n"


def disk_full_after(count: int, write_bin):
    """``write_bin`` that meets a full disk after ``count`` bins."""
    written = []

    def write(model_input, bin_path):
        if len(written) == count:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written.append(bin_path)
        write_bin(model_input, bin_path)

    return write


def test_a_write_error_stops_the_workers_and_keeps_the_record_consistent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same without root: the third bin meets a full disk.
    src = make_folder(tmp_path / "val", [f"{n:02d}.png" for n in range(8)])
    real = prep.write_bin
    monkeypatch.setattr(prep, "write_bin", disk_full_after(2, real))
    with pytest.raises(PipelineError) as stopped:
        prep.preprocess_folder(src, tmp_path / "prep", workers=1, progress=False)
    assert stopped.value.exit_code == 3
    assert str(stopped.value) == (
        f"{tmp_path / 'prep' / '02.bin'}: cannot write: No space left on device; "
        "stopped (2 bins made in this run are kept, a re-run goes on from there)"
    )
    monkeypatch.setattr(prep, "write_bin", real)
    resumed = prep.preprocess_folder(src, tmp_path / "prep", workers=2, progress=False)
    assert (resumed.done, resumed.skipped) == (6, 2)


def test_a_failed_record_save_says_the_re_run_redoes_the_unrecorded_bins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The disk fills while the third bin is written, and the record (saved before the work) cannot be saved
    # again: the message must not promise that the two bins made are kept.
    src = make_folder(tmp_path / "val", [f"{n:02d}.png" for n in range(8)])
    real_write, real_save, saves = prep.write_bin, prep.save_record, []

    def only_the_first_save(dst_dir, record, previous_text):
        saves.append(dst_dir)
        if len(saves) > 1:
            raise PipelineError(f"{dst_dir / '.prep_sources.json'}: cannot write: No space left on device", 3)
        return real_save(dst_dir, record, previous_text)

    monkeypatch.setattr(prep, "write_bin", disk_full_after(2, real_write))
    monkeypatch.setattr(prep, "save_record", only_the_first_save)
    with pytest.raises(PipelineError) as stopped:
        prep.preprocess_folder(src, tmp_path / "prep", workers=1, progress=False)
    assert stopped.value.exit_code == 3
    assert str(stopped.value) == (
        f"{tmp_path / 'prep' / '02.bin'}: cannot write: No space left on device; stopped, and the record of the "
        "bins could not be saved: a re-run redoes the 2 bins made in this run"
    )
    monkeypatch.setattr(prep, "write_bin", real_write)
    monkeypatch.setattr(prep, "save_record", real_save)
    resumed = prep.preprocess_folder(src, tmp_path / "prep", workers=1, progress=False)
    assert (resumed.done, resumed.skipped) == (8, 0)  # as the message said


def test_a_record_that_fails_midway_says_which_bins_a_re_run_keeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Saved after every bin (RECORD_SAVE_SECONDS 0) until the disk is full at the record's fourth save.
    src = make_folder(tmp_path / "val", [f"{n:02d}.png" for n in range(8)])
    real_save, saves = prep.save_record, []

    def full_at_the_fourth_save(dst_dir, record, previous_text):
        saves.append(dst_dir)
        if len(saves) >= 4:
            raise PipelineError(f"{dst_dir / '.prep_sources.json'}: cannot write: No space left on device", 3)
        return real_save(dst_dir, record, previous_text)

    monkeypatch.setattr(prep, "RECORD_SAVE_SECONDS", 0.0)
    monkeypatch.setattr(prep, "save_record", full_at_the_fourth_save)
    with pytest.raises(PipelineError) as stopped:
        prep.preprocess_folder(src, tmp_path / "prep", workers=1, progress=False)
    # Saves: before the work, after bins 1 and 2; the one after bin 3 fails.
    assert str(stopped.value) == (
        f"{tmp_path / 'prep' / '.prep_sources.json'}: cannot write: No space left on device; stopped, and the "
        "record of the bins could not be saved: a re-run keeps the 2 bins recorded earlier in this run and redoes "
        "the 1 made since"
    )
    monkeypatch.setattr(prep, "save_record", real_save)
    resumed = prep.preprocess_folder(src, tmp_path / "prep", workers=1, progress=False)
    assert (resumed.done, resumed.skipped) == (6, 2)


# --------------------------------------------------------------------------------------------------------------
# The uint8 route: the same values as HWC uint8, a quarter of the bytes.


def float32_from_uint8_bin(data: bytes) -> bytes:
    """A uint8 bin (HWC, BGR) read back as the float32 route's input (CHW), as AIPP gives it to the network."""
    hwc = np.frombuffer(data, dtype=np.uint8).reshape(224, 224, 3)
    return hwc.transpose(2, 0, 1).astype(np.float32).tobytes()


def test_uint8_bins_read_back_as_float32_equal_the_float32_bins(case_images: dict[str, Path], tmp_path: Path) -> None:
    src = next(iter(case_images.values())).parent
    summaries = {
        dtype: prep.preprocess_folder(src, tmp_path / dtype, workers=2, progress=False, dtype=dtype)
        for dtype in ("float32", "uint8")
    }
    assert all((summary.done, summary.failed) == (len(CASES), 0) for summary in summaries.values())
    float32_bins, uint8_bins = bins_of(tmp_path / "float32"), bins_of(tmp_path / "uint8")
    assert len(uint8_bins) == len(CASES) and uint8_bins.keys() == float32_bins.keys()
    assert {len(data) for data in uint8_bins.values()} == {BIN_BYTES_BY_DTYPE["uint8"]} == {150528}
    for name, data in uint8_bins.items():  # every mode: RGB, L, CMYK, P, RGBA, LA, I;16
        assert float32_from_uint8_bin(data) == float32_bins[name], name
        assert uint8_bin_as_float32(data).tobytes() == float32_bins[name], name
    # The values are spread (not a constant picture), so the comparison can fail.
    assert len(set(next(iter(uint8_bins.values())))) > 100


def test_uint8_bins_are_hwc_in_bgr_order(tmp_path: Path) -> None:
    pure_red = tmp_path / "red.png"
    Image.new("RGB", (300, 260), (255, 0, 0)).save(pure_red)
    hwc = preprocess_image(pure_red, "uint8")
    assert hwc.dtype == np.uint8 and hwc.shape == (224, 224, 3) and hwc.flags.c_contiguous
    assert np.all(hwc[:, :, 2] == 255) and np.all(hwc[:, :, :2] == 0)
    assert hwc.tobytes()[:6] == bytes([0, 0, 255, 0, 0, 255])  # B, G, R of the first two pixels


def test_cli_uint8_folder_is_a_quarter_of_the_float32_folder(run_script, tmp_path: Path) -> None:
    demo(run_script, tmp_path, "X", seed=1)
    for dtype in ("float32", "uint8"):
        result = run_script("imagenet_torch_preprocess.py", "X/val", f"prep_{dtype}", "-j", "2", "--dtype", dtype)
        assert result.returncode == 0, result.stderr
        assert "done 12, skipped 0" in result.stderr
        assert f"images/s ({dtype} bins, {BIN_BYTES_BY_DTYPE[dtype]} bytes each)" in result.stderr
        record = json.loads((tmp_path / f"prep_{dtype}" / ".prep_sources.json").read_text())
        assert record["dtype"] == dtype and record["transform"] == transform_identity(dtype)
    sizes = {
        dtype: sum(len(data) for data in bins_of(tmp_path / f"prep_{dtype}").values()) for dtype in ("float32", "uint8")
    }
    assert sizes == {"float32": 12 * 602112, "uint8": 12 * 150528}
    assert sizes["float32"] == 4 * sizes["uint8"]
    again = run_script("imagenet_torch_preprocess.py", "X/val", "prep_uint8", "--dtype", "uint8")
    assert again.returncode == 0 and "done 0, skipped 12" in again.stderr  # resumed as uint8


@pytest.mark.parametrize(("made", "asked"), [("float32", "uint8"), ("uint8", "float32")])
def test_a_folder_of_one_dtype_is_never_resumed_as_the_other(run_script, tmp_path: Path, made: str, asked: str) -> None:
    demo(run_script, tmp_path, "X", seed=1)
    first = run_script("imagenet_torch_preprocess.py", "X/val", "prep", "-j", "2", "--dtype", made)
    assert first.returncode == 0, first.stderr
    made_bins = bins_of(tmp_path / "prep")
    reason = (
        f"prep: holds {made} bins (12 .bin files, {BIN_BYTES_BY_DTYPE[made]} bytes each) and this run makes {asked} "
        f"bins ({BIN_BYTES_BY_DTYPE[asked]} bytes each); a folder holds the bins of one route"
    )

    refused = run_script("imagenet_torch_preprocess.py", "X/val", "prep", "--dtype", asked)
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [
        f"imagenet_torch_preprocess.py: error: {reason}; use another output folder, or --overwrite to delete them "
        "and start afresh"
    ]
    assert bins_of(tmp_path / "prep") == made_bins  # untouched

    redone = run_script(
        "imagenet_torch_preprocess.py", "X/val", "prep", "-j", "2", "--dtype", asked, "--if-other-dataset", "overwrite"
    )
    assert redone.returncode == 0, redone.stderr
    assert redone.stderr.splitlines()[0] == f"{reason}; --if-other-dataset overwrite: deleting them and starting afresh"
    assert "done 12, skipped 0" in redone.stderr
    clean = tmp_path / "clean"
    assert run_script("imagenet_torch_preprocess.py", "X/val", clean, "--dtype", asked).returncode == 0
    assert bins_of(tmp_path / "prep") == bins_of(clean)

    back = run_script("imagenet_torch_preprocess.py", "X/val", "prep", "-j", "2", "--dtype", made, "--overwrite")
    assert back.returncode == 0 and "done 12, skipped 0" in back.stderr
    assert bins_of(tmp_path / "prep") == made_bins


def test_the_free_space_check_counts_the_dtypes_bins(run_script, tmp_path: Path) -> None:
    src = make_folder(tmp_path / "val", [f"{n:02d}.png" for n in range(12)])
    assert prep.bins_needed_bytes(src, tmp_path / "prep", dtype="uint8") == 12 * 150528
    assert prep.bins_needed_bytes(src, tmp_path / "prep", dtype="float32") == 12 * 602112
    with small_disk(tmp_path / "disk", size="1m") as disk:
        result = run_script("imagenet_torch_preprocess.py", "val", "disk/prep", "--dtype", "uint8")
        assert result.returncode == 3
        assert result.stderr.splitlines() == [
            "imagenet_torch_preprocess.py: error: disk/prep: not enough free space: 12 bins need 1.8 MB more "
            "(150528 bytes each), 1.0 MB free on its disk; free some space or use another folder"
        ]
    with small_disk(tmp_path / "disk2", size="2m") as disk:  # 1.8 MB of uint8 bins fit where 7.2 MB would not
        result = run_script("imagenet_torch_preprocess.py", "val", "disk2/prep", "--dtype", "uint8")
        assert result.returncode == 0, result.stderr
        assert len(bins_of(disk / "prep")) == 12


# --------------------------------------------------------------------------------------------------------------
# An image swapped under its old size and modification time; records of the older format.


def make_same_size_pictures(folder: Path, names: list[str]) -> Path:
    """BMP pictures of one size in pixels: their files have the same size in bytes, whatever the content."""
    folder.mkdir(parents=True, exist_ok=True)
    for number, name in enumerate(names):
        make_picture(np.random.default_rng(100 + number), 260, 240, "RGB").save(folder / name)
    return folder


@pytest.mark.parametrize(
    "swap",
    [
        "touch -r val/b.bmp donor/x.bmp && mv donor/x.bmp val/b.bmp",  # another inode
        "touch -r val/b.bmp stamp && cp donor/x.bmp val/b.bmp && touch -r stamp val/b.bmp",  # same inode, new ctime
    ],
    ids=["mv", "cp-touch"],
)
def test_an_image_swapped_under_its_old_size_and_mtime_is_redone(run_script, tmp_path: Path, swap: str) -> None:
    src = make_same_size_pictures(tmp_path / "val", ["a.bmp", "b.bmp", "c.bmp"])
    make_same_size_pictures(tmp_path / "donor", ["x.bmp"])
    first = run_script("imagenet_torch_preprocess.py", "val", "prep", "-j", "2")
    assert first.returncode == 0, first.stderr
    before = bins_of(tmp_path / "prep")
    old = (src / "b.bmp").stat()

    subprocess.run(swap, shell=True, cwd=tmp_path, check=True)
    new = (src / "b.bmp").stat()
    assert (new.st_size, new.st_mtime_ns) == (old.st_size, old.st_mtime_ns)  # what the old record compared
    assert (src / "b.bmp").read_bytes() != (tmp_path / "prep" / "b.bin").read_bytes()

    again = run_script("imagenet_torch_preprocess.py", "val", "prep", "-j", "2")
    assert again.returncode == 0, again.stderr
    assert "done 1, skipped 2" in again.stderr
    after = bins_of(tmp_path / "prep")
    assert after == clean_run(run_script, tmp_path, "val")
    assert [name for name in after if after[name] != before[name]] == ["b.bin"]


def test_a_record_of_the_older_format_is_read_and_its_bins_redone_once(run_script, tmp_path: Path) -> None:
    demo(run_script, tmp_path, "X", seed=1)
    assert run_script("imagenet_torch_preprocess.py", "X/val", "prep", "-j", "2").returncode == 0
    fresh = bins_of(tmp_path / "prep")
    # What the previous version of the script wrote: [size, mtime_ns, bin_mtime_ns], no dtype, no fields.
    path = tmp_path / "prep" / ".prep_sources.json"
    record = json.loads(path.read_text())
    record["record"] = "imagenet_torch_preprocess source record 1"
    record["images"] = {name: [size, mtime, made] for name, (size, mtime, _, _, made) in record["images"].items()}
    del record["dtype"], record["fields"]
    path.write_text(json.dumps(record))

    upgraded = run_script("imagenet_torch_preprocess.py", "X/val", "prep", "-j", "2")
    assert upgraded.returncode == 0, upgraded.stderr  # this dataset's bins: not refused as another's
    assert "the record is of an older version of this script" in upgraded.stderr
    assert "done 12, skipped 0" in upgraded.stderr
    assert bins_of(tmp_path / "prep") == fresh
    assert json.loads(path.read_text())["record"] == "imagenet_torch_preprocess source record 2"
    again = run_script("imagenet_torch_preprocess.py", "X/val", "prep")
    assert again.returncode == 0 and "done 0, skipped 12" in again.stderr


def test_a_copied_dataset_is_the_same_dataset_its_bins_redone(run_script, tmp_path: Path) -> None:
    # cp -a keeps names, sizes and modification times (not inodes): not refused as another dataset, but redone,
    # since nothing says the copies are the files the bins were made from.
    demo(run_script, tmp_path, "X", seed=1)
    assert run_script("imagenet_torch_preprocess.py", "X/val", "prep", "-j", "2").returncode == 0
    subprocess.run(["cp", "-a", "X/val", "copy"], cwd=tmp_path, check=True)
    result = run_script("imagenet_torch_preprocess.py", "copy", "prep", "-j", "2")
    assert result.returncode == 0, result.stderr
    assert "done 12, skipped 0" in result.stderr


@pytest.mark.parametrize(
    "change",
    [
        lambda record: record.pop("dtype"),
        lambda record: record.update(dtype="int8"),
        lambda record: record.update(fields=["size", "mtime_ns", "bin_mtime_ns"]),
        lambda record: record["images"].update({"a.jpg": [1, 2, 3, 4]}),
        lambda record: record["images"].update({"a.jpg": [1, 2, None, 4, 5]}),
    ],
    ids=["no-dtype", "bad-dtype", "bad-fields", "short-entry", "null-inode"],
)
def test_parse_record_refuses_a_malformed_format_2_record(change) -> None:
    record = SourceRecord("t", "/data/val", {"a.jpg": RecordEntry(1, 2, 3, 4, 5)}, "uint8")
    document = json.loads(format_record(record))
    change(document)
    with pytest.raises(ValueError):
        parse_record(json.dumps(document))


# --------------------------------------------------------------------------------------------------------------
# kill -TERM, names the info file cannot hold, symbolic link loops.


@pytest.fixture(scope="module")
def many_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python make_demo_dataset.py X --seed 1 --count 240``: enough work to be stopped midway."""
    folder = tmp_path_factory.mktemp("many")
    command = [sys.executable, str(REPO_ROOT / "make_demo_dataset.py"), "X", "--seed", "1", "--count", "240"]
    subprocess.run(command, cwd=folder, check=True, capture_output=True)
    return folder / "X" / "val"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_stops_like_ctrl_c(run_script, tmp_path: Path, many_images: Path, workers: str) -> None:
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "imagenet_torch_preprocess.py"), many_images, "prep", "-j", workers],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the workers can be looked for afterwards
    )
    try:
        while len(list((tmp_path / "prep").glob("*.bin"))) < 5 and process.poll() is None:
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)  # kill -TERM <pid>: the main process only
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 143, stderr
    assert stderr.splitlines() == ["imagenet_torch_preprocess.py: interrupted (SIGTERM)"]  # no worker's traceback
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)  # no worker left behind
    made = bins_of(tmp_path / "prep")
    assert 5 <= len(made) < 240
    assert not list((tmp_path / "prep").glob(".*.tmp"))
    # The record holds every bin made, so a re-run makes only the others.
    record = json.loads((tmp_path / "prep" / ".prep_sources.json").read_text())
    recorded = sorted(Path(name).stem + ".bin" for name, entry in record["images"].items() if entry[-1] is not None)
    assert recorded == sorted(made)
    resumed = run_script("imagenet_torch_preprocess.py", many_images, "prep", "-j", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert f"done {240 - len(made)}, skipped {len(made)}" in resumed.stderr


def test_names_with_whitespace_are_failures_named_in_failed_txt(run_script, tmp_path: Path) -> None:
    src = make_folder(tmp_path / "val", ["a.jpg", "my photo.jpg", "tab\there.jpg", "new\nline.jpg", "z.jpg"])
    result = run_script("imagenet_torch_preprocess.py", "val", "prep", "-j", "2")
    assert result.returncode == 1, result.stderr
    reason = "file name holds whitespace (the info file's fields are space-separated): rename it"
    expected = [f"{name}: {reason}" for name in ["'val/new\\nline.jpg'", "'val/tab\\there.jpg'", "val/my photo.jpg"]]
    assert (tmp_path / "prep" / "failed.txt").read_text().splitlines() == expected  # one line each
    assert all(line in result.stderr for line in expected)
    assert folder_listing(tmp_path / "prep") == [".prep_sources.json", "a.bin", "failed.txt", "z.bin"]
    # The next step takes what the preprocessor made.
    info = run_script("get_info.py", "bin", "prep", "prep.info", "224", "224")
    assert info.returncode == 0, info.stderr
    assert (tmp_path / "prep.info").read_text() == "0 prep/a.bin 224 224\n1 prep/z.bin 224 224\n"
    assert sorted(path.name for path in src.iterdir())[:1] == ["a.jpg"]


def test_a_symlink_loop_in_the_dataset_is_a_failure_named(run_script, tmp_path: Path) -> None:
    make_folder(tmp_path / "val", ["c.jpg"])
    (tmp_path / "val" / "a.jpg").symlink_to("b.jpg")
    (tmp_path / "val" / "b.jpg").symlink_to("a.jpg")
    result = run_script("imagenet_torch_preprocess.py", "val", "prep", "-j", "2")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "prep" / "failed.txt").read_text() == (
        "val/a.jpg: symbolic link loop (to b.jpg, which leads back to itself)\n"
        "val/b.jpg: symbolic link loop (to a.jpg, which leads back to itself)\n"
    )
    assert "done 1, skipped 0 (bin up to date), removed 0 (image gone), failed 2" in result.stderr
    assert folder_listing(tmp_path / "prep") == [".prep_sources.json", "c.bin", "failed.txt"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["loop", "prep"], "loop: symbolic link loop (to loop, which leads back to itself)"),
        (["val", "loop"], "loop: symbolic link loop (to loop, which leads back to itself)"),
        (["val", "loop/prep"], "loop/prep: cannot read: Too many levels of symbolic links"),
        (["dangling", "prep"], "dangling: broken symbolic link (to nowhere, not found)"),
        (["val", "dangling"], "dangling: broken symbolic link (to nowhere, not found)"),
    ],
)
def test_folders_that_are_symlink_loops_or_broken_links_are_refused(
    run_script, tmp_path: Path, args: list[str], message: str
) -> None:
    make_folder(tmp_path / "val", ["a.jpg"])
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "dangling").symlink_to("nowhere")
    result = run_script("imagenet_torch_preprocess.py", *args)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"imagenet_torch_preprocess.py: error: {message}"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["dangling", "loop", "val"]
