"""Post-training int8 quantization of an exported ONNX file, calibrated on preprocessed images of the dataset.

Two routes, one calibration set (the first N bins by name of a folder, in batches of the model's batch size):

- On an Ascend host, Huawei's AMCT, as the ModelZoo guides run it: the bins are packed into one file per batch
  (each holds exactly one ``--input_shape`` array, as AMCT reads them, in name order), then
  ``amct_onnx calibration --model M.onnx --save_path amct_model/<stem> --input_shape "image:B,3,224,224"
  --data_dir <stem>_calibration --data_types "float32" --batch_num K [--calibration_config F]``, which writes
  ``amct_model/<stem>_deploy_model.onnx`` (for ATC) and ``amct_model/<stem>_fake_quant_model.onnx``.
- Anywhere else, NNCF's post-training quantization (``nncf.quantize`` on the ONNX model, default) or onnxruntime's
  ``quantize_static`` writes ``<stem>_int8.onnx``: QuantizeLinear/DequantizeLinear pairs in opset 11 (per-tensor
  scales, as the export's opset allows), which onnxruntime and OpenVINO both run in int8. NNCF leaves the Mul
  nodes' inputs unquantized (``NNCF_UNQUANTIZED_INPUTS``), so that OpenVINO fuses each Hard-Swish into its Conv.

Beside the model, ``<stem>_calibration.json`` records what was done: the tool, the command, the images (their keys,
and the sha256 of the list), the batches. The int8 ONNX file's metadata says ``precision: int8`` and which images
calibrated it, so every run record made from it says so too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shufflenet_ascend.cli import EXIT_CHECK_FAILED, PipelineError
from shufflenet_ascend.contract import CHANNELS, IMAGE_SIZE, INPUT_NAME
from shufflenet_ascend.fileio import atomic_write_bytes, atomic_write_text, sha256_file, write_errors_named
from shufflenet_ascend.keys import file_key
from shufflenet_ascend.safe_outputs import Output, refuse_unsafe_outputs

LOG = logging.getLogger(__name__)

QUANTIZERS = ("nncf", "onnxruntime")  # on the CPU
TOOLS = ("auto", "amct", *QUANTIZERS)
DEFAULT_QUANTIZER = "nncf"
DEFAULT_CALIBRATION_IMAGES = 300
AMCT = "amct_onnx"
AMCT_FOLDER = "amct_model"
PRECISION_KEY = "precision"  # the int8 ONNX file's metadata: "int8"
CALIBRATION_KEY = "calibration"  # ... and which images calibrated it
INT8 = "int8"


def model_stem(onnx_file: str | os.PathLike[str]) -> str:
    return Path(onnx_file).name.removesuffix(".onnx")


def int8_onnx(onnx_file: str | os.PathLike[str]) -> Path:
    """The CPU quantizer's output, beside the fp32 file: shufflenetv2_bs1.onnx -> shufflenetv2_bs1_int8.onnx."""
    return Path(onnx_file).with_name(f"{model_stem(onnx_file)}_int8.onnx")


def amct_save_path(onnx_file: str | os.PathLike[str]) -> Path:
    """AMCT's --save_path: amct_model/<stem> beside the fp32 file (AMCT appends _deploy_model.onnx etc.)."""
    return Path(onnx_file).parent / AMCT_FOLDER / model_stem(onnx_file)


def deploy_model(onnx_file: str | os.PathLike[str]) -> Path:
    save = amct_save_path(onnx_file)
    return save.with_name(f"{save.name}_deploy_model.onnx")


def fake_quant_model(onnx_file: str | os.PathLike[str]) -> Path:
    save = amct_save_path(onnx_file)
    return save.with_name(f"{save.name}_fake_quant_model.onnx")


def calibration_folder(onnx_file: str | os.PathLike[str]) -> Path:
    """Where the batch-packed bins for AMCT's --data_dir go: <stem>_calibration/ beside the fp32 file."""
    return Path(onnx_file).with_name(f"{model_stem(onnx_file)}_calibration")


def calibration_record(onnx_file: str | os.PathLike[str]) -> Path:
    return Path(onnx_file).with_name(f"{model_stem(onnx_file)}_calibration.json")


