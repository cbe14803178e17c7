"""write_report.py / shufflenet_ascend.report: report.md holds the figures it is given, flags random weights on
top, and says what it lacks instead of failing."""

from __future__ import annotations

import importlib.metadata
import json
import os
from pathlib import Path

import numpy as np

from shufflenet_ascend import comparison, report
from shufflenet_ascend.formats.accuracy_json import format_accuracy_json
from shufflenet_ascend.formats.dump import write_dump
from shufflenet_ascend.formats.perf import DatasetPerf, perf_file_name

TOP_K_STRINGS = {
    "bs1": ("74.06%", "84.21%", "88.11%", "90.3%", "91.67%"),
    "bs16": ("72.9%", "84.0%", "88.0%", "90.0%", "91.67%"),
}


def write_accuracy(folder: Path, name: str, images: int, strings: tuple[str, ...]) -> Path:
    path = folder / name
    path.write_text(format_accuracy_json(images, 1000, strings))
    return path


def write_perf(folder: Path, batch: int, device: int, e2e: float, interface: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / perf_file_name(batch, device)
    path.write_text(DatasetPerf(e2e, 1000.0, 1.0, 1.0, 1.0, 1.0, e2e, interface, 1.0, e2e, 1.0).format())
    return path


def write_comparison(folder: Path) -> tuple[Path, dict]:
    """A real compare_outputs JSON: 3 images, one with its top-1 flipped, one scaled by 2."""
    rng = np.random.default_rng(5)
    reference = {f"img{n}": rng.permutation(1000).astype(np.float32) * 0.01 for n in range(3)}
    candidate = {key: value.copy() for key, value in reference.items()}
    order = np.argsort(-reference["img1"])
    candidate["img1"][order[:2]] = candidate["img1"][order[1::-1]]
    candidate["img2"] = candidate["img2"] * 2
    for side, outputs in (("reference", reference), ("reference_fp16", candidate)):
        (folder / side).mkdir()
        for key, values in outputs.items():
            write_dump(folder / side / f"{key}_1.txt", values, False)
    labels = folder / "val_label.txt"
    labels.write_text("".join(f"{key}.JPEG {int(np.argmax(value))}\n" for key, value in reference.items()))
    result = comparison.compare_folders(folder / "reference", folder / "reference_fp16", labels_path=labels)
    comparison.apply_thresholds(result, 0.99, 100.0)
    path = folder / "compare_fp16_vs_torch.json"
    path.write_text(comparison.format_json(result))
    return path, result


def table_row(text: str, first_cell: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(f"| {first_cell} |"))
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_the_report_holds_the_figures_given(tmp_path, run_script):
    bs1 = write_accuracy(tmp_path, "result_bs1.json", 50000, TOP_K_STRINGS["bs1"])
    bs16 = write_accuracy(tmp_path, "result_bs16.json", 50000, TOP_K_STRINGS["bs16"])
    bs4 = write_accuracy(tmp_path, "result_bs4.json", 400, TOP_K_STRINGS["bs16"])
    result_dir = tmp_path / "result"
    write_perf(result_dir, 1, 0, 117.471, 147.93)
    write_perf(result_dir, 16, 0, 130.7, 500.0)
    write_perf(result_dir, 16, 1, 131.0, 480.5)
    comparison, figures = write_comparison(tmp_path)
    (tmp_path / "perf.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    out = tmp_path / "out" / "report.md"
    out.parent.mkdir()
    result = run_script(
        "write_report.py",
        out,
        "--accuracy",
        bs1,
        bs16,
        bs4,
        "--perf",
        result_dir,
        "--chips",
        4,
        "--comparison",
        comparison,
        "--plot",
        tmp_path / "perf.png",
        "--tool",
        "benchmark.x86_64",
        "--soc-version",
        "Ascend310P3",
        "--devices",
        "0 1",
        "--card-throughput",
        "bs16: 980.5 img/s",
    )
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert "RANDOM" not in text
    assert table_row(text, "Ascend chip") == ["Ascend chip", "Ascend310P3 (--soc-version)"]
    assert table_row(text, "host CPU")[1].endswith(" cores)")
    assert table_row(text, "inference tool")[1] == "benchmark.x86_64"
    assert table_row(text, "devices")[1] == "0 1"
    assert table_row(text, "PyTorch")[1] == importlib.metadata.version("torch")
    assert table_row(text, "onnxruntime")[1] == importlib.metadata.version("onnxruntime")

    # Accuracy: the figures, the differences from 74.1 / 91.7 and the verdicts.
    assert table_row(text, "bs1")[:3] == ["bs1", "50000", "74.06"] and table_row(text, "bs1")[4] == "91.67"
    assert table_row(text, "bs1")[6:] == ["-0.04", "-0.03", "PASS"]
    assert table_row(text, "bs16")[6:8] == ["-1.20", "-0.03"] and table_row(text, "bs16")[8].startswith("FAIL")
    assert table_row(text, "bs4")[1] == "400" and table_row(text, "bs4")[8].startswith("consistent on 400 images")
    assert table_row(text, "published OM (guide)")[2] == "74.06"

    # Precision: compare_outputs' own figures, as printed in the table.
    row = table_row(text, "compare_fp16_vs_torch")
    assert row[1:5] == [str(tmp_path / "reference"), str(tmp_path / "reference_fp16"), "3", "0"]
    assert row[5:8] == [f"{figures['cosine'][key]:.8f}" for key in ("min", "mean", "p1")]
    assert row[8] == f"{figures['max_abs_error']['value']:.3g}" and row[9] == "1"  # scaled by 2: |2a - a| / |a|
    assert row[10:12] == [f"{100 * 2 / 3:.2f}", "100.00"]
    assert row[12].startswith("FAIL: top-1 agreement 66.67% < --min-top1-agreement 100%")
    labelled = [line for line in text.splitlines() if line.startswith("| compare_fp16_vs_torch |")][1]
    assert [cell.strip() for cell in labelled.strip("|").split("|")][1:] == [
        "3",
        "100.00",
        f"{100 * 2 / 3:.2f}",
        "100.00",
        "100.00",
        "1",
        "0",
    ]
    assert "EMULATION" in text

    # Performance beside the published figures (147.93 / 591.72 at batch 1; 491.668 / 1966.672 at batch 16).
    perf_rows = [line for line in text.splitlines() if line.startswith("| 1 | 0 |") or line.startswith("| 16 |")]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in perf_rows]
    assert cells[0] == ["1", "0", "dataset", "117.47", "147.93", "591.72", "147.93", "591.72", "1.00x"]
    assert cells[1] == [
        "16",
        "0",
        "dataset",
        "130.70",
        "500.00",
        "2000.00",
        "491.67",
        "1966.67",
        f"{500 / 491.668:.2f}x",
    ]
    assert cells[2][:6] == ["16", "1", "dataset", "131.00", "480.50", "1922.00"]
    assert (
        "- batch 16 (dataset), devices 0 1: measured 980.50 fps; extrapolated from their mean x 4: 1961.00 fps" in text
    )
    assert "Measured card throughput: bs16: 980.5 img/s" in text
    assert "![Throughput by batch size](../perf.png)" in text
    assert "Not shown" not in text and "warning" not in result.stderr


def test_random_weights_are_flagged_at_the_very_top(tmp_path, run_script):
    bs1 = write_accuracy(tmp_path, "result_bs1.json", 500, ("0.2%", "0.4%", "0.6%", "0.8%", "1.0%"))
    result = run_script("write_report.py", "report.md", "--accuracy", bs1, "--random-weights", "--chips", 1)
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "report.md").read_text().splitlines()
    assert lines[0].startswith("# ") and lines[2].startswith("> **RANDOM WEIGHTS.**")
    assert table_row("\n".join(lines), "bs1")[8] == "not checked (random weights)"


