"""The model files: the ONNX export per batch size and ATC's OM files."""

from __future__ import annotations

import shutil
from pathlib import Path

from shufflenet_ascend.contract import IMAGE_SIZE
from shufflenet_ascend.planning.common import STATE, Actions, Run, is_fresh, script, set_stamp


def stage_export(actions: Actions, run: Run) -> None:
    actions.stage("export", "PyTorch -> ONNX, opset 11, one file per batch size (guide 3.1)")
    source = "random" if run.random_weights else run.checkpoint
    for batch_size in run.batch_sizes:
        onnx_file = f"shufflenetv2_bs{batch_size}.onnx"
        if is_fresh(onnx_file, STATE / "checkpoint"):
            actions.skip(f"{onnx_file} is up to date")
        else:
            actions.run([run.python, script("shufflenetv2_pth2onnx.py"), source, onnx_file, batch_size])


def stage_atc(actions: Actions, run: Run) -> None:
    actions.stage("atc", f"ONNX -> OM with ATC for {run.soc_version} (guide 3.2)")
    if not shutil.which("atc"):
        missing = [b for b in run.batch_sizes if not Path(f"shufflenetv2_bs{b}.om").is_file()]
        actions.skip(
            "atc not found (no CANN toolkit)" + ("" if missing else ": the OM files present are used as they are")
        )
        return
    set_stamp("soc_version", run.soc_version)
    for b in run.batch_sizes:
        if is_fresh(f"shufflenetv2_bs{b}.om", f"shufflenetv2_bs{b}.onnx", STATE / "soc_version"):
            actions.skip(f"shufflenetv2_bs{b}.om is up to date")
        else:
            size = IMAGE_SIZE
            actions.run(
                [
                    "atc",
                    "--framework=5",
                    f"--model=./shufflenetv2_bs{b}.onnx",
                    "--input_format=NCHW",
                    f"--input_shape=image:{b},3,{size},{size}",
                    f"--output=shufflenetv2_bs{b}",
                    "--log=debug",
                    f"--soc_version={run.soc_version}",
                ]  # fmt: skip
            )
