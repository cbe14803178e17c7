"""Export ShuffleNetV2+ from a PyTorch checkpoint to an ONNX file for ATC (the guide's step 3.1).

The guide's command line (batch size 1 unless BATCH_SIZE is given; ATC needs one file per batch size):

    python shufflenetv2_pth2onnx.py ShuffleNetV2+.Small.pth.tar shufflenetv2_bs1.onnx
    python shufflenetv2_pth2onnx.py ShuffleNetV2+.Small.pth.tar shufflenetv2_bs16.onnx 16 --verify

Without a checkpoint, give the word ``random`` instead of a file: the model then gets seeded random weights
(``--seed``) whose logits have real spread, so the whole pipeline can run, but its accuracy is chance-level
(a file really named "random" is ``./random``):

    python shufflenetv2_pth2onnx.py random shufflenetv2_bs1.onnx

The checkpoint may be the official file (``{'state_dict': {'module.<key>': tensor}}``) or a bare state_dict,
with or without the ``module.`` prefix; it is loaded strictly. Its md5 is logged and, for model size Small,
compared with the published md5 of ShuffleNetV2+.Small.pth.tar (a mismatch is a warning).

The ONNX file: input ``image`` float32 [B, 3, 224, 224] (BGR, 0..255), output ``class`` float32 [B, 1000],
opset 11 by default, TorchScript exporter; it passes onnx.checker and contains no Shape op. It is written under
a temporary name and renamed, only after ``--verify`` (if asked) passed, so a failed run leaves no OUTPUT file.
A ``bs<N>`` in the file name that disagrees with BATCH_SIZE (``random shufflenetv2_bs16.onnx`` without 16) is
warned about; the file is still written.

Two graphs, the same numbers (``--channel-split``). The stride-1 blocks split channels into even and odd halves:
- ``reshape`` (default for a file of one batch size, the guide's flow): Megvii's channel shuffle, Reshape to
  (B*C/2, 2, H*W), Transpose, Reshape to (2, -1, C/2, H, W), Gather [0] and [1], and a Reshape to (-1, 1280) before
  the classifier. This is the graph the guide converted with ATC for its published figures. On the Ascend, channels
  are stored in blocks of 16 (NC1HWC0), so this shuffle and a step-2 channel slice compile to different
  data-movement kernels: only this graph makes an OM comparable with the guide's throughput. Its reshape targets
  hold the batch size, so the file serves that batch size only.
- ``slice`` (default with ``--dynamic-batch``): strided Slices (step 2 on channels) and a Flatten; no shape in the
  graph depends on the batch, so one file serves any batch size. ``reshape`` with ``--dynamic-batch`` is refused.

``--verify`` runs the file in onnxruntime and the model in PyTorch on the same seeded random images and prints
the maximum absolute error, the relative error (max |onnx - torch| / max |torch|) and whether the top-5 classes
agree; it fails (exit status 1, no file written) when the relative error exceeds 1e-4.

The model is imported as the guide does, from ShuffleNet-Series/ShuffleNetV2+ beside this script (``from network
import ShuffleNetV2_Plus``), so a clone of Megvii's repository can stand in for ours.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import inspect
import io
import logging
import math
import pickle
import re
import sys
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from shufflenet_ascend.cli import PipelineError, run_cli, setup_logging
from shufflenet_ascend.contract import (
    CHANNELS,
    IMAGE_SIZE,
    INPUT_NAME,
    NUM_CLASSES,
    OUTPUT_NAME,
    SMALL_CHECKPOINT_MD5,
    SMALL_CHECKPOINT_NAME,
)
from shufflenet_ascend.fileio import atomic_write_bytes, check_output_file

MODEL_DIR = Path(__file__).resolve().parent / "ShuffleNet-Series" / "ShuffleNetV2+"
if str(MODEL_DIR) not in sys.path:
    sys.path.insert(0, str(MODEL_DIR))

from network import ShuffleNetV2_Plus  # noqa: E402  (needs MODEL_DIR on sys.path, as in the guide)

LOG = logging.getLogger("shufflenetv2_pth2onnx")

# The guide's architecture: one block choice per block (0/1/2 = Shuffle 3x3/5x5/7x7, 3 = Xception).
# Spelled out here, not imported from network.py, because a clone of Megvii's repository may stand in for our
# network.py and it defines neither constant; tests/test_model.py pins them equal.
ARCHITECTURE = [0, 0, 3, 1, 1, 1, 0, 0, 2, 0, 2, 1, 1, 0, 2, 0, 2, 1, 3, 2]
MODEL_SIZES = ("Small", "Medium", "Large")
DEFAULT_MODEL_SIZE = "Small"
DEFAULT_OPSET = 11
MAX_OPSET = 20  # the TorchScript exporter's newest opset
RANDOM_WEIGHTS = "random"
MODULE_PREFIX = "module."
MAX_RELATIVE_ERROR = 1e-4
TOP_K = 5
DYNAMIC_BATCH_AXIS = "batch"
# How the stride-1 blocks split channels (network.py's channel_split): "reshape" is Megvii's graph, what the guide
# converted with ATC (one batch size per file); "slice" holds no batch size, so one file serves every batch size.
CHANNEL_SPLITS = ("reshape", "slice")
STATIC_CHANNEL_SPLIT = "reshape"
DYNAMIC_CHANNEL_SPLIT = "slice"
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

# Root mean square of pixels uniform in 0..255: the random first convolution divides by it so that its
# output starts near unit scale whatever the image (the model sees raw 0..255 BGR values, no normalisation).
PIXEL_RMS = 255.0 / math.sqrt(3.0)
RANDOM_LOGIT_STD = 4.0


# --------------------------------------------------------------------------------------------------------------
# Model and weights


def _network_has_channel_split() -> bool:
    """Whether network.py's ShuffleNetV2_Plus takes ``channel_split`` (ours does; a clone of Megvii's does not)."""
    return "channel_split" in inspect.signature(ShuffleNetV2_Plus).parameters


def build_model(model_size: str, channel_split: str | None = None) -> nn.Module:
    """The guide's ShuffleNetV2+ of the given size, in eval mode (weights not loaded).

    ``channel_split`` ("reshape" or "slice") only changes the exported graph; None keeps network.py's default.
    A clone of Megvii's network.py always reshapes: asking it for "slice" is a PipelineError.
    """
    kwargs: dict[str, str] = {}
    if channel_split is not None:
        if channel_split not in CHANNEL_SPLITS:
            raise ValueError(f"unknown channel split {channel_split!r}; expected one of {', '.join(CHANNEL_SPLITS)}")
        if _network_has_channel_split():
            kwargs["channel_split"] = channel_split
        elif channel_split != "reshape":
            raise PipelineError(
                f"{MODEL_DIR / 'network.py'}: its ShuffleNetV2_Plus takes no channel_split (a clone "
                "of Megvii's code?) and always splits channels by reshape, which holds the batch "
                "size: use --channel-split reshape without --dynamic-batch"
            )
    model = ShuffleNetV2_Plus(
        input_size=IMAGE_SIZE, n_class=NUM_CLASSES, architecture=ARCHITECTURE, model_size=model_size, **kwargs
    )
    return model.eval()


def random_images(batch_size: int, seed: int) -> torch.Tensor:
    """Seeded images as the model sees them: float32 [B, 3, 224, 224], values uniform in 0..255."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch_size, CHANNELS, IMAGE_SIZE, IMAGE_SIZE, generator=generator) * 255.0


