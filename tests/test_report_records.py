"""The accuracy JSON's record and what the readers make of it (issues 17, 18, 21): compare_accuracy.py and
write_report.py sort by batch size, show a subset, refuse runs of different datasets or models; report.md says
what was run and shows the worst classes and the confusions with links to the per-image files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from test_perf_records import CPU_RUN

from shufflenet_ascend.formats.accuracy_json import read_accuracy_record
from shufflenet_ascend.formats.dump import dump_file_name, write_dump
from shufflenet_ascend.formats.perf import DatasetPerf, perf_file_name
from shufflenet_ascend.formats.run_record import record_path, write_run_record


def stand_in_run(folder: Path, batch: int, record=CPU_RUN, correct: int = 30, images: int = 40) -> None:
    """What a stand-in run of BATCH leaves in FOLDER (as run_all renames it): result/dumpOutput_device0_bs<B>/,
    result/perf_vision_batchsize_<B>_device_0.txt and its record; and the labels (class 1 taken for class 0 on
    the images that are wrong)."""
    dump = folder / "result" / f"dumpOutput_device0_bs{batch}"
    dump.mkdir(parents=True)
    labels = []
    for number in range(images):
        truth = 1 if number >= correct else number % 50 + 2
        values = np.linspace(1, 0, 1000, dtype=np.float32)
        values[truth if number < correct else 0] = 10.0
        write_dump(dump / dump_file_name(f"img_{number:03d}", False), values, False)
        labels.append(f"img_{number:03d}.JPEG {truth}\n")
    (folder / "val_label.txt").write_text("".join(labels))
    perf = folder / "result" / perf_file_name(batch, 0)
    perf.write_text(DatasetPerf(20.0 * batch, 1, 1, 1, 1, 1, 1, 30.0 * batch, 1, 1, 1).format())
    write_run_record(
        record_path(perf),
        replace(record, batch_size=batch, images=images, model_file=f"shufflenetv2_bs{batch}.onnx",
                command=("python3", "benchmark_ort.py", f"-batch_size={batch}")),
    )  # fmt: skip


def accuracy(run_script, folder: Path, batch: int, *extra: str):
    name = f"result_bs{batch}.json"
    return run_script(
        "imagenet_acc_eval.py", f"result/dumpOutput_device0_bs{batch}", "val_label.txt", "./", name,
        "--predictions", f"result_bs{batch}_predictions.csv", "--per-class", f"result_bs{batch}_per_class.csv",
        *extra, cwd=folder,
    )  # fmt: skip


def test_the_accuracy_record_finds_the_inference_run_behind_its_dumps(tmp_path: Path, run_script) -> None:
    stand_in_run(tmp_path, 16)
    result = accuracy(run_script, tmp_path, 16)
    assert result.returncode == 0, result.stderr
    record = read_accuracy_record(tmp_path / "result_bs16.json")
    assert record.run_records == ("result/perf_vision_batchsize_16_device_0.json",)
    assert record.predictions == "result_bs16_predictions.csv"


def test_report_says_what_was_run_and_shows_classes_and_confusions(tmp_path: Path, run_script) -> None:
    for batch in (16, 4, 1):
        stand_in_run(tmp_path / f"run{batch}", batch)
        assert accuracy(run_script, tmp_path / f"run{batch}", batch).returncode == 0
    # One folder as run_all leaves it: all batch sizes side by side.
    work = tmp_path / "work"
    (work / "result").mkdir(parents=True)
    for batch in (16, 4, 1):
        source = tmp_path / f"run{batch}"
        for path in source.glob("result_bs*"):
            path.rename(work / path.name)
        for path in (source / "result").iterdir():
            path.rename(work / "result" / path.name)
    (tmp_path / "run1" / "val_label.txt").rename(work / "val_label.txt")
    result = run_script(
        "write_report.py", "report.md", "--accuracy", "result_bs16.json", "result_bs1.json", "result_bs4.json",
        "--perf", "result/", "--random-weights", "--random-labels", "--dataset", "demo: 40 generated images (./demo)",
        cwd=work,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = (work / "report.md").read_text()
    rows = dict(
        (cells[0], cells[1])
        for cells in ([c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if "|" in line)
        if len(cells) == 2
    )
    assert rows["dataset"].startswith("demo: 40 generated images (./demo); 40 images from shufflenetv2_prep_bin.info")
    assert rows["labels"].startswith("RANDOM labels (the demo dataset's)")
    assert "val_label.txt (sha256:" in rows["labels"]
    assert rows["weights"] == "random weights, seed 0"
    assert "shufflenetv2_bs1.onnx (sha256:abababababab)" in rows["model files"]
    assert rows["tool, backend, device"] == "CPU stand-in (onnxruntime) on Test CPU 3000, 2 cores, 2 streams x 1 thread"
    assert rows["streams x threads"] == "2 x 1" and rows["commit"] == "0123456789ab"
    assert rows["date"] == "2026-11-30T08:00:00+00:00"
    assert "python3 benchmark_ort.py -batch_size=1" in rows["command"]
    # Accuracy rows by batch size, not in the order given.
    accuracy_rows = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| bs")]
    assert accuracy_rows == ["bs1", "bs4", "bs16"]
    # Performance: a CPU run, no card, no ratio; the published figures a reference table of their own.
    assert "Interface / published" not in text and "card fps" not in text.split("## Performance")[1].split("\n\n")[2]
    assert "This run was not on an Ascend device" in text and "| 1 | 147.93 | 591.72 |" in text
    # The ten worst classes (class 1: ten images, none right) and the confusion 1 -> 0, with names and links.
    assert "| 1 | goldfish | 10 | 0.00 | 100.00 |" in text  # class 1 is second: in the top five
    assert "| 1 goldfish | 0 tench | 10 |" in text
    assert "[result_bs1_predictions.csv](result_bs1_predictions.csv)" in text
    assert "[result_bs16_per_class.csv](result_bs16_per_class.csv)" in text


def test_mixed_accuracy_runs_are_refused_and_a_subset_is_shown(tmp_path: Path, run_script) -> None:
    stand_in_run(tmp_path / "a", 1)
    other_data = replace(CPU_RUN, dataset="sha256:" + "ef" * 32, dataset_source="photos.info")
    stand_in_run(tmp_path / "b", 16, other_data, images=50)
    for folder, batch in ((tmp_path / "a", 1), (tmp_path / "b", 16)):
        assert accuracy(run_script, folder, batch).returncode == 0
    (tmp_path / "b" / "result_bs16.json").rename(tmp_path / "a" / "result_bs16.json")
    (tmp_path / "b" / "result_bs16.json.record").rename(tmp_path / "a" / "result_bs16.json.record")
    (tmp_path / "b" / "result" / "perf_vision_batchsize_16_device_0.json").rename(
        tmp_path / "a" / "result" / "perf_vision_batchsize_16_device_0.json"
    )
    work = tmp_path / "a"
    result = run_script("compare_accuracy.py", "--random-weights", "result_bs16.json", "result_bs1.json", cwd=work)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "result_bs16.json and result_bs1.json: runs of different datasets" in result.stderr
    assert "--allow-mixed" in result.stderr
    report = run_script("write_report.py", "r.md", "--accuracy", "result_bs16.json", "result_bs1.json", cwd=work)
    assert report.returncode == 2 and "runs of different datasets" in report.stderr
    assert not (work / "r.md").exists()
    allowed = run_script(
        "compare_accuracy.py", "--random-weights", "result_bs16.json", "result_bs1.json", "--allow-mixed", cwd=work
    )
    assert allowed.returncode == 0 and "Mixed runs (--allow-mixed): " in allowed.stdout
    lines = allowed.stdout.splitlines()
    assert lines[2].startswith("bs1 ") and lines[3].startswith("bs16 ")  # by batch size

    # A subset: 20 of the 40 images given to the run (--inputs), the label file has 40.
    subset = tmp_path / "subset"
    stand_in_run(subset, 1)
    (subset / "run.info").write_text("".join(f"{n} ./prep/img_{n:03d}.bin 224 224\n" for n in range(20)))
    for path in sorted((subset / "result" / "dumpOutput_device0_bs1").iterdir())[20:]:
        path.unlink()
    assert accuracy(run_script, subset, 1, "--inputs", "run.info").returncode == 0
    table = run_script("compare_accuracy.py", "--random-weights", "result_bs1.json", cwd=subset)
    assert "bs1: subset: 20 of 40 labelled images" in table.stdout
    run_script("write_report.py", "r.md", "--accuracy", "result_bs1.json", cwd=subset)
    text = (subset / "r.md").read_text()
    assert "| bs1 | 20 (subset: 20 of 40 labelled images) |" in text
    assert "| subset | bs1: subset: 20 of 40 labelled images |" in text


def test_unknown_is_no_difference_but_another_label_file_is(tmp_path: Path, run_script) -> None:
    stand_in_run(tmp_path, 1)
    stand_in_run(tmp_path / "b", 4)
    assert accuracy(run_script, tmp_path, 1).returncode == 0
    # bs4's dumps moved where no run record is found: its dataset and model are not known, which is no difference.
    (tmp_path / "b" / "result" / "dumpOutput_device0_bs4").rename(tmp_path / "elsewhere_bs4")
    run_script("imagenet_acc_eval.py", "elsewhere_bs4", "val_label.txt", "./", "result_bs4.json", cwd=tmp_path)
    assert read_accuracy_record(tmp_path / "result_bs4.json").run_records == ()
    same = run_script("compare_accuracy.py", "--random-weights", "result_bs4.json", "result_bs1.json", cwd=tmp_path)
    assert same.returncode == 0, same.stderr
    # The same outputs scored against another label file: another truth.
    (tmp_path / "other_label.txt").write_text((tmp_path / "val_label.txt").read_text().replace(" 1\n", " 2\n"))
    run_script("imagenet_acc_eval.py", "elsewhere_bs4", "other_label.txt", "./", "result_bs4.json", cwd=tmp_path)
    other = run_script("compare_accuracy.py", "--random-weights", "result_bs4.json", "result_bs1.json", cwd=tmp_path)
    assert other.returncode == 2 and "runs of different label files (other_label.txt (sha256:" in other.stderr
