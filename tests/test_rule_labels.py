"""Issue 25, rule 3: every figure labelled or not shown. Without a run record the chip is not known: no card figure
unless --chips says so (the 2021 benchmark tool's files keep the guide's x4: that tool ran only on the Ascend 310);
a record's chips per card that is no card's gives none; every table and report refuses mixed runs the same way
(runs.refuse_mixed); a missing input to write_report.py is exit status 2; a folder scan takes the inference runs
only, not the PyTorch reference."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
from test_parse_perf import GUIDE_PERF_FILES, ais_bench_summary
from test_perf_records import ASCEND_310, CPU_RUN
from test_report_records import accuracy, stand_in_run

from shufflenet_ascend.formats.run_record import Device, record_path, write_run_record


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def write_summary(folder: Path, name: str, record=None) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}_summary.json"
    path.write_text(json.dumps(ais_bench_summary(1, 0, 2.5)))
    if record is not None:
        write_run_record(record_path(path), record)
    return path


@pytest.mark.parametrize(
    "case, chips, expected",
    [
        # by-hand.md's Ascend block on a 310P host: ais_bench's summary, no record.
        ("ais_bench summary without a record", None, "-"),
        ("ais_bench summary without a record", "4", "10 fps x 4"),
        # The stand-in's summary (ais_bench's flags) that lost its record: a CPU's, never a card's.
        ("stand-in summary that lost its record", None, "-"),
        # The guide's 2021 benchmark tool: it ran only on the Ascend 310.
        ("benchmark perf file without a record", None, "x4"),
        ("benchmark perf file without a record", "1", "-"),
        # A record whose chips per card is no card's (another helper refuses it at entry; here: no figure).
        ("record with 10**30 chips per card", None, "-"),
        ("record of an Ascend 310", None, "x4"),
        ("record of a CPU", "4", "-"),
    ],
)
def test_no_card_figure_for_an_unknown_chip(tmp_path: Path, run_script, case: str, chips: str | None, expected: str):
    result_dir = tmp_path / "result"
    result_dir.mkdir()
    if "summary" in case:
        path = write_summary(result_dir, "bs1")
        rate = 400.0  # 1000 x 1 / 2.5 ms
    else:
        path = result_dir / "perf_vision_batchsize_1_device_0.txt"
        path.write_text(GUIDE_PERF_FILES[path.name])
        rate = 147.93
        record = {
            "record with 10**30 chips per card": replace(ASCEND_310, device=replace(ASCEND_310.device)),
            "record of an Ascend 310": ASCEND_310,
            "record of a CPU": CPU_RUN,
        }.get(case)
        if record is not None:
            write_run_record(record_path(path), record)
            if "10**30" in case:
                document = json.loads(record_path(path).read_text())
                document["device"]["chips_per_card"] = 10**30
                record_path(path).write_text(json.dumps(document))
    before = snapshot(tmp_path)
    result = run_script("parse_perf.py", "result/", *(["--chips", chips] if chips else []), "--json", "perf.json")
    if "10**30" in case:  # refused where it enters (bounds.py): one line, exit 2, nothing written
        assert result.returncode == 2 and "impossible chips per card" in result.stderr, result.stderr
        assert len(result.stderr.splitlines()) == 1 and snapshot(tmp_path) == before
        return
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    line = next(line for line in result.stdout.splitlines() if line.endswith(path.name)).split()
    row = json.loads((tmp_path / "perf.json").read_text())["rows"][0]
    card = repr(round(rate * 4, 6))
    if expected == "-":
        assert card not in line, result.stdout
        assert row["card_fps"] is None or row["chips"] == 1, row
    else:
        assert row["card_fps"] == pytest.approx(rate * 4) and row["chips"] == 4
        assert card in line and "card fps (x4)" in result.stdout
    if "without a record" in case or "lost its record" in case:
        assert "no run record" in result.stderr  # said what is not known
    after = snapshot(tmp_path)
    after.pop("perf.json")
    assert after == before  # the user's files untouched


def two_runs(tmp_path: Path, run_script) -> Path:
    """bs1's accuracy of one dataset, bs16's perf file of another: one folder, as a user may gather them."""
    work = tmp_path / "work"
    stand_in_run(work, 1)
    assert accuracy(run_script, work, 1).returncode == 0
    other = replace(CPU_RUN, dataset="sha256:" + "ef" * 32, weights="sha256:" + "12" * 32)
    stand_in_run(tmp_path / "other", 16, other)
    for name in ("perf_vision_batchsize_16_device_0.txt", "perf_vision_batchsize_16_device_0.json"):
        (work / "result" / name).write_bytes((tmp_path / "other" / "result" / name).read_bytes())
    return work


@pytest.mark.parametrize(
    "script, args",
    [
        ("write_report.py", ["report.md", "--accuracy", "result_bs1.json", "--perf", "result/"]),
        (
            "parse_perf.py",
            ["result/perf_vision_batchsize_1_device_0.txt", "result/perf_vision_batchsize_16_device_0.txt"],
        ),  # noqa: E501
    ],
)
def test_mixed_runs_are_refused_the_same_way_by_every_table(tmp_path: Path, run_script, script: str, args: list):
    work = two_runs(tmp_path, run_script)
    before = snapshot(work)
    result = run_script(script, *args, cwd=work)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{script}: error: "), result.stderr
    assert "runs of different datasets" in lines[0] and "--allow-mixed" in lines[0]
    assert snapshot(work) == before
    allowed = run_script(script, *args, "--allow-mixed", cwd=work)
    assert allowed.returncode == 0, allowed.stderr
    said = (work / "report.md").read_text() if script == "write_report.py" else allowed.stderr
    assert "runs of different datasets" in said


@pytest.mark.parametrize("flag", ["--accuracy", "--perf", "--comparison", "--plot", "--predictions", "--per-class"])
def test_a_missing_input_to_write_report_is_exit_2(tmp_path: Path, run_script, flag: str):
    (tmp_path / "report.md").write_text("the user's report\n")
    result = run_script("write_report.py", "report.md", flag, "MISSING.json")
    assert (result.returncode, result.stderr) == (2, f"write_report.py: error: {flag} MISSING.json: no such file\n")
    assert (tmp_path / "report.md").read_text() == "the user's report\n"


def test_a_folder_scan_leaves_the_pytorch_reference_out(tmp_path: Path, run_script):
    # by-hand.md's precision step: the PyTorch reference run with ais_bench's flags into the same result/.
    result_dir = tmp_path / "result"
    stand_in = replace(CPU_RUN, tool="stand-in")
    write_summary(result_dir, "bs1", stand_in)
    reference = replace(CPU_RUN, backend="torch", model_file="random", device=Device("cpu", "Test CPU 3000", cores=2))
    write_summary(result_dir, "reference", reference)
    result = run_script("parse_perf.py", "result/")
    assert result.returncode == 0, result.stderr
    assert "bs1_summary.json" in result.stdout and "reference_summary.json" not in result.stdout
    assert "reference_summary.json left out: the PyTorch reference" in result.stderr
    # Given by name, it is shown, labelled by its record.
    named = run_script("parse_perf.py", "result/reference_summary.json")
    assert named.returncode == 0 and "CPU stand-in (torch)" in named.stdout
