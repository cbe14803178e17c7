"""get_info.py and shufflenet_ascend.preprocess.info_entries: the info file in both modes, and every usage error."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import get_info
from conftest import fill_disk, small_disk
from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.formats.info import InfoEntry, read_info
from shufflenet_ascend.preprocess.bin_sizes import check_bin_sizes, expected_bin_bytes
from shufflenet_ascend.preprocess.info_entries import bin_info_entries, jpg_info_entries


def make_bins(folder: Path, names: list[str]) -> Path:
    """Bins of the uint8 route at 224 x 224 (the bins must fit WIDTH x HEIGHT)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"\0" * expected_bin_bytes("uint8"))
    return folder


def save_jpeg(path: Path, width: int, height: int, mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(width * height).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).convert(mode).save(path, format="JPEG", quality=85)
    return path


def test_bin_mode_lists_bins_in_sorted_order_with_paths_as_given(run_script, tmp_path: Path) -> None:
    make_bins(
        tmp_path / "prep_dataset",
        ["b.bin", "a.bin", "c10.bin", "c2.bin", ".a.bin.x1.tmp", ".hidden.bin", "notes.txt", "a.bin.part"],
    )
    (tmp_path / "prep_dataset" / "folder.bin").mkdir()
    result = run_script("get_info.py", "bin", "./prep_dataset", "./shufflenetv2_prep_bin.info", "224", "224")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "shufflenetv2_prep_bin.info").read_text() == (
        "0 ./prep_dataset/a.bin 224 224\n"
        "1 ./prep_dataset/b.bin 224 224\n"
        "2 ./prep_dataset/c10.bin 224 224\n"
        "3 ./prep_dataset/c2.bin 224 224\n"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["prep_dataset", "shufflenetv2_prep_bin.info"]


def test_bin_mode_keeps_absolute_and_bare_paths(tmp_path: Path) -> None:
    make_bins(tmp_path / "bins", ["k.bin"])
    assert bin_info_entries(str(tmp_path / "bins"), 32, 16) == [InfoEntry(0, f"{tmp_path}/bins/k.bin", 32, 16)]
    assert get_info.main(["bin", str(tmp_path / "bins") + "/", str(tmp_path / "out.info"), "224", "224"]) == 0
    assert read_info(tmp_path / "out.info") == [InfoEntry(0, f"{tmp_path}/bins/k.bin", 224, 224)]


def test_jpg_mode_reads_sizes_of_jpegs_only(run_script, tmp_path: Path) -> None:
    save_jpeg(tmp_path / "val" / "b.JPEG", 500, 375)
    save_jpeg(tmp_path / "val" / "a.jpg", 375, 500)
    save_jpeg(tmp_path / "val" / "c.jpeg", 31, 17, mode="L")
    save_jpeg(tmp_path / "val" / "d.JpG", 40, 41, mode="CMYK")
    Image.new("RGB", (10, 10)).save(tmp_path / "val" / "e.png")
    (tmp_path / "val" / ".hidden.jpg").write_bytes(b"")
    result = run_script("get_info.py", "jpg", "val", "jpg.info")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "jpg.info").read_text() == (
        "0 val/a.jpg 375 500\n1 val/b.JPEG 500 375\n2 val/c.jpeg 31 17\n3 val/d.JpG 40 41\n"
    )


