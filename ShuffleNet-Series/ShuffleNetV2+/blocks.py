"""Building blocks of ShuffleNetV2+: Hard-Swish, squeeze-excitation, the Shuffle and Xception blocks.

Written from Megvii's ShuffleNet-Series repository (folder ShuffleNetV2+): the file layout is its layout, and
module names and ``nn.Sequential`` indices reproduce the state_dict keys of its published checkpoints
(``branch_main.3.weight``, ``SE_opr.1.weight``, ...).

The stride-1 blocks split their input's channels into the even half (passed through) and the odd half (sent
through ``branch_main``) in one of two ways that compute the same numbers (``channel_split``):

- ``"slice"``: two strided slices (step 2 on the channel axis). They export to ONNX opset 11 as Slice ops with
  constant starts/ends/steps and nothing that depends on the input's size, so one graph serves any batch size.
- ``"reshape"``: Megvii's channel shuffle, reshape to (N*C/2, 2, H*W), transpose, reshape to (2, -1, C/2, H, W),
  take [0] and [1]. Its exported graph is the one the guide converted with ATC (Reshape/Transpose/Gather, the batch
  size written into the reshape targets), so an OM built from it has the published OM's data movement.
"""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = ("ReLU", "HS")
CHANNEL_SPLITS = ("slice", "reshape")
DEFAULT_CHANNEL_SPLIT = "slice"


def hard_swish(x: torch.Tensor) -> torch.Tensor:
    """x * (clamp(x + 3, 0, 6) / 6): the gate first, then the product, as Megvii's ``HS.forward`` rounds.

    ``x * clamp(x + 3, 0, 6) / 6`` computes ``(x * clamp) / 6`` and rounds differently (about 3e-6 relative on
    Small); in this order the outputs equal Megvii's network bit for bit and the ONNX graph has its Div-then-Mul.
    """
    return x * hard_sigmoid(x)


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """clamp(x + 3, 0, 6) / 6: the squeeze-excitation gate."""
    return torch.clamp(x + 3, 0, 6) / 6


