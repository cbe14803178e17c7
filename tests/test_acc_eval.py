"""imagenet_acc_eval.py: the guide's JSON, string for string, on crafted outputs and on the stand-in's dump."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import needs_private_tmpfs, run_on_full_disk
from shufflenet_ascend import accuracy
from shufflenet_ascend.contract import INPUT_NAME, OUTPUT_NAME
from shufflenet_ascend.formats.dump import dump_file_name, write_dump
from shufflenet_ascend.formats.info import InfoEntry, write_info
from shufflenet_ascend.formats.labels import format_labels


def guide_imagenet_acc_eval(
    prediction_file_path: str, gtfile_path: str, result_store_path: str, json_file_name: str, topn: int = 5
) -> None:
    """The guide's own imagenet_acc_eval.py (Huawei ModelZoo), re-implemented faithfully: the reference."""
    img_gt_dict = {}
    with open(gtfile_path) as f:
        for line in f.readlines():
            temp = line.strip().split(" ")
            img_gt_dict[temp[0].split(".")[0]] = temp[1]
    table_dict = {"title": "Overall statistical evaluation", "value": []}
    count = 0
    res_cnt = 0
    n_labels = ""
    count_hit = np.zeros(topn)
    for tfile_name in os.listdir(prediction_file_path):
        count += 1
        temp = tfile_name.split(".")[0]
        img_name = temp[: temp.rfind("_")]
        with open(os.path.join(prediction_file_path, tfile_name)) as f:
            values = f.readline().strip().split(" ")
        n_labels = len(values)
        prediction = np.zeros(n_labels, dtype=np.float32)
        for ind, prob in enumerate(values):
            prediction[ind] = np.float32(prob)
        sort_index = np.argsort(-prediction)
        gt = img_gt_dict[img_name]
        real_label = int(gt) + 1 if n_labels == 1001 else int(gt)
        res_cnt = min(len(sort_index), topn)
        for i in range(res_cnt):
            if str(real_label) == str(sort_index[i]):
                count_hit[i] += 1
                break
    table_dict["value"].extend(
        [{"key": "Number of images", "value": str(count)}, {"key": "Number of classes", "value": str(n_labels)}]
    )
    accuracy = np.cumsum(count_hit) / count if count else 0
    for i in range(res_cnt):
        table_dict["value"].append(
            {"key": "Top" + str(i + 1) + " accuracy", "value": str(round(accuracy[i] * 100, 2)) + "%"}
        )
    with open(os.path.join(result_store_path, json_file_name), "w") as writer:
        json.dump(table_dict, writer)


def scores_with_label_at(rng: np.random.Generator, label: int, rank: int, classes: int = 1000) -> np.ndarray:
    """Distinct scores where ``label`` holds the (rank+1)-th highest value."""
    values = np.sort(rng.permutation(classes).astype(np.float32) * 0.01 - 3.0)[::-1]
    order = rng.permutation(classes)
    order = np.concatenate([np.delete(order, np.where(order == label)[0]), [label]])
    order[[rank, classes - 1]] = order[[classes - 1, rank]]  # the label takes rank ``rank``
    scores = np.empty(classes, dtype=np.float32)
    scores[order] = values
    return scores


def write_case(
    folder: Path, scores: dict[str, np.ndarray], labels: dict[str, int], binary: bool = False
) -> tuple[Path, Path]:
    dump = folder / "dumpOutput_device0"
    dump.mkdir(parents=True)
    for key, values in scores.items():
        write_dump(dump / dump_file_name(key, binary), values, binary)
    label_file = folder / "val_label.txt"
    label_file.write_text(format_labels({f"{key}.JPEG": label for key, label in labels.items()}))
    return dump, label_file


