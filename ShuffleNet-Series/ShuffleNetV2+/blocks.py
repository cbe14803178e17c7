"""Building blocks of ShuffleNetV2+: Hard-Swish, squeeze-excitation, the Shuffle and Xception blocks.

Written from ``shared/reference/shufflenetv2plus.md``. Module names and ``nn.Sequential`` indices reproduce the
state_dict keys of Megvii's published checkpoints (``branch_main.3.weight``, ``SE_opr.1.weight``, ...), so the
file layout and the keys match Megvii's ShuffleNet-Series repository (folder ShuffleNetV2+).

Everything here exports to ONNX opset 11 with constant shapes only: the stride-1 channel split is a pair of
strided slices, never a reshape computed from the input's size, so one graph serves any batch size.
"""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = ("ReLU", "HS")


def hard_swish(x: torch.Tensor) -> torch.Tensor:
    """x * clamp(x + 3, 0, 6) / 6, in exactly this order of operations (the reference's rounding)."""
    return x * torch.clamp(x + 3, 0, 6) / 6


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


def split_channels_by_parity(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(even channels, odd channels) of an (N, C, H, W) tensor.

    Strided slices export as Slice ops with constant starts/ends/steps: no Shape op and no reshape target that
    contains the batch size, unlike the reference's reshape of (N * C / 2, 2, H * W).
    """
    return x[:, 0::2], x[:, 1::2]


def _conv_bn(inp: int, oup: int, kernel_size: int = 1, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    conv = nn.Conv2d(inp, oup, kernel_size, stride, kernel_size // 2, groups=groups, bias=False)
    return [conv, nn.BatchNorm2d(oup)]


def _depthwise_bn(channels: int, kernel_size: int, stride: int) -> list[nn.Module]:
    return _conv_bn(channels, channels, kernel_size, stride, groups=channels)


class _TwoBranchBlock(nn.Module):
    """Shared forward: stride 2 concatenates both branches of the full input; stride 1 keeps the even channels
    and sends the odd ones through ``branch_main``."""

    branch_main: nn.Sequential
    branch_proj: nn.Sequential | None

    def __init__(self, inp: int, oup: int, stride: int, activation: str) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; expected one of {', '.join(ACTIVATIONS)}")
        if oup <= inp:
            raise ValueError(f"block output channels ({oup}) must exceed its input channels ({inp})")
        self.stride = stride
        self.inp = inp
        self.oup = oup

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
        x_proj, x_main = split_channels_by_parity(x)
        return torch.cat((x_proj, self.branch_main(x_main)), 1)


class Shufflenet(_TwoBranchBlock):
    """Shuffle block with a k x k depthwise convolution (k in 3, 5, 7).

    ``inp`` is the channel count ``branch_main`` sees: the full input for stride 2, half of it for stride 1.
    """

    def __init__(self, inp: int, oup: int, base_mid_channels: int, *, ksize: int, stride: int,
                 activation: str, useSE: bool) -> None:
        super().__init__(inp, oup, stride, activation)
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
    """Xception block: three (3x3 depthwise, 1x1 conv, activation) groups in ``branch_main``."""

    def __init__(self, inp: int, oup: int, base_mid_channels: int, *, stride: int,
                 activation: str, useSE: bool) -> None:
        super().__init__(inp, oup, stride, activation)
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
