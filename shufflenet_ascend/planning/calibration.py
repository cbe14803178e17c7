"""The calibrate stage of the int8 route: the images to calibrate on, and quantize.py for each batch size (AMCT on an
Ascend host, before ATC converts its deploy model; NNCF for the stand-in)."""

from __future__ import annotations

import shutil
from pathlib import Path

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.planning.common import (
    STATE,
    Actions,
    Run,
    count_bins,
    is_fresh,
    script,
    set_stamp,
    touch,
)
from shufflenet_ascend.preprocess.record import scan_source_folder
from shufflenet_ascend.quantize import (
    AMCT,
    DEFAULT_CALIBRATION_IMAGES,
    calibration_record,
    deploy_model,
    int8_onnx,
    read_calibration_record,
)

CALIBRATION_PREP = "calibration_prep"


def calibration_bins(run: Run) -> str:
    return f"./{CALIBRATION_PREP}" if run.calibration_dataset else "./prep_dataset"


def calibration_tool(run: Run) -> str:
    """AMCT where an OM is made from its deploy model; NNCF where the stand-in runs the int8 ONNX file."""
    return "nncf" if run.stand_in else "amct"


def quantized_model(run: Run, batch_size: int) -> Path:
    onnx = f"shufflenetv2_bs{batch_size}.onnx"
    return int8_onnx(onnx) if run.stand_in else deploy_model(onnx)


def stage_calibrate(actions: Actions, run: Run) -> None:
    tool = calibration_tool(run)
    count = run.calibration_images or DEFAULT_CALIBRATION_IMAGES
    where = run.calibration_dataset or f"{run.dataset} (the images judged)"
    actions.stage(
        "calibrate",
        f"int8: calibrate each batch size's ONNX file on the first {count} images by name of {where}, with "
        f"{'AMCT (amct_onnx)' if tool == 'amct' else 'NNCF on the CPU'}",
    )
    if tool == "amct" and shutil.which(AMCT) is None:
        raise PipelineError(
            f"{AMCT} not found: the int8 OM is built from AMCT's deploy model (install AMCT for ONNX with the CANN "
            "toolkit), or run --tool stand-in: NNCF quantizes on the CPU"
        )
    config = run.calibration_config
    set_stamp("calibration", f"{tool} {count} {run.calibration_dataset or 'prep_dataset'} {config}")
    bins_done = STATE / "preprocess.done"
    if run.calibration_dataset:
        bins_done = STATE / "calibration_prep.done"
        listing = scan_source_folder(run.calibration_dataset)
        set_stamp("calibration_dataset", "\n".join(f"{p.path.name}\t{p.path.stat().st_size}" for p in listing.images))
        if is_fresh(bins_done, STATE / "calibration_dataset") and count_bins(CALIBRATION_PREP) == len(listing.images):
            actions.skip(f"{CALIBRATION_PREP}/ is up to date ({run.calibration_dataset})")
        else:
            bins_done.unlink(missing_ok=True)
            actions.run([run.python, script("imagenet_torch_preprocess.py"), run.calibration_dataset,
                         f"./{CALIBRATION_PREP}", "--if-other-dataset", "overwrite"])  # fmt: skip
            actions.add("check", "calibrate", "bins")
    for b in run.batch_sizes:
        onnx = f"shufflenetv2_bs{b}.onnx"
        output = quantized_model(run, b)
        record = read_calibration_record(onnx)
        inputs = [onnx, STATE / "calibration", bins_done]
        if record is not None and output.is_file() and is_fresh(calibration_record(onnx), *inputs):
            actions.skip(f"{output} is up to date (calibrated on {record.get('calibration')})")
            continue
        calibration_record(onnx).unlink(missing_ok=True)
        command = [run.python, script("quantize.py"), onnx, calibration_bins(run), "--tool", tool]
        if run.calibration_images:
            command += ["--count", run.calibration_images]
        if config:
            command += ["--calibration-config", config]
        actions.run(command)


def check_calibrate(what: str) -> None:
    if what == "bins":
        if count_bins(CALIBRATION_PREP) == 0:
            raise PipelineError(f"{CALIBRATION_PREP}/ holds no bins")
        touch(STATE / "calibration_prep.done")


def calibration_text(run: Run) -> str:
    """Which images calibrated the int8 models, for report.md: the first batch size's record, and whether they are
    among the images judged."""
    record = read_calibration_record(f"shufflenetv2_bs{run.batch_sizes[0]}.onnx") or {}
    text = str(record.get("calibration") or "not known (no calibration record)")
    if run.calibration_dataset:
        return f"{text}: images of {run.calibration_dataset}, apart from the images judged"
    return f"{text}: among the images judged (--calibration-dataset DIR keeps them apart)"
