"""run_all.sh's options: parsed, checked, and printed as the shell assignments run_all.sh evaluates."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shlex
from collections.abc import Sequence
from pathlib import Path

from shufflenet_ascend.bounds import BATCH_SIZE, CALIBRATION_IMAGES, DEVICE_ID, ROUNDS
from shufflenet_ascend.cli import PipelineError, make_parser
from shufflenet_ascend.contract import (
    DEFAULT_INPUT_DTYPE,
    DEFAULT_MODEL_SIZE,
    INPUT_DTYPES,
    MODEL_SIZES,
    SMALL_CHECKPOINT_NAME,
)
from shufflenet_ascend.planning.common import (
    BACKENDS,
    COMPARES,
    PRECISIONS,
    PURE_LOOP_ASCEND,
    PURE_SECONDS_STAND_IN,
    TOOLS,
    Run,
)
from shufflenet_ascend.planning.packages import check_packages
from shufflenet_ascend.safe_outputs import Output, refuse_unsafe_outputs

# ----------------------------------------------------------------------------------------------------------------
# options


def build_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = make_parser(
        "Runs the ShuffleNetV2+ Ascend guide end to end in the work folder: export -> ATC -> preprocess -> info "
        "file -> inference -> accuracy -> comparison -> performance -> report.md. Stages whose outputs exist and "
        "are newer than their inputs are skipped, so a re-run is cheap; a failing stage stops the run and is "
        "named. One run at a time per work folder (a second one exits at once).\n\n"
        "Each option mirrors an environment variable, given in brackets. Also: PYTHON (default python3), "
        "ASCEND_ROOT for env.sh.",
        usage="bash run_all.sh [options]",
        epilog="Outputs (the guide's names where it has one): shufflenetv2_bs<B>.onnx, shufflenetv2_bs<B>.om, "
        "prep_dataset/, shufflenetv2_prep_bin.info, result/perf_vision_batchsize_<B>_device_<D>.txt, "
        "result_bs<B>.json with result_bs<B>_predictions.csv and result_bs<B>_per_class.csv (one row per image, "
        "per class) and result_bs<B>.json.record, perf.png, and report.md. Pure-inference runs: "
        "result/PureInfer_perf_of_shufflenetv2_bs<B>_in_device_<D>.txt (the old tool, the stand-in) or "
        "result/pure_bs<B>_summary.json (ais_bench). Beside every perf file or summary, its run record "
        "(<perf file>.json, or result/<name>_record.json beside ais_bench's <name>_summary.json: tool, device, "
        "model file and hash, weights, route, dataset, command); beside each OM, shufflenetv2_bs<B>_atc.json (the "
        "ONNX file's sha256 it was built from: an OM of another ONNX file is built again, or refused without "
        "atc). Outputs are kept per batch size: "
        "result/dumpOutput_device<D>_bs<B>/ (the old tool's and the stand-in's result/dumpOutput_device<D>/, "
        "renamed after each batch size) or result/bs<B>/ and result/bs<B>_summary.json (ais_bench). "
        "Comparison: result/reference/, result/reference_fp16/, result/onnx_bs<B>/, compare_*.json, "
        "layers_bs<B>_fp16_vs_onnx.csv, result/msit_bs1/ and layers_bs1_om_vs_onnx.csv. With --precision int8: "
        "shufflenetv2_bs<B>_int8.onnx (the stand-in) or amct_model/shufflenetv2_bs<B>_deploy_model.onnx and "
        "shufflenetv2_bs<B>_int8.om (an Ascend host), shufflenetv2_bs<B>_calibration.json (which images), "
        "compare_bs<B>_int8_vs_*.json and layers_bs<B>_int8_vs_fp32.csv. "
        "Bookkeeping (settings, stamps, lock) in .run_all/.\n\n"
        "A command of a stage that fails ends the run with that command's exit status (below: the same in every "
        "script of the project; 1 when compare_accuracy.py finds a real checkpoint more than 1 point below the "
        "published accuracy, and when imagenet_acc_eval.py finds images without output: an output lost since the "
        "run fails every re-run until the inference is redone). run_all's own checks (options, the interpreter's "
        "packages, tools, dataset, free space, bins of the wrong size, an OM of another model, a device failing, a "
        "tool leaving outputs missing) end it with 2, one line naming the stage and the problem; 3 when its "
        "bookkeeping (.run_all/, renamed outputs) cannot be written (a read-only work folder). Ctrl-C or kill -TERM "
        "is passed on to the running command and waited for (its locks released): 130 or 143.",
    )
    parser.allow_abbrev = False
    option = parser.add_argument
    option("--checkpoint", metavar="FILE", default=env("CHECKPOINT", ""),
           help=f"PyTorch checkpoint [CHECKPOINT]. Default: {SMALL_CHECKPOINT_NAME} in the work folder or beside "
           "this script when present, else seeded random weights (accuracy is then chance-level)")  # fmt: skip
    option("--dataset", metavar="DIR", default=env("DATASET", ""),
           help="folder holding the validation images themselves [DATASET]. Default: a generated demo set in "
           "WORKDIR/demo/val")  # fmt: skip
    option("--labels", metavar="FILE", default=env("LABELS", ""),
           help="val_label.txt for the dataset [LABELS]. Default: val_label.txt beside DATASET. A dataset with "
           "fewer images than label lines is a subset: the figures are over the images run, and the tables and "
           "report.md say 'subset: N of M labelled images'. An entry of DATASET that cannot be an input (a symbolic "
           "link loop, a name with a blank) is named and left out")  # fmt: skip
    option("--batch-sizes", metavar='"B..."', default=env("BATCH_SIZES", "1 4 8 16 32"),
           help='batch sizes to export and run [BATCH_SIZES]. Default: "1 4 8 16 32"')  # fmt: skip
    option("--workdir", metavar="DIR", default=env("WORKDIR", "."),
           help="where every output goes [WORKDIR]. Default: the current folder")  # fmt: skip
    option("--device-id", metavar="N", default=env("DEVICE_ID", "0"),
           help="the Ascend device (NPU) that runs inference [DEVICE_ID]. Default: 0")  # fmt: skip
    option("--devices", metavar='"D..."', default=env("DEVICES", ""),
           help='several devices at once, e.g. "0 1 2 3" [DEVICES]: the images are split into one contiguous shard '
           "per device, all devices run concurrently, and the measured card throughput is printed. Overrides "
           "--device-id")  # fmt: skip
    option("--tool", metavar="T", default=env("TOOL", "auto"),
           help="inference tool [TOOL]: auto (default), benchmark (Huawei's benchmark.<arch>), ais_bench (python3 -m "
           "ais_bench) or stand-in (benchmark_ort.py on the ONNX file, on the CPU). auto: the OM file and "
           "benchmark.<arch> -> benchmark; else the OM file and an importable ais_bench -> ais_bench; else the "
           "stand-in")  # fmt: skip
    option("--soc-version", metavar="V", default=env("SOC_VERSION", "auto"),
           help="ATC's --soc_version [SOC_VERSION]. Default: auto = \"Ascend\" + the chip name of the first device in "
           "'npu-smi info' (Ascend310, Ascend310P3, ...), Ascend310 without npu-smi")  # fmt: skip
    option("--backend", metavar="B", default=env("BACKEND", "onnxruntime"),
           help="the stand-in's backend [BACKEND]: onnxruntime (default) or openvino")  # fmt: skip
    option("--input-dtype", metavar="D", default=env("INPUT_DTYPE", DEFAULT_INPUT_DTYPE),
           help="the input route [INPUT_DTYPE]: float32 (default, the guide's: 602,112-byte CHW float32 bins, 30.1 "
           "GB for the 50,000 val images) or uint8 (150,528-byte HWC uint8 BGR bins, a quarter: 7.5 GB; ATC inserts "
           "the AIPP stage of aipp.config, with --insert_op_conf and --enable_small_channel=1, and the OM takes them "
           "as they are). The same values reach the network either way: the accuracy is the same")  # fmt: skip
    option("--model-size", metavar="SIZE", default=env("MODEL_SIZE", DEFAULT_MODEL_SIZE),
           help="ShuffleNetV2+ size of the checkpoint [MODEL_SIZE]: Small (default), Medium or Large; given to the "
           "export and the PyTorch reference")  # fmt: skip
    option("--pure-loop", metavar="N", default=env("PURE_LOOP", ""),
           help=f"batches of the pure-inference run made beside each dataset run [PURE_LOOP] (the current guides' "
           f"speed figure: python3 -m ais_bench --model=<om> --loop={PURE_LOOP_ASCEND} --batchsize=<B>; the old "
           f"tool's -round=N; the stand-in's -round=N). Default: {PURE_LOOP_ASCEND} on the Ascend tools, "
           f"{PURE_SECONDS_STAND_IN} seconds on the stand-in; 0: no pure-inference run")  # fmt: skip
    option("--compare", metavar="C", default=env("COMPARE", "first"),
           help="output comparison [COMPARE]: none, first (default: the first batch size) or all. On an Ascend host "
           "the OM's outputs against the ONNX stand-in's; elsewhere the stand-in's against the PyTorch reference, "
           "and the PyTorch fp16 preview against the reference. Also layer by layer on the first image: the ONNX "
           "file against itself in float16 (compare_layers.py --fp16) and, with msit on PATH, the batch-1 OM "
           "against its ONNX file (msit debug compare)")  # fmt: skip
    option("--precision", metavar="P", default=env("PRECISION", "float"),
           help="the model's precision [PRECISION]: float (default, the guide's: the fp32 ONNX file, the OM as ATC "
           "builds it) or int8: after the bins, quantize.py calibrates each batch size's ONNX file on the first "
           "--calibration-images images by name (AMCT on an Ascend host, then ATC on amct_model/shufflenetv2_bs<B>_"
           "deploy_model.onnx -> shufflenetv2_bs<B>_int8.om; NNCF elsewhere -> shufflenetv2_bs<B>_int8.onnx for the "
           "stand-in), and every later step runs the int8 model; its outputs are compared with the fp32 model's "
           "(compare_bs<B>_int8_vs_*.json) and report.md gives the accuracy drop. Float32 bins only")  # fmt: skip
    option("--calibration-images", metavar="N", default=env("CALIBRATION_IMAGES", ""),
           help="int8: images to calibrate on, the first N by name [CALIBRATION_IMAGES]. Default: quantize.py's "
           "(300), or all the images when fewer")  # fmt: skip
    option("--calibration-dataset", metavar="DIR", default=env("CALIBRATION_DATASET", ""),
           help="int8: calibrate on the images of DIR (preprocessed into calibration_prep/), so that the images "
           "judged are not the ones calibrated on [CALIBRATION_DATASET]. Default: the run's own images (report.md "
           "says so)")  # fmt: skip
    option("--calibration-config", metavar="FILE", default=env("CALIBRATION_CONFIG", ""),
           help="int8 on an Ascend host: AMCT's --calibration_config (a quant.cfg) [CALIBRATION_CONFIG]")  # fmt: skip
    return parser


def parse_options(argv: Sequence[str]) -> Run:
    parser = build_parser()
    parser.exit_on_error = False
    try:
        args, extra = parser.parse_known_args(argv)
    except argparse.ArgumentError as exc:
        raise PipelineError(f"option {exc.argument_name} needs a value (see --help)") from None
    if extra:
        what = (
            f"unknown option {extra[0].split('=')[0]}"
            if extra[0].startswith("-")
            else f"unexpected argument '{extra[0]}'"
        )
        raise PipelineError(f"{what} (see --help)")
    batch_sizes = args.batch_sizes.split()
    if not batch_sizes:
        raise PipelineError("--batch-sizes: no batch size given")
    for value in batch_sizes:
        if not re.fullmatch(r"[1-9][0-9]*", value) or not BATCH_SIZE.accepts(int(value)):
            raise PipelineError(f"--batch-sizes: '{value}' is not {BATCH_SIZE.describe()}")
    batch_sizes = list(dict.fromkeys(int(value) for value in batch_sizes))  # "1 1" is one batch size: one row
    if not re.fullmatch(r"[0-9]+", args.device_id) or not DEVICE_ID.accepts(int(args.device_id)):
        raise PipelineError(f"--device-id: '{args.device_id}' is not {DEVICE_ID.describe()}")
    devices = args.devices.split() or [args.device_id]
    for value in devices:
        if not re.fullmatch(r"[0-9]+", value) or not DEVICE_ID.accepts(int(value)):
            raise PipelineError(f"--devices: '{value}' is not {DEVICE_ID.describe()}")
    if len(set(devices)) != len(devices):
        raise PipelineError(f"--devices: '{args.devices}' names a device twice")
    for name, value, allowed in (("tool", args.tool, TOOLS), ("backend", args.backend, BACKENDS),
                                 ("compare", args.compare, COMPARES), ("input-dtype", args.input_dtype, INPUT_DTYPES),
                                 ("model-size", args.model_size, MODEL_SIZES),
                                 ("precision", args.precision, PRECISIONS)):  # fmt: skip
        if value not in allowed:
            raise PipelineError(f"--{name}: '{value}' is not one of {', '.join(allowed)}")
    if not re.fullmatch(r"[A-Za-z0-9_]+", args.soc_version):
        raise PipelineError(f"--soc-version: '{args.soc_version}' is not a chip name such as Ascend310")
    if args.pure_loop and (
        not re.fullmatch(r"[0-9]+", args.pure_loop) or int(args.pure_loop) > ROUNDS.high
    ):  # 0: no pure-inference run
        raise PipelineError(f"--pure-loop: '{args.pure_loop}' is not a whole number from 0 to {int(ROUNDS.high)}")
    check_int8_options(args)
    workdir = Path(args.workdir)
    refuse_unsafe_outputs(  # the run's outputs never land in what it reads (a work folder inside --dataset)
        [Output(workdir / "prep_dataset", folder=True), Output(workdir / "result", folder=True), workdir / "report.md"],
        [args.dataset, args.labels],
    )
    try:
        os.makedirs(args.workdir, exist_ok=True)
    except OSError:
        raise PipelineError(f"--workdir: cannot create {args.workdir}") from None

    def absolute(path: str) -> str:
        return os.path.abspath(path) if path else ""

    return Run(
        workdir=os.path.abspath(args.workdir),
        checkpoint=absolute(args.checkpoint),
        dataset=absolute(args.dataset),
        labels=absolute(args.labels),
        batch_sizes=batch_sizes,
        devices=[int(d) for d in devices],
        tool_option=args.tool,
        soc_version=args.soc_version,
        backend=args.backend,
        compare=args.compare,
        input_dtype=args.input_dtype,
        model_size=args.model_size,
        pure_loop=int(args.pure_loop) if args.pure_loop else None,
        python=os.environ.get("PYTHON", "python3"),
        precision=args.precision,
        calibration_images=int(args.calibration_images or 0),
        calibration_dataset=absolute(args.calibration_dataset),
        calibration_config=absolute(args.calibration_config),
    )


def check_int8_options(args: argparse.Namespace) -> None:
    names = ("calibration_images", "calibration_dataset", "calibration_config")
    given = [name for name in names if getattr(args, name)]
    if args.precision != "int8":
        if given:
            raise PipelineError(f"--{given[0].replace('_', '-')} is for --precision int8")
        return
    if args.input_dtype != "float32":
        raise PipelineError("--precision int8 calibrates on float32 bins: --input-dtype uint8 is not supported with it")
    if args.calibration_images and (
        not re.fullmatch(r"[1-9][0-9]*", args.calibration_images)
        or not CALIBRATION_IMAGES.accepts(int(args.calibration_images))
    ):
        raise PipelineError(f"--calibration-images: '{args.calibration_images}' is not {CALIBRATION_IMAGES.describe()}")
    if args.calibration_dataset and not os.path.isdir(args.calibration_dataset):
        raise PipelineError(f"--calibration-dataset: {args.calibration_dataset}: no such folder")
    if args.calibration_config and not os.path.isfile(args.calibration_config):
        raise PipelineError(f"--calibration-config: {args.calibration_config}: no such file")


def stage_list(run: Run) -> list[str]:
    """The stages before inference, in order: int8 calibrates on the bins, so ATC comes after them."""
    if run.int8:
        return ["environment", "checkpoint", "dataset", "export", "preprocess", "info", "calibrate", "atc"]
    return ["environment", "checkpoint", "dataset", "export", "atc", "preprocess", "info"]


def options(argv: Sequence[str]) -> None:
    """Print the assignments run_all.sh evaluates: the work folder, the batch sizes, the settings (JSON)."""
    if any(arg in ("-h", "--help") for arg in argv):
        print(f"RUN_ALL_HELP={shlex.quote(build_parser().format_help())}")
        return
    run = parse_options(argv)
    check_packages(run.backend, run.precision)
    print(f"WORKDIR={shlex.quote(run.workdir)}")
    print(f"BATCH_LIST=({' '.join(map(str, run.batch_sizes))})")
    print(f"STAGE_LIST=({' '.join(stage_list(run))})")
    print(f"RUN_ALL_SETTINGS={shlex.quote(json.dumps(dataclasses.asdict(run)))}")
