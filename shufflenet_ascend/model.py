"""ShuffleNetV2+ in PyTorch: the network built from network.py, its weights from a checkpoint or a seed.

The network is imported as the guide imports it, from ShuffleNet-Series/ShuffleNetV2+ in the repository (``from
network import ShuffleNetV2_Plus``), so a clone of Megvii's ShuffleNet-Series repository can stand in for ours.
A checkpoint is the official file (``{'state_dict': {'module.<key>': tensor}}``) or a bare state_dict, with or
without the ``module.`` prefix; it is loaded strictly, and its md5 is logged and, for model size Small, compared
with the published one. The word ``random`` instead of a checkpoint gives seeded random weights whose logits have
real spread (the pipeline runs; its accuracy is chance-level).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import math
import pickle
import re
import sys
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import (
    ARCHITECTURE,
    CHANNEL_SPLITS,
    CHANNELS,
    IMAGE_SIZE,
    MODEL_SIZES,
    NUM_CLASSES,
    RANDOM_WEIGHTS,
    SMALL_CHECKPOINT_MD5,
    SMALL_CHECKPOINT_NAME,
)
from shufflenet_ascend.fileio import sha256_file
from shufflenet_ascend.model_labels import checkpoint_weights, random_weights

MODEL_DIR = Path(__file__).resolve().parent.parent / "ShuffleNet-Series" / "ShuffleNetV2+"
if str(MODEL_DIR) not in sys.path:
    sys.path.insert(0, str(MODEL_DIR))

from network import ShuffleNetV2_Plus  # noqa: E402  (needs MODEL_DIR on sys.path, as in the guide)

LOG = logging.getLogger(__name__)

MODULE_PREFIX = "module."

# Root mean square of pixels uniform in 0..255: the random first convolution divides by it so that its
# output starts near unit scale whatever the image (the model sees raw 0..255 BGR values, no normalisation).
PIXEL_RMS = 255.0 / math.sqrt(3.0)
RANDOM_LOGIT_STD = 4.0

# What the model's weights and size are, kept on the module itself so that the export can label the ONNX file
# with them (shufflenet_ascend.model_labels): set by build_model, randomize_weights_ and prepare_model.
WEIGHTS_ATTRIBUTE = "shufflenet_weights"
MODEL_SIZE_ATTRIBUTE = "shufflenet_model_size"


def weights_label(model: nn.Module) -> str | None:
    """``sha256:<checkpoint>`` or ``random weights, seed <s>``; None when the weights' origin is not known."""
    return getattr(model, WEIGHTS_ATTRIBUTE, None)


def model_size_label(model: nn.Module) -> str | None:
    return getattr(model, MODEL_SIZE_ATTRIBUTE, None)


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
    setattr(model, MODEL_SIZE_ATTRIBUTE, model_size)
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
    setattr(model, WEIGHTS_ATTRIBUTE, random_weights(seed))
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


def torch_outputs(model: nn.Module, images: torch.Tensor) -> np.ndarray:
    """The model's logits on ``images`` (eval mode, no autograd), as a numpy array."""
    with torch.no_grad():
        return model.eval()(images).numpy()


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
    setattr(model, WEIGHTS_ATTRIBUTE, checkpoint_weights(sha256_file(checkpoint)))
    return model


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