# 160 images; label ranks chosen so that every top-k string depends on the guide's arithmetic
# (hits / images * 100 rounded by numpy: 23 / 160 -> "14.37", where round(100 * 23 / 160, 2) gives 14.38).
RANK_COUNTS = {0: 23, 1: 26, 2: 2, 3: 36, 4: 6, 5: 20, 17: 20, 999: 27}
EXPECTED_160 = (
    '{"title": "Overall statistical evaluation", "value": [{"key": "Number of images", "value": "160"}, '
    '{"key": "Number of classes", "value": "1000"}, {"key": "Top1 accuracy", "value": "14.37%"}, '
    '{"key": "Top2 accuracy", "value": "30.63%"}, {"key": "Top3 accuracy", "value": "31.87%"}, '
    '{"key": "Top4 accuracy", "value": "54.37%"}, {"key": "Top5 accuracy", "value": "58.13%"}]}'
)


def crafted_160(rng: np.random.Generator, classes: int = 1000) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    scores, labels = {}, {}
    offset = classes - 1000
    number = 0
    for rank, images in RANK_COUNTS.items():
        for _ in range(images):
            key = f"ILSVRC2012_val_{number + 1:08d}"
            labels[key] = int(rng.integers(0, 1000))
            scores[key] = scores_with_label_at(rng, labels[key] + offset, rank, classes)
            number += 1
    return scores, labels


@pytest.mark.parametrize("binary", [False, True], ids=["txt", "bin"])
def test_label_at_known_ranks_gives_the_exact_strings(tmp_path: Path, run_script, binary: bool) -> None:
    scores, labels = crafted_160(np.random.default_rng(0))
    dump, label_file = write_case(tmp_path, scores, labels, binary)
    result = run_script("imagenet_acc_eval.py", dump, label_file, tmp_path, "result.json")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "result.json").read_text() == EXPECTED_160
    assert "top-1: 14.37%" in result.stdout and "top-5: 58.13%" in result.stdout
    if not binary:
        guide_imagenet_acc_eval(str(dump), str(label_file), str(tmp_path), "guide.json")
        assert (tmp_path / "guide.json").read_bytes() == (tmp_path / "result.json").read_bytes()


def test_1001_classes_shift_the_label_by_the_background(tmp_path: Path) -> None:
    scores, labels = crafted_160(np.random.default_rng(1), classes=1001)
    dump, label_file = write_case(tmp_path, scores, labels)
    evaluation = accuracy.evaluate(dump, label_file)
    assert evaluation.classes == 1001
    expected = EXPECTED_160.replace('"1000"', '"1001"')
    assert accuracy.accuracy_json(evaluation) == expected
    guide_imagenet_acc_eval(str(dump), str(label_file), str(tmp_path), "guide.json")
    assert (tmp_path / "guide.json").read_text() == expected


def test_ties_are_ranked_as_the_guide_ranks_them(tmp_path: Path, run_script) -> None:
    rng = np.random.default_rng(2)
    # Few distinct values: most rows have ties at the top, so the argsort order among equals decides the hits.
    scores = {f"img_{n:04d}": rng.integers(0, 4, size=1000).astype(np.float32) for n in range(300)}
    labels = {key: int(np.flatnonzero(values == values.max())[rng.integers(0, 3)]) for key, values in scores.items()}
    dump, label_file = write_case(tmp_path, scores, labels)
    assert run_script("imagenet_acc_eval.py", dump, label_file, tmp_path, "ours.json").returncode == 0
    guide_imagenet_acc_eval(str(dump), str(label_file), str(tmp_path), "guide.json")
    ours = (tmp_path / "ours.json").read_text()
    assert ours == (tmp_path / "guide.json").read_text()
    assert json.loads(ours)["value"][2]["value"] not in ("0.0%", "100.0%")  # the ties really mattered


def test_hits_at_rank_matches_per_row_argsort() -> None:
    rng = np.random.default_rng(3)
    scores = rng.integers(-2, 3, size=(5000, 1000)).astype(np.float32)
    labels = rng.integers(0, 1000, size=5000)
    expected = np.zeros(5, dtype=np.int64)
    for row, label in zip(scores, labels, strict=False):
        top = list(np.argsort(-row)[:5])
        if label in top:
            expected[top.index(label)] += 1
    assert accuracy.hits_at_rank(scores, labels).tolist() == expected.tolist()


def accuracy_table(path: Path) -> dict[str, str]:
    return {item["key"]: item["value"] for item in json.loads(path.read_text())["value"]}