def test_jpg_mode_reads_the_header_without_decoding_pixels(tmp_path: Path) -> None:
    jpeg = save_jpeg(tmp_path / "val" / "big.jpg", 640, 480)
    data = jpeg.read_bytes()
    jpeg.write_bytes(data[: len(data) // 10])  # header intact, most of the pixel data missing
    with pytest.raises(OSError):
        Image.open(jpeg).load()
    assert jpg_info_entries(str(tmp_path / "val")) == [InfoEntry(0, f"{tmp_path}/val/big.jpg", 640, 480)]


def test_jpg_mode_names_a_file_that_is_not_an_image(run_script, tmp_path: Path) -> None:
    save_jpeg(tmp_path / "val" / "a.jpg", 50, 40)
    (tmp_path / "val" / "b.jpg").write_text("not a jpeg")
    result = run_script("get_info.py", "jpg", "val", "out.info")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "get_info.py: error: val/b.jpg: not an image (PIL cannot identify it)"
    ]
    assert not (tmp_path / "out.info").exists()


def test_paths_with_spaces_are_refused(tmp_path: Path) -> None:
    make_bins(tmp_path / "my bins", ["a.bin"])
    with pytest.raises(PipelineError, match="space"):
        bin_info_entries(str(tmp_path / "my bins"), 224, 224)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "required"),
        (["png", "bins", "out.info"], "invalid choice"),
        (["bin", "bins", "out.info"], "required: WIDTH, HEIGHT"),
        (["bin", "bins", "out.info", "224"], "required: HEIGHT"),
        (["bin", "bins", "out.info", "224", "224", "3"], "unrecognized arguments: 3"),
        (["jpg", "val", "out.info", "224", "224"], "unrecognized arguments: 224 224"),
        (["bin", "bins", "out.info", "0", "224"], "WIDTH: '0': expected a whole number from 1 to 4096"),
        (["bin", "bins", "out.info", "224", "-1"], "HEIGHT: '-1': expected a whole number from 1 to 4096"),
        (["bin", "bins", "out.info", "224", "abc"], "HEIGHT: 'abc': expected a whole number"),
        (["bin", "missing", "out.info", "224", "224"], "missing: folder not found"),
        (["bin", "bins/x.bin", "out.info", "224", "224"], "bins/x.bin: is not a folder"),
        (["bin", "val", "out.info", "224", "224"], "val: no .bin files"),
        (["jpg", "bins", "out.info"], "bins: no .jpeg/.jpg files"),
        (["bin", "bins", "nowhere/out.info", "224", "224"], "does not exist"),
        (["bin", "bins", "bins", "224", "224"], "is an input of this command"),
    ],
)
def test_usage_errors_exit_2_with_one_line_and_write_nothing(
    run_script, tmp_path: Path, args: list[str], message: str
) -> None:
    make_bins(tmp_path / "bins", ["x.bin"])
    (tmp_path / "val").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "val" / "a.png")
    before = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*"))
    result = run_script("get_info.py", *args)
    assert result.returncode == 2
    assert message in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr
    assert sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*")) == before


def test_info_file_is_replaced_atomically(tmp_path: Path) -> None:
    make_bins(tmp_path / "bins", ["a.bin", "b.bin"])
    out = tmp_path / "out.info"
    out.write_text("old content\n")
    assert get_info.main(["bin", str(tmp_path / "bins"), str(out), "224", "224"]) == 0
    assert [entry.index for entry in read_info(out)] == [0, 1]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bins", "out.info"]


def with_claimed_size(jpeg: Path, width: int, height: int) -> Path:
    """Rewrite the size in a JPEG's frame header (SOF0): the header claims it, the data stays small."""
    data = bytearray(jpeg.read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    jpeg.write_bytes(bytes(data))
    return jpeg


def test_jpg_mode_names_a_decompression_bomb(run_script, tmp_path: Path) -> None:
    save_jpeg(tmp_path / "val" / "a.jpg", 50, 40)
    with_claimed_size(save_jpeg(tmp_path / "val" / "bomb.jpg", 64, 64), 30000, 30000)
    result = run_script("get_info.py", "jpg", "val", "out.info")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "get_info.py: error: val/bomb.jpg: refused by Pillow as a possible decompression bomb: Image size "
        "(900000000 pixels) exceeds limit of 178956970 pixels, could be decompression bomb DOS attack."
    ]
    assert not (tmp_path / "out.info").exists()


def test_jpg_mode_names_the_file_in_pillows_warnings(run_script, tmp_path: Path) -> None:
    with_claimed_size(save_jpeg(tmp_path / "val" / "large.jpg", 64, 64), 10000, 10000)  # warning above 89.5 M
    result = run_script("get_info.py", "jpg", "val", "out.info")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0].startswith(
        "val/large.jpg: DecompressionBombWarning: Image size (100000000 pixels) exceeds limit of 89478485 pixels"
    )
    assert (tmp_path / "out.info").read_text() == "0 val/large.jpg 10000 10000\n"


