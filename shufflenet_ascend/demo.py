"""A small, deterministic stand-in for the ImageNet val folder and its val_label.txt (make_demo_dataset.py).

Generated pictures in the formats and modes that real collections contain, and random labels: the pipeline's
plumbing runs on it (accuracy on it is meaningless) where ImageNet is not at hand.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from shufflenet_ascend.cli import EXIT_CANNOT_WRITE, PipelineError
from shufflenet_ascend.contract import NUM_CLASSES
from shufflenet_ascend.formats.labels import format_labels
from shufflenet_ascend.safe_outputs import Output, refuse_unsafe_outputs

# (width, height, PIL mode, file extension): the variety the demo cycles through.
DEMO_VARIANTS: tuple[tuple[int, int, str, str], ...] = (
    (500, 375, "RGB", ".JPEG"),
    (375, 500, "RGB", ".JPEG"),
    (500, 333, "L", ".JPEG"),
    (341, 256, "RGB", ".JPEG"),
    (257, 300, "CMYK", ".JPEG"),
    (640, 480, "P", ".png"),
    (300, 300, "RGBA", ".png"),
    (320, 240, "I;16", ".png"),
    (200, 150, "RGB", ".JPEG"),
    (800, 600, "RGB", ".JPEG"),
)

# ImageNet val is mostly ~500x375 colour JPEG, some portrait, a few grayscale.
IMAGENET_LIKE_VARIANTS: tuple[tuple[int, int, str, str], ...] = (
    (500, 375, "RGB", ".JPEG"),
    (500, 333, "RGB", ".JPEG"),
    (375, 500, "RGB", ".JPEG"),
    (500, 375, "RGB", ".JPEG"),
    (500, 400, "L", ".JPEG"),
    (450, 300, "RGB", ".JPEG"),
)


def make_picture(rng: np.random.Generator, width: int, height: int, mode: str) -> Image.Image:
    """A smooth random colour field with noise (compresses like a photo), converted to ``mode``."""
    coarse = rng.integers(0, 256, size=(4, 4, 3)).astype(np.uint8)
    field = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC), dtype=np.int16)
    noise = rng.integers(-20, 21, size=field.shape, dtype=np.int16)
    rgb = Image.fromarray(np.clip(field + noise, 0, 255).astype(np.uint8))
    if mode == "I;16":
        return Image.fromarray((np.asarray(rgb.convert("L"), dtype=np.uint16) * 257).astype(np.uint16))
    if mode == "P":
        return rgb.convert("P", palette=Image.ADAPTIVE, colors=64)
    if mode == "RGBA":
        alpha = Image.fromarray(rng.integers(0, 256, size=(height, width), dtype=np.uint8))
        return Image.merge("RGBA", (*rgb.split(), alpha))
    return rgb.convert(mode)


def write_images(
    dst_dir: Path,
    count: int,
    seed: int = 0,
    variants: Sequence[tuple[int, int, str, str]] = DEMO_VARIANTS,
    prefix: str = "demo_val",
) -> dict[str, int]:
    """Write ``count`` pictures into ``dst_dir``; return {file name: random class index}.

    An OSError names the picture it could not write (``filename``)."""
    rng = np.random.default_rng(seed)
    dst_dir.mkdir(parents=True, exist_ok=True)
    labels = {}
    for number in range(1, count + 1):
        width, height, mode, extension = variants[(number - 1) % len(variants)]
        name = f"{prefix}_{number:08d}{extension}"
        picture = make_picture(rng, width, height, mode)
        save_options = {"quality": 90} if extension == ".JPEG" else {}
        try:
            picture.save(dst_dir / name, **save_options)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror or str(exc), str(dst_dir / name)) from None
        labels[name] = int(rng.integers(0, NUM_CLASSES))
    return labels


def make_demo_dataset(dst: Path, count: int, seed: int) -> tuple[Path, Path]:
    """Build ``dst/val/`` and ``dst/val_label.txt``; return their paths.

    Both are built in a hidden folder beside them, then moved in place: an error (disk full) leaves neither, and
    is one PipelineError (exit status 3) naming the file it could not write."""
    val_dir, label_file = dst / "val", dst / "val_label.txt"
    refuse_unsafe_outputs([Output(dst, folder=True), Output(val_dir, folder=True), label_file])
    if val_dir.exists() or label_file.exists():
        raise PipelineError(f"{dst}: already holds a demo dataset (val/ or val_label.txt); remove it first")
    created = not dst.exists()
    staging = None
    try:
        dst.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".demo.", dir=dst))
        labels = write_images(staging / "val", count, seed)
        (staging / "val_label.txt").write_text(format_labels(labels), encoding="utf-8")
        (staging / "val").rename(val_dir)
        try:
            (staging / "val_label.txt").rename(label_file)
        except BaseException:
            shutil.rmtree(val_dir, ignore_errors=True)
            raise
    except OSError as exc:
        failed = Path(exc.filename) if exc.filename else dst
        if staging is not None and failed.is_relative_to(staging):
            failed = dst / failed.relative_to(staging)  # the name it would have had
        raise PipelineError(
            f"{failed}: cannot write: {exc.strerror or exc}; the demo dataset was not made", EXIT_CANNOT_WRITE
        ) from None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if created and dst.is_dir() and not any(dst.iterdir()):
            dst.rmdir()
    return val_dir, label_file
