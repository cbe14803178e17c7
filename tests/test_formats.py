"""The shared file formats (shufflenet_ascend.formats), the contract's constants, image keys and atomic writes: what
every script reads and writes must match formats.md to the byte."""

from __future__ import annotations

import re

import numpy as np
import pytest

from shufflenet_ascend import contract, keys
from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.fileio import atomic_output
from shufflenet_ascend.formats import accuracy_json
from shufflenet_ascend.formats.dump import dump_file_name, format_dump_line, parse_dump_file_name, read_dump, write_dump
from shufflenet_ascend.formats.info import InfoEntry, read_info, write_info
from shufflenet_ascend.formats.labels import read_labels
from shufflenet_ascend.formats.perf import DatasetPerf, PureInferPerf, parse_dataset_perf, parse_pure_infer_perf
from shufflenet_ascend.keys import file_key

GUIDE_PERF_BS1 = (
    "[e2e] throughputRate: 117.471, latency: 425636\n"
    "[data read] throughputRate: 124.47, moduleLatency: 8.03407\n"
    "[preprocess] throughputRate: 124.375, moduleLatency: 8.04019\n"
    "[infer] throughputRate: 117.823, Interface throughputRate: 147.93, moduleLatency: 7.93347\n"
    "[post] throughputRate: 117.822, moduleLatency: 8.48734\n"
)


def test_constants_match_the_formats():
    assert contract.BIN_BYTES == 602112
    assert (contract.INPUT_NAME, contract.OUTPUT_NAME) == ("image", "class")
    assert {b: round(fps * contract.CHIPS_PER_310_CARD, 3) for b, fps in contract.PUBLISHED_INTERFACE_FPS.items()} == {
        1: 591.72,
        4: 1455.248,
        8: 1748.352,
        16: 1966.672,
        32: 1900.152,
    }


def test_atomic_output_renames_on_success_and_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_output(target, "w") as handle:
        handle.write("complete")
        assert not target.exists()  # nobody sees it before it is whole
    assert target.read_text() == "complete"
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    with pytest.raises(RuntimeError), atomic_output(tmp_path / "broken.bin") as handle:
        handle.write(b"half")
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_keys_and_image_files():
    assert file_key("ILSVRC2012_val_00000001.JPEG") == "ILSVRC2012_val_00000001"
    assert file_key("./prep_dataset/ILSVRC2012_val_00000001.bin") == "ILSVRC2012_val_00000001"
    assert [keys.is_image_file(n) for n in ("a.JPEG", "b.Png", "c.webp", "d.txt", ".e.jpg", "f.bin")] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]


def test_info_file_round_trip_and_exact_format(tmp_path):
    entries = [InfoEntry(0, "./prep_dataset/a.bin", 224, 224), InfoEntry(1, "./prep_dataset/b.bin", 224, 224)]
    path = tmp_path / "x.info"
    write_info(path, entries)
    assert path.read_text() == "0 ./prep_dataset/a.bin 224 224\n1 ./prep_dataset/b.bin 224 224\n"
    assert read_info(path) == entries


@pytest.mark.parametrize("line", ["0 a.bin 224", "x a.bin 224 224", "0 a.bin 224 224 9"])
def test_malformed_info_line_names_file_and_line(tmp_path, line):
    path = tmp_path / "bad.info"
    path.write_text(f"0 ok.bin 224 224\n{line}\n")
    with pytest.raises(PipelineError, match=r"bad\.info:2: malformed info line"):
        read_info(path)


def test_labels(tmp_path):
    path = tmp_path / "val_label.txt"
    path.write_text("ILSVRC2012_val_00000001.JPEG 65\nILSVRC2012_val_00000002.JPEG 970\n\n")
    assert read_labels(path) == {"ILSVRC2012_val_00000001": 65, "ILSVRC2012_val_00000002": 970}
    path.write_text("a.JPEG 1\nb.JPEG\n")
    with pytest.raises(PipelineError, match=r"val_label\.txt:2: malformed label line"):
        read_labels(path)
    with pytest.raises(PipelineError, match="label file not found"):
        read_labels(tmp_path / "missing.txt")


@pytest.mark.parametrize(
    "text, message",
    [
        ("a.JPEG \uff14\n", r":1: malformed label line 'a\.JPEG \uff14'"),  # full-width 4: int() accepts it
        ("a.JPEG \u0664\n", r":1: malformed label line"),  # Arabic-Indic 4
        ("a.JPEG 1_0\n", r":1: malformed label line 'a\.JPEG 1_0'"),  # int() reads 10
        ("a.JPEG +5\n", r":1: malformed label line"),
        ("a.JPEG -5\n", r":1: malformed label line"),
        ("a.JPEG 1\nb.JPEG 2\nb.png 3\n", r":3: b\.png has class 3 here but class 2 on line 2"),
    ],
)
def test_labels_that_would_be_guesses_are_refused(tmp_path, text, message):
    path = tmp_path / "val_label.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PipelineError, match=r"val_label\.txt" + message):
        read_labels(path)


