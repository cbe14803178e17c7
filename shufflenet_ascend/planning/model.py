"""The model files: the ONNX export per batch size and ATC's OM files, each OM with the record of what it was built
from (the ONNX file's sha256, the chip, the input route), so that an OM is only ever run as the model it came from."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import DEFAULT_MODEL_SIZE, IMAGE_SIZE
from shufflenet_ascend.fileio import atomic_write_text, sha256_file
from shufflenet_ascend.planning.common import (
    AIPP_CONFIG,
    REPO_DIR,
    STATE,
    Actions,
    Run,
    is_fresh,
    loud,
    script,
    set_stamp,
)


def stage_export(actions: Actions, run: Run) -> None:
    actions.stage("export", "PyTorch -> ONNX, opset 11, one file per batch size (guide 3.1)")
    source = "random" if run.random_weights else run.checkpoint
    set_stamp("model_size", run.model_size)
    size = [] if run.model_size == DEFAULT_MODEL_SIZE else ["--model-size", run.model_size]
    for batch_size in run.batch_sizes:
        onnx_file = f"shufflenetv2_bs{batch_size}.onnx"
        if is_fresh(onnx_file, STATE / "checkpoint", STATE / "model_size"):
            actions.skip(f"{onnx_file} is up to date")
        else:
            actions.run([run.python, script("shufflenetv2_pth2onnx.py"), source, onnx_file, batch_size, *size])


def om_file(batch_size: int, int8: bool = False) -> str:
    return f"shufflenetv2_bs{batch_size}{'_int8' if int8 else ''}.om"


def atc_record_file(batch_size: int, int8: bool = False) -> str:
    """The record of the ATC step beside the OM: what the OM was built from."""
    return f"shufflenetv2_bs{batch_size}{'_int8' if int8 else ''}_atc.json"


def atc_source(run: Run, batch_size: int) -> str:
    """The ONNX file ATC converts: the export, or on the int8 route AMCT's deploy model of it."""
    if run.int8:
        from shufflenet_ascend.quantize import deploy_model

        return str(deploy_model(f"shufflenetv2_bs{batch_size}.onnx"))
    return f"shufflenetv2_bs{batch_size}.onnx"


def aipp_config() -> Path:
    return REPO_DIR / AIPP_CONFIG


def atc_command(run: Run, batch_size: int) -> list[str]:
    """The guide's ATC command line (section 3.2); on the uint8 route with the AIPP stage, as Huawei's guides add it
    (--insert_op_conf and --enable_small_channel=1); --input_shape stays the ONNX input's."""
    stem = run.model_stem(batch_size)
    command = ["atc", "--framework=5", f"--model=./{atc_source(run, batch_size)}", "--input_format=NCHW",
               f"--input_shape=image:{batch_size},3,{IMAGE_SIZE},{IMAGE_SIZE}", f"--output={stem}",
               "--log=debug", f"--soc_version={run.soc_version}"]  # fmt: skip
    if run.input_dtype == "uint8":
        command += [f"--insert_op_conf={aipp_config()}", "--enable_small_channel=1"]
    return command


def wanted_build(run: Run, batch_size: int) -> dict[str, object]:
    """What the OM of BATCH must have been built from for this run."""
    onnx = atc_source(run, batch_size)
    return {
        "onnx_file": onnx,
        "onnx_sha256": sha256_file(onnx),
        "soc_version": run.soc_version,
        "input_dtype": run.input_dtype,
        "aipp_config_sha256": sha256_file(str(aipp_config())) if run.input_dtype == "uint8" else None,
    }


def read_atc_record(batch_size: int, int8: bool = False) -> dict[str, object] | None:
    try:
        return json.loads(Path(atc_record_file(batch_size, int8)).read_text())
    except (OSError, ValueError):
        return None


def build_differences(record: dict[str, object], wanted: dict[str, object]) -> list[str]:
    return [f"{key} {record.get(key)} (now {value})" for key, value in wanted.items() if record.get(key) != value]


def stage_atc(actions: Actions, run: Run) -> None:
    actions.stage("atc", f"ONNX -> OM with ATC for {run.soc_version} (guide 3.2)")
    if run.stand_in:
        actions.skip("the stand-in runs the ONNX files: no OM needed")
        return
    have_atc = bool(shutil.which("atc"))
    for b in run.batch_sizes:
        wanted = wanted_build(run, b)
        record = read_atc_record(b, run.int8)
        om, atc_record = om_file(b, run.int8), atc_record_file(b, run.int8)
        present = Path(om).is_file()
        if present and record is not None and not build_differences(record, wanted):
            actions.skip(f"{om} is up to date (built from {wanted['onnx_file']}, sha256 "
                         f"{str(wanted['onnx_sha256'])[:16]}...)")  # fmt: skip
            continue
        if have_atc:
            Path(atc_record).unlink(missing_ok=True)
            actions.run(atc_command(run, b))
            actions.add("check", "atc", str(b))
            continue
        # No atc: an OM is run only as the model it was built from.
        if record is not None:
            raise PipelineError(
                f"{om} was built from another model than this run's: "
                f"{'; '.join(build_differences(record, wanted))}; atc not found to build it again (source env.sh of "
                "the CANN toolkit, or bring the OM built from this ONNX file)"
            )
        if not is_fresh(om, wanted["onnx_file"]):
            raise PipelineError(
                f"{om} is older than {wanted['onnx_file']} and has no ATC record ({atc_record}): it "
                "may hold other weights; atc not found to build it again (source env.sh of the CANN toolkit, or "
                "bring the OM built from this ONNX file)"
            )
        loud(
            f"WARNING: {om} has no ATC record ({atc_record}) and atc is not here: it is taken as built",
            f"from {wanted['onnx_file']} (the OM is newer), for {run.soc_version}, on the {run.input_dtype} route.",
        )
        actions.skip(f"atc not found: {om} is used as it is (no record: taken as built from this ONNX file)")


def check_atc(run: Run, batch_size: int) -> None:
    """ATC made the OM: its record names the ONNX file's sha256, its weights (the ONNX file's metadata), the chip
    and the route, and the command."""
    if not Path(om_file(batch_size, run.int8)).is_file():
        raise PipelineError(f"atc wrote no {om_file(batch_size, run.int8)}")
    from shufflenet_ascend.model_labels import MODEL_SIZE_KEY, UNKNOWN_WEIGHTS, WEIGHTS_KEY, read_onnx_labels

    wanted = wanted_build(run, batch_size)
    labels = read_onnx_labels(f"shufflenetv2_bs{batch_size}.onnx")  # (AMCT's deploy model: the export's weights)
    record = {
        **wanted,
        "om_file": om_file(batch_size, run.int8),
        "om_sha256": sha256_file(om_file(batch_size, run.int8)),
        "weights": labels.get(WEIGHTS_KEY, UNKNOWN_WEIGHTS),
        "model_size": labels.get(MODEL_SIZE_KEY),
        "command": atc_command(run, batch_size),
    }
    if run.int8:  # what calibrated it: the calibration record of quantize.py
        from shufflenet_ascend.quantize import read_calibration_record

        calibration = read_calibration_record(f"shufflenetv2_bs{batch_size}.onnx") or {}
        record.update(precision="int8", calibration=calibration.get("calibration"))
    atomic_write_text(atc_record_file(batch_size, run.int8), json.dumps(record, indent=1) + "\n")
