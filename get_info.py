"""Step 4.3 of the guide: write the info file that tells the benchmark tool which inputs to run.

    python get_info.py bin ./prep_dataset ./shufflenetv2_prep_bin.info 224 224
    python get_info.py bin ./prep_uint8 ./shufflenetv2_prep_bin.info 224 224 --dtype uint8
    python get_info.py jpg /root/datasets/imagenet/val ./shufflenetv2_jpg.info

The listing is ``shufflenet_ascend.preprocess.info_entries``, the size check ``shufflenet_ascend.preprocess.
bin_sizes``; the format ``shufflenet_ascend.formats.info``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from shufflenet_ascend.bounds import IMAGE_SIDE
from shufflenet_ascend.cli import EXIT_STATUS_HELP, HelpFormatter, make_parser, run_cli, setup_logging
from shufflenet_ascend.contract import INPUT_DTYPES
from shufflenet_ascend.fileio import check_output_file, write_errors_named
from shufflenet_ascend.formats.info import write_info
from shufflenet_ascend.preprocess.bin_sizes import bins_route, expected_bin_bytes
from shufflenet_ascend.preprocess.info_entries import bin_info_entries, jpg_info_entries
from shufflenet_ascend.safe_outputs import refuse_unsafe_outputs

LOG = logging.getLogger(Path(__file__).stem)

DESCRIPTION = """\
Step 4.3 of the guide: write the info file that tells the benchmark tool which inputs to run.

    python get_info.py bin ./prep_dataset ./shufflenetv2_prep_bin.info 224 224
    python get_info.py bin ./prep_uint8 ./shufflenetv2_prep_bin.info 224 224 --dtype uint8
    python get_info.py jpg /root/datasets/imagenet/val ./shufflenetv2_jpg.info

One line per input, "<index> <path> <width> <height>", in sorted file name order with indices 0..N-1. Paths are
DIR as given joined with the file name (./prep_dataset/x.bin stays relative).

- bin mode lists every *.bin of DIR with the WIDTH and HEIGHT given (the preprocessed size, 224 224), for either
  route: float32 bins (the guide's) or uint8 bins (imagenet_torch_preprocess.py --dtype uint8); the info file is
  the same. The bins must all have one size, that of a route at WIDTH x HEIGHT, or the one of --dtype (3 x WIDTH
  x HEIGHT x 4 bytes for float32, x 1 for uint8): a bin of another size is refused here, naming it, instead of
  failing late in the benchmark tool ("tensorsize != filesize").
- jpg mode lists every .jpg/.jpeg (any case) with its real size, read from the file header (pixels are not
  decoded).

Hidden files are skipped (the preprocessing's record .prep_sources.json among them); so are entries that are no
files (folders; broken symbolic links and loops of them, with a warning naming them). The file is written under a
temporary name and renamed when complete; it may not be inside DIR (it would be listed next time) nor be a device
or a folder. A file name that is not valid UTF-8 (the info file is UTF-8 text) or
holds whitespace (the fields are space-separated) is refused, naming it.
"""

EPILOG = """\
Exit status 1: an image in jpg mode cannot be read. Exit status 2 also for a DIR without matching files, a file
name that is not UTF-8 or has a space, and in bin mode bins of several sizes or not of the --dtype's size. Nothing
is written unless the status is 0.
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
        description="List every .bin of DIR with the given width and height. The bins must share one size, or with "
        "--dtype be of its size; a bin of another size is refused, naming it.",
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
    side = IMAGE_SIDE.arg()
    bin_mode.add_argument("width", metavar="WIDTH", type=side, help="input width of the model (224; at most 4096)")
    bin_mode.add_argument("height", metavar="HEIGHT", type=side, help="input height of the model (224; at most 4096)")
    bin_mode.add_argument(
        "--dtype",
        choices=INPUT_DTYPES,
        help=f"the route of the bins: each must be 3 x WIDTH x HEIGHT values of it ({expected_bin_bytes('float32')} "
        f"or {expected_bin_bytes('uint8')} bytes at 224 x 224); default: any one size for all bins",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    refuse_unsafe_outputs([args.out], [args.dir])
    check_output_file(args.out)
    if args.mode == "bin":
        entries = bin_info_entries(args.dir, args.width, args.height)
        bins_route(entries, args.dtype, width=args.width, height=args.height)
    else:
        entries = jpg_info_entries(args.dir)
    with write_errors_named(args.out, "the info file"):
        write_info(args.out, entries)
    LOG.info("%s: %d %s inputs", args.out, len(entries), args.mode)
    return 0


if __name__ == "__main__":
    run_cli(main)