@pytest.mark.parametrize("mode", ["bin", "jpg"])
def test_file_names_that_are_not_utf8_are_refused_naming_them(run_script, tmp_path: Path, mode: str) -> None:
    folder = tmp_path / "inputs"
    if mode == "bin":
        make_bins(folder, ["a.bin"])
        os.rename(folder / "a.bin", os.fsencode(folder) + b"/caf\xe9.bin")
        make_bins(folder, ["b.bin"])
        args = ["bin", "inputs", "out.info", "224", "224"]
    else:
        save_jpeg(folder / "a.jpg", 20, 20)
        os.rename(folder / "a.jpg", os.fsencode(folder) + b"/caf\xe9.jpg")
        args = ["jpg", "inputs", "out.info"]
    result = run_script("get_info.py", *args)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"get_info.py: error: inputs: file name caf\\xe9.{'bin' if mode == 'bin' else 'jpg'} is not valid UTF-8 "
        "(1 such names); the info file is UTF-8 text: rename them"
    ]
    assert not (tmp_path / "out.info").exists()


def test_a_full_disk_is_named_and_leaves_nothing(run_script, tmp_path: Path) -> None:
    make_bins(tmp_path / "bins", [f"{n:05d}.bin" for n in range(2000)])
    with small_disk(tmp_path / "disk", size="1m") as disk:
        fill_disk(disk)
        result = run_script("get_info.py", "bin", "bins", "disk/out.info", "224", "224")
        assert result.returncode == 3  # cannot write: the one exit status of a full disk
        assert result.stderr.splitlines() == [
            "get_info.py: error: disk/out.info: cannot write the info file: No space left on device"
        ]
        assert sorted(path.name for path in disk.iterdir()) == ["filler"]


def test_the_record_of_the_preprocessing_is_not_an_input(tmp_path: Path) -> None:
    make_bins(tmp_path / "prep", ["a.bin"])
    (tmp_path / "prep" / ".prep_sources.json").write_text("{}")
    (tmp_path / "prep" / "failed.txt").write_text("x: bad\n")
    assert [entry.path for entry in bin_info_entries(str(tmp_path / "prep"), 224, 224)] == [f"{tmp_path}/prep/a.bin"]


# --------------------------------------------------------------------------------------------------------------
# Symbolic links that lead nowhere.


@pytest.mark.parametrize("mode", ["bin", "jpg"])
def test_a_symlink_loop_is_skipped_with_a_warning_naming_it(run_script, tmp_path: Path, mode: str) -> None:
    folder = tmp_path / "inputs"
    extension = "bin" if mode == "bin" else "jpg"
    if mode == "bin":
        make_bins(folder, ["c.bin"])
    else:
        save_jpeg(folder / "c.jpg", 30, 20)
    (folder / f"a.{extension}").symlink_to(f"b.{extension}")
    (folder / f"b.{extension}").symlink_to(f"a.{extension}")
    (folder / f"d.{extension}").symlink_to("missing")
    args = ["bin", "inputs", "out.info", "224", "224"] if mode == "bin" else ["jpg", "inputs", "out.info"]
    result = run_script("get_info.py", *args)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[:3] == [
        f"inputs/a.{extension}: skipped: symbolic link loop (to b.{extension}, which leads back to itself)",
        f"inputs/b.{extension}: skipped: symbolic link loop (to a.{extension}, which leads back to itself)",
        f"inputs/d.{extension}: skipped: broken symbolic link (to missing, not found)",
    ]
    assert "Traceback" not in result.stderr
    size = "224 224" if mode == "bin" else "30 20"
    assert (tmp_path / "out.info").read_text() == f"0 inputs/c.{extension} {size}\n"


# --------------------------------------------------------------------------------------------------------------
# Bin sizes: either route, refused before any inference when they are not the model input's.