@dataclass(frozen=True)
class CalibrationSet:
    """The images calibration runs on: the first ``count`` bins by name of ``folder``, as whole batches."""

    folder: str
    keys: tuple[str, ...]
    batch_size: int
    image_shape: tuple[int, int, int] = (CHANNELS, IMAGE_SIZE, IMAGE_SIZE)  # C, H, W of one image

    @property
    def batches(self) -> int:
        return len(self.keys) // self.batch_size

    @property
    def sha256(self) -> str:
        """The identity of the list of images (their keys, in order)."""
        return hashlib.sha256("\n".join(self.keys).encode()).hexdigest()

    def describe(self) -> str:
        """One line for records and reports: which images, and how many batches."""
        span = f"{self.keys[0]} .. {self.keys[-1]}" if len(self.keys) > 1 else self.keys[0]
        return (
            f"the first {len(self.keys)} images by name of {self.folder} ({span}; {self.batches} batch"
            f"{'es' if self.batches > 1 else ''} of {self.batch_size}; list sha256:{self.sha256[:12]})"
        )


def choose_calibration(
    folder: str | os.PathLike[str],
    count: int,
    batch_size: int,
    image_shape: tuple[int, int, int] = (CHANNELS, IMAGE_SIZE, IMAGE_SIZE),
) -> CalibrationSet:
    """The first ``count`` float32 bins by name of ``folder``, cut to whole batches of ``batch_size`` (AMCT's
    --batch_num counts batches); too few for one batch, or bins of the wrong size, are PipelineErrors."""
    if count < 1:
        raise PipelineError(f"--count {count}: calibration needs at least one image")
    source = Path(folder)
    if not source.is_dir():
        raise PipelineError(f"{folder}: no such folder (expected preprocessed float32 .bin files)")
    bins = sorted(path for path in source.glob("*.bin") if path.is_file())
    if not bins:
        raise PipelineError(f"{folder}: no .bin files (expected preprocessed float32 images)")
    usable = min(count, len(bins)) // batch_size * batch_size
    if usable == 0:
        raise PipelineError(
            f"{folder}: {min(count, len(bins))} image(s) for calibration (--count {count}), fewer than one batch of "
            f"{batch_size}: give more images"
        )
    chosen = bins[:usable]
    expected = int(np.prod(image_shape)) * 4
    for path in chosen:
        size = path.stat().st_size
        if size != expected:
            raise PipelineError(
                f"{path}: {size} bytes, not a float32 image of {'x'.join(map(str, image_shape))} ({expected} bytes): "
                "calibration takes the float32 route's bins"
            )
    if usable < count:
        LOG.info("calibration: %d images (%d asked; whole batches of %d)", usable, count, batch_size)
    return CalibrationSet(str(folder), tuple(file_key(path.name) for path in chosen), batch_size, image_shape)


def calibration_batches(calibration: CalibrationSet) -> Iterator[np.ndarray]:
    """The calibration images as float32 batches [B, 3, 224, 224], in name order."""
    shape = calibration.image_shape
    paths = [Path(calibration.folder, f"{key}.bin") for key in calibration.keys]
    for start in range(0, len(paths), calibration.batch_size):
        part = paths[start : start + calibration.batch_size]
        yield np.stack([np.fromfile(path, dtype=np.float32).reshape(shape) for path in part])


def model_input_shape(onnx_file: str | os.PathLike[str]) -> tuple[int, int, int, int]:
    """The static shape of the model's input, B, C, H, W (the export writes one file per batch size)."""
    import onnx

    try:
        model = onnx.load(os.fspath(onnx_file), load_external_data=False)
    except FileNotFoundError:
        raise PipelineError(f"{onnx_file}: no such file") from None
    except Exception:  # onnx raises DecodeError and others for what is not an ONNX file
        raise PipelineError(f"{onnx_file}: not an ONNX file") from None
    for value in model.graph.input:
        if value.name == INPUT_NAME:
            dims = value.type.tensor_type.shape.dim
            if len(dims) == 4 and all(dim.HasField("dim_value") and dim.dim_value > 0 for dim in dims):
                batch, channels, height, width = (int(dim.dim_value) for dim in dims)
                return batch, channels, height, width
            raise PipelineError(
                f"{onnx_file}: input {INPUT_NAME!r} has no static shape (export one file per batch size)"
            )
    raise PipelineError(f"{onnx_file}: no input named {INPUT_NAME!r} (not this project's ShuffleNetV2+ export)")


