"""The reference transform: Megvii's validation transform (ShuffleNet-Series), written as the preprocessing
script of Huawei's ModelZoo guide writes it (PIL, OpenCV, torchvision, torch).

The tests check the preprocessor's bins byte-identical to it; benchmarks/bench_preprocess.py times it as "the
plain loop". Kept literal, not refactored: it is what the bins must equal.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from torchvision import transforms


class OpencvResize:
    def __init__(self, size: int = 256) -> None:
        self.size = size

    def __call__(self, img: Image.Image) -> Image.Image:
        img = np.asarray(img)[:, :, ::-1]  # RGB -> BGR
        img = np.ascontiguousarray(img)
        H, W, _ = img.shape
        target_size = (int(self.size / H * W + 0.5), self.size) if H < W else (self.size, int(self.size / W * H + 0.5))
        img = cv2.resize(img, target_size, interpolation=cv2.INTER_LINEAR)
        img = img[:, :, ::-1]  # BGR -> RGB
        img = np.ascontiguousarray(img)
        return Image.fromarray(img)


class ToBGRTensor:
    def __call__(self, img: Image.Image) -> torch.Tensor:
        img = np.asarray(img)
        img = img[:, :, ::-1]  # RGB -> BGR
        img = np.transpose(img, [2, 0, 1])  # HWC -> CHW
        img = np.ascontiguousarray(img)
        return torch.from_numpy(img).float()


GUIDE_TRANSFORM = transforms.Compose([OpencvResize(256), transforms.CenterCrop(224), ToBGRTensor()])


def guide_preprocess(image_path: Path, bin_path: Path) -> None:
    """One image as the guide's script does it."""
    img = Image.open(image_path).convert("RGB")
    GUIDE_TRANSFORM(img).numpy().tofile(bin_path)


def guide_bin_bytes(image_path: Path, tmp_dir: Path) -> bytes:
    bin_path = tmp_dir / f".guide_{image_path.name}.bin"
    guide_preprocess(image_path, bin_path)
    return bin_path.read_bytes()
