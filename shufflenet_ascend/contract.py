"""The model's contract and its published figures: one table, no torch.

What ATC, the inference tools and every step of the pipeline agree on (input and output names, shapes, the bin
size), the ShuffleNetV2+ sizes with their published checkpoints and accuracy (Megvii's ShuffleNet-Series
repository), and the figures of Huawei's ModelZoo guide (ACL_PyTorch/contrib/cv/classfication/ShuffleNetV2+):
the OM's accuracy and the Interface throughput of one Ascend 310 chip per batch size.
"""

from __future__ import annotations

from dataclasses import dataclass

# The model's input and output as ATC and the inference tools see them.
INPUT_NAME = "image"
OUTPUT_NAME = "class"
IMAGE_SIZE = 224
CHANNELS = 3
NUM_CLASSES = 1000
BIN_BYTES = CHANNELS * IMAGE_SIZE * IMAGE_SIZE * 4  # raw float32, CHW: 602112

# The two routes of the preprocessed images. float32: the guide's bins, CHW float32 (the ONNX input itself).
# uint8: the same values (the transform has no mean/std, so every value is an integer 0-255) as HWC uint8 in BGR
# order, a quarter of the bytes; ATC's AIPP stage turns them into the network's input on the device.
INPUT_DTYPES = ("float32", "uint8")
DEFAULT_INPUT_DTYPE = "float32"
BIN_BYTES_BY_DTYPE = {"float32": BIN_BYTES, "uint8": CHANNELS * IMAGE_SIZE * IMAGE_SIZE}  # 602112, 150528

# The guide's architecture: one block choice per block (0/1/2 = Shuffle 3x3/5x5/7x7, 3 = Xception). Spelled out
# here, not imported from network.py, because a clone of Megvii's repository may stand in for our network.py and
# it defines no such constant; tests/test_model.py pins them equal.
ARCHITECTURE = (0, 0, 3, 1, 1, 1, 0, 0, 2, 0, 2, 1, 1, 0, 2, 0, 2, 1, 3, 2)

# How the stride-1 blocks split channels (network.py's channel_split): "reshape" is Megvii's graph, the one the
# guide converted with ATC (its reshape targets hold the batch size); "slice" holds none, so one file serves every
# batch size.
CHANNEL_SPLITS = ("reshape", "slice")
STATIC_CHANNEL_SPLIT = "reshape"
DYNAMIC_CHANNEL_SPLIT = "slice"


@dataclass(frozen=True)
class ModelSize:
    """One published ShuffleNetV2+ size: its checkpoint and its ImageNet-1k val accuracy (top-1, top-5 in %)."""

    name: str
    parameters: int
    checkpoint_name: str
    checkpoint_md5: str | None  # only the Small checkpoint's md5 is published (in the guide)
    published_accuracy: tuple[float, float]


MODELS: dict[str, ModelSize] = {
    size.name: size
    for size in (
        ModelSize("Small", 5_137_116, "ShuffleNetV2+.Small.pth.tar", "1d6611049e6ef03f1d6afa11f6f9023e", (74.1, 91.7)),
        ModelSize("Medium", 5_679_840, "ShuffleNetV2+.Medium.pth.tar", None, (75.7, 92.6)),
        ModelSize("Large", 6_768_220, "ShuffleNetV2+.Large.pth.tar", None, (77.1, 93.3)),
    )
}
MODEL_SIZES = tuple(MODELS)
DEFAULT_MODEL_SIZE = "Small"
SMALL_CHECKPOINT_NAME = MODELS["Small"].checkpoint_name
SMALL_CHECKPOINT_MD5 = MODELS["Small"].checkpoint_md5

# Passed instead of a checkpoint file: seeded random weights (the pipeline runs; its accuracy is meaningless).
RANDOM_WEIGHTS = "random"

# The guide's published figures: accuracy of the OM model and of the open-source checkpoint (top-1, top-5, %), the
# rule that judges a measured figure (at most 1 point below), and the Interface throughputRate of one Ascend 310
# chip per batch size. An Atlas 300I card holds 4 Ascend 310 chips; the guide multiplies one chip's rate by 4.
PUBLISHED_OM_ACCURACY = (74.06, 91.67)
PUBLISHED_OPEN_SOURCE_ACCURACY = MODELS["Small"].published_accuracy
ACCURACY_TOLERANCE_POINTS = 1.0
PUBLISHED_INTERFACE_FPS = {1: 147.93, 4: 363.812, 8: 437.088, 16: 491.668, 32: 475.038}
CHIPS_PER_310_CARD = 4
FULL_VALIDATION_IMAGES = 50_000  # ImageNet val: the published figures are on all of it
