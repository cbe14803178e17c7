"""Step 4.3 of the guide: write the info file that tells the benchmark tool which inputs to run.

    python get_info.py bin ./prep_dataset ./shufflenetv2_prep_bin.info 224 224
    python get_info.py jpg /root/datasets/imagenet/val ./shufflenetv2_jpg.info

The listing is ``shufflenet_ascend.preprocess.info_entries``; the format ``shufflenet_ascend.formats.info``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from shufflenet_ascend.cli import EXIT_STATUS_HELP, HelpFormatter, PipelineError, make_parser, run_cli, setup_logging
from shufflenet_ascend.fileio import check_output_file, write_errors_named
from shufflenet_ascend.formats.info import write_info
from shufflenet_ascend.preprocess.info_entries import bin_info_entries, jpg_info_entries

LOG = logging.getLogger(Path(__file__).stem)

DESCRIPTION = """\
Step 4.3 of the guide: write the info file that tells the benchmark tool which inputs to run.

    python get_info.py bin ./prep_dataset ./shufflenetv2_prep_bin.info 224 224
    python get_info.py jpg /root/datasets/imagenet/val ./shufflenetv2_jpg.info

One line per input, "<index> <path> <width> <height>", in sorted file name order with indices 0..N-1. Paths are
DIR as given joined with the file name (./prep_dataset/x.bin stays relative).

- bin mode lists every *.bin of DIR with the WIDTH and HEIGHT given (the preprocessed size, 224 224).
- jpg mode lists every .jpg/.jpeg (any case) with its real size, read from the file header (pixels are not
  decoded).

Hidden files are skipped (the preprocessing's record .prep_sources.json among them). The file is written under a
temporary name and renamed when complete. A file name that is not valid UTF-8 (the info file is UTF-8 text) or
holds a space (the fields are space-separated) is refused, naming it.
"""

EPILOG = """\
Exit status 1: an image in jpg mode cannot be read. Exit status 2 also for a DIR without matching files or a file
name that is not UTF-8 or has a space. Nothing is written unless the status is 0.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(DESCRIPTION, epilog=EPILOG)
    modes = parser.add_subparsers(
        dest="mode",
        metavar="MODE",
        required=True,
        help="bin: preprocessed .bin files; jpg: JPEG images (see MODE --help)",
    )
    bin_mode = modes.add_parser(
        "bin",
        help="list the .bin files of DIR with a given width and height",
        description="List every .bin of DIR with the given width and height.",
        epilog=EXIT_STATUS_HELP,
        formatter_class=HelpFormatter,
    )
    jpg_mode = modes.add_parser(
        "jpg",
        help="list the .jpg/.jpeg files of DIR with their real sizes",
        description="List every .jpg/.jpeg (any case) of DIR with its width and height from the file header.",
        epilog=EXIT_STATUS_HELP,
        formatter_class=HelpFormatter,
    )
    for mode_parser in (bin_mode, jpg_mode):
        mode_parser.add_argument("dir", metavar="DIR", help="folder of the inputs; paths are written as given")
        mode_parser.add_argument("out", metavar="OUT.info", help="info file to write (replaced if it exists)")
    bin_mode.add_argument("width", metavar="WIDTH", type=int, help="input width of the model (224)")
    bin_mode.add_argument("height", metavar="HEIGHT", type=int, help="input height of the model (224)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    if args.mode == "bin" and (args.width < 1 or args.height < 1):
        raise PipelineError(f"WIDTH and HEIGHT must be positive, got {args.width} {args.height}")
    check_output_file(args.out)
    if args.mode == "bin":
        entries = bin_info_entries(args.dir, args.width, args.height)
    else:
        entries = jpg_info_entries(args.dir)
    with write_errors_named(args.out, "the info file"):
        write_info(args.out, entries)
    LOG.info("%s: %d %s inputs", args.out, len(entries), args.mode)
    return 0


if __name__ == "__main__":
    run_cli(main)