# ----------------------------------------------------------------------------------------------------------------
# The CPU quantizers


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """The quantizers' progress bars and notes are logs: stdout stays for results."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


# NNCF's ONNX backend knows Hard-Swish as Add -> Relu -> Mul (-> Div), not in Megvii's order Add -> Clip -> Div ->
# Mul, so it quantizes both inputs of each Mul as if it multiplied two tensors: an int8 round trip between every
# Conv and its Hard-Swish, which keeps OpenVINO from fusing Conv + Hard-Swish + the next quantize (about a seventh
# of the int8 time at batch 16). Left unquantized, a Mul's output is quantized where the next Conv reads it.
NNCF_UNQUANTIZED_INPUTS = ("Mul",)


def quantize_nncf(onnx_file: str | os.PathLike[str], calibration: CalibrationSet) -> bytes:
    """NNCF's post-training quantization (its defaults: the performance preset, min-max ranges, fast bias
    correction) of the ONNX model as it is: opset 11, so per-tensor scales; the inputs of the Mul nodes (Hard-Swish
    and the SE gate) are not quantized (``NNCF_UNQUANTIZED_INPUTS``)."""
    import nncf
    import onnx

    for handler in logging.getLogger("nncf").handlers:  # NNCF logs to stdout: logs go to stderr here
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.stderr)
    model = onnx.load(os.fspath(onnx_file))
    batches = list(calibration_batches(calibration))
    with _stdout_to_stderr():
        dataset = nncf.Dataset(batches, lambda batch: {INPUT_NAME: batch})
        ignored = nncf.IgnoredScope(types=list(NNCF_UNQUANTIZED_INPUTS), validate=False)
        quantized = nncf.quantize(model, dataset, subset_size=len(batches), ignored_scope=ignored)
    return quantized.SerializeToString()


def quantize_onnxruntime(onnx_file: str | os.PathLike[str], calibration: CalibrationSet, scratch: Path) -> bytes:
    """onnxruntime's quantize_static: QDQ format, int8 weights and activations, per-tensor (opset 11), min-max."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = calibration_batches(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {INPUT_NAME: batch}

    prepared, output = scratch / "prepared.onnx", scratch / "int8.onnx"
    with _stdout_to_stderr():
        quant_pre_process(os.fspath(onnx_file), os.fspath(prepared))
        quantize_static(
            os.fspath(prepared), os.fspath(output), Reader(), quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=False,
        )  # fmt: skip
    return output.read_bytes()


def label_int8(data: bytes, source: str | os.PathLike[str], calibration: CalibrationSet) -> bytes:
    """The int8 model with the fp32 file's labels (its weights, size) and its own: precision int8, calibration."""
    import onnx

    proto = onnx.load_from_string(data)
    labels = {entry.key: entry.value for entry in onnx.load(os.fspath(source), load_external_data=False).metadata_props}
    labels.update({PRECISION_KEY: INT8, CALIBRATION_KEY: calibration.describe()})
    del proto.metadata_props[:]
    for key, value in labels.items():
        proto.metadata_props.add(key=key, value=value)
    return proto.SerializeToString()


# ----------------------------------------------------------------------------------------------------------------
# AMCT


def amct_command(
    onnx_file: str | os.PathLike[str], calibration: CalibrationSet, config: str | None = None
) -> list[str]:
    """AMCT's calibration command line as Huawei's ModelZoo guides write it."""
    shape = ",".join(map(str, (calibration.batch_size, *calibration.image_shape)))
    command = [AMCT, "calibration", "--model", os.fspath(onnx_file), "--save_path", str(amct_save_path(onnx_file)),
               "--input_shape", f"{INPUT_NAME}:{shape}",
               "--data_dir", str(calibration_folder(onnx_file)), "--data_types", "float32",
               "--batch_num", str(calibration.batches)]  # fmt: skip
    return command + (["--calibration_config", config] if config else [])


