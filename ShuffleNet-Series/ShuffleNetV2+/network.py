"""ShuffleNetV2+ (Megvii): ShuffleNetV2 with Hard-Swish, Hard-Sigmoid and squeeze-excitation.

Import it as the guide does, with ``ShuffleNet-Series/ShuffleNetV2+`` on ``sys.path``::

    from network import ShuffleNetV2_Plus
    model = ShuffleNetV2_Plus(architecture=[0, 0, 3, 1, 1, 1, 0, 0, 2, 0, 2, 1, 1, 0, 2, 0, 2, 1, 3, 2],
                              model_size="Small")

Written from Megvii's ShuffleNet-Series repository (folder ShuffleNetV2+): its state_dict has exactly the keys,
shapes and dtypes of the published checkpoints ``ShuffleNetV2+.{Large,Medium,Small}.pth.tar`` (after removing
their ``module.`` prefix), in the same order, so they load with ``strict=True``. The input is a BGR image, CHW,
values 0..255.

``channel_split`` chooses how the stride-1 blocks split channels and how the features are flattened before the
classifier; both choices compute the same numbers and share one state_dict, they differ in the exported graph:
``"slice"`` (default) exports strided Slices and a Flatten, batch-free, so one ONNX file serves every batch size;
``"reshape"`` is Megvii's code (channel shuffle by reshape/transpose/reshape and ``view(-1, 1280)``), whose export
is the graph the guide converted with ATC, valid for the traced batch size only.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from blocks import (
    DEFAULT_CHANNEL_SPLIT,
    HS,
    SELayer,
    Shuffle_Xception,
    Shufflenet,
    check_channel_split,
)

# One choice per block: 0 = Shuffle 3x3, 1 = Shuffle 5x5, 2 = Shuffle 7x7, 3 = Xception.
PUBLISHED_ARCHITECTURE = (0, 0, 3, 1, 1, 1, 0, 0, 2, 0, 2, 1, 1, 0, 2, 0, 2, 1, 3, 2)
BLOCK_CHOICES = {0: "Shuffle 3x3", 1: "Shuffle 5x5", 2: "Shuffle 7x7", 3: "Xception"}
STAGE_REPEATS = (4, 4, 8, 4)
STAGE_OUT_CHANNELS = {
    "Large": (-1, 16, 68, 168, 336, 672, 1280),
    "Medium": (-1, 16, 48, 128, 256, 512, 1280),
    "Small": (-1, 16, 36, 104, 208, 416, 1280),
}
MODEL_SIZES = tuple(STAGE_OUT_CHANNELS)
LAST_CHANNELS = 1280


def _check_architecture(architecture: Sequence[int]) -> list[int]:
    choices = list(architecture)
    if len(choices) != sum(STAGE_REPEATS):
        raise ValueError(f"architecture needs {sum(STAGE_REPEATS)} block choices, got {len(choices)}")
    for index, choice in enumerate(choices):
        if choice not in BLOCK_CHOICES:
            raise ValueError(
                f"architecture[{index}] = {choice!r} is not a block choice; expected one of {sorted(BLOCK_CHOICES)}"
            )
    return choices


def _make_block(
    choice: int, inp: int, oup: int, stride: int, activation: str, use_se: bool, channel_split: str
) -> nn.Module:
    if choice == 3:
        return Shuffle_Xception(
            inp, oup, oup // 2, stride=stride, activation=activation, useSE=use_se, channel_split=channel_split
        )
    return Shufflenet(
        inp,
        oup,
        oup // 2,
        ksize=3 + 2 * choice,
        stride=stride,
        activation=activation,
        useSE=use_se,
        channel_split=channel_split,
    )


class ShuffleNetV2_Plus(nn.Module):
    """ShuffleNetV2+ classifier: (N, 3, input_size, input_size) BGR 0..255 -> (N, n_class) logits.

    Args:
        input_size: image side in pixels, a multiple of 32 (224 for the published checkpoints).
        n_class: number of output classes.
        architecture: 20 block choices (0/1/2 = Shuffle 3x3/5x5/7x7, 3 = Xception);
            None means the published architecture, the only one the published checkpoints fit.
        model_size: 'Large', 'Medium' or 'Small' (channel widths).
        channel_split: 'slice' (default: strided slices and Flatten, an exported graph free of the batch size) or
            'reshape' (Megvii's reshape/transpose channel shuffle and view: the guide's exported graph, for the
            traced batch size only). Same state_dict and same outputs either way.

    Raises:
        ValueError: for an unknown model size, a bad input size, a malformed architecture or an unknown
            channel_split.
    """

    def __init__(
        self,
        input_size: int = 224,
        n_class: int = 1000,
        architecture: Sequence[int] | None = None,
        model_size: str = "Large",
        channel_split: str = DEFAULT_CHANNEL_SPLIT,
    ) -> None:
        super().__init__()
        check_channel_split(channel_split)
        if model_size not in STAGE_OUT_CHANNELS:
            raise ValueError(f"unknown model size {model_size!r}; expected one of {', '.join(MODEL_SIZES)}")
        if input_size <= 0 or input_size % 32:
            raise ValueError(f"input_size must be a positive multiple of 32, got {input_size}")
        if n_class < 1:
            raise ValueError(f"n_class must be at least 1, got {n_class}")
        choices = _check_architecture(PUBLISHED_ARCHITECTURE if architecture is None else architecture)
        stage_starts = [sum(STAGE_REPEATS[:stage]) for stage in range(len(STAGE_REPEATS))]
        if any(choices[start] == 3 for start in stage_starts):
            raise ValueError("the first block of each stage has stride 2 and cannot be an Xception block (choice 3)")

        self.model_size = model_size
        self.channel_split = channel_split
        self.stage_repeats = list(STAGE_REPEATS)
        self.stage_out_channels = list(STAGE_OUT_CHANNELS[model_size])

        input_channel = self.stage_out_channels[1]
        self.first_conv = nn.Sequential(
            nn.Conv2d(3, input_channel, 3, 2, 1, bias=False),
            nn.BatchNorm2d(input_channel),
            HS(),
        )

        blocks = []
        block_choices = iter(choices)
        for stage, repeats in enumerate(self.stage_repeats):
            output_channel = self.stage_out_channels[stage + 2]
            activation = "HS" if stage >= 1 else "ReLU"
            use_se = stage >= 2
            for index in range(repeats):
                # The first block of a stage takes the full input and halves the image; the others take the
                # odd half of the channels (the even half passes through).
                inp, stride = (input_channel, 2) if index == 0 else (input_channel // 2, 1)
                blocks.append(
                    _make_block(next(block_choices), inp, output_channel, stride, activation, use_se, channel_split)
                )
                input_channel = output_channel
        self.features = nn.Sequential(*blocks)

        self.conv_last = nn.Sequential(
            nn.Conv2d(input_channel, LAST_CHANNELS, 1, 1, 0, bias=False),
            nn.BatchNorm2d(LAST_CHANNELS),
            HS(),
        )
        self.globalpool = nn.AvgPool2d(input_size // 32)
        self.LastSE = SELayer(LAST_CHANNELS)
        self.fc = nn.Sequential(
            nn.Linear(LAST_CHANNELS, LAST_CHANNELS, bias=False),
            HS(),
        )
        self.dropout = nn.Dropout(0.2)
        self.classifier = nn.Sequential(nn.Linear(LAST_CHANNELS, n_class, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first_conv(x)
        x = self.features(x)
        x = self.conv_last(x)
        x = self.globalpool(x)
        x = self.LastSE(x)
        if self.channel_split == "reshape":
            # Megvii's line: exports as a Reshape to (-1, 1280), as in the graph the guide converted.
            x = x.contiguous().view(-1, LAST_CHANNELS)
        else:
            # Flatten (not view(-1, 1280)) so the batch-free graph has no Reshape at all here.
            x = torch.flatten(x, 1)
        x = self.fc(x)
        x = self.dropout(x)
        return self.classifier(x)