def test_missing_outputs_fail_and_write_nothing_unless_allowed(tmp_path: Path, run_script) -> None:
    rng = np.random.default_rng(4)
    labels = {f"img_{n}": int(rng.integers(0, 1000)) for n in range(10)}
    scores = {key: scores_with_label_at(rng, label, 0) for key, label in list(labels.items())[:8]}
    dump, label_file = write_case(tmp_path, scores, labels)

    # An interrupted or partial run: exit 1 with one line naming how many and which; no JSON (issue 18: a JSON
    # left behind was taken as up to date by the next run).
    result = run_script("imagenet_acc_eval.py", dump, label_file, tmp_path, "result.json")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("imagenet_acc_eval.py: error: ")
    assert "2 of 10 labelled images have no output" in result.stderr and "img_8, img_9" in result.stderr
    assert "--allow-missing" in result.stderr
    assert not (tmp_path / "result.json").exists()

    # A subset on purpose: the JSON counting them as misses, exit 0, the missing images named in a warning and
    # the summary.
    result = run_script("imagenet_acc_eval.py", dump, label_file, tmp_path, "allowed.json", "--allow-missing")
    assert result.returncode == 0, result.stderr
    table = accuracy_table(tmp_path / "allowed.json")
    assert table["Number of images"] == "10" and table["Top1 accuracy"] == "80.0%"
    assert "img_8, img_9" in result.stderr and "2 labelled images have no output" in result.stdout

    # The guide's denominator.
    result = run_script("imagenet_acc_eval.py", dump, label_file, tmp_path, "guide_rule.json", "--ignore-missing")
    assert result.returncode == 0, result.stderr
    table = accuracy_table(tmp_path / "guide_rule.json")
    assert table["Number of images"] == "8" and table["Top5 accuracy"] == "100.0%"
    guide_imagenet_acc_eval(str(dump), str(label_file), str(tmp_path), "guide.json")
    assert (tmp_path / "guide.json").read_bytes() == (tmp_path / "guide_rule.json").read_bytes()

    both = run_script(
        "imagenet_acc_eval.py", dump, label_file, tmp_path, "x.json", "--ignore-missing", "--allow-missing"
    )
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


def write_ais_bench_dump(folder: Path, scores: dict[str, np.ndarray], fmt: str) -> Path:
    """Outputs as ais_bench writes them: ``<key>_0.txt`` printed with ``%f`` and a trailing space, or .bin/.npy."""
    folder.mkdir(parents=True)
    for key, values in scores.items():
        if fmt == "txt":
            (folder / f"{key}_0.txt").write_text("".join("%f " % value for value in values) + "\n")
        elif fmt == "bin":
            (folder / f"{key}_0.bin").write_bytes(values.astype(np.float32).tobytes())
        else:
            np.save(folder / f"{key}_0.npy", values.astype(np.float32))
    return folder


@pytest.mark.parametrize("fmt", ["txt", "bin", "npy"])
def test_several_dump_folders_of_ais_bench_score_as_one_run(tmp_path: Path, run_script, fmt: str) -> None:
    scores, labels = crafted_160(np.random.default_rng(11))
    keys = list(scores)
    # Two devices' shards, as a multi-device run leaves them: contiguous halves of the images.
    first = write_ais_bench_dump(tmp_path / "result" / "bs1_device0", {k: scores[k] for k in keys[:70]}, fmt)
    second = write_ais_bench_dump(tmp_path / "result" / "bs1_device1", {k: scores[k] for k in keys[70:]}, fmt)
    (tmp_path / "val_label.txt").write_text(format_labels({f"{k}.JPEG": v for k, v in labels.items()}))
    result = run_script("imagenet_acc_eval.py", first, second, "val_label.txt", "./", "result.json")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "result.json").read_text() == EXPECTED_160
    # One folder of the two is an incomplete run: exit 1, and the 90 images of the other shard are named as missing.
    alone = run_script("imagenet_acc_eval.py", first, "val_label.txt", "./", "alone.json")
    assert alone.returncode == 1 and "90 of 160 labelled images have no output" in alone.stderr
    if fmt == "txt":  # the guide's own script reads ais_bench's text outputs too: same JSON on one folder
        everything = write_ais_bench_dump(tmp_path / "all", scores, fmt)
        assert run_script("imagenet_acc_eval.py", everything, "val_label.txt", "./", "one.json").returncode == 0
        guide_imagenet_acc_eval(str(everything), str(tmp_path / "val_label.txt"), str(tmp_path), "guide.json")
        assert (tmp_path / "guide.json").read_bytes() == (tmp_path / "one.json").read_bytes() == EXPECTED_160.encode()


