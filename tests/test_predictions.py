"""imagenet_acc_eval.py's per-image truth (issue 21) and its refusals (issue 18): the predictions and per-class CSVs
equal an independent computation, the guide's JSON is unchanged by them, a subset is judged over the dataset's
images, a failed step leaves nothing behind, an output among the inputs and a two-line dump are refused."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
from test_acc_eval import EXPECTED_160, crafted_160, write_case

from shufflenet_ascend.class_names import imagenet_class_names
from shufflenet_ascend.formats.accuracy_json import accuracy_record_path, read_accuracy_record
from shufflenet_ascend.formats.dump import dump_file_name, write_dump
from shufflenet_ascend.formats.info import InfoEntry, write_info
from shufflenet_ascend.formats.labels import format_labels
from shufflenet_ascend.formats.predictions import confusions, read_per_class, worst_classes


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def expected_rows(scores: dict[str, np.ndarray], labels: dict[str, int], offset: int = 0) -> list[dict[str, str]]:
    """The predictions, computed here the guide's way: np.argsort(-scores) of each output, the first five."""
    names = imagenet_class_names()
    rows = []
    for key in sorted(scores):
        values = scores[key].astype(np.float32)
        order = np.argsort(-values)[:5]
        truth = labels[key]
        row = {"key": key, "true_class": str(truth), "true_name": names[truth]}
        for rank, index in enumerate(order, start=1):
            label_index = int(index) - offset
            row[f"top{rank}_class"] = str(label_index)
            row[f"top{rank}_name"] = "background" if label_index < 0 else names[label_index]
            row[f"top{rank}_score"] = repr(float(values[index]))  # compared as float32 below
        row["correct_top1"] = str(int(int(order[0]) - offset == truth))
        row["correct_top5"] = str(int(truth in [int(i) - offset for i in order]))
        rows.append(row)
    return rows


def assert_predictions_equal(got: list[dict[str, str]], want: list[dict[str, str]]) -> None:
    assert len(got) == len(want)
    for row, expected in zip(got, want, strict=True):
        for column, value in expected.items():
            if column.endswith("_score"):
                assert np.float32(row[column]) == np.float32(value), (row["key"], column)
            else:
                assert row[column] == value, (row["key"], column)


