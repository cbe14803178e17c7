"""Generate a small, deterministic stand-in for the ImageNet val folder and its val_label.txt.

    python make_demo_dataset.py demo            # demo/val/*.JPEG|png and demo/val_label.txt

The pictures and labels are made by ``shufflenet_ascend.demo``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from shufflenet_ascend.bounds import DEMO_IMAGES, SEED
from shufflenet_ascend.cli import make_parser, run_cli, setup_logging
from shufflenet_ascend.demo import make_demo_dataset

LOG = logging.getLogger(Path(__file__).stem)

DESCRIPTION = """\
Generate a small, deterministic stand-in for the ImageNet val folder and its val_label.txt.

    python make_demo_dataset.py demo            # demo/val/*.JPEG|png and demo/val_label.txt
    python make_demo_dataset.py demo --count 64 --seed 1

ImageNet cannot be downloaded everywhere, so the embedded demo of run_all.sh (and the preprocessing benchmark) run
on generated pictures: smooth colour fields with noise, saved in the formats and modes that real collections
contain (RGB, grayscale and CMYK JPEG; palette, RGBA and 16-bit PNG; images smaller than the 224 crop). The labels
are random class indices: accuracy on the demo is meaningless, only the plumbing is exercised.

Both are built in a hidden folder inside DST and moved in place when complete: an error leaves neither.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(DESCRIPTION)
    parser.add_argument("dst", metavar="DST", type=Path, help="folder to create val/ and val_label.txt in")
    parser.add_argument(
        "--count",
        type=DEMO_IMAGES.arg(),
        default=40,
        help=f"number of images, 1..{DEMO_IMAGES.high:g} (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=SEED.arg(), default=0, help="random seed of pictures and labels (default: %(default)s)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    val_dir, label_file = make_demo_dataset(args.dst, args.count, args.seed)
    LOG.info(
        "demo dataset: %d images in %s, labels in %s (random labels: accuracy is meaningless)",
        args.count,
        val_dir,
        label_file,
    )
    return 0


if __name__ == "__main__":
    run_cli(main)