class HS(nn.Module):
    """Hard-Swish as a module, so that it can sit in an ``nn.Sequential`` without shifting the key indices."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return hard_swish(x)


def make_activation(activation: str) -> nn.Module:
    if activation == "ReLU":
        return nn.ReLU(inplace=True)
    if activation == "HS":
        return HS()
    raise ValueError(f"unknown activation {activation!r}; expected one of {', '.join(ACTIVATIONS)}")


class SELayer(nn.Module):
    """Squeeze-excitation on (N, C, H, W): global average, C -> C/4 -> C, hard-sigmoid gate, then x * gate."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        if channels < 4 or channels % 4:
            raise ValueError(f"SELayer needs a channel count divisible by 4, got {channels}")
        squeezed = channels // 4
        self.SE_opr = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, squeezed, kernel_size=1, stride=1, bias=False),
            nn.BatchNorm2d(squeezed),
            nn.ReLU(inplace=True),
            nn.Conv2d(squeezed, channels, kernel_size=1, stride=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * hard_sigmoid(self.SE_opr(x))


def check_channel_split(channel_split: str) -> str:
    if channel_split not in CHANNEL_SPLITS:
        raise ValueError(f"unknown channel_split {channel_split!r}; expected one of {', '.join(CHANNEL_SPLITS)}")
    return channel_split


def split_channels_by_parity(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(even channels, odd channels) of an (N, C, H, W) tensor, as strided slices (``channel_split="slice"``).

    Strided slices export as Slice ops with constant starts/ends/steps: no Shape op and no reshape target that
    contains the batch size, unlike the reference's reshape of (N * C / 2, 2, H * W).
    """
    return x[:, 0::2], x[:, 1::2]


def split_channels_by_reshape(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(even channels, odd channels) of an (N, C, H, W) tensor, as Megvii's ``channel_shuffle`` computes them
    (``channel_split="reshape"``): the same values as ``split_channels_by_parity``, another exported graph.

    The sizes are read through ``.data`` as Megvii's code does, so a trace records them as constants: the exported
    graph has no Shape op, and its reshape targets hold this batch size (a file for one batch size only).
    """
    batch_size, channels, height, width = x.data.size()
    if channels % 2:
        raise ValueError(f"the channel split needs an even channel count, got {channels}")
    x = x.reshape(batch_size * channels // 2, 2, height * width)
    x = x.permute(1, 0, 2)
    x = x.reshape(2, -1, channels // 2, height, width)
    return x[0], x[1]


SPLIT_FUNCTIONS = {"slice": split_channels_by_parity, "reshape": split_channels_by_reshape}


def _conv_bn(inp: int, oup: int, kernel_size: int = 1, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    conv = nn.Conv2d(inp, oup, kernel_size, stride, kernel_size // 2, groups=groups, bias=False)
    return [conv, nn.BatchNorm2d(oup)]


def _depthwise_bn(channels: int, kernel_size: int, stride: int) -> list[nn.Module]:
    return _conv_bn(channels, channels, kernel_size, stride, groups=channels)


class _TwoBranchBlock(nn.Module):
    """Shared forward: stride 2 concatenates both branches of the full input; stride 1 keeps the even channels
    and sends the odd ones through ``branch_main``, split as ``channel_split`` says ("slice" or "reshape")."""

    branch_main: nn.Sequential
    branch_proj: nn.Sequential | None

    def __init__(self, inp: int, oup: int, stride: int, activation: str, channel_split: str) -> None:
        super().__init__()
        check_channel_split(channel_split)
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; expected one of {', '.join(ACTIVATIONS)}")
        if oup <= inp:
            raise ValueError(f"block output channels ({oup}) must exceed its input channels ({inp})")
        self.stride = stride
        self.inp = inp
        self.oup = oup
        self.channel_split = channel_split

    @staticmethod
    def _make_branch_proj(inp: int, kernel_size: int, activation: str) -> nn.Sequential:
        return nn.Sequential(
            *_depthwise_bn(inp, kernel_size, 2),
            *_conv_bn(inp, inp),
            make_activation(activation),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.branch_proj is not None:
            return torch.cat((self.branch_proj(x), self.branch_main(x)), 1)
        x_proj, x_main = SPLIT_FUNCTIONS[self.channel_split](x)
        return torch.cat((x_proj, self.branch_main(x_main)), 1)


class Shufflenet(_TwoBranchBlock):
    """Shuffle block with a k x k depthwise convolution (k in 3, 5, 7).

    ``inp`` is the channel count ``branch_main`` sees: the full input for stride 2, half of it for stride 1.
    ``channel_split`` ("slice" or "reshape", see the module's docstring) only changes the exported graph.
    """

    def __init__(
        self,
        inp: int,
        oup: int,
        base_mid_channels: int,
        *,
        ksize: int,
        stride: int,
        activation: str,
        useSE: bool,
        channel_split: str = DEFAULT_CHANNEL_SPLIT,
    ) -> None:
        super().__init__(inp, oup, stride, activation, channel_split)
        if ksize not in (3, 5, 7):
            raise ValueError(f"kernel size must be 3, 5 or 7, got {ksize}")
        outputs = oup - inp
        layers = [
            *_conv_bn(inp, base_mid_channels),
            make_activation(activation),
            *_depthwise_bn(base_mid_channels, ksize, stride),
            *_conv_bn(base_mid_channels, outputs),
            make_activation(activation),
        ]
        if useSE:
            layers.append(SELayer(outputs))
        self.branch_main = nn.Sequential(*layers)
        self.branch_proj = self._make_branch_proj(inp, ksize, activation) if stride == 2 else None


class Shuffle_Xception(_TwoBranchBlock):
    """Xception block: three (3x3 depthwise, 1x1 conv, activation) groups in ``branch_main``.

    ``channel_split`` ("slice" or "reshape", see the module's docstring) only changes the exported graph.
    """

    def __init__(
        self,
        inp: int,
        oup: int,
        base_mid_channels: int,
        *,
        stride: int,
        activation: str,
        useSE: bool,
        channel_split: str = DEFAULT_CHANNEL_SPLIT,
    ) -> None:
        super().__init__(inp, oup, stride, activation, channel_split)
        if stride != 1:
            # The reference passes the stride to all three depthwise convolutions, so at stride 2 its main branch
            # would shrink the image 8 times and no longer line up with branch_proj.
            raise ValueError("the Xception block only supports stride 1 (as in every published architecture)")
        outputs = oup - inp
        layers = [
            *_depthwise_bn(inp, 3, 1),
            *_conv_bn(inp, base_mid_channels),
            make_activation(activation),
            *_depthwise_bn(base_mid_channels, 3, 1),
            *_conv_bn(base_mid_channels, base_mid_channels),
            make_activation(activation),
            *_depthwise_bn(base_mid_channels, 3, 1),
            *_conv_bn(base_mid_channels, outputs),
            make_activation(activation),
        ]
        if useSE:
            layers.append(SELayer(outputs))
        self.branch_main = nn.Sequential(*layers)
        self.branch_proj = None
