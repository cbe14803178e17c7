"""ShuffleNetV2+ to ONNX for ATC: the export, the graph checks, and parity with PyTorch (the guide's step 3.1).

The ONNX file: input ``image`` float32 [B, 3, 224, 224] (BGR, 0..255), output ``class`` float32 [B, 1000], opset
11 by default, TorchScript exporter; it passes onnx.checker and contains no Shape op; its metadata names the weights
and the model size (shufflenet_ascend.model_labels). ``export_file`` writes it under a temporary name and renames
it only after the parity check (if asked) passed, so a failed export leaves no file.
"""

from __future__ import annotations

import io
import logging
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from shufflenet_ascend.cli import EXIT_CHECK_FAILED, PipelineError
from shufflenet_ascend.contract import (
    CHANNELS,
    DEFAULT_MODEL_SIZE,
    DYNAMIC_CHANNEL_SPLIT,
    IMAGE_SIZE,
    INPUT_NAME,
    MODEL_SIZES,
    OUTPUT_NAME,
    RANDOM_WEIGHTS,
    STATIC_CHANNEL_SPLIT,
)
from shufflenet_ascend.fileio import atomic_write_bytes, check_output_file, write_errors_named
from shufflenet_ascend.metrics import top_k
from shufflenet_ascend.model import model_size_label, prepare_model, random_images, torch_outputs, weights_label
from shufflenet_ascend.model_labels import label_onnx
from shufflenet_ascend.safe_outputs import refuse_unsafe_outputs

LOG = logging.getLogger(__name__)

DEFAULT_OPSET = 11
MAX_OPSET = 20  # the TorchScript exporter's newest opset
MAX_RELATIVE_ERROR = 1e-4
TOP_K = 5
DYNAMIC_BATCH_AXIS = "batch"
# "bs16" in "shufflenetv2_bs16.onnx": the batch size the user meant the file for.
BATCH_IN_NAME = re.compile(r"(?<![a-z0-9])bs(\d+)(?![0-9])", re.IGNORECASE)

# Operators ATC (CANN 5.0.1) converts for this model; anything else is reported.
ATC_OPS = frozenset(
    {
        "Conv",
        "BatchNormalization",
        "Relu",
        "Clip",
        "HardSigmoid",
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Reshape",
        "Transpose",
        "Gather",
        "Slice",
        "Split",
        "Concat",
        "AveragePool",
        "GlobalAveragePool",
        "MatMul",
        "Gemm",
        "Flatten",
        "Squeeze",
        "Unsqueeze",
        "Identity",
        "Constant",
    }
)


def export_onnx(model: nn.Module, batch_size: int, opset: int = DEFAULT_OPSET, dynamic_batch: bool = False) -> bytes:
    """The model as a checked ONNX file (bytes), traced at ``batch_size``; with ``dynamic_batch`` the batch axis
    of ``image`` and ``class`` is symbolic. The file's metadata names the model's weights and size where the model
    knows them (``model.weights_label``: a checkpoint's sha256 or the random weights' seed; see model_labels)."""
    buffer = io.BytesIO()
    dynamic_axes = (
        {INPUT_NAME: {0: DYNAMIC_BATCH_AXIS}, OUTPUT_NAME: {0: DYNAMIC_BATCH_AXIS}} if dynamic_batch else None
    )
    with warnings.catch_warnings():
        # The legacy exporter announces its own deprecation; nothing the user can act on.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        if not dynamic_batch:
            # Tracer warnings say a size became a constant: exactly what a fixed-batch file wants.
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(
            model.eval(),
            (torch.zeros(batch_size, CHANNELS, IMAGE_SIZE, IMAGE_SIZE),),
            buffer,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=opset,
            dynamic_axes=dynamic_axes,
            do_constant_folding=True,
            dynamo=False,
        )
    data = label_onnx(buffer.getvalue(), weights_label(model), model_size_label(model))
    onnx.checker.check_model(onnx.load_from_string(data))
    return data


