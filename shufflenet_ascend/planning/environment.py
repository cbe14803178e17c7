"""The environment stage: the chip name (given or from npu-smi) and the inference tool."""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import CHIPS_PER_310_CARD
from shufflenet_ascend.host import available_cores, cpu_name
from shufflenet_ascend.planning.common import AIPP_CONFIG, Actions, Run, loud


def chip_from_npu_smi() -> tuple[str, str]:
    """The chip name of npu-smi's first device (its first row: "| <id>  <Name>  | <Health> | ...")."""
    if not shutil.which("npu-smi"):
        return "Ascend310", "npu-smi not found: the seed guide's chip"
    done = subprocess.run(["npu-smi", "info"], capture_output=True, text=True)
    if done.returncode != 0:
        first = (done.stdout + done.stderr).splitlines()[:1] or [""]
        raise PipelineError(f"npu-smi info failed: {first[0]} (give --soc-version)")
    for line in done.stdout.splitlines():
        cells = line.split("|")
        if (
            len(cells) > 2
            and re.fullmatch(r"\s*[0-9]+\s+[0-9A-Za-z]+\s*", cells[1])
            and re.search("[A-Za-z]", cells[2])
        ):
            return "Ascend" + cells[1].split()[1], "the first device in 'npu-smi info'"
    raise PipelineError("npu-smi info lists no device (give --soc-version, e.g. Ascend310)")


def stage_environment(actions: Actions) -> None:
    run = Run(**json.loads(os.environ["RUN_ALL_SETTINGS"]))
    actions.stage("environment", "source env.sh; choose the chip name and the inference tool")
    run.arch, run.cores, run.cpu_model = platform.machine(), available_cores(), cpu_name()
    atc = shutil.which("atc")
    local_tool = Path(f"benchmark.{run.arch}")
    if local_tool.is_file() and os.access(local_tool, os.X_OK):
        run.benchmark_tool = f"./{local_tool}"
    else:
        run.benchmark_tool = shutil.which(f"benchmark.{run.arch}") or ""
    import_check = [run.python, "-c", "import ais_bench"]
    have_ais_bench = subprocess.run(import_check, capture_output=True).returncode == 0
    if run.soc_version == "auto":
        run.soc_version, soc_reason = chip_from_npu_smi()
    else:
        soc_reason = "given"

    missing_om = [f"{run.model_stem(b)}.om" for b in run.batch_sizes if not Path(f"{run.model_stem(b)}.om").is_file()]
    if run.int8 and not shutil.which("amct_onnx"):  # int8 OM files are made from AMCT's deploy models
        atc = None
    have_om = bool(atc) or not missing_om
    om_problem = f"{'atc or amct_onnx' if run.int8 else 'atc'} not found and {' '.join(missing_om)} missing"
    om_how = "atc makes the OM files" if atc else "the OM files are there"
    tool = run.tool_option
    if tool == "auto":
        if have_om and run.benchmark_tool:
            run.infer_tool, reason = "benchmark", f"auto: {om_how} and {run.benchmark_tool} is there"
        elif have_om and have_ais_bench:
            run.infer_tool = "ais_bench"
            reason = f"auto: {om_how} and the ais_bench package is importable; no benchmark.{run.arch}"
        elif have_om:
            run.infer_tool, reason = "stand-in", "auto: OM files but no tool able to run them"
            loud(
                f"WARNING: {om_how}, but no tool can run them:",
                f"neither benchmark.{run.arch} (work folder or PATH) nor the ais_bench package",
                f"('{shlex.join(import_check)}' fails). Inference runs on the CPU stand-in: the NPU is NOT used.",
                f"Install ais_bench or copy benchmark.{run.arch} here, or pass --tool stand-in to silence this.",
            )
        else:
            run.infer_tool = "stand-in"
            reason = "auto: no OM files (atc not found): benchmark_ort.py runs the ONNX files on the CPU"
    else:
        if tool == "benchmark" and not run.benchmark_tool:
            raise PipelineError(
                f"--tool benchmark: benchmark.{run.arch} not found in the work folder {run.workdir} or on PATH"
            )
        if tool == "ais_bench" and not have_ais_bench:
            raise PipelineError(
                f"--tool ais_bench: '{shlex.join(import_check)}' fails (ais_bench not installed for {run.python})"
            )
        if tool != "stand-in" and not have_om:
            raise PipelineError(f"--tool {tool} needs the OM files: {om_problem}")
        run.infer_tool, reason = tool, f"given (--tool {tool})"
    run.tool_text = {
        "benchmark": f"{run.benchmark_tool} (Huawei's benchmark tool, OM on the NPU)",
        "ais_bench": f"{run.python} -m ais_bench (OM on the NPU)",
        "stand-in": f"benchmark_ort.py (CPU stand-in, {run.backend}, ONNX file)",
    }[run.infer_tool]
    if run.int8:
        run.tool_text = run.tool_text.replace("OM on", "int8 OM on").replace("ONNX file", "int8 ONNX file")
    # The guide's card figure (one chip's rate x the chips of a card) only where the card is known from the chip:
    # an Atlas 300I holds 4 Ascend 310. A 310P sits on an Atlas 300I Pro (1) or Duo (2), which the chip name does not
    # tell: no extrapolation. Never for a CPU.
    run.chips_per_card = CHIPS_PER_310_CARD if not run.stand_in and run.soc_version == "Ascend310" else None
    run.save()

    actions.say(f"work folder: {run.workdir}")
    actions.say(f"atc: {atc or 'not found'}")
    actions.say(f"soc version: {run.soc_version} ({soc_reason})")
    ais_text = "importable" if have_ais_bench else "not importable"
    actions.say(f"benchmark.{run.arch}: {run.benchmark_tool or 'not found'}; ais_bench: {ais_text}")
    actions.say(f"inference tool: {run.infer_tool}: {run.tool_text}; why: {reason}")
    names_only = f" (names only: the stand-in runs on {run.cpu_model}, {run.cores} cores)" if run.stand_in else ""
    actions.say(f"devices: {' '.join(map(str, run.devices))}{names_only}")
    if run.stand_in:
        card = "none (a CPU: no card)"
    elif run.chips_per_card:
        card = f"one chip's rate x {run.chips_per_card} (an Atlas 300I holds {run.chips_per_card} Ascend 310 chips)"
    else:
        card = f"none ({run.soc_version}: the card, and so its chips, is not known from the chip name)"
    actions.say(f"card figure: {card}")
    route = {"float32": "float32 bins (the guide's)", "uint8": f"uint8 bins, ATC's AIPP stage ({AIPP_CONFIG})"}
    actions.say(f"input route: {route[run.input_dtype]}; model size: {run.model_size}")
    if run.backend != "onnxruntime" and not run.stand_in:
        actions.say(f"note: --backend {run.backend} only applies to the stand-in; {run.infer_tool} runs the OM")