def test_missing_inputs_are_said_not_crashed(tmp_path, run_script):
    bad_json = tmp_path / "compare_bad.json"
    bad_json.write_text('{"reference": 1}')
    _, good = write_comparison(tmp_path)
    good["cosine"] = "high"  # every key there, one of the wrong type
    wrong_type = tmp_path / "compare_wrong.json"
    wrong_type.write_text(json.dumps(good))
    # A file given that does not exist: exit status 2, one line, nothing written (issue 25).
    for flag, missing in (("--accuracy", "result_bs1.json"), ("--perf", "result"), ("--comparison", "c.json"),
                          ("--plot", "perf.png")):  # fmt: skip
        result = run_script("write_report.py", "report.md", flag, missing)
        assert (result.returncode, result.stderr) == (2, f"write_report.py: error: {flag} {missing}: no such file\n")
        assert not (tmp_path / "report.md").exists()
    # One that cannot be read as what it should be: said in its place.
    empty = tmp_path / "result_bs1.json"
    empty.write_text("")
    result = run_script("write_report.py", "report.md", "--accuracy", empty, "--comparison", bad_json, wrong_type)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    text = (tmp_path / "report.md").read_text()
    for said in (
        f"- Not shown: {empty}: ",
        f"- Not shown: {bad_json}: not a JSON file of compare_outputs.py",
        f"- Not shown: {wrong_type}: not a JSON file of compare_outputs.py",
        "No plot was given",
    ):
        assert said in text, said
        assert said.removeprefix("- ") in result.stderr
    assert all(
        heading in text
        for heading in ("## Machine and tool", "## Accuracy", "## Precision", "## Performance", "## Throughput plot")
    )

    result = run_script("write_report.py", "nothing.md")
    assert result.returncode == 0
    text = (tmp_path / "nothing.md").read_text()
    for said in (
        "No accuracy files were given",
        "No comparison files were given",
        "No perf files were given",
        "No plot was given",
    ):
        assert said in text
    assert table_row(text, "inference tool")[1] == "not given"

    result = run_script("write_report.py", tmp_path / "no" / "report.md")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "does not exist" in result.stderr