def tied_case(rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Outputs where the label is tied with other classes around the top five: the order of ties decides."""
    scores, labels = {}, {}
    for number in range(40):
        values = np.round(rng.normal(size=1000), 1).astype(np.float32)  # many equal values
        top = np.sort(values)[::-1]
        label = int(rng.choice(np.flatnonzero(values == top[number % 7])))
        key = f"tie_{number:03d}"
        scores[key], labels[key] = values, label
    return scores, labels


@pytest.mark.parametrize("case", ["crafted", "ties"])
def test_every_row_of_both_csvs_equals_an_independent_computation(tmp_path: Path, run_script, case: str) -> None:
    rng = np.random.default_rng(21)
    scores, labels = crafted_160(rng) if case == "crafted" else tied_case(rng)
    dump, label_file = write_case(tmp_path, scores, labels)
    plain = run_script("imagenet_acc_eval.py", dump, label_file, tmp_path, "plain.json")
    assert plain.returncode == 0, plain.stderr
    result = run_script(
        "imagenet_acc_eval.py", dump, label_file, tmp_path, "result.json",
        "--predictions", "pred.csv", "--per-class", "classes.csv", "-j", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # The guide's JSON, byte for byte, with and without the new flags.
    assert (tmp_path / "result.json").read_bytes() == (tmp_path / "plain.json").read_bytes()
    if case == "crafted":
        assert (tmp_path / "result.json").read_text() == EXPECTED_160

    want = expected_rows(scores, labels)
    got = read_rows(tmp_path / "pred.csv")
    assert_predictions_equal(got, want)
    table = {item["key"]: item["value"] for item in json.loads((tmp_path / "result.json").read_text())["value"]}
    hits1 = sum(int(row["correct_top1"]) for row in got)
    hits5 = sum(int(row["correct_top5"]) for row in got)
    assert table["Top1 accuracy"] == str(round(hits1 / len(got) * 100, 2)) + "%"
    assert table["Top5 accuracy"] == str(round(hits5 / len(got) * 100, 2)) + "%"

    per_class: dict[int, list[int]] = {}
    for row in want:
        figures = per_class.setdefault(int(row["true_class"]), [0, 0, 0])
        figures[0] += 1
        figures[1] += int(row["correct_top1"])
        figures[2] += int(row["correct_top5"])
    names = imagenet_class_names()
    expected_classes = [
        {
            "class": str(index),
            "name": names[index],
            "images": str(n),
            "top1_correct": str(h1),
            "top1_percent": f"{100 * h1 / n:.2f}",
            "top5_correct": str(h5),
            "top5_percent": f"{100 * h5 / n:.2f}",
        }
        for index, (n, h1, h5) in sorted(per_class.items())
    ]
    assert read_rows(tmp_path / "classes.csv") == expected_classes


def test_1001_outputs_shift_the_classes_and_name_the_background(tmp_path: Path, run_script) -> None:
    rng = np.random.default_rng(5)
    scores, labels = crafted_160(rng, classes=1001)
    for key in list(scores)[:3]:
        scores[key][0] = 100.0  # the background class on top
    dump, label_file = write_case(tmp_path, scores, labels)
    result = run_script("imagenet_acc_eval.py", dump, label_file, tmp_path, "r.json", "--predictions", "p.csv")
    assert result.returncode == 0, result.stderr
    got = read_rows(tmp_path / "p.csv")
    assert_predictions_equal(got, expected_rows(scores, labels, offset=1))
    assert [row["top1_name"] for row in got[:3]] == ["background"] * 3 and got[0]["top1_class"] == "-1"


def test_the_names_are_imagenet_1k_at_their_indices(tmp_path: Path, run_script) -> None:
    known = {0: "tench", 1: "goldfish", 207: "golden retriever", 999: "toilet tissue"}
    scores, labels = {}, {}
    for index in known:
        values = np.zeros(1000, dtype=np.float32)
        values[index] = 1.0
        scores[f"img_{index}"], labels[f"img_{index}"] = values, index
    dump, label_file = write_case(tmp_path, scores, labels)
    result = run_script(
        "imagenet_acc_eval.py", dump, label_file, tmp_path, "r.json", "--predictions", "p.csv", "--per-class", "c.csv"
    )
    assert result.returncode == 0, result.stderr
    rows = read_rows(tmp_path / "p.csv")
    assert {int(row["true_class"]): row["true_name"] for row in rows} == known
    assert {int(row["top1_class"]): row["top1_name"] for row in rows} == known
    assert {f.index: f.name for f in read_per_class(tmp_path / "c.csv")} == known


def test_worst_classes_and_confusions_read_back(tmp_path: Path, run_script) -> None:
    # Class 1 always taken for class 0 (three images), class 2 once for class 7; classes 3 and 4 right.
    plan = [(1, 0), (1, 0), (1, 0), (2, 7), (2, 2), (3, 3), (4, 4)]
    scores, labels = {}, {}
    for number, (truth, predicted) in enumerate(plan):
        values = np.linspace(0, 1, 1000, dtype=np.float32)[::-1].copy() * 0.5
        values[predicted] = 5.0
        scores[f"img_{number}"], labels[f"img_{number}"] = values, truth
    dump, label_file = write_case(tmp_path, scores, labels)
    result = run_script(
        "imagenet_acc_eval.py", dump, label_file, tmp_path, "r.json", "--predictions", "p.csv", "--per-class", "c.csv"
    )
    assert result.returncode == 0, result.stderr
    assert confusions(tmp_path / "p.csv") == [(1, "goldfish", 0, "tench", 3), (2, "great white shark", 7, "cock", 1)]
    worst = worst_classes(read_per_class(tmp_path / "c.csv"))
    assert [(f.index, f.images, f.top1_percent) for f in worst] == [
        (1, 3, 0.0),
        (2, 2, 50.0),
        (3, 1, 100.0),
        (4, 1, 100.0),
    ]


def subset_case(tmp_path: Path) -> tuple[Path, Path, Path, dict[str, np.ndarray], dict[str, int]]:
    """59 images run, a label file of 1000 lines (the other 941 images were never given to the run)."""
    rng = np.random.default_rng(18)
    labels = {f"ILSVRC2012_val_{n:08d}": int(rng.integers(0, 1000)) for n in range(1, 1001)}
    run_keys = list(labels)[:59]
    scores = {}
    for number, key in enumerate(run_keys):
        values = rng.normal(size=1000).astype(np.float32)
        if number % 4:  # three of four right
            values[labels[key]] = 10.0
        scores[key] = values
    dump = tmp_path / "dumpOutput_device0"
    dump.mkdir()
    for key, values in scores.items():
        write_dump(dump / dump_file_name(key, False), values, False)
    label_file = tmp_path / "val_label.txt"
    label_file.write_text(format_labels({f"{key}.JPEG": label for key, label in labels.items()}))
    info = tmp_path / "shufflenetv2_prep_bin.info"
    write_info(info, [InfoEntry(n, f"./prep_dataset/{key}.bin", 224, 224) for n, key in enumerate(run_keys)])
    return dump, label_file, info, scores, {key: labels[key] for key in run_keys}


def test_a_subset_is_judged_over_the_images_run(tmp_path: Path, run_script) -> None:
    dump, label_file, info, scores, run_labels = subset_case(tmp_path)
    result = run_script(
        "imagenet_acc_eval.py",
        dump,
        label_file,
        "./",
        "result_bs1.json",
        "--inputs",
        info,
        "--reference",
        "74.1",
        "91.7",
    )
    assert result.returncode in (0, 1), result.stderr
    hits = sum(int(np.argmax(scores[key]) == label) for key, label in run_labels.items())
    table = {item["key"]: item["value"] for item in json.loads((tmp_path / "result_bs1.json").read_text())["value"]}
    assert table["Number of images"] == "59"
    assert table["Top1 accuracy"] == str(round(hits / 59 * 100, 2)) + "%"  # 44/59: 74.58%
    assert "subset: 59 of 1000 labelled images" in result.stdout
    assert "on 59 images (subset: 59 of 1000 labelled images)" in result.stdout
    record = read_accuracy_record(tmp_path / "result_bs1.json")
    assert (record.labelled_images, record.dataset_images, record.subset) == (1000, 59, True)
    # The same with the folder of bins (ais_bench's --input) in place of the info file.
    bins = tmp_path / "prep_dataset"
    bins.mkdir()
    for key in run_labels:
        (bins / f"{key}.bin").write_bytes(b"")
    again = run_script("imagenet_acc_eval.py", dump, label_file, "./", "b.json", "--inputs", bins)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "b.json").read_bytes() == (tmp_path / "result_bs1.json").read_bytes()
    # Without --inputs: today's reading, the 941 others counted as missing (exit 1, nothing written).
    whole = run_script("imagenet_acc_eval.py", dump, label_file, "./", "w.json")
    assert whole.returncode == 1 and "941 of 1000 labelled images have no output" in whole.stderr
    assert not (tmp_path / "w.json").exists()


def test_an_image_of_the_dataset_without_output_is_a_failure(tmp_path: Path, run_script) -> None:
    dump, label_file, info, _scores, run_labels = subset_case(tmp_path)
    lost = sorted(run_labels)[7]
    (dump / dump_file_name(lost, False)).unlink()
    result = run_script("imagenet_acc_eval.py", dump, label_file, "./", "r.json", "--inputs", info)
    assert result.returncode == 1
    assert f"1 of 59 labelled images have no output in {dump}: {lost}" in result.stderr
    assert not (tmp_path / "r.json").exists()


def test_after_a_lost_output_every_rerun_fails_until_it_is_made_again(tmp_path: Path, run_script) -> None:
    """Issue 18, case 1, the user's sequence on the script: a finished run, one dump deleted, the labels touched."""
    scores, labels = crafted_160(np.random.default_rng(1))
    dump, label_file = write_case(tmp_path, scores, labels)
    args = [dump, label_file, "./", "result_bs1.json", "--predictions", "p.csv", "--per-class", "c.csv"]
    assert run_script("imagenet_acc_eval.py", *args).returncode == 0
    clean = (tmp_path / "result_bs1.json").read_bytes()
    lost = dump / dump_file_name(sorted(scores)[3], False)
    kept = lost.read_bytes()
    lost.unlink()
    label_file.touch()
    for _ in range(2):
        again = run_script("imagenet_acc_eval.py", *args)
        assert again.returncode == 1 and "1 of 160 labelled images have no output" in again.stderr
        assert "removed" in again.stderr or _ > 0
        for name in ("result_bs1.json", "result_bs1.json.record", "p.csv", "c.csv"):
            assert not (tmp_path / name).exists(), name
    lost.write_bytes(kept)
    assert run_script("imagenet_acc_eval.py", *args).returncode == 0
    assert (tmp_path / "result_bs1.json").read_bytes() == clean == EXPECTED_160.encode()


def test_an_output_that_is_an_input_is_refused(tmp_path: Path, run_script) -> None:
    scores, labels = crafted_160(np.random.default_rng(2))
    dump, label_file = write_case(tmp_path, scores, labels)
    victim = sorted(dump.iterdir())[0]
    before = victim.read_bytes()
    # Issue 18's command line: the JSON named as a dump file, in the dump folder.
    result = run_script(
        "imagenet_acc_eval.py", "dumpOutput_device0/", "val_label.txt", "./dumpOutput_device0", victim.name
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "lies inside dumpOutput_device0" in result.stderr and victim.name in result.stderr
    assert victim.read_bytes() == before
    for args in (
        ["./", "val_label.txt"],  # the label file
        ["./", "r.json", "--predictions", "r.json"],  # two outputs in one file
        ["./", "r.json", "--per-class", "dumpOutput_device0/x.csv"],
    ):
        refused = run_script("imagenet_acc_eval.py", "dumpOutput_device0", "val_label.txt", *args)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1, (args, refused.stderr)
    assert (tmp_path / "val_label.txt").read_text().count("\n") == 160


def test_a_dump_with_two_lines_is_refused(tmp_path: Path, run_script) -> None:
    scores, labels = crafted_160(np.random.default_rng(3))
    dump, label_file = write_case(tmp_path, scores, labels)
    victim = sorted(dump.iterdir())[10]
    victim.write_text(victim.read_text() + victim.read_text())  # two images' scores in one file
    for workers in ("1", "2"):
        result = run_script("imagenet_acc_eval.py", dump, label_file, "./", "r.json", "-j", workers)
        assert result.returncode == 2 and result.stderr.count("\n") == 1
        assert f"{victim}: holds 2 lines of values, expected one line" in result.stderr
        assert not (tmp_path / "r.json").exists()


def test_a_symlink_loop_in_the_dump_folder_is_no_traceback(tmp_path: Path, run_script) -> None:
    scores, labels = crafted_160(np.random.default_rng(4))
    dump, label_file = write_case(tmp_path, scores, labels)
    # A loop under a dump file's name (a -> b -> a): its image has no readable output.
    looped = dump / dump_file_name("ILSVRC2012_val_00000001", False)
    looped.unlink()
    os.symlink(dump / "b_1.txt", looped)
    os.symlink(looped, dump / "b_1.txt")
    result = run_script("imagenet_acc_eval.py", dump, label_file, "./", "r.json")
    assert "Traceback" not in result.stderr
    assert result.returncode == 1 and "1 of 160 labelled images have no output" in result.stderr
    assert "skipping 2 entries that cannot be read" in result.stderr
    compared = run_script("compare_outputs.py", dump, dump, "--allow-partial")
    assert "Traceback" not in compared.stderr and compared.returncode == 0, compared.stderr


def test_the_record_says_what_the_json_was_computed_from(tmp_path: Path, run_script) -> None:
    scores, labels = crafted_160(np.random.default_rng(6))
    dump, label_file = write_case(tmp_path, scores, labels)
    result = run_script("imagenet_acc_eval.py", dump, label_file, "./", "result_bs1.json", "--predictions", "p.csv")
    assert result.returncode == 0, result.stderr
    record = read_accuracy_record(tmp_path / "result_bs1.json")
    assert record.images_scored == 160 and record.labelled_images == 160 and not record.subset
    assert record.predictions == "p.csv" and record.per_class is None
    assert record.dumps == (str(dump),)
    # A JSON written again by someone else: the record is not its own any more.
    (tmp_path / "result_bs1.json").write_text(EXPECTED_160.replace("14.37", "14.38"))
    assert read_accuracy_record(tmp_path / "result_bs1.json") is None
    assert accuracy_record_path(tmp_path / "result_bs1.json").name == "result_bs1.json.record"


def test_the_names_read_from_torchvisions_source_are_its_metadata() -> None:
    """class_names reads torchvision's list without importing torch (seconds per accuracy run): the same list."""
    from torchvision.models import ResNet50_Weights

    from shufflenet_ascend.class_names import _names_from_torchvision_source

    assert _names_from_torchvision_source() == tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])