def test_an_image_in_two_dump_folders_is_an_error_naming_both_files(tmp_path: Path, run_script) -> None:
    rng = np.random.default_rng(12)
    two = {"a": scores_with_label_at(rng, 1, 0), "b": scores_with_label_at(rng, 2, 0)}
    dump, label_file = write_case(tmp_path, two, {"a": 1, "b": 2})
    other = write_ais_bench_dump(tmp_path / "other", {"b": scores_with_label_at(rng, 2, 3)}, "npy")
    result = run_script("imagenet_acc_eval.py", dump, other, label_file, tmp_path, "r.json")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert f"{dump / 'b_1.txt'} and {other / 'b_0.npy'}: two outputs of image 'b'" in result.stderr
    assert not (tmp_path / "r.json").exists()
    twice = run_script("imagenet_acc_eval.py", dump, f"{dump}/", label_file, tmp_path, "r.json")
    assert twice.returncode == 2 and f"{dump}: dump folder given twice" in twice.stderr
    too_few = run_script("imagenet_acc_eval.py", dump, label_file, tmp_path)
    assert too_few.returncode == 2 and "DUMP [DUMP ...] LABELS OUT_DIR OUT_JSON" in too_few.stderr


@pytest.mark.parametrize(
    "content, message",
    [
        ("a.JPEG 1\nb.JPEG \uff14\n", ":2: malformed label line 'b.JPEG \uff14'"),  # a full-width digit: int() says 4
        ("a.JPEG 1\nb.JPEG 1_0\n", ":2: malformed label line 'b.JPEG 1_0'"),  # int() says 10
        ("a.JPEG 1\nb.JPEG 2\na.JPEG 3\n", ":3: a.JPEG has class 3 here but class 1 on line 1"),
    ],
)
def test_bad_label_files_are_refused_naming_file_and_line(
    tmp_path: Path, run_script, content: str, message: str
) -> None:
    rng = np.random.default_rng(13)
    two = {"a": scores_with_label_at(rng, 1, 0), "b": scores_with_label_at(rng, 4, 0)}
    dump, label_file = write_case(tmp_path, two, {"a": 1, "b": 4})
    label_file.write_text(content, encoding="utf-8")
    result = run_script("imagenet_acc_eval.py", dump, label_file, tmp_path, "r.json")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert f"{label_file}{message}" in result.stderr
    assert not (tmp_path / "r.json").exists()


def test_a_label_file_with_a_byte_order_mark_and_repeated_lines_is_read(tmp_path: Path, run_script) -> None:
    rng = np.random.default_rng(14)
    two = {"a": scores_with_label_at(rng, 1, 0), "b": scores_with_label_at(rng, 4, 2)}
    dump, label_file = write_case(tmp_path, two, {"a": 1, "b": 4})
    label_file.write_bytes(b"\xef\xbb\xbfa.JPEG 1\r\nb.JPEG 4\r\nb.JPEG 4\r\n")  # Windows Notepad's UTF-8
    result = run_script("imagenet_acc_eval.py", dump, label_file, tmp_path, "r.json")
    assert result.returncode == 0, result.stderr
    table = accuracy_table(tmp_path / "r.json")
    assert (table["Number of images"], table["Top1 accuracy"], table["Top3 accuracy"]) == ("2", "50.0%", "100.0%")


