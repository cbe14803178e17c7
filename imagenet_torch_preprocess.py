"""Step 4.2 of the guide: turn every image of a folder into the model's input, one raw ``.bin`` each.

    python imagenet_torch_preprocess.py /root/datasets/imagenet/val ./prep_dataset
    python imagenet_torch_preprocess.py /root/datasets/imagenet/val ./prep_uint8 --dtype uint8

The transform, the record of each bin's source and the workers are in ``shufflenet_ascend.preprocess``.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from shufflenet_ascend.cli import add_verbose_flag, add_workers_flag, make_parser, run_cli, setup_logging
from shufflenet_ascend.contract import BIN_BYTES_BY_DTYPE, DEFAULT_INPUT_DTYPE, FULL_VALIDATION_IMAGES, INPUT_DTYPES
from shufflenet_ascend.fileio import format_bytes
from shufflenet_ascend.keys import IMAGE_EXTENSIONS
from shufflenet_ascend.preprocess.folder import FAILED_LIST_NAME, OTHER_DATASET_CHOICES, preprocess_folder
from shufflenet_ascend.preprocess.record import RECORD_NAME

LOG = logging.getLogger(Path(__file__).stem)

FLOAT32_BYTES, UINT8_BYTES = BIN_BYTES_BY_DTYPE["float32"], BIN_BYTES_BY_DTYPE["uint8"]

DESCRIPTION = f"""\
Step 4.2 of the guide: turn every image of SRC_DIR into the model's input, one raw .bin each.

    python imagenet_torch_preprocess.py /root/datasets/imagenet/val ./prep_dataset
    python imagenet_torch_preprocess.py /root/datasets/imagenet/val ./prep_uint8 --dtype uint8

Each image becomes DST_DIR/<stem>.bin, byte-identical to Megvii's validation transform that the checkpoints were
evaluated with: PIL decode, convert('RGB'), OpenCV INTER_LINEAR resize so the short side is 256, torchvision
centre crop 224, BGR, values 0..255. Unlike the guide's script it makes no needless copies and uses every core.

- --dtype float32 (the default, the guide's): 3 x 224 x 224 float32, CHW ({FLOAT32_BYTES} bytes; \
{format_bytes(FLOAT32_BYTES * FULL_VALIDATION_IMAGES)} for the {FULL_VALIDATION_IMAGES:,} val images).
- --dtype uint8: the same values as 224 x 224 x 3 uint8, HWC ({UINT8_BYTES} bytes, a quarter; \
{format_bytes(UINT8_BYTES * FULL_VALIDATION_IMAGES)}), the input of an OM converted by ATC with the AIPP config, \
which turns them into the network's float input on the device. Nothing is lost: the transform has no mean/std,
so every value is an integer, and a uint8 bin read as float32 CHW is the float32 bin byte for byte.

The bins know their images: DST_DIR/{RECORD_NAME} (hidden: the info step and the Ascend tools read only .bin
files) records, for every image, its name, size, modification time, inode and ctime (inode change time) and the
time of its bin, with the transform, the dtype and the Pillow/OpenCV versions. A re-run keeps a bin only when all
still match (an image replaced by another of the same size under its old time, with touch -r or mv, has another
inode or ctime: its bin is redone); it redoes bins of changed images, makes the missing ones and deletes bins
whose image is gone. A folder whose bins were mostly not made from the images of SRC_DIR (another dataset) or
are of the other dtype is refused; --overwrite deletes its bins and starts afresh. A record of an older version
of this script (without inodes and ctimes) is read, and its bins are redone once.

Bins are written under a hidden temporary name and renamed when complete, the record the same way every few
seconds: a killed run leaves only complete bins, and those it made after the last record are redone. A failed
write (disk full, quota) stops the run at once. Ctrl-C or kill -TERM stops it as well: the workers end quietly,
the record is saved for the bins made, one line says "interrupted" (exit status 130), and a re-run goes on.

An image that cannot be an input is a failure, named, and the others go on: unreadable or not an image, an
extreme aspect ratio, a broken symbolic link or a loop of them, a file name that is not UTF-8 or that holds a
space, tab or newline (the info file and the label file are UTF-8 text with space-separated fields).
"""

EPILOG = f"""\
Exit status 1: some images failed; they are named on stderr and listed in DST_DIR/{FAILED_LIST_NAME} (a later run
without failures removes that list). Exit status 2 also when two images have the same name or DST_DIR holds bins
of another dataset or dtype (nothing is written then). Exit status 3 when the disk is full or too small for the
bins still to make (checked before starting): the error says which bins a re-run keeps (those in the record; if
the record itself could not be saved, the bins made since it was last saved are redone). Exit status 130 on
Ctrl-C or SIGTERM.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(DESCRIPTION, epilog=EPILOG)
    extensions = " ".join(sorted(IMAGE_EXTENSIONS))
    parser.add_argument(
        "src_dir",
        metavar="SRC_DIR",
        type=Path,
        help=f"folder of images ({extensions}, any case); other and hidden files are ignored and counted",
    )
    parser.add_argument(
        "dst_dir",
        metavar="DST_DIR",
        type=Path,
        help="folder for the .bin files, created if missing; must not be SRC_DIR or inside it",
    )
    add_workers_flag(parser, os.cpu_count() or 1, "worker processes; 1 works in the main process")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help=f"delete every .bin of DST_DIR, of whatever dataset, and redo all (default: keep the "
        f"bins that {RECORD_NAME} says were made from the images as they are now)",
    )
    parser.add_argument(
        "--if-other-dataset",
        choices=OTHER_DATASET_CHOICES,
        default="refuse",
        help="when DST_DIR holds bins of another dataset (fewer than half of its bins were made "
        "from the images now in SRC_DIR, as they are now) or of the other --dtype: refuse (default, exit 2) or "
        "overwrite (as --overwrite); a folder of this dataset's bins is resumed either way",
    )
    parser.add_argument(
        "--dtype",
        choices=INPUT_DTYPES,
        default=DEFAULT_INPUT_DTYPE,
        help=f"the input route: float32, CHW ({FLOAT32_BYTES} bytes a bin, the guide's) or uint8, HWC "
        f"({UINT8_BYTES} bytes, for an OM with AIPP) (default: {DEFAULT_INPUT_DTYPE})",
    )
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="exit 0 even when some images failed (they are still reported and listed)",
    )
    add_verbose_flag(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    summary = preprocess_folder(
        args.src_dir,
        args.dst_dir,
        workers=args.workers,
        overwrite=args.overwrite,
        if_other_dataset=args.if_other_dataset,
        dtype=args.dtype,
    )
    LOG.info("%s", summary.format())
    if summary.failures:
        LOG.error("%d image(s) failed (listed in %s):", summary.failed, args.dst_dir / FAILED_LIST_NAME)
        for failure in summary.failures:
            LOG.error("  %s", failure.format())
        return 0 if args.skip_bad else 1
    return 0


if __name__ == "__main__":
    run_cli(main)