def test_labels_with_byte_order_mark_and_identical_repeats_are_read(tmp_path):
    path = tmp_path / "val_label.txt"
    path.write_bytes("\ufeffa.JPEG 7\nb.JPEG 0012\na.JPEG 7\n".encode("utf-8"))
    assert read_labels(path) == {"a": 7, "b": 12}


@pytest.mark.parametrize(
    "images, top1, message",
    [
        ("200", "nan%", "Top1 accuracy 'nan%' is not a percentage between 0 and 100"),
        ("200", "inf%", "Top1 accuracy 'inf%' is not a percentage"),
        ("200", "100.5%", "Top1 accuracy '100.5%' is not a percentage"),
        ("200", "-0.5%", "Top1 accuracy '-0.5%' is not a percentage"),
        ("0", "50.0%", "Number of images is 0, expected at least 1"),
    ],
)
def test_accuracy_json_with_impossible_figures_is_refused(tmp_path, images, top1, message):
    path = tmp_path / "result.json"
    path.write_text(accuracy_json.format_accuracy_json(int(images), 1000, [top1, "60.0%", "70.0%", "80.0%", "90.0%"]))
    with pytest.raises(PipelineError, match=f"^{re.escape(str(path))}: {re.escape(message)}"):
        accuracy_json.read_accuracy_json(path)


def test_dump_names():
    assert dump_file_name("ILSVRC2012_val_00000001", binary=False) == "ILSVRC2012_val_00000001_1.txt"
    assert dump_file_name("k", binary=True) == "k_1.bin"
    assert parse_dump_file_name("ILSVRC2012_val_00000001_1.txt") == ("ILSVRC2012_val_00000001", 1, False)
    assert parse_dump_file_name("a_b_2.bin") == ("a_b", 2, True)
    assert parse_dump_file_name("notes.txt") is None


def test_txt_dump_reads_back_as_the_same_float32(tmp_path):
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [
            rng.standard_normal(996).astype(np.float32) * 10.0 ** rng.integers(-8, 8, 996),
            np.float32([0.0, -0.0, 3.4028235e38, 1.4e-45]),
        ]
    ).astype(np.float32)
    line = format_dump_line(values)
    assert line.endswith("\n") and "\n" not in line[:-1] and len(line.split(" ")) == 1000
    for binary in (False, True):
        path = tmp_path / dump_file_name("k", binary)
        write_dump(path, values, binary)
        assert np.array_equal(read_dump(path), values)
    assert (tmp_path / "k_1.bin").stat().st_size == 4000


def test_perf_files_parse_and_format_as_the_tool_writes_them():
    perf = parse_dataset_perf(GUIDE_PERF_BS1)
    assert perf == DatasetPerf(
        117.471, 425636, 124.47, 8.03407, 124.375, 8.04019, 117.823, 147.93, 7.93347, 117.822, 8.48734
    )
    assert perf.format() == GUIDE_PERF_BS1
    pure = "ave_throughputRate = 379.467samples/s, ave_latency = 2.63527ms\n"
    assert parse_pure_infer_perf(pure) == PureInferPerf(379.467, 2.63527)
    assert PureInferPerf(379.467, 2.63527).format() == pure
    assert parse_dataset_perf("something else") is None and parse_pure_infer_perf(GUIDE_PERF_BS1) is None


def test_accuracy_json_is_the_guides_string_and_reads_back(tmp_path):
    guide = (
        '{"title": "Overall statistical evaluation", "value": [{"key": "Number of images", "value": "50000"}, '
        '{"key": "Number of classes", "value": "1000"}, {"key": "Top1 accuracy", "value": "74.06%"}, '
        '{"key": "Top2 accuracy", "value": "84.21%"}, {"key": "Top3 accuracy", "value": "88.11%"}, '
        '{"key": "Top4 accuracy", "value": "90.3%"}, {"key": "Top5 accuracy", "value": "91.67%"}]}'
    )
    text = accuracy_json.format_accuracy_json(50000, 1000, ["74.06%", "84.21%", "88.11%", "90.3%", "91.67%"])
    assert text == guide
    (tmp_path / "result.json").write_text(text)
    assert accuracy_json.read_accuracy_json(tmp_path / "result.json") == accuracy_json.AccuracyResult(
        50000, 1000, (74.06, 84.21, 88.11, 90.3, 91.67)
    )