@needs_private_tmpfs
def test_a_full_disk_is_one_line_naming_the_json_and_leaves_nothing(tmp_path: Path) -> None:
    rng = np.random.default_rng(15)
    dump, label_file = write_case(tmp_path, {"a": scores_with_label_at(rng, 1, 0)}, {"a": 1})
    full = tmp_path / "full"
    result, listing = run_on_full_disk(
        "imagenet_acc_eval.py", full, dump, label_file, full, "result.json", cwd=tmp_path
    )
    assert result.returncode == 3  # cannot write: the one exit status of a full disk
    assert result.stderr == (
        f"imagenet_acc_eval.py: error: {full / 'result.json'}: cannot write accuracy JSON: No space left on device\n"
    )
    assert listing == ["filler"]


def test_other_files_in_the_dump_folder_are_ignored(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    scores = {"a": scores_with_label_at(rng, 7, 0), "b": scores_with_label_at(rng, 8, 3)}
    dump, label_file = write_case(tmp_path, scores, {"a": 7, "b": 8})
    (dump / ".a_1.txt.x1y2.tmp").write_text("partial")
    (dump / "notes.md").write_text("x")
    write_dump(dump / dump_file_name("a", False, 2), np.zeros(3), False)  # a second output: not the classes
    evaluation = accuracy.evaluate(dump, label_file)
    assert (evaluation.images, evaluation.hits_at_rank) == (2, (1, 0, 0, 1, 0))


def test_reference_applies_the_one_point_rule(tmp_path: Path, run_script) -> None:
    scores, labels = crafted_160(np.random.default_rng(6))  # top-1 14.37, top-5 58.13
    dump, label_file = write_case(tmp_path, scores, labels)
    passed = run_script("imagenet_acc_eval.py", dump, label_file, tmp_path, "r.json", "--reference", "15.3", "59.1")
    assert passed.returncode == 0 and "PASS" in passed.stdout
    failed = run_script("imagenet_acc_eval.py", dump, label_file, tmp_path, "r.json", "--reference", "15.4", "58")
    assert failed.returncode == 1 and "FAIL" in failed.stdout
    assert (tmp_path / "r.json").read_text() == EXPECTED_160  # written either way
    lenient = run_script(
        "imagenet_acc_eval.py", dump, label_file, tmp_path, "r.json", "--compare", "15.4", "58", "--tolerance", "2"
    )
    assert lenient.returncode == 0  # --compare: the older name of --reference, still accepted


BAD_CASES = {
    "unlabelled output": ("extra_1.txt", " ".join(["0.5"] * 1000) + "\n", "extra_1.txt: no label"),
    "NaN": ("img_1_1.txt", " ".join(["nan"] + ["0.5"] * 999) + "\n", "img_1_1.txt: contains NaN or infinite"),
    "inf": ("img_1_1.txt", " ".join(["0.5"] * 999 + ["inf"]) + "\n", "img_1_1.txt: contains NaN or infinite"),
    "999 values": ("img_1_1.txt", " ".join(["0.5"] * 999) + "\n", "img_1_1.txt: 999 values, expected 1000"),
    "1001 among 1000": (
        "img_1_1.txt",
        " ".join(["0.5"] * 1001) + "\n",
        "img_1_1.txt: 1001 values, expected 1000 like the other outputs",
    ),
    "not numbers": ("img_1_1.txt", "0.5 zero 0.5\n", "img_1_1.txt: not a dump file"),
    "empty": ("img_1_1.txt", "", "img_1_1.txt: 0 values"),
    "both txt and bin": ("img_0_1.bin", np.zeros(1000, np.float32).tobytes(), "are both outputs of 'img_0'"),
}


@pytest.mark.parametrize("case", BAD_CASES, ids=list(BAD_CASES))
def test_bad_outputs_fail_naming_the_file(tmp_path: Path, run_script, case: str) -> None:
    name, content, message = BAD_CASES[case]
    rng = np.random.default_rng(7)
    dump, label_file = write_case(tmp_path, {"img_0": scores_with_label_at(rng, 1, 0)}, {"img_0": 1, "img_1": 2})
    (dump / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    result = run_script("imagenet_acc_eval.py", dump, label_file, tmp_path, "result.json")
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stderr.startswith("imagenet_acc_eval.py: error: ") and result.stderr.count("\n") == 1
    assert not (tmp_path / "result.json").exists()


def test_usage_errors(tmp_path: Path, run_script) -> None:
    rng = np.random.default_rng(8)
    dump, label_file = write_case(tmp_path, {"img_0": scores_with_label_at(rng, 1, 0)}, {"img_0": 1})
    cases = [
        ((tmp_path / "nowhere", label_file, tmp_path, "r.json"), "nowhere: dump folder not found"),
        ((tmp_path / "empty", label_file, tmp_path, "r.json"), "no outputs"),
        ((dump, tmp_path / "no_labels.txt", tmp_path, "r.json"), "no_labels.txt: label file not found"),
        ((dump, label_file, tmp_path / "no_dir", "r.json"), "output folder"),
    ]
    (tmp_path / "empty").mkdir()
    for args, message in cases:
        result = run_script("imagenet_acc_eval.py", *args)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
    label_file.write_text("img_0.JPEG 1000\n")
    result = run_script("imagenet_acc_eval.py", dump, label_file, tmp_path, "r.json")
    assert result.returncode == 2
    assert "val_label.txt:1: class index 1000 of img_0.JPEG is not an ImageNet class" in result.stderr
    assert not (tmp_path / "r.json").exists()


def linear_classifier(path: Path, height: int, width: int) -> None:
    """A tiny ONNX model, 'image' [B,3,H,W] -> 'class' [B,1000], built without torch: flatten and a fixed matrix."""
    weights = np.random.default_rng(9).standard_normal((3 * height * width, 1000)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", [INPUT_NAME], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "weights"], [OUTPUT_NAME]),
        ],
        "linear",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", 3, height, width])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", 1000])],
        [numpy_helper.from_array(weights, "weights")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]), str(path))