def randomize_weights_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every weight and BatchNorm statistic a seeded random value, in place; returns the model.

    Unlike the default initialisation (which makes the logits nearly zero, so that a parity check on them cannot
    fail), the logits have a standard deviation of a few units on images of 0..255: convolutions and linear
    layers get He-normal weights (the first one scaled for raw pixels), BatchNorm layers random affine parameters
    and random running statistics (positive variances), and the classifier is rescaled by a power of two so that
    logits on seeded random images have a standard deviation near 4. Deterministic for a given seed.
    Works on any module built from Conv2d, Linear and BatchNorm2d (also a clone of Megvii's model).
    """
    generator = torch.Generator().manual_seed(seed)
    last_linear: nn.Linear | None = None
    first_layer = True
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                std = math.sqrt(2.0 / fan_in) / (PIXEL_RMS if first_layer else 1.0)
                module.weight.normal_(0.0, std, generator=generator)
                if module.bias is not None:
                    module.bias.normal_(0.0, 0.1, generator=generator)
                first_layer = False
                if isinstance(module, nn.Linear):
                    last_linear = module
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.8, 1.25, generator=generator)
                module.bias.normal_(0.0, 0.5, generator=generator)
                module.running_mean.normal_(0.0, 0.5, generator=generator)
                module.running_var.uniform_(0.5, 2.0, generator=generator)
        if last_linear is not None:
            was_training = model.training
            model.eval()
            logit_std = float(model(random_images(8, seed)).std())
            model.train(was_training)
            # A power of two: float noise between machines cannot change which one is chosen (but near a tie).
            last_linear.weight.mul_(2.0 ** round(math.log2(RANDOM_LOGIT_STD / logit_std)))
    return model


def file_md5(path: str | Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(functools.partial(handle.read, 1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def published_md5(model_size: str) -> str | None:
    """The md5 the guide publishes for the checkpoint of this size (only Small has one)."""
    return SMALL_CHECKPOINT_MD5 if model_size == "Small" else None


def check_checkpoint_md5(path: str | Path, model_size: str) -> str:
    """Log the checkpoint's md5; warn when it differs from the published one. Returns the md5."""
    md5 = file_md5(path)
    expected = published_md5(model_size)
    if expected is None:
        LOG.info("%s: md5 %s (no published md5 for model size %s)", path, md5, model_size)
    elif md5 == expected:
        LOG.info("%s: md5 %s, the published md5 of %s", path, md5, SMALL_CHECKPOINT_NAME)
    else:
        LOG.warning(
            "warning: %s: md5 %s differs from the published md5 %s of %s "
            "(another or a corrupted download?); exporting it anyway",
            path,
            md5,
            expected,
            SMALL_CHECKPOINT_NAME,
        )
    return md5


def strip_module_prefix(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove the ``module.`` prefix nn.DataParallel adds (from every key that has it)."""
    return {key.removeprefix(MODULE_PREFIX): value for key, value in state_dict.items()}


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The state_dict in a checkpoint file: official (``{'state_dict': ...}``) or bare, ``module.`` removed.

    Only tensors and plain containers are unpickled (``weights_only``): a checkpoint cannot run code.
    """
    path = Path(path)
    if not path.exists():
        raise PipelineError(f"{path}: checkpoint not found")
    if path.is_dir():
        raise PipelineError(f"{path}: is a folder, expected a checkpoint file")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError:
        raise PipelineError(f"{path}: checkpoint is not readable (permission denied)") from None
    except pickle.UnpicklingError as exc:
        disallowed = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if disallowed:
            raise PipelineError(
                f"{path}: holds an object of type {disallowed[1]} besides tensors, which "
                "torch.load(weights_only=True) refuses to unpickle (it could run code); save just the "
                "state_dict"
            ) from None
        raise PipelineError(f"{path}: not a PyTorch checkpoint (cannot unpickle it)") from None
    except (
        zipfile.BadZipFile,
        RuntimeError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        ImportError,
        IndexError,
        KeyError,
        UnicodeDecodeError,
        OSError,
    ):
        raise PipelineError(f"{path}: not a PyTorch checkpoint (cannot unpickle it)") from None
    state_dict = content.get("state_dict", content) if isinstance(content, dict) else None
    if (
        not isinstance(state_dict, Mapping)
        or not state_dict
        or not all(isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state_dict.items())
    ):
        raise PipelineError(
            f"{path}: not a checkpoint: expected a state_dict of tensors or {{'state_dict': state_dict}}"
        )
    return strip_module_prefix(state_dict)


@functools.cache
def expected_shapes(model_size: str) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the state_dict of the guide's model of this size."""
    return {key: tuple(value.shape) for key, value in build_model(model_size).state_dict().items()}


def sizes_fitting(state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """The model sizes whose keys and shapes the state_dict matches exactly."""
    shapes = {key: tuple(value.shape) for key, value in state_dict.items()}
    return [size for size in MODEL_SIZES if expected_shapes(size) == shapes]


def _some(names: Sequence[str], count: int = 3) -> str:
    listed = ", ".join(names[:count])
    return listed + (f" and {len(names) - count} more" if len(names) > count else "")


def load_weights(model: nn.Module, state_dict: Mapping[str, torch.Tensor], path: str | Path, model_size: str) -> None:
    """Load ``state_dict`` into ``model`` strictly; a mismatch is a PipelineError naming the checkpoint file."""
    expected = expected_shapes(model_size)
    missing = [key for key in expected if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    if missing or unexpected:
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing keys ({_some(missing)})")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected keys ({_some(unexpected)})")
        raise PipelineError(f"{path}: not a ShuffleNetV2+ {model_size} checkpoint: {'; '.join(problems)}")
    wrong = [key for key, shape in expected.items() if tuple(state_dict[key].shape) != shape]
    if wrong:
        fitting = sizes_fitting(state_dict)
        if fitting:
            raise PipelineError(
                f"{path}: checkpoint of model size {fitting[0]} (its shapes fit {fitting[0]}, "
                f"not {model_size}); pass --model-size {fitting[0]}"
            )
        first = wrong[0]
        raise PipelineError(
            f"{path}: {len(wrong)} tensors do not fit ShuffleNetV2+ of any size, e.g. {first} "
            f"has shape {list(state_dict[first].shape)}, {model_size} needs {list(expected[first])}"
        )
    model.load_state_dict(state_dict, strict=True)


# --------------------------------------------------------------------------------------------------------------
# Export and checks


def export_onnx(model: nn.Module, batch_size: int, opset: int = DEFAULT_OPSET, dynamic_batch: bool = False) -> bytes:
    """The model as a checked ONNX file (bytes), traced at ``batch_size``; with ``dynamic_batch`` the batch axis
    of ``image`` and ``class`` is symbolic."""
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
    data = buffer.getvalue()
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


def compare_outputs(reference: np.ndarray, candidate: np.ndarray) -> Parity:
    """Errors of ``candidate`` against ``reference`` (both [B, classes])."""
    reference = np.asarray(reference, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    if reference.shape != candidate.shape:
        raise ValueError(f"output shapes differ: {candidate.shape} vs {reference.shape}")
    max_abs = float(np.max(np.abs(candidate - reference)))
    scale = float(np.max(np.abs(reference)))
    relative = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else math.inf)
    top5_equal = bool(np.array_equal(top_k(reference), top_k(candidate)))
    return Parity(max_abs, relative, top5_equal)


def top_k(logits: np.ndarray, k: int = TOP_K) -> np.ndarray:
    """Indices of the k highest scores of each row, highest first."""
    return np.argsort(-np.asarray(logits), axis=-1, kind="stable")[..., :k]


# fp32 unit roundoff (round to nearest): the relative error of one rounded operation.
FP32_UNIT_ROUNDOFF = 2.0**-24


def accumulation_depth_and_length(model: nn.Module) -> tuple[int, int]:
    """(depth, longest sum) of the model's accumulating layers: depth counts the convolutions, linear layers and
    average pools on the longest path (every block's branch_main; branch_proj runs beside it, so it is left out),
    the longest sum is the largest fan-in of a convolution or linear layer (products summed into one output).
    ShuffleNetV2+ Small: (110, 1280)."""
    depth, longest = 0, 1
    for name, module in model.named_modules():
        if "branch_proj" in name.split("."):
            continue
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            depth += 1
            longest = max(longest, module.weight[0].numel())
        elif isinstance(module, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
            depth += 1
    return depth, longest


def fp32_reorder_tolerance(model: nn.Module) -> float:
    """How far (relative to max |logit|) two fp32 computations of this model's logits may differ when only the
    order of the sums differs: another batch size, thread count, kernel choice or backend (onnxruntime vs PyTorch).

    Why this bound: a sum of K fp32 products, accumulated in another order, changes by about u * sqrt(K) of its
    scale (rounding errors of a random walk, u = 2**-24; blocked kernels make the worst case rarer than u * K);
    each accumulating layer on the longest path adds such an error, and the layers (He-scaled weights, batch norm)
    pass an incoming relative error on at about unit gain, so at most ``depth`` of them add up:
    tolerance = u * sqrt(K_max) * depth. ShuffleNetV2+ Small: 6.0e-8 * sqrt(1280) * 110 = 2.3e-4.
    Measured on random weights (AMD EPYC, x86-64): 1.2e-6 to 3.9e-5 between batch 8 and batch 1, 1 and 2 threads,
    PyTorch and onnxruntime. A batch mix-up is far above it: two images swapped 0.12 to 0.56; 1% of the batch mean
    leaked into one block's output 3e-3 to 6e-2.
    """
    depth, longest = accumulation_depth_and_length(model)
    return FP32_UNIT_ROUNDOFF * math.sqrt(longest) * depth


def top_k_agree(reference: np.ndarray, candidate: np.ndarray, atol: float, k: int = TOP_K) -> bool:
    """Whether the candidate's top-k classes are the reference's, up to ties within ``atol``: the j-th class the
    candidate ranks must score, in the reference, within 2 * atol of the reference's j-th best score (two classes
    closer than the rounding noise may swap places; any other difference in the ranking fails)."""
    reference = np.asarray(reference, dtype=np.float64)
    best = np.take_along_axis(reference, top_k(reference, k), axis=-1)
    chosen = np.take_along_axis(reference, top_k(candidate, k), axis=-1)
    return bool(np.all(chosen >= best - 2.0 * atol))


def torch_outputs(model: nn.Module, images: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(images).numpy()


def verify_onnx(model: nn.Module, onnx_model: bytes | str | Path, batch_size: int, seed: int) -> Parity:
    """Run the ONNX file and the model on the same seeded random images and compare."""
    images = random_images(batch_size, seed)
    return compare_outputs(torch_outputs(model, images), run_onnx(onnx_model, images.numpy()))


def format_parity(parity: Parity, batch_size: int) -> str:
    return (
        f"verify (batch {batch_size}): max abs error {parity.max_abs_error:.3g}, relative error "
        f"{parity.relative_error:.3g} (max |onnx - torch| / max |torch|, limit {MAX_RELATIVE_ERROR:g}), "
        f"top-{TOP_K} {'equal' if parity.top5_equal else 'DIFFERENT'}"
    )


# --------------------------------------------------------------------------------------------------------------
# Command line


def prepare_model(checkpoint: str, model_size: str, seed: int, channel_split: str | None = None) -> nn.Module:
    """The model with the checkpoint's weights, or seeded random weights for the word ``random``.

    ``channel_split`` ("reshape" or "slice", None: network.py's default "slice") changes the exported graph only:
    the weights, and the outputs, are the same either way.
    """
    model = build_model(model_size, channel_split)
    if checkpoint == RANDOM_WEIGHTS:
        LOG.warning(
            "WARNING: no checkpoint: exporting RANDOM weights (seed %d). The model's accuracy will be "
            "chance-level (about 0.1%% top-1); pass %s for the published accuracy.",
            seed,
            SMALL_CHECKPOINT_NAME,
        )
        return randomize_weights_(model, seed)
    state_dict = read_checkpoint(checkpoint)
    load_weights(model, state_dict, checkpoint, model_size)
    LOG.info("%s: loaded %d tensors into ShuffleNetV2+ %s", checkpoint, len(state_dict), model_size)
    check_checkpoint_md5(checkpoint, model_size)
    return model


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "checkpoint",
        metavar="CHECKPOINT",
        help="PyTorch checkpoint, e.g. ShuffleNetV2+.Small.pth.tar (official or bare state_dict), "
        f"or the word '{RANDOM_WEIGHTS}' for seeded random weights (chance-level accuracy)",
    )
    parser.add_argument("output", metavar="OUTPUT.onnx", help="ONNX file to write, e.g. shufflenetv2_bs1.onnx")
    parser.add_argument(
        "batch_size",
        metavar="BATCH_SIZE",
        nargs="?",
        type=int,
        default=1,
        help="batch size of the file's input and output (default: %(default)s); with "
        "--dynamic-batch only the batch the model is traced with",
    )
    parser.add_argument(
        "--model-size",
        default=DEFAULT_MODEL_SIZE,
        metavar="SIZE",
        help=f"model size: {', '.join(MODEL_SIZES)} (default: %(default)s)",
    )
    parser.add_argument(
        "--opset",
        type=int,
        default=DEFAULT_OPSET,
        help=f"ONNX opset, {DEFAULT_OPSET}..{MAX_OPSET} (default: %(default)s, what ATC of CANN 5.0.1 supports)",
    )
    parser.add_argument(
        "--dynamic-batch",
        action="store_true",
        help="make the batch axis symbolic, so one file serves any batch size (the guide found "
        "that ATC does not convert such a file: export one file per batch size for ATC); "
        f"its channel split is {DYNAMIC_CHANNEL_SPLIT} unless --channel-split says otherwise",
    )
    parser.add_argument(
        "--channel-split",
        choices=CHANNEL_SPLITS,
        default=None,
        help="how the stride-1 blocks split channels; same outputs, different graph. "
        "'reshape' (default for one batch size): Megvii's Reshape/Transpose/Gather shuffle, "
        "the graph the guide converted with ATC for its published figures (the Ascend "
        "compiles it to other data-movement kernels than a strided channel slice, so only "
        "this graph makes throughput comparable); its shapes hold the batch size. 'slice' "
        "(default with --dynamic-batch): strided Slices, no batch size in any shape, so one "
        "file serves every batch size",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="run the file in onnxruntime and the model in PyTorch on the same random images, "
        "print the max abs and relative error (max |onnx - torch| / max |torch|); fail with "
        f"exit status 1 and write nothing above {MAX_RELATIVE_ERROR:g}",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the random weights (CHECKPOINT 'random') and of --verify's random images (default: %(default)s)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="more logging")
    return parser.parse_args(argv)


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


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    output = check_output_file(args.output)
    if args.batch_size < 1:
        raise PipelineError(f"{output}: batch size must be at least 1, got {args.batch_size}")
    channel_split = resolve_channel_split(args.channel_split, args.dynamic_batch, output)
    if not DEFAULT_OPSET <= args.opset <= MAX_OPSET:
        raise PipelineError(f"{output}: --opset must be between {DEFAULT_OPSET} and {MAX_OPSET}, got {args.opset}")
    if args.model_size not in MODEL_SIZES:
        raise PipelineError(
            f"{output}: unknown --model-size {args.model_size!r}; choose one of {', '.join(MODEL_SIZES)}"
        )

    warn_on_batch_name_mismatch(output, args.batch_size, args.dynamic_batch)
    model = prepare_model(args.checkpoint, args.model_size, args.seed, channel_split)
    data = export_onnx(model, args.batch_size, args.opset, args.dynamic_batch)
    for problem in graph_problems(onnx.load_from_string(data)):
        LOG.warning("warning: %s: %s (ATC may reject the file)", output, problem)
    if args.verify:
        parity = verify_onnx(model, data, args.batch_size, args.seed)
        print(format_parity(parity, args.batch_size))
        if not parity.ok:
            raise PipelineError(
                f"{output}: verification failed: relative error {parity.relative_error:.3g} "
                f"> {MAX_RELATIVE_ERROR:g}; file not written",
                exit_code=1,
            )
    try:
        atomic_write_bytes(output, data)
    except OSError as exc:
        raise PipelineError(f"{output}: cannot write the file ({exc.strerror or exc})") from None
    batch = "dynamic batch" if args.dynamic_batch else f"batch {args.batch_size}"
    LOG.info(
        "wrote %s (ShuffleNetV2+ %s, %s, opset %d, channel split %s)",
        output,
        args.model_size,
        batch,
        args.opset,
        channel_split,
    )
    return 0


if __name__ == "__main__":
    run_cli(main)