def _constant_values(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {init.name: onnx.numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attribute in node.attribute:
                if attribute.name == "value":
                    values[node.output[0]] = onnx.numpy_helper.to_array(attribute.t)
    return values


def has_symbolic_batch(model_proto: onnx.ModelProto) -> bool:
    """Whether the graph's first input has a batch axis that is not a fixed number (a dynamic-batch file)."""
    dims = model_proto.graph.input[0].type.tensor_type.shape.dim
    return bool(dims) and not dims[0].HasField("dim_value")


def graph_problems(model_proto: onnx.ModelProto) -> list[str]:
    """What keeps the graph from serving ATC at the batch sizes its input declares: operators outside ATC_OPS
    (Shape among them) and Reshape targets that are computed; in a file whose batch axis is symbolic, also
    Reshape targets that fix the batch axis (first value not -1 or 0). A file of one batch size may write its
    batch size into a Reshape target: Megvii's channel shuffle does, and that is the graph the guide converted."""
    graph = model_proto.graph
    problems = []
    outside = sorted({node.op_type for node in graph.node} - ATC_OPS)
    if outside:
        problems.append(f"operators outside the ATC list: {', '.join(outside)}")
    constants = _constant_values(graph)
    any_batch = has_symbolic_batch(model_proto)
    for node in graph.node:
        if node.op_type != "Reshape":
            continue
        target = constants.get(node.input[1])
        if target is None:
            problems.append(f"Reshape {node.name} has a computed target shape")
        elif any_batch and (target.size == 0 or int(target.reshape(-1)[0]) not in (-1, 0)):
            problems.append(f"Reshape {node.name} fixes the batch axis: target {target.tolist()}")
    return problems


def op_types(model_proto: onnx.ModelProto) -> list[str]:
    """The graph's operator types in node order, Identity and Constant left out (the exporter adds or folds those
    depending on its version; they move no data)."""
    return [node.op_type for node in model_proto.graph.node if node.op_type not in ("Identity", "Constant")]


def onnx_input_output(model_proto: onnx.ModelProto) -> dict[str, list[int | str]]:
    """Name -> shape (an int per fixed axis, the symbol's name per symbolic one) of the graph's inputs/outputs."""
    shapes: dict[str, list[int | str]] = {}
    for value in [*model_proto.graph.input, *model_proto.graph.output]:
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [dim.dim_param if dim.dim_param else dim.dim_value for dim in dims]
    return shapes


def run_onnx(model: bytes | str | Path, images: np.ndarray) -> np.ndarray:
    """The ``class`` output of an ONNX model on ``images`` in onnxruntime (default providers)."""
    import onnxruntime  # only --verify and the tests need it

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: its info about unused initializers is noise here
    source = model if isinstance(model, bytes) else str(model)
    session = onnxruntime.InferenceSession(source, options, providers=onnxruntime.get_available_providers())
    return session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(images, dtype=np.float32)})[0]


@dataclass(frozen=True)
class Parity:
    """How close the ONNX outputs are to PyTorch's on the same images."""

    max_abs_error: float
    relative_error: float  # max |onnx - torch| / max |torch|
    top5_equal: bool  # same five classes in the same order, for every image

    @property
    def ok(self) -> bool:
        return self.relative_error <= MAX_RELATIVE_ERROR


def parity(reference: np.ndarray, candidate: np.ndarray) -> Parity:
    """Errors of ``candidate`` against ``reference`` (both [B, classes])."""
    reference = np.asarray(reference, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    if reference.shape != candidate.shape:
        raise ValueError(f"output shapes differ: {candidate.shape} vs {reference.shape}")
    max_abs = float(np.max(np.abs(candidate - reference)))
    scale = float(np.max(np.abs(reference)))
    relative = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else math.inf)
    top5_equal = bool(np.array_equal(top_k(reference, TOP_K), top_k(candidate, TOP_K)))
    return Parity(max_abs, relative, top5_equal)


def top_k_agree(reference: np.ndarray, candidate: np.ndarray, atol: float, k: int = TOP_K) -> bool:
    """Whether the candidate's top-k classes are the reference's, up to ties within ``atol``: the j-th class the
    candidate ranks must score, in the reference, within 2 * atol of the reference's j-th best score (two classes
    closer than the rounding noise may swap places; any other difference in the ranking fails)."""
    reference = np.asarray(reference, dtype=np.float64)
    best = np.take_along_axis(reference, top_k(reference, k), axis=-1)
    chosen = np.take_along_axis(reference, top_k(candidate, k), axis=-1)
    return bool(np.all(chosen >= best - 2.0 * atol))


def verify_onnx(model: nn.Module, onnx_model: bytes | str | Path, batch_size: int, seed: int) -> Parity:
    """Run the ONNX file and the model on the same seeded random images and compare."""
    images = random_images(batch_size, seed)
    return parity(torch_outputs(model, images), run_onnx(onnx_model, images.numpy()))