def test_guide_script_reads_the_stand_ins_dump_and_agrees(tmp_path: Path, run_script) -> None:
    height, width, count = 8, 6, 37
    linear_classifier(tmp_path / "linear.onnx", height, width)
    rng = np.random.default_rng(10)
    (tmp_path / "prep_dataset").mkdir()
    entries, labels = [], {}
    for number in range(count):
        relative = f"./prep_dataset/ILSVRC2012_val_{number + 1:08d}.bin"
        image = rng.uniform(0, 1, size=(3, height, width)).astype(np.float32)
        image.tofile(tmp_path / relative)
        entries.append(InfoEntry(number, relative, width, height))
        # Labels near the model's top scores, so the five figures differ.
        ranking = np.argsort(
            -(
                image.reshape(-1)
                @ np.random.default_rng(9).standard_normal((3 * height * width, 1000)).astype(np.float32)
            )
        )
        labels[f"ILSVRC2012_val_{number + 1:08d}.JPEG"] = int(ranking[number % 7])
    write_info(tmp_path / "prep_bin.info", entries)
    (tmp_path / "val_label.txt").write_text(format_labels(labels))
    result = run_script(
        "benchmark_ort.py",
        "-model_type=vision",
        "-device_id=0",
        "-batch_size=4",
        "-om_path=linear.onnx",
        "-input_text_path=./prep_bin.info",
        f"-input_width={width}",
        f"-input_height={height}",
        "-output_binary=False",
        "-useDvpp=False",
    )
    assert result.returncode == 0, result.stderr
    dump = "result/dumpOutput_device0/"
    assert run_script("imagenet_acc_eval.py", dump, "val_label.txt", "./", "result.json").returncode == 0
    guide_imagenet_acc_eval(str(tmp_path / dump), str(tmp_path / "val_label.txt"), str(tmp_path), "guide.json")
    ours = (tmp_path / "result.json").read_bytes()
    assert ours == (tmp_path / "guide.json").read_bytes()
    top = [item["value"] for item in json.loads(ours)["value"][2:]]
    # Ranks cycle 0..6 over 37 images: 6 images at ranks 0 and 1, 5 at each of ranks 2..6.
    assert top == ["16.22%", "32.43%", "45.95%", "59.46%", "72.97%"]