def test_cann_version_and_cpu_model(tmp_path, run_script):
    toolkit = tmp_path / "latest"
    (toolkit / "x86_64-linux").mkdir(parents=True)
    (toolkit / "x86_64-linux" / "ascend_toolkit_install.info").write_text(
        "package_name=Ascend-cann-toolkit\nversion=5.0.1\n"
    )
    assert (
        report.cann_version([str(tmp_path / "absent"), str(toolkit)])
        == f"5.0.1 ({toolkit / 'x86_64-linux' / 'ascend_toolkit_install.info'})"
    )
    (toolkit / "version.info").write_text("Version=6.3.RC2\n")
    assert report.cann_version([str(toolkit)]).startswith("6.3.RC2 (")
    assert report.cann_version([str(tmp_path / "absent")]) == "not installed"

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test CPU 9000\n")
    text = report.build_report(
        report.ReportInputs(toolkit_roots=[str(toolkit)], cpuinfo=cpuinfo), tmp_path / "report.md"
    )
    assert table_row(text, "CPU")[1].startswith("Test CPU 9000 (")
    assert table_row(text, "CANN")[1].startswith("6.3.RC2 (")

    result = run_script("write_report.py", "report.md", env={"ASCEND_TOOLKIT_HOME": str(toolkit)})
    assert result.returncode == 0
    assert table_row((tmp_path / "report.md").read_text(), "CANN")[1] == f"6.3.RC2 ({toolkit / 'version.info'})"
    same = run_script("write_report.py", "again.md", env={"ASCEND_TOOLKIT_HOME": str(toolkit)})
    assert same.returncode == 0 and (tmp_path / "again.md").read_text() == (tmp_path / "report.md").read_text()
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]  # atomic: no temporary left


def test_the_layer_section_names_the_first_layer_below_and_plots_cosine(tmp_path, run_script):
    from shufflenet_ascend.layers import LayerRow, write_csv

    conv = "/features/features.3/branch_main/branch_main.5/Conv"
    rows = [
        LayerRow(0, "Conv", "/first_conv/first_conv.0/Conv", "/first_conv/first_conv.0/Conv", "[1,16,112,112]",
                 0.99999, 0.01, 0.001, 0.002, "first_conv.0"),
        LayerRow(1, "Cast", "graph_input_cast0", "", "[1,3,224,224]"),
        LayerRow(2, "Conv", conv, conv, "[1,52,28,28]", 0.93, 2.5, 0.3, 0.35, "features.3.branch_main.5"),
        LayerRow(3, "Concat", "/features/features.3/Concat", "/features/features.3/Concat", "[1,104,28,28]", 0.95,
                 2.5, 0.2, 0.3, "features.3"),
    ]  # fmt: skip
    write_csv(tmp_path / "layers_bs1_fp16_vs_onnx.csv", rows)
    result = run_script("write_report.py", "report.md", "--layers", "layers_bs1_fp16_vs_onnx.csv", "missing_layers.csv")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "report.md").read_text()
    section = text.split("## Layer by layer", 1)[1].split("\n## ", 1)[0]
    assert "[layers_bs1_fp16_vs_onnx.csv](layers_bs1_fp16_vs_onnx.csv): the ONNX file in float16" in section
    assert "3 tensors compared, 1 of one side only" in section
    assert f"first layer below cosine 0.99: row 2, Conv {conv} (PyTorch module features.3.branch_main.5)" in section
    assert "![Cosine per layer, layers_bs1_fp16_vs_onnx.csv](report_layers_bs1_fp16_vs_onnx.png)" in section
    assert (tmp_path / "report_layers_bs1_fp16_vs_onnx.png").stat().st_size > 0
    assert "- Not shown: missing_layers.csv: layer CSV not found" in section
    assert text.index("## Precision") < text.index("## Layer by layer") < text.index("## Performance")
    # Without a layer comparison, the section is left out.
    assert run_script("write_report.py", "plain.md").returncode == 0
    assert "Layer by layer" not in (tmp_path / "plain.md").read_text()


def test_the_precision_table_judges_an_int8_comparison_by_the_int8_guard() -> None:
    """compare_outputs.py applied the fp16 bar (a cosine of 0.99 on every image); int8 is held to the int8 section's
    median cosine, one constant, and the verdict says which bar."""
    from rule_files import a_comparison

    from shufflenet_ascend.quantization_report import INT8_MIN_MEDIAN_COSINE

    assert INT8_MIN_MEDIAN_COSINE == 0.98
    int8 = Path("compare_bs1_int8_vs_fp32_torch.json")
    row, _ = report.comparison_rows(int8, a_comparison(**{"cosine.min": 0.9, "cosine.median": 0.985}))
    assert row.endswith("| 0.90000000 | 0.99000000 | 0.95100000 | 0.25 | 0.01 | 100.00 | 100.00 | "
                        "PASS (the int8 guard: median cosine >= 0.98) |")  # fmt: skip
    row, _ = report.comparison_rows(int8, a_comparison(**{"cosine.median": 0.97}))
    assert row.endswith("| FAIL (the int8 guard: median cosine >= 0.98) |")
    # Not int8: the file's own verdict, the fp16 bar's.
    row, _ = report.comparison_rows(Path("compare_bs1_onnx_vs_torch.json"), a_comparison(**{"cosine.median": 0.985}))
    assert row.endswith("| FAIL: cosine min 0.95 < 0.99 (img_2) |")
