"""The evaluation transform: one image to the model's input, byte-identical to Megvii's validation transform.

Megvii's ShuffleNet-Series evaluates its checkpoints (and Huawei's ModelZoo guide preprocesses) with: PIL decode,
``.convert('RGB')``, OpenCV INTER_LINEAR resize so the short side is 256, torchvision CenterCrop(224), BGR, CHW,
float32 (values 0..255). This does the same with no needless copies: the resize treats channels independently,
so it works on the RGB array and swaps channels after it, giving the same bytes.
"""

from __future__ import annotations

import os

import cv2
import numpy as np
import PIL
from PIL import Image

from shufflenet_ascend.contract import IMAGE_SIZE

RESIZE_SHORT_SIDE = 256
# The resize makes the short side 256, so the long side grows with the aspect ratio: a 40000 x 1 picture would be
# resized to 256 x 10,240,000 pixels (8 GB). Photographs, panoramas included, stay far below 32:1; images whose
# resized long side would exceed 32 x 256 = 8192 pixels (6 MB) are refused as failures.
MAX_RESIZED_LONG_SIDE = 32 * RESIZE_SHORT_SIDE
TRANSFORM = (
    "megvii-val-v1: PIL decode, convert('RGB'), OpenCV INTER_LINEAR resize to short side 256 "
    "(long side int(256 / short * long + 0.5)), torchvision CenterCrop(224), BGR, CHW, float32"
)


def transform_identity() -> str:
    """The transform and the libraries that decode and resize: bins made with other versions are redone."""
    return f"{TRANSFORM}; Pillow {PIL.__version__}; OpenCV {cv2.__version__}"


class ImageRefused(Exception):
    """An image this transform will not take (its resize would be unbounded)."""


def resized_size(height: int, width: int) -> tuple[int, int]:
    """OpenCV's (width, height) target: short side 256, long side rounded with the reference's float operations."""
    # The reference's operation order (256 / H * W, not 256 * W / H), so that float rounding matches by construction.
    if height < width:
        return int(RESIZE_SHORT_SIDE / height * width + 0.5), RESIZE_SHORT_SIDE
    return RESIZE_SHORT_SIDE, int(RESIZE_SHORT_SIDE / width * height + 0.5)


def check_resize_bound(width: int, height: int) -> None:
    """Raise ImageRefused when the resized long side would exceed MAX_RESIZED_LONG_SIDE."""
    long_side = max(resized_size(height, width))
    if long_side > MAX_RESIZED_LONG_SIDE:
        raise ImageRefused(
            f"refused: {width} x {height} pixels, aspect ratio {max(width, height) / min(width, height):.0f}:1; the "
            f"resize to short side {RESIZE_SHORT_SIDE} would make the long side {long_side} pixels (limit "
            f"{MAX_RESIZED_LONG_SIDE}, aspect ratio {MAX_RESIZED_LONG_SIDE // RESIZE_SHORT_SIDE}:1)"
        )


def center_crop_origin(height: int, width: int) -> tuple[int, int]:
    """(top, left) of torchvision's CenterCrop(224): Python's round, halves to even."""
    return int(round((height - IMAGE_SIZE) / 2.0)), int(round((width - IMAGE_SIZE) / 2.0))


def preprocess_image(path: str | os.PathLike[str]) -> np.ndarray:
    """The model input for one image: float32, C-contiguous, shape (3, 224, 224), BGR, 0..255.

    ``preprocess_image(path).tobytes()`` is the content of its ``.bin``. Raises whatever PIL raises for a file
    that is not a readable image, and ImageRefused (before decoding) for an image whose resize would be unbounded.
    """
    with Image.open(path) as image:
        check_resize_bound(*image.size)  # from the header: before the pixels are decoded
        rgb_image = image if image.mode == "RGB" else image.convert("RGB")
        rgb = np.asarray(rgb_image)
    height, width = rgb.shape[:2]
    resized = cv2.resize(rgb, resized_size(height, width), interpolation=cv2.INTER_LINEAR)
    top, left = center_crop_origin(*resized.shape[:2])
    crop = resized[top : top + IMAGE_SIZE, left : left + IMAGE_SIZE]
    chw_bgr = np.empty((3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    chw_bgr[...] = crop[:, :, ::-1].transpose(2, 0, 1)
    return chw_bgr