def make_sized_bins(folder: Path, sizes: dict[str, int]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, size in sizes.items():
        (folder / name).write_bytes(bytes(range(256)) * (size // 256) + bytes(size % 256))
    return folder


def test_bin_mode_takes_uint8_bins(run_script, tmp_path: Path) -> None:
    make_sized_bins(tmp_path / "prep_uint8", {"a.bin": 150528, "b.bin": 150528})
    for extra in ([], ["--dtype", "uint8"]):
        result = run_script("get_info.py", "bin", "prep_uint8", "prep.info", "224", "224", *extra)
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "prep.info").read_text() == "0 prep_uint8/a.bin 224 224\n1 prep_uint8/b.bin 224 224\n"


@pytest.mark.parametrize(
    ("sizes", "extra", "message"),
    [
        (
            {"a.bin": 602112, "b.bin": 602112},
            ["--dtype", "uint8"],
            "prep/a.bin: 602112 bytes, not a uint8 input of the model (150528 bytes: 224 x 224 x 3 uint8, HWC); it "
            "is the size of a float32 bin: bins of the other route",
        ),
        (
            {"a.bin": 150528, "b.bin": 150528, "c.bin": 150527},
            ["--dtype", "uint8"],
            "prep/c.bin: 150527 bytes, not a uint8 input of the model (150528 bytes: 224 x 224 x 3 uint8, HWC)",
        ),
        (
            {"a.bin": 602112, "b.bin": 150528},
            ["--dtype", "float32"],
            "prep/b.bin: 150528 bytes, not a float32 input of the model (602112 bytes: 3 x 224 x 224 float32, CHW); "
            "it is the size of a uint8 bin: bins of the other route",
        ),
        (
            {"a.bin": 602112, "b.bin": 602112, "c.bin": 150528, "d.bin": 150528, "e.bin": 7},
            [],
            "prep: bins of 3 sizes (prep/a.bin is 602112 bytes, prep/c.bin is 150528 bytes, prep/e.bin is 7 bytes); "
            "the inputs of one run are of one route (float32 602112 bytes, uint8 150528 bytes)",
        ),
    ],
    ids=["float32-as-uint8", "truncated", "mixed-as-float32", "mixed"],
)
def test_bins_of_the_wrong_size_are_refused_naming_one(
    run_script, tmp_path: Path, sizes: dict[str, int], extra: list[str], message: str
) -> None:
    make_sized_bins(tmp_path / "prep", sizes)
    result = run_script("get_info.py", "bin", "prep", "prep.info", "224", "224", *extra)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"get_info.py: error: {message}"]
    assert not (tmp_path / "prep.info").exists()


def test_dtype_sizes_follow_width_and_height(run_script, tmp_path: Path) -> None:
    make_sized_bins(tmp_path / "prep", {"a.bin": 3 * 32 * 16 * 4})
    assert run_script("get_info.py", "bin", "prep", "o.info", "32", "16", "--dtype", "float32").returncode == 0
    refused = run_script("get_info.py", "bin", "prep", "o.info", "32", "16", "--dtype", "uint8")
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [
        "get_info.py: error: prep/a.bin: 6144 bytes, not a uint8 input of the model (1536 bytes: 16 x 32 x 3 uint8, "
        "HWC); it is the size of a float32 bin: bins of the other route"
    ]


def test_check_bin_sizes_takes_a_folder_info_entries_or_paths(tmp_path: Path) -> None:
    folder = make_sized_bins(tmp_path / "prep", {"a.bin": 150528, "b.bin": 150528})
    entries = bin_info_entries(str(folder), 224, 224)
    paths = [folder / "a.bin", str(folder / "b.bin")]
    for bins in (folder, str(folder), entries, paths):
        assert check_bin_sizes(bins) == "uint8"
        assert check_bin_sizes(bins, "uint8") == "uint8"
        with pytest.raises(PipelineError, match=r"a\.bin: 150528 bytes, not a float32 input") as refused:
            check_bin_sizes(bins, "float32")
        assert refused.value.exit_code == 2
    assert check_bin_sizes(make_sized_bins(tmp_path / "f", {"x.bin": 602112})) == "float32"
    assert check_bin_sizes(make_sized_bins(tmp_path / "odd", {"x.bin": 16})) is None  # one size, neither route's
    assert expected_bin_bytes("float32") == 602112 and expected_bin_bytes("uint8") == 150528
    with pytest.raises(PipelineError, match=r"missing\.bin: bin not found"):
        check_bin_sizes([tmp_path / "missing.bin"], "uint8")
    with pytest.raises(PipelineError, match="dtype must be one of float32, uint8, got 'int8'"):
        check_bin_sizes(folder, "int8")


@pytest.mark.parametrize("mode", ["bin", "jpg"])
def test_a_folder_that_is_a_symlink_loop_is_refused_in_one_line(run_script, tmp_path: Path, mode: str) -> None:
    (tmp_path / "loop").symlink_to("loop")
    args = ["bin", "loop", "out.info", "224", "224"] if mode == "bin" else ["jpg", "loop", "out.info"]
    result = run_script("get_info.py", *args)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "get_info.py: error: loop: symbolic link loop (to loop, which leads back to itself)"
    ]
    assert not (tmp_path / "out.info").exists()
