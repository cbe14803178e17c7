"""A tiny classifier for the stand-in's tests: 3x32x24 inputs (not square, so a swapped height and width is
caught), 1000 outputs with real spread, exported as the guide exports (opset 11, TorchScript exporter)."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from shufflenet_ascend.contract import INPUT_NAME, OUTPUT_NAME

HEIGHT, WIDTH = 32, 24


class TinyClassifier(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=2)
        self.fc = torch.nn.Linear(8, 1000)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(image)).mean((2, 3)))


def export_tiny(model: torch.nn.Module, path: Path, batch_size: int = 1, dynamic_batch: bool = False) -> Path:
    """``model`` to ONNX at ``path``: a fixed ``batch_size``, or a dynamic batch axis."""
    dynamic_axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter, which opset 11 needs
        torch.onnx.export(
            model.eval(),
            torch.zeros(batch_size, 3, HEIGHT, WIDTH),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=11,
            dynamo=False,
            dynamic_axes=dynamic_axes,
        )
    return path