def pack_calibration_bins(calibration: CalibrationSet, folder: Path) -> list[Path]:
    """One bin per batch (each exactly one --input_shape array: B images of CHW float32, in name order), named so
    that AMCT's name order is the batches' order; the folder holds nothing else."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    written = []
    for index, batch in enumerate(calibration_batches(calibration)):
        path = folder / f"batch_{index:06d}.bin"
        with write_errors_named(path, "calibration bin"):
            atomic_write_bytes(path, np.ascontiguousarray(batch, dtype=np.float32).tobytes())
        written.append(path)
    return written


def run_amct(onnx_file: str | os.PathLike[str], calibration: CalibrationSet, config: str | None) -> list[str]:
    """Pack the bins, run amct_onnx (its output goes to stderr), check its two models; returns its command."""
    if shutil.which(AMCT) is None:
        raise PipelineError(f"{AMCT} not found on PATH (install AMCT for ONNX with the CANN toolkit)")
    if config and not Path(config).is_file():
        raise PipelineError(f"{config}: calibration config not found")
    pack_calibration_bins(calibration, calibration_folder(onnx_file))
    for stale in (deploy_model(onnx_file), fake_quant_model(onnx_file)):
        stale.unlink(missing_ok=True)
    amct_save_path(onnx_file).parent.mkdir(parents=True, exist_ok=True)
    command = amct_command(onnx_file, calibration, config)
    print(f"    $ {shlex.join(command)}", file=sys.stderr, flush=True)
    done = subprocess.run(command, stdout=sys.stderr, check=False)
    if done.returncode != 0:
        raise PipelineError(f"{AMCT} failed (exit status {done.returncode}) on {onnx_file}", EXIT_CHECK_FAILED)
    missing = [str(path) for path in (deploy_model(onnx_file), fake_quant_model(onnx_file)) if not path.is_file()]
    if missing:
        raise PipelineError(f"{AMCT} wrote no {' and no '.join(missing)}", EXIT_CHECK_FAILED)
    return command


# ----------------------------------------------------------------------------------------------------------------
# One quantization, recorded


@dataclass(frozen=True)
class QuantizeResult:
    tool: str
    source: str
    outputs: tuple[str, ...]
    calibration: CalibrationSet
    command: tuple[str, ...]


def resolve_tool(tool: str) -> str:
    if tool == "auto":
        return "amct" if shutil.which(AMCT) else DEFAULT_QUANTIZER
    return tool


def quantize(
    onnx_file: str | os.PathLike[str],
    bins: str | os.PathLike[str],
    count: int = DEFAULT_CALIBRATION_IMAGES,
    tool: str = "auto",
    config: str | None = None,
    output: str | os.PathLike[str] | None = None,
) -> QuantizeResult:
    """Calibrate ``onnx_file`` on the first ``count`` bins of ``bins`` and write the int8 model(s) and the record."""
    tool = resolve_tool(tool)
    if tool not in TOOLS:
        raise PipelineError(f"--tool {tool}: not one of {', '.join(TOOLS)}")
    planned: list[Output | Path] = (
        [deploy_model(onnx_file), fake_quant_model(onnx_file), Output(calibration_folder(onnx_file), folder=True)]
        if tool == "amct"
        else [Path(output) if output is not None else int8_onnx(onnx_file)]
    )
    refuse_unsafe_outputs([*planned, calibration_record(onnx_file)], [onnx_file, bins, config])
    batch_size, *image_shape = model_input_shape(onnx_file)
    calibration = choose_calibration(bins, count, batch_size, tuple(image_shape))
    LOG.info("calibration on %s", calibration.describe())
    command: tuple[str, ...] = (Path(sys.argv[0]).name, *sys.argv[1:])
    if tool == "amct":
        if output is not None:
            raise PipelineError("--output: AMCT names its outputs after --save_path (amct_model/<stem>_*.onnx)")
        command = tuple(run_amct(onnx_file, calibration, config))
        outputs = (str(deploy_model(onnx_file)), str(fake_quant_model(onnx_file)))
    else:
        if config:
            raise PipelineError("--calibration-config is AMCT's (--tool amct)")
        target = Path(output) if output is not None else int8_onnx(onnx_file)
        scratch = target.with_name(f".{target.name}.scratch")
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        try:
            data = (
                quantize_nncf(onnx_file, calibration)
                if tool == "nncf"
                else quantize_onnxruntime(onnx_file, calibration, scratch)
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        with write_errors_named(target, "int8 model"):
            atomic_write_bytes(target, label_int8(data, onnx_file, calibration))
        outputs = (str(target),)
    result = QuantizeResult(tool, os.fspath(onnx_file), outputs, calibration, command)
    write_calibration_record(result)
    return result


def write_calibration_record(result: QuantizeResult) -> None:
    document = {
        "tool": result.tool,
        "source": result.source,
        "source_sha256": sha256_file(result.source),
        "outputs": {path: sha256_file(path) for path in result.outputs},
        "calibration": result.calibration.describe(),
        "calibration_folder": result.calibration.folder,
        "batch_size": result.calibration.batch_size,
        "batches": result.calibration.batches,
        "images": list(result.calibration.keys),
        "images_sha256": result.calibration.sha256,
        "command": list(result.command),
    }
    path = calibration_record(result.source)
    with write_errors_named(path, "calibration record"):
        atomic_write_text(path, json.dumps(document, indent=1) + "\n")


def read_calibration_record(onnx_file: str | os.PathLike[str]) -> dict | None:
    """The record of the last calibration of ``onnx_file`` (None when there is none or it cannot be read)."""
    try:
        return json.loads(calibration_record(onnx_file).read_text())
    except (OSError, ValueError):
        return None


def summary(result: QuantizeResult) -> str:
    outputs = " and ".join(result.outputs)
    return f"{result.tool}: {result.source} -> {outputs}; calibrated on {result.calibration.describe()}"
