"""The PyTorch reference: ShuffleNetV2+ itself, from the checkpoint, as the ground truth of every other path.

``load_reference_model`` gives the model that ``benchmark_ort.py -backend torch`` runs on the preprocessed bins
(one writer of the dump format: the stand-in's), so that ``compare_outputs.py`` can set the outputs of the ONNX
file, or of an OM, beside the original model's:

    python benchmark_ort.py -backend torch -om_path=ShuffleNetV2+.Small.pth.tar -model_size Small ...
    python benchmark_ort.py -backend torch-fp16 -om_path=random -seed 0 ...

The weights are loaded by ``shufflenet_ascend.model.prepare_model`` (the official checkpoint or a bare
state_dict, loaded strictly, md5 logged), or are its seeded random weights for the word ``random``: the very
weights the ONNX file of ``shufflenetv2_pth2onnx.py random ... --seed N`` holds.

fp16 preview (``fp16=True``): ATC converts the model to float16 for the Ascend 310 by default. This is an
EMULATION of how the 310's cube unit computes, in float32 PyTorch on the CPU, not the NPU's arithmetic bit for
bit: every weight of the convolutions, linear layers and batch norms is rounded to float16 (and kept as float32);
the inputs of each convolution and linear layer (the cube's operands) are rounded to float16; products and sums
are done in float32 (the products of two float16 values are exact in float32, and the cube accumulates in
float32); each convolution, linear and batch-norm output is rounded to float16. The other operations
(activations, squeeze-excitation products, pooling, additions) run in float32 on those float16-valued tensors.
It shows a user without an NPU how far float16 moves the outputs and the accuracy; it cannot reproduce the
NPU's own rounding order, its fused operators or its float16 vector unit.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import DEFAULT_MODEL_SIZE, MODEL_SIZES
from shufflenet_ascend.model import prepare_model

LOG = logging.getLogger(__name__)

# Layers whose weights and outputs the fp16 emulation rounds, and those whose inputs it rounds (the cube's).
ROUNDED_LAYERS = (nn.Conv2d, nn.Linear, nn.BatchNorm2d)
CUBE_LAYERS = (nn.Conv2d, nn.Linear)


def to_fp16_values(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor's values rounded to the nearest float16 (ties to even), back in the tensor's dtype."""
    return tensor.to(torch.float16).to(tensor.dtype)


def _round_inputs(_module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return tuple(to_fp16_values(value) for value in inputs)


def _round_output(_module: nn.Module, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
    return to_fp16_values(output)


def emulate_fp16_(model: nn.Module) -> nn.Module:
    """Turn a float32 model into the fp16 emulation described above, in place; returns the model.

    Weights (and batch-norm statistics) of the conv, linear and batch-norm layers are rounded to float16 values;
    forward pre-hooks round the conv and linear inputs, forward hooks round the three kinds of outputs.
    """
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, ROUNDED_LAYERS):
                for tensor in [*module.parameters(recurse=False), *module.buffers(recurse=False)]:
                    if tensor.is_floating_point():
                        tensor.copy_(to_fp16_values(tensor))
                if isinstance(module, CUBE_LAYERS):
                    module.register_forward_pre_hook(_round_inputs)
                module.register_forward_hook(_round_output)
    return model


def load_reference_model(
    checkpoint: str, model_size: str = DEFAULT_MODEL_SIZE, seed: int = 0, fp16: bool = False
) -> torch.nn.Module:
    """ShuffleNetV2+ in eval mode: float32 NCHW images [B, 3, 224, 224] (BGR, 0..255) -> float32 logits [B, 1000].

    ``checkpoint``: a PyTorch checkpoint file, or ``random`` for the seeded random weights of
    ``shufflenet_ascend.model.prepare_model("random", model_size, seed)``. ``fp16``: the fp16 emulation of the
    Ascend 310's cube unit (see the module's documentation). A bad checkpoint or size is a PipelineError.
    """
    if model_size not in MODEL_SIZES:
        raise PipelineError(f"unknown model size {model_size!r}; choose one of {', '.join(MODEL_SIZES)}")
    model = prepare_model(checkpoint, model_size, seed)
    model.eval().requires_grad_(False)
    if fp16:
        emulate_fp16_(model)
        LOG.info(
            "fp16 preview: an EMULATION of the Ascend 310's float16 arithmetic (weights, conv/linear inputs "
            "and conv/linear/batch-norm outputs rounded to float16, sums in float32), not the NPU itself"
        )
    return model
