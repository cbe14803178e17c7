"""The evaluation transform: one image to the model's input, byte-identical to Megvii's validation transform.

Megvii's ShuffleNet-Series evaluates its checkpoints (and Huawei's ModelZoo guide preprocesses) with: PIL decode,
``.convert('RGB')``, OpenCV INTER_LINEAR resize so the short side is 256, torchvision CenterCrop(224), BGR, CHW,
float32 (values 0..255). This does the same with no needless copies: the resize treats channels independently,
so it works on the RGB array and swaps channels after it, giving the same bytes.

Two layouts of the same values (``contract.INPUT_DTYPES``): ``float32``, the guide's CHW float32 input of the ONNX
model; ``uint8``, HWC uint8 in BGR order, a quarter of the bytes, which ATC's AIPP stage reads (RGB888_U8) and
turns into the network's input. The transform has no mean/std, so every value is an integer 0..255 and the uint8
bin read back as float32 CHW is the float32 bin, byte for byte.
"""

from __future__ import annotations

import os

import cv2
import numpy as np
import PIL
from PIL import Image

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import DEFAULT_INPUT_DTYPE, IMAGE_SIZE, INPUT_DTYPES

RESIZE_SHORT_SIDE = 256
# The resize makes the short side 256, so the long side grows with the aspect ratio: a 40000 x 1 picture would be
# resized to 256 x 10,240,000 pixels (8 GB). Photographs, panoramas included, stay far below 32:1; images whose
# resized long side would exceed 32 x 256 = 8192 pixels (6 MB) are refused as failures.
MAX_RESIZED_LONG_SIDE = 32 * RESIZE_SHORT_SIDE
TRANSFORM = (
    "megvii-val-v1: PIL decode, convert('RGB'), OpenCV INTER_LINEAR resize to short side 256 "
    "(long side int(256 / short * long + 0.5)), torchvision CenterCrop(224), BGR"
)
# How each route lays the values out in its bin (the float32 route's words are the ones records always held).
LAYOUTS = {"float32": "CHW, float32", "uint8": "HWC, uint8"}


def check_dtype(dtype: str) -> None:
    """Refuse a dtype that is not one of the input routes, naming them."""
    if dtype not in INPUT_DTYPES:
        raise PipelineError(f"dtype must be one of {', '.join(INPUT_DTYPES)}, got {dtype!r}")


def transform_identity(dtype: str = DEFAULT_INPUT_DTYPE) -> str:
    """The transform, the bin's layout and the libraries that decode and resize: bins made otherwise are redone."""
    check_dtype(dtype)
    return f"{TRANSFORM}, {LAYOUTS[dtype]}; Pillow {PIL.__version__}; OpenCV {cv2.__version__}"


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


def rgb_crop(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode, resize and centre-crop one image: a (224, 224, 3) uint8 RGB view (not contiguous)."""
    with Image.open(path) as image:
        check_resize_bound(*image.size)  # from the header: before the pixels are decoded
        rgb_image = image if image.mode == "RGB" else image.convert("RGB")
        rgb = np.asarray(rgb_image)
    height, width = rgb.shape[:2]
    resized = cv2.resize(rgb, resized_size(height, width), interpolation=cv2.INTER_LINEAR)
    top, left = center_crop_origin(*resized.shape[:2])
    return resized[top : top + IMAGE_SIZE, left : left + IMAGE_SIZE]


def preprocess_image(path: str | os.PathLike[str], dtype: str = DEFAULT_INPUT_DTYPE) -> np.ndarray:
    """The model input for one image, C-contiguous, BGR, values 0..255: float32 of shape (3, 224, 224) (the
    guide's), or uint8 of shape (224, 224, 3) (the AIPP route's).

    ``preprocess_image(path, dtype).tobytes()`` is the content of its ``.bin``. Raises whatever PIL raises for a
    file that is not a readable image, and ImageRefused (before decoding) for an image whose resize would be
    unbounded.
    """
    check_dtype(dtype)
    crop = rgb_crop(path)
    if dtype == "uint8":
        return np.ascontiguousarray(crop[:, :, ::-1])
    chw_bgr = np.empty((3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    chw_bgr[...] = crop[:, :, ::-1].transpose(2, 0, 1)  # one pass: channel swap, transpose and conversion
    return chw_bgr


def uint8_bin_as_float32(data: bytes, height: int = IMAGE_SIZE, width: int = IMAGE_SIZE) -> np.ndarray:
    """A uint8 bin (HWC, BGR) as the float32 route's input (CHW, BGR): the conversion AIPP makes on the device."""
    hwc = np.frombuffer(data, dtype=np.uint8).reshape(height, width, -1)
    return np.ascontiguousarray(hwc.transpose(2, 0, 1), dtype=np.float32)
