"""Step 4.3 of the guide: write the info file that tells the benchmark tool which inputs to run.

    python get_info.py bin ./prep_dataset ./shufflenetv2_prep_bin.info 224 224
    python get_info.py jpg /root/datasets/imagenet/val ./shufflenetv2_jpg.info

One line per input, ``<index> <path> <width> <height>``, in sorted file name order with indices 0..N-1.
Paths are DIR as given joined with the file name (``./prep_dataset/x.bin`` stays relative).
bin mode lists every ``*.bin`` of DIR with the WIDTH and HEIGHT given (the preprocessed size, 224 224);
jpg mode lists every .jpg/.jpeg (any case) with its real size, read from the file header (pixels are not decoded).
Hidden files are skipped. The file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Sequence

from PIL import Image, UnidentifiedImageError

from ascend_io import InfoEntry, PipelineError, check_output_file, run_cli, setup_logging, write_info

LOG = logging.getLogger(Path(__file__).stem)

BIN_EXTENSIONS = frozenset({".bin"})
JPEG_EXTENSIONS = frozenset({".jpg", ".jpeg"})


def list_files(directory: str, extensions: frozenset[str]) -> list[str]:
    """Paths (``directory`` as given, joined with the name) of its non-hidden files with these extensions, sorted."""
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except FileNotFoundError:
        raise PipelineError(f"{directory}: folder not found") from None
    except NotADirectoryError:
        raise PipelineError(f"{directory}: is not a folder") from None
    except PermissionError:
        raise PipelineError(f"{directory}: folder is not readable") from None
    paths = [
        os.path.join(directory, entry.name)
        for entry in entries
        if not entry.name.startswith(".") and Path(entry.name).suffix.lower() in extensions and entry.is_file()
    ]
    if not paths:
        wanted = "/".join(sorted(extensions))
        raise PipelineError(f"{directory}: no {wanted} files in this folder")
    spaced = [path for path in paths if any(char.isspace() for char in path)]
    if spaced:
        raise PipelineError(f"{spaced[0]}: the info file's fields are space-separated; rename files with spaces")
    return paths


def bin_info_entries(directory: str, width: int, height: int) -> list[InfoEntry]:
    """Every ``.bin`` of ``directory``, each with the given input width and height."""
    return [InfoEntry(index, path, width, height) for index, path in enumerate(list_files(directory, BIN_EXTENSIONS))]


def jpeg_size(path: str) -> tuple[int, int]:
    """(width, height) from the header; raises PipelineError (exit status 1) for a file that is not an image."""
    try:
        with Image.open(path) as image:  # reads the header only: no .load(), no pixel decoding
            return image.size
    except UnidentifiedImageError:
        raise PipelineError(f"{path}: not an image (PIL cannot identify it)", exit_code=1) from None
    except OSError as exc:
        raise PipelineError(f"{path}: cannot read: {exc.strerror or exc}", exit_code=1) from None


def jpg_info_entries(directory: str) -> list[InfoEntry]:
    """Every .jpg/.jpeg of ``directory`` with its real width and height."""
    return [
        InfoEntry(index, path, *jpeg_size(path))
        for index, path in enumerate(list_files(directory, JPEG_EXTENSIONS))
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit status: 0 written; 1 an image in jpg mode cannot be read; 2 bad arguments, a missing DIR or "
               "a DIR without matching files. Nothing is written unless the status is 0.",
    )
    modes = parser.add_subparsers(dest="mode", metavar="MODE", required=True,
                                  help="bin: preprocessed .bin files; jpg: JPEG images (see MODE --help)")
    bin_mode = modes.add_parser("bin", help="list the .bin files of DIR with a given width and height",
                                description="List every .bin of DIR with the given width and height.")
    jpg_mode = modes.add_parser("jpg", help="list the .jpg/.jpeg files of DIR with their real sizes",
                                description="List every .jpg/.jpeg (any case) of DIR with its width and height "
                                            "from the file header.")
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
    write_info(args.out, entries)
    LOG.info("%s: %d %s inputs", args.out, len(entries), args.mode)
    return 0


if __name__ == "__main__":
    run_cli(main)