def format_parity(result: Parity, batch_size: int) -> str:
    return (
        f"verify (batch {batch_size}): max abs error {result.max_abs_error:.3g}, relative error "
        f"{result.relative_error:.3g} (max |onnx - torch| / max |torch|, limit {MAX_RELATIVE_ERROR:g}), "
        f"top-{TOP_K} {'equal' if result.top5_equal else 'DIFFERENT'}"
    )


def resolve_channel_split(channel_split: str | None, dynamic_batch: bool, output: Path) -> str:
    """The channel split to export with: the one asked for, else the guide's graph for a file of one batch size
    and the batch-free slices for a dynamic-batch file. Reshape cannot serve a symbolic batch: refused."""
    if channel_split is None:
        return DYNAMIC_CHANNEL_SPLIT if dynamic_batch else STATIC_CHANNEL_SPLIT
    if dynamic_batch and channel_split == "reshape":
        raise PipelineError(
            f"{output}: --channel-split reshape cannot make a --dynamic-batch file (its reshape "
            "targets hold the traced batch size); use --channel-split slice or drop --dynamic-batch"
        )
    return channel_split


def batch_sizes_in_name(path: str | Path) -> list[int]:
    """The N of every ``bs<N>`` in the file name (not its folders): ``shufflenetv2_bs16.onnx`` -> [16]."""
    return [int(match) for match in BATCH_IN_NAME.findall(Path(path).name)]


def warn_on_batch_name_mismatch(output: Path, batch_size: int, dynamic_batch: bool) -> None:
    """Warn when a ``bs<N>`` in the output's name disagrees with the batch size of a one-batch-size file (the
    guide names files by batch size; a forgotten BATCH_SIZE argument silently exports batch 1)."""
    if dynamic_batch:
        return  # the file serves every batch size: no name can disagree with it
    wrong = [size for size in batch_sizes_in_name(output) if size != batch_size]
    if wrong:
        LOG.warning(
            "warning: %s: the name says batch size %d but the file is exported for batch size %d (give "
            "BATCH_SIZE %d after the file name for a batch-%d file); writing it anyway",
            output,
            wrong[0],
            batch_size,
            wrong[0],
            wrong[0],
        )


def export_file(
    checkpoint: str,
    output: str | Path,
    batch_size: int = 1,
    model_size: str = DEFAULT_MODEL_SIZE,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = False,
    channel_split: str | None = None,
    verify: bool = False,
    seed: int = 0,
) -> None:
    """Export the checkpoint (or ``random`` weights) to the ONNX file ``output``, the whole step 3.1.

    The arguments are checked before the model is built (a PipelineError naming ``output``); the graph's problems
    for ATC are warnings; with ``verify`` the parity figures are printed and a relative error above
    MAX_RELATIVE_ERROR fails with exit status 1, nothing written. A write error is exit status 3."""
    refuse_unsafe_outputs([output], [None if checkpoint == RANDOM_WEIGHTS else checkpoint])
    output = check_output_file(output)
    if batch_size < 1:
        raise PipelineError(f"{output}: batch size must be at least 1, got {batch_size}")
    channel_split = resolve_channel_split(channel_split, dynamic_batch, output)
    if not DEFAULT_OPSET <= opset <= MAX_OPSET:
        raise PipelineError(f"{output}: --opset must be between {DEFAULT_OPSET} and {MAX_OPSET}, got {opset}")
    if model_size not in MODEL_SIZES:
        raise PipelineError(f"{output}: unknown --model-size {model_size!r}; choose one of {', '.join(MODEL_SIZES)}")

    warn_on_batch_name_mismatch(output, batch_size, dynamic_batch)
    model = prepare_model(checkpoint, model_size, seed, channel_split)
    data = export_onnx(model, batch_size, opset, dynamic_batch)
    for problem in graph_problems(onnx.load_from_string(data)):
        LOG.warning("warning: %s: %s (ATC may reject the file)", output, problem)
    if verify:
        result = verify_onnx(model, data, batch_size, seed)
        print(format_parity(result, batch_size))
        if not result.ok:
            raise PipelineError(
                f"{output}: verification failed: relative error {result.relative_error:.3g} "
                f"> {MAX_RELATIVE_ERROR:g}; file not written",
                exit_code=EXIT_CHECK_FAILED,
            )
    with write_errors_named(output, "the ONNX file"):
        atomic_write_bytes(output, data)
    batch = "dynamic batch" if dynamic_batch else f"batch {batch_size}"
    LOG.info(
        "wrote %s (ShuffleNetV2+ %s, %s, opset %d, channel split %s)", output, model_size, batch, opset, channel_split
    )
